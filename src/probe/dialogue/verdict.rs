//! Judging replies: a code against what the command expects, a session error as a failure
//! reason, EHLO lines as capabilities.

use std::time::Duration;

use super::{fail, Step};
use crate::probe::reply::{Reply, ReplyError};
use crate::probe::session::SessionError;
use crate::report::{Failure, FailureReason, Phase};

/// Checks the reply code: `expected` passes, 4xx/5xx is `rejected`, anything else is a
/// protocol error (a 2xx/3xx the command cannot have).
pub(super) fn require(phase: Phase, reply: &Reply, expected: u16, what: &str) -> Step<()> {
    if reply.code == expected {
        return Ok(());
    }
    let (reason, message) = if reply.code >= 400 {
        (
            FailureReason::Rejected,
            format!("{what} refused: {} {}", reply.code, reply.text()),
        )
    } else {
        let m = format!(
            "unexpected {what} reply {} (expected {expected}): {}",
            reply.code,
            reply.text()
        );
        (FailureReason::ProtocolError, m)
    };
    Err(fail(phase, reason, Some(reply.code), message))
}

pub(super) fn session_failure(phase: Phase, e: SessionError) -> Failure {
    let reason = match &e {
        SessionError::Timeout { .. } => FailureReason::Timeout,
        SessionError::Closed(_) => FailureReason::Closed,
        SessionError::Reply(ReplyError::Malformed(_)) => FailureReason::ProtocolError,
        SessionError::Reply(ReplyError::TooLong(_)) => FailureReason::ReplyTooLong,
    };
    fail(phase, reason, None, e.to_string())
}

/// EHLO keywords with their parameters: every line after the greeting line.
pub(super) fn capabilities(reply: &Reply) -> Vec<String> {
    reply
        .lines
        .iter()
        .skip(1)
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The warning for a leaf certificate that expires within `warn`.
pub(super) fn expiry_warning(seconds_left: f64, warn: Duration) -> String {
    if seconds_left <= 0.0 {
        return "certificate has expired".into();
    }
    let days = seconds_left / 86_400.0;
    format!(
        "certificate expires in {days:.1} days (warning threshold {})",
        threshold(warn)
    )
}

/// A threshold as an operator wrote it: whole days as `3650d` (humantime would say
/// "9years 11months 27days 21h 50m 24s", its years being 365.25 days), anything else as is.
pub(crate) fn threshold(d: Duration) -> String {
    let secs = d.as_secs();
    if secs > 0 && secs % 86_400 == 0 && d.subsec_nanos() == 0 {
        format!("{}d", secs / 86_400)
    } else {
        humantime::format_duration(d).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_as_they_were_written() {
        assert_eq!(threshold(Duration::from_secs(3650 * 86_400)), "3650d");
        assert_eq!(threshold(Duration::from_secs(14 * 86_400)), "14d");
        assert_eq!(threshold(Duration::from_secs(90)), "1m 30s");
    }
}
