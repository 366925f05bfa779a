//! The templated webhook: a body written by the user, with `{{field}}` placeholders filled in
//! from the notification, for receivers none of the built-in notifiers speak.
//!
//! Every value is JSON-escaped (the characters a JSON string needs escaped, without the
//! quotes: the template writes those), so a server's text cannot break out of a string or add
//! a key. Placeholders are checked when the configuration loads: an unknown field is an error
//! there, not a silent empty string at 3 a.m.

use super::notification::Notification;
pub use crate::config::notifiers::{check_template as check, TEMPLATE_FIELDS as FIELDS};
use crate::config::notifiers::{template_parts, TemplatePart};

/// The body: `template` with every placeholder replaced by its JSON-escaped value.
pub fn render(template: &str, n: &Notification) -> String {
    let mut out = String::with_capacity(template.len() + n.message.len());
    for part in template_parts(template) {
        match part {
            TemplatePart::Text(text) | TemplatePart::Unclosed(text) => out.push_str(text),
            TemplatePart::Field(name) => out.push_str(&json_escaped(&value(name, n))),
        }
    }
    out
}

fn value(name: &str, n: &Notification) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    match name {
        "id" => n.id.clone(),
        "alert_key" => n.alert_key(),
        "event" => n.event.as_str().into(),
        "alert" => n.alert.alertname().into(),
        "severity" => n.severity.as_str().into(),
        "scope" => match n.scope {
            super::notification::Scope::Probe => "probe".into(),
            super::notification::Scope::Address => "address".into(),
        },
        "probe" => n.probe.clone(),
        "target" => n.target.clone(),
        "address" => opt(&n.address),
        "status" => n.status.clone(),
        "phase" => opt(&n.phase),
        "reason" => opt(&n.reason),
        "code" => n.code.map(|c| c.to_string()).unwrap_or_default(),
        "message" => n.message.clone(),
        "since" => n.since.clone(),
        "at" => n.at.clone(),
        "agent" => n.agent.clone(),
        "title" => n.title(),
        "transcript" => n.transcript.join("\n"),
        _ => String::new(),
    }
}

/// The inside of a JSON string for `text`.
fn json_escaped(text: &str) -> String {
    let quoted = serde_json::Value::String(text.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cannot_break_out_of_their_string() {
        let mut n = crate::alert::test_notification(std::time::SystemTime::UNIX_EPOCH);
        n.message = "x\", \"injected\": true, \"y\": \"\\\n".into();
        let template = r#"{"text": "{{title}}: {{ message }}", "probe": "{{probe}}"}"#;
        check(template).expect("valid");
        let body = render(template, &n);
        let parsed: serde_json::Value = serde_json::from_str(&body).expect("still JSON");
        assert!(parsed.get("injected").is_none(), "{body}");
        assert!(
            parsed["text"]
                .as_str()
                .is_some_and(|t| t.ends_with(&n.message)),
            "{body}"
        );
    }

    #[test]
    fn unknown_or_unclosed_placeholders_are_refused() {
        assert!(check("{{ probe }} {{code}}").is_ok());
        assert!(check("{{password}}")
            .expect_err("unknown")
            .contains("password"));
        assert!(check("{{probe").is_err());
    }
}
