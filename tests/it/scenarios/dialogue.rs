//! The dialogue after the greeting: EHLO and HELO, STARTTLS required or not, NOOP, QUIT, and
//! connections that are refused, reset, closed or never accepted.

use super::*;

#[tokio::test]
async fn ehlo_500_falls_back_to_helo() {
    let steps = join(vec![
        vec![
            Step::Line("220 old.test SMTP"),
            Step::Expect("EHLO"),
            Step::Line("500 5.5.1 what?"),
        ],
        vec![Step::Expect("HELO probe.test"), Step::Line("250 old.test")],
        noop_quit(),
    ]);
    let (report, sent) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, None);
    assert_eq!(
        phase_names(&report),
        ["connect", "banner", "ehlo", "helo", "noop", "quit"]
    );
    assert!(report.capabilities.is_empty());
    assert!(!sent.expect("script").iter().any(|l| l == "STARTTLS"));
}

#[tokio::test]
async fn ehlo_and_helo_both_refused_is_rejected() {
    let steps = vec![
        Step::Line("220 old.test SMTP"),
        Step::Expect("EHLO"),
        Step::Line("502 5.5.2 no"),
        Step::Expect("HELO"),
        Step::Line("550 5.7.1 not you either"),
    ];
    let (report, sent) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, Some(("helo", "rejected")));
    assert_eq!(report.failure.as_ref().and_then(|f| f.code), Some(550));
    assert_eq!(
        sent.expect("script").last().map(String::as_str),
        Some("QUIT")
    );
}

#[tokio::test]
async fn starttls_required_but_not_advertised_fails_and_never_continues_in_plaintext() {
    let steps = join(vec![
        greet_and_ehlo(&["PIPELINING"]),
        vec![Step::Expect("QUIT"), Step::Line("221 bye")],
    ]);
    let (report, sent) = run(steps, TlsMode::Starttls, |_| {}).await;
    assert_outcome(&report, Some(("starttls", "starttls_unavailable")));
    assert_eq!(
        sent.expect("script"),
        ["EHLO probe.test", "QUIT"],
        "no NOOP in plaintext"
    );
}

#[tokio::test]
async fn starttls_not_advertised_is_fine_when_opportunistic() {
    let steps = join(vec![greet_and_ehlo(&["PIPELINING"]), noop_quit()]);
    let (report, _) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, None);
    assert!(report.tls.is_none());
}

#[tokio::test]
async fn starttls_454_is_rejected_at_starttls() {
    let steps = join(vec![
        greet_and_ehlo(&["STARTTLS"]),
        vec![
            Step::Expect("STARTTLS"),
            Step::Line("454 4.7.0 TLS not available"),
        ],
    ]);
    let (report, _) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, Some(("starttls", "rejected")));
    assert_eq!(report.failure.as_ref().and_then(|f| f.code), Some(454));
}

#[tokio::test]
async fn noop_421_is_rejected() {
    let steps = join(vec![
        greet_and_ehlo(&["PIPELINING"]),
        vec![Step::Expect("NOOP"), Step::Line("421 4.4.2 idle too long")],
    ]);
    let (report, _) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, Some(("noop", "rejected")));
}

#[tokio::test]
async fn reset_in_the_middle_of_ehlo_is_closed() {
    let steps = vec![
        Step::Line("220 fake.test"),
        Step::Expect("EHLO"),
        raw("250-fake.test\r\n250-PIPE"),
        Step::Reset,
    ];
    let (report, _) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, Some(("ehlo", "closed")));
}

#[tokio::test]
async fn quit_never_answered_does_not_fail_but_is_visible() {
    let steps = join(vec![
        greet_and_ehlo(&["PIPELINING"]),
        vec![
            Step::Expect("NOOP"),
            Step::Line("250 ok"),
            Step::Expect("QUIT"),
            Step::Silent,
        ],
    ]);
    let (report, _) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, None);
    let quit = report
        .phase(smtpwatch::report::Phase::Quit)
        .expect("quit phase");
    assert_eq!(quit.code, None);
    assert!(
        quit.seconds >= 0.45,
        "waited the bounded QUIT time: {}",
        quit.seconds
    );
}

#[tokio::test]
async fn no_noop_skips_it() {
    let steps = join(vec![
        greet_and_ehlo(&[]),
        vec![Step::Expect("QUIT"), Step::Line("221 bye")],
    ]);
    let (report, sent) = run(steps, TlsMode::Opportunistic, |s| s.noop = false).await;
    assert_outcome(&report, None);
    assert_eq!(sent.expect("script"), ["EHLO probe.test", "QUIT"]);
}

#[tokio::test]
async fn connection_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let ca = crate::support::certs::TestCa::new("ca");
    let report =
        crate::support::probe_addr(addr, TlsMode::Opportunistic, &crate::support::settings(&ca))
            .await;
    assert_outcome(&report, Some(("connect", "connect_refused")));
    assert_eq!(phase_names(&report), ["connect"]);
}

#[tokio::test]
async fn server_closing_instead_of_answering_ehlo_is_closed() {
    let steps = vec![
        Step::Line("220 fake.test"),
        Step::Expect("EHLO"),
        Step::Close,
    ];
    let (report, _) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, Some(("ehlo", "closed")));
}

#[tokio::test]
async fn connect_timeout_when_the_accept_queue_is_full() {
    // A listener that never accepts, with a backlog of one: once the queue holds a connection,
    // Linux drops further SYNs, so the probe's connect gets no answer at all.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let attempt = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        );
        match attempt.await {
            Ok(Ok(stream)) => fillers.push(stream),
            _ => break,
        }
    }
    let ca = crate::support::certs::TestCa::new("ca");
    let mut settings = crate::support::settings(&ca);
    short_timeout(&mut settings);
    let report = crate::support::probe_addr(addr, TlsMode::Opportunistic, &settings).await;
    assert_outcome(&report, Some(("connect", "connect_timeout")));
    drop(listener);
}
