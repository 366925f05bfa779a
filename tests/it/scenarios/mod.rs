//! The probe against hostile and broken plaintext servers: each case asserts the exact verdict.

mod dialogue;
mod hostile;
mod replies;

use std::time::Duration;

use smtpwatch::target::TlsMode;

use crate::support::fake_smtp::{greet_and_ehlo, noop_quit, raw, Step};
use crate::support::{assert_outcome, phase_names, run};

fn join(parts: Vec<Vec<Step>>) -> Vec<Step> {
    parts.into_iter().flatten().collect()
}

fn short_timeout(s: &mut smtpwatch::probe::ProbeSettings) {
    s.timeout = Duration::from_millis(600);
    s.phase_timeout = Duration::from_millis(600);
}
