//! Alertmanager's `POST /api/v2/alerts`.
//!
//! Alertmanager forgets an alert at its `endsAt`, so like Prometheus the agent re-sends firing
//! alerts every `resend_interval` with `endsAt` four intervals ahead: an Alertmanager that
//! restarted gets them back at the next re-send, and if the agent dies they expire on their
//! own. A resolved alert is sent with `endsAt` = now.

use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use super::notification::rfc3339;
use super::notification::{Notification, NotificationEvent, Scope};

/// How many re-send intervals a firing alert stays valid without a re-send.
const ENDS_AFTER_RESENDS: u32 = 4;

/// The alerts endpoint for a configured URL: `/api/v2/alerts` appended unless present.
pub fn endpoint(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.ends_with("/api/v2/alerts") {
        base.to_string()
    } else {
        format!("{base}/api/v2/alerts")
    }
}

/// The request body for `notifications` (a JSON array of postable alerts).
///
/// `reason` is a label, so a reminder whose reason changed also ends the alert under the old
/// reason; otherwise it would linger in Alertmanager until its `endsAt`.
pub fn body(notifications: &[Notification], now: SystemTime, resend_interval: Duration) -> Value {
    let mut alerts = Vec::new();
    for n in notifications {
        if let (NotificationEvent::Reminder, Some(previous)) = (n.event, &n.previous_reason) {
            let mut old = n.clone();
            old.event = NotificationEvent::Resolved;
            old.phase = previous.split_once('/').map(|(p, _)| p.to_string());
            old.reason = Some(
                previous
                    .split_once('/')
                    .map_or(previous.clone(), |(_, r)| r.to_string()),
            );
            alerts.push(alert(&old, now, resend_interval));
        }
        alerts.push(alert(n, now, resend_interval));
    }
    Value::Array(alerts)
}

fn alert(n: &Notification, now: SystemTime, resend_interval: Duration) -> Value {
    let mut labels = Map::new();
    // User labels first, so the agent's own names win on a clash (config forbids clashes).
    for (k, v) in &n.labels {
        labels.insert(k.clone(), json!(v));
    }
    labels.insert("alertname".into(), json!(n.alert.alertname()));
    labels.insert("probe".into(), json!(n.probe));
    labels.insert("target".into(), json!(n.target));
    labels.insert("severity".into(), json!(n.severity.as_str()));
    // A probe-level alert has no address label: its identity must not change when DNS does.
    if let (Some(address), Scope::Address) = (&n.address, n.scope) {
        labels.insert("address".into(), json!(address));
    }
    if let Some(reason) = &n.reason {
        labels.insert("reason".into(), json!(reason));
    }
    let ends = match n.event {
        NotificationEvent::Resolved => now,
        _ => now + resend_interval * ENDS_AFTER_RESENDS,
    };
    let mut annotations = Map::new();
    annotations.insert("summary".into(), json!(n.title()));
    annotations.insert("description".into(), json!(n.message));
    if let Some(phase) = &n.phase {
        annotations.insert("phase".into(), json!(phase));
    }
    if let Some(code) = n.code {
        annotations.insert("code".into(), json!(code.to_string()));
    }
    if let Some(address) = &n.address {
        annotations.insert("address".into(), json!(address));
    }
    annotations.insert("notification_id".into(), json!(n.id));
    if !n.transcript.is_empty() {
        annotations.insert("transcript".into(), json!(n.transcript.join("\n")));
    }
    json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": n.since,
        "endsAt": rfc3339(ends),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::notification::{AlertKind, Severity, SCHEMA_VERSION};

    fn notification(event: NotificationEvent, scope: Scope) -> Notification {
        Notification {
            id: "0123".into(),
            version: SCHEMA_VERSION,
            event,
            alert: AlertKind::ProbeFailing,
            severity: Severity::Warning,
            scope,
            probe: "mx".into(),
            target: "mx:example.net".into(),
            address: Some("192.0.2.1:25".into()),
            status: "failing".into(),
            phase: Some("banner".into()),
            reason: Some("rejected".into()),
            code: Some(421),
            message: "421 busy".into(),
            previous_reason: None,
            since: "2027-01-15T08:00:00Z".into(),
            at: "2027-01-15T08:02:00Z".into(),
            transcript: vec!["S: 421 busy".into()],
            agent: "agent".into(),
            labels: [("team".to_string(), "mail".to_string())].into(),
            vantage: None,
        }
    }

    #[test]
    fn endpoint_appends_the_alerts_path_once() {
        assert_eq!(endpoint("http://am:9093"), "http://am:9093/api/v2/alerts");
        assert_eq!(endpoint("http://am:9093/"), "http://am:9093/api/v2/alerts");
        assert_eq!(
            endpoint("http://am/prefix/api/v2/alerts"),
            "http://am/prefix/api/v2/alerts"
        );
    }

    #[test]
    fn firing_alerts_carry_labels_and_end_four_resends_ahead() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_120);
        let n = notification(NotificationEvent::Firing, Scope::Address);
        let body = body(&[n], now, Duration::from_secs(60));
        let alert = &body[0];
        assert_eq!(alert["labels"]["alertname"], "SMTPProbeFailing");
        assert_eq!(alert["labels"]["probe"], "mx");
        assert_eq!(alert["labels"]["address"], "192.0.2.1:25");
        assert_eq!(alert["labels"]["reason"], "rejected");
        assert_eq!(alert["labels"]["severity"], "warning");
        assert_eq!(alert["labels"]["team"], "mail");
        assert_eq!(alert["annotations"]["code"], "421");
        assert_eq!(alert["startsAt"], "2027-01-15T08:00:00Z");
        assert_eq!(alert["endsAt"], "2027-01-15T08:06:00Z");
    }

    #[test]
    fn probe_level_alerts_have_no_address_label_and_resolved_ends_now() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_120);
        let n = notification(NotificationEvent::Resolved, Scope::Probe);
        let body = body(&[n], now, Duration::from_secs(60));
        assert!(body[0]["labels"].get("address").is_none());
        assert_eq!(body[0]["endsAt"], "2027-01-15T08:02:00Z");
    }

    #[test]
    fn a_reminder_with_a_new_reason_ends_the_alert_under_the_old_one() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_120);
        let mut n = notification(NotificationEvent::Reminder, Scope::Address);
        n.previous_reason = Some("connect/connect_refused".into());
        let body = body(&[n], now, Duration::from_secs(60));
        assert_eq!(body.as_array().map(Vec::len), Some(2));
        assert_eq!(body[0]["labels"]["reason"], "connect_refused");
        assert_eq!(body[0]["endsAt"], "2027-01-15T08:02:00Z");
        assert_eq!(body[1]["labels"]["reason"], "rejected");
        assert_eq!(body[1]["endsAt"], "2027-01-15T08:06:00Z");
    }
}
