//! The verdict on one report of a posture round: DANE where it applies (STARTTLS mandatory, a
//! record must match, a DANE-TA leaf must name the host), WebPKI elsewhere unless `insecure`.
//! A report that fails changes through [`ProbeReport::fail`], so success, status and failure
//! agree.

use super::dane::{DaneCheck, DaneResult, DaneUsage};
use super::mta_sts;
use super::summary::{failure, Finding};
use crate::report::{Failure, FailureReason, Phase, ProbeReport};

/// How the reports of one MX host are judged.
pub(crate) struct Verdict<'a> {
    /// The MX host name.
    pub host: &'a str,
    /// The DANE check of the address, where DANE applies.
    pub dane: Option<&'a DaneCheck>,
    /// `--insecure`: WebPKI verdicts are recorded, never enforced.
    pub insecure: bool,
}

impl Verdict<'_> {
    /// Marks `report` failed where the certificate or STARTTLS does not pass, and records why.
    pub(crate) fn judge(&self, report: &mut ProbeReport, findings: &mut Vec<Finding>) {
        if !report.success {
            return;
        }
        let address = report.address.clone().unwrap_or_default();
        let established = report.tls.as_ref().is_some_and(|t| t.established());
        let tls = report.tls.as_ref();
        let verdict = match (self.dane, established) {
            (Some(_), false) => Some((
                Phase::Starttls,
                FailureReason::StarttlsUnavailable,
                format!(
                    "{} publishes secure TLSA records, so STARTTLS is mandatory, but no TLS session was established",
                    self.host
                ),
            )),
            (Some(check), true) if check.result != DaneResult::Match => Some((
                Phase::TlsHandshake,
                FailureReason::DaneMismatch,
                match &check.unverified {
                    Some(why) => format!("DANE-TA for {}: {why}", self.host),
                    None => format!(
                        "no TLSA record of {} ({}) matches the presented chain (leaf: {})",
                        self.host,
                        check.records.join(", "),
                        check.presented.first().map_or("none", String::as_str)
                    ),
                },
            )),
            // DANE-TA vouches for an issuer; the leaf must still name the MX host (RFC 7672 §3.2).
            (Some(check), true) => {
                let dane_ta = check.matched_usage == Some(DaneUsage::TrustAnchor);
                let names = tls
                    .and_then(|t| t.chain.first())
                    .map(|leaf| leaf.sans.clone())
                    .unwrap_or_default();
                (dane_ta && !names.iter().any(|n| mta_sts::mx_matches(n, self.host))).then(|| {
                    (
                        Phase::TlsHandshake,
                        FailureReason::DaneMismatch,
                        format!(
                            "a DANE-TA record of {} matches the issuer, but the certificate names {} instead",
                            self.host,
                            names.join(", ")
                        ),
                    )
                })
            }
            (None, true) => {
                let verified = tls.is_some_and(|t| t.verified);
                (!verified && !self.insecure).then(|| {
                    let why = tls.and_then(|t| t.verify_error.clone()).unwrap_or_default();
                    (
                        Phase::TlsHandshake,
                        FailureReason::TlsCertificate,
                        format!("certificate not valid for {}: {why}", self.host),
                    )
                })
            }
            (None, false) => None,
        };
        if let Some((phase, reason, message)) = verdict {
            findings.push(failure(reason.as_str(), &address, message.clone()));
            report.fail(Failure {
                phase,
                reason,
                code: None,
                message,
            });
        }
    }
}
