//! Per-address probe series: what each probe round changes, and how it is exposed.
//!
//! Each probed address is its own series (labels `probe`, `target`, `address` plus the probe's
//! user labels). A round replaces the probe's set of addresses: an MX host that disappears takes
//! its series with it, and a probe removed by a reload is dropped. Label values come from the
//! configuration, DNS answers and closed enums, never from server text.
//!
//! Lean by default (DESIGN.md, Metrics): last-value gauges for the probe's and each phase's
//! duration, so an address costs at most about 25 series; the latency histograms exist (and
//! cost their memory) only with `[agent] histograms = true`.
//!
//! The event loop never waits for the store's lock: a scrape renders under it on a thread of
//! its own (at a lower priority, taking and releasing it chunk after chunk), and a round that
//! finds it held is queued and applied by whoever takes the lock next, in arrival order.

mod render;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, TryLockError};
use std::time::UNIX_EPOCH;

pub use self::render::{family_header, FAMILY_COUNT, HISTOGRAM_FAMILIES};
use super::family::Hist;
use crate::report::{FailureReason, Phase, ProbeReport};

/// One phase of the last round: how long it took and the reply code it ended with.
#[derive(Debug, Clone, Copy)]
struct PhaseSample {
    phase: Phase,
    seconds: f64,
    code: Option<u16>,
}

/// The latency histograms of one address (`[agent] histograms = true` only).
#[derive(Debug, Default)]
struct Histograms {
    duration: Hist,
    phases: Vec<(Phase, Hist)>,
}

#[derive(Debug, Default)]
struct AddressSeries {
    target: String,
    address: String,
    /// The last round of its probe that had this address.
    round: u64,
    /// The labels in exposition form, rendered when the address or the user labels change,
    /// not once per sample.
    label_text: String,
    /// A fingerprint of the user labels `label_text` holds.
    labels_of: u64,
    success: bool,
    duration: f64,
    /// The last round's phases, in order.
    phases: Vec<PhaseSample>,
    probes: u64,
    failures: Vec<((Phase, FailureReason), u64)>,
    last_timestamp: f64,
    /// Unix time; 0 until a certificate was seen (a plain f64 keeps the struct in a smaller
    /// allocation class: at 100,000 addresses, 3 MB).
    cert_not_after: f64,
    /// TLS version and cipher, shared with every address that negotiated the same.
    tls_info: Option<(Arc<str>, Arc<str>)>,
    starttls_advertised: Option<bool>,
    /// Delivery checks only (one pointer otherwise).
    delivery: Option<Box<DeliverySample>>,
    histograms: Option<Box<Histograms>>,
}

/// The last round of a delivery check.
#[derive(Debug, Default)]
struct DeliverySample {
    success: bool,
    /// The last time the message was seen (kept through failures, like the other last values).
    seconds: Option<f64>,
    warn_after: Option<f64>,
    /// Method and result, from closed sets ([`authentication_label`]).
    results: Vec<(&'static str, &'static str)>,
}

/// The methods and results `smtpwatch_delivery_authentication_result` may carry (RFC 8601's
/// registry, the common part): anything else a server wrote is left out or `other`, so a
/// hostile header cannot grow the label set.
fn authentication_label(method: &str, result: &str) -> Option<(&'static str, &'static str)> {
    const METHODS: [&str; 4] = ["spf", "dkim", "dmarc", "arc"];
    const RESULTS: [&str; 9] = [
        "pass",
        "fail",
        "softfail",
        "neutral",
        "none",
        "temperror",
        "permerror",
        "policy",
        "hardfail",
    ];
    let method = METHODS.into_iter().find(|m| *m == method)?;
    let result = RESULTS
        .into_iter()
        .find(|r| *r == result)
        .unwrap_or("other");
    Some((method, result))
}

/// One probe's addresses (one, or a few for a host name or an `mx:` domain).
#[derive(Debug, Default)]
struct ProbeSeries {
    rounds: u64,
    addresses: Vec<AddressSeries>,
}

#[derive(Debug)]
struct Inner {
    probes: BTreeMap<String, ProbeSeries>,
    /// The distinct TLS version and cipher names seen (a handful).
    names: Vec<Arc<str>>,
    /// Rounds that arrived while the lock was held, oldest first.
    deferred: Receiver<Deferred>,
}

/// A round that could not be applied at once (see the module header).
#[derive(Debug)]
struct Deferred {
    probe: String,
    labels: BTreeMap<String, String>,
    reports: Vec<ProbeReport>,
}

/// The shared copy of `name` in `names`.
fn intern(names: &mut Vec<Arc<str>>, name: &str) -> Arc<str> {
    if let Some(known) = names.iter().find(|n| &***n == name) {
        return known.clone();
    }
    let new: Arc<str> = Arc::from(name);
    names.push(new.clone());
    new
}

/// The per-address series of every probe, grouped by probe so that a round only touches its
/// own probe's series.
#[derive(Debug)]
pub struct SeriesStore {
    inner: Mutex<Inner>,
    /// Where a round goes when `inner` is held by someone else.
    defer: Sender<Deferred>,
    histograms: AtomicBool,
}

impl Default for SeriesStore {
    fn default() -> Self {
        let (defer, deferred) = channel();
        SeriesStore {
            inner: Mutex::new(Inner {
                probes: BTreeMap::new(),
                names: Vec::new(),
                deferred,
            }),
            defer,
            histograms: AtomicBool::new(false),
        }
    }
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

fn fingerprint(labels: &BTreeMap<String, String>) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    labels.hash(&mut h);
    h.finish()
}

impl SeriesStore {
    /// An empty store.
    pub fn new() -> Self {
        SeriesStore::default()
    }

    /// Keeps the latency histograms from now on, or drops them (`[agent] histograms`).
    pub fn set_histograms(&self, on: bool) {
        let was = self.histograms.swap(on, Ordering::Relaxed);
        if was && !on {
            if let Ok(mut inner) = self.inner.lock() {
                for s in inner
                    .probes
                    .values_mut()
                    .flat_map(|p| p.addresses.iter_mut())
                {
                    s.histograms = None;
                }
            }
        }
    }

    /// Whether family `family` is exposed now (the histograms only when kept).
    pub fn family_enabled(&self, family: usize) -> bool {
        !HISTOGRAM_FAMILIES.contains(&family) || self.histograms()
    }

    /// Whether the latency histograms are kept.
    pub fn histograms(&self) -> bool {
        self.histograms.load(Ordering::Relaxed)
    }

    /// Records one round of `probe`: its reports replace its set of addresses. Never waits:
    /// while a scrape holds the lock, the round is queued (see the module header).
    pub fn observe_round(
        &self,
        probe: &str,
        user_labels: &BTreeMap<String, String>,
        reports: &[ProbeReport],
    ) {
        let histograms = self.histograms();
        let mut inner = match self.inner.try_lock() {
            Ok(inner) => inner,
            Err(TryLockError::WouldBlock) => {
                // The receiver lives as long as the store: sending cannot fail.
                let _ = self.defer.send(Deferred {
                    probe: probe.to_string(),
                    labels: user_labels.clone(),
                    reports: reports.to_vec(),
                });
                return;
            }
            Err(TryLockError::Poisoned(_)) => return,
        };
        inner.apply_deferred(histograms);
        inner.apply(probe, user_labels, reports, histograms);
    }

    /// Drops the series of `removed` probes (after a reload): one lookup each, so a reload of
    /// 100,000 probes holds the lock for microseconds, not a walk over every probe.
    pub fn forget_probes(&self, removed: &[String]) {
        if let Ok(mut inner) = self.inner.lock() {
            // A queued round of a removed probe must not bring its series back.
            inner.apply_deferred(self.histograms());
            for name in removed {
                inner.probes.remove(name);
            }
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
        let Ok(mut inner) = self.inner.lock() else {
            return None;
        };
        inner.apply_deferred(self.histograms());
        let range = match after {
            None => inner.probes.range::<str, _>(..),
            Some(name) => inner
                .probes
                .range::<str, _>((std::ops::Bound::Excluded(name), std::ops::Bound::Unbounded)),
        };
        let mut last = None;
        for (probe, series) in range.take(max_probes) {
            series
                .addresses
                .iter()
                .for_each(|s| render::write_samples(out, family, s));
            last = Some(probe.clone());
        }
        last
    }
}

impl Inner {
    /// Applies the rounds queued while the lock was held, oldest first.
    fn apply_deferred(&mut self, histograms: bool) {
        while let Ok(round) = self.deferred.try_recv() {
            self.apply(&round.probe, &round.labels, &round.reports, histograms);
        }
    }

    fn apply(
        &mut self,
        probe: &str,
        user_labels: &BTreeMap<String, String>,
        reports: &[ProbeReport],
        histograms: bool,
    ) {
        let labels_of = fingerprint(user_labels);
        let Inner { probes, names, .. } = self;
        if !probes.contains_key(probe) {
            probes.insert(probe.to_string(), ProbeSeries::default());
        }
        let Some(series) = probes.get_mut(probe) else {
            return;
        };
        series.rounds += 1;
        let round = series.rounds;
        for report in reports {
            let address = report.address.as_deref().unwrap_or_default();
            let found = series
                .addresses
                .iter()
                .position(|s| s.target == report.target && s.address == address);
            let i = match found {
                Some(i) => i,
                None => {
                    series.addresses.push(AddressSeries {
                        target: report.target.clone(),
                        address: address.to_string(),
                        ..AddressSeries::default()
                    });
                    series.addresses.len() - 1
                }
            };
            let s = &mut series.addresses[i];
            s.round = round;
            if s.label_text.is_empty() || s.labels_of != labels_of {
                s.label_text = render::labels(probe, &report.target, address, user_labels);
                s.labels_of = labels_of;
            }
            update(s, report, histograms);
            if let Some(tls) = &report.tls {
                if let (Some(v), Some(c)) = (&tls.version, &tls.cipher) {
                    s.tls_info = Some((intern(names, v), intern(names, c)));
                }
            }
        }
        series.addresses.retain(|s| s.round == round);
    }
}

/// One report's effect on its address's series.
fn update(s: &mut AddressSeries, report: &ProbeReport, histograms: bool) {
    s.success = report.success;
    s.duration = report.duration_seconds;
    s.phases.clear();
    s.phases.extend(report.phases.iter().map(|p| PhaseSample {
        phase: p.phase,
        seconds: p.seconds,
        code: p.code,
    }));
    s.probes += 1;
    if let Some(f) = &report.failure {
        let cause = (f.phase, f.reason);
        match s.failures.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, n)) => *n += 1,
            None => s.failures.push((cause, 1)),
        }
    }
    let started = report
        .started_at
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    s.last_timestamp = started.as_secs_f64() + report.duration_seconds;
    if let Some(not_after) = report.tls.as_ref().and_then(|t| t.cert_not_after) {
        let secs = not_after.duration_since(UNIX_EPOCH).unwrap_or_default();
        s.cert_not_after = secs.as_secs_f64();
    }
    if let Some(advertised) = starttls_advertised(report) {
        s.starttls_advertised = Some(advertised);
    }
    match report.mail.delivery() {
        None => s.delivery = None,
        Some(d) => {
            let sample = s.delivery.get_or_insert_with(Box::default);
            sample.success = report.success && d.seconds.is_some();
            sample.seconds = d.seconds.or(sample.seconds);
            sample.warn_after = d.warn_after_seconds;
            if d.seconds.is_some() {
                sample.results = d
                    .authentication_results
                    .iter()
                    .filter_map(|(m, r)| authentication_label(m, r))
                    .collect();
            }
        }
    }
    if histograms {
        let h = s.histograms.get_or_insert_with(Box::default);
        h.duration.observe(report.duration_seconds);
        for p in &report.phases {
            match h.phases.iter_mut().find(|(phase, _)| *phase == p.phase) {
                Some((_, hist)) => hist.observe(p.seconds),
                None => {
                    let mut hist = Hist::default();
                    hist.observe(p.seconds);
                    h.phases.push((p.phase, hist));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
