//! Reading the history: uptime over 24 h, 7 d and 30 d, the recent results, "failing since",
//! chart points and the last failures. Every query reads a bounded number of rows per probe
//! through the (probe, time) keys: 24 h is 288 five-minute buckets, 7 d and 30 d at most 720
//! hourly ones, the bar the latest [`RECENT`] results.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use super::entry::status_of;
use super::store::millis;
use crate::report::Status;

/// Results in the bar of recent results.
pub const RECENT: usize = 30;

/// A time range of the charts, uptime figures and the history API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    /// The last 24 hours, in 5-minute points.
    Day,
    /// The last 7 days, in hourly points.
    Week,
    /// The last 30 days, in 4-hour points.
    Month,
}

impl Range {
    /// All of them, shortest first.
    pub const ALL: [Range; 3] = [Range::Day, Range::Week, Range::Month];

    /// `24h`, `7d` or `30d`.
    pub fn parse(text: &str) -> Option<Range> {
        Range::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// How it is written in URLs and badges.
    pub fn as_str(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
        }
    }

    /// Its length.
    pub fn length(self) -> Duration {
        Duration::from_secs(match self {
            Range::Day => 86_400,
            Range::Week => 7 * 86_400,
            Range::Month => 30 * 86_400,
        })
    }

    /// (stored bucket span, chart point span) in milliseconds.
    fn spans(self) -> (i64, i64) {
        match self {
            Range::Day => (300_000, 300_000),
            Range::Week => (3_600_000, 3_600_000),
            Range::Month => (3_600_000, 14_400_000),
        }
    }
}

/// One point of a chart: the rounds that finished in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The point's start.
    pub start: SystemTime,
    /// Rounds, and those that were critical.
    pub count: u64,
    pub failures: u64,
    /// Round durations.
    pub min_seconds: f64,
    pub avg_seconds: f64,
    pub max_seconds: f64,
    /// `phase/reason` of the worst round, if one was not OK.
    pub worst: Option<String>,
}

/// A failure kept with its detail.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedFailure {
    pub at: SystemTime,
    pub status: Status,
    /// `phase/reason`.
    pub reason: String,
    /// Message and transcript excerpt.
    pub detail: String,
}

/// What the status page shows of one probe's history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overview {
    /// Share of rounds that were not critical over 24 h, 7 d and 30 d (`None`: no rounds).
    pub uptime: [Option<f64>; 3],
    /// The latest results, oldest first.
    pub recent: Vec<(SystemTime, Status)>,
    /// When the current run of critical rounds began (within the 48 h of raw results).
    pub failing_since: Option<SystemTime>,
    /// The last 24 hours' points.
    pub day: Vec<Point>,
}

fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn ratio(count: i64, failures: i64) -> Option<f64> {
    (count > 0).then(|| (count - failures) as f64 / count as f64)
}

fn probe_id(conn: &Connection, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row("SELECT id FROM probe WHERE name = ?1", [name], |r| r.get(0))
        .optional()
}

fn points(
    conn: &Connection,
    id: i64,
    range: Range,
    now: SystemTime,
) -> rusqlite::Result<Vec<Point>> {
    let (stored, step) = range.spans();
    let from = millis(now) - range.length().as_millis() as i64;
    // The stored buckets in order, folded into points here: a point's worst reason is that of
    // its worst bucket, which SQL would find with a subquery per point (a scan each: 0.4 s
    // a probe at 30 days).
    let mut stmt = conn.prepare_cached(
        "SELECT start, count, failures, min_micros, sum_micros, max_micros, worst_status, worst
         FROM bucket WHERE probe = ?1 AND span = ?2 AND start >= ?3 ORDER BY start",
    )?;
    let mut rows = stmt.query(params![id, stored, from])?;
    let mut out: Vec<Point> = Vec::new();
    // Per point: the sum of its durations (micros) and its worst status so far.
    let mut sums: Vec<(i64, i64)> = Vec::new();
    while let Some(r) = rows.next()? {
        let start: i64 = r.get(0)?;
        let at = time(start - start.rem_euclid(step));
        let count = r.get::<_, i64>(1)?.max(0) as u64;
        let failures = r.get::<_, i64>(2)?.max(0) as u64;
        let (min, sum, max): (i64, i64, i64) = (r.get(3)?, r.get(4)?, r.get(5)?);
        let (worst_status, worst): (i64, Option<String>) = (r.get(6)?, r.get(7)?);
        match out.last_mut().zip(sums.last_mut()) {
            Some((p, s)) if p.start == at => {
                p.count += count;
                p.failures += failures;
                p.min_seconds = p.min_seconds.min(min as f64 / 1e6);
                p.max_seconds = p.max_seconds.max(max as f64 / 1e6);
                s.0 += sum;
                if worst.is_some() && (p.worst.is_none() || worst_status > s.1) {
                    s.1 = worst_status;
                    p.worst = worst;
                }
            }
            _ => {
                out.push(Point {
                    start: at,
                    count,
                    failures,
                    min_seconds: min as f64 / 1e6,
                    avg_seconds: 0.0,
                    max_seconds: max as f64 / 1e6,
                    worst,
                });
                sums.push((sum, worst_status));
            }
        }
    }
    for (p, (sum, _)) in out.iter_mut().zip(&sums) {
        p.avg_seconds = *sum as f64 / p.count.max(1) as f64 / 1e6;
    }
    Ok(out)
}

fn uptime(conn: &Connection, id: i64, now: SystemTime) -> rusqlite::Result<[Option<f64>; 3]> {
    let now = millis(now);
    let mut out = [None; 3];
    for (slot, range) in Range::ALL.into_iter().enumerate() {
        let span = if range == Range::Day {
            300_000
        } else {
            3_600_000
        };
        let from = now - range.length().as_millis() as i64;
        let (count, failures): (i64, i64) = conn
            .prepare_cached(
                "SELECT coalesce(sum(count), 0), coalesce(sum(failures), 0) FROM bucket
             WHERE probe = ?1 AND span = ?2 AND start >= ?3",
            )?
            .query_row(params![id, span, from], |r| Ok((r.get(0)?, r.get(1)?)))?;
        out[slot] = ratio(count, failures);
    }
    Ok(out)
}

fn recent(conn: &Connection, id: i64) -> rusqlite::Result<Vec<(SystemTime, Status)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT at, status FROM result WHERE probe = ?1 ORDER BY at DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![id, RECENT as i64], |r| {
        Ok((time(r.get(0)?), status_of(r.get(1)?)))
    })?;
    let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    out.reverse();
    Ok(out)
}

fn failing_since(conn: &Connection, id: i64) -> rusqlite::Result<Option<SystemTime>> {
    let since: Option<i64> = conn
        .prepare_cached(
            "SELECT min(at) FROM result WHERE probe = ?1 AND status = 2 AND at > coalesce(
                 (SELECT max(at) FROM result WHERE probe = ?1 AND status < 2), 0)",
        )?
        .query_row([id], |r| r.get(0))?;
    Ok(since.map(time))
}

/// The overview of each of `names` that has history.
pub(super) fn overviews(
    conn: &Connection,
    names: &[&str],
    now: SystemTime,
) -> rusqlite::Result<HashMap<String, Overview>> {
    let mut out = HashMap::new();
    for name in names {
        let Some(id) = probe_id(conn, name)? else {
            continue;
        };
        let recent = recent(conn, id)?;
        let failing = recent.last().is_some_and(|(_, s)| *s == Status::Critical);
        let overview = Overview {
            uptime: uptime(conn, id, now)?,
            failing_since: if failing {
                failing_since(conn, id)?
            } else {
                None
            },
            recent,
            day: points(conn, id, Range::Day, now)?,
        };
        out.insert((*name).to_string(), overview);
    }
    Ok(out)
}

/// The chart points of `name` over `range`.
pub(super) fn points_of(
    conn: &Connection,
    name: &str,
    range: Range,
    now: SystemTime,
) -> rusqlite::Result<Vec<Point>> {
    match probe_id(conn, name)? {
        Some(id) => points(conn, id, range, now),
        None => Ok(Vec::new()),
    }
}

/// The last `limit` failures of `name` with their detail, newest first.
pub(super) fn failures(
    conn: &Connection,
    name: &str,
    limit: usize,
) -> rusqlite::Result<Vec<RecordedFailure>> {
    let Some(id) = probe_id(conn, name)? else {
        return Ok(Vec::new());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT f.at, f.reason, f.detail, coalesce(r.status, 2) FROM failure f
         LEFT JOIN result r ON r.probe = f.probe AND r.at = f.at
         WHERE f.probe = ?1 ORDER BY f.at DESC LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![id, limit as i64], |r| {
        Ok(RecordedFailure {
            at: time(r.get(0)?),
            reason: r.get(1)?,
            detail: r.get(2)?,
            status: status_of(r.get(3)?),
        })
    })?;
    rows.collect()
}
