//! Shared helpers: certificates, the fake SMTP server, the fake DNS server, probe runners.

pub mod certs;
pub mod dns_relay;
pub mod fake_dns;
pub mod fake_imap;
pub mod fake_smtp;
pub mod http;
pub mod policy_server;
pub mod receiver;
pub mod signed_zone;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smtpwatch::probe::{probe, ProbePlan, ProbeSettings};
use smtpwatch::report::ProbeReport;
use smtpwatch::target::TlsMode;
use smtpwatch::trust::LazyTrust;
use smtpwatch::trust::Trust;

use self::certs::{Leaf, TestCa};
use self::fake_smtp::{greet_and_ehlo, noop_quit, raw, FakeSmtp, Step};

/// Settings that trust only `ca`, with short timeouts so hostile cases end quickly.
pub fn settings(ca: &TestCa) -> ProbeSettings {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der()).expect("test CA");
    let trust = Trust::from_roots(roots).expect("trust");
    let mut s = ProbeSettings::new(Arc::new(LazyTrust::ready(trust)), "probe.test".into());
    s.timeout = Duration::from_secs(3);
    s.phase_timeout = Duration::from_secs(3);
    s.quit_timeout = Duration::from_millis(500);
    s
}

/// Probes `addr` once, verifying certificates against the name `localhost`.
pub async fn probe_addr(addr: SocketAddr, tls: TlsMode, settings: &ProbeSettings) -> ProbeReport {
    let plan = ProbePlan {
        probe: None,
        target: format!("localhost:{}", addr.port()),
        address: addr,
        server_name: "localhost".into(),
        tls,
        resolved_in: None,
        started: tokio::time::Instant::now(),
    };
    probe(&plan, settings).await
}

/// Plays `steps` on a fake server, probes it, and returns the report and what the client sent.
pub async fn run(
    steps: Vec<Step>,
    tls: TlsMode,
    tweak: impl FnOnce(&mut ProbeSettings),
) -> (ProbeReport, Result<Vec<String>, String>) {
    run_trusting(&TestCa::new("unused test CA"), steps, tls, tweak).await
}

/// [`run`], with the probe trusting `ca`.
pub async fn run_trusting(
    ca: &TestCa,
    steps: Vec<Step>,
    tls: TlsMode,
    tweak: impl FnOnce(&mut ProbeSettings),
) -> (ProbeReport, Result<Vec<String>, String>) {
    let mut s = settings(ca);
    tweak(&mut s);
    let server = FakeSmtp::start(steps).await;
    let report = probe_addr(server.addr, tls, &s).await;
    (report, server.finish().await)
}

/// Asserts the verdict: `None` for success, or the failing phase and reason.
#[track_caller]
pub fn assert_outcome(report: &ProbeReport, want: Option<(&str, &str)>) {
    let json = serde_json::to_value(report).expect("json");
    match want {
        None => {
            assert_eq!(json["success"], true, "expected success: {json:#}");
            assert!(json["failure"].is_null(), "{json:#}");
        }
        Some((phase, reason)) => {
            assert_eq!(json["success"], false, "expected failure: {json:#}");
            assert_eq!(json["failure"]["phase"], phase, "{json:#}");
            assert_eq!(json["failure"]["reason"], reason, "{json:#}");
        }
    }
}

/// The phases that ran, by name.
pub fn phase_names(report: &ProbeReport) -> Vec<&'static str> {
    report.phases.iter().map(|p| p.phase.as_str()).collect()
}

/// Greeting, EHLO with STARTTLS, STARTTLS, handshake with `leaf`, EHLO again (answered with
/// `after_tls_caps`), NOOP, QUIT.
pub fn starttls_session(leaf: &Leaf, after_tls_caps: &'static str) -> Vec<Step> {
    let mut steps = greet_and_ehlo(&["PIPELINING", "STARTTLS"]);
    steps.extend([
        Step::Expect("STARTTLS"),
        Step::Line("220 2.0.0 Ready to start TLS"),
        Step::StartTls(leaf.server_config()),
        Step::Expect("EHLO probe.test"),
        raw(after_tls_caps),
    ]);
    steps.extend(noop_quit());
    steps
}
