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

use serde::{Deserialize, Serialize};

use super::drift::Drift;
use super::notification::{
    AlertKind, Notification, NotificationEvent, Scope, Severity, SCHEMA_VERSION,
};
use super::state::{AlertState, Cause, Event, Thresholds, Transition};
use crate::report::ProbeReport;
use crate::target::Target;

/// Transcript lines a notification carries.
const TRANSCRIPT_EXCERPT: usize = 10;

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
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let multi = reports.len() > 1;

        let failed: Vec<&ProbeReport> = reports.iter().filter(|r| !r.success).collect();
        let all_failed = !reports.is_empty() && failed.len() == reports.len();
        let probe_cause = all_failed.then(|| {
            let mut cause = failure_cause(failed[0]);
            if multi {
                cause.message = format!(
                    "all {} addresses failing; {}: {}",
                    reports.len(),
                    failed[0].address.as_deref().unwrap_or(&failed[0].target),
                    cause.message
                );
            }
            cause
        });
        let single_address = if multi {
            None
        } else {
            reports.first().and_then(|r| r.address.clone())
        };
        let probe_key = key(probe.name, None, AlertKind::ProbeFailing);
        seen.insert(probe_key.clone());
        let first = failed.first().copied().or(reports.first());
        self.feed(
            probe,
            probe_key,
            single_address,
            Severity::Critical,
            probe_cause,
            first,
            now,
            thresholds,
            &mut out,
        );

        let cert_thresholds = Thresholds {
            failure: 1,
            success: 1,
            repeat_interval: thresholds.repeat_interval,
        };
        for (report, drift) in reports.iter().zip(drift) {
            let Some(address) = report.address.clone() else {
                continue;
            };
            // (alert, severity, cause, thresholds) this report feeds; the certificate alert
            // only when the round reached TLS.
            let mut feeds = Vec::new();
            if multi {
                let cause = (!report.success).then(|| failure_cause(report));
                feeds.push((AlertKind::ProbeFailing, cause, thresholds));
            }
            // Certificate and drift alerts live on through rounds that cannot tell.
            seen.insert(key(
                probe.name,
                Some(&address),
                AlertKind::CertificateExpiring,
            ));
            seen.insert(key(probe.name, Some(&address), AlertKind::CapabilityDrift));
            if let Some(left) = report.tls.as_ref().and_then(|t| t.cert_seconds_left) {
                let cause = cert_expiring(report, probe.warn_cert).then(|| Cause {
                    key: "certificate_expiring".into(),
                    message: format!(
                        "the certificate expires in {} days",
                        (left / 86_400.0).floor()
                    ),
                });
                feeds.push((AlertKind::CertificateExpiring, cause, &cert_thresholds));
            }
            if let Some(cause) = drift {
                feeds.push((AlertKind::CapabilityDrift, cause, &cert_thresholds));
            }
            for (kind, cause, t) in feeds {
                let k = key(probe.name, Some(&address), kind);
                seen.insert(k.clone());
                self.feed(
                    probe,
                    k,
                    Some(address.clone()),
                    Severity::Warning,
                    cause,
                    Some(report),
                    now,
                    t,
                    &mut out,
                );
            }
        }

        // Alerts of this probe that the round no longer has (an address left DNS, or the
        // probe became single-address) end here.
        let gone: Vec<AlertKey> = self
            .entries
            .keys()
            .filter(|k| k.probe == probe.name && !seen.contains(k))
            .cloned()
            .collect();
        for k in gone {
            if let Some(n) = self.forget(&k, now, "the address is no longer probed") {
                out.push(n);
            }
        }
        out
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

    #[allow(clippy::too_many_arguments)]
    fn feed(
        &mut self,
        probe: &ProbeInfo<'_>,
        k: AlertKey,
        address: Option<String>,
        severity: Severity,
        cause: Option<Cause>,
        report: Option<&ProbeReport>,
        now: SystemTime,
        thresholds: &Thresholds,
        out: &mut Vec<Notification>,
    ) {
        // A good result for an alert with no history changes nothing: keep no entry, so
        // healthy probes cost no bookkeeping.
        if cause.is_none() && !self.entries.contains_key(&k) {
            return;
        }
        let kind = k.kind;
        let k_is_probe = k.address.is_none();
        let entry = self.entries.entry(k.clone()).or_insert_with(|| Entry {
            state: AlertState::default(),
            last: None,
        });
        let transition = entry.state.eval(cause, now, thresholds);
        let idle = entry.state.is_idle();
        let Some(transition) = transition else {
            if idle {
                self.entries.remove(&k);
            }
            return;
        };
        let n = notification(
            &self.agent,
            probe,
            kind,
            k_is_probe,
            address,
            severity,
            &transition,
            report,
            now,
        );
        entry.last = (transition.event != Event::Resolved).then(|| n.clone());
        if idle {
            self.entries.remove(&k);
        }
        out.push(n);
    }
}

#[allow(clippy::too_many_arguments)]
fn notification(
    agent: &str,
    probe: &ProbeInfo<'_>,
    kind: AlertKind,
    k_is_probe: bool,
    address: Option<String>,
    severity: Severity,
    t: &Transition,
    report: Option<&ProbeReport>,
    now: SystemTime,
) -> Notification {
    let resolved = t.event == Event::Resolved;
    let failure = report
        .and_then(|r| r.failure.as_ref())
        .filter(|_| !resolved);
    let (phase, reason) = match (kind, t.cause.key.split_once('/')) {
        (AlertKind::ProbeFailing, Some((p, r))) => (Some(p.to_string()), Some(r.to_string())),
        _ => (None, Some(t.cause.key.clone()).filter(|k| !k.is_empty())),
    };
    let transcript = match (kind, report) {
        (AlertKind::ProbeFailing, Some(r)) if !resolved => excerpt(r),
        _ => Vec::new(),
    };
    Notification {
        version: SCHEMA_VERSION,
        event: match t.event {
            Event::Firing => NotificationEvent::Firing,
            Event::Reminder => NotificationEvent::Reminder,
            Event::Resolved => NotificationEvent::Resolved,
        },
        alert: kind,
        severity,
        scope: if k_is_probe {
            Scope::Probe
        } else {
            Scope::Address
        },
        probe: probe.name.to_string(),
        target: probe.target.to_string(),
        address,
        status: if resolved { "ok" } else { "failing" }.into(),
        phase,
        reason,
        code: failure.and_then(|f| f.code),
        message: t.cause.message.clone(),
        previous_reason: t.previous_cause.as_ref().map(|c| c.key.clone()),
        since: rfc3339(t.since),
        at: rfc3339(now),
        transcript,
        agent: agent.to_string(),
        labels: probe.labels.clone(),
    }
}

fn key(probe: &str, address: Option<&str>, kind: AlertKind) -> AlertKey {
    AlertKey {
        probe: probe.to_string(),
        address: address.map(str::to_string),
        kind,
    }
}

/// `phase/reason` and the message of a failed report.
fn failure_cause(report: &ProbeReport) -> Cause {
    match &report.failure {
        Some(f) => Cause {
            key: format!("{}/{}", f.phase.as_str(), f.reason.as_str()),
            message: f.message.clone(),
        },
        None => Cause {
            key: "unknown/unknown".into(),
            message: "the probe failed".into(),
        },
    }
}

/// Whether the report's leaf certificate expires within `warn_cert`.
fn cert_expiring(report: &ProbeReport, warn_cert: Duration) -> bool {
    report
        .tls
        .as_ref()
        .and_then(|t| t.cert_seconds_left)
        .is_some_and(|left| left < warn_cert.as_secs_f64())
}

fn excerpt(report: &ProbeReport) -> Vec<String> {
    let start = report.transcript.len().saturating_sub(TRANSCRIPT_EXCERPT);
    report.transcript[start..]
        .iter()
        .map(|l| format!("{}: {}", l.dir, l.line))
        .collect()
}

/// RFC 3339 with seconds.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;
