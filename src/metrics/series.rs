//! Per-address probe series: what each probe round changes, and how it is exposed.
//!
//! Each probed address is its own series (labels `probe`, `target`, `address` plus the probe's
//! user labels). A round replaces the probe's set of addresses: an MX host that disappears takes
//! its series with it, and a probe removed by a reload is dropped. Label values come from the
//! configuration, DNS answers and closed enums, never from server text.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use prometheus::proto::{MetricFamily, MetricType};

use super::family::{with, Family, Hist, Labels};
use crate::report::{Phase, ProbeReport};

#[derive(Debug, Default)]
struct AddressSeries {
    labels: Labels,
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
            s.labels = vec![
                ("probe".into(), probe.to_string()),
                ("target".into(), report.target.clone()),
                ("address".into(), address),
            ];
            s.labels
                .extend(user_labels.iter().map(|(k, v)| (k.clone(), v.clone())));
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

    /// The families, as exposed on /metrics.
    pub fn families(&self) -> Vec<MetricFamily> {
        let Ok(all) = self.series.lock() else {
            return Vec::new();
        };
        let mut fams: Vec<Family> = FAMILIES
            .iter()
            .map(|(name, help, kind)| Family::new(name, help, *kind))
            .collect();
        for s in all.values().flat_map(BTreeMap::values) {
            let l = &s.labels;
            fams[0].gauge(l, s.success);
            fams[1].histogram(l, &s.duration);
            for (phase, hist) in &s.phases {
                fams[2].histogram(&with(l, "phase", phase), hist);
            }
            fams[3].counter(l, s.probes as f64);
            for ((phase, reason), n) in &s.failures {
                fams[4].counter(&with(&with(l, "phase", phase), "reason", reason), *n as f64);
            }
            fams[5].gauge(l, s.last_timestamp);
            if let Some(t) = s.cert_not_after {
                fams[6].gauge(l, t);
            }
            if let Some((version, cipher)) = &s.tls_info {
                fams[7].gauge(&with(&with(l, "version", version), "cipher", cipher), 1.0);
            }
            if let Some(advertised) = s.starttls_advertised {
                fams[8].gauge(l, if advertised { 1.0 } else { 0.0 });
            }
            for (phase, code) in &s.reply_codes {
                fams[9].gauge(&with(l, "phase", phase), f64::from(*code));
            }
        }
        fams.into_iter().filter_map(Family::finish).collect()
    }
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
