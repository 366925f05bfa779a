//! The history database on disk (SQLite, WAL): its schema, one transaction per batch of
//! results, pruning, and setting a corrupt file aside.
//!
//! Sizes are kept small on purpose: one row per probe round (not per address), integer
//! times in milliseconds and durations in microseconds (SQLite stores small integers in one
//! to four bytes), tables keyed by (probe id, time) without a separate rowid.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, ErrorCode, OptionalExtension};

use super::entry::{status_code, Entry, RAW_KEPT};
use crate::report::Status;

/// The aggregate spans: 5-minute buckets (uptime over 24 h, the day's chart) and hourly ones
/// (7 d and 30 d, without reading 8,640 rows a probe).
pub(super) const SPANS: [i64; 2] = [300_000, 3_600_000];

/// Failures kept with their detail (message and transcript excerpt), per probe.
pub(super) const FAILURES_KEPT: i64 = 20;

const SCHEMA: &str = "
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
PRAGMA journal_size_limit=16777216;
CREATE TABLE IF NOT EXISTS probe(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS result(
    probe INTEGER NOT NULL, at INTEGER NOT NULL, status INTEGER NOT NULL,
    micros INTEGER NOT NULL, reason TEXT,
    PRIMARY KEY(probe, at)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bucket(
    probe INTEGER NOT NULL, span INTEGER NOT NULL, start INTEGER NOT NULL,
    count INTEGER NOT NULL, failures INTEGER NOT NULL,
    min_micros INTEGER NOT NULL, sum_micros INTEGER NOT NULL, max_micros INTEGER NOT NULL,
    worst_status INTEGER NOT NULL, worst TEXT,
    PRIMARY KEY(probe, span, start)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS failure(
    probe INTEGER NOT NULL, at INTEGER NOT NULL, reason TEXT NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY(probe, at)) WITHOUT ROWID;
";

/// Milliseconds since the Unix epoch (0 before it).
pub(super) fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Whether an error means the file is not a usable database (as opposed to a full disk or a
/// lock held elsewhere, which pass).
pub(super) fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

/// The writer's connection, with the probe ids it has seen.
pub(super) struct Store {
    conn: Connection,
    ids: HashMap<String, i64>,
}

impl Store {
    /// Opens `path` (creating it), checks it and sets up the schema.
    pub(super) fn open(path: &Path) -> rusqlite::Result<Store> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        // `quick_check` reads every page: it finds a damaged file at start instead of at the
        // first write into its damaged part. What it returns on a sound file is "ok".
        let verdict: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
        if verdict != "ok" {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(verdict),
            ));
        }
        conn.execute_batch(SCHEMA)?;
        Ok(Store {
            conn,
            ids: HashMap::new(),
        })
    }

    fn probe_id(&mut self, name: &str) -> rusqlite::Result<i64> {
        if let Some(id) = self.ids.get(name) {
            return Ok(*id);
        }
        self.conn
            .execute("INSERT OR IGNORE INTO probe(name) VALUES (?1)", [name])?;
        let id = self
            .conn
            .query_row("SELECT id FROM probe WHERE name = ?1", [name], |r| r.get(0))?;
        self.ids.insert(name.to_string(), id);
        Ok(id)
    }

    /// Writes `batch` in one transaction: the raw results, their buckets, and the failures'
    /// details.
    pub(super) fn write(&mut self, batch: &[Entry]) -> rusqlite::Result<()> {
        let mut ids = Vec::with_capacity(batch.len());
        for e in batch {
            ids.push(self.probe_id(&e.probe)?);
        }
        let tx = self.conn.transaction()?;
        {
            let mut result = tx.prepare_cached(
                "INSERT OR REPLACE INTO result(probe, at, status, micros, reason) VALUES (?1,?2,?3,?4,?5)",
            )?;
            let mut bucket = tx.prepare_cached(
                "INSERT INTO bucket(probe, span, start, count, failures, min_micros, sum_micros,
                     max_micros, worst_status, worst)
                 VALUES (?1,?2,?3,1,?4,?5,?5,?5,?6,?7)
                 ON CONFLICT(probe, span, start) DO UPDATE SET
                     count = count + 1, failures = failures + excluded.failures,
                     min_micros = min(min_micros, excluded.min_micros),
                     sum_micros = sum_micros + excluded.sum_micros,
                     max_micros = max(max_micros, excluded.max_micros),
                     worst = CASE WHEN excluded.worst_status > worst_status
                                  THEN excluded.worst ELSE worst END,
                     worst_status = max(worst_status, excluded.worst_status)",
            )?;
            let mut failure = tx.prepare_cached(
                "INSERT OR REPLACE INTO failure(probe, at, reason, detail) VALUES (?1,?2,?3,?4)",
            )?;
            for (e, id) in batch.iter().zip(ids) {
                let at = millis(e.at);
                let micros = (e.seconds.max(0.0) * 1e6).round() as i64;
                let status = status_code(e.status);
                result.execute(params![id, at, status, micros, e.reason])?;
                let failed = i64::from(e.status == Status::Critical);
                for span in SPANS {
                    bucket.execute(params![
                        id,
                        span,
                        at - at.rem_euclid(span),
                        failed,
                        micros,
                        status,
                        e.reason
                    ])?;
                }
                if let (Some(reason), Some(detail)) = (&e.reason, &e.detail) {
                    failure.execute(params![id, at, reason, detail])?;
                }
            }
        }
        tx.commit()
    }

    /// Drops raw results older than [`RAW_KEPT`], buckets and failures older than
    /// `retention`, and failures beyond the [`FAILURES_KEPT`] latest of each probe.
    pub(super) fn prune(&mut self, now: SystemTime, retention: Duration) -> rusqlite::Result<()> {
        let now = millis(now);
        let raw_from = now - RAW_KEPT.as_millis() as i64;
        let kept_from = now - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX / 2);
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM result WHERE at < ?1", [raw_from])?;
        tx.execute("DELETE FROM bucket WHERE start < ?1", [kept_from])?;
        tx.execute("DELETE FROM failure WHERE at < ?1", [kept_from])?;
        tx.execute(
            "DELETE FROM failure WHERE (probe, at) IN (
                 SELECT probe, at FROM (SELECT probe, at,
                     row_number() OVER (PARTITION BY probe ORDER BY at DESC) AS n FROM failure)
                 WHERE n > ?1)",
            [FAILURES_KEPT],
        )?;
        tx.commit()?;
        // Hand the WAL's pages back to the main file now and then, so it does not grow.
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            .optional()?;
        Ok(())
    }
}

/// Moves a corrupt database (and its WAL and shared-memory files) out of the way, to
/// `<file>.corrupt-<unix seconds>`, and returns where it went. Never deletes it: an operator
/// may want it.
pub(super) fn set_aside(path: &Path, now: SystemTime) -> std::io::Result<PathBuf> {
    let stamp = millis(now) / 1000;
    let aside = PathBuf::from(format!("{}.corrupt-{stamp}", path.display()));
    std::fs::rename(path, &aside)?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            let _ = std::fs::rename(&side, format!("{}{suffix}", aside.display()));
        }
    }
    Ok(aside)
}
