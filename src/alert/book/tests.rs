//! Which alerts a round feeds: probe level, per address, certificate expiry, vanished
//! addresses, restore after restart.

use super::*;
use crate::alert::notification::Scope;
use crate::report::{Failure, FailureReason, Phase, Status, TlsFacts};

const T0: u64 = 1_800_000_000;

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + seconds)
}

/// A report for `address`: `Some(reason)` fails in `connect`; `cert_days` adds TLS facts.
fn report(address: &str, failure: Option<FailureReason>, cert_days: Option<f64>) -> ProbeReport {
    ProbeReport {
        probe: Some("mx".into()),
        success: failure.is_none(),
        status: if failure.is_some() {
            Status::Critical
        } else {
            Status::Ok
        },
        duration_seconds: 0.01,
        failure: failure.map(|reason| Failure {
            phase: Phase::Connect,
            reason,
            code: None,
            message: format!("{} failed", reason.as_str()),
        }),
        tls: cert_days.map(|days| {
            Box::new(TlsFacts {
                version: Some("TLSv1.3".into()),
                cipher: None,
                verified: true,
                verify_error: None,
                cert_not_after: None,
                cert_seconds_left: Some(days * 86_400.0),
                chain: Vec::new(),
                chain_der: Vec::new(),
            })
        }),
        ..ProbeReport::blank("mx.example.net:25", Some(address), at(0))
    }
}

static TARGET: std::sync::LazyLock<Target> =
    std::sync::LazyLock::new(|| "mx:example.net".parse().expect("target"));

fn info(labels: &BTreeMap<String, String>) -> ProbeInfo<'_> {
    ProbeInfo {
        name: "mx",
        target: &TARGET,
        labels,
        warn_cert: Duration::from_secs(14 * 86_400),
    }
}

/// (event, scope address, alert kind, severity) of each notification.
fn summary(ns: &[Notification]) -> Vec<(NotificationEvent, Option<String>, AlertKind, Severity)> {
    ns.iter()
        .map(|n| {
            let scope = match n.scope {
                Scope::Probe => None,
                Scope::Address => n.address.clone(),
            };
            (n.event, scope, n.alert, n.severity)
        })
        .collect()
}

const A: &str = "192.0.2.1:25";
const B: &str = "192.0.2.2:25";
const REFUSED: Option<FailureReason> = Some(FailureReason::ConnectRefused);

#[test]
fn single_address_fires_once_at_the_threshold_and_resolves_after_two_successes() {
    let labels = BTreeMap::from([("team".to_string(), "mail".to_string())]);
    let mut book = AlertBook::new("agent1".into());
    let t = Thresholds::default();
    let mut sent = Vec::new();
    for (i, failure) in [REFUSED, REFUSED, REFUSED, REFUSED, None, None]
        .into_iter()
        .enumerate()
    {
        let round = [report(A, failure, None)];
        sent.push(book.observe(&info(&labels), &round, at(i as u64 * 60), &t));
    }
    let counts: Vec<usize> = sent.iter().map(Vec::len).collect();
    assert_eq!(counts, [0, 0, 1, 0, 0, 1]);
    let firing = &sent[2][0];
    assert_eq!(firing.event, NotificationEvent::Firing);
    assert_eq!(firing.scope, Scope::Probe);
    assert_eq!(firing.severity, Severity::Critical);
    assert_eq!(firing.address.as_deref(), Some(A));
    assert_eq!(firing.phase.as_deref(), Some("connect"));
    assert_eq!(firing.reason.as_deref(), Some("connect_refused"));
    assert_eq!(firing.since, "2027-01-15T08:00:00Z");
    assert_eq!(firing.agent, "agent1");
    assert_eq!(firing.labels["team"], "mail");
    let resolved = &sent[5][0];
    assert_eq!(resolved.event, NotificationEvent::Resolved);
    assert_eq!(resolved.status, "ok");
    assert_eq!(resolved.since, firing.since);
    assert!(book.firing().is_empty());
    // Healthy again: no bookkeeping left for the probe.
    assert!(!book.tracks("mx"));
    assert!(book.entries.is_empty());
}

#[test]
fn one_of_two_addresses_down_is_a_warning_and_both_down_is_critical() {
    let labels = BTreeMap::new();
    let mut book = AlertBook::new("agent".into());
    let t = Thresholds {
        failure: 1,
        ..Thresholds::default()
    };
    let one_down = [report(A, REFUSED, None), report(B, None, None)];
    let sent = book.observe(&info(&labels), &one_down, at(0), &t);
    assert_eq!(
        summary(&sent),
        [(
            NotificationEvent::Firing,
            Some(A.to_string()),
            AlertKind::ProbeFailing,
            Severity::Warning
        )]
    );
    let both_down = [report(A, REFUSED, None), report(B, REFUSED, None)];
    let sent = book.observe(&info(&labels), &both_down, at(60), &t);
    assert_eq!(
        summary(&sent),
        [
            (
                NotificationEvent::Firing,
                None,
                AlertKind::ProbeFailing,
                Severity::Critical
            ),
            (
                NotificationEvent::Firing,
                Some(B.to_string()),
                AlertKind::ProbeFailing,
                Severity::Warning
            ),
        ]
    );
    assert!(sent[0].message.starts_with("all 2 addresses failing"));
    assert_eq!(sent[0].address, None);
}

#[test]
fn an_address_that_leaves_dns_while_firing_is_resolved() {
    let labels = BTreeMap::new();
    let mut book = AlertBook::new("agent".into());
    let t = Thresholds {
        failure: 1,
        ..Thresholds::default()
    };
    let round = [report(A, REFUSED, None), report(B, None, None)];
    assert_eq!(book.observe(&info(&labels), &round, at(0), &t).len(), 1);
    let sent = book.observe(&info(&labels), &[report(B, None, None)], at(60), &t);
    assert_eq!(
        summary(&sent),
        [(
            NotificationEvent::Resolved,
            Some(A.to_string()),
            AlertKind::ProbeFailing,
            Severity::Warning
        )]
    );
    assert!(sent[0].message.contains("no longer probed"));
}

#[test]
fn certificate_expiry_warns_at_once_is_silent_during_outages_and_resolves_on_renewal() {
    let labels = BTreeMap::new();
    let mut book = AlertBook::new("agent".into());
    let t = Thresholds::default();
    let sent = book.observe(&info(&labels), &[report(A, None, Some(5.5))], at(0), &t);
    assert_eq!(
        summary(&sent),
        [(
            NotificationEvent::Firing,
            Some(A.to_string()),
            AlertKind::CertificateExpiring,
            Severity::Warning
        )]
    );
    assert_eq!(sent[0].reason.as_deref(), Some("certificate_expiring"));
    assert_eq!(sent[0].message, "the certificate expires in 5 days");
    // A failure before TLS says nothing about the certificate.
    let sent = book.observe(&info(&labels), &[report(A, REFUSED, None)], at(60), &t);
    assert!(sent.is_empty());
    let sent = book.observe(&info(&labels), &[report(A, None, Some(89.0))], at(120), &t);
    assert_eq!(summary(&sent)[0].0, NotificationEvent::Resolved);
}

#[test]
fn a_restored_book_does_not_fire_again_and_still_resolves() {
    let labels = BTreeMap::new();
    let t = Thresholds {
        failure: 2,
        success: 1,
        ..Thresholds::default()
    };
    let mut before = AlertBook::new("agent".into());
    let down = [report(A, REFUSED, None)];
    before.observe(&info(&labels), &down, at(0), &t);
    assert_eq!(before.observe(&info(&labels), &down, at(60), &t).len(), 1);
    let saved = before.snapshot();
    assert_eq!(saved.len(), 1);

    let mut after = AlertBook::new("agent".into());
    after.restore(saved);
    assert_eq!(after.firing().len(), 1);
    assert!(after.observe(&info(&labels), &down, at(120), &t).is_empty());
    let sent = after.observe(&info(&labels), &[report(A, None, None)], at(180), &t);
    assert_eq!(summary(&sent)[0].0, NotificationEvent::Resolved);
}

#[test]
fn removing_a_probe_resolves_its_firing_alerts() {
    let labels = BTreeMap::new();
    let mut book = AlertBook::new("agent".into());
    let t = Thresholds {
        failure: 1,
        ..Thresholds::default()
    };
    book.observe(&info(&labels), &[report(A, REFUSED, None)], at(0), &t);
    let sent = book.retain_probes(&BTreeSet::from(["other".to_string()]), at(60));
    assert_eq!(summary(&sent)[0].0, NotificationEvent::Resolved);
    assert!(sent[0].message.contains("removed from the configuration"));
    assert!(book.snapshot().is_empty());
}

#[test]
fn starttls_disappearing_warns_with_the_capabilities_and_resolves_when_it_returns() {
    let labels = BTreeMap::new();
    let mut book = AlertBook::new("agent".into());
    let t = Thresholds::default();
    let mut with_tls = report(A, None, Some(60.0));
    with_tls.capabilities = vec!["PIPELINING".into(), "AUTH PLAIN".into()];
    let mut plain = report(A, None, None);
    plain.capabilities = vec!["PIPELINING".into()];
    assert!(book
        .observe(&info(&labels), &[with_tls.clone()], at(0), &t)
        .is_empty());
    let sent = book.observe(&info(&labels), &[plain.clone()], at(60), &t);
    assert_eq!(
        summary(&sent),
        [(
            NotificationEvent::Firing,
            Some(A.to_string()),
            AlertKind::CapabilityDrift,
            Severity::Warning
        )]
    );
    assert_eq!(sent[0].reason.as_deref(), Some("starttls_removed"));
    assert!(
        sent[0].message.contains("EHLO now advertises PIPELINING"),
        "{}",
        sent[0].message
    );
    assert!(
        sent[0]
            .message
            .contains("it advertised PIPELINING, AUTH PLAIN"),
        "{}",
        sent[0].message
    );
    // A failed round says nothing either way; the alert stays.
    assert!(book
        .observe(&info(&labels), &[report(A, REFUSED, None)], at(120), &t)
        .iter()
        .all(|n| n.alert != AlertKind::CapabilityDrift));
    let sent = book.observe(&info(&labels), &[with_tls], at(180), &t);
    assert_eq!(
        summary(&sent)
            .into_iter()
            .filter(|s| s.2 == AlertKind::CapabilityDrift)
            .map(|s| s.0)
            .collect::<Vec<_>>(),
        [NotificationEvent::Resolved]
    );
}

#[test]
fn a_server_that_never_offered_starttls_never_drifts() {
    let labels = BTreeMap::new();
    let mut book = AlertBook::new("agent".into());
    for i in 0..3 {
        let sent = book.observe(
            &info(&labels),
            &[report(A, None, None)],
            at(i * 60),
            &Thresholds::default(),
        );
        assert!(sent.is_empty());
    }
    assert!(!book.tracks("mx"));
}

#[test]
fn auth_offered_before_tls_is_drift_too() {
    let labels = BTreeMap::new();
    let mut book = AlertBook::new("agent".into());
    let mut r = report(A, None, Some(60.0));
    r.capabilities_before_tls = vec!["STARTTLS".into(), "AUTH PLAIN LOGIN".into()];
    let sent = book.observe(&info(&labels), &[r], at(0), &Thresholds::default());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].alert, AlertKind::CapabilityDrift);
    assert_eq!(sent[0].reason.as_deref(), Some("auth_before_tls"));
    assert!(sent[0].message.contains("STARTTLS, AUTH PLAIN LOGIN"));
}

#[test]
fn re_sends_carry_the_current_reason_without_the_reminders_change() {
    let labels = BTreeMap::new();
    let mut book = AlertBook::new("agent".into());
    let t = Thresholds {
        failure: 1,
        repeat_interval: Duration::from_secs(60),
        ..Thresholds::default()
    };
    book.observe(&info(&labels), &[report(A, REFUSED, None)], at(0), &t);
    let timeout = Some(FailureReason::ConnectTimeout);
    let sent = book.observe(&info(&labels), &[report(A, timeout, None)], at(60), &t);
    assert_eq!(sent[0].event, NotificationEvent::Reminder);
    assert_eq!(
        sent[0].previous_reason.as_deref(),
        Some("connect/connect_refused")
    );
    let firing = book.firing();
    assert_eq!(firing[0].reason.as_deref(), Some("connect_timeout"));
    assert_eq!(firing[0].previous_reason, None);
}
