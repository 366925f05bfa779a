//! History against a real SQLite file: what is written is what is read, aggregates, pruning,
//! a restart, and a damaged file set aside.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::store::Store;
use super::*;
use crate::report::Status;

fn dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("smtpwatch-history-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// A fixed "now", on a 5-minute boundary, so bucket arithmetic in the tests is exact.
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn entry(probe: &str, ago_secs: u64, status: Status, ms: u64) -> Entry {
    let failed = status != Status::Ok;
    Entry {
        probe: probe.into(),
        at: now() - Duration::from_secs(ago_secs),
        status,
        seconds: ms as f64 / 1000.0,
        reason: failed.then(|| format!("connect/refused-{ago_secs}")),
        detail: failed.then(|| format!("detail of {ago_secs}")),
    }
}

const DEFAULT_RETENTION: Duration = Duration::from_secs(30 * 86_400);
const FLUSH: Duration = Duration::from_secs(10);

#[test]
fn rounds_become_uptime_recent_results_and_points() {
    let path = dir("overview").join("h.db");
    let history = History::open(&path, DEFAULT_RETENTION);
    // Within the last 24 h: 8 rounds, 3 critical, 1 warning (a warning counts as up).
    let rounds = [
        (3_000, Status::Ok, 10),
        (2_400, Status::Ok, 30),
        (1_800, Status::Critical, 50),
        (1_200, Status::Warning, 20),
        (900, Status::Ok, 20),
        (600, Status::Ok, 20),
        (300, Status::Critical, 40),
        (60, Status::Critical, 40),
    ];
    for (ago, status, ms) in rounds {
        history.record(entry("a", ago, status, ms));
    }
    // Two days ago: counts for 7 d and 30 d, not for 24 h.
    history.record(entry("a", 2 * 86_400, Status::Critical, 10));
    history.record(entry("b", 100, Status::Ok, 5));
    assert!(history.flush(FLUSH));
    let all = history.overviews(&["a", "b", "never"], now());
    assert!(!all.contains_key("never"));
    let a = &all["a"];
    assert_eq!(a.uptime[0], Some(5.0 / 8.0));
    assert_eq!(a.uptime[1], Some(5.0 / 9.0));
    assert_eq!(a.uptime[2], Some(5.0 / 9.0));
    assert_eq!(a.recent.len(), 9);
    assert_eq!(a.recent.last().map(|r| r.1), Some(Status::Critical));
    assert_eq!(a.recent[0].0, now() - Duration::from_secs(2 * 86_400));
    assert_eq!(
        a.failing_since,
        Some(now() - Duration::from_secs(300)),
        "the current run of failures began with the round 300 s ago"
    );
    assert_eq!(all["b"].failing_since, None);
    assert_eq!(all["b"].uptime[0], Some(1.0));
    // 24 h in 5-minute points: the two rounds 60 s and 300 s ago share the last one.
    let last = a.day.last().expect("points");
    assert_eq!((last.count, last.failures), (2, 2));
    let total: u64 = a.day.iter().map(|p| p.count).sum();
    assert_eq!(total, 8);
    let week = history.points("a", Range::Week, now());
    assert_eq!(week.iter().map(|p| p.count).sum::<u64>(), 9);
    history.close(FLUSH);
}

#[test]
fn a_point_keeps_min_avg_max_and_the_worst_reason() {
    let path = dir("point").join("h.db");
    let history = History::open(&path, DEFAULT_RETENTION);
    // Three rounds in one 5-minute bucket (now - 600 s is on a boundary).
    history.record(entry("p", 600, Status::Ok, 10));
    history.record(entry("p", 500, Status::Warning, 30));
    history.record(entry("p", 400, Status::Critical, 80));
    assert!(history.flush(FLUSH));
    let points = history.points("p", Range::Day, now());
    assert_eq!(points.len(), 1);
    let p = &points[0];
    assert_eq!((p.count, p.failures), (3, 1));
    assert!((p.min_seconds - 0.010).abs() < 1e-9);
    assert!((p.max_seconds - 0.080).abs() < 1e-9);
    assert!((p.avg_seconds - 0.040).abs() < 1e-9);
    assert_eq!(
        p.worst.as_deref(),
        Some("connect/refused-400"),
        "the critical one, not the warning"
    );
    // Hourly buckets folded into 4-hour points keep the same figures.
    let month = history.points("p", Range::Month, now());
    assert_eq!(month.len(), 1);
    assert_eq!((month[0].count, month[0].failures), (3, 1));
    assert!((month[0].avg_seconds - 0.040).abs() < 1e-9);
    assert_eq!(month[0].worst.as_deref(), Some("connect/refused-400"));
    let failures = history.failures("p", 10);
    assert_eq!(
        failures.len(),
        2,
        "the warning and the critical round, with detail"
    );
    assert_eq!(failures[0].detail, "detail of 400");
    assert_eq!(failures[0].status, Status::Critical);
    assert_eq!(failures[1].status, Status::Warning);
    history.close(FLUSH);
}

#[test]
fn pruning_keeps_48_hours_raw_the_retention_aggregated_and_20_failures() {
    let path = dir("prune").join("h.db");
    let mut store = Store::open(&path).expect("open");
    let mut batch = vec![
        entry("p", 49 * 3600, Status::Ok, 10),
        entry("p", 40 * 86_400, Status::Ok, 10),
    ];
    for i in 0..30 {
        batch.push(entry("p", 100 + i * 60, Status::Critical, 10));
    }
    store.write(&batch).expect("write");
    store.prune(now(), DEFAULT_RETENTION).expect("prune");
    drop(store);
    let history = History::open(&path, DEFAULT_RETENTION);
    assert!(history.flush(FLUSH));
    let o = &history.overviews(&["p"], now())["p"];
    assert_eq!(o.recent.len(), RECENT, "30 raw results in the last hour");
    assert!(
        o.recent.iter().all(|(_, s)| *s == Status::Critical),
        "the 49 h-old one is gone"
    );
    let month = history.points("p", Range::Month, now());
    assert_eq!(
        month.iter().map(|p| p.count).sum::<u64>(),
        31,
        "the 40 d-old bucket is gone"
    );
    assert_eq!(history.failures("p", 100).len(), 20);
    history.close(FLUSH);
}

#[test]
fn history_survives_a_restart() {
    let path = dir("restart").join("h.db");
    let first = History::open(&path, DEFAULT_RETENTION);
    first.record(entry("p", 120, Status::Critical, 10));
    first.close(FLUSH);
    let second = History::open(&path, DEFAULT_RETENTION);
    second.record(entry("p", 60, Status::Ok, 10));
    assert!(second.flush(FLUSH));
    let o = &second.overviews(&["p"], now())["p"];
    assert_eq!(o.recent.len(), 2);
    assert_eq!(o.uptime[0], Some(0.5));
    second.close(FLUSH);
}

#[test]
fn a_damaged_file_is_set_aside_and_a_fresh_one_started() {
    let dir = dir("corrupt");
    let path = dir.join("h.db");
    let garbage = b"this is not an SQLite database, just bytes\n".repeat(200);
    std::fs::write(&path, &garbage).expect("garbage");
    let history = History::open(&path, DEFAULT_RETENTION);
    history.record(entry("p", 60, Status::Ok, 10));
    assert!(history.flush(FLUSH));
    assert_eq!(history.overviews(&["p"], now())["p"].recent.len(), 1);
    let aside: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("list")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().contains(".corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read(&aside[0]).expect("read"),
        garbage,
        "kept as it was"
    );
    history.close(FLUSH);
}

#[test]
fn an_unusable_place_turns_history_off_and_nothing_panics() {
    let history = History::open(
        std::path::Path::new("/proc/smtpwatch-no/such/dir/h.db"),
        DEFAULT_RETENTION,
    );
    history.record(entry("p", 60, Status::Ok, 10));
    assert!(
        history.flush(FLUSH),
        "the writer gives up on the batch, it does not hang"
    );
    assert!(history.overviews(&["p"], now()).is_empty());
    history.close(FLUSH);
    let off = History::off();
    off.record(entry("p", 60, Status::Ok, 10));
    assert!(off.flush(FLUSH) && off.overviews(&["p"], now()).is_empty() && !off.is_on());
}
