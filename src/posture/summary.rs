//! What a posture assessment reports: the domain's summary, each MX host and address, and
//! the findings (failures and warnings).

use serde::Serialize;

use super::dane::DaneCheck;
use super::dns::Dnssec;
use super::mta_sts::Policy;
use crate::report::Status;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingSeverity {
    /// Critical: the posture fails.
    Failure,
    /// Worth fixing; mail still flows securely.
    Warning,
}

impl FindingSeverity {
    /// `failure` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingSeverity::Failure => "failure",
            FindingSeverity::Warning => "warning",
        }
    }
}

impl std::fmt::Display for FindingSeverity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a domain record (MTA-STS, TLS-RPT) is published and usable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordState {
    /// No record is published (or the check is off).
    #[default]
    None,
    /// The record (and for MTA-STS its policy) is valid.
    Valid,
    /// The record or policy is invalid.
    Invalid,
    /// Unknown: the lookup failed (timeout, SERVFAIL) or the policy could not be fetched in
    /// time; a sender would not apply a policy it cannot read either.
    Indeterminate,
}

impl RecordState {
    /// `none`, `valid`, `invalid` or `indeterminate`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::None => "none",
            RecordState::Valid => "valid",
            RecordState::Invalid => "invalid",
            RecordState::Indeterminate => "indeterminate",
        }
    }
}

/// `failure` or `warning`, with a reason and where.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// `failure` (critical) or `warning`.
    pub severity: FindingSeverity,
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
    pub state: RecordState,
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
    /// `none`, `valid`, `invalid` or `indeterminate`.
    pub state: RecordState,
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
        if self
            .findings
            .iter()
            .any(|f| f.severity == FindingSeverity::Failure)
        {
            Status::Critical
        } else if self.findings.is_empty() {
            Status::Ok
        } else {
            Status::Warning
        }
    }
}

pub(crate) fn failure(reason: &'static str, subject: &str, message: String) -> Finding {
    Finding {
        severity: FindingSeverity::Failure,
        reason,
        subject: subject.to_string(),
        message,
    }
}

pub(crate) fn warning(reason: &'static str, subject: &str, message: String) -> Finding {
    Finding {
        severity: FindingSeverity::Warning,
        reason,
        subject: subject.to_string(),
        message,
    }
}

/// MTA-STS problems are failures under `enforce`, warnings under `testing`.
pub(crate) fn sts_finding(
    testing: bool,
    reason: &'static str,
    subject: &str,
    message: String,
) -> Finding {
    if testing {
        warning(reason, subject, message)
    } else {
        failure(reason, subject, message)
    }
}
