//! Capability drift: an address that offered STARTTLS and now completes its sessions without
//! it, or that offers AUTH in plaintext before STARTTLS (credentials could then travel in the
//! clear). Remembers each address's capabilities of its last TLS session (only addresses that ever
//! had one), so a plaintext-only server costs nothing here.

use std::collections::{BTreeSet, HashMap};

use super::state::{Cause, CauseKey};
use crate::report::ProbeReport;

/// Last TLS capabilities per probe and address.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Drift {
    with_tls: HashMap<String, HashMap<String, Vec<String>>>,
}

impl Drift {
    /// What `report` says about drift: `Some(None)` when it used TLS (all well; its
    /// capabilities are remembered), `Some(Some(cause))` when an address that had TLS completed
    /// a session without it, `None` when it says nothing (no address, failed, never had TLS).
    pub fn input(&mut self, probe: &str, report: &ProbeReport) -> Option<Option<Cause>> {
        let address = report.address.as_deref()?;
        let tls = report.tls.as_ref().is_some_and(|t| t.established());
        if tls {
            let caps = self.with_tls.entry(probe.to_string()).or_default();
            match caps.get_mut(address) {
                Some(known) if *known == report.capabilities => {}
                Some(known) => known.clone_from(&report.capabilities),
                None => {
                    caps.insert(address.to_string(), report.capabilities.clone());
                }
            }
            let plaintext_auth = report
                .capabilities_before_tls
                .iter()
                .any(|c| c.to_ascii_uppercase().starts_with("AUTH"));
            return Some(plaintext_auth.then(|| Cause {
                key: CauseKey::AuthBeforeTls,
                message: format!(
                    "AUTH is offered before STARTTLS: EHLO in plaintext advertises {}",
                    report.capabilities_before_tls.join(", ")
                ),
            }));
        }
        if !report.success {
            return None;
        }
        let before = self.with_tls.get(probe)?.get(address)?;
        let now = if report.capabilities.is_empty() {
            "nothing".to_string()
        } else {
            report.capabilities.join(", ")
        };
        Some(Some(Cause {
            key: CauseKey::StarttlsRemoved,
            message: format!(
                "STARTTLS is no longer offered: EHLO now advertises {now}; after STARTTLS it advertised {}",
                before.join(", ")
            ),
        }))
    }

    /// Forgets probes a reload removed.
    pub fn retain_probes(&mut self, names: &BTreeSet<String>) {
        self.with_tls.retain(|probe, _| names.contains(probe));
    }
}
