//! Per-address probe series: what each probe round changes, and how it is exposed.
//!
//! Each probed address is its own series (labels `probe`, `target`, `address` plus the probe's
//! user labels). A round replaces the probe's set of addresses: an MX host that disappears takes
//! its series with it, and a probe removed by a reload is dropped. Label values come from the
//! configuration, DNS answers and closed enums, never from server text.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::Bound;
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use prometheus::proto::MetricType;

use super::family::{Hist, Labels};
use crate::report::{Phase, ProbeReport};

#[derive(Debug, Default)]
struct AddressSeries {
    labels: Labels,
    /// `labels` in exposition form, rendered once per round rather than once per sample.
    label_text: String,
    success: f64,
    duration: Hist,
    phases: BTreeMap<&'static str, Hist>,
    probes: u64,
    failures: BTreeMap<(&'static str, &'static str), u64>,
    last_timestamp: f64,
    cert_not_after: Option<f64>,
    tls_info: Option<(String, String)>,
    starttls_advertised: Option<bool>,
    reply_codes: BTreeMap<&'static str, u16>,
}

/// (target, address) within one probe.
type Key = (String, String);

/// The per-address series of every probe, grouped by probe so that a round only touches its
/// own probe's series.
#[derive(Debug, Default)]
pub struct SeriesStore {
    series: Mutex<BTreeMap<String, BTreeMap<Key, AddressSeries>>>,
}

/// Whether STARTTLS was offered, when the report can tell.
fn starttls_advertised(report: &ProbeReport) -> Option<bool> {
    if report.phase(Phase::Starttls).is_some() {
        return Some(true);
    }
    if report.phase(Phase::Helo).is_some() {
        return Some(false);
    }
    let ehlo_ok = report
        .phase(Phase::Ehlo)
        .is_some_and(|p| p.code == Some(250));
    ehlo_ok.then(|| {
        report
            .capabilities
            .iter()
            .any(|c| c.eq_ignore_ascii_case("STARTTLS"))
    })
}

impl SeriesStore {
    /// An empty store.
    pub fn new() -> Self {
        SeriesStore::default()
    }

    /// Records one round of `probe`: its reports replace its set of addresses.
    pub fn observe_round(
        &self,
        probe: &str,
        user_labels: &BTreeMap<String, String>,
        reports: &[ProbeReport],
    ) {
        let Ok(mut all) = self.series.lock() else {
            return;
        };
        let series = all.entry(probe.to_string()).or_default();
        let mut seen = BTreeSet::new();
        for report in reports {
            let address = report.address.clone().unwrap_or_default();
            let key = (report.target.clone(), address.clone());
            seen.insert(key.clone());
            let s = series.entry(key).or_default();
            let mut labels: Labels = Vec::with_capacity(3 + user_labels.len());
            labels.push(("probe".into(), probe.to_string()));
            labels.push(("target".into(), report.target.clone()));
            labels.push(("address".into(), address));
            labels.extend(user_labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            if labels != s.labels {
                s.label_text = label_text(&labels);
                s.labels = labels;
            }
            s.success = if report.success { 1.0 } else { 0.0 };
            s.duration.observe(report.duration_seconds);
            for p in &report.phases {
                s.phases
                    .entry(p.phase.as_str())
                    .or_default()
                    .observe(p.seconds);
                if let Some(code) = p.code {
                    s.reply_codes.insert(p.phase.as_str(), code);
                }
            }
            s.probes += 1;
            if let Some(f) = &report.failure {
                *s.failures
                    .entry((f.phase.as_str(), f.reason.as_str()))
                    .or_default() += 1;
            }
            let started = report
                .started_at
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            s.last_timestamp = started.as_secs_f64() + report.duration_seconds;
            if let Some(tls) = &report.tls {
                if let Some(not_after) = tls.cert_not_after {
                    let secs = not_after.duration_since(UNIX_EPOCH).unwrap_or_default();
                    s.cert_not_after = Some(secs.as_secs_f64());
                }
                if let (Some(v), Some(c)) = (&tls.version, &tls.cipher) {
                    s.tls_info = Some((v.clone(), c.clone()));
                }
            }
            if let Some(advertised) = starttls_advertised(report) {
                s.starttls_advertised = Some(advertised);
            }
        }
        series.retain(|key, _| seen.contains(key));
    }

    /// Drops every series of probes not in `names` (after a reload).
    pub fn retain_probes(&self, names: &BTreeSet<String>) {
        if let Ok(mut all) = self.series.lock() {
            all.retain(|name, _| names.contains(name));
        }
    }

    /// Appends family `family`'s samples for up to `max_probes` probes after `after` (in name
    /// order) to `out`; returns the last probe rendered, or None when the family is complete.
    /// The lock is held for one chunk only, so scrapes never stall probing for long.
    pub fn render_chunk(
        &self,
        family: usize,
        after: Option<&str>,
        max_probes: usize,
        out: &mut String,
    ) -> Option<String> {
        let Ok(all) = self.series.lock() else {
            return None;
        };
        let range = match after {
            None => all.range::<str, _>(..),
            Some(name) => all.range::<str, _>((Bound::Excluded(name), Bound::Unbounded)),
        };
        let mut last = None;
        for (probe, series) in range.take(max_probes) {
            series.values().for_each(|s| write_samples(out, family, s));
            last = Some(probe.clone());
        }
        last
    }
}

/// The `# HELP` and `# TYPE` lines of family `family`.
pub fn family_header(family: usize, out: &mut String) {
    let (name, help, kind) = FAMILIES[family];
    let kind = match kind {
        MetricType::COUNTER => "counter",
        MetricType::HISTOGRAM => "histogram",
        _ => "gauge",
    };
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

/// How many per-address families there are.
pub const FAMILY_COUNT: usize = FAMILIES.len();

fn write_samples(out: &mut String, family: usize, s: &AddressSeries) {
    let name = FAMILIES[family].0;
    let l = s.label_text.as_str();
    match family {
        0 => sample(out, name, l, "", s.success),
        1 => histogram(out, name, l, "", &s.duration),
        2 => s
            .phases
            .iter()
            .for_each(|(phase, h)| histogram(out, name, l, &pair("phase", phase), h)),
        3 => sample(out, name, l, "", s.probes as f64),
        4 => s.failures.iter().for_each(|((phase, reason), n)| {
            let extra = format!("{},{}", pair("phase", phase), pair("reason", reason));
            sample(out, name, l, &extra, *n as f64)
        }),
        5 => sample(out, name, l, "", s.last_timestamp),
        6 => s
            .cert_not_after
            .iter()
            .for_each(|t| sample(out, name, l, "", *t)),
        7 => s.tls_info.iter().for_each(|(version, cipher)| {
            let extra = format!("{},{}", pair("version", version), pair("cipher", cipher));
            sample(out, name, l, &extra, 1.0)
        }),
        8 => s
            .starttls_advertised
            .iter()
            .for_each(|a| sample(out, name, l, "", f64::from(u8::from(*a)))),
        _ => s.reply_codes.iter().for_each(|(phase, code)| {
            sample(out, name, l, &pair("phase", phase), f64::from(*code))
        }),
    }
}

fn pair(key: &str, value: &str) -> String {
    let mut out = String::with_capacity(key.len() + value.len() + 3);
    out.push_str(key);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn label_text(pairs: &Labels) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| pair(k, v))
        .collect();
    parts.join(",")
}

fn sample(out: &mut String, name: &str, labels: &str, extra: &str, value: f64) {
    let sep = if labels.is_empty() || extra.is_empty() {
        ""
    } else {
        ","
    };
    let _ = writeln!(out, "{name}{{{labels}{sep}{extra}}} {value}");
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
    let _ = writeln!(out, "{name}_sum{{{base}}} {}", h.sum());
    let _ = writeln!(out, "{name}_count{{{base}}} {}", h.count());
}

const FAMILIES: [(&str, &str, MetricType); 10] = [
    (
        "smtpwatch_probe_success",
        "Whether the last probe of this address succeeded (1) or not (0).",
        MetricType::GAUGE,
    ),
    (
        "smtpwatch_probe_duration_seconds",
        "Duration of whole probes, resolution included.",
        MetricType::HISTOGRAM,
    ),
    (
        "smtpwatch_phase_duration_seconds",
        "Duration of each SMTP phase.",
        MetricType::HISTOGRAM,
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
        "Last SMTP reply code seen in each phase.",
        MetricType::GAUGE,
    ),
];
