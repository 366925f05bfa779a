//! Microsoft Teams through a Workflows ("When a Teams webhook request is received") webhook:
//! a message with one Adaptive Card (schema 1.4), coloured by severity.
//!
//! Adaptive Card text blocks render a Markdown subset, so all text is Markdown-escaped: a
//! server's banner cannot become a link or a mention. Workflows answer 202 (2xx: delivered).

use serde_json::{json, Value};

use super::notification::{clip, Notification, NotificationEvent, Severity};
use crate::escape;

/// The message for `n`.
pub fn payload(n: &Notification) -> Value {
    let colour = match (n.event, n.severity) {
        (NotificationEvent::Resolved, _) => "Good",
        (NotificationEvent::Test, _) | (_, Severity::Info) => "Accent",
        (_, Severity::Critical) => "Attention",
        (_, Severity::Warning) => "Warning",
    };
    let facts: Vec<Value> = n
        .facts()
        .iter()
        .map(|(k, v)| json!({"title": k, "value": clip(&escape::markdown(v), 500)}))
        .collect();
    let mut body = vec![
        json!({"type": "TextBlock", "text": clip(&escape::markdown(&n.title()), 300), "weight": "Bolder", "size": "Medium", "color": colour, "wrap": true}),
        json!({"type": "TextBlock", "text": clip(&escape::markdown(&n.message), 2000), "wrap": true}),
        json!({"type": "FactSet", "facts": facts}),
    ];
    if !n.transcript.is_empty() {
        let lines = escape::markdown(&n.transcript.join("\n"));
        body.push(json!({"type": "TextBlock", "text": clip(&lines, 2000), "fontType": "Monospace", "wrap": true, "isSubtle": true}));
    }
    body.push(json!({"type": "TextBlock", "text": format!("id {}", escape::markdown(&n.id)), "isSubtle": true, "size": "Small"}));
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    })
}
