//! A fleet end to end, in the lab of `tests/e2e/fleet-up.sh` (`SMTPWATCH_E2E_FLEET` is its
//! directory): three agents in three network namespaces with one shared configuration of 300
//! probes, a real Prometheus with the shipped rules scraping all three, and a real two-peer
//! Alertmanager cluster with a webhook receiver behind it.
//!
//! First as three shards (`run --shard I/3`): every probe runs on exactly one agent, the one
//! `config shards` names. Then as three vantage points (`run --vantage vI`, every probe on
//! each): one vantage cut off from probe mx-299's server pages nobody; two page once although
//! both peers hold the alert; when they recover, one `resolved`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::agent::{env, http_get, query_at, url_encode};
use crate::smtpwatch;

const PROMETHEUS: &str = "10.213.0.1:19090";
const PEERS: [&str; 2] = ["10.213.0.1:19301", "10.213.0.1:19302"];
const PROBES: usize = 300;
const QUORUM: &str = "SMTPProbeFailingQuorum";
/// The probe whose server (10.214.0.2) the test cuts vantages off from; the other 299 keep
/// theirs.
const CUT_PROBE: &str = "mx-299";

fn lab() -> PathBuf {
    PathBuf::from(env("SMTPWATCH_E2E_FLEET"))
}

fn namespace(i: usize) -> String {
    format!("smtpwatch-fleet-a{i}")
}

fn agent_addr(i: usize) -> String {
    format!("10.213.0.1{i}:9925")
}

/// The three agents of one phase; stopped on drop.
struct Agents(Vec<Child>);

impl Agents {
    /// Starts agent I in namespace I with the shared configuration and `flags(I)`; returns
    /// once all three are ready.
    fn start(phase: &str, flags: impl Fn(usize) -> Vec<String>) -> Agents {
        let config = lab().join("probes.toml");
        let mut agents = Agents(Vec::new());
        for i in 0..3 {
            let log = std::fs::File::create(lab().join(format!("agent-{phase}-{i}.log")))
                .expect("agent log");
            let child = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &namespace(i),
                    env!("CARGO_BIN_EXE_smtpwatch"),
                ])
                .args(["run", "--log-format", "json", "--config"])
                .arg(&config)
                .args(flags(i))
                .env_remove("SMTPWATCH_SHARD")
                .env_remove("SMTPWATCH_VANTAGE")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start an agent in its namespace");
            agents.0.push(child);
        }
        for i in 0..3 {
            let addr = agent_addr(i);
            let deadline = Instant::now() + Duration::from_secs(30);
            while std::net::TcpStream::connect(&addr).is_err()
                || http_get(&addr, "/-/ready").0 != 200
            {
                assert!(
                    Instant::now() < deadline,
                    "agent {i} ({phase}) never became ready"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        agents
    }
}

impl Drop for Agents {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Agent I's namespace without a route to the target while this lives: its probes fail with
/// `unreachable`, and Prometheus still scrapes it.
struct CutOff(usize);

impl CutOff {
    fn new(i: usize) -> CutOff {
        route(i, "add");
        CutOff(i)
    }
}

impl Drop for CutOff {
    fn drop(&mut self) {
        route(self.0, "del");
    }
}

fn route(i: usize, verb: &str) {
    let out = Command::new("ip")
        .args([
            "-n",
            &namespace(i),
            "route",
            verb,
            "unreachable",
            "10.214.0.2/32",
        ])
        .output()
        .expect("run ip");
    assert!(
        out.status.success() || verb == "del",
        "ip route {verb}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn query(promql: &str) -> Vec<(serde_json::Value, f64)> {
    query_at(PROMETHEUS, promql)
}

/// The single value of `promql`, 0 when it returns nothing.
fn scalar(promql: &str) -> f64 {
    query(promql).first().map_or(0.0, |(_, v)| *v)
}

/// Polls `check` every 500 ms until it returns Some; at most `secs` seconds.
fn wait<T>(what: &str, secs: u64, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The webhook receiver's notifications on `path` (`/oncall`, `/channel`).
fn notifications(path: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(lab().join("notifications.jsonl")).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|n| n["path"] == path)
        .map(|n| n["body"].clone())
        .collect()
}

/// How many on-call notifications with `status` each probe's group got.
fn per_group(status: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for n in notifications("/oncall")
        .iter()
        .filter(|n| n["status"] == status)
    {
        assert_eq!(
            n["groupLabels"]["alertname"], QUORUM,
            "only quorum alerts page: {n}"
        );
        let probe = n["groupLabels"]["probe"].as_str().unwrap_or("").to_string();
        *counts.entry(probe).or_insert(0) += 1;
    }
    counts
}

/// Watches for `secs` seconds (longer than the second peer's 15 s wait before it would send)
/// that the cut-off probe's group, and it alone, has exactly one on-call notification with
/// `status`.
fn exactly_once(status: &str, secs: u64) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_secs(1));
        let counts = per_group(status);
        assert_eq!(
            counts.keys().collect::<Vec<_>>(),
            [CUT_PROBE],
            "{status}: the cut-off probe's group alone"
        );
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
        assert!(twice.is_empty(), "{status} more than once: {twice:?}");
    }
}

/// The active quorum alerts one Alertmanager peer holds.
fn quorum_alerts_at(peer: &str) -> usize {
    let filter = url_encode(&format!("alertname=\"{QUORUM}\""));
    let (status, body) = http_get(peer, &format!("/api/v2/alerts?active=true&filter={filter}"));
    assert_eq!(status, 200, "{peer}: {body}");
    let alerts: serde_json::Value = serde_json::from_str(&body).expect("alerts JSON");
    alerts.as_array().map_or(0, |a| a.len())
}

#[test]
#[ignore = "needs the fleet lab started by tests/run.sh (root, network namespaces)"]
fn three_agents_shard_then_watch_from_three_vantages_and_page_on_quorum_once() {
    // Shards: the owners `config shards` prints, and Prometheus sees each probe from its owner
    // alone.
    let config = lab().join("probes.toml");
    let out = smtpwatch(&[
        "config",
        "shards",
        &config.to_string_lossy(),
        "--count",
        "3",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let owners: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(shard, name)| {
            let index: usize = shard.trim_end_matches("/3").parse().expect("shard index");
            (name.to_string(), agent_addr(index))
        })
        .collect();
    assert_eq!(owners.len(), PROBES);
    let shards = Agents::start("shards", |i| vec!["--shard".into(), format!("{i}/3")]);
    let seen = wait("every probe's result in Prometheus", 60, || {
        let series = query("smtpwatch_probe_success{vantage=\"\"} == 1");
        let probes: BTreeSet<String> = series
            .iter()
            .map(|(l, _)| l["probe"].as_str().unwrap_or("").to_string())
            .collect();
        (probes.len() == PROBES).then_some(series)
    });
    assert_eq!(seen.len(), PROBES, "no probe runs on two agents");
    for (labels, _) in &seen {
        let probe = labels["probe"].as_str().unwrap_or("");
        assert_eq!(
            labels["instance"].as_str(),
            owners.get(probe).map(String::as_str),
            "{probe} runs on its owner"
        );
    }
    assert_eq!(scalar("sum(smtpwatch_probes_owned)"), PROBES as f64);
    assert_eq!(scalar("count(smtpwatch_probes_configured == 300)"), 3.0);
    assert_eq!(scalar("count(smtpwatch_shard_info{count=\"3\"})"), 3.0);
    drop(shards);

    // Vantages: every agent runs every probe.
    let _vantages = Agents::start("vantages", |i| vec!["--vantage".into(), format!("v{i}")]);
    wait("900 successes, 300 from each vantage", 90, || {
        (scalar("count(smtpwatch_probe_success{vantage=~\"v[012]\"} == 1)") == 900.0).then_some(())
    });

    // One vantage cut off from mx-299's server: its own alerts reach the channel, nothing
    // pages.
    let cut0 = CutOff::new(0);
    wait("vantage v0 down for the cut-off probe", 60, || {
        let down = query("smtpwatch:probe_down_by_vantage == 1");
        (down.len() == 1).then_some(down)
    })
    .iter()
    .for_each(|(labels, _)| {
        assert_eq!(labels["vantage"], "v0", "{labels}");
        assert_eq!(labels["probe"], CUT_PROBE, "{labels}");
    });
    wait("v0's per-agent alert in the channel", 60, || {
        notifications("/channel")
            .iter()
            .any(|n| {
                n["status"] == "firing"
                    && n["commonLabels"]["vantage"] == "v0"
                    && n["commonLabels"]["probe"] == CUT_PROBE
            })
            .then_some(())
    });
    for _ in 0..10 {
        assert!(
            query(&format!("ALERTS{{alertname=\"{QUORUM}\"}}")).is_empty(),
            "no quorum alert, not even pending"
        );
        assert_eq!(
            scalar("max(sum by (probe) (max_over_time(smtpwatch:probe_down_by_vantage[2m])))"),
            1.0
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        notifications("/oncall").is_empty(),
        "one vantage pages nobody"
    );

    // Two cut off: the quorum alert fires, both peers hold it, its group is notified once.
    let cut1 = CutOff::new(1);
    wait("the quorum alert firing", 240, || {
        let firing = query(&format!(
            "ALERTS{{alertname=\"{QUORUM}\",alertstate=\"firing\"}}"
        ));
        (firing.len() == 1 && firing[0].0["probe"] == CUT_PROBE).then_some(())
    });
    wait("both peers holding the quorum alert", 60, || {
        PEERS.iter().all(|p| quorum_alerts_at(p) == 1).then_some(())
    });
    wait("the firing notification", 60, || {
        (!per_group("firing").is_empty()).then_some(())
    });
    exactly_once("firing", 20);
    assert!(per_group("resolved").is_empty());

    // Recovery: one resolved, and no second firing.
    drop(cut0);
    drop(cut1);
    wait("the resolved notification", 240, || {
        (!per_group("resolved").is_empty()).then_some(())
    });
    exactly_once("resolved", 20);
    exactly_once("firing", 1);
}
