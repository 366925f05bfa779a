//! Discord webhooks: one embed coloured by severity, mentions disabled.
//!
//! `allowed_mentions: {parse: []}` makes Discord ignore `@everyone` and role mentions whatever
//! the text says, and all text is Markdown-escaped, so a server's banner can neither ping a
//! channel nor become a link. Discord answers 204 (2xx: delivered) and 429 with Retry-After.

use serde_json::{json, Value};

use super::notification::{clip, Notification, NotificationEvent, Severity};
use crate::escape;

/// The message for `n`.
pub fn payload(n: &Notification) -> Value {
    let colour = match (n.event, n.severity) {
        (NotificationEvent::Resolved, _) => 0x2e_b6_7d,
        (NotificationEvent::Test, _) | (_, Severity::Info) => 0x43_9f_e0,
        (_, Severity::Critical) => 0xe0_1e_5a,
        (_, Severity::Warning) => 0xec_b2_2e,
    };
    let fields: Vec<Value> = n
        .facts()
        .iter()
        .map(|(k, v)| json!({"name": k, "value": clip(&escape::markdown(v), 1000), "inline": true}))
        .collect();
    let mut description = escape::markdown(&n.message);
    if !n.transcript.is_empty() {
        // In a code block Discord shows text as typed; its own fence is the only thing to keep
        // out.
        let lines = n.transcript.join("\n").replace("```", "'''");
        description.push_str(&format!("\n```\n{lines}\n```"));
    }
    json!({
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": clip(&n.title(), 250),
            "description": clip(&description, 4000),
            "color": colour,
            "fields": fields,
            "footer": {"text": format!("id {}", n.id)},
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_cannot_mention_or_link() {
        let mut n = crate::alert::test_notification(std::time::SystemTime::UNIX_EPOCH);
        n.message = "@everyone [click](https://evil.test) <@&123>".into();
        n.transcript = vec!["S: 220 ``` @here".into()];
        let p = payload(&n);
        assert_eq!(p["allowed_mentions"]["parse"], json!([]));
        let text = p.to_string();
        assert!(!text.contains("[click](https"), "{text}");
        assert_eq!(text.matches("```").count(), 2, "{text}");
        let teams = crate::alert::teams::payload(&n).to_string();
        assert!(!teams.contains("[click](https"), "{teams}");
    }
}
