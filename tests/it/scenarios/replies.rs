//! Greetings and replies: every phase of a plain server, silence and trickling, refusals,
//! multi-line, bare, mixed and malformed replies, limits on length, and escaped control bytes.

use super::*;

#[tokio::test]
async fn plain_server_without_starttls_succeeds_with_every_phase() {
    let steps = join(vec![
        greet_and_ehlo(&["PIPELINING", "SIZE 1000"]),
        noop_quit(),
    ]);
    let (report, sent) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, None);
    assert_eq!(
        phase_names(&report),
        ["connect", "banner", "ehlo", "noop", "quit"]
    );
    assert_eq!(report.capabilities, ["PIPELINING", "SIZE 1000"]);
    assert_eq!(report.banner.as_deref(), Some("fake.test ESMTP"));
    assert_eq!(
        report
            .phase(smtpwatch::report::Phase::Quit)
            .and_then(|p| p.code),
        Some(221)
    );
    assert_eq!(sent.expect("script"), ["EHLO probe.test", "NOOP", "QUIT"]);
    assert!(report
        .transcript
        .iter()
        .any(|l| l.dir == "C" && l.line == "NOOP"));
}

#[tokio::test]
async fn silent_server_times_out_in_banner() {
    let (report, _) = run(vec![Step::Silent], TlsMode::Opportunistic, short_timeout).await;
    assert_outcome(&report, Some(("banner", "timeout")));
    assert!(
        report.duration_seconds < 2.0,
        "bounded by the timeout: {}",
        report.duration_seconds
    );
}

#[tokio::test]
async fn a_greeting_cut_off_after_complete_lines_keeps_them() {
    // Postscreen's deep tests: `220-` at once, the final `220` only seconds later.
    let steps = vec![raw("220-mx.test ESMTP postscreen\r\n"), Step::Silent];
    let (report, _) = run(steps, TlsMode::Opportunistic, short_timeout).await;
    assert_outcome(&report, Some(("banner", "timeout")));
    let message = &report.failure.as_ref().expect("failure").message;
    assert!(
        message.contains("(received only \"220-mx.test ESMTP postscreen"),
        "the complete line is shown: {message}"
    );
    assert_eq!(report.banner.as_deref(), Some("mx.test ESMTP postscreen"));
}

#[tokio::test]
async fn banner_trickling_one_byte_at_a_time_still_times_out() {
    let steps = vec![Step::Trickle(
        b"220 slow.test ESMTP trickle\r\n".to_vec(),
        Duration::from_millis(100),
    )];
    let (report, _) = run(steps, TlsMode::Opportunistic, short_timeout).await;
    assert_outcome(&report, Some(("banner", "timeout")));
    let message = &report.failure.as_ref().expect("failure").message;
    assert!(
        message.contains("(received only \"220 "),
        "what arrived is shown: {message}"
    );
    assert!(report
        .transcript
        .last()
        .is_some_and(|l| l.line.ends_with("[incomplete]")));
}

#[tokio::test]
async fn greeting_421_is_rejected_without_quit() {
    let (report, sent) = run(
        vec![Step::Line("421 4.3.2 busy, try later")],
        TlsMode::Opportunistic,
        |_| {},
    )
    .await;
    assert_outcome(&report, Some(("banner", "rejected")));
    assert_eq!(report.failure.as_ref().and_then(|f| f.code), Some(421));
    assert!(
        sent.expect("script").is_empty(),
        "nothing is sent after a 421"
    );
}

#[tokio::test]
async fn greeting_554_is_rejected_and_the_probe_says_quit() {
    let steps = vec![
        Step::Line("554 5.7.1 no service for you"),
        Step::Expect("QUIT"),
        Step::Line("221 bye"),
    ];
    let (report, sent) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, Some(("banner", "rejected")));
    let failure = report.failure.as_ref().expect("failure");
    assert_eq!(failure.code, Some(554));
    assert!(
        failure.message.contains("no service for you"),
        "{}",
        failure.message
    );
    assert_eq!(sent.expect("script"), ["QUIT"]);
}

#[tokio::test]
async fn multi_line_greeting_is_read_whole_before_ehlo() {
    let steps = join(vec![
        vec![raw(
            "220-fake.test ESMTP\r\n220-policy: be nice\r\n220 ready\r\n",
        )],
        vec![Step::Expect("EHLO"), Step::Line("250 fake.test")],
        noop_quit(),
    ]);
    let (report, sent) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, None);
    assert_eq!(
        report.banner.as_deref(),
        Some("fake.test ESMTP policy: be nice ready")
    );
    assert_eq!(sent.expect("script")[0], "EHLO probe.test");
}

#[tokio::test]
async fn bare_code_reply_is_valid() {
    let steps = vec![
        Step::Line("220"),
        Step::Expect("EHLO"),
        Step::Line("250"),
        Step::Expect("NOOP"),
        Step::Line("250"),
        Step::Expect("QUIT"),
        Step::Line("221"),
    ];
    let (report, _) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, None);
}

#[tokio::test]
async fn mixed_codes_in_one_reply_are_a_protocol_error() {
    let steps = vec![
        Step::Line("220 fake.test"),
        Step::Expect("EHLO"),
        raw("250-fake.test\r\n220 PIPELINING\r\n"),
    ];
    let (report, _) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, Some(("ehlo", "protocol_error")));
}

#[tokio::test]
async fn lf_only_line_endings_are_a_protocol_error() {
    let (report, _) = run(
        vec![raw("220 fake.test ESMTP\n")],
        TlsMode::Opportunistic,
        |_| {},
    )
    .await;
    assert_outcome(&report, Some(("banner", "protocol_error")));
}

#[tokio::test]
async fn invalid_reply_codes_are_protocol_errors() {
    for line in ["650 fake.test", "2506 fake.test"] {
        let (report, _) = run(vec![Step::Line(line)], TlsMode::Opportunistic, |_| {}).await;
        assert_outcome(&report, Some(("banner", "protocol_error")));
    }
}

#[tokio::test]
async fn line_of_100_kib_is_too_long() {
    let mut line = b"220 ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 100 * 1024));
    line.extend(b"\r\n");
    let (report, _) = run(vec![Step::Raw(line)], TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, Some(("banner", "reply_too_long")));
    let bytes: usize = report.transcript.iter().map(|l| l.line.len()).sum();
    assert!(
        bytes < 4096,
        "transcript holds a bounded prefix, not 100 KiB: {bytes}"
    );
}

#[tokio::test]
async fn ten_thousand_continuation_lines_are_too_long() {
    let mut ehlo = "250-x\r\n".repeat(10_000);
    ehlo.push_str("250 end\r\n");
    let steps = vec![
        Step::Line("220 fake.test"),
        Step::Expect("EHLO"),
        Step::Raw(ehlo.into_bytes()),
    ];
    let (report, _) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, Some(("ehlo", "reply_too_long")));
    assert!(
        report.transcript.len() <= 201,
        "transcript bounded: {}",
        report.transcript.len()
    );
}

#[tokio::test]
async fn control_bytes_in_the_banner_are_escaped() {
    let steps = join(vec![
        vec![raw("220 evil\0.test \x1b[2J\x1b]0;pwned\x07 ESMTP\r\n")],
        vec![Step::Expect("EHLO"), Step::Line("250 fake.test")],
        noop_quit(),
    ]);
    let (report, _) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, None);
    let banner = report.banner.expect("banner");
    assert_eq!(banner, "evil\\x00.test \\x1b[2J\\x1b]0;pwned\\x07 ESMTP");
    let json = serde_json::to_string(&report.transcript).expect("json");
    assert!(
        !json.contains('\u{1b}') && !json.contains("\\u001b"),
        "{json}"
    );
}
