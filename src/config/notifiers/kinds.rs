//! The notifier kinds and what their tables hold once validated, with the checks the
//! configuration and the senders share (template placeholders, ntfy topic URLs).

use std::collections::BTreeMap;

use crate::config::secret::Secret;

/// One notifier.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierConfig {
    /// Unique name (`notify = [...]`, the `notifier` metric label).
    pub name: String,
    /// What it is and where it sends.
    pub kind: NotifierKind,
}

/// The kinds of notifier.
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
    /// PagerDuty Events API v2.
    PagerDuty {
        /// The events endpoint (PagerDuty's by default).
        url: Secret,
        /// The integration (routing) key.
        routing_key: Secret,
    },
    /// Microsoft Teams Workflows webhook (Adaptive Card).
    Teams {
        /// The workflow's URL.
        url: Secret,
    },
    /// Discord webhook.
    Discord {
        /// The webhook URL.
        url: Secret,
    },
    /// ntfy topic.
    Ntfy {
        /// The topic URL (`https://ntfy.sh/TOPIC`).
        url: Secret,
        /// Access token (`Authorization: Bearer`).
        token: Option<Secret>,
    },
    /// Email through an SMTP relay.
    Email(EmailSettings),
    /// A webhook with a body template.
    Template {
        /// Where to POST.
        url: Secret,
        /// The body, `{{field}}` placeholders filled JSON-escaped.
        body: String,
        /// The `Content-Type` header.
        content_type: String,
        /// Extra request headers.
        headers: BTreeMap<String, String>,
    },
}

impl NotifierKind {
    /// The table name: `webhook`, `slack`, `alertmanager`, `pagerduty`, …
    pub fn as_str(&self) -> &'static str {
        match self {
            NotifierKind::Webhook { .. } => "webhook",
            NotifierKind::Slack { .. } => "slack",
            NotifierKind::Alertmanager { .. } => "alertmanager",
            NotifierKind::PagerDuty { .. } => "pagerduty",
            NotifierKind::Teams { .. } => "teams",
            NotifierKind::Discord { .. } => "discord",
            NotifierKind::Ntfy { .. } => "ntfy",
            NotifierKind::Template { .. } => "template",
            NotifierKind::Email(_) => "email",
        }
    }
}

/// How the email notifier reaches its relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTls {
    /// STARTTLS, required (the default): never continue in plaintext.
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// Plaintext: only for a relay on loopback.
    None,
}

/// An email notifier's relay, envelope and credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    /// The relay's host name or address (also the certificate's expected name).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// TLS to the relay.
    pub tls: EmailTls,
    /// The sender address.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// AUTH user.
    pub user: Option<String>,
    /// AUTH password; never printed.
    pub password: Option<Secret>,
    /// An extra CA (PEM) to trust for the relay, beside the system's.
    pub ca_pem: Option<Vec<u8>>,
}

/// PagerDuty's Events API v2 endpoint, a `pagerduty` notifier's default `url`.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

/// The fields a template may use.
pub const TEMPLATE_FIELDS: [&str; 19] = [
    "id",
    "alert_key",
    "event",
    "alert",
    "severity",
    "scope",
    "probe",
    "target",
    "address",
    "status",
    "phase",
    "reason",
    "code",
    "message",
    "since",
    "at",
    "agent",
    "title",
    "transcript",
];

/// One piece of a template, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplatePart<'a> {
    /// Text to copy as it is.
    Text(&'a str),
    /// A `{{name}}` placeholder (the name trimmed).
    Field(&'a str),
    /// The rest of a template after a `{{` that no `}}` closes.
    Unclosed(&'a str),
}

/// The template's text and placeholders: the one reading of the syntax, shared by the check
/// at load and the rendering.
pub fn template_parts(template: &str) -> Vec<TemplatePart<'_>> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        parts.push(TemplatePart::Text(&rest[..start]));
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            parts.push(TemplatePart::Unclosed(&rest[start..]));
            return parts;
        };
        parts.push(TemplatePart::Field(after[..end].trim()));
        rest = &after[end + 2..];
    }
    parts.push(TemplatePart::Text(rest));
    parts
}

/// A `{{...}}` that names no field (or is not closed), for the configuration's error.
pub fn check_template(template: &str) -> Result<(), String> {
    for part in template_parts(template) {
        match part {
            TemplatePart::Unclosed(_) => return Err("a `{{` is not closed by `}}`".into()),
            TemplatePart::Field(name) if !TEMPLATE_FIELDS.contains(&name) => {
                return Err(format!(
                    "unknown placeholder {{{{{name}}}}}; fields: {}",
                    TEMPLATE_FIELDS.join(", ")
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The server's root URL and the topic of a topic URL (`https://ntfy.sh/mytopic`).
pub fn ntfy_topic(url: &str) -> Option<(String, String)> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let topic = parsed
        .path_segments()?
        .rfind(|s| !s.is_empty())?
        .to_string();
    let mut root = parsed.clone();
    {
        let mut segments = root.path_segments_mut().ok()?;
        segments.pop_if_empty().pop().push("");
    }
    root.set_query(None);
    Some((root.to_string(), topic))
}
