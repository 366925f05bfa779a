//! Classes of hostile or broken servers, each case with its exact verdict: a dialogue out of
//! step (replies nobody asked for, a 421 out of turn), replies at and just past every size
//! limit, and connections that end half-way (half-close, FIN inside a reply, RST).

use super::*;
use smtpwatch::probe::reply::Limits;

/// Greeting and EHLO, then `extra` sent right behind the EHLO reply, in the same write.
fn ehlo_then(extra: &str) -> Vec<Step> {
    vec![
        Step::Line("220 fake.test ESMTP"),
        Step::Expect("EHLO "),
        raw(&format!("250 fake.test\r\n{extra}")),
    ]
}

#[tokio::test]
async fn a_reply_nobody_asked_for_is_a_desync_not_a_success() {
    // A second reply behind EHLO's: read as NOOP's, it would shift every later reply.
    let (report, sent) = run(ehlo_then("250 2.0.0 surprise\r\n"), TlsMode::None, |_| {}).await;
    assert_outcome(&report, Some(("noop", "protocol_error")));
    let failure = report.failure.as_ref().expect("failure");
    assert_eq!(failure.code, Some(250));
    assert!(
        failure.message.contains("out of step"),
        "{}",
        failure.message
    );
    assert_eq!(
        sent.expect("script"),
        ["EHLO probe.test"],
        "NOOP was never sent"
    );
}

#[tokio::test]
async fn a_greeting_followed_by_a_second_reply_is_a_desync_at_ehlo() {
    let steps = vec![
        raw("220 fake.test ESMTP\r\n250 early talker\r\n"),
        Step::Silent,
    ];
    let (report, sent) = run(steps, TlsMode::None, |_| {}).await;
    assert_outcome(&report, Some(("ehlo", "protocol_error")));
    assert_eq!(report.banner.as_deref(), Some("fake.test ESMTP"));
    assert!(sent.expect("script").is_empty(), "nothing was said to it");
}

#[tokio::test]
async fn a_421_out_of_turn_is_the_server_closing() {
    let steps = join(vec![
        ehlo_then("421 4.3.2 shutting down\r\n"),
        vec![Step::Close],
    ]);
    let (report, _) = run(steps, TlsMode::None, |_| {}).await;
    assert_outcome(&report, Some(("noop", "rejected")));
    assert_eq!(report.failure.as_ref().and_then(|f| f.code), Some(421));
}

#[tokio::test]
async fn a_stray_reply_before_starttls_is_a_desync_not_an_injection() {
    let mut steps = vec![
        Step::Line("220 fake.test ESMTP"),
        Step::Expect("EHLO "),
        raw("250-fake.test\r\n250 STARTTLS\r\n220 too soon\r\n"),
    ];
    steps.push(Step::Silent);
    let (report, sent) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, Some(("starttls", "protocol_error")));
    assert_eq!(
        sent.expect("script"),
        ["EHLO probe.test"],
        "STARTTLS never sent"
    );
}

/// A greeting of `lines` lines, each `width` bytes long with its CRLF.
fn greeting(lines: usize, width: usize) -> String {
    let mut text = String::new();
    for i in 0..lines {
        let sep = if i + 1 == lines { ' ' } else { '-' };
        let line = format!("220{sep}{}", "x".repeat(width - 6));
        text.push_str(&line);
        text.push_str("\r\n");
    }
    text
}

/// The outcome of a greeting of `text` followed by a normal session.
async fn greeted_with(text: String) -> smtpwatch::report::ProbeReport {
    let steps = join(vec![
        vec![Step::Raw(text.into_bytes())],
        greet_and_ehlo(&[]).split_off(1),
        noop_quit(),
    ]);
    run(steps, TlsMode::None, |_| {}).await.0
}

#[tokio::test]
async fn replies_at_each_limit_pass_and_one_byte_or_line_more_fails() {
    let limits = Limits::default();
    // The longest line: at the limit, then one byte over.
    assert_outcome(&greeted_with(greeting(1, limits.max_line)).await, None);
    assert_outcome(
        &greeted_with(greeting(1, limits.max_line + 1)).await,
        Some(("banner", "reply_too_long")),
    );
    // The most lines: at the limit, then one more (short lines, so only the count matters).
    assert_outcome(&greeted_with(greeting(limits.max_lines, 12)).await, None);
    assert_outcome(
        &greeted_with(greeting(limits.max_lines + 1, 12)).await,
        Some(("banner", "reply_too_long")),
    );
    // The largest reply: full 128-byte lines up to the byte limit exactly, then one byte more.
    let lines = limits.max_reply_bytes / 128;
    let exact = greeting(lines, 128);
    assert_eq!(exact.len(), limits.max_reply_bytes);
    assert_outcome(&greeted_with(exact).await, None);
    let over = format!("220-{}\r\n{}", "y".repeat(123), greeting(lines - 1, 128));
    assert_eq!(over.len(), limits.max_reply_bytes + 1);
    assert_outcome(
        &greeted_with(over).await,
        Some(("banner", "reply_too_long")),
    );
}

#[tokio::test]
async fn a_half_closed_server_ends_the_probe_as_closed_at_ehlo() {
    // It greets, then shuts its sending side: EHLO gets an EOF, not a wait until the deadline.
    let steps = vec![
        Step::Line("220 fake.test ESMTP"),
        Step::HalfClose,
        Step::Expect("EHLO "),
    ];
    let started = std::time::Instant::now();
    let (report, sent) = run(steps, TlsMode::None, |_| {}).await;
    assert_outcome(&report, Some(("ehlo", "closed")));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no wait for the deadline"
    );
    assert_eq!(sent.expect("script"), ["EHLO probe.test"]);
}

#[tokio::test]
async fn a_fin_inside_a_multi_line_reply_is_closed_and_says_where() {
    let steps = vec![
        Step::Line("220 fake.test ESMTP"),
        Step::Expect("EHLO "),
        raw("250-fake.test\r\n250-PIPEL"),
        Step::Close,
    ];
    let (report, _) = run(steps, TlsMode::None, |_| {}).await;
    assert_outcome(&report, Some(("ehlo", "closed")));
    let message = &report.failure.as_ref().expect("failure").message;
    assert!(message.contains("middle of a line"), "{message}");
}

#[tokio::test]
async fn a_reset_right_after_the_starttls_220_fails_the_handshake_not_the_probe_silently() {
    let mut steps = greet_and_ehlo(&["STARTTLS"]);
    steps.extend([
        Step::Expect("STARTTLS"),
        Step::Line("220 go ahead"),
        Step::Reset,
    ]);
    let (report, _) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert!(!report.success, "{report:?}");
    let failure = report.failure.as_ref().expect("failure");
    assert_eq!(
        failure.phase,
        smtpwatch::report::Phase::TlsHandshake,
        "{failure:?}"
    );
}
