//! `/probe` answers in blackbox_exporter's metric names, so existing relabel configs, rules and
//! dashboards keep working; smtpwatch's extra detail comes in `probe_smtp_*` families.
//!
//! With several addresses (a host with A and AAAA records, or `mx:`), `probe_success` is 1 only
//! when every address worked, `probe_duration_seconds` is the whole fan-out, and
//! `probe_ssl_earliest_cert_expiry` is the earliest expiry of any certificate presented.

use std::time::UNIX_EPOCH;

use super::text::{header, pair, push_pairs, sample};
use crate::report::ProbeReport;

/// The families, in the order they are written: name and help. All are gauges.
const SUCCESS: (&str, &str) = ("probe_success", "Whether every probed address succeeded.");
const DURATION: (&str, &str) = (
    "probe_duration_seconds",
    "How long the probe took, in seconds.",
);
const ADDRESS_SUCCESS: (&str, &str) = (
    "probe_smtp_address_success",
    "Whether each address succeeded.",
);
const PHASES: (&str, &str) = (
    "probe_smtp_phase_duration_seconds",
    "Duration of each SMTP phase, per address.",
);
const FAILURE: (&str, &str) = (
    "probe_smtp_failure_info",
    "Failing phase and reason, per address (always 1).",
);
const CODE: (&str, &str) = (
    "probe_smtp_status_code",
    "Last SMTP reply code per phase and address.",
);
const TLS_VERSION: (&str, &str) = ("probe_tls_version_info", "TLS version used (always 1).");
const EXPIRY: (&str, &str) = (
    "probe_ssl_earliest_cert_expiry",
    "Earliest certificate expiry, Unix time.",
);

/// Writes a family's header and its samples, or nothing when it has none (empty families
/// are not exposed). Each sample: (labels, extra labels, value).
fn family(out: &mut String, (name, help): (&str, &str), samples: &[(&str, String, f64)]) {
    if samples.is_empty() {
        return;
    }
    header(out, name, help, "gauge");
    for (labels, extra, value) in samples {
        sample(out, name, labels, extra, *value);
    }
}

fn flag(b: bool) -> f64 {
    f64::from(u8::from(b))
}

/// The exposition for one `/probe` request.
pub fn render(reports: &[ProbeReport], took_seconds: f64) -> String {
    let mut out = String::with_capacity(1024 + 768 * reports.len());
    let all_ok = !reports.is_empty() && reports.iter().all(|r| r.success);
    family(&mut out, SUCCESS, &[("", String::new(), flag(all_ok))]);
    family(&mut out, DURATION, &[("", String::new(), took_seconds)]);
    let addresses: Vec<String> = reports
        .iter()
        .map(|r| {
            let mut labels = String::new();
            let address = r.address.as_deref().unwrap_or_default();
            push_pairs(
                &mut labels,
                [("target", r.target.as_str()), ("address", address)],
            );
            labels
        })
        .collect();
    let per_address = reports.iter().zip(addresses.iter().map(String::as_str));
    let success: Vec<_> = per_address
        .clone()
        .map(|(r, l)| (l, String::new(), flag(r.success)))
        .collect();
    family(&mut out, ADDRESS_SUCCESS, &success);
    let phases: Vec<_> = per_address
        .clone()
        .flat_map(|(r, l)| r.phases.iter().map(move |p| (l, p)))
        .collect();
    let durations: Vec<_> = phases
        .iter()
        .map(|(l, p)| (*l, pair("phase", p.phase.as_str()), p.seconds))
        .collect();
    family(&mut out, PHASES, &durations);
    let failures: Vec<_> = per_address
        .clone()
        .filter_map(|(r, l)| r.failure.as_ref().map(|f| (l, f)))
        .map(|(l, f)| {
            let extra = format!(
                "{},{}",
                pair("phase", f.phase.as_str()),
                pair("reason", f.reason.as_str())
            );
            (l, extra, 1.0)
        })
        .collect();
    family(&mut out, FAILURE, &failures);
    let codes: Vec<_> = phases
        .iter()
        .filter_map(|(l, p)| Some((*l, pair("phase", p.phase.as_str()), f64::from(p.code?))))
        .collect();
    family(&mut out, CODE, &codes);
    let sessions = || reports.iter().filter_map(|r| r.tls.as_deref());
    let version: Vec<_> = sessions()
        .find_map(|tls| tls.version.as_deref())
        .map(|v| ("", pair("version", v), 1.0))
        .into_iter()
        .collect();
    family(&mut out, TLS_VERSION, &version);
    let earliest = sessions()
        .flat_map(|tls| tls.chain.iter())
        .map(|cert| {
            cert.not_after
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64()
        })
        .reduce(f64::min);
    let expiry: Vec<_> = earliest
        .map(|t| ("", String::new(), t))
        .into_iter()
        .collect();
    family(&mut out, EXPIRY, &expiry);
    out
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime, UNIX_EPOCH};

    use crate::report::{
        CertFacts, Failure, FailureReason, Phase, PhaseTiming, ProbeReport, Status, TlsFacts,
    };

    fn report(address: Option<&str>, phases: &[(Phase, f64, Option<u16>)]) -> ProbeReport {
        ProbeReport {
            duration_seconds: 0.5,
            phases: phases
                .iter()
                .map(|&(phase, seconds, code)| PhaseTiming {
                    phase,
                    seconds,
                    code,
                })
                .collect(),
            ..ProbeReport::blank("mx.test:25", address, SystemTime::now())
        }
    }

    fn cert(not_after: u64) -> CertFacts {
        CertFacts {
            subject: "CN=mx.test".into(),
            issuer: "CN=CA".into(),
            not_after: UNIX_EPOCH + Duration::from_secs(not_after),
            sans: Vec::new(),
            sha256: String::new(),
        }
    }

    /// Two addresses, one verified over TLS 1.3, one failed in STARTTLS; a target name that
    /// needs escaping. The exact text is blackbox_exporter's layout (empty families omitted).
    #[test]
    fn renders_every_family_in_blackbox_layout() {
        let mut tls = report(
            Some("192.0.2.1:25"),
            &[
                (Phase::Connect, 0.001, None),
                (Phase::Banner, 0.002, Some(220)),
                (Phase::TlsHandshake, 0.0125, None),
            ],
        );
        tls.target = "mx\"\\\n.test:25".into();
        tls.tls = Some(Box::new(TlsFacts {
            version: Some("TLSv1.3".into()),
            cipher: Some("TLS13_AES_128_GCM_SHA256".into()),
            verified: true,
            verify_error: None,
            cert_not_after: None,
            cert_seconds_left: None,
            chain: vec![cert(1_900_000_000), cert(1_800_000_000)],
            chain_der: Vec::new(),
        }));
        let mut failed = report(
            None,
            &[
                (Phase::Connect, 0.25, None),
                (Phase::Starttls, 1.0, Some(454)),
            ],
        );
        failed.success = false;
        failed.status = Status::Critical;
        failed.failure = Some(Failure {
            phase: Phase::Starttls,
            reason: FailureReason::Rejected,
            code: Some(454),
            message: String::new(),
        });
        let text = super::render(&[tls, failed], 1.5);
        let expected = r#"# HELP probe_success Whether every probed address succeeded.
# TYPE probe_success gauge
probe_success 0
# HELP probe_duration_seconds How long the probe took, in seconds.
# TYPE probe_duration_seconds gauge
probe_duration_seconds 1.5
# HELP probe_smtp_address_success Whether each address succeeded.
# TYPE probe_smtp_address_success gauge
probe_smtp_address_success{target="mx\"\\\n.test:25",address="192.0.2.1:25"} 1
probe_smtp_address_success{target="mx.test:25"} 0
# HELP probe_smtp_phase_duration_seconds Duration of each SMTP phase, per address.
# TYPE probe_smtp_phase_duration_seconds gauge
probe_smtp_phase_duration_seconds{target="mx\"\\\n.test:25",address="192.0.2.1:25",phase="connect"} 0.001
probe_smtp_phase_duration_seconds{target="mx\"\\\n.test:25",address="192.0.2.1:25",phase="banner"} 0.002
probe_smtp_phase_duration_seconds{target="mx\"\\\n.test:25",address="192.0.2.1:25",phase="tls_handshake"} 0.0125
probe_smtp_phase_duration_seconds{target="mx.test:25",phase="connect"} 0.25
probe_smtp_phase_duration_seconds{target="mx.test:25",phase="starttls"} 1
# HELP probe_smtp_failure_info Failing phase and reason, per address (always 1).
# TYPE probe_smtp_failure_info gauge
probe_smtp_failure_info{target="mx.test:25",phase="starttls",reason="rejected"} 1
# HELP probe_smtp_status_code Last SMTP reply code per phase and address.
# TYPE probe_smtp_status_code gauge
probe_smtp_status_code{target="mx\"\\\n.test:25",address="192.0.2.1:25",phase="banner"} 220
probe_smtp_status_code{target="mx.test:25",phase="starttls"} 454
# HELP probe_tls_version_info TLS version used (always 1).
# TYPE probe_tls_version_info gauge
probe_tls_version_info{version="TLSv1.3"} 1
# HELP probe_ssl_earliest_cert_expiry Earliest certificate expiry, Unix time.
# TYPE probe_ssl_earliest_cert_expiry gauge
probe_ssl_earliest_cert_expiry 1800000000
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn without_reports_only_failure_and_duration_remain() {
        let text = super::render(&[], 0.25);
        assert_eq!(
            text,
            "# HELP probe_success Whether every probed address succeeded.\n\
             # TYPE probe_success gauge\nprobe_success 0\n\
             # HELP probe_duration_seconds How long the probe took, in seconds.\n\
             # TYPE probe_duration_seconds gauge\nprobe_duration_seconds 0.25\n"
        );
    }
}
