//! Mail-domain posture against real DNS software (tests/e2e/dnslab-up.sh, started by
//! tests/run.sh): nsd serving zones signed with ldns-signzone, unbound validating, an HTTPS
//! MTA-STS policy and two STARTTLS servers. `check mx:mail.test` must find secure DNSSEC, a
//! DANE match on mx1 and the renewal mismatch on mx2 (agreeing with `openssl s_client -dane_*`),
//! and the MTA-STS and TLS-RPT records; `mx:plain.test` is insecure, so DANE does not apply.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::agent::env;

fn lab() -> PathBuf {
    PathBuf::from(env("SMTPWATCH_E2E_DNSLAB"))
}

fn check(domain: &str, format: &str) -> Output {
    let lab = lab();
    Command::new(env!("CARGO_BIN_EXE_smtpwatch"))
        .args([
            "check",
            &format!("mx:{domain}"),
            "--dns-server",
            "127.0.0.1:5354",
        ])
        .arg("--dnssec-trust-anchor")
        .arg(lab.join("test.dnskey"))
        .arg("--ca-file")
        .arg(lab.join("pki/ca.pem"))
        .args(["--timeout", "5s", "--format", format])
        .output()
        .expect("run smtpwatch")
}

fn domain_posture(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or("");
    let json: serde_json::Value = serde_json::from_str(last).expect("JSON line");
    json["domain_posture"].clone()
}

/// openssl's own DANE verdict for the server at `addr` and the TLSA data in `tlsa_file`.
fn openssl_dane_ok(addr: &str, host: &str, tlsa_file: &str) -> bool {
    let tlsa = std::fs::read_to_string(lab().join("pki").join(tlsa_file)).expect("tlsa");
    let out = Command::new("openssl")
        .args(["s_client", "-brief", "-starttls", "smtp", "-connect", addr])
        .args(["-dane_tlsa_domain", host, "-dane_tlsa_rrdata"])
        .arg(format!("3 1 1 {}", tlsa.trim()))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl");
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    said.contains("Verification: OK") && !said.contains("no matching DANE TLSA records")
}

#[test]
#[ignore = "end-to-end: run through tests/run.sh"]
fn mail_test_is_secure_with_one_dane_match_one_mismatch_and_mta_sts_enforce() {
    let text = check("mail.test", "text");
    let shown = String::from_utf8_lossy(&text.stdout).into_owned();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/e2e");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("check-mx-mail.test.txt"), &shown);
    assert_eq!(text.status.code(), Some(2), "{shown}");
    for needle in [
        "posture mail.test CRITICAL",
        "DNSSEC:     MX secure",
        "MTA-STS:    enforce (id 20261128T000000, max_age 86400), mx mx1.mail.test, *.mail.test; covers every MX",
        "TLS-RPT:    mailto:tlsrpt@mail.test",
        "FAILURE dane_mismatch 127.0.0.3:25",
    ] {
        assert!(shown.contains(needle), "{needle:?} missing from:\n{shown}");
    }

    let p = domain_posture(&check("mail.test", "json"));
    assert_eq!(p["mx_dnssec"], "secure");
    let hosts = p["hosts"].as_array().cloned().unwrap_or_default();
    let host = |name: &str| {
        hosts
            .iter()
            .find(|h| h["host"] == name)
            .cloned()
            .expect(name)
    };
    let (mx1, mx2) = (host("mx1.mail.test"), host("mx2.mail.test"));
    for h in [&mx1, &mx2] {
        assert_eq!(h["tlsa_dnssec"], "secure");
        assert_eq!(h["address_dnssec"], "secure");
        assert_eq!(h["dane"], true);
    }
    let verdict = |h: &serde_json::Value| {
        h["addresses"][0]["dane"]["result"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(verdict(&mx1), "match");
    assert_eq!(verdict(&mx2), "mismatch");
    // openssl agrees, record for record.
    assert!(openssl_dane_ok(
        "127.0.0.2:25",
        "mx1.mail.test",
        "mx1.tlsa311"
    ));
    assert!(!openssl_dane_ok(
        "127.0.0.3:25",
        "mx2.mail.test",
        "mx2.tlsa311"
    ));
    assert_eq!(p["mta_sts"]["state"], "valid");
    assert_eq!(p["mta_sts"]["policy"]["mode"], "enforce");
    assert_eq!(p["tls_rpt"]["rua"][0], "mailto:tlsrpt@mail.test");
}

#[test]
#[ignore = "end-to-end: run through tests/run.sh"]
fn plain_test_is_insecure_so_dane_does_not_apply() {
    let p = domain_posture(&check("plain.test", "json"));
    assert_eq!(p["mx_dnssec"], "insecure");
    assert_eq!(p["hosts"][0]["tlsa_dnssec"], "insecure");
    assert_eq!(p["hosts"][0]["dane"], false);
    let findings = p["findings"].as_array().cloned().unwrap_or_default();
    assert!(
        findings
            .iter()
            .all(|f| f["reason"] != "dns_bogus" && f["reason"] != "dane_mismatch"),
        "{findings:?}"
    );
}
