//! Assessing a mail domain: DNSSEC of the MX, A/AAAA and TLSA answers, DANE per MX address,
//! MTA-STS coverage and enforcement, TLS-RPT, and FCrDNS with the banner name, from the probe
//! reports of every MX address plus the domain's DNS.
//!
//! Two steps around the probes: [`prepare`] looks up MX and TLSA first (DANE decides how the
//! certificate is judged), the probes then run recording, not enforcing, WebPKI verification,
//! and [`assess`] judges each address (DANE where it applies, WebPKI elsewhere) and the domain.

use std::str::FromStr;

use hickory_resolver::proto::rr::RecordType;
use serde::Serialize;

use super::dane::{self, DaneCheck, DaneResult, DaneUsage, Tlsa};
use super::dns::{Dnssec, PostureDns};
use super::fetch::PolicyFetcher;
use super::mta_sts::{self, Mode};
use super::records::{fcrdns, mta_sts_status, tls_rpt_status};
use super::summary::{
    failure, sts_finding, warning, AddressPosture, DomainPosture, Finding, FindingSeverity,
    HostPosture, RecordState, RptStatus, StsStatus,
};
use crate::report::{Failure, FailureReason, Phase, ProbeReport};

/// `dane = "auto" | "require" | "off"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DaneMode {
    /// Check DANE where a secure TLSA set exists.
    #[default]
    Auto,
    /// Every MX host must have a secure, usable TLSA set.
    Require,
    /// Do not look at TLSA records.
    Off,
}

/// A DANE mode name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown DANE mode {0:?} (expected auto, require or off)")]
pub struct UnknownDaneMode(String);

impl FromStr for DaneMode {
    type Err = UnknownDaneMode;
    fn from_str(text: &str) -> Result<Self, UnknownDaneMode> {
        match text {
            "auto" => Ok(DaneMode::Auto),
            "require" => Ok(DaneMode::Require),
            "off" => Ok(DaneMode::Off),
            other => Err(UnknownDaneMode(other.to_string())),
        }
    }
}

/// What to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostureSettings {
    /// DANE.
    pub dane: DaneMode,
    /// MTA-STS and TLS-RPT.
    pub mta_sts: bool,
    /// Forward-confirmed reverse DNS and banner names.
    pub fcrdns: bool,
}

impl Default for PostureSettings {
    fn default() -> Self {
        PostureSettings {
            dane: DaneMode::Auto,
            mta_sts: true,
            fcrdns: true,
        }
    }
}

/// One MX host before probing: its TLSA set and whether DANE applies.
#[derive(Debug, Clone)]
pub struct PreparedHost {
    /// The MX host name.
    pub host: String,
    /// TLSA at `_25._tcp.<host>`.
    pub tlsa: Vec<Tlsa>,
    /// Its DNSSEC status.
    pub tlsa_dnssec: Dnssec,
}

impl PreparedHost {
    /// A secure TLSA set with at least one usable record: STARTTLS is then mandatory and
    /// the chain is judged by DANE, not WebPKI.
    pub fn dane_applies(&self) -> bool {
        self.tlsa_dnssec == Dnssec::Secure && self.tlsa.iter().any(Tlsa::usable)
    }
}

/// Looks up the TLSA set of every MX host (nothing when DANE is off).
pub async fn prepare(
    dns: &PostureDns,
    hosts: &[String],
    settings: &PostureSettings,
) -> Vec<PreparedHost> {
    let mut prepared = Vec::new();
    for host in hosts {
        let (tlsa, tlsa_dnssec) = if settings.dane == DaneMode::Off {
            (Vec::new(), Dnssec::Indeterminate)
        } else {
            match dns.tlsa(&format!("_25._tcp.{host}")).await {
                Ok(a) => (a.data, a.dnssec),
                Err(_) => (Vec::new(), Dnssec::Indeterminate),
            }
        };
        prepared.push(PreparedHost {
            host: host.clone(),
            tlsa,
            tlsa_dnssec,
        });
    }
    prepared
}

/// What [`assess`] needs besides the reports.
pub struct AssessContext<'a> {
    /// The validating resolver.
    pub dns: &'a PostureDns,
    /// MTA-STS policy fetcher.
    pub fetcher: &'a PolicyFetcher,
    /// What to check.
    pub settings: &'a PostureSettings,
    /// `--insecure`: certificate verdicts are recorded, never enforced.
    pub insecure: bool,
}

/// Judges `reports` (probed with verification recorded, not enforced) and the domain; marks
/// each report that fails a posture check (DANE, WebPKI where DANE does not apply, STARTTLS
/// required by DANE).
pub async fn assess(
    domain: &str,
    prepared: &[PreparedHost],
    reports: &mut [ProbeReport],
    inputs: &AssessContext<'_>,
) -> DomainPosture {
    let dns = inputs.dns;
    let mut findings = Vec::new();
    let validating = dns.can_validate().await;
    // Bogus answers are failures only when the resolver path can validate at all.
    let bogus = |findings: &mut Vec<Finding>, subject: &str, what: &str| {
        if validating {
            findings.push(failure(
                "dns_bogus",
                subject,
                format!("the {what} answer is DNSSEC-bogus"),
            ));
        }
    };
    let mx_dnssec = dns
        .lookup(domain, RecordType::MX)
        .await
        .map_or(Dnssec::Indeterminate, |a| a.dnssec);
    if mx_dnssec == Dnssec::Bogus {
        bogus(&mut findings, domain, "MX");
    }
    let (mut mta_sts, tls_rpt) = if inputs.settings.mta_sts {
        (
            mta_sts_status(domain, dns, inputs.fetcher, &mut findings).await,
            tls_rpt_status(domain, dns, &mut findings).await,
        )
    } else {
        (
            StsStatus {
                state: RecordState::None,
                ..StsStatus::default()
            },
            RptStatus {
                state: RecordState::None,
                ..RptStatus::default()
            },
        )
    };
    let enforce = mta_sts
        .policy
        .as_ref()
        .is_some_and(|p| p.mode == Mode::Enforce);
    let testing = mta_sts
        .policy
        .as_ref()
        .is_some_and(|p| p.mode == Mode::Testing);

    let mut hosts = Vec::new();
    for host in prepared {
        let address_dnssec = dns
            .address_status(&host.host)
            .await
            .unwrap_or(Dnssec::Indeterminate);
        if address_dnssec == Dnssec::Bogus {
            bogus(&mut findings, &host.host, "A/AAAA");
        }
        if host.tlsa_dnssec == Dnssec::Bogus {
            bogus(&mut findings, &host.host, "TLSA");
        }
        if inputs.settings.dane == DaneMode::Require && !host.dane_applies() {
            findings.push(failure(
                "dane_mismatch",
                &host.host,
                "dane = require, but there is no secure, usable TLSA set".into(),
            ));
        }
        let covered = mta_sts
            .policy
            .as_ref()
            .map(|p| p.mx.iter().any(|pat| mta_sts::mx_matches(pat, &host.host)));
        if covered == Some(false) {
            mta_sts.uncovered.push(host.host.clone());
            let message = format!(
                "{} is not covered by the MTA-STS policy's mx patterns",
                host.host
            );
            findings.push(sts_finding(
                testing,
                "mta_sts_mx_mismatch",
                &host.host,
                message,
            ));
        }
        let mut addresses = Vec::new();
        for report in reports
            .iter_mut()
            .filter(|r| host_of(&r.target) == host.host)
        {
            let address = report.address.clone().unwrap_or_default();
            let tls = report.tls.as_ref().filter(|t| t.established());
            let webpki_valid = tls.is_some_and(|t| t.verified);
            let version = tls.and_then(|t| t.version.clone());
            let dane = (host.dane_applies()).then(|| {
                dane::check(
                    &host.tlsa,
                    tls.map(|t| t.chain_der.as_slice()).unwrap_or(&[]),
                )
            });
            judge(report, host, dane.as_ref(), inputs.insecure, &mut findings);
            if enforce && report.success && !webpki_valid && !host.dane_applies() {
                let message = format!("{address}: MTA-STS enforce needs STARTTLS with a WebPKI-valid certificate for {}", host.host);
                findings.push(sts_finding(
                    testing,
                    "mta_sts_mx_mismatch",
                    &address,
                    message,
                ));
            }
            let (ptr, fcrdns) = if inputs.settings.fcrdns {
                fcrdns(dns, report, &host.host, &mut findings).await
            } else {
                (Vec::new(), None)
            };
            addresses.push(AddressPosture {
                address,
                tls: version,
                webpki_valid,
                dane,
                ptr,
                fcrdns,
            });
        }
        hosts.push(HostPosture {
            host: host.host.clone(),
            address_dnssec,
            tlsa_dnssec: host.tlsa_dnssec,
            tlsa: host.tlsa.iter().map(Tlsa::display).collect(),
            dane: host.dane_applies(),
            mta_sts_covered: covered,
            addresses,
        });
    }
    if !validating {
        findings.push(warning(
            "dnssec_unavailable",
            domain,
            "the root zone does not validate through this resolver, so DNSSEC statuses are unreliable and dns_bogus is not raised (use a DNSSEC-capable resolver, or --dnssec-trust-anchor)".into(),
        ));
    }
    findings.sort_by_key(|f| f.severity != FindingSeverity::Failure);
    DomainPosture {
        domain: domain.to_string(),
        mx_dnssec,
        mta_sts,
        tls_rpt,
        hosts,
        findings,
    }
}

/// The MX host of a report's `host:port` target.
fn host_of(target: &str) -> String {
    let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

/// Marks `report` failed where the certificate or STARTTLS does not pass: DANE where it
/// applies (STARTTLS mandatory, a record must match), WebPKI elsewhere unless `insecure`.
fn judge(
    report: &mut ProbeReport,
    host: &PreparedHost,
    dane: Option<&DaneCheck>,
    insecure: bool,
    findings: &mut Vec<Finding>,
) {
    if !report.success {
        return;
    }
    let address = report.address.clone().unwrap_or_default();
    let established = report.tls.as_ref().is_some_and(|t| t.established());
    let tls = report.tls.as_ref();
    let verdict = match (dane, established) {
        (Some(_), false) => Some((
            Phase::Starttls,
            FailureReason::StarttlsUnavailable,
            format!(
                "{} publishes secure TLSA records, so STARTTLS is mandatory, but no TLS session was established",
                host.host
            ),
        )),
        (Some(check), true) if check.result != DaneResult::Match => Some((
            Phase::TlsHandshake,
            FailureReason::DaneMismatch,
            format!(
                "no TLSA record of {} ({}) matches the presented chain (leaf: {})",
                host.host,
                check.records.join(", "),
                check.presented.first().map_or("none", String::as_str)
            ),
        )),
        // DANE-TA vouches for an issuer; the leaf must still name the MX host (RFC 7672 §3.2).
        (Some(check), true) => {
            let dane_ta = check.matched_usage == Some(DaneUsage::TrustAnchor);
            let names = tls
                .and_then(|t| t.chain.first())
                .map(|leaf| leaf.sans.clone())
                .unwrap_or_default();
            (dane_ta && !names.iter().any(|n| mta_sts::mx_matches(n, &host.host))).then(|| {
                (
                    Phase::TlsHandshake,
                    FailureReason::DaneMismatch,
                    format!(
                        "a DANE-TA record of {} matches the issuer, but the certificate names {} instead",
                        host.host,
                        names.join(", ")
                    ),
                )
            })
        }
        (None, true) => {
            let verified = tls.is_some_and(|t| t.verified);
            (!verified && !insecure).then(|| {
                let why = tls.and_then(|t| t.verify_error.clone()).unwrap_or_default();
                (
                    Phase::TlsHandshake,
                    FailureReason::TlsCertificate,
                    format!("certificate not valid for {}: {why}", host.host),
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
