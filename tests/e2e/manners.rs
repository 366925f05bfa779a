//! A client's manners as a real MTA's anti-spam front end judges them: Postfix's postscreen
//! on 127.0.0.1:2526 (started by tests/e2e/postfix-up.sh) with its greeting pause and every
//! deep protocol test enforced. The probe waits for the whole two-line greeting, never
//! pipelines, sends nothing malformed, and its session ends cleanly; postscreen's log says so.

use crate::{check_verified, json_report, postfix_log, postfix_log_once};

/// What postscreen logs about a client that misbehaves (or a session that ends badly).
const BAD_MANNERS: [&str; 9] = [
    "PREGREET",
    "PIPELINING",
    "NON-SMTP COMMAND",
    "BARE NEWLINE",
    "COMMAND TIME LIMIT",
    "COMMAND COUNT LIMIT",
    "HANGUP",
    "lost connection",
    "SSL_accept error",
];

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn postscreen_with_deep_tests_finds_nothing_to_say_about_the_probe() {
    let before = postfix_log().len();
    let out = check_verified("127.0.0.1:2526");
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["tls"]["verified"], true, "{report:#}");
    // postscreen's greeting: `220-` at once, the final `220` after its 2 s pause.
    let banner_seconds = report["phases"][1]["seconds"].as_f64().unwrap_or(0.0);
    assert!(
        banner_seconds >= 1.9,
        "the probe waited for the whole greeting: {report:#}"
    );
    let log = postfix_log_once(before, "DISCONNECT [127.0.0.1]");
    assert!(
        log.contains("CONNECT from [127.0.0.1]"),
        "postfix log:\n{log}"
    );
    for bad in BAD_MANNERS {
        assert!(!log.contains(bad), "postscreen logged {bad:?}:\n{log}");
    }
}
