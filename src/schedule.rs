//! The scheduler: one timer for all probes, spread over the interval, under a global limit.
//!
//! - A probe fires at `base + offset + k × interval (+ jitter)`, where `offset` is a stable hash
//!   of its name modulo the interval (on a 10 ms [`GRID`]), so 100,000 probes spread evenly
//!   instead of firing at once, and a restart keeps each probe's phase. Jitter (at most 1% of the
//!   interval, capped at 1 s, also on the grid and derived from the name and slot) breaks up
//!   probes whose hashes collide.
//! - A probe never overlaps itself: the next slot is the first one after the round finished
//!   (missed slots are skipped, never queued).
//! - At most `concurrency` rounds run at once; waiting for a permit shows up as schedule lag
//!   (actual start − planned start), which the caller exports.
//! - [`Scheduler::apply`] swaps the job set on reload: unchanged jobs keep running untouched,
//!   changed ones restart, removed ones stop.
//!
//! - One driver task holds every probe's next start in a heap and spawns a task per round only
//!   when it is due, so an idle probe costs a heap entry and a table slot (about a hundred
//!   bytes), not a task of its own with its timer and cancellation tokens (about two
//!   kilobytes): what lets 100,000 probes fit in the agent's memory budget.
//!
//! Time comes from `tokio::time`, so tests drive it with `pause()`/`advance()`.

use std::cmp::Reverse;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::table::Table;

use crate::limit::Limit;

/// Jobs a reload compares and places per hold of the table's lock.
const APPLY_BATCH: usize = 1024;

/// At start, a job whose first slot is further away than this runs once within it first, so
/// the status page has results within seconds whatever the intervals; the window grows by
/// [`FIRST_ROUND_PER_JOB`] per job beyond 10,000 (at most 1,000 first rounds a second).
pub const FIRST_ROUND_WINDOW: Duration = Duration::from_secs(10);
const FIRST_ROUND_PER_JOB: Duration = Duration::from_millis(1);

/// A boxed future, for the run function.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What the scheduler needs to know about a job.
pub trait Job: Send + Sync + 'static {
    /// Stable unique name (the offset comes from it).
    fn name(&self) -> &str;
    /// How often to run.
    fn interval(&self) -> Duration;
    /// Whether `other` is the same job (unchanged by a reload).
    fn same_as(&self, other: &Self) -> bool;
}

/// Runs one round of a job.
pub type RunFn<J> = Arc<dyn Fn(Arc<J>) -> BoxFuture + Send + Sync>;
/// Receives each round's schedule lag.
pub type LagFn = Arc<dyn Fn(Duration) + Send + Sync>;

/// A stable hash of `name` under `seed` (the same on every build and machine).
fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    crate::stable_hash::fnv1a(crate::stable_hash::FNV_OFFSET ^ seed, bytes)
}

/// Start times fall on a grid of this step, so probes due within the same 10 ms start together
/// and share their wake-ups (on some kernels, gVisor here, waking an idle process costs more CPU
/// than a plaintext probe's own work). The step is also the schedule lag it costs: at 100,000
/// probes a minute, 17 probes share a step and the last of them starts a couple of
/// milliseconds after its slot; a 100 ms grid made that 170 probes and 15 ms.
pub const GRID: Duration = Duration::from_millis(10);

/// The stable start offset of `name` within `interval`, on the [`GRID`].
pub fn offset(name: &str, interval: Duration) -> Duration {
    let step = GRID.as_millis() as u64;
    let slots = (interval.as_millis() as u64 / step).max(1);
    Duration::from_millis(fnv1a(name.as_bytes(), 0) % slots * step)
}

/// The jitter of slot `k` of `name`: at most 1% of the interval, capped at 1 s.
pub fn jitter(name: &str, k: u64, interval: Duration) -> Duration {
    let step = GRID.as_millis() as u64;
    let slots = (interval / 100).min(Duration::from_secs(1)).as_millis() as u64 / step;
    if slots == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(fnv1a(name.as_bytes(), k.wrapping_add(1)) % slots * step)
}

/// When slot `k` of `job` starts.
fn planned<J: Job>(job: &J, first: Instant, k: u64, jitter: bool) -> Instant {
    let interval = job.interval().max(Duration::from_millis(1));
    let jit = if jitter {
        self::jitter(job.name(), k, interval)
    } else {
        Duration::ZERO
    };
    let slot = (interval.as_nanos() * u128::from(k)).min(u128::from(u64::MAX));
    first + Duration::from_nanos(slot as u64) + jit
}

/// What the driver and the round tasks share.
struct Shared<J> {
    table: Mutex<Table<J>>,
    news: Notify,
    base: Instant,
    jitter: bool,
    /// Whether the first job set's jobs run once within the first-round window.
    quick_first_rounds: bool,
    permits: Limit,
    run: RunFn<J>,
    on_lag: LagFn,
    stop: CancellationToken,
    kill: CancellationToken,
    rounds: TaskTracker,
}

impl<J: Job> Shared<J> {
    fn table(&self) -> MutexGuard<'_, Table<J>> {
        match self.table.lock() {
            Ok(t) => t,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Wakes the driver if `at` comes before the wake-up it planned.
    fn tell(&self, table: &Table<J>, at: Instant) {
        if table.wake_at.is_none_or(|w| at < w) {
            self.news.notify_one();
        }
    }
}

/// The running schedule (a handle: clones share it).
pub struct Scheduler<J: Job> {
    shared: Arc<Shared<J>>,
    driver: TaskTracker,
}

impl<J: Job> Clone for Scheduler<J> {
    fn clone(&self) -> Self {
        Scheduler {
            shared: self.shared.clone(),
            driver: self.driver.clone(),
        }
    }
}

impl<J: Job> Scheduler<J> {
    /// A scheduler whose slots count from now; its driver starts with the first
    /// [`Scheduler::apply`] (which needs a tokio runtime).
    pub fn new(concurrency: usize, run: RunFn<J>, on_lag: LagFn) -> Self {
        let shared = Arc::new(Shared {
            table: Mutex::new(Table::new()),
            news: Notify::new(),
            base: Instant::now(),
            jitter: true,
            quick_first_rounds: false,
            permits: Limit::new(concurrency.max(1)),
            run,
            on_lag,
            stop: CancellationToken::new(),
            kill: CancellationToken::new(),
            rounds: TaskTracker::new(),
        });
        Scheduler {
            shared,
            driver: TaskTracker::new(),
        }
    }

    /// Without jitter (tests that assert exact firing times); before the first `apply`.
    pub fn without_jitter(mut self) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.jitter = false;
        }
        self
    }

    /// The first job set's jobs run once within [`FIRST_ROUND_WINDOW`] (the agent: results
    /// on the status page within seconds); before the first `apply`.
    pub fn with_quick_first_rounds(mut self) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.quick_first_rounds = true;
        }
        self
    }

    /// Names of the running jobs.
    pub fn job_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.shared.table().by_name.keys().cloned().collect();
        names.sort();
        names
    }

    /// Replaces the job set: unchanged jobs keep their slots (and a round in flight goes on),
    /// changed ones restart at their next slot, removed ones stop (a round in flight is
    /// cancelled).
    pub fn apply(&self, jobs: Vec<Arc<J>>, concurrency: usize) {
        self.begin_apply(concurrency, jobs.len());
        let mut jobs = jobs.into_iter();
        while self.place(&mut jobs) {}
        let mut from = 0;
        while let Some(next) = self.remove_unmarked(from) {
            from = next;
        }
    }

    /// [`Scheduler::apply`] a batch at a time, letting the driver and the rounds run between
    /// batches: what a reload does on the event loop. The driver takes the table's lock for
    /// every start, so a reload must take it from the same thread: from a thread of its own
    /// (which the kernel may set aside while it holds the lock, or which takes it back before
    /// the woken driver can), a 100,000-probe reload kept probes waiting for up to ~90 ms.
    pub async fn apply_in_steps(&self, jobs: Vec<Arc<J>>, concurrency: usize) {
        self.begin_apply(concurrency, jobs.len());
        let mut jobs = jobs.into_iter();
        while self.place(&mut jobs) {
            tokio::task::yield_now().await;
        }
        let mut from = 0;
        while let Some(next) = self.remove_unmarked(from) {
            from = next;
            tokio::task::yield_now().await;
        }
    }

    /// Sets the limit, starts the driver the first time, and opens a new job set of `count`
    /// jobs.
    fn begin_apply(&self, concurrency: usize, count: usize) {
        self.shared.permits.resize(concurrency);
        if self.driver.is_empty() && !self.driver.is_closed() {
            self.driver.spawn(drive(self.shared.clone()));
            self.driver.close();
        }
        let mut table = self.shared.table();
        table.applies += 1;
        if self.shared.quick_first_rounds {
            table.first_window = FIRST_ROUND_WINDOW.max(FIRST_ROUND_PER_JOB * count as u32);
        }
    }

    /// Places up to [`APPLY_BATCH`] of `jobs` in the table and marks them as in the job set:
    /// a job unchanged from the one under its name stays as it is (and the new copy is
    /// dropped here, a batch at a time: 100,000 of them at once is a long pause). Returns
    /// whether there may be more. The driver takes the table's lock for every start: comparing
    /// 100,000 jobs in one hold kept it from starting probes for ~50 ms; a batch at a time, it
    /// waits ~0.5 ms.
    fn place(&self, jobs: &mut impl Iterator<Item = Arc<J>>) -> bool {
        let batch: Vec<Arc<J>> = jobs.take(APPLY_BATCH).collect();
        let shared = &self.shared;
        let now = Instant::now();
        let mut table = shared.table();
        let applies = table.applies;
        let mut earliest: Option<Instant> = None;
        for job in &batch {
            let same = table
                .by_name
                .get(job.name())
                .copied()
                .and_then(|i| table.slots.get_mut(i as usize)?.entry.as_mut())
                .filter(|e| e.job.same_as(job));
            if let Some(entry) = same {
                entry.applied = applies;
                continue;
            }
            table.remove(job.name());
            let interval = job.interval().max(Duration::from_millis(1));
            let first = shared.base + offset(job.name(), interval);
            let k = slot_after(first, interval, now, true);
            let mut at = planned(&**job, first, k, shared.jitter);
            // The first job set: a first slot beyond the window is preceded by a round within
            // it, spread over the window the same way slots spread over an interval.
            let window = interval.min(table.first_window);
            if applies == 1 && !window.is_zero() && at > now + window {
                at = now + offset(job.name(), window);
            }
            table.insert(job.name().to_string(), job.clone(), first, at);
            earliest = Some(earliest.map_or(at, |e| e.min(at)));
        }
        if let Some(at) = earliest {
            shared.tell(&table, at);
        }
        drop(table);
        batch.len() == APPLY_BATCH
    }

    /// Removes the jobs that the job set being applied did not mark, among [`APPLY_BATCH`]
    /// places of the table from place `from`; returns where to go on, or None when the table
    /// has been walked.
    fn remove_unmarked(&self, from: usize) -> Option<usize> {
        let mut table = self.shared.table();
        let applies = table.applies;
        let end = (from + APPLY_BATCH).min(table.slots.len());
        let gone: Vec<String> = table
            .slots
            .get(from..end)?
            .iter()
            .filter_map(|slot| slot.entry.as_ref())
            .filter(|entry| entry.applied != applies)
            .map(|entry| entry.job.name().to_string())
            .collect();
        for name in &gone {
            table.remove(name);
        }
        (end < table.slots.len()).then_some(end)
    }

    /// Stops scheduling; rounds in flight get `grace` to finish, then are cancelled.
    /// Returns whether everything finished within the grace period.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        let shared = &self.shared;
        shared.stop.cancel();
        self.driver.close();
        self.driver.wait().await;
        shared.rounds.close();
        let finished = tokio::time::timeout(grace, shared.rounds.wait())
            .await
            .is_ok();
        if !finished {
            shared.kill.cancel();
            shared.rounds.wait().await;
        }
        finished
    }
}

/// The driver: sleeps until the earliest planned start, then starts every round that is due.
async fn drive<J: Job>(shared: Arc<Shared<J>>) {
    loop {
        let next = {
            let mut table = shared.table();
            let next = table.heap.peek().map(|Reverse((at, ..))| *at);
            table.wake_at = next;
            next
        };
        let news = shared.news.notified();
        tokio::select! {
            _ = async {
                match next {
                    Some(at) => sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {}
            _ = news => continue,
            _ = shared.stop.cancelled() => return,
        }
        let now = Instant::now();
        let mut table = shared.table();
        while let Some(Reverse((at, index, generation))) = table.heap.peek().copied() {
            if at > now {
                break;
            }
            table.heap.pop();
            // A start planned for a job a reload removed or replaced is dropped here.
            let Some(entry) = table.live(index, generation) else {
                continue;
            };
            let round = shared.kill.child_token();
            entry.round = Some(round.clone());
            let (job, first) = (entry.job.clone(), entry.first);
            let due = DueRound {
                index,
                generation,
                first,
                at,
            };
            shared
                .rounds
                .spawn(one_round(shared.clone(), job, due, round));
        }
    }
}

/// A round that is due: its place in the table and its planned start.
struct DueRound {
    index: u32,
    generation: u32,
    first: Instant,
    at: Instant,
}

/// One round: waits for a permit (lag), runs, then plans the job's next slot (the first one
/// after the round finished, so a job never overlaps itself).
async fn one_round<J: Job>(
    shared: Arc<Shared<J>>,
    job: Arc<J>,
    due: DueRound,
    round: CancellationToken,
) {
    let permit = tokio::select! {
        permit = shared.permits.acquire() => permit,
        _ = round.cancelled() => return,
        _ = shared.stop.cancelled() => return,
    };
    (shared.on_lag)(Instant::now().saturating_duration_since(due.at));
    tokio::select! {
        _ = (shared.run)(job.clone()) => {}
        _ = round.cancelled() => return,
    }
    drop(permit);
    if shared.stop.is_cancelled() {
        return;
    }
    let interval = job.interval().max(Duration::from_millis(1));
    let k = slot_after(due.first, interval, Instant::now(), false);
    let at = planned(&*job, due.first, k, shared.jitter);
    let mut table = shared.table();
    let Some(entry) = table.live(due.index, due.generation) else {
        return;
    };
    entry.round = None;
    table.heap.push(Reverse((at, due.index, due.generation)));
    shared.tell(&table, at);
}

/// The first slot index `k` with `first + k × interval` at or after `now` (or strictly after,
/// for the slot following a finished round).
fn slot_after(first: Instant, interval: Duration, now: Instant, inclusive: bool) -> u64 {
    if now < first {
        return 0;
    }
    let elapsed = now.duration_since(first).as_nanos();
    let step = interval.as_nanos().max(1);
    let k = elapsed / step;
    let exact = elapsed % step == 0;
    (if inclusive && exact { k } else { k + 1 }) as u64
}

mod table;
#[cfg(test)]
mod tests;
