//! The domain-level records (MTA-STS with its policy, TLS-RPT) and the per-address reverse
//! DNS checks of a posture assessment.

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::dns::PostureDns;
use super::fetch::PolicyFetcher;
use super::mta_sts;
use super::summary::{failure, warning, Finding, RecordState, RptStatus, StsStatus};
use super::tlsrpt;
use crate::report::ProbeReport;

/// PTR names of one address that are looked up forward.
const MAX_PTR_NAMES: usize = 8;

pub(crate) async fn mta_sts_status(
    domain: &str,
    dns: &PostureDns,
    fetcher: &PolicyFetcher,
    findings: &mut Vec<Finding>,
) -> StsStatus {
    let record = match dns.txt(&format!("_mta-sts.{domain}")).await {
        Ok(answer) => mta_sts::parse_record(&answer.data).map_err(|e| e.to_string()),
        // A lookup that failed says nothing about the policy: unknown, not broken.
        Err(e) => return indeterminate_sts(domain, None, format!("_mta-sts TXT: {e}"), findings),
    };
    let id = match record {
        Ok(None) => {
            return StsStatus {
                state: RecordState::None,
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
                state: RecordState::Invalid,
                error: Some(e),
                ..StsStatus::default()
            };
        }
    };
    let fetched = match dns.deadline() {
        None => Ok(fetcher.fetch(domain).await),
        Some(deadline) => tokio::time::timeout_at(deadline, fetcher.fetch(domain)).await,
    };
    let policy = match fetched {
        Ok(Ok(text)) => mta_sts::parse_policy(&text).map_err(|e| e.to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => {
            let why = "policy: not fetched before the deadline".to_string();
            return indeterminate_sts(domain, Some(id), why, findings);
        }
    };
    match policy {
        Ok(policy) => StsStatus {
            state: RecordState::Valid,
            id: Some(id),
            policy: Some(policy),
            uncovered: Vec::new(),
            error: None,
        },
        Err(e) => {
            findings.push(failure("mta_sts_policy", domain, format!("policy: {e}")));
            StsStatus {
                state: RecordState::Invalid,
                id: Some(id),
                policy: None,
                uncovered: Vec::new(),
                error: Some(e),
            }
        }
    }
}

/// An MTA-STS status that could not be determined, with a warning saying why.
fn indeterminate_sts(
    domain: &str,
    id: Option<String>,
    why: String,
    findings: &mut Vec<Finding>,
) -> StsStatus {
    findings.push(warning(
        "mta_sts_indeterminate",
        domain,
        format!("{why}; MTA-STS could not be checked"),
    ));
    StsStatus {
        state: RecordState::Indeterminate,
        id,
        error: Some(why),
        ..StsStatus::default()
    }
}

pub(crate) async fn tls_rpt_status(
    domain: &str,
    dns: &PostureDns,
    findings: &mut Vec<Finding>,
) -> RptStatus {
    let record = match dns.txt(&format!("_smtp._tls.{domain}")).await {
        Ok(answer) => tlsrpt::parse_record(&answer.data).map_err(|e| e.to_string()),
        Err(e) => {
            let why = format!("_smtp._tls TXT: {e}");
            findings.push(warning(
                "tls_rpt",
                domain,
                format!("{why}; TLS-RPT could not be checked"),
            ));
            return RptStatus {
                state: RecordState::Indeterminate,
                rua: Vec::new(),
                error: Some(why),
            };
        }
    };
    match record {
        Ok(None) => RptStatus {
            state: RecordState::None,
            ..RptStatus::default()
        },
        Ok(Some(r)) => RptStatus {
            state: RecordState::Valid,
            rua: r.rua,
            error: None,
        },
        Err(e) => {
            findings.push(warning("tls_rpt", domain, format!("_smtp._tls TXT: {e}")));
            RptStatus {
                state: RecordState::Invalid,
                rua: Vec::new(),
                error: Some(e),
            }
        }
    }
}

/// PTR names of `ip` (the address `report` probed), whether one resolves back to it, and
/// whether the banner names the host that DNS names. Mismatches are warnings.
pub(crate) async fn fcrdns(
    dns: &PostureDns,
    report: &ProbeReport,
    ip: IpAddr,
    mx_host: &str,
    findings: &mut Vec<Finding>,
) -> (Vec<String>, Option<bool>) {
    // Findings name the address as the report does.
    let address = report.address.as_deref().unwrap_or_default();
    let ptr = dns.ptr(ip).await.unwrap_or_default();
    let mut confirmed = false;
    // A hostile zone can publish hundreds of PTR names; a few are enough to confirm one.
    for name in ptr.iter().take(MAX_PTR_NAMES) {
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
    let known: BTreeSet<&str> = ptr.iter().map(String::as_str).chain([mx_host]).collect();
    let greetings = [
        ("banner_name", "banner", report.banner.as_deref()),
        ("ehlo_name", "EHLO reply", report.ehlo_name.as_deref()),
    ];
    for (reason, what, text) in greetings {
        let name = text
            .and_then(|t| t.split_whitespace().next())
            .map(|n| n.trim_end_matches('.').to_ascii_lowercase());
        if let Some(name) = name.filter(|n| !known.contains(n.as_str())) {
            findings.push(warning(
                reason,
                address,
                format!("the {what} names {name}, not the MX host or a PTR name"),
            ));
        }
    }
    (ptr, Some(confirmed))
}
