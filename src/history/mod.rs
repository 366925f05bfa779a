//! History: every probe round's outcome in an embedded SQLite database (`[agent]
//! history_file`), so the status page, the badges and the JSON API show uptime, latency and
//! recent results across restarts.
//!
//! - What is kept: one row per round for [`RAW_KEPT`] (48 h: the bar of recent results,
//!   "failing since"), 5-minute and hourly aggregates (count, failures, latency min/avg/max,
//!   worst reason) for `history_retention` (30 d by default), and the detail (message and
//!   transcript excerpt) of each probe's last 20 failures.
//! - Writes never touch the event loop: [`History::record`] appends to a bounded queue and a
//!   writer thread of its own commits it once a second, one transaction per batch.
//! - Crash-safe: SQLite's write-ahead log with `synchronous=NORMAL` loses at most the last
//!   second's batch on a power cut and never leaves a damaged file.
//! - A file that is not a sound database is set aside (`<file>.corrupt-<unix seconds>`) with a
//!   warning and a fresh one started; if even that fails, history is off and probing goes on.
//! - "Up" means not critical: a warning (a certificate near expiry, say) counts as up.

mod entry;
mod query;
mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

pub use self::entry::{Entry, RAW_KEPT};
pub use self::query::{Overview, Point, Range, RecordedFailure, RECENT};
use self::store::{is_corrupt, set_aside, Store};

/// Results waiting for the writer beyond which the oldest are dropped (counted, logged): a
/// stuck disk must not grow the agent without bound. A minute of 100,000 probes.
const QUEUE_BOUND: usize = 100_000;
/// How often the writer commits.
const WRITE_EVERY: Duration = Duration::from_secs(1);
/// How often old rows are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

#[derive(Default)]
struct Queue {
    entries: Vec<Entry>,
    /// Entries ever queued, and ever written (or given up on): what `flush` waits for.
    queued: u64,
    done: u64,
    dropped: u64,
    stop: bool,
}

struct Inner {
    path: PathBuf,
    retention: Duration,
    queue: Mutex<Queue>,
    /// Wakes the writer (stop, flush) and those waiting for it.
    changed: Condvar,
    /// The readers' connection, opened once the writer has the file ready; cleared when the
    /// file is set aside.
    reader: Mutex<Option<rusqlite::Connection>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The agent's history: on (a file) or off.
#[derive(Clone, Default)]
pub struct History {
    inner: Option<Arc<Inner>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl History {
    /// No history: records are dropped, queries answer nothing.
    pub fn off() -> History {
        History { inner: None }
    }

    /// History in `path`, kept for `retention`. The file is opened, checked (and set aside if
    /// corrupt) on the writer thread, so a large file never delays the start.
    pub fn open(path: &Path, retention: Duration) -> History {
        let inner = Arc::new(Inner {
            path: path.to_path_buf(),
            retention,
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            reader: Mutex::new(None),
            writer: Mutex::new(None),
        });
        let for_thread = inner.clone();
        let spawned = std::thread::Builder::new()
            .name("smtpwatch-history".into())
            .spawn(move || write_loop(&for_thread));
        match spawned {
            Ok(handle) => *locked(&inner.writer) = Some(handle),
            Err(e) => {
                tracing::error!(error = %e, "history is off: its writer thread could not start");
                return History::off();
            }
        }
        History { inner: Some(inner) }
    }

    /// Whether history is kept.
    pub fn is_on(&self) -> bool {
        self.inner.is_some()
    }

    /// Queues one round for the writer; never blocks on the disk.
    pub fn record(&self, entry: Entry) {
        let Some(inner) = &self.inner else { return };
        let mut q = locked(&inner.queue);
        if q.entries.len() >= QUEUE_BOUND {
            q.entries.remove(0);
            q.dropped += 1;
            q.done += 1;
        }
        q.entries.push(entry);
        q.queued += 1;
    }

    /// Waits (at most `limit`) until everything queued so far is written. For tests and for
    /// shutdown.
    pub fn flush(&self, limit: Duration) -> bool {
        let Some(inner) = &self.inner else {
            return true;
        };
        let deadline = Instant::now() + limit;
        let mut q = locked(&inner.queue);
        let target = q.queued;
        inner.changed.notify_all();
        while q.done < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = inner
                .changed
                .wait_timeout(q, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        true
    }

    /// Writes what is queued and stops the writer (at most `limit`).
    pub fn close(&self, limit: Duration) {
        let Some(inner) = &self.inner else { return };
        self.flush(limit);
        locked(&inner.queue).stop = true;
        inner.changed.notify_all();
        if let Some(handle) = locked(&inner.writer).take() {
            let _ = handle.join();
        }
    }

    /// Runs `f` on the readers' connection, opening it if the writer has the file ready.
    fn read<T>(&self, f: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T>) -> Option<T> {
        let inner = self.inner.as_ref()?;
        let mut reader = locked(&inner.reader);
        if reader.is_none() {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = rusqlite::Connection::open_with_flags(&inner.path, flags).ok()?;
            let _ = conn.busy_timeout(Duration::from_secs(2));
            *reader = Some(conn);
        }
        let conn = reader.as_ref()?;
        match f(conn) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::debug!(error = %e, "history query failed");
                *reader = None;
                None
            }
        }
    }
}

/// Opens the store, setting a corrupt file aside; `None` when no store can be had.
fn open_store(path: &Path) -> Option<Store> {
    match Store::open(path) {
        Ok(store) => return Some(store),
        Err(e) if is_corrupt(&e) => match set_aside(path, SystemTime::now()) {
            Ok(aside) => tracing::warn!(
                file = %path.display(), set_aside = %aside.display(), error = %e,
                "the history database is damaged: set aside, starting a fresh one"
            ),
            Err(io) => {
                tracing::error!(file = %path.display(), error = %io,
                        "the history database is damaged and cannot be moved aside; history is off");
                return None;
            }
        },
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "history is off: cannot open its database");
            return None;
        }
    }
    Store::open(path)
        .inspect_err(|e| tracing::error!(file = %path.display(), error = %e, "history is off"))
        .ok()
}

fn write_loop(inner: &Inner) {
    let mut store = open_store(&inner.path);
    let mut last_prune: Option<Instant> = None;
    let mut reported_drops = 0;
    loop {
        let (batch, stop, dropped) = {
            let mut q = locked(&inner.queue);
            if q.entries.is_empty() && !q.stop {
                q = inner
                    .changed
                    .wait_timeout(q, WRITE_EVERY)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            (std::mem::take(&mut q.entries), q.stop, q.dropped)
        };
        if dropped > reported_drops {
            tracing::warn!(
                dropped = dropped - reported_drops,
                "history fell behind; the oldest results were not kept"
            );
            reported_drops = dropped;
        }
        if !batch.is_empty() {
            write_batch(inner, &mut store, &batch);
        }
        let count = batch.len() as u64;
        {
            let mut q = locked(&inner.queue);
            q.done += count;
        }
        inner.changed.notify_all();
        if let Some(s) = store.as_mut() {
            if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                if let Err(e) = s.prune(SystemTime::now(), inner.retention) {
                    tracing::warn!(error = %e, "history: pruning failed");
                }
                last_prune = Some(Instant::now());
            }
        }
        if stop {
            return;
        }
    }
}

/// Writes one batch; a store found corrupt on the way is set aside and the batch written to
/// the fresh one.
fn write_batch(inner: &Inner, store: &mut Option<Store>, batch: &[Entry]) {
    let Some(s) = store.as_mut() else { return };
    match s.write(batch) {
        Ok(()) => {}
        Err(e) if is_corrupt(&e) => {
            *locked(&inner.reader) = None;
            *store = None;
            *store = open_store(&inner.path);
            if let Some(s) = store.as_mut() {
                if let Err(e) = s.write(batch) {
                    tracing::warn!(error = %e, "history: a batch was not written");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "history: a batch was not written"),
    }
}

impl History {
    /// The overview of each of `names` that has history.
    pub fn overviews(&self, names: &[&str], now: SystemTime) -> HashMap<String, Overview> {
        self.read(|conn| query::overviews(conn, names, now))
            .unwrap_or_default()
    }

    /// The chart points of `name` over `range`.
    pub fn points(&self, name: &str, range: Range, now: SystemTime) -> Vec<Point> {
        self.read(|conn| query::points_of(conn, name, range, now))
            .unwrap_or_default()
    }

    /// The last `limit` failures of `name` with their detail, newest first.
    pub fn failures(&self, name: &str, limit: usize) -> Vec<RecordedFailure> {
        self.read(|conn| query::failures(conn, name, limit))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
