//! The notifier tables under `[alerting]`: `webhook`, `slack`, `alertmanager`, `pagerduty`,
//! `teams`, `discord`, `ntfy` and `template`.
//!
//! Every table has the same shape; a key a kind does not use is an error at its line, so a
//! `secret_file` put under a Slack notifier is not silently ignored. Secrets (URLs, routing
//! keys, tokens) are resolved here from `*_file` or `*_env` (URLs may also be inline), and no
//! message ever shows one.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

mod email;
mod kinds;

pub use self::kinds::{
    check_template, ntfy_topic, template_parts, EmailSettings, EmailTls, NotifierConfig,
    NotifierKind, TemplatePart, PAGERDUTY_EVENTS_URL, TEMPLATE_FIELDS,
};
use crate::config::mail_flow::one_secret;
use crate::config::secret::{self, Secret};
use crate::config::source::{ConfigError, Source};

/// The notifier kinds, as their tables are named.
pub(super) const KINDS: [&str; 9] = [
    "webhook",
    "slack",
    "alertmanager",
    "pagerduty",
    "teams",
    "discord",
    "ntfy",
    "template",
    "email",
];

/// One notifier table.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotifier {
    name: Spanned<String>,
    url: Option<Spanned<String>>,
    urls: Option<Spanned<Vec<String>>>,
    url_file: Option<Spanned<PathBuf>>,
    url_env: Option<Spanned<String>>,
    secret_file: Option<Spanned<PathBuf>>,
    secret_env: Option<Spanned<String>>,
    headers: Option<Spanned<BTreeMap<String, String>>>,
    routing_key_file: Option<Spanned<PathBuf>>,
    routing_key_env: Option<Spanned<String>>,
    token_file: Option<Spanned<PathBuf>>,
    token_env: Option<Spanned<String>>,
    body: Option<Spanned<String>>,
    content_type: Option<Spanned<String>>,
    relay: Option<Spanned<String>>,
    tls: Option<Spanned<String>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<Vec<String>>>,
    user: Option<Spanned<String>>,
    password_file: Option<Spanned<PathBuf>>,
    password_env: Option<Spanned<String>>,
    ca_file: Option<Spanned<PathBuf>>,
}

impl RawNotifier {
    /// The optional keys present in the table, with where they are.
    fn present(&self) -> Vec<(&'static str, Range<usize>)> {
        let span = |o: Option<Range<usize>>, key| o.map(|s| (key, s));
        [
            span(self.urls.as_ref().map(Spanned::span), "urls"),
            span(self.secret_file.as_ref().map(Spanned::span), "secret_file"),
            span(self.secret_env.as_ref().map(Spanned::span), "secret_env"),
            span(self.headers.as_ref().map(Spanned::span), "headers"),
            span(
                self.routing_key_file.as_ref().map(Spanned::span),
                "routing_key_file",
            ),
            span(
                self.routing_key_env.as_ref().map(Spanned::span),
                "routing_key_env",
            ),
            span(self.token_file.as_ref().map(Spanned::span), "token_file"),
            span(self.token_env.as_ref().map(Spanned::span), "token_env"),
            span(self.body.as_ref().map(Spanned::span), "body"),
            span(
                self.content_type.as_ref().map(Spanned::span),
                "content_type",
            ),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    fn has_url(&self) -> bool {
        self.url.is_some() || self.url_file.is_some() || self.url_env.is_some()
    }
}

/// The optional keys each kind takes (besides `name` and the `url` keys).
fn allowed(kind: &str) -> &'static [&'static str] {
    match kind {
        "webhook" => &["secret_file", "secret_env", "headers"],
        "alertmanager" => &["urls"],
        "pagerduty" => &["routing_key_file", "routing_key_env"],
        "ntfy" => &["token_file", "token_env"],
        "template" => &["headers", "body", "content_type"],
        "email" => &[
            "relay",
            "tls",
            "from",
            "to",
            "user",
            "password_file",
            "password_env",
            "ca_file",
        ],
        _ => &[],
    }
}

/// Validates one table of kind `kind`.
pub(super) fn notifier(
    kind: &str,
    raw: RawNotifier,
    src: &Source<'_>,
) -> Result<NotifierConfig, ConfigError> {
    let name = raw.name.get_ref().clone();
    let ctx = format!("alerting.{kind} {name:?}");
    if !crate::config::values::is_simple_name(&name) {
        return Err(src.at(
            raw.name.span(),
            format!("{ctx}: name: use letters, digits, '-', '_' and '.'"),
        ));
    }
    if let Some((key, span)) = raw
        .present()
        .into_iter()
        .find(|(key, _)| !allowed(kind).contains(key))
    {
        return Err(src.at(
            span,
            format!("{ctx}: key `{key}` is not used by a {kind} notifier"),
        ));
    }
    let url = |raw: &RawNotifier| checked_url(url_source(raw, &ctx, src)?, &ctx, raw, src);
    let kind = match kind {
        "alertmanager" => {
            if let (Some(urls), true) = (&raw.urls, raw.has_url()) {
                return Err(src.at(
                    urls.span(),
                    format!("{ctx}: give urls or a url key, not both"),
                ));
            }
            NotifierKind::Alertmanager {
                urls: alertmanager_urls(&raw, &ctx, src)?,
            }
        }
        "slack" => NotifierKind::Slack { url: url(&raw)? },
        "teams" => NotifierKind::Teams { url: url(&raw)? },
        "discord" => NotifierKind::Discord { url: url(&raw)? },
        "pagerduty" => {
            let url = if raw.has_url() {
                url(&raw)?
            } else {
                Secret::new(PAGERDUTY_EVENTS_URL)
            };
            let keys = ["routing_key_file", "routing_key_env"];
            let routing_key =
                one_secret(&raw.routing_key_file, &raw.routing_key_env, keys, &ctx, src)?
                    .ok_or_else(|| {
                        src.at(
                            raw.name.span(),
                            format!(
                        "{ctx}: needs routing_key_file or routing_key_env (the integration key)"
                    ),
                        )
                    })?;
            NotifierKind::PagerDuty { url, routing_key }
        }
        "ntfy" => {
            let url = url(&raw)?;
            if ntfy_topic(url.expose()).is_none() {
                let span = raw.url.as_ref().map_or(raw.name.span(), Spanned::span);
                return Err(src.at(
                    span,
                    format!(
                        "{ctx}: the URL must name a topic: https://ntfy.sh/TOPIC (value not shown)"
                    ),
                ));
            }
            let keys = ["token_file", "token_env"];
            let token = one_secret(&raw.token_file, &raw.token_env, keys, &ctx, src)?;
            NotifierKind::Ntfy { url, token }
        }
        "email" => {
            if let Some(u) = &raw.url {
                return Err(src.at(
                    u.span(),
                    format!("{ctx}: an email notifier takes relay, not url"),
                ));
            }
            NotifierKind::Email(email::settings(&raw, &ctx, src)?)
        }
        "template" => {
            let url = url(&raw)?;
            let body = raw
                .body
                .as_ref()
                .ok_or_else(|| src.at(raw.name.span(), format!("{ctx}: needs a body template")))?;
            check_template(body.get_ref())
                .map_err(|e| src.at(body.span(), format!("{ctx}: body: {e}")))?;
            let content_type = match &raw.content_type {
                None => "application/json".to_string(),
                Some(c) => {
                    reqwest::header::HeaderValue::from_str(c.get_ref()).map_err(|_| {
                        src.at(
                            c.span(),
                            format!("{ctx}: content_type is not a header value"),
                        )
                    })?;
                    c.get_ref().clone()
                }
            };
            NotifierKind::Template {
                url,
                body: body.get_ref().clone(),
                content_type,
                headers: headers(raw.headers, &ctx, src)?,
            }
        }
        _ => {
            let keys = ["secret_file", "secret_env"];
            let secret = one_secret(&raw.secret_file, &raw.secret_env, keys, &ctx, src)?;
            NotifierKind::Webhook {
                url: url(&raw)?,
                secret,
                headers: headers(raw.headers, &ctx, src)?,
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

/// Extra headers, each a valid HTTP header name and value.
fn headers(
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
