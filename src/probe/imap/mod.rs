//! The delivery check's IMAP half: after the server accepted the test message, log in to the
//! mailbox, wait for the message (IDLE when offered, polling once a second otherwise), read its
//! `Authentication-Results`, delete it and any message an earlier round of the same probe left
//! behind, and log out.
//!
//! Phases `imap_connect`, `imap_login`, `delivery` (from the 250 after DATA until the message is
//! seen) and `imap_cleanup`. Everything ends within `timeout` of the submission; the wait stops
//! a tenth of it (at most 5 s) early so cleanup has time. A failed cleanup is a warning: the
//! mail flowed, and the next round deletes what is left. `imaps://` is implicit TLS; `imap://`
//! requires STARTTLS; the certificate is verified like SMTP's (`insecure` records only).

mod conn;
mod headers;
mod session;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

pub use self::conn::{MAX_LINE, MAX_LITERAL, MAX_UNTAGGED};
pub use self::headers::authentication_results;
use super::mail_flow::Delivery;
use super::mail_flow::Submitted;
use super::session::Transcript;
use super::settings::ProbeSettings;
use crate::report::{seconds, Failure, PhaseTiming};

/// When and how the message was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// Wall-clock time it was found.
    pub at: SystemTime,
    /// From the 250 after DATA until then.
    pub seconds: f64,
    /// The receiving server's `Authentication-Results`.
    pub authentication_results: BTreeMap<String, String>,
}

/// What the IMAP half found.
#[derive(Debug)]
pub struct RoundTrip {
    /// The phases that ran.
    pub phases: Vec<PhaseTiming>,
    /// The message, if it was found.
    pub seen: Option<Seen>,
    /// Why the check failed, if it did.
    pub failure: Option<Failure>,
    /// Problems that do not fail the check (cleanup).
    pub warnings: Vec<String>,
}

/// Finds the message `submitted` in `delivery`'s mailbox (see the module header).
pub(super) async fn round_trip(
    settings: &ProbeSettings,
    delivery: &Delivery,
    submitted: &Submitted,
    transcript: &mut Transcript,
) -> RoundTrip {
    let end = submitted.at + delivery.timeout;
    let reserve = (delivery.timeout / 10).min(Duration::from_secs(5));
    let mut trip = session::Trip {
        settings,
        delivery,
        identity: &submitted.identity,
        wait_until: end - reserve,
        end,
        phases: Vec::new(),
    };
    let (seen, failure, warnings) = trip.run(&submitted.token, submitted.at, transcript).await;
    RoundTrip {
        phases: trip.phases,
        seen,
        failure,
        warnings,
    }
}

fn timing(phase: crate::report::Phase, started: Instant, code: Option<u16>) -> PhaseTiming {
    PhaseTiming {
        phase,
        seconds: seconds(started.elapsed()),
        code,
    }
}
