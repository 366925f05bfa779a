//! One round as history keeps it, and the status codes stored for it.

use std::time::{Duration, SystemTime};

use crate::report::Status;

/// How long raw results are kept.
pub const RAW_KEPT: Duration = Duration::from_secs(48 * 3600);

/// One probe round, as history keeps it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The probe's name.
    pub probe: String,
    /// When the round finished.
    pub at: SystemTime,
    /// The round's status (the worst of its addresses and its posture).
    pub status: Status,
    /// The round's duration (its slowest address).
    pub seconds: f64,
    /// `phase/reason` of the first address that was not OK.
    pub reason: Option<String>,
    /// For a round that was not OK: its message and transcript excerpt.
    pub detail: Option<String>,
}

/// 0 ok, 1 warning, 2 critical: the order the aggregates' "worst" uses.
pub(super) fn status_code(s: Status) -> i64 {
    match s {
        Status::Ok => 0,
        Status::Warning => 1,
        Status::Critical => 2,
    }
}

pub(super) fn status_of(code: i64) -> Status {
    match code {
        0 => Status::Ok,
        1 => Status::Warning,
        _ => Status::Critical,
    }
}
