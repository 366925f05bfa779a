//! The per-probe alert state machine: pure, with time as a parameter.
//!
//! `ok` → `failing` after `failure_threshold` consecutive bad results (default 3); while
//! failing, a `reminder` every `repeat_interval` (default 4 h); back to `ok` after
//! `success_threshold` consecutive good results (default 2), with a `resolved`. A single blip
//! never pages; a flapping server does not re-page while it is still firing. The same machine
//! serves reachability (cause: failing phase and reason) and certificate expiry (cause: the
//! expiry warning), each with its own state. Sending lives elsewhere; this only decides.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use crate::config::AlertingConfig;
use crate::report::{FailureReason, Phase};

/// When to fire, resolve and remind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Consecutive bad results before firing.
    pub failure: u32,
    /// Consecutive good results before resolving.
    pub success: u32,
    /// Time between reminders while firing.
    pub repeat_interval: Duration,
}

impl Thresholds {
    /// The `[alerting]` settings.
    pub fn of(config: &AlertingConfig) -> Thresholds {
        Thresholds {
            failure: config.failure_threshold,
            success: config.success_threshold,
            repeat_interval: config.repeat_interval,
        }
    }
}

impl Default for Thresholds {
    /// The documented defaults (`[alerting]` without keys).
    fn default() -> Self {
        Thresholds::of(&AlertingConfig::default())
    }
}

/// What is wrong, as far as alerting cares: a stable key and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// Identifies the kind of trouble; a change of key while firing is reported.
    pub key: CauseKey,
    /// Detail for people.
    pub message: String,
}

/// The kind of trouble an alert is about. Written as text in the state file and in
/// notifications' `previous_reason` (`connect/connect_refused`, `certificate_expiring`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CauseKey {
    /// A probe failed in `phase` for `reason`.
    Failure {
        /// Where.
        phase: Phase,
        /// Why.
        reason: FailureReason,
    },
    /// A probe failed without saying where (`unknown/unknown`).
    UnknownFailure,
    /// The leaf certificate expires within `warn_cert`.
    CertificateExpiring,
    /// An address that offered STARTTLS completed a session without it.
    StarttlsRemoved,
    /// AUTH is offered in plaintext before STARTTLS.
    AuthBeforeTls,
    /// No cause recorded (an empty key).
    Unspecified,
}

impl CauseKey {
    /// The `phase` a notification names: failures only.
    pub fn phase(self) -> Option<&'static str> {
        match self {
            CauseKey::Failure { phase, .. } => Some(phase.as_str()),
            CauseKey::UnknownFailure => Some("unknown"),
            _ => None,
        }
    }

    /// The `reason` a notification names.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            CauseKey::Failure { reason, .. } => Some(reason.as_str()),
            CauseKey::UnknownFailure => Some("unknown"),
            CauseKey::CertificateExpiring => Some("certificate_expiring"),
            CauseKey::StarttlsRemoved => Some("starttls_removed"),
            CauseKey::AuthBeforeTls => Some("auth_before_tls"),
            CauseKey::Unspecified => None,
        }
    }
}

impl fmt::Display for CauseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.phase(), self.reason()) {
            (Some(phase), Some(reason)) => write!(f, "{phase}/{reason}"),
            (_, reason) => f.write_str(reason.unwrap_or("")),
        }
    }
}

/// Text that is not a cause key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown alert cause {0:?}")]
pub struct UnknownCause(String);

impl FromStr for CauseKey {
    type Err = UnknownCause;

    fn from_str(text: &str) -> Result<Self, UnknownCause> {
        let unknown = || UnknownCause(text.to_string());
        let named = [
            CauseKey::UnknownFailure,
            CauseKey::CertificateExpiring,
            CauseKey::StarttlsRemoved,
            CauseKey::AuthBeforeTls,
            CauseKey::Unspecified,
        ];
        if let Some(key) = named.into_iter().find(|k| k.to_string() == text) {
            return Ok(key);
        }
        let (phase, reason) = text.split_once('/').ok_or_else(unknown)?;
        Ok(CauseKey::Failure {
            phase: Phase::deserialize(word(phase)).map_err(|_| unknown())?,
            reason: FailureReason::deserialize(word(reason)).map_err(|_| unknown())?,
        })
    }
}

/// `text` as a serde deserializer, to read enum variants by their serde names.
fn word(text: &str) -> serde::de::value::StrDeserializer<'_, serde::de::value::Error> {
    serde::de::IntoDeserializer::into_deserializer(text)
}

impl Serialize for CauseKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CauseKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What to tell the notifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The alert starts.
    Firing,
    /// Still failing, `repeat_interval` after the last notification.
    Reminder,
    /// The alert ends.
    Resolved,
}

/// A decision of [`AlertState::eval`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Which notification.
    pub event: Event,
    /// When the trouble began (the first bad result of the streak that fired).
    pub since: SystemTime,
    /// The current cause (for `resolved`, the last one seen while firing).
    pub cause: Cause,
    /// For reminders: the cause last notified, when it differs from the current one.
    pub previous_cause: Option<Cause>,
}

/// The state of one alert (one probe address, or a probe's certificate). Serialisable, so a
/// restart resumes it: a firing alert stays firing and its `resolved` is still sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertState {
    /// Whether the alert is firing.
    pub firing: bool,
    bad_streak: u32,
    good_streak: u32,
    streak_started: Option<SystemTime>,
    since: Option<SystemTime>,
    last_notified: Option<SystemTime>,
    notified_cause: Option<Cause>,
    current_cause: Option<Cause>,
}

impl AlertState {
    /// Whether the state carries no history (not firing, no streak): the same as new.
    pub fn is_idle(&self) -> bool {
        *self == AlertState::default()
    }

    /// Feeds one result (`Some(cause)` when bad) observed at `now`; returns what to send, if
    /// anything.
    pub fn eval(
        &mut self,
        result: Option<Cause>,
        now: SystemTime,
        t: &Thresholds,
    ) -> Option<Transition> {
        match result {
            Some(cause) => self.bad(cause, now, t),
            None => self.good(t),
        }
    }

    fn bad(&mut self, cause: Cause, now: SystemTime, t: &Thresholds) -> Option<Transition> {
        self.good_streak = 0;
        self.bad_streak = self.bad_streak.saturating_add(1);
        let streak_started = *self.streak_started.get_or_insert(now);
        self.current_cause = Some(cause.clone());
        if !self.firing {
            if self.bad_streak < t.failure.max(1) {
                return None;
            }
            self.firing = true;
            self.since = Some(streak_started);
            self.last_notified = Some(now);
            self.notified_cause = Some(cause.clone());
            return Some(Transition {
                event: Event::Firing,
                since: streak_started,
                cause,
                previous_cause: None,
            });
        }
        let last = self.last_notified.unwrap_or(now);
        if now.duration_since(last).unwrap_or_default() < t.repeat_interval {
            return None;
        }
        let previous = self
            .notified_cause
            .replace(cause.clone())
            .filter(|p| p.key != cause.key);
        self.last_notified = Some(now);
        let since = self.since.unwrap_or(streak_started);
        Some(Transition {
            event: Event::Reminder,
            since,
            cause,
            previous_cause: previous,
        })
    }

    fn good(&mut self, t: &Thresholds) -> Option<Transition> {
        self.bad_streak = 0;
        self.streak_started = None;
        if !self.firing {
            self.good_streak = 0;
            return None;
        }
        self.good_streak = self.good_streak.saturating_add(1);
        if self.good_streak < t.success.max(1) {
            return None;
        }
        let transition = Transition {
            event: Event::Resolved,
            since: self.since.unwrap_or(SystemTime::UNIX_EPOCH),
            cause: self.current_cause.clone().unwrap_or(Cause {
                key: CauseKey::Unspecified,
                message: String::new(),
            }),
            previous_cause: None,
        };
        *self = AlertState::default();
        Some(transition)
    }
}

#[cfg(test)]
mod tests;
