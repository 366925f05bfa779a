//! End-to-end tests against real servers started by `tests/run.sh`: Postfix with STARTTLS on
//! 127.0.0.1:2525 and [::1]:2525, the agent, Prometheus (see [`agent`]). Ignored by plain `cargo test`; `tests/run.sh` runs them with
//! `--ignored` and sets `SMTPWATCH_E2E_STATE` to the directory holding the test CA. A missing
//! variable or server fails the test: nothing is skipped silently.

mod agent;
mod alerting;
mod chaos;
mod dashboards;
mod demo;
mod deploy;
mod fleet;
mod mail_flow;
mod manners;
mod posture;
mod secure;

use std::path::PathBuf;
use std::process::{Command, Output};

fn state_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("SMTPWATCH_E2E_STATE").expect(
            "SMTPWATCH_E2E_STATE is not set: run the end-to-end suite through tests/run.sh",
        ),
    )
}

fn ca_file() -> String {
    state_dir().join("ca.pem").to_string_lossy().into_owned()
}

fn smtpwatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smtpwatch"))
        .args(args)
        .output()
        .expect("run smtpwatch")
}

/// `smtpwatch check TARGET` trusting the test CA for `localhost`, as JSON.
fn check_verified(target: &str) -> Output {
    smtpwatch(&[
        "check",
        target,
        "--ca-file",
        &ca_file(),
        "--server-name",
        "localhost",
        "--format",
        "json",
    ])
}

fn json_report(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first = stdout.lines().next().unwrap_or_else(|| {
        panic!(
            "no output; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    serde_json::from_str(first).expect("a ProbeReport")
}

fn postfix_log() -> String {
    std::fs::read_to_string("/var/log/postfix.log").unwrap_or_default()
}

/// The log written since byte `from`, once it contains `needle` (postlogd writes
/// asynchronously); polls for at most 10 s.
fn postfix_log_once(from: usize, needle: &str) -> String {
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let log = postfix_log();
        let new = log.get(from..).unwrap_or_default().to_string();
        if new.contains(needle) || std::time::Instant::now() > give_up {
            return new;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn postfix_starttls_verifies_against_the_test_ca_on_ipv4_and_ipv6() {
    for target in ["127.0.0.1:2525", "[::1]:2525"] {
        let log_before = postfix_log().len();
        let out = check_verified(target);
        let report = json_report(&out);
        assert_eq!(out.status.code(), Some(0), "{target}: {report:#}");
        assert_eq!(report["status"], "ok");
        let phases: Vec<&str> = report["phases"]
            .as_array()
            .expect("phases")
            .iter()
            .map(|p| p["phase"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            phases,
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
        assert_eq!(report["tls"]["verified"], true);
        assert!(report["banner"]
            .as_str()
            .is_some_and(|b| b.contains("Postfix")));
        let caps = report["capabilities"].as_array().expect("caps");
        assert!(
            !caps.iter().any(|c| c == "STARTTLS"),
            "post-TLS capabilities only: {caps:?}"
        );
        assert_eq!(report["tls"]["chain"][0]["issuer"], "CN=smtpwatch e2e CA");
        // A polite client: Postfix logs a clean session summary, no "lost connection".
        let new = postfix_log_once(log_before, "disconnect from");
        assert!(
            new.contains("ehlo=2 starttls=1 noop=1 quit=1 commands=5"),
            "{target}: postfix log:\n{new}"
        );
        assert!(
            !new.contains("lost connection"),
            "{target}: postfix log:\n{new}"
        );
    }
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn postfix_without_the_ca_is_tls_certificate() {
    let out = smtpwatch(&["check", "127.0.0.1:2525", "--format", "json"]);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(2), "{report:#}");
    assert_eq!(report["failure"]["phase"], "tls_handshake");
    assert_eq!(report["failure"]["reason"], "tls_certificate");
    assert_eq!(report["tls"]["verified"], false);
    assert_eq!(
        report["tls"]["chain"][0]["subject"], "CN=localhost",
        "chain facts kept on failure"
    );

    let out = smtpwatch(&["check", "127.0.0.1:2525", "--insecure", "--format", "json"]);
    let report = json_report(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "--insecure records but does not enforce: {report:#}"
    );
    assert_eq!(report["tls"]["verified"], false);
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn postfix_other_modes_and_formats() {
    let out = smtpwatch(&[
        "check",
        "127.0.0.1:2525",
        "--tls",
        "none",
        "--format",
        "json",
    ]);
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert!(report["tls"].is_null());
    assert!(report["capabilities"]
        .as_array()
        .expect("caps")
        .iter()
        .any(|c| c == "STARTTLS"));

    let out = smtpwatch(&[
        "check",
        "submission://127.0.0.1:2525",
        "--ca-file",
        &ca_file(),
        "--server-name",
        "localhost",
        "--format",
        "nagios",
    ]);
    let line = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{line}");
    assert!(
        line.starts_with("SMTP OK - ") && line.contains("tls_handshake="),
        "{line}"
    );

    let out = smtpwatch(&[
        "check",
        "127.0.0.1:2525",
        "--ca-file",
        &ca_file(),
        "--warn-cert",
        "1000d",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "825-day certificate inside a 1000-day threshold warns: {text}"
    );
    assert!(
        text.contains("warning:       certificate expires in"),
        "{text}"
    );

    let out = smtpwatch(&[
        "check",
        "smtps://127.0.0.1:2525",
        "--ca-file",
        &ca_file(),
        "--format",
        "json",
    ]);
    let report = json_report(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "plaintext banner on implicit TLS: {report:#}"
    );
    assert_eq!(report["failure"]["reason"], "tls_handshake");
}

/// A network namespace made by the test, deleted on drop. Its loopback interface is down, so a
/// connect to 127.0.0.1 inside it fails with ENETUNREACH and no packet leaves it.
struct Namespace(String);

impl Namespace {
    fn new() -> Namespace {
        let name = format!("smtpwatch-e2e-{}", std::process::id());
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .expect("run ip");
        assert!(
            out.status.success(),
            "ip netns add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Namespace(name)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

#[test]
#[ignore = "needs root and iproute2, as tests/run.sh has"]
fn network_unreachable_is_reason_unreachable() {
    let ns = Namespace::new();
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            env!("CARGO_BIN_EXE_smtpwatch"),
            "check",
            "127.0.0.1:25",
        ])
        .args(["--format", "json"])
        .output()
        .expect("run smtpwatch in the namespace");
    let report = json_report(&out);
    assert_eq!(out.status.code(), Some(2), "{report:#}");
    assert_eq!(report["failure"]["phase"], "connect");
    assert_eq!(report["failure"]["reason"], "unreachable");
}
