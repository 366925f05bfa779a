//! History's size per probe and its speed: `cargo bench --bench history`.
//!
//! Simulates what the database holds in its steady state for every probe: 30 days of
//! aggregates (one round in every 5-minute bucket; more rounds per bucket add no rows) and 48 h
//! of raw rounds at a 60 s interval, with one failure in every 100 rounds, written through the
//! agent's own path (`History::record`, the writer thread, one transaction a second). Prints the
//! file's size per probe, rounds written per second, and the status page's history query per
//! probe. SMTPWATCH_BENCH_PROBES sets the probe count (default 1,000). A run shorter than the
//! writer's 10-minute prune interval overstates the size per probe: the raw rounds of all 30
//! days are in the file before the first prune frees them (10,000 probes, about an hour, is
//! what an agent's file looks like).

use std::time::{Duration, Instant, SystemTime};

use smtpwatch::history::{Entry, History};
use smtpwatch::report::Status;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let probes: usize = std::env::var("SMTPWATCH_BENCH_PROBES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = std::env::temp_dir().join(format!("smtpwatch-bench-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("history.db");
    let history = History::open(&path, Duration::from_secs(30 * 86_400));
    let now = SystemTime::now();
    let names: Vec<String> = (0..probes)
        .map(|i| format!("mx{i:06}.example.net"))
        .collect();
    let mut rounds = 0u64;
    let started = Instant::now();
    let push = |name: &str, ago: u64, n: u64| {
        let failed = n % 100 == 0;
        history.record(Entry {
            probe: name.to_string(),
            at: now - Duration::from_secs(ago),
            status: if failed { Status::Critical } else { Status::Ok },
            seconds: 0.004 + (n % 7) as f64 * 0.001,
            reason: failed.then(|| "banner/timeout".to_string()),
            detail: failed.then(|| {
                "127.0.0.1:25: CRITICAL: no complete reply before the deadline\n".repeat(8)
            }),
        });
    };
    // Older than 48 h: one round per 5-minute bucket (aggregates only, once pruned).
    for ago in (48 * 3600..30 * 86_400u32)
        .step_by(300)
        .rev()
        .map(u64::from)
    {
        for name in &names {
            rounds += 1;
            push(name, ago, rounds);
        }
        if rounds % 50_000 < probes as u64 {
            history.flush(Duration::from_secs(600));
        }
    }
    // The last 48 h: a round a minute.
    for ago in (1..48 * 3600u32).step_by(60).rev().map(u64::from) {
        for name in &names {
            rounds += 1;
            push(name, ago, rounds);
        }
        if rounds % 50_000 < probes as u64 {
            history.flush(Duration::from_secs(600));
        }
    }
    assert!(history.flush(Duration::from_secs(600)), "written");
    let seconds = started.elapsed().as_secs_f64();
    history.close(Duration::from_secs(60));
    // Reopening prunes (the writer prunes at start) and checkpoints the WAL into the file.
    let reopened = History::open(&path, Duration::from_secs(30 * 86_400));
    reopened.flush(Duration::from_secs(60));
    let query = Instant::now();
    let sample: Vec<&str> = names.iter().take(100).map(String::as_str).collect();
    let overviews = reopened.overviews(&sample, SystemTime::now());
    let per_query = query.elapsed().as_secs_f64() / sample.len() as f64;
    assert_eq!(overviews.len(), sample.len());
    reopened.close(Duration::from_secs(60));
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let wal = dir.join("history.db-wal");
    let bytes = size(&path) + size(&wal);
    println!("== history: {probes} probes, 30 days of aggregates + 48 h of raw rounds at 60 s");
    println!(
        "  {rounds} rounds written in {seconds:.1} s ({:.0} rounds/s through the writer thread)",
        rounds as f64 / seconds
    );
    println!(
        "  file {:.1} MiB (WAL {:.1} MiB): {:.0} KiB per probe; 10,000 probes: {:.2} GiB",
        bytes as f64 / 1048576.0,
        size(&wal) as f64 / 1048576.0,
        bytes as f64 / probes as f64 / 1024.0,
        bytes as f64 / probes as f64 * 10_000.0 / 1073741824.0
    );
    println!(
        "  status page history per probe (uptime 24h/7d/30d, recent results, 24 h points): {:.2} ms",
        per_query * 1e3
    );
    let _ = std::fs::remove_dir_all(&dir);
}
