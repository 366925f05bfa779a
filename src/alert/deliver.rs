//! One delivery attempt: the notification rendered for its receiver (webhook JSON with
//! signature, Slack Block Kit, Alertmanager alerts, a PagerDuty event, a Teams Adaptive Card,
//! a Discord embed, an ntfy message, a filled-in template), POSTed, and the answer classified.
//!
//! - 2xx (Slack: 200 with body `ok`): delivered.
//! - Network errors, 5xx and 408: worth retrying; 429: retry after `Retry-After` (seconds or
//!   an HTTP date, at most an hour).
//! - Other 4xx: refused, with the response body (escaped, truncated) for the log.
//! - URLs are secrets: errors are formatted without them (`reqwest::Error::without_url`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::notification::{Notification, NotificationEvent};
use super::{alertmanager, discord, email, ntfy, pagerduty, slack, teams, template, webhook};
use crate::config::secret::Secret;
use crate::config::{AlertingConfig, NotifierConfig, NotifierKind};

/// Longest wait a `Retry-After` can impose.
const RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);
/// Response body bytes kept for logs.
const BODY_EXCERPT: usize = 512;

/// Timing of deliveries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub(crate) timeout: Duration,
    pub(crate) backoff: Duration,
    pub(crate) backoff_max: Duration,
    pub(crate) attempts: u32,
    pub(crate) queue_size: usize,
    pub(crate) resend_interval: Duration,
}

impl Policy {
    /// From the `[alerting]` settings.
    pub fn from_config(c: &AlertingConfig) -> Policy {
        Policy {
            timeout: c.timeout,
            backoff: c.retry_backoff,
            backoff_max: c.retry_backoff_max,
            attempts: c.retry_attempts.max(1),
            queue_size: c.queue_size.max(1),
            resend_interval: c.resend_interval,
        }
    }
}

/// Something to deliver.
#[derive(Debug, Clone)]
pub enum Item {
    /// One notification.
    One(Arc<Notification>),
    /// Every firing alert, re-sent to Alertmanager.
    Resend(Arc<Vec<Notification>>),
}

impl Item {
    pub(crate) fn is_resolved(&self) -> bool {
        matches!(self, Item::One(n) if n.event == NotificationEvent::Resolved)
    }
    pub(crate) fn is_reminder(&self) -> bool {
        matches!(self, Item::One(n) if n.event == NotificationEvent::Reminder)
    }
}

/// Where one endpoint sends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Destination {
    Webhook {
        url: Secret,
        secret: Option<Secret>,
        headers: Vec<(String, String)>,
    },
    Slack {
        url: Secret,
    },
    Alertmanager {
        url: Secret,
    },
    PagerDuty {
        url: Secret,
        routing_key: Secret,
    },
    Teams {
        url: Secret,
    },
    Discord {
        url: Secret,
    },
    Ntfy {
        /// The server's root (the topic goes in the body).
        url: Secret,
        topic: String,
        token: Option<Secret>,
    },
    Template {
        url: Secret,
        body: String,
        content_type: String,
        headers: Vec<(String, String)>,
    },
    Email {
        /// `smtp://host:port`, naming the endpoint (no secret in it).
        url: Secret,
        settings: Box<crate::config::notifiers::EmailSettings>,
    },
}

impl Destination {
    fn url(&self) -> &Secret {
        match self {
            Destination::Webhook { url, .. }
            | Destination::Slack { url }
            | Destination::Alertmanager { url }
            | Destination::PagerDuty { url, .. }
            | Destination::Teams { url }
            | Destination::Discord { url }
            | Destination::Ntfy { url, .. }
            | Destination::Template { url, .. }
            | Destination::Email { url, .. } => url,
        }
    }
}

/// One receiver of one notifier (an Alertmanager notifier has one per URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The notifier's name.
    pub notifier: String,
    destination: Destination,
}

impl Endpoint {
    /// What names this endpoint in the outbox across restarts: the notifier and a hash of
    /// its URL (the URL itself is a secret and never written to the state file).
    pub fn key(&self) -> String {
        let url = self.destination.url().expose();
        let digest = ring::digest::digest(&ring::digest::SHA256, url.as_bytes());
        let short: String = digest.as_ref()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}:{short}", self.notifier)
    }

    /// The endpoints of a notifier.
    pub fn of(n: &NotifierConfig) -> Vec<Endpoint> {
        let one = |destination| Endpoint {
            notifier: n.name.clone(),
            destination,
        };
        match &n.kind {
            NotifierKind::Webhook {
                url,
                secret,
                headers,
            } => vec![one(Destination::Webhook {
                url: url.clone(),
                secret: secret.clone(),
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            })],
            NotifierKind::Slack { url } => vec![one(Destination::Slack { url: url.clone() })],
            NotifierKind::Alertmanager { urls } => urls
                .iter()
                .map(|u| {
                    let url = Secret::new(alertmanager::endpoint(u.expose()));
                    one(Destination::Alertmanager { url })
                })
                .collect(),
            NotifierKind::PagerDuty { url, routing_key } => vec![one(Destination::PagerDuty {
                url: url.clone(),
                routing_key: routing_key.clone(),
            })],
            NotifierKind::Teams { url } => vec![one(Destination::Teams { url: url.clone() })],
            NotifierKind::Discord { url } => vec![one(Destination::Discord { url: url.clone() })],
            NotifierKind::Ntfy { url, token } => {
                // The configuration checked that the URL names a topic.
                let (root, topic) = ntfy::split_topic_url(url.expose()).unwrap_or_default();
                vec![one(Destination::Ntfy {
                    url: Secret::new(root),
                    topic,
                    token: token.clone(),
                })]
            }
            NotifierKind::Email(settings) => vec![one(Destination::Email {
                url: Secret::new(format!("smtp://{}:{}", settings.host, settings.port)),
                settings: Box::new(settings.clone()),
            })],
            NotifierKind::Template {
                url,
                body,
                content_type,
                headers,
            } => vec![one(Destination::Template {
                url: url.clone(),
                body: body.clone(),
                content_type: content_type.clone(),
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            })],
        }
    }

    /// Whether this endpoint takes Alertmanager re-sends.
    pub fn is_alertmanager(&self) -> bool {
        matches!(self.destination, Destination::Alertmanager { .. })
    }

    /// Where it sends, redacted.
    pub fn redacted_url(&self) -> String {
        self.destination.url().redacted()
    }
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq)]
pub enum Attempt {
    /// The receiver accepted it.
    Delivered,
    /// Worth trying again (after the given delay, when the receiver said so).
    Retry(Option<Duration>, String),
    /// Refused for good.
    Refused(String),
}

/// One attempt to deliver `item` to `endpoint`.
pub async fn deliver(
    client: &reqwest::Client,
    endpoint: &Endpoint,
    item: &Item,
    policy: &Policy,
) -> Attempt {
    if let Destination::Email { settings, .. } = &endpoint.destination {
        return match item {
            Item::One(n) => match email::send(settings, n, policy.timeout).await {
                Ok(()) => Attempt::Delivered,
                Err(email::Undelivered::Refused(why)) => Attempt::Refused(why),
                Err(email::Undelivered::Retry(why)) => Attempt::Retry(None, why),
            },
            Item::Resend(_) => Attempt::Delivered,
        };
    }
    let Some(request) = request(&endpoint.destination, item, policy) else {
        // Only Alertmanager takes the periodic re-sends.
        return Attempt::Delivered;
    };
    let mut builder = client
        .post(request.url.expose())
        .timeout(policy.timeout)
        .header("content-type", request.content_type)
        .body(request.body);
    for (k, v) in request.headers {
        builder = builder.header(k, v);
    }
    let response = match builder.send().await {
        Ok(r) => r,
        Err(e) => return Attempt::Retry(None, e.without_url().to_string()),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let text = read_bounded(response).await;
    let accepted = match endpoint.destination {
        Destination::Slack { .. } => slack::accepted(status, &text),
        _ => (200..300).contains(&status),
    };
    let why = format!("HTTP {status}: {}", crate::escape::escape_str(&text));
    match status {
        _ if accepted => Attempt::Delivered,
        429 => Attempt::Retry(retry_after, why),
        408 | 500..=599 => Attempt::Retry(None, why),
        _ => Attempt::Refused(why),
    }
}

/// One HTTP request to make.
struct Request<'a> {
    url: &'a Secret,
    body: Vec<u8>,
    content_type: String,
    headers: Vec<(String, String)>,
}

/// The request that delivers `item` to `destination` (None: this destination takes no such
/// item).
fn request<'a>(destination: &'a Destination, item: &Item, policy: &Policy) -> Option<Request<'a>> {
    let json = |url, value: serde_json::Value| Request {
        url,
        body: value.to_string().into_bytes(),
        content_type: "application/json".into(),
        headers: Vec::new(),
    };
    let n = match (destination, item) {
        (Destination::Alertmanager { url }, item) => {
            let list: Vec<Notification> = match item {
                Item::One(n) => vec![n.as_ref().clone()],
                Item::Resend(all) => all.as_ref().clone(),
            };
            let body = alertmanager::body(&list, SystemTime::now(), policy.resend_interval);
            return Some(json(url, body));
        }
        (_, Item::Resend(_)) => return None,
        (_, Item::One(n)) => n,
    };
    Some(match destination {
        Destination::Webhook {
            url,
            secret,
            headers,
        } => {
            let body = webhook::body(n);
            let mut headers = headers.clone();
            if let Some(key) = secret {
                let signature = webhook::signature(key.expose().as_bytes(), &body);
                headers.push((webhook::SIGNATURE_HEADER.into(), signature));
            }
            Request {
                url,
                body,
                content_type: "application/json".into(),
                headers,
            }
        }
        Destination::Slack { url } => json(url, slack::payload(n)),
        Destination::PagerDuty { url, routing_key } => {
            json(url, pagerduty::payload(n, routing_key.expose()))
        }
        Destination::Teams { url } => json(url, teams::payload(n)),
        Destination::Discord { url } => json(url, discord::payload(n)),
        Destination::Ntfy { url, topic, token } => {
            let mut request = json(url, ntfy::payload(n, topic));
            if let Some(token) = token {
                let bearer = format!("Bearer {}", token.expose());
                request.headers.push(("authorization".into(), bearer));
            }
            request
        }
        Destination::Template {
            url,
            body,
            content_type,
            headers,
        } => Request {
            url,
            body: template::render(body, n).into_bytes(),
            content_type: content_type.clone(),
            headers: headers.clone(),
        },
        Destination::Alertmanager { .. } | Destination::Email { .. } => return None,
    })
}

/// At most [`BODY_EXCERPT`] bytes of the body, as text.
async fn read_bounded(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < BODY_EXCERPT {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(BODY_EXCERPT);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `Retry-After`: delta-seconds or an HTTP date; capped at an hour.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(SystemTime::now()).unwrap_or_default()
        }
    };
    Some(wait.min(RETRY_AFTER_CAP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_or_a_date_and_is_capped() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("999999"), Some(RETRY_AFTER_CAP));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let wait = parse_retry_after(&soon).expect("a date");
        assert!(wait > Duration::from_secs(110) && wait <= Duration::from_secs(120));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
