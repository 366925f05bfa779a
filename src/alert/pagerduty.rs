//! PagerDuty Events API v2: `trigger` for firing and reminders, `resolve` for resolved, one
//! incident per alert through `dedup_key` (the alert's key: the same for its trigger,
//! reminders and resolve, see [`Notification::alert_key`]).
//!
//! PagerDuty answers 202 on success; 400 is a malformed event (not retried), 429 and 5xx are
//! retried like every notifier's. The routing key travels in the body, never in a URL.

use serde_json::{json, Value};

use super::notification::{clip, Notification, NotificationEvent, Severity};

/// The event for `n`, sent with `routing_key`.
pub fn payload(n: &Notification, routing_key: &str) -> Value {
    let dedup_key = n.alert_key();
    if n.event == NotificationEvent::Resolved {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        });
    }
    let severity = match n.severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    let details: serde_json::Map<String, Value> = n
        .facts()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase().replace([' ', '/'], "_"), json!(v)))
        .chain([
            ("message".to_string(), json!(n.message)),
            ("notification_id".to_string(), json!(n.id)),
            ("transcript".to_string(), json!(n.transcript)),
        ])
        .collect();
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "client": "smtpwatch",
        "payload": {
            // PagerDuty's limit is 1024 characters.
            "summary": clip(&format!("{}: {}", n.title(), n.message), 1000),
            "source": n.address.clone().unwrap_or_else(|| n.target.clone()),
            "severity": severity,
            "component": n.probe,
            "group": n.agent,
            "class": n.reason.clone().unwrap_or_else(|| n.alert.alertname().to_string()),
            "custom_details": details,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_and_resolve_share_the_dedup_key() {
        let mut n = crate::alert::test_notification(std::time::SystemTime::UNIX_EPOCH);
        n.event = NotificationEvent::Firing;
        n.severity = Severity::Critical;
        let firing = payload(&n, "R0UT1NG");
        assert_eq!(firing["event_action"], "trigger");
        assert_eq!(firing["payload"]["severity"], "critical");
        n.event = NotificationEvent::Resolved;
        n.at = "later".into();
        let n = n.with_id();
        let resolved = payload(&n, "R0UT1NG");
        assert_eq!(resolved["event_action"], "resolve");
        assert_eq!(firing["dedup_key"], resolved["dedup_key"]);
        assert!(resolved.get("payload").is_none());
    }
}
