//! One alert fed by one round: what it is fed ([`Feed`]) and the notification a transition
//! makes of it.

use std::time::{Duration, SystemTime};

use super::{AlertKey, ProbeInfo};
use crate::alert::notification::{
    rfc3339, AlertKind, Notification, NotificationEvent, Scope, Severity, SCHEMA_VERSION,
};
use crate::alert::state::{Cause, CauseKey, Event, Thresholds, Transition};
use crate::report::ProbeReport;

/// Transcript lines a notification carries.
const TRANSCRIPT_EXCERPT: usize = 10;

/// What one alert is fed by a round.
pub(super) struct Feed<'r> {
    /// The alert.
    pub key: AlertKey,
    /// The address it concerns (None: the probe as a whole with several addresses).
    pub address: Option<String>,
    /// How bad it is when it fires.
    pub severity: Severity,
    /// What is wrong (None: all well).
    pub cause: Option<Cause>,
    /// The report that tells (for the failure code and the transcript excerpt).
    pub report: Option<&'r ProbeReport>,
    /// When it fires and resolves.
    pub thresholds: &'r Thresholds,
}

/// The notification of `feed`'s transition `t`.
pub(super) fn notification(
    agent: &str,
    probe: &ProbeInfo<'_>,
    feed: &Feed<'_>,
    t: &Transition,
    now: SystemTime,
) -> Notification {
    let kind = feed.key.kind;
    let report = feed.report;
    let resolved = t.event == Event::Resolved;
    let failure = report
        .and_then(|r| r.failure.as_ref())
        .filter(|_| !resolved);
    let phase = t.cause.key.phase().map(str::to_string);
    let reason = t.cause.key.reason().map(str::to_string);
    let transcript = match (kind, report) {
        (AlertKind::ProbeFailing, Some(r)) if !resolved => excerpt(r),
        _ => Vec::new(),
    };
    Notification {
        version: SCHEMA_VERSION,
        id: String::new(),
        event: match t.event {
            Event::Firing => NotificationEvent::Firing,
            Event::Reminder => NotificationEvent::Reminder,
            Event::Resolved => NotificationEvent::Resolved,
        },
        alert: kind,
        severity: feed.severity,
        scope: if feed.key.address.is_none() {
            Scope::Probe
        } else {
            Scope::Address
        },
        probe: probe.name.to_string(),
        target: probe.target.to_string(),
        address: feed.address.clone(),
        status: if resolved { "ok" } else { "failing" }.into(),
        phase,
        reason,
        code: failure.and_then(|f| f.code),
        message: t.cause.message.clone(),
        previous_reason: t.previous_cause.as_ref().map(|c| c.key.to_string()),
        since: rfc3339(t.since),
        at: rfc3339(now),
        transcript,
        agent: agent.to_string(),
        labels: probe.labels.clone(),
        vantage: probe.labels.get("vantage").cloned(),
    }
    .with_id()
}

pub(super) fn key(probe: &str, address: Option<&str>, kind: AlertKind) -> AlertKey {
    AlertKey {
        probe: probe.to_string(),
        address: address.map(str::to_string),
        kind,
    }
}

/// `phase/reason` and the message of a failed report.
pub(super) fn failure_cause(report: &ProbeReport) -> Cause {
    match &report.failure {
        Some(f) => Cause {
            key: CauseKey::Failure {
                phase: f.phase,
                reason: f.reason,
            },
            message: f.message.clone(),
        },
        None => Cause {
            key: CauseKey::UnknownFailure,
            message: "the probe failed".into(),
        },
    }
}

/// Whether the report's leaf certificate expires within `warn_cert`.
pub(super) fn cert_expiring(report: &ProbeReport, warn_cert: Duration) -> bool {
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
