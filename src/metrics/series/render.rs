//! The per-address families in the Prometheus text format: their names and help, and each
//! address's samples (written by hand, with [`super::super::text`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use prometheus::proto::MetricType;

use super::super::family::Hist;
use super::super::text::{header, pair, push_pairs, sample};
use super::AddressSeries;

/// The families: name, help, type. The delivery families have samples only for delivery
/// checks. The last two are the latency histograms, present only
/// with `[agent] histograms = true` ([`HISTOGRAM_FAMILIES`]).
const FAMILIES: [(&str, &str, MetricType); 16] = [
    (
        "smtpwatch_probe_success",
        "Whether the last probe of this address succeeded (1) or not (0).",
        MetricType::GAUGE,
    ),
    (
        "smtpwatch_probe_duration_seconds",
        "Duration of the last probe of this address, resolution included.",
        MetricType::GAUGE,
    ),
    (
        "smtpwatch_last_phase_duration_seconds",
        "Duration of each SMTP phase in the last probe of this address.",
        MetricType::GAUGE,
    ),
    (
        "smtpwatch_probes_total",
        "Probes of this address.",
        MetricType::COUNTER,
    ),
    (
        "smtpwatch_probe_failures_total",
        "Failed probes, by failing phase and reason.",
        MetricType::COUNTER,
    ),
    (
        "smtpwatch_last_probe_timestamp_seconds",
        "When the last probe of this address finished (Unix time).",
        MetricType::GAUGE,
    ),
    (
        "smtpwatch_tls_cert_not_after_timestamp_seconds",
        "Expiry of the leaf certificate last presented (Unix time).",
        MetricType::GAUGE,
    ),
    (
        "smtpwatch_tls_info",
        "TLS version and cipher of the last TLS session (always 1).",
        MetricType::GAUGE,
    ),
    (
        "smtpwatch_starttls_advertised",
        "Whether the last EHLO advertised STARTTLS (1) or not (0).",
        MetricType::GAUGE,
    ),
    (
        "smtpwatch_smtp_reply_code",
        "The SMTP reply code each phase of the last probe ended with.",
        MetricType::GAUGE,
    ),
    (
        "smtpwatch_delivery_success",
        "Whether the last delivery check's message reached the mailbox (1) or not (0).",
        MetricType::GAUGE,
    ),
    (
        "smtpwatch_delivery_seconds",
        "From the 250 after DATA until the message was seen over IMAP, last time it was seen.",
        MetricType::GAUGE,
    ),
    (
        "smtpwatch_delivery_warn_after_seconds",
        "The probe's delivery.warn_after: SMTPDeliverySlow fires above it.",
        MetricType::GAUGE,
    ),
    (
        "smtpwatch_delivery_authentication_result",
        "The receiving server's Authentication-Results for the last message seen (always 1).",
        MetricType::GAUGE,
    ),
    (
        "smtpwatch_probe_duration_histogram_seconds",
        "Duration of whole probes, resolution included ([agent] histograms = true).",
        MetricType::HISTOGRAM,
    ),
    (
        "smtpwatch_phase_duration_seconds",
        "Duration of each SMTP phase ([agent] histograms = true).",
        MetricType::HISTOGRAM,
    ),
];

/// How many per-address families there are.
pub const FAMILY_COUNT: usize = FAMILIES.len();

/// The families that exist only with `[agent] histograms = true`.
pub const HISTOGRAM_FAMILIES: std::ops::Range<usize> = 14..16;

/// The `# HELP` and `# TYPE` lines of family `family`.
pub fn family_header(family: usize, out: &mut String) {
    let (name, help, kind) = FAMILIES[family];
    let kind = match kind {
        MetricType::COUNTER => "counter",
        MetricType::HISTOGRAM => "histogram",
        _ => "gauge",
    };
    header(out, name, help, kind);
}

/// An address's labels in exposition form.
pub(super) fn labels(
    probe: &str,
    target: &str,
    address: &str,
    user: &BTreeMap<String, String>,
) -> String {
    let mut out = String::with_capacity(32 + probe.len() + target.len() + address.len());
    let fixed = [("probe", probe), ("target", target), ("address", address)];
    let all = fixed
        .into_iter()
        .chain(user.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    push_pairs(&mut out, all);
    out
}

pub(super) fn write_samples(out: &mut String, family: usize, s: &AddressSeries) {
    let name = FAMILIES[family].0;
    let l = s.label_text.as_str();
    match family {
        0 => sample(out, name, l, "", f64::from(u8::from(s.success))),
        1 => sample(out, name, l, "", s.duration),
        2 => s
            .phases
            .iter()
            .for_each(|p| sample(out, name, l, &pair("phase", p.phase.as_str()), p.seconds)),
        3 => sample(out, name, l, "", s.probes as f64),
        4 => s.failures.iter().for_each(|((phase, reason), n)| {
            let extra = format!(
                "{},{}",
                pair("phase", phase.as_str()),
                pair("reason", reason.as_str())
            );
            sample(out, name, l, &extra, *n as f64)
        }),
        5 => sample(out, name, l, "", s.last_timestamp),
        6 => {
            if s.cert_not_after > 0.0 {
                sample(out, name, l, "", s.cert_not_after)
            }
        }
        7 => s.tls_info.iter().for_each(|(version, cipher)| {
            let extra = format!("{},{}", pair("version", version), pair("cipher", cipher));
            sample(out, name, l, &extra, 1.0)
        }),
        8 => s
            .starttls_advertised
            .iter()
            .for_each(|a| sample(out, name, l, "", f64::from(u8::from(*a)))),
        9 => s.phases.iter().for_each(|p| {
            if let Some(code) = p.code {
                sample(
                    out,
                    name,
                    l,
                    &pair("phase", p.phase.as_str()),
                    f64::from(code),
                )
            }
        }),
        10 => s
            .delivery
            .iter()
            .for_each(|d| sample(out, name, l, "", f64::from(u8::from(d.success)))),
        11 => s
            .delivery
            .iter()
            .filter_map(|d| d.seconds)
            .for_each(|v| sample(out, name, l, "", v)),
        12 => s
            .delivery
            .iter()
            .filter_map(|d| d.warn_after)
            .for_each(|v| sample(out, name, l, "", v)),
        13 => s
            .delivery
            .iter()
            .flat_map(|d| d.results.iter())
            .for_each(|(m, r)| {
                let extra = format!("{},{}", pair("method", m), pair("result", r));
                sample(out, name, l, &extra, 1.0)
            }),
        14 => s
            .histograms
            .iter()
            .for_each(|h| histogram(out, name, l, "", &h.duration)),
        _ => s.histograms.iter().for_each(|h| {
            h.phases.iter().for_each(|(phase, hist)| {
                histogram(out, name, l, &pair("phase", phase.as_str()), hist)
            })
        }),
    }
}

/// A sum of seconds at nanosecond resolution: adding binary fractions leaves noise in the last
/// digits (0.00037299999999999996 for 0.000373) that says nothing and costs bytes.
fn to_nanoseconds(seconds: f64) -> f64 {
    if seconds.is_finite() && seconds.abs() < 1e9 {
        (seconds * 1e9).round() / 1e9
    } else {
        seconds
    }
}

fn histogram(out: &mut String, name: &str, labels: &str, extra: &str, h: &Hist) {
    let sep = if labels.is_empty() || extra.is_empty() {
        ""
    } else {
        ","
    };
    let base = format!("{labels}{sep}{extra}");
    let comma = if base.is_empty() { "" } else { "," };
    for (bound, count) in h.buckets() {
        let _ = writeln!(out, "{name}_bucket{{{base}{comma}le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{base}{comma}le=\"+Inf\"}} {}",
        h.count()
    );
    let _ = writeln!(out, "{name}_sum{{{base}}} {}", to_nanoseconds(h.sum()));
    let _ = writeln!(out, "{name}_count{{{base}}} {}", h.count());
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_lose_their_float_noise_and_nothing_else() {
        let noisy = 0.0001 + 0.000273;
        assert_eq!(
            format!("{}", super::to_nanoseconds(0.00037299999999999996)),
            "0.000373"
        );
        assert_eq!(format!("{}", super::to_nanoseconds(noisy)), "0.000373");
        assert_eq!(super::to_nanoseconds(12.5), 12.5);
        assert_eq!(super::to_nanoseconds(0.0), 0.0);
        assert!(super::to_nanoseconds(f64::INFINITY).is_infinite());
    }
}
