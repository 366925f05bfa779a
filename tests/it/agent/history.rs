//! History through the agent: the status page's summary, result bar, uptime and chart; the
//! history page; badges; the JSON API; a failed reload shown; and history across a restart.

use super::*;
use crate::support::http::get_with_head;

fn history_config(good: SocketAddr, closed: u16, db: &std::path::Path) -> String {
    format!(
        "[agent]\nehlo_name = \"probe.test\"\ninterval = \"5m\"\ntimeout = \"500ms\"\n\
         enable_lifecycle = true\nhistory_file = \"{}\"\n\
         [[probe]]\nname = \"good\"\ntarget = \"{good}\"\n\
         [[probe]]\nname = \"closed\"\ntarget = \"127.0.0.1:{closed}\"\n",
        db.display()
    )
}

fn db_path(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "smtpwatch-it-history-{}-{test}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir.join("history.db")
}

/// The status page once both probes have a result in the history (the bar shows them).
async fn page_with_history(agent: &TestAgent) -> String {
    agent
        .wait_for("/", |s, body| {
            s == 200 && body.matches("class=\"bar\"").count() == 2
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5_minute_probe_has_history_within_seconds_and_everything_shows_it() {
    let good = FakeService::start(healthy_script).await;
    let closed = closed_port();
    let db = db_path("pages");
    let agent = start(&history_config(good.addr, closed, &db)).await;
    // The interval is 5 minutes; the first round comes within the first-round window.
    let page = page_with_history(&agent).await;
    assert!(
        page.contains("1 ok</span>") && page.contains("1 critical</span>"),
        "{page}"
    );
    assert!(page.contains("0 pending</span>"), "{page}");
    assert!(page.contains("data-range=\"24h\">24h 100%"), "{page}");
    assert!(page.contains("data-range=\"24h\">24h 0%"), "{page}");
    assert!(page.contains("failing since"), "the closed one: {page}");
    assert!(page.contains("<svg class=\"chart\""), "{page}");
    assert!(!page.contains("<script>"), "server text stays escaped");

    let (status, history) = get(agent.addr, "/probes/closed?range=7d").await;
    assert_eq!(status, 200);
    assert!(
        history.contains("Last failures") && history.contains("connect/connect_refused"),
        "{history}"
    );
    assert!(history.contains("<b>7d</b>"), "{history}");
    assert!(
        history.contains("Connection refused") && !history.contains("\\x0a"),
        "a failure's transcript keeps its line breaks: {history}"
    );
    let (status, _) = get(agent.addr, "/probes/closed?range=1y").await;
    assert_eq!(status, 400, "an unknown range is refused, not defaulted");
    let (status, _) = get(agent.addr, "/probes/nope").await;
    assert_eq!(status, 404);

    let (status, head, body) = get_with_head(agent.addr, "/badges/good/status.svg").await;
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: image/svg+xml"),
        "{head}"
    );
    assert!(
        body.contains(">good</text>") && body.contains(">up</text>"),
        "{body}"
    );
    let (_, badge) = get(agent.addr, "/badges/closed/uptime-24h.svg").await;
    assert!(
        badge.contains(">uptime 24h</text>") && badge.contains(">0%</text>"),
        "{badge}"
    );
    let (_, badge) = get(agent.addr, "/badges/good/latency-24h.svg").await;
    assert!(
        badge.contains(" ms</text>") || badge.contains(" µs</text>"),
        "{badge}"
    );
    let (status, _) = get(agent.addr, "/badges/good/uptime-1y.svg").await;
    assert_eq!(status, 404);

    let (status, api) = get(agent.addr, "/api/v1/probes").await;
    assert_eq!(status, 200);
    let api: serde_json::Value = serde_json::from_str(&api).expect("json");
    let probes = api["probes"].as_array().expect("probes");
    assert_eq!(probes.len(), 2);
    assert_eq!(probes[0]["name"], "good");
    assert_eq!(probes[0]["status"], "ok");
    assert_eq!(probes[0]["uptime"]["24h"], 1.0);
    assert_eq!(probes[1]["status"], "critical");
    assert_eq!(probes[1]["last"]["failure"]["reason"], "connect_refused");
    assert!(probes[1]["failing_since"].is_string());
    let (status, points) = get(agent.addr, "/api/v1/probes/good/history?range=24h").await;
    assert_eq!(status, 200);
    let points: serde_json::Value = serde_json::from_str(&points).expect("json");
    assert_eq!(points["range"], "24h");
    let (_, raw) = get(agent.addr, "/api/v1/probes/good/history?range=24h").await;
    let rounds_before_restart = summed(&raw, "count");
    assert!(rounds_before_restart >= 1, "{points}");
    assert_eq!(summed(&raw, "failures"), 0, "{points}");

    // A broken reload is shown on the page until a good one.
    let text = std::fs::read_to_string(&agent.config).expect("config");
    std::fs::write(&agent.config, format!("{text}\n[[probe]]\nname = 42\n")).expect("break");
    let (status, _) = request(agent.addr, "POST", "/-/reload").await;
    assert_eq!(status, 400, "a bad configuration");
    let (_, page) = get(agent.addr, "/").await;
    assert!(
        page.contains("The last configuration reload failed") && page.contains("name"),
        "{page}"
    );
    std::fs::write(&agent.config, text).expect("fix");
    let (status, _) = request(agent.addr, "POST", "/-/reload").await;
    assert_eq!(status, 200);
    let (_, page) = get(agent.addr, "/").await;
    assert!(!page.contains("reload failed"), "{page}");
    agent.stop().await;

    // Across a restart: the first agent's rounds are still there beside the new ones. The two
    // rounds may fall in one 5-minute bucket or in several, so the counts are summed.
    let again = start(&history_config(good.addr, closed, &db)).await;
    let body = again
        .wait_for("/api/v1/probes/good/history", |s, b| {
            s == 200 && summed(b, "count") > rounds_before_restart
        })
        .await;
    assert_eq!(summed(&body, "failures"), 0, "{body}");
    again.stop().await;
}

/// The sum of one field over a history answer's points (0 when the body is not such an answer).
fn summed(body: &str, field: &str) -> u64 {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["points"]
                .as_array()
                .map(|points| points.iter().filter_map(|p| p[field].as_u64()).sum())
        })
        .unwrap_or(0)
}
