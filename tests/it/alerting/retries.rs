//! Delivery under failure: back-off on 5xx, Retry-After on 429, no retry on 4xx (and no
//! secret in logs or metrics), and a full queue that drops reminders before anything else.

use super::*;

/// Alerting whose delivery counters are registered on a whole agent's families.
struct OneShot {
    alerting: std::sync::Arc<Alerting>,
    delivery: DeliveryMetrics,
    metrics: Metrics,
    cfg: Config,
}

/// One probe-failing notification per call, through `hook` with threshold 1.
async fn one_shot(receiver: &Receiver, logs_secret_path: &str) -> OneShot {
    let cfg = config(
        &format!(
            "failure_threshold = 1\nsuccess_threshold = 1\nretry_attempts = 4\n[[alerting.webhook]]\nname = \"hook\"\nurl = \"{}\"\n",
            receiver.url(logs_secret_path)
        ),
        "",
    );
    let metrics = Metrics::new().expect("metrics");
    let delivery = DeliveryMetrics::register(metrics.registry()).expect("delivery metrics");
    let alerting = Alerting::start(&cfg, delivery.clone()).expect("alerting");
    OneShot {
        alerting,
        delivery,
        metrics,
        cfg,
    }
}

#[tokio::test]
async fn server_errors_are_retried_with_backoff_until_delivered() {
    let (down, _) = reports().await;
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    hook.script([Answer::new(500, "oops"), Answer::new(503, "busy")]);
    let OneShot {
        alerting,
        delivery: metrics,
        cfg,
        ..
    } = one_shot(&hook, "/hook").await;
    alerting.observe(&cfg.probes[0], &[down], SystemTime::now());
    let bodies = [hook.next().await, hook.next().await, hook.next().await];
    assert!(
        bodies.iter().all(|b| b.body == bodies[0].body),
        "the same notification"
    );
    assert!(
        bodies[2].at - bodies[1].at >= Duration::from_millis(15),
        "backoff doubles"
    );
    assert!(alerting.close(Duration::from_secs(5)).await);
    assert_eq!(counter(&metrics, "hook", "retried"), 2);
    assert_eq!(counter(&metrics, "hook", "sent"), 1);
}

#[tokio::test]
async fn too_many_requests_waits_for_retry_after() {
    let (down, _) = reports().await;
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    hook.script([Answer::new(429, "slow down").header("retry-after", "1")]);
    let OneShot {
        alerting,
        delivery: metrics,
        cfg,
        ..
    } = one_shot(&hook, "/hook").await;
    alerting.observe(&cfg.probes[0], &[down], SystemTime::now());
    let first = hook.next().await;
    let second = hook.next().await;
    // The configured backoff is 10 ms; only Retry-After explains a second's wait.
    assert!(second.at - first.at >= Duration::from_millis(950));
    assert!(alerting.close(Duration::from_secs(5)).await);
    assert_eq!(counter(&metrics, "hook", "sent"), 1);
}

#[tokio::test]
async fn client_errors_are_not_retried_and_secrets_stay_out_of_logs_and_metrics() {
    let logs = Logs::default();
    let _guard = logs.install();
    let (down, up) = reports().await;
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    hook.script([Answer::new(400, "bad payload\u{1b}[31m")]);
    let OneShot {
        alerting,
        delivery,
        metrics,
        cfg,
    } = one_shot(&hook, "/hook/SECRET-TOKEN-42").await;
    alerting.observe(&cfg.probes[0], &[down], SystemTime::now());
    assert_eq!(hook.next().await.json()["event"], "firing");
    alerting.observe(&cfg.probes[0], &[up], SystemTime::now());
    // Not the firing again: the 400 was not retried.
    assert_eq!(hook.next().await.json()["event"], "resolved");
    assert!(alerting.close(Duration::from_secs(5)).await);
    assert_eq!(counter(&delivery, "hook", "failed"), 1);
    assert_eq!(counter(&delivery, "hook", "retried"), 0);

    let text = logs.text();
    assert!(text.contains("HTTP 400: bad payload\\x1b[31m"), "{text}");
    assert!(
        text.contains(&format!("http://{}/<redacted>", hook.addr)),
        "{text}"
    );
    let exposition = metrics.render();
    for (what, haystack) in [("logs", &text), ("metrics", &exposition)] {
        assert!(
            !haystack.contains("SECRET-TOKEN"),
            "secret in {what}:\n{haystack}"
        );
    }
    assert!(exposition
        .contains("smtpwatch_notifications_total{notifier=\"hook\",outcome=\"failed\"} 1"));
}

fn note(event: NotificationEvent, probe: &str) -> Notification {
    let mut n = smtpwatch::alert::test_notification(SystemTime::now());
    n.event = event;
    n.probe = probe.to_string();
    n
}

#[tokio::test]
async fn a_full_queue_drops_reminders_first_and_never_a_resolved() {
    let logs = Logs::default();
    let _guard = logs.install();
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    hook.script([Answer::new(200, "").held()]);
    let cfg = config(
        &format!(
            "queue_size = 2\n[[alerting.webhook]]\nname = \"hook\"\nurl = \"{}\"\n",
            hook.url("/q")
        ),
        "",
    );
    let metrics = delivery_metrics();
    let client = smtpwatch::alert::http_client().expect("client");
    let dispatcher = Dispatcher::start(
        &cfg.alerting.notifiers,
        Policy::from_config(&cfg.alerting),
        client,
        metrics.clone(),
        smtpwatch::alert::outbox::Outbox::in_memory(),
    );
    let all = |_: &str| true;
    use NotificationEvent::{Firing, Reminder, Resolved};
    dispatcher.send(note(Firing, "in-flight"), &all);
    assert_eq!(hook.next().await.json()["probe"], "in-flight");
    for (event, probe) in [
        (Reminder, "r1"),
        (Resolved, "x"),
        (Reminder, "r2"),
        (Firing, "f"),
        (Resolved, "y"),
        (Resolved, "z"),
        (Firing, "f2"),
    ] {
        dispatcher.send(note(event, probe), &all);
    }
    let queued = metrics.queue_length.with_label_values(&["hook"]).get();
    assert_eq!(queued, 3, "x, y and z: resolved may exceed the size");
    hook.release();
    let mut delivered = Vec::new();
    for _ in 0..3 {
        delivered.push(
            hook.next().await.json()["probe"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        );
    }
    assert_eq!(delivered, ["x", "y", "z"]);
    assert!(dispatcher.close(Duration::from_secs(5)).await);
    assert_eq!(counter(&metrics, "hook", "dropped"), 4);
    assert_eq!(counter(&metrics, "hook", "sent"), 4);
    assert!(logs.text().contains("notification queue full"));
}
