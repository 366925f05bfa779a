//! At-least-once delivery: a notification is in the state file's outbox before it is sent and
//! leaves it only when its receiver accepted it, so one that was retrying or in flight when the
//! agent stopped is delivered after the restart, with the same id.

use super::*;

fn outbox_config(hook: &Receiver, state: &Path) -> Config {
    // Retries 30 s apart: the agent is stopped while one waits.
    let text = format!(
        "[agent]\nstate_file = \"{}\"\n[alerting]\nfailure_threshold = 1\nsuccess_threshold = 1\n\
         retry_backoff = \"30s\"\nretry_backoff_max = \"30s\"\n\
         [[alerting.webhook]]\nname = \"hook\"\nurl = \"{}\"\n\
         [[probe]]\nname = \"mx\"\ntarget = \"127.0.0.1:25\"\n",
        state.display(),
        hook.url("/h")
    );
    config::parse(&text, Path::new("test.toml")).expect("valid test config")
}

fn saved_outbox(state: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(state).expect("state file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    json["outbox"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn a_firing_retrying_at_shutdown_is_delivered_after_the_restart_with_the_same_id() {
    let (down, _) = reports().await;
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    hook.script([Answer::new(500, "busy")]);
    let state = temp_path("outbox-firing.json");
    let cfg = outbox_config(&hook, &state);

    let first = Alerting::start(&cfg, delivery_metrics()).expect("alerting");
    first.observe(
        &cfg.probes[0],
        std::slice::from_ref(&down),
        SystemTime::now(),
    );
    let attempt = hook.next().await.json();
    assert_eq!(attempt["event"], "firing");
    let id = attempt["id"].as_str().expect("an id").to_string();
    assert_eq!(id.len(), 32, "{id}");
    // Written before it was sent: a SIGKILL now would not lose it.
    let saved = saved_outbox(&state);
    assert_eq!(saved.len(), 1, "{saved:?}");
    assert_eq!(saved[0]["notification"]["id"], id.as_str());
    assert!(
        !saved[0].to_string().contains(&hook.url("/h")),
        "the state file never holds a notifier URL"
    );
    // Stop while the retry waits (30 s away).
    first.close(Duration::ZERO).await;
    drop(first);

    let metrics = delivery_metrics();
    let second = Alerting::start(&cfg, metrics.clone()).expect("alerting");
    let delivered = hook.next().await.json();
    assert_eq!(
        (delivered["event"].as_str(), delivered["id"].as_str()),
        (Some("firing"), Some(id.as_str()))
    );
    assert!(second.close(Duration::from_secs(5)).await);
    assert_eq!(counter(&metrics, "hook", "sent"), 1);
    assert!(
        saved_outbox(&state).is_empty(),
        "delivered, so out of the outbox"
    );
    let _ = std::fs::remove_file(&state);
}

#[tokio::test]
async fn a_resolved_in_flight_at_shutdown_is_delivered_after_the_restart() {
    let (down, up) = reports().await;
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    let state = temp_path("outbox-resolved.json");
    let cfg = outbox_config(&hook, &state);

    let first = Alerting::start(&cfg, delivery_metrics()).expect("alerting");
    first.observe(
        &cfg.probes[0],
        std::slice::from_ref(&down),
        SystemTime::now(),
    );
    assert_eq!(hook.next().await.json()["event"], "firing");
    // The receiver holds its answer to the resolved: the agent stops with it in flight.
    hook.script([Answer::new(200, "").held()]);
    first.observe(&cfg.probes[0], std::slice::from_ref(&up), SystemTime::now());
    let held = hook.next().await.json();
    assert_eq!(held["event"], "resolved");
    first.close(Duration::ZERO).await;
    drop(first);
    hook.release();

    let second = Alerting::start(&cfg, delivery_metrics()).expect("alerting");
    let again = hook.next().await.json();
    assert_eq!(
        (again["event"].as_str(), again["id"].as_str()),
        (Some("resolved"), held["id"].as_str())
    );
    assert!(second.close(Duration::from_secs(5)).await);
    assert!(saved_outbox(&state).is_empty());
    let _ = std::fs::remove_file(&state);
}
