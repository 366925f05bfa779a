//! TLS against servers whose chain or handshake is wrong in the ways real ones are: an
//! intermediate missing, expired or not yet valid; a chain far too large; TLS 1.2 only; a
//! tarpit that never answers the ClientHello. Each gets its exact verdict, within the deadline.

use std::time::{Duration, Instant};

use smtpwatch::report::Status;
use smtpwatch::target::TlsMode;
use time::OffsetDateTime;

use crate::support::certs::{Leaf, TestCa};
use crate::support::fake_smtp::{greet_and_ehlo, noop_quit, raw, Step};
use crate::support::{assert_outcome, run_trusting, starttls_session};

const AFTER_TLS: &str = "250-fake.test\r\n250 PIPELINING\r\n";

/// A STARTTLS session presenting `chain` (with `leaf`'s key), the probe trusting `root`.
async fn presenting(
    root: &TestCa,
    leaf: &Leaf,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> smtpwatch::report::ProbeReport {
    let shown = Leaf {
        chain,
        key: leaf.key.clone_key(),
    };
    let mut steps = greet_and_ehlo(&["STARTTLS"]);
    steps.extend([
        Step::Expect("STARTTLS"),
        Step::Line("220 go ahead"),
        Step::StartTls(shown.server_config()),
    ]);
    run_trusting(root, steps, TlsMode::Starttls, |_| {}).await.0
}

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

/// A root, and a leaf for `localhost` signed by a valid intermediate of it (in its chain).
fn through_an_intermediate() -> (TestCa, Leaf) {
    let root = TestCa::new("Root");
    let now = OffsetDateTime::now_utc();
    let intermediate = root.intermediate("Intermediate", now - days(10), now + days(300));
    let leaf = intermediate.leaf(&["localhost"], 60);
    (root, leaf)
}

#[tokio::test]
async fn a_complete_chain_through_an_intermediate_verifies() {
    let (root, leaf) = through_an_intermediate();
    let (report, _) = run_trusting(
        &root,
        starttls_session(&leaf, AFTER_TLS),
        TlsMode::Starttls,
        |_| {},
    )
    .await;
    assert_outcome(&report, None);
    let tls = report.tls.as_ref().expect("tls");
    assert!(tls.verified);
    assert_eq!(tls.chain.len(), 2);
    assert_eq!(tls.chain[1].subject, "CN=Intermediate");
}

#[tokio::test]
async fn a_missing_intermediate_is_a_certificate_failure() {
    let (root, leaf) = through_an_intermediate();
    let report = presenting(&root, &leaf, leaf.chain[..1].to_vec()).await;
    assert_outcome(&report, Some(("tls_handshake", "tls_certificate")));
    let why = report
        .tls
        .as_ref()
        .and_then(|t| t.verify_error.clone())
        .unwrap_or_default();
    assert!(why.contains("UnknownIssuer"), "{why}");
}

#[tokio::test]
async fn an_expired_or_not_yet_valid_intermediate_fails_though_the_leaf_is_fine() {
    let root = TestCa::new("Root");
    let now = OffsetDateTime::now_utc();
    for (case, from, until, says) in [
        ("expired", now - days(400), now - days(1), "expired"),
        (
            "not yet valid",
            now + days(1),
            now + days(400),
            "not valid yet",
        ),
    ] {
        let intermediate = root.intermediate("Intermediate", from, until);
        let leaf = intermediate.leaf(&["localhost"], 60);
        let report = presenting(&root, &leaf, leaf.chain.clone()).await;
        assert_outcome(&report, Some(("tls_handshake", "tls_certificate")));
        let why = report
            .tls
            .as_ref()
            .and_then(|t| t.verify_error.clone())
            .unwrap_or_default();
        assert!(why.contains(says), "{case}: {why}");
    }
}

#[tokio::test]
async fn a_chain_far_too_large_fails_in_the_handshake_within_the_deadline() {
    let (root, leaf) = through_an_intermediate();
    // About 200 certificates: far beyond any real chain and rustls' handshake message limit.
    let mut chain = leaf.chain.clone();
    for _ in 0..200 {
        chain.push(leaf.chain[1].clone());
    }
    let started = Instant::now();
    let report = presenting(&root, &leaf, chain).await;
    assert!(!report.success, "{report:?}");
    assert_eq!(report.status, Status::Critical);
    assert_eq!(
        report.failure.as_ref().map(|f| f.phase),
        Some(smtpwatch::report::Phase::TlsHandshake)
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_tls_1_2_only_server_with_ecdhe_and_aes_gcm_is_fine() {
    let ca = TestCa::new("Root");
    let leaf = ca.leaf(&["localhost"], 60);
    let mut steps = greet_and_ehlo(&["STARTTLS"]);
    steps.extend([
        Step::Expect("STARTTLS"),
        Step::Line("220 go ahead"),
        Step::StartTls(leaf.server_config_with(&[&rustls::version::TLS12])),
        Step::Expect("EHLO probe.test"),
        raw(AFTER_TLS),
    ]);
    steps.extend(noop_quit());
    let (report, _) = run_trusting(&ca, steps, TlsMode::Starttls, |_| {}).await;
    assert_outcome(&report, None);
    let tls = report.tls.as_ref().expect("tls");
    assert_eq!(tls.version.as_deref(), Some("TLSv1.2"));
    assert!(
        tls.cipher
            .as_deref()
            .is_some_and(|c| c.contains("ECDHE") && c.contains("GCM")),
        "{tls:?}"
    );
}

#[tokio::test]
async fn a_tarpit_that_never_answers_the_client_hello_times_out_in_the_handshake() {
    let ca = TestCa::new("Root");
    let mut steps = greet_and_ehlo(&["STARTTLS"]);
    steps.extend([
        Step::Expect("STARTTLS"),
        Step::Line("220 go ahead"),
        Step::Silent,
    ]);
    let started = Instant::now();
    let (report, _) = run_trusting(&ca, steps, TlsMode::Opportunistic, |s| {
        s.timeout = Duration::from_millis(800);
        s.phase_timeout = Duration::from_millis(800);
    })
    .await;
    assert_outcome(&report, Some(("tls_handshake", "timeout")));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}
