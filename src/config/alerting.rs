//! The `[alerting]` section: thresholds, delivery settings and the notifiers.
//!
//! Secrets are resolved here (from `url`, `url_file` or `url_env`; `secret_file` or
//! `secret_env`), so a missing credential is a configuration error at load time rather than
//! a silent delivery failure hours later. Error messages name the key and the file or
//! variable, never the value.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::notifiers::RawNotifier;
pub use super::notifiers::{NotifierConfig, NotifierKind};
use super::source::{ConfigError, Source};

/// Delivery settings and notifiers.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertingConfig {
    /// Consecutive failed rounds before an alert fires.
    pub failure_threshold: u32,
    /// Consecutive good rounds before a firing alert resolves.
    pub success_threshold: u32,
    /// Time between reminders while an alert fires.
    pub repeat_interval: Duration,
    /// How often firing alerts are re-sent to Alertmanager.
    pub resend_interval: Duration,
    /// Per-request deadline.
    pub timeout: Duration,
    /// Notifications waiting per notifier before the oldest reminders are dropped.
    pub queue_size: usize,
    /// First retry delay; doubles per attempt up to `retry_backoff_max`.
    pub retry_backoff: Duration,
    /// Longest retry delay.
    pub retry_backoff_max: Duration,
    /// Attempts per notification before giving up.
    pub retry_attempts: u32,
    /// The notifiers, in file order.
    pub notifiers: Vec<NotifierConfig>,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            failure_threshold: 3,
            success_threshold: 2,
            repeat_interval: Duration::from_secs(4 * 3600),
            resend_interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            queue_size: 256,
            retry_backoff: Duration::from_secs(1),
            retry_backoff_max: Duration::from_secs(300),
            retry_attempts: 12,
            notifiers: Vec::new(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerting {
    failure_threshold: Option<Spanned<i64>>,
    success_threshold: Option<Spanned<i64>>,
    repeat_interval: Option<Spanned<String>>,
    resend_interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    queue_size: Option<Spanned<i64>>,
    retry_backoff: Option<Spanned<String>>,
    retry_backoff_max: Option<Spanned<String>>,
    retry_attempts: Option<Spanned<i64>>,
    #[serde(default)]
    webhook: Vec<RawNotifier>,
    #[serde(default)]
    slack: Vec<RawNotifier>,
    #[serde(default)]
    alertmanager: Vec<RawNotifier>,
    #[serde(default)]
    pagerduty: Vec<RawNotifier>,
    #[serde(default)]
    teams: Vec<RawNotifier>,
    #[serde(default)]
    discord: Vec<RawNotifier>,
    #[serde(default)]
    ntfy: Vec<RawNotifier>,
    #[serde(default)]
    template: Vec<RawNotifier>,
    #[serde(default)]
    email: Vec<RawNotifier>,
}

pub(super) fn parse(raw: RawAlerting, src: &Source<'_>) -> Result<AlertingConfig, ConfigError> {
    let d = AlertingConfig::default();
    let count_u32 = |value, what, default: u32| {
        src.count(value, what, 1, default as usize)
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
    };
    let mut config = AlertingConfig {
        failure_threshold: count_u32(
            &raw.failure_threshold,
            "alerting.failure_threshold",
            d.failure_threshold,
        )?,
        success_threshold: count_u32(
            &raw.success_threshold,
            "alerting.success_threshold",
            d.success_threshold,
        )?,
        repeat_interval: src.duration(
            &raw.repeat_interval,
            "alerting.repeat_interval",
            d.repeat_interval,
        )?,
        resend_interval: src.duration(
            &raw.resend_interval,
            "alerting.resend_interval",
            d.resend_interval,
        )?,
        timeout: src.duration(&raw.timeout, "alerting.timeout", d.timeout)?,
        queue_size: src.count(&raw.queue_size, "alerting.queue_size", 1, d.queue_size)?,
        retry_backoff: src.duration(
            &raw.retry_backoff,
            "alerting.retry_backoff",
            d.retry_backoff,
        )?,
        retry_backoff_max: src.duration(
            &raw.retry_backoff_max,
            "alerting.retry_backoff_max",
            d.retry_backoff_max,
        )?,
        retry_attempts: count_u32(
            &raw.retry_attempts,
            "alerting.retry_attempts",
            d.retry_attempts,
        )?,
        notifiers: Vec::new(),
    };
    let tables = [
        raw.webhook,
        raw.slack,
        raw.alertmanager,
        raw.pagerduty,
        raw.teams,
        raw.discord,
        raw.ntfy,
        raw.template,
        raw.email,
    ];
    let kinds = super::notifiers::KINDS.into_iter().zip(tables);
    for (kind, tables) in kinds {
        for table in tables {
            let notifier = super::notifiers::notifier(kind, table, src)?;
            if let Some(dup) = config.notifiers.iter().find(|n| n.name == notifier.name) {
                return Err(src.at(
                    0..0,
                    format!(
                        "alerting: notifier name {:?} is used twice (a {} and a {}); names must be unique",
                        dup.name,
                        dup.kind.as_str(),
                        notifier.kind.as_str()
                    ),
                ));
            }
            config.notifiers.push(notifier);
        }
    }
    Ok(config)
}
