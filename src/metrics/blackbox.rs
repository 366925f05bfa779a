//! `/probe` answers in blackbox_exporter's metric names, so existing relabel configs, rules and
//! dashboards keep working; smtpwatch's extra detail comes in `probe_smtp_*` families.
//!
//! With several addresses (a host with A and AAAA records, or `mx:`), `probe_success` is 1 only
//! when every address worked, `probe_duration_seconds` is the whole fan-out, and
//! `probe_ssl_earliest_cert_expiry` is the earliest expiry of any certificate presented.

use std::time::UNIX_EPOCH;

use prometheus::proto::MetricType;

use super::family::{encode, with, Family, Labels};
use crate::report::ProbeReport;

/// The exposition for one `/probe` request.
pub fn render(reports: &[ProbeReport], took_seconds: f64) -> String {
    let none: Labels = Vec::new();
    let gauge = |name: &str, help: &str| Family::new(name, help, MetricType::GAUGE);
    let mut success = gauge("probe_success", "Whether every probed address succeeded.");
    let all_ok = !reports.is_empty() && reports.iter().all(|r| r.success);
    success.gauge(&none, if all_ok { 1.0 } else { 0.0 });
    let mut duration = gauge(
        "probe_duration_seconds",
        "How long the probe took, in seconds.",
    );
    duration.gauge(&none, took_seconds);

    let mut address_success = gauge(
        "probe_smtp_address_success",
        "Whether each address succeeded.",
    );
    let mut phases = gauge(
        "probe_smtp_phase_duration_seconds",
        "Duration of each SMTP phase, per address.",
    );
    let mut failure = gauge(
        "probe_smtp_failure_info",
        "Failing phase and reason, per address (always 1).",
    );
    let mut code = gauge(
        "probe_smtp_status_code",
        "Last SMTP reply code per phase and address.",
    );
    let mut tls_version = gauge("probe_tls_version_info", "TLS version used (always 1).");
    let mut expiry = gauge(
        "probe_ssl_earliest_cert_expiry",
        "Earliest certificate expiry, Unix time.",
    );
    let mut earliest: Option<f64> = None;
    let mut version_seen: Option<String> = None;
    for r in reports {
        let addr = vec![
            ("target".to_string(), r.target.clone()),
            ("address".to_string(), r.address.clone().unwrap_or_default()),
        ];
        address_success.gauge(&addr, if r.success { 1.0 } else { 0.0 });
        for p in &r.phases {
            phases.gauge(&with(&addr, "phase", p.phase.as_str()), p.seconds);
            if let Some(c) = p.code {
                code.gauge(&with(&addr, "phase", p.phase.as_str()), f64::from(c));
            }
        }
        if let Some(f) = &r.failure {
            failure.gauge(
                &with(
                    &with(&addr, "phase", f.phase.as_str()),
                    "reason",
                    f.reason.as_str(),
                ),
                1.0,
            );
        }
        if let Some(tls) = &r.tls {
            for cert in &tls.chain {
                let t = cert
                    .not_after
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs_f64();
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
            if version_seen.is_none() {
                version_seen = tls.version.clone();
            }
        }
    }
    if let Some(v) = version_seen {
        tls_version.gauge(&with(&none, "version", &v), 1.0);
    }
    if let Some(t) = earliest {
        expiry.gauge(&none, t);
    }
    let families: Vec<_> = [
        success,
        duration,
        address_success,
        phases,
        failure,
        code,
        tls_version,
        expiry,
    ]
    .into_iter()
    .filter_map(Family::finish)
    .collect();
    encode(&families)
}
