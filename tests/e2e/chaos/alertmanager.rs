//! A real Alertmanager that is down for a while: the agent retries its firing until
//! Alertmanager is up, Alertmanager notifies its own receiver once, and the resolution gets
//! through the same way.

use std::time::Duration;

use super::*;
use crate::alerting::Alertmanager;

#[test]
#[ignore = "end-to-end: run through tests/run.sh"]
fn an_alertmanager_down_for_a_while_gets_the_firing_then_the_resolution() {
    let scratch = Scratch::new("alertmanager");
    let people = Receiver::start(Answer::Status(200));
    let smtp = SmtpServer::start(false);
    let am_addr = format!("127.0.0.1:{}", free_port());
    let listen = format!("127.0.0.1:{}", free_port());
    let text = format!(
        "{}[[alerting.alertmanager]]\nname = \"am\"\nurls = [\"http://{am_addr}\"]\n{}",
        head(
            &listen,
            &scratch.path("state.json"),
            "retry_backoff = \"200ms\"\nretry_backoff_max = \"1s\"\nretry_attempts = 1000\nresend_interval = \"1h\""
        ),
        probe("down", smtp.addr),
    );
    let config = scratch.path("probes.toml");
    std::fs::write(&config, text).expect("config");

    let agent = Agent::start(&config, &listen, &[]);
    // Down for a while: several attempts refused.
    wait_until("three failed attempts", Duration::from_secs(30), || {
        agent.metric("smtpwatch_notifications_total{notifier=\"am\",outcome=\"retried\"}") >= 3.0
    });
    assert!(people.seen().is_empty());

    let yaml = format!(
        "route:\n  receiver: people\n  group_by: [alertname, probe]\n  group_wait: 0s\n  \
         group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: people\n    \
         webhook_configs:\n      - url: {}\n        send_resolved: true\n",
        people.url("/am")
    );
    let am = Alertmanager::start_with(&am_addr, &scratch.path("am"), &yaml);
    let status = |s: &Seen| s.body["status"].as_str().unwrap_or("").to_string();
    wait_until(
        "Alertmanager's firing notification",
        Duration::from_secs(30),
        || people.seen().iter().any(|s| status(s) == "firing"),
    );
    let firing = people.seen()[0].clone();
    let alert = &firing.body["alerts"][0];
    assert_eq!(alert["labels"]["probe"], "down");
    assert_eq!(alert["labels"]["alertname"], "SMTPProbeFailing");
    assert_eq!(
        alert["annotations"]["notification_id"]
            .as_str()
            .map(str::len),
        Some(32),
        "{alert:#}"
    );

    smtp.set_up(true);
    wait_until(
        "Alertmanager's resolved notification",
        Duration::from_secs(30),
        || people.seen().iter().any(|s| status(s) == "resolved"),
    );
    wait_until("the agent's outbox empty", Duration::from_secs(10), || {
        saved_outbox(&scratch.path("state.json")).is_empty()
    });
    drop(agent);
    drop(am);
    let statuses: Vec<String> = people.seen().iter().map(status).collect();
    assert_eq!(
        statuses,
        ["firing", "resolved"],
        "once each: {:#?}",
        people.seen()
    );
}
