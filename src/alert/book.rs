//! The alert book: every alert's state, fed one probe round at a time. Pure: no I/O, time is
//! a parameter; it returns the notifications to send.
//!
//! Which alerts a round feeds:
//! - **Probe level** (`address` null in the key): bad when every address of the round failed
//!   (or the name did not resolve), severity `critical`: mail to this target cannot be
//!   delivered. For a single-address probe this is the only reachability alert.
//! - **Per address**, only when the round had several addresses: bad when that address
//!   failed, severity `warning` (the others still take mail). An address that leaves DNS is
//!   dropped, with a `resolved` if it was firing.
//! - **Certificate expiry**, per address: bad while the leaf expires within `warn_cert`;
//!   fires at once (no streak needed), `warning`. Rounds that did not reach TLS say nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

mod feed;

use serde::{Deserialize, Serialize};

use self::feed::{cert_expiring, failure_cause, key, notification, Feed};
use super::drift::Drift;
use super::notification::{rfc3339, AlertKind, Notification, NotificationEvent, Severity};
use super::state::{AlertState, Cause, CauseKey, Event, Thresholds};
use crate::report::ProbeReport;
use crate::target::Target;

/// Identifies one alert.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AlertKey {
    /// The probe.
    pub probe: String,
    /// The address, or None for the probe-level alert.
    pub address: Option<String>,
    /// What it is about.
    pub kind: AlertKind,
}

/// One alert's state and the notification that describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The state machine.
    pub state: AlertState,
    /// The latest notification sent (what Alertmanager re-sends; the base of `resolved`).
    pub last: Option<Notification>,
}

/// What the book needs to know about a probe.
#[derive(Debug, Clone)]
pub struct ProbeInfo<'a> {
    /// The probe name.
    pub name: &'a str,
    /// The target as configured (formatted only when a notification is made).
    pub target: &'a Target,
    /// User labels.
    pub labels: &'a BTreeMap<String, String>,
    /// Certificate expiry warning threshold.
    pub warn_cert: Duration,
}

/// One round being fed: what its alerts share, and what they have produced so far.
struct RoundFeed<'a, 'p> {
    probe: &'a ProbeInfo<'p>,
    now: SystemTime,
    thresholds: &'a Thresholds,
    /// The round had several addresses (each gets its own reachability alert).
    multi: bool,
    /// The alerts this round fed (the others of the probe end).
    seen: BTreeSet<AlertKey>,
    out: Vec<Notification>,
}

/// Every alert's state.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AlertBook {
    entries: BTreeMap<AlertKey, Entry>,
    agent: String,
    drift: Drift,
}

impl AlertBook {
    /// An empty book; `agent` (host name) goes into every notification.
    pub fn new(agent: String) -> AlertBook {
        AlertBook {
            entries: BTreeMap::new(),
            agent,
            drift: Drift::default(),
        }
    }

    /// Feeds one round of `probe`; returns the notifications it causes.
    pub fn observe(
        &mut self,
        probe: &ProbeInfo<'_>,
        reports: &[ProbeReport],
        now: SystemTime,
        thresholds: &Thresholds,
    ) -> Vec<Notification> {
        let drift: Vec<Option<Option<Cause>>> = reports
            .iter()
            .map(|r| self.drift.input(probe.name, r))
            .collect();
        let quiet = reports
            .iter()
            .all(|r| r.success && !cert_expiring(r, probe.warn_cert))
            && drift.iter().all(|d| !matches!(d, Some(Some(_))));
        if quiet && !self.tracks(probe.name) {
            return Vec::new();
        }
        let mut round = RoundFeed {
            probe,
            now,
            thresholds,
            multi: reports.len() > 1,
            seen: BTreeSet::new(),
            out: Vec::new(),
        };
        self.feed_probe_level(&mut round, reports);
        for (report, drift) in reports.iter().zip(drift) {
            self.feed_address(&mut round, report, drift);
        }
        self.end_unseen(&mut round);
        round.out
    }

    /// The probe-level reachability alert: bad when every address failed.
    fn feed_probe_level(&mut self, round: &mut RoundFeed<'_, '_>, reports: &[ProbeReport]) {
        let failed: Vec<&ProbeReport> = reports.iter().filter(|r| !r.success).collect();
        let all_failed = !reports.is_empty() && failed.len() == reports.len();
        let cause = all_failed.then(|| {
            let mut cause = failure_cause(failed[0]);
            if round.multi {
                cause.message = format!(
                    "all {} addresses failing; {}: {}",
                    reports.len(),
                    failed[0].address.as_deref().unwrap_or(&failed[0].target),
                    cause.message
                );
            }
            cause
        });
        let single_address = if round.multi {
            None
        } else {
            reports.first().and_then(|r| r.address.clone())
        };
        let probe_key = key(round.probe.name, None, AlertKind::ProbeFailing);
        round.seen.insert(probe_key.clone());
        let feed = Feed {
            key: probe_key,
            address: single_address,
            severity: Severity::Critical,
            cause,
            report: failed.first().copied().or(reports.first()),
            thresholds: round.thresholds,
        };
        self.feed(round.probe, feed, round.now, &mut round.out);
    }

    /// The alerts of one address: reachability (several addresses only), certificate expiry
    /// (when the round reached TLS) and capability drift.
    fn feed_address(
        &mut self,
        round: &mut RoundFeed<'_, '_>,
        report: &ProbeReport,
        drift: Option<Option<Cause>>,
    ) {
        let Some(address) = report.address.clone() else {
            return;
        };
        let name = round.probe.name;
        let once = Thresholds {
            failure: 1,
            success: 1,
            repeat_interval: round.thresholds.repeat_interval,
        };
        // (alert, cause, thresholds) this report feeds.
        let mut feeds = Vec::new();
        if round.multi {
            let cause = (!report.success).then(|| failure_cause(report));
            feeds.push((AlertKind::ProbeFailing, cause, round.thresholds));
        }
        // Certificate and drift alerts live on through rounds that cannot tell.
        round
            .seen
            .insert(key(name, Some(&address), AlertKind::CertificateExpiring));
        round
            .seen
            .insert(key(name, Some(&address), AlertKind::CapabilityDrift));
        if let Some(left) = report.tls.as_ref().and_then(|t| t.cert_seconds_left) {
            let cause = cert_expiring(report, round.probe.warn_cert).then(|| Cause {
                key: CauseKey::CertificateExpiring,
                message: format!(
                    "the certificate expires in {} days",
                    (left / 86_400.0).floor()
                ),
            });
            feeds.push((AlertKind::CertificateExpiring, cause, &once));
        }
        if let Some(cause) = drift {
            feeds.push((AlertKind::CapabilityDrift, cause, &once));
        }
        for (kind, cause, thresholds) in feeds {
            let k = key(name, Some(&address), kind);
            round.seen.insert(k.clone());
            let feed = Feed {
                key: k,
                address: Some(address.clone()),
                severity: Severity::Warning,
                cause,
                report: Some(report),
                thresholds,
            };
            self.feed(round.probe, feed, round.now, &mut round.out);
        }
    }

    /// Alerts of this probe that the round no longer has (an address left DNS, or the probe
    /// became single-address) end here.
    fn end_unseen(&mut self, round: &mut RoundFeed<'_, '_>) {
        let gone: Vec<AlertKey> = self
            .entries
            .keys()
            .filter(|k| k.probe == round.probe.name && !round.seen.contains(k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(n) = self.forget(&k, round.now, "the address is no longer probed") {
                round.out.push(n);
            }
        }
    }

    /// Whether any alert of `probe` has history.
    fn tracks(&self, probe: &str) -> bool {
        // Keys sort by probe first, and (None, ProbeFailing) is the smallest rest.
        let first = key(probe, None, AlertKind::ProbeFailing);
        self.entries
            .range(first..)
            .next()
            .is_some_and(|(k, _)| k.probe == probe)
    }

    /// Drops every alert of probes not in `names` (after a reload); firing ones resolve.
    pub fn retain_probes(
        &mut self,
        names: &BTreeSet<String>,
        now: SystemTime,
    ) -> Vec<Notification> {
        self.drift.retain_probes(names);
        let gone: Vec<AlertKey> = self
            .entries
            .keys()
            .filter(|k| !names.contains(&k.probe))
            .cloned()
            .collect();
        gone.iter()
            .filter_map(|k| self.forget(k, now, "the probe was removed from the configuration"))
            .collect()
    }

    fn forget(&mut self, k: &AlertKey, now: SystemTime, why: &str) -> Option<Notification> {
        let entry = self.entries.remove(k)?;
        if !entry.state.firing {
            return None;
        }
        let mut n = entry.last?;
        n.event = NotificationEvent::Resolved;
        n.status = "ok".into();
        n.previous_reason = None;
        n.message = format!("{why}; {}", n.message);
        n.at = rfc3339(now);
        Some(n)
    }

    /// The firing alerts' latest notifications (for Alertmanager re-sends). A re-send is not
    /// a reminder: the reason change a reminder announced was sent with it, once.
    pub fn firing(&self) -> Vec<Notification> {
        self.entries
            .values()
            .filter(|e| e.state.firing)
            .filter_map(|e| e.last.clone())
            .map(|mut n| {
                n.previous_reason = None;
                n
            })
            .collect()
    }

    /// The firing entries, for the state file.
    pub fn snapshot(&self) -> Vec<(AlertKey, Entry)> {
        self.entries
            .iter()
            .filter(|(_, e)| e.state.firing)
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect()
    }

    /// Restores entries saved by [`AlertBook::snapshot`].
    pub fn restore(&mut self, entries: Vec<(AlertKey, Entry)>) {
        self.entries.extend(entries);
    }

    /// Feeds one alert; pushes the notification its transition causes.
    fn feed(
        &mut self,
        probe: &ProbeInfo<'_>,
        mut feed: Feed<'_>,
        now: SystemTime,
        out: &mut Vec<Notification>,
    ) {
        // A good result for an alert with no history changes nothing: keep no entry, so
        // healthy probes cost no bookkeeping.
        if feed.cause.is_none() && !self.entries.contains_key(&feed.key) {
            return;
        }
        let entry = self
            .entries
            .entry(feed.key.clone())
            .or_insert_with(|| Entry {
                state: AlertState::default(),
                last: None,
            });
        let transition = entry.state.eval(feed.cause.take(), now, feed.thresholds);
        let idle = entry.state.is_idle();
        let Some(transition) = transition else {
            if idle {
                self.entries.remove(&feed.key);
            }
            return;
        };
        let n = notification(&self.agent, probe, &feed, &transition, now);
        entry.last = (transition.event != Event::Resolved).then(|| n.clone());
        if idle {
            self.entries.remove(&feed.key);
        }
        out.push(n);
    }
}

#[cfg(test)]
mod tests;
