//! Assessing a mail domain: DNSSEC of the MX, A/AAAA and TLSA answers, DANE per MX address,
//! MTA-STS coverage and enforcement, TLS-RPT, and FCrDNS with the banner name, from the probe
//! reports of every MX address plus the domain's DNS.
//!
//! While the probes run (recording, not enforcing, WebPKI verification), [`prepare`] looks up
//! the TLSA sets of the MX hosts and [`survey`] the domain's records; then [`assess`] judges the
//! domain, each host and each address (DANE where it applies, WebPKI elsewhere; the verdict on
//! a report is `posture::verdict`'s).

use std::net::IpAddr;
use std::str::FromStr;

use hickory_resolver::proto::rr::RecordType;
use serde::Serialize;

use super::dane::{self, Tlsa};
use super::dns::{Dnssec, PostureDns};
use super::fetch::PolicyFetcher;
use super::mta_sts::{self, Mode};
use super::records::{fcrdns, mta_sts_status, tls_rpt_status};
use super::summary::{
    failure, sts_finding, warning, AddressPosture, DomainPosture, Finding, FindingSeverity,
    HostPosture, RecordState, RptStatus, StsStatus,
};
use super::verdict::Verdict;
use crate::probe::fanout::MxReport;
use crate::report::ProbeReport;

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

/// Looks up the TLSA set of every MX host (nothing when DANE is off), one after another:
/// concurrent validating lookups make identical zone-cut questions, which some resolvers
/// (unbound among them) leave unanswered.
pub async fn prepare(
    dns: &PostureDns,
    hosts: &[String],
    settings: &PostureSettings,
) -> Vec<PreparedHost> {
    let mut prepared = Vec::with_capacity(hosts.len());
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

/// What the domain's DNS says, independent of the probes: looked up while they run, so a
/// probe that takes the whole deadline does not leave the posture without time.
pub struct Survey {
    validating: bool,
    mx_dnssec: Dnssec,
    mta_sts: StsStatus,
    tls_rpt: RptStatus,
    /// The DNSSEC status of each MX host's addresses, in the order of the hosts.
    address_dnssec: Vec<Dnssec>,
    findings: Vec<Finding>,
}

/// Surveys the domain: whether the resolver validates, the MX set's DNSSEC status, MTA-STS and
/// TLS-RPT, and each host's address records.
pub async fn survey(domain: &str, hosts: &[String], inputs: &AssessContext<'_>) -> Survey {
    let mut judge = Judgement {
        inputs,
        // Bogus answers are failures only when the resolver path can validate at all.
        validating: inputs.dns.can_validate().await,
        findings: Vec::new(),
    };
    let mx_dnssec = judge.mx_dnssec(domain).await;
    let (mta_sts, tls_rpt) = judge.domain_records(domain).await;
    let mut address_dnssec = Vec::with_capacity(hosts.len());
    for host in hosts {
        let status = inputs.dns.address_status(host).await;
        address_dnssec.push(status.unwrap_or(Dnssec::Indeterminate));
    }
    Survey {
        validating: judge.validating,
        mx_dnssec,
        mta_sts,
        tls_rpt,
        address_dnssec,
        findings: judge.findings,
    }
}

/// Judges `reports` (probed with verification recorded, not enforced) and the domain; marks
/// each report that fails a posture check (DANE, WebPKI where DANE does not apply, STARTTLS
/// required by DANE). `prepared` holds the hosts in the order the reports index them.
pub async fn assess(
    domain: &str,
    survey: Survey,
    prepared: &[PreparedHost],
    reports: &mut [MxReport],
    inputs: &AssessContext<'_>,
) -> DomainPosture {
    let mut judge = Judgement {
        inputs,
        validating: survey.validating,
        findings: survey.findings,
    };
    let mut mta_sts = survey.mta_sts;
    let mut hosts = Vec::new();
    for (index, host) in prepared.iter().enumerate() {
        let of_host = reports.iter_mut().filter(|r| r.host == index);
        let address_dnssec = survey
            .address_dnssec
            .get(index)
            .copied()
            .unwrap_or(Dnssec::Indeterminate);
        let posture = judge
            .host(host, address_dnssec, mta_sts.policy.as_ref(), of_host)
            .await;
        if posture.mta_sts_covered == Some(false) {
            mta_sts.uncovered.push(host.host.clone());
        }
        hosts.push(posture);
    }
    let mut findings = judge.findings;
    if !judge.validating {
        findings.push(warning(
            "dnssec_unavailable",
            domain,
            "the root zone does not validate through this resolver, so DNSSEC statuses are unreliable and dns_bogus is not raised (use a DNSSEC-capable resolver, or --dnssec-trust-anchor)".into(),
        ));
    }
    findings.sort_by_key(|f| f.severity != FindingSeverity::Failure);
    DomainPosture {
        domain: domain.to_string(),
        mx_dnssec: survey.mx_dnssec,
        mta_sts,
        tls_rpt: survey.tls_rpt,
        hosts,
        findings,
    }
}

/// One assessment in progress: what it may use and what it has found.
struct Judgement<'a> {
    inputs: &'a AssessContext<'a>,
    validating: bool,
    findings: Vec<Finding>,
}

impl Judgement<'_> {
    fn bogus(&mut self, subject: &str, what: &str) {
        if self.validating {
            self.findings.push(failure(
                "dns_bogus",
                subject,
                format!("the {what} answer is DNSSEC-bogus"),
            ));
        }
    }

    /// The DNSSEC status of the MX set (asked of the validating resolver; the hosts themselves
    /// came from the one lookup fan-out used).
    async fn mx_dnssec(&mut self, domain: &str) -> Dnssec {
        let status = self
            .inputs
            .dns
            .lookup(domain, RecordType::MX)
            .await
            .map_or(Dnssec::Indeterminate, |a| a.dnssec);
        if status == Dnssec::Bogus {
            self.bogus(domain, "MX");
        }
        status
    }

    /// MTA-STS (record and policy) and TLS-RPT, when asked for.
    async fn domain_records(&mut self, domain: &str) -> (StsStatus, RptStatus) {
        let (dns, fetcher) = (self.inputs.dns, self.inputs.fetcher);
        if !self.inputs.settings.mta_sts {
            let sts = StsStatus {
                state: RecordState::None,
                ..StsStatus::default()
            };
            let rpt = RptStatus {
                state: RecordState::None,
                ..RptStatus::default()
            };
            return (sts, rpt);
        }
        (
            mta_sts_status(domain, dns, fetcher, &mut self.findings).await,
            tls_rpt_status(domain, dns, &mut self.findings).await,
        )
    }

    /// One MX host: its DNSSEC statuses (the addresses' from the survey), DANE requirement,
    /// MTA-STS coverage, and each of its addresses.
    async fn host(
        &mut self,
        host: &PreparedHost,
        address_dnssec: Dnssec,
        policy: Option<&mta_sts::Policy>,
        reports: impl Iterator<Item = &mut MxReport>,
    ) -> HostPosture {
        if address_dnssec == Dnssec::Bogus {
            self.bogus(&host.host, "A/AAAA");
        }
        if host.tlsa_dnssec == Dnssec::Bogus {
            self.bogus(&host.host, "TLSA");
        }
        if self.inputs.settings.dane == DaneMode::Require && !host.dane_applies() {
            self.findings.push(failure(
                "dane_mismatch",
                &host.host,
                "dane = require, but there is no secure, usable TLSA set".into(),
            ));
        }
        let testing = policy.is_some_and(|p| p.mode == Mode::Testing);
        let covered = policy.map(|p| p.mx.iter().any(|pat| mta_sts::mx_matches(pat, &host.host)));
        if covered == Some(false) {
            let message = format!(
                "{} is not covered by the MTA-STS policy's mx patterns",
                host.host
            );
            self.findings.push(sts_finding(
                testing,
                "mta_sts_mx_mismatch",
                &host.host,
                message,
            ));
        }
        let mut addresses = Vec::new();
        for report in reports {
            let ip = report.address.map(|a| a.ip());
            addresses.push(self.address(host, policy, &mut report.report, ip).await);
        }
        HostPosture {
            host: host.host.clone(),
            address_dnssec,
            tlsa_dnssec: host.tlsa_dnssec,
            tlsa: host.tlsa.iter().map(Tlsa::display).collect(),
            dane: host.dane_applies(),
            mta_sts_covered: covered,
            addresses,
        }
    }

    /// One address: DANE or WebPKI judged on its report, MTA-STS enforcement, FCrDNS.
    async fn address(
        &mut self,
        host: &PreparedHost,
        policy: Option<&mta_sts::Policy>,
        report: &mut ProbeReport,
        ip: Option<IpAddr>,
    ) -> AddressPosture {
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
        let verdict = Verdict {
            host: &host.host,
            dane: dane.as_ref(),
            insecure: self.inputs.insecure,
        };
        verdict.judge(report, &mut self.findings);
        let enforce = policy.is_some_and(|p| p.mode == Mode::Enforce);
        if enforce && report.success && !webpki_valid && !host.dane_applies() {
            let message = format!(
                "{address}: MTA-STS enforce needs STARTTLS with a WebPKI-valid certificate for {}",
                host.host
            );
            self.findings
                .push(failure("mta_sts_mx_mismatch", &address, message));
        }
        let (ptr, fcrdns) = match ip.filter(|_| self.inputs.settings.fcrdns) {
            Some(ip) => fcrdns(self.inputs.dns, report, ip, &host.host, &mut self.findings).await,
            None => (Vec::new(), None),
        };
        AddressPosture {
            address,
            tls: version,
            webpki_valid,
            dane,
            ptr,
            fcrdns,
        }
    }
}
