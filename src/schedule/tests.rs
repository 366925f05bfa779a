//! Scheduler tests on paused tokio time: exact firing times, spreading, no overlap, the
//! concurrency limit, reloads and shutdown.

use std::collections::HashSet;
use std::sync::Mutex;

use super::*;

#[derive(Debug)]
struct TestJob {
    name: String,
    interval: Duration,
    /// How long a round takes (virtual time).
    work: Duration,
}

impl Job for TestJob {
    fn name(&self) -> &str {
        &self.name
    }
    fn interval(&self) -> Duration {
        self.interval
    }
    fn same_as(&self, other: &Self) -> bool {
        self.interval == other.interval && self.work == other.work
    }
}

fn job(name: &str, interval_s: u64, work_s: u64) -> Arc<TestJob> {
    Arc::new(TestJob {
        name: name.into(),
        interval: Duration::from_secs(interval_s),
        work: Duration::from_secs(work_s),
    })
}

/// (job name, start time since base, end time since base)
type Log = Arc<Mutex<Vec<(String, Duration, Duration)>>>;

fn recorder(base: Instant, log: Log) -> RunFn<TestJob> {
    Arc::new(move |job: Arc<TestJob>| {
        let log = log.clone();
        Box::pin(async move {
            let start = Instant::now() - base;
            tokio::time::sleep(job.work).await;
            log.lock()
                .unwrap()
                .push((job.name.clone(), start, Instant::now() - base));
        })
    })
}

fn starts(log: &Log, name: &str) -> Vec<Duration> {
    log.lock()
        .unwrap()
        .iter()
        .filter(|(n, ..)| n == name)
        .map(|(_, s, _)| *s)
        .collect()
}

fn no_lag() -> LagFn {
    Arc::new(|_| {})
}

#[tokio::test(start_paused = true)]
async fn fires_at_offset_then_every_interval() {
    let log: Log = Default::default();
    let base = Instant::now();
    let s = Scheduler::new(10, recorder(base, log.clone()), no_lag()).without_jitter();
    s.apply(vec![job("mx1", 60, 1)], 10);
    tokio::time::sleep(Duration::from_secs(200)).await;
    let off = offset("mx1", Duration::from_secs(60));
    let minute = Duration::from_secs(60);
    let want: Vec<Duration> = (0..4)
        .map(|k| off + minute * k)
        .filter(|t| *t + Duration::from_secs(1) <= Duration::from_secs(200))
        .collect();
    assert_eq!(starts(&log, "mx1"), want);
    assert!(
        off < minute && off.as_millis() % GRID.as_millis() == 0,
        "offset on the grid"
    );
}

#[tokio::test(start_paused = true)]
async fn offsets_are_stable_and_spread_evenly() {
    let interval = Duration::from_secs(60);
    assert_eq!(
        offset("primary-mx", interval),
        offset("primary-mx", interval)
    );
    let mut per_6s = [0usize; 10];
    let mut per_1s = [0usize; 60];
    for i in 0..10_000 {
        let o = offset(&format!("probe-{i}"), interval);
        per_6s[(o.as_secs() / 6) as usize] += 1;
        per_1s[o.as_secs() as usize] += 1;
    }
    for count in per_6s {
        assert!(
            (850..=1150).contains(&count),
            "10,000 probes over ten 6 s slices: {per_6s:?}"
        );
    }
    assert!(
        per_1s.iter().all(|c| *c < 250),
        "no second holds more than 2.5%: {per_1s:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn jitter_is_small_and_bounded() {
    let interval = Duration::from_secs(60);
    for k in 0..1000 {
        assert!(jitter("mx1", k, interval) < Duration::from_millis(600));
    }
    let hour = Duration::from_secs(3600);
    assert!(
        (0..1000).all(|k| jitter("mx1", k, hour) < Duration::from_secs(1)),
        "capped at 1 s"
    );
    let distinct: std::collections::BTreeSet<_> =
        (0..1000).map(|k| jitter("mx1", k, interval)).collect();
    // 600 ms of jitter on a 10 ms grid: sixty possible values, nearly all of them used.
    assert!(
        (50..=60).contains(&distinct.len()),
        "jitter varies between slots: {distinct:?}"
    );
    assert!(
        distinct
            .iter()
            .all(|j| j.as_millis() % GRID.as_millis() == 0),
        "on the grid"
    );
}

#[tokio::test(start_paused = true)]
async fn a_round_longer_than_the_interval_never_overlaps_itself() {
    let log: Log = Default::default();
    let base = Instant::now();
    let s = Scheduler::new(10, recorder(base, log.clone()), no_lag()).without_jitter();
    s.apply(vec![job("slow", 10, 25)], 10);
    tokio::time::sleep(Duration::from_secs(100)).await;
    let off = offset("slow", Duration::from_secs(10));
    let rounds = log.lock().unwrap().clone();
    for pair in rounds.windows(2) {
        assert!(
            pair[1].1 >= pair[0].2,
            "round started before the previous ended: {rounds:?}"
        );
    }
    // 25 s of work in a 10 s interval: slots k, k+3, k+6 (the missed ones are skipped).
    let ten = Duration::from_secs(10);
    assert_eq!(
        starts(&log, "slow")[..3],
        [off, off + ten * 3, off + ten * 6]
    );
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_limit_holds_and_waiting_is_lag() {
    let log: Log = Default::default();
    let lags: Arc<Mutex<Vec<Duration>>> = Default::default();
    let lag_sink = lags.clone();
    let base = Instant::now();
    let on_lag: LagFn = Arc::new(move |d| lag_sink.lock().unwrap().push(d));
    let s = Scheduler::new(1, recorder(base, log.clone()), on_lag).without_jitter();
    let jobs: Vec<_> = (0..5).map(|i| job(&format!("j{i}"), 10, 3)).collect();
    s.apply(jobs, 1);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut rounds = log.lock().unwrap().clone();
    rounds.sort_by_key(|r| r.1);
    for pair in rounds.windows(2) {
        assert!(
            pair[1].1 >= pair[0].2,
            "two rounds overlapped with a limit of 1: {pair:?}"
        );
    }
    // 5 jobs × 3 s in every 10 s cannot all start on time with one permit.
    assert!(lags
        .lock()
        .unwrap()
        .iter()
        .any(|l| *l >= Duration::from_secs(1)));
}

#[tokio::test(start_paused = true)]
async fn reload_keeps_unchanged_restarts_changed_and_stops_removed() {
    let log: Log = Default::default();
    let base = Instant::now();
    let s = Scheduler::new(10, recorder(base, log.clone()), no_lag()).without_jitter();
    s.apply(
        vec![
            job("keep", 60, 1),
            job("change", 60, 1),
            job("remove", 60, 1),
        ],
        10,
    );
    tokio::time::sleep(Duration::from_secs(61)).await;
    let before = log.lock().unwrap().len();
    assert_eq!(before, 3);
    s.apply(
        vec![job("keep", 60, 1), job("change", 30, 1), job("new", 60, 1)],
        10,
    );
    assert_eq!(s.job_names(), ["change", "keep", "new"]);
    tokio::time::sleep(Duration::from_secs(120)).await;
    let keep = starts(&log, "keep");
    let off = offset("keep", Duration::from_secs(60));
    assert_eq!(
        keep,
        [
            off,
            off + Duration::from_secs(60),
            off + Duration::from_secs(120)
        ]
    );
    assert_eq!(starts(&log, "remove").len(), 1, "removed job stopped");
    assert!(starts(&log, "new").len() >= 2);
    assert!(
        starts(&log, "change").len() >= 4,
        "changed job runs on its new 30 s interval"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_lets_rounds_in_flight_finish_within_the_grace() {
    let log: Log = Default::default();
    let base = Instant::now();
    let s = Scheduler::new(10, recorder(base, log.clone()), no_lag()).without_jitter();
    let off = offset("long", Duration::from_secs(60));
    s.apply(vec![job("long", 60, 5)], 10);
    tokio::time::sleep_until(base + off + Duration::from_secs(1)).await;
    assert!(
        s.shutdown(Duration::from_secs(10)).await,
        "finished within the grace"
    );
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "the round in flight completed"
    );

    let s = Scheduler::new(10, recorder(base, log.clone()), no_lag()).without_jitter();
    s.apply(vec![job("long", 60, 50)], 10);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert!(
        !s.shutdown(Duration::from_secs(2)).await,
        "cancelled after the grace"
    );
    assert_eq!(
        log.lock().unwrap().len(),
        1,
        "the cancelled round never completed"
    );
}

/// The most rounds that overlapped at any moment in `log`.
fn peak_overlap(log: &Log) -> usize {
    let rounds = log.lock().unwrap().clone();
    rounds
        .iter()
        .map(|(_, start, _)| {
            rounds
                .iter()
                .filter(|(_, s, e)| s <= start && start < e)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn reloads_that_change_the_limit_under_load_never_add_permits() {
    let log: Log = Default::default();
    let base = Instant::now();
    let s = Scheduler::new(2, recorder(base, log.clone()), no_lag()).without_jitter();
    // Rounds of 8 s every 10 s: the permits are nearly always held.
    let jobs = || {
        (0..6)
            .map(|i| job(&format!("j{i}"), 10, 8))
            .collect::<Vec<_>>()
    };
    s.apply(jobs(), 2);
    for concurrency in [1, 2, 1, 2] {
        tokio::time::sleep(Duration::from_secs(15)).await;
        s.apply(jobs(), concurrency);
    }
    log.lock().unwrap().clear();
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(
        peak_overlap(&log),
        2,
        "the limit is 2 after 2 → 1 → 2 → 1 → 2"
    );
}

#[tokio::test(start_paused = true)]
async fn a_job_changed_twice_before_it_runs_fires_once_per_slot() {
    let log: Log = Default::default();
    let base = Instant::now();
    let s = Scheduler::new(10, recorder(base, log.clone()), no_lag()).without_jitter();
    s.apply(vec![job("a", 60, 1), job("b", 60, 1)], 10);
    // Changed (new work time), changed back, removed and re-added: each leaves a stale start
    // in the heap, and none of them may fire.
    s.apply(vec![job("a", 60, 2), job("b", 60, 1)], 10);
    s.apply(vec![job("a", 60, 1), job("b", 60, 1)], 10);
    s.apply(vec![job("b", 60, 1)], 10);
    s.apply(vec![job("a", 60, 1), job("b", 60, 1)], 10);
    tokio::time::sleep(Duration::from_secs(200)).await;
    let off = offset("a", Duration::from_secs(60));
    let want: Vec<Duration> = (0..4)
        .map(|k| off + Duration::from_secs(60) * k)
        .filter(|t| *t + Duration::from_secs(1) <= Duration::from_secs(200))
        .collect();
    assert_eq!(starts(&log, "a"), want);
    assert_eq!(s.job_names(), ["a", "b"]);
}

#[tokio::test(start_paused = true)]
async fn a_reload_larger_than_a_batch_keeps_changes_and_removes_exactly() {
    let log: Log = Default::default();
    let base = Instant::now();
    let s = Scheduler::new(10_000, recorder(base, log.clone()), no_lag()).without_jitter();
    let count = APPLY_BATCH * 3 + 7;
    let names: Vec<String> = (0..count).map(|i| format!("j{i:05}")).collect();
    s.apply(names.iter().map(|n| job(n, 60, 0)).collect(), 10_000);
    tokio::time::sleep(Duration::from_secs(61)).await;
    let first: HashSet<String> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(n, ..)| n.clone())
        .collect();
    assert_eq!(first.len(), count, "each ran");
    // Keep the first third, move the second to 30 s, drop the rest, add one.
    let third = count / 3;
    let mut next: Vec<Arc<TestJob>> = Vec::new();
    next.extend(names[..third].iter().map(|n| job(n, 60, 0)));
    next.extend(names[third..2 * third].iter().map(|n| job(n, 30, 0)));
    next.push(job("late", 60, 0));
    // As a reload does it: a batch at a time, with the event loop running in between.
    s.apply_in_steps(next, 10_000).await;
    let mut want: Vec<String> = names[..2 * third].to_vec();
    want.push("late".into());
    want.sort();
    assert_eq!(s.job_names(), want);
    let from = Instant::now() - base + Duration::from_secs(1);
    tokio::time::sleep(Duration::from_secs(120)).await;
    // Starts in one minute, a second after the reload.
    let ran = |n: &str| {
        let window = from..from + Duration::from_secs(60);
        starts(&log, n)
            .iter()
            .filter(|t| window.contains(*t))
            .count()
    };
    assert_eq!(ran(&names[0]), 1, "kept: once a minute");
    assert_eq!(ran(&names[third]), 2, "changed: every 30 s");
    assert_eq!(ran(&names[count - 1]), 0, "removed");
    assert_eq!(ran("late"), 1, "added");
}

#[tokio::test(flavor = "current_thread")]
async fn a_reload_in_steps_lets_the_event_loop_run_between_batches() {
    let base = Instant::now();
    let s = Scheduler::new(10, recorder(base, Log::default()), no_lag());
    let count = APPLY_BATCH * 4;
    let turns = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let other = {
        let turns = turns.clone();
        tokio::spawn(async move {
            loop {
                turns.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        })
    };
    // Let the other task start before the reload.
    tokio::task::yield_now().await;
    let before = turns.load(std::sync::atomic::Ordering::Relaxed);
    let jobs = (0..count)
        .map(|i| job(&format!("j{i:05}"), 60, 0))
        .collect();
    s.apply_in_steps(jobs, 10).await;
    let during = turns.load(std::sync::atomic::Ordering::Relaxed) - before;
    other.abort();
    assert!(
        during >= 4,
        "the other task ran {during} times during four batches"
    );
    assert_eq!(s.job_names().len(), count);
}

#[tokio::test(start_paused = true)]
async fn at_start_every_job_runs_within_the_first_round_window_then_keeps_its_phase() {
    let log: Log = Default::default();
    let base = Instant::now();
    let s = Scheduler::new(100, recorder(base, log.clone()), no_lag())
        .without_jitter()
        .with_quick_first_rounds();
    let interval = Duration::from_secs(300);
    let names: Vec<String> = (0..40).map(|i| format!("mx{i}")).collect();
    s.apply(names.iter().map(|n| job(n, 300, 0)).collect(), 100);
    tokio::time::sleep(Duration::from_secs(700)).await;
    let mut quick = 0;
    for name in &names {
        let off = offset(name, interval);
        let got = starts(&log, name);
        assert!(
            got[0] <= FIRST_ROUND_WINDOW,
            "{name}: first round at {:?}",
            got[0]
        );
        let regular: Vec<Duration> = (0..3)
            .map(|k| off + interval * k)
            .filter(|t| *t <= Duration::from_secs(699))
            .collect();
        if off > FIRST_ROUND_WINDOW {
            quick += 1;
            assert_eq!(
                got[0],
                offset(name, FIRST_ROUND_WINDOW),
                "{name}: spread over the window"
            );
            assert_eq!(got[1..], regular[..], "{name}: then its own phase");
        } else {
            assert_eq!(
                got, regular,
                "{name}: a first slot inside the window is not doubled"
            );
        }
    }
    assert!(
        quick > 30,
        "most of 40 offsets in 300 s fall beyond 10 s: {quick}"
    );
    // A job a reload adds waits for its own slot.
    s.apply(vec![job("late", 300, 0)], 100);
    let added_at = Instant::now() - base;
    tokio::time::sleep(Duration::from_secs(301)).await;
    let late = starts(&log, "late");
    assert_eq!(late.len(), 1);
    let off = offset("late", interval);
    assert_eq!(
        (late[0].as_nanos() - off.as_nanos()) % interval.as_nanos(),
        0,
        "{late:?} after {added_at:?}"
    );
}
