//! What a notification says: one versioned structure that the webhook sends as is and the
//! Slack and Alertmanager notifiers translate.
//!
//! The webhook schema is public: fields are only ever added within a `version`; renaming or
//! removing one bumps it. README ("Alerting") documents every field.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// The webhook payload schema version.
pub const SCHEMA_VERSION: u32 = 1;

/// Which notification this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationEvent {
    /// The alert starts.
    Firing,
    /// Still failing (`repeat_interval` after the last notification).
    Reminder,
    /// The alert ends.
    Resolved,
    /// `smtpwatch alert test`: no action needed.
    Test,
}

impl NotificationEvent {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationEvent::Firing => "firing",
            NotificationEvent::Reminder => "reminder",
            NotificationEvent::Resolved => "resolved",
            NotificationEvent::Test => "test",
        }
    }
}

/// What the alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// The probe (or one of its addresses) fails.
    ProbeFailing,
    /// The leaf certificate expires within `warn_cert`.
    CertificateExpiring,
    /// An address that offered STARTTLS no longer does, or offers AUTH before TLS.
    CapabilityDrift,
    /// A test notification.
    Test,
}

impl AlertKind {
    /// The Alertmanager `alertname`.
    pub fn alertname(self) -> &'static str {
        match self {
            AlertKind::ProbeFailing => "SMTPProbeFailing",
            AlertKind::CertificateExpiring => "SMTPCertificateExpiring",
            AlertKind::CapabilityDrift => "SMTPCapabilityDrift",
            AlertKind::Test => "SMTPWatchTest",
        }
    }
}

/// Whether an alert is about the whole probe or one of its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// The probe as a whole (every address failing, or the name did not resolve).
    Probe,
    /// One address of the probe.
    Address,
}

/// How urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The service is down: every address fails.
    Critical,
    /// Degraded: one address of several fails, or a certificate expires soon.
    Warning,
    /// Informational (test notifications).
    Info,
}

impl Severity {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// One notification (the webhook body, schema [`SCHEMA_VERSION`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Schema version.
    pub version: u32,
    /// Stable identifier: the same notification delivered twice (a retry, a re-delivery after
    /// a restart) carries the same id, so receivers can drop the repeat.
    #[serde(default)]
    pub id: String,
    /// `firing`, `reminder`, `resolved` or `test`.
    pub event: NotificationEvent,
    /// `probe_failing`, `certificate_expiring` or `test`.
    pub alert: AlertKind,
    /// `critical`, `warning` or `info`.
    pub severity: Severity,
    /// `probe` (the probe as a whole) or `address` (one of its addresses).
    pub scope: Scope,
    /// The probe name.
    pub probe: String,
    /// The probe's target as configured.
    pub target: String,
    /// The address this alert is about; null for a probe-level alert over several addresses.
    pub address: Option<String>,
    /// `failing` or `ok`.
    pub status: String,
    /// The failing phase.
    pub phase: Option<String>,
    /// The failure reason (DESIGN.md's closed set) or `certificate_expiring`.
    pub reason: Option<String>,
    /// The SMTP reply code, when the server sent one.
    pub code: Option<u16>,
    /// Human-readable detail; server text escaped.
    pub message: String,
    /// On reminders: the reason last notified, when it has changed since.
    pub previous_reason: Option<String>,
    /// When the trouble began (RFC 3339).
    pub since: String,
    /// When this notification was made (RFC 3339).
    pub at: String,
    /// The last lines of the failing conversation (`S: …` / `C: …`), escaped.
    pub transcript: Vec<String>,
    /// The agent's host name.
    pub agent: String,
    /// The probe's user labels (with `vantage` when the agent has one).
    pub labels: BTreeMap<String, String>,
    /// Where the agent probes from (`[agent] vantage`); absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vantage: Option<String>,
}

impl Notification {
    /// Sets [`Notification::id`] from what identifies this notification: the agent, the
    /// alert (probe, address, kind), the event and when it was made.
    pub fn with_id(mut self) -> Notification {
        let identity = format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.agent,
            self.probe,
            self.address.as_deref().unwrap_or(""),
            self.alert.alertname(),
            self.event.as_str(),
            self.since,
            self.at
        );
        self.id = short_digest(&identity);
        self
    }

    /// What stays the same through an alert's firing, reminders and resolved: the agent, the
    /// probe, the address (of a per-address alert only: a probe-level alert keeps its identity
    /// when DNS changes the address), the kind and when the trouble began. PagerDuty's
    /// `dedup_key`.
    pub fn alert_key(&self) -> String {
        let address = match self.scope {
            Scope::Address => self.address.as_deref().unwrap_or(""),
            Scope::Probe => "",
        };
        let identity = format!(
            "{}\n{}\n{}\n{}\n{}",
            self.agent,
            self.probe,
            address,
            self.alert.alertname(),
            self.since
        );
        short_digest(&identity)
    }

    /// The facts chat messages show, in order: (name, value), values as escaped at entry.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let mut facts = vec![
            ("Probe", self.probe.clone()),
            ("Target", self.target.clone()),
            (
                "Address",
                self.address
                    .clone()
                    .unwrap_or_else(|| "all addresses".into()),
            ),
            ("Severity", self.severity.as_str().to_string()),
            ("Since", self.since.clone()),
            ("Agent", self.agent.clone()),
        ];
        if let Some(vantage) = &self.vantage {
            facts.push(("Vantage", vantage.clone()));
        }
        if let (Some(phase), Some(reason)) = (&self.phase, &self.reason) {
            facts.push(("Phase / reason", format!("{phase} / {reason}")));
        }
        if let Some(code) = self.code {
            facts.push(("SMTP code", code.to_string()));
        }
        if let Some(previous) = &self.previous_reason {
            facts.push(("Previously", previous.clone()));
        }
        facts
    }

    /// A one-line title: `[FIRING] mx1 (192.0.2.1:25): connect/connect_refused`.
    pub fn title(&self) -> String {
        let scope = match &self.address {
            Some(a) => format!("{} ({a})", self.probe),
            None => self.probe.clone(),
        };
        let what = match (&self.phase, &self.reason) {
            (Some(p), Some(r)) => format!("{p}/{r}"),
            (None, Some(r)) => r.clone(),
            _ => self.alert.alertname().to_string(),
        };
        format!(
            "[{}] {scope}: {what}",
            self.event.as_str().to_ascii_uppercase()
        )
    }
}

/// The first 16 bytes of SHA-256 of `identity`, in hex: the form of ids and alert keys.
fn short_digest(identity: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, identity.as_bytes());
    digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `text` cut to `limit` characters, an ellipsis marking the cut.
pub fn clip(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(limit.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// RFC 3339 with seconds.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
