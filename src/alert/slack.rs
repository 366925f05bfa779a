//! Slack incoming webhooks: a Block Kit message in an attachment coloured by severity.
//!
//! Slack answers `200 ok` on success and an error word (`invalid_payload`, `no_service`, …)
//! otherwise, so only a 200 whose body is `ok` counts as delivered.

use serde_json::{json, Value};

use super::notification::{clip, Notification, NotificationEvent, Severity};
use crate::escape;

/// Longest text in one Slack section (Slack's limit is 3000 characters).
const SECTION_LIMIT: usize = 2900;

/// The message for `n`.
pub fn payload(n: &Notification) -> Value {
    let colour = match (n.event, n.severity) {
        (NotificationEvent::Resolved, _) => "#2eb67d",
        (NotificationEvent::Test, _) | (_, Severity::Info) => "#439fe0",
        (_, Severity::Critical) => "#e01e5a",
        (_, Severity::Warning) => "#ecb22e",
    };
    let facts: Vec<Value> = n.facts().iter().map(|(k, v)| field(k, v)).collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": clip(&n.title(), 150)}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&escape::slack(&n.message), SECTION_LIMIT)}}),
        json!({"type": "section", "fields": facts}),
    ];
    if !n.transcript.is_empty() {
        // Inside a code block Slack still turns `<!channel>` and `<url|text>` into mentions and
        // links: a server's banner must not page a channel.
        let lines = escape::slack(&n.transcript.join("\n")).replace("```", "'''");
        let text = format!("```{lines}```");
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&text, SECTION_LIMIT)}}));
    }
    // The id lets a relay or a person tell a re-delivery from a new alert.
    blocks.push(json!({"type": "context", "elements": [
        {"type": "mrkdwn", "text": format!("id {}", escape::slack(&n.id))}
    ]}));
    json!({
        "text": escape::slack(&n.title()),
        "attachments": [{"color": colour, "blocks": blocks}],
    })
}

/// Whether Slack accepted the message.
pub fn accepted(status: u16, body: &str) -> bool {
    status == 200 && body.trim() == "ok"
}

fn field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": clip(&format!("*{name}*\n{}", escape::slack(value)), 1900)})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_a_server_cannot_mention_link_or_close_the_code_block() {
        let mut n = crate::alert::test_notification(std::time::SystemTime::UNIX_EPOCH);
        n.message = "banner <!here> & <https://evil.test|click>".into();
        n.transcript = vec![
            "S: 220 <!channel> hi".into(),
            "S: 250 <https://evil.test|login> ```".into(),
        ];
        n.target = "<!everyone>".into();
        let text = payload(&n).to_string();
        for raw in ["<!channel>", "<!here>", "<!everyone>", "<https://evil.test"] {
            assert!(!text.contains(raw), "{raw} reached Slack: {text}");
        }
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        assert!(text.contains("&amp;"), "{text}");
        // One code block: the server's backticks do not end it early.
        assert_eq!(text.matches("```").count(), 2, "{text}");
    }

    #[test]
    fn the_vantage_point_is_a_field_when_the_agent_has_one() {
        let mut n = crate::alert::test_notification(std::time::SystemTime::UNIX_EPOCH);
        assert!(!payload(&n).to_string().contains("*Vantage*"));
        n.vantage = Some("eu-1 <!here>".into());
        let text = payload(&n).to_string();
        assert!(text.contains("*Vantage*\\neu-1 &lt;!here&gt;"), "{text}");
    }
}
