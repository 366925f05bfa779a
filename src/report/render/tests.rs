//! Rendering tests on hand-built reports.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::report::{Failure, FailureReason, Phase, PhaseTiming, ProbeReport, Status};

fn report(address: &str, failure: Option<Failure>, warnings: Vec<String>) -> ProbeReport {
    let status = match (&failure, warnings.is_empty()) {
        (Some(_), _) => Status::Critical,
        (None, false) => Status::Warning,
        (None, true) => Status::Ok,
    };
    ProbeReport {
        success: failure.is_none(),
        status,
        duration_seconds: 0.0123,
        failure,
        phases: vec![
            PhaseTiming {
                phase: Phase::Connect,
                seconds: 0.001,
                code: None,
            },
            PhaseTiming {
                phase: Phase::Banner,
                seconds: 0.004,
                code: Some(220),
            },
        ],
        banner: Some("mx.example.test ESMTP".into()),
        capabilities: vec!["PIPELINING".into()],
        warnings,
        ..ProbeReport::blank(
            "mx.example.test:25",
            Some(address),
            UNIX_EPOCH + Duration::from_millis(1_795_000_000_123),
        )
    }
}

fn refused() -> Option<Failure> {
    Some(Failure {
        phase: Phase::Connect,
        reason: FailureReason::ConnectRefused,
        code: None,
        message: "connection refused".into(),
    })
}

#[test]
fn summary_is_critical_only_when_nothing_works() {
    let ok = report("192.0.2.1:25", None, vec![]);
    let bad = report("192.0.2.2:25", refused(), vec![]);
    let warn = report(
        "192.0.2.3:25",
        None,
        vec!["certificate expires in 3.0 days".into()],
    );
    assert_eq!(summarize(std::slice::from_ref(&ok)).status, Status::Ok);
    assert_eq!(
        summarize(&[ok.clone(), warn.clone()]).status,
        Status::Warning
    );
    assert_eq!(
        summarize(&[ok.clone(), bad.clone()]).status,
        Status::Warning
    );
    assert_eq!(
        summarize(&[bad.clone(), bad.clone()]).status,
        Status::Critical
    );
    assert_eq!(summarize(&[]).status, Status::Critical);
}

#[test]
fn nagios_single_address_line() {
    let line = nagios(
        "mx.example.test:25",
        &[report("192.0.2.1:25", None, vec![])],
    );
    assert_eq!(
        line,
        "SMTP OK - 0.012s | time=0.012300s;;;0 connect=0.001000s;;;0 banner=0.004000s;;;0\n"
    );
    let line = nagios(
        "mx.example.test:25",
        &[report("192.0.2.1:25", refused(), vec![])],
    );
    assert!(line.starts_with(
        "SMTP CRITICAL - 0.012s - connect failed: connect_refused: connection refused |"
    ));
    let mut hostile = report("192.0.2.1:25", refused(), vec![]);
    if let Some(f) = hostile.failure.as_mut() {
        f.message = "554 go|away=1 ".repeat(40);
    }
    let line = nagios("mx.example.test:25", &[hostile]);
    assert_eq!(
        line.matches('|').count(),
        1,
        "server text cannot inject perfdata: {line}"
    );
    assert!(
        line.contains("go/away=1") && line.contains("... | time="),
        "{line}"
    );
}

#[test]
fn nagios_several_addresses_has_a_line_each() {
    let reports = [
        report("192.0.2.1:25", None, vec![]),
        report("192.0.2.2:25", refused(), vec![]),
    ];
    let out = nagios("mx:example.test", &reports);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("SMTP WARNING - mx:example.test: 1 of 2 addresses ok |"));
    assert!(lines[0].contains("'192.0.2.2:25 time'=0.012300s;;;0"));
    assert!(lines[2].starts_with("CRITICAL 192.0.2.2:25 (mx.example.test:25)"));
}

#[test]
fn json_lines_are_one_report_per_line_with_contract_keys() {
    let out = json_lines(&[
        report("192.0.2.1:25", None, vec![]),
        report("192.0.2.2:25", refused(), vec![]),
    ]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["started_at"], "2026-11-18T11:06:40.123Z");
    assert_eq!(
        lines[0]["phases"][1],
        serde_json::json!({"phase": "banner", "seconds": 0.004, "code": 220})
    );
    assert_eq!(lines[1]["failure"]["reason"], "connect_refused");
    assert_eq!(lines[1]["status"], "critical");
    assert!(lines[0]["vantage"].is_null(), "a check has no vantage");
    assert!(lines[0].get("vantage").is_some(), "but the key is there");

    let from = json_lines_from(&[report("192.0.2.1:25", None, vec![])], Some("eu-1"));
    let line: serde_json::Value = serde_json::from_str(from.trim()).expect("json");
    assert_eq!(line["vantage"], "eu-1");
    assert_eq!(
        line["address"], "192.0.2.1:25",
        "the report's own keys stay"
    );
}

#[test]
fn text_shows_phases_failure_and_verdict() {
    let reports = [
        report("192.0.2.1:25", None, vec![]),
        report("192.0.2.2:25", refused(), vec![]),
    ];
    let out = text("mx:example.test", &reports, false);
    assert!(out.contains("  banner              4.0ms  220\n"), "{out}");
    assert!(
        out.contains("  failure:       connect connect_refused\n"),
        "{out}"
    );
    assert!(
        out.ends_with("mx:example.test: WARNING — 1 of 2 addresses ok\n"),
        "{out}"
    );
}
