//! The posture summary as text (after the per-address blocks of `check`).

use std::fmt::Write;

use super::summary::{DomainPosture, FindingSeverity, HostPosture, RecordState};

/// A small table: DNSSEC, MTA-STS mode and coverage, TLS-RPT, per-MX DANE and TLS, findings.
pub fn text(p: &DomainPosture) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "posture {} {}", p.domain, p.status().nagios_word());
    let _ = writeln!(out, "  DNSSEC:     MX {}", p.mx_dnssec.as_str());
    let sts = &p.mta_sts;
    let sts_line = match (&sts.policy, sts.state) {
        (Some(policy), _) => {
            let coverage = if sts.uncovered.is_empty() {
                "covers every MX".to_string()
            } else {
                format!("does not cover {}", sts.uncovered.join(", "))
            };
            format!(
                "{} (id {}, max_age {}), mx {}; {coverage}",
                policy.mode.as_str(),
                sts.id.as_deref().unwrap_or("-"),
                policy.max_age,
                policy.mx.join(", ")
            )
        }
        (None, RecordState::None) => "none".to_string(),
        (None, state) => format!("{}: {}", state.as_str(), sts.error.as_deref().unwrap_or("")),
    };
    let _ = writeln!(out, "  MTA-STS:    {sts_line}");
    let rpt = match p.tls_rpt.state {
        RecordState::Valid => p.tls_rpt.rua.join(", "),
        RecordState::None => "none".to_string(),
        state => format!(
            "{}: {}",
            state.as_str(),
            p.tls_rpt.error.as_deref().unwrap_or("")
        ),
    };
    let _ = writeln!(out, "  TLS-RPT:    {rpt}");
    for host in &p.hosts {
        host_lines(&mut out, host);
    }
    if !p.findings.is_empty() {
        let _ = writeln!(out, "  findings:");
        for f in &p.findings {
            let word = if f.severity == FindingSeverity::Failure {
                "FAILURE"
            } else {
                "warning"
            };
            let _ = writeln!(out, "    {word} {} {}: {}", f.reason, f.subject, f.message);
        }
    }
    out
}

fn host_lines(out: &mut String, host: &HostPosture) {
    let tlsa = if host.tlsa.is_empty() {
        "no TLSA".to_string()
    } else {
        format!(
            "TLSA {} [{}]",
            host.tlsa_dnssec.as_str(),
            host.tlsa.join("; ")
        )
    };
    let dane = if host.dane { "DANE applies" } else { "no DANE" };
    let _ = writeln!(
        out,
        "  MX {}:  addresses {}, {tlsa}, {dane}",
        host.host,
        host.address_dnssec.as_str()
    );
    for a in &host.addresses {
        let tls = a.tls.as_deref().unwrap_or("no TLS");
        let webpki = if a.webpki_valid {
            "WebPKI valid"
        } else {
            "WebPKI invalid"
        };
        let dane = match &a.dane {
            Some(d) => match &d.matched {
                Some((record, depth)) => format!(", DANE match {record} at depth {depth}"),
                None => format!(", DANE {}", d.result),
            },
            None => String::new(),
        };
        let fcrdns = match a.fcrdns {
            Some(true) => format!(", FCrDNS ok ({})", a.ptr.join(", ")),
            Some(false) => ", FCrDNS mismatch".to_string(),
            None => String::new(),
        };
        let _ = writeln!(out, "    {}  {tls}, {webpki}{dane}{fcrdns}", a.address);
    }
}
