//! Assessing a mail domain: DNSSEC of the MX, A/AAAA and TLSA answers, DANE per MX address,
//! MTA-STS coverage and enforcement, TLS-RPT, and FCrDNS with the banner name, from the probe
//! reports of every MX address plus the domain's DNS.
//!
//! Two steps around the probes: [`prepare`] looks up MX and TLSA first (DANE decides how the
//! certificate is judged), the probes then run recording, not enforcing, WebPKI verification,
//! and [`assess`] judges each address (DANE where it applies, WebPKI elsewhere) and the domain.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::str::FromStr;

use hickory_resolver::proto::rr::RecordType;
use serde::Serialize;

use super::dane::{self, DaneCheck, Tlsa};
use super::dns::{Dnssec, PostureDns};
use super::fetch::PolicyFetcher;
use super::mta_sts::{self, Mode, Policy};
use super::tlsrpt;
use crate::report::{Failure, FailureReason, Phase, ProbeReport, Status};

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

impl FromStr for DaneMode {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(DaneMode::Auto),
            "require" => Ok(DaneMode::Require),
            "off" => Ok(DaneMode::Off),
            other => Err(format!(
                "unknown DANE mode {other:?} (expected auto, require or off)"
            )),
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

/// `failure` or `warning`, with a reason and where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// `failure` (critical) or `warning`.
    pub severity: &'static str,
    /// A failure reason (`dns_bogus`, `dane_mismatch`, `mta_sts_policy`,
    /// `mta_sts_mx_mismatch`, `starttls_unavailable`, `tls_certificate`) or a warning kind
    /// (`tls_rpt`, `fcrdns`, `banner_name`).
    pub reason: &'static str,
    /// The MX host or address concerned, or the domain.
    pub subject: String,
    /// Detail.
    pub message: String,
}

/// MTA-STS as found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StsStatus {
    /// `none` (no record), `valid` or `invalid`.
    pub state: &'static str,
    /// The record's id.
    pub id: Option<String>,
    /// The policy, when fetched and valid.
    pub policy: Option<Policy>,
    /// MX hosts no pattern covers.
    pub uncovered: Vec<String>,
    /// Why the record or policy is invalid.
    pub error: Option<String>,
}

/// TLS-RPT as found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RptStatus {
    /// `none`, `valid` or `invalid`.
    pub state: &'static str,
    /// Report destinations.
    pub rua: Vec<String>,
    /// Why the record is invalid.
    pub error: Option<String>,
}

/// One probed address of an MX host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddressPosture {
    /// The address.
    pub address: String,
    /// TLS version, when a session was established.
    pub tls: Option<String>,
    /// Whether the chain verified under WebPKI for the MX name.
    pub webpki_valid: bool,
    /// The DANE comparison, when DANE applies.
    pub dane: Option<DaneCheck>,
    /// PTR names of the address.
    pub ptr: Vec<String>,
    /// Whether a PTR name resolves back to the address.
    pub fcrdns: Option<bool>,
}

/// One MX host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostPosture {
    /// The MX host name.
    pub host: String,
    /// DNSSEC of its A/AAAA answers.
    pub address_dnssec: Dnssec,
    /// DNSSEC of its TLSA answer.
    pub tlsa_dnssec: Dnssec,
    /// Its TLSA records, presentation form.
    pub tlsa: Vec<String>,
    /// Whether DANE applies (secure, usable TLSA).
    pub dane: bool,
    /// Whether the MTA-STS policy covers it (None without a policy).
    pub mta_sts_covered: Option<bool>,
    /// Its probed addresses.
    pub addresses: Vec<AddressPosture>,
}

/// The posture of a mail domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainPosture {
    /// The domain.
    pub domain: String,
    /// DNSSEC of the MX answer.
    pub mx_dnssec: Dnssec,
    /// MTA-STS.
    pub mta_sts: StsStatus,
    /// TLS-RPT.
    pub tls_rpt: RptStatus,
    /// Every MX host.
    pub hosts: Vec<HostPosture>,
    /// What is wrong, worst first.
    pub findings: Vec<Finding>,
}

impl DomainPosture {
    /// `critical` with any failure, `warning` with any warning, else `ok`.
    pub fn status(&self) -> Status {
        if self.findings.iter().any(|f| f.severity == "failure") {
            Status::Critical
        } else if self.findings.is_empty() {
            Status::Ok
        } else {
            Status::Warning
        }
    }
}

/// What [`assess`] needs besides the reports.
pub struct Inputs<'a> {
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
    inputs: &Inputs<'_>,
) -> DomainPosture {
    let dns = inputs.dns;
    let mut findings = Vec::new();
    let mx_dnssec = dns
        .lookup(domain, RecordType::MX)
        .await
        .map_or(Dnssec::Indeterminate, |a| a.dnssec);
    if mx_dnssec == Dnssec::Bogus {
        findings.push(failure(
            "dns_bogus",
            domain,
            "the MX answer is DNSSEC-bogus".into(),
        ));
    }
    let (mut mta_sts, tls_rpt) = if inputs.settings.mta_sts {
        (
            mta_sts_status(domain, inputs, &mut findings).await,
            tls_rpt_status(domain, dns, &mut findings).await,
        )
    } else {
        (
            StsStatus {
                state: "none",
                ..StsStatus::default()
            },
            RptStatus {
                state: "none",
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
            findings.push(failure(
                "dns_bogus",
                &host.host,
                "the A/AAAA answer is DNSSEC-bogus".into(),
            ));
        }
        if host.tlsa_dnssec == Dnssec::Bogus {
            findings.push(failure(
                "dns_bogus",
                &host.host,
                "the TLSA answer is DNSSEC-bogus".into(),
            ));
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
    findings.sort_by_key(|f| f.severity != "failure");
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

fn failure(reason: &'static str, subject: &str, message: String) -> Finding {
    Finding {
        severity: "failure",
        reason,
        subject: subject.to_string(),
        message,
    }
}

fn warning(reason: &'static str, subject: &str, message: String) -> Finding {
    Finding {
        severity: "warning",
        reason,
        subject: subject.to_string(),
        message,
    }
}

/// MTA-STS problems are failures under `enforce`, warnings under `testing`.
fn sts_finding(testing: bool, reason: &'static str, subject: &str, message: String) -> Finding {
    if testing {
        warning(reason, subject, message)
    } else {
        failure(reason, subject, message)
    }
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
    let verdict = match (dane, established) {
        (Some(_), false) => Some((Phase::Starttls, FailureReason::StarttlsUnavailable, format!("{} publishes secure TLSA records, so STARTTLS is mandatory, but no TLS session was established", host.host))),
        (Some(check), true) if check.result != "match" => Some((Phase::TlsHandshake, FailureReason::DaneMismatch, format!("no TLSA record of {} ({}) matches the presented chain", host.host, check.records.join(", ")))),
        (Some(_), true) => None,
        (None, true) => {
            let tls = report.tls.as_ref();
            let verified = tls.is_some_and(|t| t.verified);
            (!verified && !insecure).then(|| {
                let why = tls.and_then(|t| t.verify_error.clone()).unwrap_or_default();
                (Phase::TlsHandshake, FailureReason::TlsCertificate, format!("certificate not valid for {}: {why}", host.host))
            })
        }
        (None, false) => None,
    };
    if let Some((phase, reason, message)) = verdict {
        findings.push(failure(reason.as_str(), &address, message.clone()));
        report.success = false;
        report.status = Status::Critical;
        report.failure = Some(Failure {
            phase,
            reason,
            code: None,
            message,
        });
    }
}

async fn mta_sts_status(
    domain: &str,
    inputs: &Inputs<'_>,
    findings: &mut Vec<Finding>,
) -> StsStatus {
    let record = match inputs.dns.txt(&format!("_mta-sts.{domain}")).await {
        Ok(answer) => mta_sts::parse_record(&answer.data),
        Err(e) => Err(e.to_string()),
    };
    let id = match record {
        Ok(None) => {
            return StsStatus {
                state: "none",
                ..StsStatus::default()
            }
        }
        Ok(Some(r)) => r.id,
        Err(e) => {
            findings.push(failure(
                "mta_sts_policy",
                domain,
                format!("_mta-sts TXT: {e}"),
            ));
            return StsStatus {
                state: "invalid",
                error: Some(e),
                ..StsStatus::default()
            };
        }
    };
    let policy = match inputs.fetcher.fetch(domain).await {
        Ok(text) => mta_sts::parse_policy(&text),
        Err(e) => Err(e),
    };
    match policy {
        Ok(policy) => StsStatus {
            state: "valid",
            id: Some(id),
            policy: Some(policy),
            uncovered: Vec::new(),
            error: None,
        },
        Err(e) => {
            findings.push(failure("mta_sts_policy", domain, format!("policy: {e}")));
            StsStatus {
                state: "invalid",
                id: Some(id),
                policy: None,
                uncovered: Vec::new(),
                error: Some(e),
            }
        }
    }
}

async fn tls_rpt_status(domain: &str, dns: &PostureDns, findings: &mut Vec<Finding>) -> RptStatus {
    let record = match dns.txt(&format!("_smtp._tls.{domain}")).await {
        Ok(answer) => tlsrpt::parse_record(&answer.data),
        Err(e) => Err(e.to_string()),
    };
    match record {
        Ok(None) => RptStatus {
            state: "none",
            ..RptStatus::default()
        },
        Ok(Some(r)) => RptStatus {
            state: "valid",
            rua: r.rua,
            error: None,
        },
        Err(e) => {
            findings.push(warning("tls_rpt", domain, format!("_smtp._tls TXT: {e}")));
            RptStatus {
                state: "invalid",
                rua: Vec::new(),
                error: Some(e),
            }
        }
    }
}

/// PTR names of the report's address, whether one resolves back to it, and whether the
/// banner names the host that DNS names. Mismatches are warnings.
async fn fcrdns(
    dns: &PostureDns,
    report: &ProbeReport,
    mx_host: &str,
    findings: &mut Vec<Finding>,
) -> (Vec<String>, Option<bool>) {
    let Some(address) = report.address.as_deref() else {
        return (Vec::new(), None);
    };
    let Ok(ip) = address
        .rsplit_once(':')
        .map_or(address, |(ip, _)| ip)
        .trim_matches(|c| c == '[' || c == ']')
        .parse::<IpAddr>()
    else {
        return (Vec::new(), None);
    };
    let ptr = dns.ptr(ip).await.unwrap_or_default();
    let mut confirmed = false;
    for name in &ptr {
        if dns.resolves_to(name, ip).await {
            confirmed = true;
            break;
        }
    }
    if !confirmed {
        let message = if ptr.is_empty() {
            format!("{address} has no PTR record")
        } else {
            format!(
                "no PTR name of {address} ({}) resolves back to it",
                ptr.join(", ")
            )
        };
        findings.push(warning("fcrdns", address, message));
    }
    let banner_name = report
        .banner
        .as_deref()
        .and_then(|b| b.split_whitespace().next())
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase());
    if let Some(name) = banner_name {
        let known: BTreeSet<&str> = ptr.iter().map(String::as_str).chain([mx_host]).collect();
        if !known.contains(name.as_str()) {
            findings.push(warning(
                "banner_name",
                address,
                format!("the banner names {name}, not the MX host or a PTR name"),
            ));
        }
    }
    (ptr, Some(confirmed))
}
