//! The `[alerting]` section: thresholds, delivery settings and the notifiers.
//!
//! Secrets are resolved here (from `url`, `url_file` or `url_env`; `secret_file` or
//! `secret_env`), so a missing credential is a configuration error at load time rather than
//! a silent delivery failure hours later. Error messages name the key and the file or
//! variable, never the value.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::secret::{self, Secret};
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

/// One notifier.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierConfig {
    /// Unique name (`notify = [...]`, the `notifier` metric label).
    pub name: String,
    /// What it is and where it sends.
    pub kind: NotifierKind,
}

/// The three kinds of notifier.
#[derive(Debug, Clone, PartialEq)]
pub enum NotifierKind {
    /// Generic JSON webhook.
    Webhook {
        /// Where to POST.
        url: Secret,
        /// HMAC-SHA256 key for the signature header.
        secret: Option<Secret>,
        /// Extra request headers.
        headers: BTreeMap<String, String>,
    },
    /// Slack incoming webhook.
    Slack {
        /// The incoming-webhook URL.
        url: Secret,
    },
    /// Alertmanager (every URL of an HA cluster gets every alert).
    Alertmanager {
        /// Base URLs (`/api/v2/alerts` is appended unless present).
        urls: Vec<Secret>,
    },
}

impl NotifierKind {
    /// `webhook`, `slack` or `alertmanager`.
    pub fn as_str(&self) -> &'static str {
        match self {
            NotifierKind::Webhook { .. } => "webhook",
            NotifierKind::Slack { .. } => "slack",
            NotifierKind::Alertmanager { .. } => "alertmanager",
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
}

/// Every notifier table has the same shape; keys that a kind does not use are rejected below.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotifier {
    name: Spanned<String>,
    url: Option<Spanned<String>>,
    urls: Option<Spanned<Vec<String>>>,
    url_file: Option<Spanned<PathBuf>>,
    url_env: Option<Spanned<String>>,
    secret_file: Option<Spanned<PathBuf>>,
    secret_env: Option<Spanned<String>>,
    headers: Option<Spanned<BTreeMap<String, String>>>,
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
    let kinds = [
        ("webhook", raw.webhook),
        ("slack", raw.slack),
        ("alertmanager", raw.alertmanager),
    ];
    for (kind, tables) in kinds {
        for table in tables {
            let notifier = notifier(kind, table, src)?;
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

fn notifier(kind: &str, raw: RawNotifier, src: &Source<'_>) -> Result<NotifierConfig, ConfigError> {
    let name = raw.name.get_ref().clone();
    let ctx = format!("alerting.{kind} {name:?}");
    if !super::values::is_simple_name(&name) {
        return Err(src.at(
            raw.name.span(),
            format!("{ctx}: name: use letters, digits, '-', '_' and '.'"),
        ));
    }
    let unused = |present: bool, key: &str, span: Range<usize>| {
        if present {
            Err(src.at(
                span,
                format!("{ctx}: key `{key}` is not used by a {kind} notifier"),
            ))
        } else {
            Ok(())
        }
    };
    let whole = raw.name.span();
    let webhook_only_keys = || {
        let span = raw.secret_file.as_ref().map_or(whole.clone(), |s| s.span());
        unused(
            raw.secret_file.is_some() || raw.secret_env.is_some(),
            "secret_*",
            span,
        )?;
        let span = raw.headers.as_ref().map_or(whole.clone(), |s| s.span());
        unused(raw.headers.is_some(), "headers", span)
    };
    let kind = match kind {
        "alertmanager" => {
            webhook_only_keys()?;
            if let Some(urls) = &raw.urls {
                unused(raw.url.is_some(), "url (with urls)", urls.span())?;
            }
            NotifierKind::Alertmanager {
                urls: alertmanager_urls(&raw, &ctx, src)?,
            }
        }
        _ => {
            let span = raw.urls.as_ref().map_or(whole.clone(), |s| s.span());
            unused(raw.urls.is_some(), "urls", span)?;
            let url = checked_url(url_source(&raw, &ctx, src)?, &ctx, &raw, src)?;
            if kind == "slack" {
                webhook_only_keys()?;
                NotifierKind::Slack { url }
            } else {
                let secret = webhook_secret(&raw, &ctx, src)?;
                let headers = webhook_headers(raw.headers, &ctx, src)?;
                NotifierKind::Webhook {
                    url,
                    secret,
                    headers,
                }
            }
        }
    };
    Ok(NotifierConfig { name, kind })
}

/// An Alertmanager notifier's URLs: `urls`, or one of the `url` keys holding several
/// (separated by spaces, commas or newlines), each checked.
fn alertmanager_urls(
    raw: &RawNotifier,
    ctx: &str,
    src: &Source<'_>,
) -> Result<Vec<Secret>, ConfigError> {
    let text = match &raw.urls {
        Some(urls) => Secret::new(urls.get_ref().join(" ")),
        None => url_source(raw, ctx, src)?,
    };
    let mut urls = Vec::new();
    for one in text
        .expose()
        .split([' ', ',', '\n', '\t'])
        .filter(|u| !u.is_empty())
    {
        urls.push(checked_url(Secret::new(one), ctx, raw, src)?);
    }
    if urls.is_empty() {
        return Err(src.at(raw.name.span(), format!("{ctx}: `urls` lists no URL")));
    }
    Ok(urls)
}

/// A webhook's signing secret, from at most one of `secret_file` and `secret_env`.
fn webhook_secret(
    raw: &RawNotifier,
    ctx: &str,
    src: &Source<'_>,
) -> Result<Option<Secret>, ConfigError> {
    let keys = ["secret_file", "secret_env"];
    super::mail_flow::one_secret(&raw.secret_file, &raw.secret_env, keys, ctx, src)
}

/// A webhook's extra headers, each a valid HTTP header name and value.
fn webhook_headers(
    headers: Option<Spanned<BTreeMap<String, String>>>,
    ctx: &str,
    src: &Source<'_>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let Some(headers) = headers else {
        return Ok(BTreeMap::new());
    };
    let span = headers.span();
    let headers = headers.into_inner();
    for (key, value) in &headers {
        let bad_name = reqwest::header::HeaderName::from_bytes(key.as_bytes()).is_err();
        let bad_value = reqwest::header::HeaderValue::from_str(value).is_err();
        if bad_name || bad_value {
            return Err(src.at(
                span,
                format!("{ctx}: headers: {key:?} is not a valid HTTP header"),
            ));
        }
    }
    Ok(headers)
}

/// The URL from exactly one of `url`, `url_file`, `url_env`.
fn url_source(raw: &RawNotifier, ctx: &str, src: &Source<'_>) -> Result<Secret, ConfigError> {
    let given = [
        raw.url.as_ref().map(|u| u.span()),
        raw.url_file.as_ref().map(|u| u.span()),
        raw.url_env.as_ref().map(|u| u.span()),
    ];
    let spans: Vec<_> = given.into_iter().flatten().collect();
    if spans.len() != 1 {
        let span = spans.get(1).cloned().unwrap_or(raw.name.span());
        return Err(src.at(
            span,
            format!("{ctx}: give exactly one of url, url_file or url_env"),
        ));
    }
    if let Some(url) = &raw.url {
        return Ok(Secret::new(url.get_ref().trim()));
    }
    if let Some(file) = &raw.url_file {
        return secret::read_secret_file(file.get_ref())
            .map_err(|e| src.at(file.span(), format!("{ctx}: url_file: {e}")));
    }
    match &raw.url_env {
        Some(env) => secret::read_secret_env(env.get_ref())
            .map_err(|e| src.at(env.span(), format!("{ctx}: url_env: {e}"))),
        None => Err(src.at(raw.name.span(), format!("{ctx}: no URL"))),
    }
}

/// An http(s) URL with a host. The message never contains the URL itself.
fn checked_url(
    url: Secret,
    ctx: &str,
    raw: &RawNotifier,
    src: &Source<'_>,
) -> Result<Secret, ConfigError> {
    let ok = reqwest::Url::parse(url.expose())
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
    if ok {
        return Ok(url);
    }
    let span = [
        raw.url.as_ref().map(|u| u.span()),
        raw.urls.as_ref().map(|u| u.span()),
        raw.url_file.as_ref().map(|u| u.span()),
        raw.url_env.as_ref().map(|u| u.span()),
    ]
    .into_iter()
    .flatten()
    .next()
    .unwrap_or(raw.name.span());
    Err(src.at(
        span,
        format!("{ctx}: the URL is not an http:// or https:// URL with a host (value not shown)"),
    ))
}
