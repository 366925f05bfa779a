//! ntfy (ntfy.sh or a self-hosted server): a JSON message published to the server's root with
//! the topic in the body, so title, tags and priority need no HTTP headers (where non-ASCII
//! text would not survive). Optional access token as `Authorization: Bearer`.

use serde_json::{json, Value};

use super::notification::{clip, Notification, NotificationEvent, Severity};
pub use crate::config::notifiers::ntfy_topic as split_topic_url;

/// The message for `n` on `topic`.
pub fn payload(n: &Notification, topic: &str) -> Value {
    let (priority, tags) = match (n.event, n.severity) {
        (NotificationEvent::Resolved, _) => (3, vec!["white_check_mark"]),
        (NotificationEvent::Test, _) | (_, Severity::Info) => (2, vec!["information_source"]),
        (_, Severity::Critical) => (5, vec!["rotating_light"]),
        (_, Severity::Warning) => (4, vec!["warning"]),
    };
    let mut message = n.message.clone();
    for (k, v) in n.facts() {
        message.push_str(&format!("\n{k}: {v}"));
    }
    message.push_str(&format!("\nid {}", n.id));
    json!({
        "topic": topic,
        "title": clip(&n.title(), 250),
        "message": clip(&message, 4000),
        "priority": priority,
        "tags": tags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_url_splits_into_root_and_topic() {
        assert_eq!(
            split_topic_url("https://ntfy.sh/smtp-alerts"),
            Some(("https://ntfy.sh/".into(), "smtp-alerts".into()))
        );
        assert_eq!(
            split_topic_url("http://127.0.0.1:8080/ntfy/ops/"),
            Some(("http://127.0.0.1:8080/ntfy/".into(), "ops".into()))
        );
        assert_eq!(split_topic_url("https://ntfy.sh/"), None);
    }
}
