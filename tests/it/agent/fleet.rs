//! A shard of a fleet: the agent runs exactly the probes rendezvous hashing gives it, says so
//! on /metrics and the status page, names its vantage in every report, and `run --shard` / SMTPWATCH_SHARD are covered in
//! `smtpwatch::cli`'s precedence (flag, variable, file).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_runs_its_own_probes_and_says_which_shard_it_is() {
    let closed = closed_port();
    let mut text = "[agent]\nehlo_name = \"probe.test\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nshard = \"1/3\"\nvantage = \"eu-1\"\n".to_string();
    let names: Vec<String> = (0..30).map(|i| format!("p{i}")).collect();
    for name in &names {
        text.push_str(&format!(
            "[[probe]]\nname = \"{name}\"\ntarget = \"127.0.0.1:{closed}\"\n"
        ));
    }
    let mine: Vec<&String> = names
        .iter()
        .filter(|n| smtpwatch::shard::owner(n, 3) == 1)
        .collect();
    assert!(!mine.is_empty() && mine.len() < names.len());
    let agent = start(&text).await;
    let m = agent
        .metrics_when(|m| m.contains("smtpwatch_probes_owned"))
        .await;
    assert_eq!(
        sample(&m, "smtpwatch_shard_info", &["index=\"1\"", "count=\"3\""]),
        Some(1.0)
    );
    assert_eq!(sample(&m, "smtpwatch_probes_configured", &[]), Some(30.0));
    assert_eq!(
        sample(&m, "smtpwatch_probes_owned", &[]),
        Some(mine.len() as f64)
    );
    let (_, api) = get(agent.addr, "/api/v1/probes").await;
    let api: serde_json::Value = serde_json::from_str(&api).expect("json");
    let running: Vec<String> = api["probes"]
        .as_array()
        .expect("probes")
        .iter()
        .map(|p| p["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        running.iter().collect::<Vec<_>>(),
        mine,
        "exactly this shard's probes, in file order"
    );
    let last = agent
        .wait_for(&format!("/probes/{}/last?format=json", mine[0]), |s, _| {
            s == 200
        })
        .await;
    let report: serde_json::Value = serde_json::from_str(last.trim()).expect("json");
    assert_eq!(
        report["vantage"], "eu-1",
        "the ProbeReport names the vantage"
    );
    assert_eq!(report["probe"], mine[0].as_str());
    let (_, adhoc) = get(
        agent.addr,
        &format!("/probe?target=127.0.0.1:{closed}&format=json"),
    )
    .await;
    let adhoc: serde_json::Value = serde_json::from_str(adhoc.trim()).expect("json");
    assert_eq!(
        adhoc["vantage"], "eu-1",
        "so does an ad-hoc probe's: {adhoc}"
    );
    let probed = format!("probe=\"{}\"", mine[0]);
    let m = agent.metrics_when(|m| m.contains(&probed)).await;
    let series = m
        .lines()
        .find(|l| l.starts_with("smtpwatch_probe_success{") && l.contains(&probed))
        .unwrap_or_default();
    assert!(
        series.contains("vantage=\"eu-1\""),
        "series carry the vantage: {series}"
    );
    let (_, page) = get(agent.addr, "/").await;
    assert!(
        page.contains(&format!(
            "shard 1/3 (from 0): {} of the configuration's 30 probes",
            mine.len()
        )),
        "{page}"
    );
    agent.stop().await;
}

/// One configuration file for a whole fleet: the command line's shard and vantage win over the
/// file's, and keep winning after a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_placement_overrides_the_files_shard_and_vantage_across_a_reload() {
    let closed = closed_port();
    let mut text = "[agent]\nehlo_name = \"probe.test\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n\
                    enable_lifecycle = true\nshard = \"0/2\"\nvantage = \"from-file\"\n"
        .to_string();
    let names: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
    for name in &names {
        text.push_str(&format!(
            "[[probe]]\nname = \"{name}\"\ntarget = \"127.0.0.1:{closed}\"\n"
        ));
    }
    let mine: Vec<&String> = names
        .iter()
        .filter(|n| smtpwatch::shard::owner(n, 3) == 2)
        .collect();
    assert!(!mine.is_empty());
    let placement = smtpwatch::agent::Placement {
        shard: Some("2/3".parse().expect("shard")),
        vantage: Some("from-flag".to_string()),
    };
    let agent = launch_placed(&text, placement).await;
    agent.wait_for("/-/ready", |status, _| status == 200).await;
    for round in ["at start", "after a reload"] {
        let m = agent
            .metrics_when(|m| mine.iter().all(|n| m.contains(&format!("probe=\"{n}\""))))
            .await;
        assert_eq!(
            sample(&m, "smtpwatch_shard_info", &["index=\"2\"", "count=\"3\""]),
            Some(1.0),
            "{round}"
        );
        assert_eq!(
            sample(&m, "smtpwatch_probes_owned", &[]),
            Some(mine.len() as f64),
            "{round}"
        );
        let series: Vec<&str> = m
            .lines()
            .filter(|l| l.starts_with("smtpwatch_probe_success{"))
            .collect();
        assert_eq!(series.len(), mine.len(), "{round}: {series:?}");
        assert!(
            series.iter().all(|l| l.contains("vantage=\"from-flag\"")),
            "{round}: {series:?}"
        );
        let (_, page) = get(agent.addr, "/").await;
        assert!(
            page.contains("from-flag") && !page.contains("from-file"),
            "{round}"
        );
        let (status, _) = request(agent.addr, "POST", "/-/reload").await;
        assert_eq!(status, 200);
    }
    agent.stop().await;
}
