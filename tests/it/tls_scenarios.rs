//! STARTTLS and implicit TLS against fake servers: injection, broken handshakes, bad
//! certificates (with and without `--insecure`), expiry warnings, capability changes.

use std::time::Duration;

use smtpwatch::report::Status;
use smtpwatch::target::TlsMode;
use time::OffsetDateTime;

use crate::support::certs::{self_signed, Leaf, TestCa};
use crate::support::fake_smtp::{greet_and_ehlo, noop_quit, raw, Step};
use crate::support::{assert_outcome, phase_names, run, run_trusting, starttls_session};

const AFTER_TLS: &str = "250-fake.test\r\n250-PIPELINING\r\n250 AUTH PLAIN LOGIN\r\n";

#[tokio::test]
async fn starttls_with_a_trusted_certificate_reports_post_tls_capabilities() {
    let ca = TestCa::new("Test CA");
    let leaf = ca.leaf(&["localhost"], 90);
    let (report, sent) = run_trusting(
        &ca,
        starttls_session(&leaf, AFTER_TLS),
        TlsMode::Starttls,
        |_| {},
    )
    .await;
    assert_outcome(&report, None);
    assert_eq!(report.status, Status::Ok);
    assert_eq!(
        phase_names(&report),
        [
            "connect",
            "banner",
            "ehlo",
            "starttls",
            "tls_handshake",
            "ehlo_tls",
            "noop",
            "quit"
        ]
    );
    assert_eq!(report.capabilities_before_tls, ["PIPELINING", "STARTTLS"]);
    assert_eq!(report.ehlo_name.as_deref(), Some("fake.test"));
    assert_eq!(
        report.capabilities,
        ["PIPELINING", "AUTH PLAIN LOGIN"],
        "only post-TLS ones"
    );
    let tls = report.tls.as_ref().expect("tls facts");
    assert!(tls.verified);
    assert_eq!(tls.version.as_deref(), Some("TLSv1.3"));
    assert!(tls
        .cipher
        .as_deref()
        .is_some_and(|c| c.starts_with("TLS13_")));
    assert_eq!(tls.chain[0].subject, "CN=localhost");
    assert_eq!(tls.chain[0].issuer, "CN=Test CA");
    assert_eq!(tls.chain[0].sans, ["localhost"]);
    assert_eq!(tls.chain[0].sha256.len(), 64);
    let days_left = tls.cert_seconds_left.expect("expiry") / 86_400.0;
    assert!((89.0..=90.0).contains(&days_left), "{days_left}");
    assert_eq!(
        sent.expect("script"),
        [
            "EHLO probe.test",
            "STARTTLS",
            "EHLO probe.test",
            "NOOP",
            "QUIT"
        ]
    );
}

#[tokio::test]
async fn bytes_injected_after_the_starttls_220_fail_the_probe() {
    for injected in [
        "220 Ready\r\n250-fake.test\r\n250 AUTH PLAIN\r\n",
        "220 Ready\r\n250 inj",
    ] {
        let mut steps = greet_and_ehlo(&["STARTTLS"]);
        steps.extend([Step::Expect("STARTTLS"), raw(injected), Step::Silent]);
        let (report, sent) = run(steps, TlsMode::Opportunistic, |_| {}).await;
        assert_outcome(&report, Some(("starttls", "starttls_injection")));
        assert_eq!(report.failure.as_ref().and_then(|f| f.code), Some(220));
        assert_eq!(
            sent.expect("script"),
            ["EHLO probe.test", "STARTTLS"],
            "{injected:?}"
        );
    }
}

#[tokio::test]
async fn garbage_instead_of_server_hello_is_a_handshake_failure() {
    let mut steps = greet_and_ehlo(&["STARTTLS"]);
    steps.extend([
        Step::Expect("STARTTLS"),
        Step::Line("220 go ahead"),
        Step::AnswerHelloWith(b"this is not TLS at all\r\n".to_vec()),
    ]);
    let (report, _) = run(steps, TlsMode::Opportunistic, |_| {}).await;
    assert_outcome(&report, Some(("tls_handshake", "tls_handshake")));
}

/// A STARTTLS whose ClientHello the server answers with `answer`, under `mode`.
async fn hello_answered_with(
    answer: Vec<u8>,
    mode: TlsMode,
) -> (smtpwatch::report::ProbeReport, Vec<String>) {
    let mut steps = greet_and_ehlo(&["STARTTLS"]);
    steps.extend([
        Step::Expect("STARTTLS"),
        Step::Line("220 go ahead"),
        Step::AnswerHelloWith(answer),
    ]);
    let (report, sent) = run(steps, mode, |_| {}).await;
    (report, sent.expect("script"))
}

/// With STARTTLS required, must fail in the handshake; returns the failure message.
async fn handshake_answered_with(answer: Vec<u8>) -> String {
    let (report, _) = hello_answered_with(answer, TlsMode::Starttls).await;
    assert_outcome(&report, Some(("tls_handshake", "tls_handshake")));
    report.failure.expect("failure").message
}

/// The alert a TLS 1.0-only server sends, and the one of a server with only CBC or static-RSA
/// suites.
const PROTOCOL_VERSION_ALERT: [u8; 7] = [0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46];
const HANDSHAKE_FAILURE_ALERT: [u8; 7] = [0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28];

#[tokio::test]
async fn with_opportunistic_tls_a_legacy_only_server_is_a_warning_not_an_outage() {
    for (alert, says) in [
        (HANDSHAKE_FAILURE_ALERT, "CBC-mode or static-RSA"),
        (PROTOCOL_VERSION_ALERT, "TLS 1.1 or older"),
    ] {
        let (report, sent) = hello_answered_with(alert.to_vec(), TlsMode::Opportunistic).await;
        assert!(report.failure.is_none(), "{:?}", report.failure);
        assert_eq!(report.status, Status::Warning);
        assert!(report.success);
        assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
        let warning = &report.warnings[0];
        assert!(
            warning.contains("plaintext") && warning.contains(says),
            "{warning}"
        );
        assert_eq!(phase_names(&report).last().copied(), Some("tls_handshake"));
        // The connection died with the handshake: nothing more was said.
        assert_eq!(sent, ["EHLO probe.test", "STARTTLS"]);
    }
}

#[tokio::test]
async fn tls_1_0_only_server_is_a_handshake_failure() {
    // What a TLS 1.0-only server answers to a 1.2+ ClientHello: alert(fatal, protocol_version)
    // in a TLS 1.0 record.
    let message = handshake_answered_with(PROTOCOL_VERSION_ALERT.to_vec()).await;
    assert!(message.contains("ProtocolVersion"), "{message}");
    assert!(message.contains("TLS 1.1 or older"), "{message}");
}

#[tokio::test]
async fn a_server_refusing_every_offered_suite_is_explained() {
    // What Exim offering only AES-CBC, or an old Exchange offering only static RSA, answers
    // to rustls' ClientHello: alert(fatal, handshake_failure).
    let message = handshake_answered_with(HANDSHAKE_FAILURE_ALERT.to_vec()).await;
    assert!(message.contains("HandshakeFailure"), "{message}");
    assert!(message.contains("CBC-mode or static-RSA"), "{message}");
}

/// The certificate cases: (description, leaf, expected reason without --insecure).
fn bad_certificates(ca: &TestCa) -> Vec<(&'static str, Leaf, &'static str)> {
    let now = OffsetDateTime::now_utc();
    vec![
        ("self-signed", self_signed(&["localhost"]), "UnknownIssuer"),
        (
            "wrong name",
            ca.leaf(&["other.test"], 90),
            "not valid for name",
        ),
        (
            "expired",
            ca.leaf_valid(
                &["localhost"],
                now - time::Duration::days(400),
                now - time::Duration::days(30),
            ),
            "expired",
        ),
    ]
}

#[tokio::test]
async fn bad_certificates_fail_with_tls_certificate_and_keep_chain_facts() {
    let ca = TestCa::new("Test CA");
    for (case, leaf, why) in bad_certificates(&ca) {
        let mut steps = greet_and_ehlo(&["STARTTLS"]);
        steps.extend([
            Step::Expect("STARTTLS"),
            Step::Line("220 go"),
            Step::StartTls(leaf.server_config()),
        ]);
        let (report, _) = run_trusting(&ca, steps, TlsMode::Opportunistic, |_| {}).await;
        assert_outcome(&report, Some(("tls_handshake", "tls_certificate")));
        let tls = report
            .tls
            .as_ref()
            .unwrap_or_else(|| panic!("{case}: chain recorded"));
        assert!(!tls.verified, "{case}");
        assert!(
            tls.verify_error.as_deref().is_some_and(|e| e.contains(why)),
            "{case}: {tls:?}"
        );
        assert!(!tls.chain.is_empty(), "{case}: chain facts kept");
    }
}

#[tokio::test]
async fn insecure_records_but_does_not_enforce_verification() {
    let ca = TestCa::new("Test CA");
    for (case, leaf, why) in bad_certificates(&ca) {
        let steps = starttls_session(&leaf, AFTER_TLS);
        let (report, _) = run_trusting(&ca, steps, TlsMode::Starttls, |s| s.insecure = true).await;
        assert!(report.success, "{case}: {report:?}");
        let tls = report.tls.as_ref().expect("tls");
        assert!(!tls.verified, "{case}");
        assert!(
            tls.verify_error.as_deref().is_some_and(|e| e.contains(why)),
            "{case}"
        );
        let want = if case == "expired" {
            Status::Warning
        } else {
            Status::Ok
        };
        assert_eq!(report.status, want, "{case}: {:?}", report.warnings);
    }
}

#[tokio::test]
async fn certificate_expiring_within_warn_cert_is_a_warning() {
    let ca = TestCa::new("Test CA");
    let leaf = ca.leaf(&["localhost"], 5);
    let steps = starttls_session(&leaf, AFTER_TLS);
    let (report, _) = run_trusting(&ca, steps, TlsMode::Starttls, |_| {}).await;
    assert!(report.success);
    assert_eq!(report.status, Status::Warning);
    assert!(
        report.warnings[0].contains("expires in 4.") || report.warnings[0].contains("expires in 5")
    );

    let steps = starttls_session(&ca.leaf(&["localhost"], 5), AFTER_TLS);
    let (report, _) = run_trusting(&ca, steps, TlsMode::Starttls, |s| {
        s.warn_cert = Duration::from_secs(86_400)
    })
    .await;
    assert_eq!(
        report.status,
        Status::Ok,
        "5 days left is fine with a 1-day threshold"
    );
}

#[tokio::test]
async fn implicit_tls_handshakes_before_the_banner() {
    let ca = TestCa::new("Test CA");
    let leaf = ca.leaf(&["localhost"], 90);
    let mut steps = vec![Step::StartTls(leaf.server_config())];
    steps.extend(greet_and_ehlo(&["AUTH PLAIN"]));
    steps.extend(noop_quit());
    let (report, _) = run_trusting(&ca, steps, TlsMode::Implicit, |_| {}).await;
    assert_outcome(&report, None);
    assert_eq!(
        phase_names(&report),
        ["connect", "tls_handshake", "banner", "ehlo", "noop", "quit"]
    );
    assert!(report.tls.as_ref().is_some_and(|t| t.verified));
}

#[tokio::test]
async fn plaintext_banner_on_implicit_tls_is_a_handshake_failure() {
    let steps = vec![
        Step::Line("220 fake.test ESMTP plaintext \x1b[2J here"),
        Step::Silent,
    ];
    let (report, _) = run(steps, TlsMode::Implicit, |_| {}).await;
    assert_outcome(&report, Some(("tls_handshake", "tls_handshake")));
    let failure = report.failure.as_ref().expect("a failure");
    assert!(
        failure.message.contains("answered in plaintext"),
        "{failure:?}"
    );
    // The transcript shows what came instead of a ServerHello, escaped.
    let server: Vec<&str> = report
        .transcript
        .iter()
        .filter(|l| l.dir == "S")
        .map(|l| l.line.as_str())
        .collect();
    assert_eq!(server.len(), 1, "{server:?}");
    assert!(
        server[0].starts_with("220 fake.test ESMTP plaintext ") && !server[0].contains('\x1b'),
        "{server:?}"
    );
}

#[tokio::test]
async fn a_tls_alert_on_implicit_tls_leaves_no_made_up_server_line() {
    // A handshake_failure alert instead of a ServerHello: binary, so no transcript line.
    let steps = vec![Step::Raw(vec![0x15, 3, 3, 0, 2, 2, 40]), Step::Silent];
    let (report, _) = run(steps, TlsMode::Implicit, |_| {}).await;
    assert_outcome(&report, Some(("tls_handshake", "tls_handshake")));
    assert!(
        report.transcript.iter().all(|l| l.dir != "S"),
        "{:?}",
        report.transcript
    );
}

#[tokio::test]
async fn the_probe_sends_close_notify_before_closing_tls() {
    let ca = TestCa::new("Test CA");
    let leaf = ca.leaf(&["localhost"], 90);
    let mut steps = starttls_session(&leaf, AFTER_TLS);
    // After QUIT, a clean TLS EOF (close_notify) ends the server's read loop without error;
    // a bare TCP close would surface as an unexpected-EOF error here.
    steps.push(Step::ExpectCloseNotify);
    let (report, sent) = run_trusting(&ca, steps, TlsMode::Starttls, |_| {}).await;
    assert_outcome(&report, None);
    sent.expect("server saw a clean TLS close");
}

#[tokio::test]
async fn an_untrusted_certificate_ends_with_a_clean_session_not_a_broken_handshake() {
    // The server's log should show a finished handshake, a QUIT and a close_notify: what a
    // monitored MTA logs as a normal session, not an SSL_accept error per probe.
    let ca = TestCa::new("Test CA");
    let mut steps = greet_and_ehlo(&["STARTTLS"]);
    steps.extend([
        Step::Expect("STARTTLS"),
        Step::Line("220 go"),
        Step::StartTls(self_signed(&["localhost"]).server_config()),
        Step::Expect("QUIT"),
        Step::Line("221 bye"),
        Step::ExpectCloseNotify,
    ]);
    let (report, server) = run_trusting(&ca, steps, TlsMode::Starttls, |_| {}).await;
    assert_outcome(&report, Some(("tls_handshake", "tls_certificate")));
    assert!(server.is_ok(), "the server saw a clean session: {server:?}");
    let message = &report.failure.as_ref().expect("failure").message;
    assert!(message.contains("not trusted"), "{message}");
    // A self-signed or private-CA chain says how to trust it.
    assert!(
        message.contains("--ca-file") && message.contains("--insecure"),
        "{message}"
    );
}
