//! The dashboard and the alerting rules against the real Prometheus that scrapes the agent
//! (tests/run.sh): `promtool check rules` and `promtool test rules`, and every PromQL
//! expression of every dashboard panel (and template variable) must parse and return data.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::agent::query;

fn dashboards() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dashboards())
        .output()
        .expect("promtool (package prometheus)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{said}");
    assert!(said.contains("SUCCESS"), "promtool {args:?}:\n{said}");
}

#[test]
#[ignore = "end-to-end: run through tests/run.sh"]
fn alerting_rules_check_and_pass_their_unit_tests() {
    promtool(&["check", "rules", "smtpwatch-rules.yml"]);
    promtool(&["test", "rules", "smtpwatch-rules.test.yml"]);
}

/// Grafana's variables replaced by what "All" and a short range mean.
fn as_promql(expr: &str) -> String {
    let expr = expr
        .replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$probe", ".*")
        .replace("$address", ".*");
    // label_values(SELECTOR, LABEL) is Grafana's; its PromQL equivalent:
    match expr
        .strip_prefix("label_values(")
        .and_then(|rest| rest.strip_suffix(')'))
        .and_then(|inner| inner.rsplit_once(','))
    {
        Some((selector, label)) => format!("count by ({}) ({selector})", label.trim()),
        None => expr,
    }
}

#[test]
#[ignore = "end-to-end: run through tests/run.sh"]
fn every_dashboard_query_returns_data_from_the_real_prometheus() {
    let text = std::fs::read_to_string(dashboards().join("smtpwatch.json")).expect("dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("dashboard JSON");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = variables
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["datasource", "probe", "address"]);
    assert_eq!(variables[0]["type"], "datasource");
    assert_eq!(variables[0]["query"], "prometheus");

    let mut exprs = Vec::new();
    for v in &variables[1..] {
        exprs.push((
            format!("variable {}", v["name"]),
            v["definition"].as_str().unwrap_or("").to_string(),
        ));
    }
    let panels = dashboard["panels"].as_array().cloned().unwrap_or_default();
    assert!(panels.len() >= 10);
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().unwrap_or("").to_string();
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().cloned().unwrap_or_default();
        assert!(!targets.is_empty(), "{title} has no query");
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
            exprs.push((title.clone(), t["expr"].as_str().unwrap_or("").to_string()));
        }
    }
    for (what, expr) in exprs {
        let promql = as_promql(&expr);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            // `query` asserts that Prometheus accepted (parsed) the expression.
            let result = query(&promql);
            if !result.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "{what}: no data for {promql}");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
