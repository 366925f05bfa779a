//! Alerting against in-process HTTP receivers: thresholds, signatures, Slack's `ok`, retries,
//! Retry-After, no retry on 400, queue overflow, restart with a state file, Alertmanager
//! re-sends to every URL, `alert test`, and secrets kept out of logs and metrics.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use smtpwatch::alert::deliver::Policy;
use smtpwatch::alert::dispatch::DeliveryMetrics;
use smtpwatch::alert::dispatch::Dispatcher;
use smtpwatch::alert::notification::{Notification, NotificationEvent};
use smtpwatch::alert::Alerting;
use smtpwatch::config::{self, Config};
use smtpwatch::metrics::Metrics;
use smtpwatch::report::ProbeReport;
use smtpwatch::target::TlsMode;
use tokio_util::sync::CancellationToken;

use crate::support::certs::TestCa;
use crate::support::fake_smtp::{greet_and_ehlo, noop_quit};
use crate::support::receiver::{Answer, Receiver};
use crate::support::{probe_addr, run, settings};

/// A real failed probe (connection refused) and a real good one.
async fn reports() -> (ProbeReport, ProbeReport) {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let down = probe_addr(closed, TlsMode::None, &settings(&TestCa::new("ca"))).await;
    assert_eq!(
        down.failure.as_ref().map(|f| f.reason.as_str()),
        Some("connect_refused")
    );
    let mut steps = greet_and_ehlo(&[]);
    steps.extend(noop_quit());
    let (up, _) = run(steps, TlsMode::None, |_| {}).await;
    assert!(up.success);
    (down, up)
}

fn temp_path(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!("smtpwatch-alert-{}-{n}-{name}", std::process::id()))
}

/// A config with one probe `mx` and the given `[alerting]` text.
fn config(alerting: &str, extra_agent: &str) -> Config {
    let text = format!(
        "[agent]\n{extra_agent}\n[alerting]\nretry_backoff = \"10ms\"\nretry_backoff_max = \"50ms\"\n{alerting}\n\
         [[probe]]\nname = \"mx\"\ntarget = \"127.0.0.1:25\"\nlabels = {{ team = \"mail\" }}\n"
    );
    config::parse(&text, Path::new("test.toml")).expect("valid test config")
}

/// Delivery counters on a registry of their own.
fn delivery_metrics() -> DeliveryMetrics {
    DeliveryMetrics::register(&prometheus::Registry::new()).expect("delivery metrics")
}

fn counter(metrics: &DeliveryMetrics, notifier: &str, outcome: &str) -> u64 {
    metrics
        .notifications
        .with_label_values(&[notifier, outcome])
        .get()
}

/// Captures this thread's log output.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}

#[tokio::test]
async fn webhook_fires_at_the_threshold_signed_and_resolves_once() {
    let (down, up) = reports().await;
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    let key = temp_path("hmac.key");
    std::fs::write(&key, "s3cret-key\n").expect("key file");
    let cfg = config(
        &format!(
            "[[alerting.webhook]]\nname = \"hook\"\nurl = \"{}\"\nsecret_file = \"{}\"\nheaders = {{ X-Team = \"mail\" }}\n",
            hook.url("/in/hook-token"),
            key.display()
        ),
        "",
    );
    let metrics = delivery_metrics();
    let alerting = Alerting::start(&cfg, metrics.clone()).expect("alerting");
    let probe = &cfg.probes[0];
    let now = SystemTime::now();
    for i in 0..4 {
        alerting.observe(
            probe,
            std::slice::from_ref(&down),
            now + Duration::from_secs(i * 60),
        );
    }
    let firing = hook.next().await;
    assert_eq!(firing.path, "/in/hook-token");
    assert_eq!(firing.header("x-team").as_deref(), Some("mail"));
    assert_eq!(
        firing.header("content-type").as_deref(),
        Some("application/json")
    );
    let signature = firing.header("x-smtpwatch-signature").expect("signed");
    let hex = signature.strip_prefix("sha256=").expect("sha256= prefix");
    let tag: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    let verifier = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"s3cret-key");
    ring::hmac::verify(&verifier, &firing.body, &tag).expect("the signature verifies");

    let json = firing.json();
    assert_eq!(json["version"], 1);
    assert_eq!(json["event"], "firing");
    assert_eq!(json["alert"], "probe_failing");
    assert_eq!(json["severity"], "critical");
    assert_eq!(json["probe"], "mx");
    assert_eq!(json["target"], "127.0.0.1:25");
    assert_eq!(json["address"], down.address.clone().expect("address"));
    assert_eq!(json["phase"], "connect");
    assert_eq!(json["reason"], "connect_refused");
    assert_eq!(json["labels"]["team"], "mail");
    assert!(!json["agent"].as_str().unwrap_or("").is_empty());

    for i in 4..6 {
        alerting.observe(
            probe,
            std::slice::from_ref(&up),
            now + Duration::from_secs(i * 60),
        );
    }
    // The fourth failure sent nothing: the next request is the resolution.
    let resolved = hook.next().await.json();
    assert_eq!(resolved["event"], "resolved");
    assert_eq!(resolved["status"], "ok");
    assert_eq!(resolved["since"], json["since"]);
    assert!(alerting.close(Duration::from_secs(5)).await);
    assert_eq!(counter(&metrics, "hook", "sent"), 2);
}

#[tokio::test]
async fn slack_gets_block_kit_and_only_200_ok_counts_as_delivered() {
    let (down, up) = reports().await;
    let mut slack = Receiver::start(Answer::new(200, "ok")).await;
    slack.script([Answer::new(200, "ok"), Answer::new(200, "invalid_payload")]);
    let cfg = config(
        &format!(
            "failure_threshold = 1\nsuccess_threshold = 1\n[[alerting.slack]]\nname = \"chat\"\nurl = \"{}\"\n",
            slack.url("/services/T0/B0/XYZ")
        ),
        "",
    );
    let metrics = delivery_metrics();
    let alerting = Alerting::start(&cfg, metrics.clone()).expect("alerting");
    let probe = &cfg.probes[0];
    alerting.observe(probe, std::slice::from_ref(&down), SystemTime::now());
    let message = slack.next().await.json();
    assert!(message["text"]
        .as_str()
        .unwrap_or("")
        .starts_with("[FIRING] mx"));
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["color"], "#e01e5a");
    assert_eq!(attachment["blocks"][0]["type"], "header");
    let facts = attachment["blocks"][2]["fields"].to_string();
    assert!(facts.contains("connect / connect_refused"), "{facts}");
    alerting.observe(probe, std::slice::from_ref(&up), SystemTime::now());
    let resolved = slack.next().await.json();
    assert_eq!(resolved["attachments"][0]["color"], "#2eb67d");
    assert!(alerting.close(Duration::from_secs(5)).await);
    assert_eq!(counter(&metrics, "chat", "sent"), 1);
    assert_eq!(counter(&metrics, "chat", "failed"), 1);
    assert_eq!(counter(&metrics, "chat", "retried"), 0);
}

/// Alerting whose delivery counters are registered on a whole agent's families.
struct OneShot {
    alerting: Alerting,
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

#[tokio::test]
async fn after_a_restart_a_firing_alert_is_not_sent_again_and_still_resolves() {
    let (down, up) = reports().await;
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    let state = temp_path("state.json");
    let cfg = config(
        &format!(
            "failure_threshold = 2\nsuccess_threshold = 1\n[[alerting.webhook]]\nname = \"hook\"\nurl = \"{}\"\n",
            hook.url("/h")
        ),
        &format!("state_file = \"{}\"", state.display()),
    );
    let probe = &cfg.probes[0];
    let first = Alerting::start(&cfg, delivery_metrics()).expect("a");
    first.observe(probe, std::slice::from_ref(&down), SystemTime::now());
    first.observe(probe, std::slice::from_ref(&down), SystemTime::now());
    assert_eq!(hook.next().await.json()["event"], "firing");
    assert!(first.close(Duration::from_secs(5)).await);
    drop(first);
    let saved = std::fs::read_to_string(&state).expect("state file written");
    assert!(saved.contains("\"firing\": true"), "{saved}");

    let second = Alerting::start(&cfg, delivery_metrics()).expect("a");
    second.observe(probe, std::slice::from_ref(&down), SystemTime::now());
    second.observe(probe, std::slice::from_ref(&down), SystemTime::now());
    second.observe(probe, std::slice::from_ref(&up), SystemTime::now());
    assert_eq!(hook.next().await.json()["event"], "resolved");
    assert!(second.close(Duration::from_secs(5)).await);
    let saved = std::fs::read_to_string(&state).expect("state file");
    assert!(!saved.contains("\"firing\": true"), "{saved}");
}

#[tokio::test]
async fn alertmanager_urls_all_get_every_alert_and_firing_ones_are_re_sent() {
    let (down, up) = reports().await;
    let mut am1 = Receiver::start(Answer::new(200, "")).await;
    let mut am2 = Receiver::start(Answer::new(200, "")).await;
    let cfg = config(
        &format!(
            "failure_threshold = 1\nsuccess_threshold = 1\nresend_interval = \"1s\"\n[[alerting.alertmanager]]\nname = \"am\"\nurls = [\"{}\", \"{}\"]\n",
            am1.url(""),
            am2.url("/")
        ),
        "",
    );
    let alerting = Arc::new(Alerting::start(&cfg, delivery_metrics()).expect("a"));
    let stop = CancellationToken::new();
    tokio::spawn(alerting.clone().resend_loop(stop.clone()));
    alerting.observe(&cfg.probes[0], &[down], SystemTime::now());
    for am in [&mut am1, &mut am2] {
        let posted = am.next().await;
        assert_eq!(posted.path, "/api/v2/alerts");
        let alerts = posted.json();
        assert_eq!(alerts[0]["labels"]["alertname"], "SMTPProbeFailing");
        assert_eq!(alerts[0]["labels"]["reason"], "connect_refused");
        assert_eq!(alerts[0]["labels"]["team"], "mail");
        // The re-send: the same alert, again, without a new probe round.
        let again = am.next().await.json();
        assert_eq!(again[0]["labels"], alerts[0]["labels"]);
    }
    alerting.observe(&cfg.probes[0], &[up], SystemTime::now());
    for am in [&mut am1, &mut am2] {
        // Skip re-sends that raced the resolution.
        let resolved = loop {
            let alerts = am.next().await.json();
            let summary = alerts[0]["annotations"]["summary"].as_str().unwrap_or("");
            if summary.starts_with("[RESOLVED]") {
                break alerts;
            }
        };
        let ends = resolved[0]["endsAt"].as_str().unwrap_or("").to_string();
        let ends = humantime::parse_rfc3339(&ends).expect("endsAt");
        assert!(ends <= SystemTime::now());
    }
    stop.cancel();
    assert!(alerting.close(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn alert_test_reports_each_notifier_and_exits_2_when_one_fails() {
    let mut good = Receiver::start(Answer::new(200, "ok")).await;
    let bad = Receiver::start(Answer::new(404, "no_service")).await;
    let path = temp_path("alert-test.toml");
    std::fs::write(
        &path,
        format!(
            "[[alerting.slack]]\nname = \"chat\"\nurl = \"{}\"\n[[alerting.webhook]]\nname = \"hook\"\nurl = \"{}\"\n",
            good.url("/services/SECRET1"),
            bad.url("/SECRET2")
        ),
    )
    .expect("config");
    let run = |extra: &[&str]| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_smtpwatch"));
        cmd.args(["alert", "test", "--config"])
            .arg(&path)
            .args(extra);
        cmd.output()
    };
    let out = run(&[]).await.expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains(&format!("chat: ok (http://{}/<redacted>)", good.addr)),
        "{stdout}"
    );
    assert!(stdout.contains("hook: FAILED"), "{stdout}");
    assert!(stdout.contains("HTTP 404: no_service"), "{stdout}");
    assert!(!stdout.contains("SECRET"), "{stdout}");
    let message = good.next().await.json();
    assert!(message["text"].as_str().unwrap_or("").starts_with("[TEST]"));

    let out = run(&["--notifier", "chat"]).await.expect("run");
    assert_eq!(out.status.code(), Some(0));
    let out = run(&["--notifier", "pager"]).await.expect("run");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no notifier named \"pager\""));
}

#[tokio::test]
async fn a_probe_removed_while_the_agent_was_down_is_resolved_at_start() {
    let (down, _) = reports().await;
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    let state = temp_path("removed.json");
    let alerting = format!(
        "failure_threshold = 1\n[[alerting.webhook]]\nname = \"hook\"\nurl = \"{}\"\n",
        hook.url("/h")
    );
    let agent = format!("state_file = \"{}\"", state.display());
    let cfg = config(&alerting, &agent);
    let first = Alerting::start(&cfg, delivery_metrics()).expect("a");
    first.observe(&cfg.probes[0], &[down], SystemTime::now());
    assert_eq!(hook.next().await.json()["event"], "firing");
    assert!(first.close(Duration::from_secs(5)).await);

    let mut without = cfg.clone();
    without.probes.clear();
    let second = Alerting::start(&without, delivery_metrics()).expect("a");
    let resolved = hook.next().await.json();
    assert_eq!(resolved["event"], "resolved");
    assert_eq!(resolved["probe"], "mx");
    assert!(second.close(Duration::from_secs(5)).await);
}
