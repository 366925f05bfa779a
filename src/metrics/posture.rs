//! The mail-domain posture families of `mx:` probes: DNSSEC status per record, DANE and FCrDNS
//! per address, MTA-STS validity, mode and max_age. A probe's series are replaced on each
//! round, so addresses and records that disappear leave no stale series.

use std::collections::HashMap;
use std::sync::Mutex;

use prometheus::{GaugeVec, Opts, Registry};

use crate::posture::dane::DaneResult;
use crate::posture::dns::Dnssec;
use crate::posture::summary::{DomainPosture, RecordState};

/// One series: which family (index into [`PostureMetrics::families`]) and its label values.
type Series = (usize, Vec<String>);

/// The posture gauges.
pub struct PostureMetrics {
    dnssec_secure: GaugeVec,
    dane_match: GaugeVec,
    mta_sts_valid: GaugeVec,
    mta_sts_mode: GaugeVec,
    mta_sts_max_age: GaugeVec,
    fcrdns_ok: GaugeVec,
    /// Per probe: the series its last round set.
    set: Mutex<HashMap<String, Vec<Series>>>,
}

impl PostureMetrics {
    /// Creates and registers the families.
    pub fn register(registry: &Registry) -> Result<PostureMetrics, prometheus::Error> {
        let gauge =
            |name: &str, help: &str, labels: &[&str]| -> Result<GaugeVec, prometheus::Error> {
                let g = GaugeVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(g.clone()))?;
                Ok(g)
            };
        Ok(PostureMetrics {
            dnssec_secure: gauge(
                "smtpwatch_dnssec_secure",
                "1 when the DNSSEC status of the record is secure, 0 when insecure, bogus or indeterminate.",
                &["probe", "record"],
            )?,
            dane_match: gauge(
                "smtpwatch_dane_match",
                "1 when the presented chain matches the MX host's secure TLSA set, 0 when not (only where DANE applies).",
                &["probe", "address"],
            )?,
            mta_sts_valid: gauge(
                "smtpwatch_mta_sts_valid",
                "1 when the domain publishes a valid MTA-STS record and policy, 0 otherwise.",
                &["probe"],
            )?,
            mta_sts_mode: gauge(
                "smtpwatch_mta_sts_mode",
                "The MTA-STS policy mode (always 1).",
                &["probe", "mode"],
            )?,
            mta_sts_max_age: gauge(
                "smtpwatch_mta_sts_policy_max_age_seconds",
                "The MTA-STS policy's max_age.",
                &["probe"],
            )?,
            fcrdns_ok: gauge(
                "smtpwatch_fcrdns_ok",
                "1 when a PTR name of the address resolves back to it.",
                &["probe", "address"],
            )?,
            set: Mutex::new(HashMap::new()),
        })
    }

    fn families(&self) -> [&GaugeVec; 6] {
        [
            &self.dnssec_secure,
            &self.dane_match,
            &self.mta_sts_valid,
            &self.mta_sts_mode,
            &self.mta_sts_max_age,
            &self.fcrdns_ok,
        ]
    }

    /// Replaces `probe`'s series with those of `posture` (none when it has no posture).
    pub fn observe(&self, probe: &str, posture: Option<&DomainPosture>) {
        let mut values: Vec<(usize, Vec<String>, f64)> = Vec::new();
        if let Some(p) = posture {
            let secure = |d: Dnssec| f64::from(u8::from(d == Dnssec::Secure));
            let mut record =
                |name: String, d: Dnssec| values.push((0, vec![probe.into(), name], secure(d)));
            record(format!("MX {}", p.domain), p.mx_dnssec);
            for h in &p.hosts {
                record(format!("A/AAAA {}", h.host), h.address_dnssec);
                if !h.tlsa.is_empty() {
                    record(format!("TLSA _25._tcp.{}", h.host), h.tlsa_dnssec);
                }
            }
            for h in &p.hosts {
                for a in &h.addresses {
                    if let Some(d) = &a.dane {
                        let ok = f64::from(u8::from(d.result == DaneResult::Match));
                        values.push((1, vec![probe.into(), a.address.clone()], ok));
                    }
                    if let Some(ok) = a.fcrdns {
                        values.push((
                            5,
                            vec![probe.into(), a.address.clone()],
                            f64::from(u8::from(ok)),
                        ));
                    }
                }
            }
            let valid = p.mta_sts.state == RecordState::Valid;
            values.push((2, vec![probe.into()], f64::from(u8::from(valid))));
            if let Some(policy) = &p.mta_sts.policy {
                values.push((3, vec![probe.into(), policy.mode.as_str().into()], 1.0));
                values.push((4, vec![probe.into()], policy.max_age as f64));
            }
        }
        let Ok(mut set) = self.set.lock() else {
            return;
        };
        self.remove(set.remove(probe).unwrap_or_default());
        let families = self.families();
        let mut now = Vec::new();
        for (family, labels, value) in values {
            let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
            families[family].with_label_values(&refs).set(value);
            now.push((family, labels));
        }
        if !now.is_empty() {
            set.insert(probe.to_string(), now);
        }
    }

    /// Forgets probes a reload removed.
    pub fn forget_probes(&self, removed: &[String]) {
        let Ok(mut set) = self.set.lock() else {
            return;
        };
        for probe in removed {
            if let Some(series) = set.remove(probe) {
                self.remove(series);
            }
        }
    }

    fn remove(&self, series: Vec<Series>) {
        let families = self.families();
        for (family, labels) in series {
            let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
            let _ = families[family].remove_label_values(&refs);
        }
    }
}
