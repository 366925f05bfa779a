//! The latest round of every probe: what the agent last saw, read by the status page and
//! `/probes/<name>/last`. Written by the agent after each round; probes a reload removed are
//! forgotten.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::SystemTime;

use crate::posture::summary::DomainPosture;
use crate::report::ProbeReport;

/// The latest round of one probe.
#[derive(Debug, Clone)]
pub struct Round {
    /// One report per address.
    pub reports: Vec<ProbeReport>,
    /// The mail-domain posture (`mx:` probes).
    pub posture: Option<Box<DomainPosture>>,
    /// When the round finished.
    pub finished_at: SystemTime,
}

/// Probe name → its latest round.
#[derive(Debug, Default)]
pub struct LatestRounds {
    rounds: RwLock<HashMap<String, Round>>,
}

impl LatestRounds {
    /// Keeps `round` as the latest of `probe`.
    pub fn record(&self, probe: &str, round: Round) {
        if let Ok(mut rounds) = self.rounds.write() {
            rounds.insert(probe.to_string(), round);
        }
    }

    /// The latest round of `probe`, if it ran.
    pub fn get(&self, probe: &str) -> Option<Round> {
        self.rounds.read().ok()?.get(probe).cloned()
    }

    /// Forgets the `removed` probes (one lookup each: the lock is held for microseconds).
    pub fn forget(&self, removed: &[String]) {
        if let Ok(mut rounds) = self.rounds.write() {
            for name in removed {
                rounds.remove(name);
            }
        }
    }
}
