//! The scheduler: one timer task per probe, spread over the interval, under a global limit.
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
//! Time comes from `tokio::time`, so tests drive it with `pause()`/`advance()`.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::limit::Limit;

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

/// FNV-1a: stable across builds and platforms, unlike `DefaultHasher`.
fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
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

struct Running<J> {
    job: Arc<J>,
    /// Stops the timer (and any wait for a permit).
    cancel: CancellationToken,
    /// Also aborts a round in flight.
    kill: CancellationToken,
}

impl<J> Running<J> {
    fn stop_now(&self) {
        self.cancel.cancel();
        self.kill.cancel();
    }
}

/// The running schedule.
pub struct Scheduler<J: Job> {
    base: Instant,
    jitter: bool,
    permits: Limit,
    run: RunFn<J>,
    on_lag: LagFn,
    stop: CancellationToken,
    kill: CancellationToken,
    tracker: TaskTracker,
    running: HashMap<String, Running<J>>,
}

impl<J: Job> Scheduler<J> {
    /// A scheduler whose slots count from now.
    pub fn new(concurrency: usize, run: RunFn<J>, on_lag: LagFn) -> Self {
        let concurrency = concurrency.max(1);
        Scheduler {
            base: Instant::now(),
            jitter: true,
            permits: Limit::new(concurrency),
            run,
            on_lag,
            stop: CancellationToken::new(),
            kill: CancellationToken::new(),
            tracker: TaskTracker::new(),
            running: HashMap::new(),
        }
    }

    /// Without jitter (tests that assert exact firing times).
    pub fn without_jitter(mut self) -> Self {
        self.jitter = false;
        self
    }

    /// Names of the running jobs.
    pub fn job_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.running.keys().cloned().collect();
        names.sort();
        names
    }

    /// Replaces the job set: unchanged jobs keep their timers, others (re)start or stop.
    pub fn apply(&mut self, jobs: Vec<Arc<J>>, concurrency: usize) {
        self.permits.resize(concurrency);
        let mut next: HashMap<String, Running<J>> = HashMap::new();
        for job in jobs {
            let name = job.name().to_string();
            match self.running.remove(&name) {
                Some(current) if current.job.same_as(&job) => {
                    next.insert(name, current);
                }
                previous => {
                    if let Some(previous) = previous {
                        previous.stop_now();
                    }
                    let (cancel, kill) = (self.stop.child_token(), self.kill.child_token());
                    self.spawn(job.clone(), cancel.clone(), kill.clone());
                    next.insert(name, Running { job, cancel, kill });
                }
            }
        }
        for (_, removed) in self.running.drain() {
            removed.stop_now();
        }
        self.running = next;
    }

    fn spawn(&self, job: Arc<J>, cancel: CancellationToken, kill: CancellationToken) {
        let (base, jitter, permits) = (self.base, self.jitter, self.permits.clone());
        let (run, on_lag) = (self.run.clone(), self.on_lag.clone());
        self.tracker.spawn(async move {
            let interval = job.interval().max(Duration::from_millis(1));
            let first = base + offset(job.name(), interval);
            let mut k = slot_after(first, interval, Instant::now(), true);
            loop {
                let jit = if jitter {
                    self::jitter(job.name(), k, interval)
                } else {
                    Duration::ZERO
                };
                let slot = (interval.as_nanos() * u128::from(k)).min(u128::from(u64::MAX));
                let planned = first + Duration::from_nanos(slot as u64) + jit;
                tokio::select! {
                    _ = sleep_until(planned) => {}
                    _ = cancel.cancelled() => return,
                }
                let permit = tokio::select! {
                    permit = permits.acquire() => permit,
                    _ = cancel.cancelled() => return,
                };
                on_lag(Instant::now().saturating_duration_since(planned));
                tokio::select! {
                    _ = run(job.clone()) => {}
                    _ = kill.cancelled() => return,
                }
                drop(permit);
                k = slot_after(first, interval, Instant::now(), false);
            }
        });
    }

    /// Stops scheduling; rounds in flight get `grace` to finish, then are cancelled.
    /// Returns whether everything finished within the grace period.
    pub async fn shutdown(self, grace: Duration) -> bool {
        self.tracker.close();
        self.stop.cancel();
        let finished = tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_ok();
        if !finished {
            self.kill.cancel();
            self.tracker.wait().await;
        }
        finished
    }
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

#[cfg(test)]
mod tests;
