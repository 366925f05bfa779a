//! Alerts across restarts, Alertmanager re-sends, `alert test`, and probes removed while the
//! agent was down.

use super::*;

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
    let alerting = Alerting::start(&cfg, delivery_metrics()).expect("a");
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
    let alerting = one_webhook(&hook);
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

#[tokio::test]
async fn an_unreadable_state_file_is_set_aside_and_never_overwritten() {
    let (down, _) = reports().await;
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    let dir = temp_path("state-dir");
    std::fs::create_dir_all(&dir).expect("dir");
    let state = dir.join("state.json");
    for (i, broken) in [
        "{\"version\": 1, \"alerts\": [ trunc".to_string(),
        "{\"version\": 99, \"alerts\": []}".to_string(),
    ]
    .into_iter()
    .enumerate()
    {
        std::fs::write(&state, &broken).expect("write a broken state file");
        let cfg = config(
            &one_webhook(&hook),
            &format!("state_file = \"{}\"", state.display()),
        );
        let metrics = delivery_metrics();
        let alerting = Alerting::start(&cfg, metrics.clone()).expect("starts fresh");
        assert_eq!(metrics.state_set_aside.get(), 1, "case {i}");
        // The next save writes a new file; the old content is still there, aside.
        alerting.observe(
            &cfg.probes[0],
            std::slice::from_ref(&down),
            SystemTime::now(),
        );
        assert_eq!(hook.next().await.json()["event"], "firing");
        assert!(alerting.close(Duration::from_secs(5)).await);
        let aside: Vec<String> = std::fs::read_dir(&dir)
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| name.starts_with("state.json.corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1, "case {i}: {aside:?}");
        let kept = std::fs::read_to_string(dir.join(&aside[0])).expect("read aside");
        assert_eq!(kept, broken, "case {i}");
        assert!(std::fs::read_to_string(&state)
            .expect("new state")
            .contains("\"firing\": true"));
        std::fs::remove_file(dir.join(&aside[0])).expect("clean up");
        std::fs::remove_file(&state).expect("clean up");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_probe_handed_over_to_another_shard_is_forgotten_without_a_resolved() {
    let (down, _) = reports().await;
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    let state = temp_path("handed.json");
    let alerting = one_webhook(&hook);
    let cfg = config(&alerting, &format!("state_file = \"{}\"", state.display()));
    let running = Alerting::start(&cfg, delivery_metrics()).expect("a");
    running.observe(&cfg.probes[0], &[down], SystemTime::now());
    assert_eq!(hook.next().await.json()["event"], "firing");

    // A reload (or a new shard count) gives the still-failing probe to another shard.
    let mut moved = cfg.clone();
    moved.probes.clear();
    moved.handed_over = vec!["mx".into()];
    running.reconfigure(&moved);
    assert!(
        running.close(Duration::from_secs(5)).await,
        "everything queued went out"
    );
    assert!(
        hook.try_next().is_none(),
        "no resolved: the new owner carries the alert on"
    );
    let saved = std::fs::read_to_string(&state).expect("state file");
    assert!(
        !saved.contains("\"firing\": true"),
        "and no re-sends from here: {saved}"
    );

    // Removed from the file altogether, it resolves as before.
    let (down, _) = reports().await;
    let again = Alerting::start(&cfg, delivery_metrics()).expect("a");
    again.observe(&cfg.probes[0], &[down], SystemTime::now());
    assert_eq!(hook.next().await.json()["event"], "firing");
    let mut removed = cfg.clone();
    removed.probes.clear();
    again.reconfigure(&removed);
    assert_eq!(hook.next().await.json()["event"], "resolved");
    assert!(again.close(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn notifications_carry_the_agents_vantage_point() {
    let (down, _) = reports().await;
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    let alerting = one_webhook(&hook);
    let cfg = config(&alerting, "vantage = \"eu-1\"");
    let running = Alerting::start(&cfg, delivery_metrics()).expect("a");
    running.observe(&cfg.probes[0], &[down], SystemTime::now());
    let sent = hook.next().await.json();
    assert_eq!(sent["vantage"], "eu-1");
    assert_eq!(sent["labels"]["vantage"], "eu-1");
    assert!(running.close(Duration::from_secs(5)).await);
}

/// `[alerting]` alerting on the first failure into one webhook, `hook`'s `/h`.
fn one_webhook(hook: &Receiver) -> String {
    format!(
        "failure_threshold = 1\n[[alerting.webhook]]\nname = \"hook\"\nurl = \"{}\"\n",
        hook.url("/h")
    )
}
