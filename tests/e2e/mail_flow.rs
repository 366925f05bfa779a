//! Mail flow against real Postfix and Dovecot (started by `tests/e2e/mailflow-up.sh`):
//! submission on 127.0.0.1:2587 with SASL through Dovecot, delivery over LMTP, IMAPS on :10993
//! and IMAP with STARTTLS on :10143. `SMTPWATCH_E2E_MAILFLOW` is the lab's state directory.

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::agent::env;
use crate::{ca_file, json_report, postfix_log, postfix_log_once, smtpwatch};

fn lab() -> PathBuf {
    PathBuf::from(
        std::env::var("SMTPWATCH_E2E_MAILFLOW").expect(
            "SMTPWATCH_E2E_MAILFLOW is not set: run the end-to-end suite through tests/run.sh",
        ),
    )
}

/// A password file in the lab's directory.
fn password_file(name: &str, password: &str) -> String {
    let path = lab().join(format!("{name}.pw"));
    std::fs::write(&path, format!("{password}\n")).expect("password file");
    path.to_string_lossy().into_owned()
}

/// The messages in `user`'s Maildir (new and cur).
fn mailbox(user: &str) -> usize {
    let root = lab()
        .join("dovecot/mail/mail.e2e.test")
        .join(user)
        .join("Maildir");
    ["new", "cur"]
        .iter()
        .map(|d| std::fs::read_dir(root.join(d)).map_or(0, |entries| entries.count()))
        .sum()
}

/// `check submission://127.0.0.1:2587` trusting the test CA, as JSON, with `extra` flags.
fn submission(extra: &[&str]) -> Output {
    let ca = ca_file();
    let mut args = vec![
        "check",
        "submission://127.0.0.1:2587",
        "--ca-file",
        ca.as_str(),
        "--server-name",
        "localhost",
        "--ehlo",
        "e2e.smtpwatch.test",
        "--format",
        "json",
    ];
    args.extend(extra);
    smtpwatch(&args)
}

fn failure(report: &serde_json::Value) -> (String, String) {
    let f = &report["failure"];
    (
        f["phase"].as_str().unwrap_or("").to_string(),
        f["reason"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn auth_with_good_and_bad_credentials() {
    let good = password_file("monitor", "monitor-pw");
    let out = submission(&[
        "--auth-user",
        "monitor@mail.e2e.test",
        "--auth-password-file",
        &good,
    ]);
    let report = json_report(&out);
    assert_eq!(report["success"], true, "{report:#}");
    let auth = report["phases"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["phase"] == "auth"))
        .cloned();
    assert_eq!(auth.expect("auth phase")["code"], 235);

    let bad = password_file("wrong", "not-the-password");
    let out = submission(&[
        "--auth-user",
        "monitor@mail.e2e.test",
        "--auth-password-file",
        &bad,
    ]);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        failure(&report),
        ("auth".into(), "auth_failed".into()),
        "{report:#}"
    );
    assert_eq!(report["failure"]["code"], 535);
    let text = serde_json::to_string(&report).expect("json");
    assert!(!text.contains("not-the-password"), "{text}");
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn auth_is_never_sent_on_a_plaintext_session_even_when_offered() {
    let good = password_file("monitor", "monitor-pw");
    let before = postfix_log().len();
    let out = smtpwatch(&[
        "check",
        "127.0.0.1:2587",
        "--tls",
        "none",
        "--format",
        "json",
        "--auth-user",
        "monitor@mail.e2e.test",
        "--auth-password-file",
        &good,
    ]);
    let report = json_report(&out);
    assert_eq!(
        failure(&report),
        ("auth".into(), "auth_unavailable".into()),
        "{report:#}"
    );
    // The server offered AUTH in plaintext; the probe still sent nothing but EHLO and QUIT.
    let caps = report["capabilities"].to_string();
    assert!(caps.contains("AUTH PLAIN"), "{caps}");
    let log = postfix_log_once(before, "ehlo=1 quit=1 commands=2");
    assert!(
        log.contains("ehlo=1 quit=1 commands=2"),
        "postfix log:\n{log}"
    );
    assert!(
        !log.contains("auth=") && !log.contains("sasl_"),
        "postfix log:\n{log}"
    );
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn recipients_unknown_and_known() {
    let before = mailbox("other");
    let out = submission(&["--rcpt", "nobody@mail.e2e.test"]);
    let report = json_report(&out);
    assert_eq!(
        failure(&report),
        ("rcpt_to".into(), "rejected".into()),
        "{report:#}"
    );
    assert_eq!(report["failure"]["code"], 550);
    assert_eq!(report["recipients"][0]["code"], 550);

    let out = submission(&["--rcpt", "other@mail.e2e.test"]);
    let report = json_report(&out);
    assert_eq!(report["success"], true, "{report:#}");
    assert_eq!(report["recipients"][0]["code"], 250);
    let phases: Vec<&str> = report["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .filter_map(|p| p["phase"].as_str())
        .collect();
    assert!(
        phases.contains(&"rset") && !phases.contains(&"data"),
        "{phases:?}"
    );
    assert_eq!(
        mailbox("other"),
        before,
        "an envelope check delivered something"
    );
}

/// A round trip through submission and Dovecot; returns the report.
fn round_trip(imap: &str, extra: &[&str]) -> serde_json::Value {
    let good = password_file("monitor", "monitor-pw");
    let mut args = vec![
        "--auth-user",
        "monitor@mail.e2e.test",
        "--auth-password-file",
        &good,
        "--deliver-to",
        "monitor@mail.e2e.test",
        "--imap",
        imap,
        "--delivery-timeout",
        "20s",
    ];
    args.extend(extra);
    json_report(&submission(&args))
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn a_round_trip_over_imaps_and_over_starttls_leaves_an_empty_mailbox() {
    for imap in ["imaps://localhost:10993", "imap://localhost:10143"] {
        let report = round_trip(imap, &[]);
        assert_eq!(report["success"], true, "{imap}: {report:#}");
        let d = &report["delivery"];
        let seconds = d["seconds"].as_f64().expect("delivery seconds");
        assert!((0.0..20.0).contains(&seconds), "{d:#}");
        assert!(
            d["queue_id"].as_str().is_some_and(|q| !q.is_empty()),
            "{d:#}"
        );
        assert_eq!(d["authentication_results"]["spf"], "pass", "{d:#}");
        // The closing note of the mail-flow work quotes this report; CI keeps it in target/e2e.
        let name = if imap.starts_with("imaps") {
            "imaps"
        } else {
            "imap-starttls"
        };
        let keep =
            PathBuf::from(env("SMTPWATCH_E2E_SCREENSHOTS")).join(format!("round-trip-{name}.json"));
        std::fs::write(
            &keep,
            serde_json::to_string_pretty(&report).unwrap_or_default(),
        )
        .expect("keep the round trip's report");
        assert_eq!(
            mailbox("monitor"),
            0,
            "{imap}: the test message was left behind"
        );
        let text = serde_json::to_string(&report).expect("json");
        assert!(!text.contains("monitor-pw"));
    }
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn imap_down_and_a_wrong_imap_password() {
    let report = round_trip("imaps://localhost:10994", &[]);
    assert_eq!(
        failure(&report),
        ("imap_connect".into(), "connect_refused".into()),
        "{report:#}"
    );
    assert!(
        report["delivery"]["queue_id"].is_string(),
        "the message was submitted"
    );

    let wrong = password_file("imap-wrong", "wrong-imap-pw");
    let report = round_trip("imaps://localhost:10993", &["--imap-password-file", &wrong]);
    assert_eq!(
        failure(&report),
        ("imap_login".into(), "imap_login_failed".into()),
        "{report:#}"
    );
    // Clean the two undeleted messages up with a good round: it removes this probe's leftovers.
    let report = round_trip("imaps://localhost:10993", &[]);
    assert_eq!(report["success"], true, "{report:#}");
    assert_eq!(
        mailbox("monitor"),
        0,
        "leftovers of earlier rounds were not deleted"
    );
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn a_deferred_delivery_is_delivery_timeout_within_the_timeout() {
    let good = password_file("monitor", "monitor-pw");
    let started = Instant::now();
    let out = submission(&[
        "--auth-user",
        "monitor@mail.e2e.test",
        "--auth-password-file",
        &good,
        "--deliver-to",
        "monitor@defer.e2e.test",
        "--imap",
        "imaps://localhost:10993",
        "--imap-user",
        "monitor@mail.e2e.test",
        "--delivery-timeout",
        "4s",
    ]);
    let took = started.elapsed();
    let report = json_report(&out);
    assert_eq!(
        failure(&report),
        ("delivery".into(), "delivery_timeout".into()),
        "{report:#}"
    );
    assert!(took < Duration::from_secs(6), "took {took:?}");
    let queue_id = report["delivery"]["queue_id"]
        .as_str()
        .expect("queue id")
        .to_string();
    let queue = std::process::Command::new("postqueue")
        .arg("-p")
        .output()
        .expect("postqueue");
    assert!(
        String::from_utf8_lossy(&queue.stdout).contains(&queue_id),
        "not deferred in the queue"
    );
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn the_agents_delivery_probe_reaches_prometheus() {
    let labels =
        crate::agent::wait_for_value("smtpwatch_delivery_success{probe=\"mailflow\"}", 1.0);
    assert_eq!(labels["address"], "127.0.0.1:2525");
    let seconds = crate::agent::query("smtpwatch_delivery_seconds{probe=\"mailflow\"}");
    assert!(
        seconds.iter().any(|(_, v)| (0.0..10.0).contains(v)),
        "{seconds:?}"
    );
    crate::agent::wait_for_value(
        "smtpwatch_delivery_authentication_result{probe=\"mailflow\",method=\"spf\",result=\"pass\"}",
        1.0,
    );
    crate::agent::wait_for_value(
        "smtpwatch_delivery_warn_after_seconds{probe=\"mailflow\"}",
        5.0,
    );
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn the_email_notifier_delivers_through_postfix_into_a_maildir() {
    // The agent's probe "mailed" is down from the start; its firing alert goes by email through
    // the local Postfix (STARTTLS verified against the test CA) into alerts@'s Maildir.
    let new = lab().join("dovecot/mail/mail.e2e.test/alerts/Maildir/new");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = std::fs::read_dir(&new)
            .into_iter()
            .flatten()
            .flatten()
            .find_map(|entry| {
                let text = std::fs::read_to_string(entry.path()).ok()?;
                text.contains("[FIRING] mailed").then_some(text)
            });
        if let Some(text) = found {
            assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
            assert!(text.contains("connect_refused"), "{text}");
            assert!(
                text.contains("From: smtpwatch@e2e.smtpwatch.test"),
                "{text}"
            );
            assert!(
                text.contains("with ESMTPS"),
                "Postfix received it over TLS: {text}"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no alert mail in {}",
            new.display()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
