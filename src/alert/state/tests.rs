//! Table-driven tests: sequences of (time, result) and the exact notifications they produce.

use super::*;

const T0: u64 = 1_800_000_000;

fn at(seconds: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0 + seconds)
}

fn cause(key: &str) -> Cause {
    Cause {
        key: key.parse().expect("a cause key"),
        message: format!("{key} happened"),
    }
}

/// (seconds after T0, Some(cause key) when bad) → expected (event, since seconds, previous key).
type Step = (
    u64,
    Option<&'static str>,
    Option<(Event, u64, Option<&'static str>)>,
);

fn run(thresholds: Thresholds, steps: &[Step]) {
    let mut state = AlertState::default();
    for (i, (t, result, want)) in steps.iter().enumerate() {
        let got = state.eval(result.map(cause), at(*t), &thresholds);
        let got = got.map(|tr| {
            let previous = tr.previous_cause.map(|c| c.key.to_string());
            (tr.event, tr.since, previous)
        });
        let want = want.map(|(e, since, prev)| (e, at(since), prev.map(str::to_string)));
        assert_eq!(got, want, "step {i} at +{t}s with {result:?}");
    }
}

const REFUSED: Option<&str> = Some("connect/connect_refused");
const TIMEOUT: Option<&str> = Some("banner/timeout");
const OK: Option<&str> = None;

#[test]
fn fires_after_three_failures_and_resolves_after_two_successes() {
    run(
        Thresholds::default(),
        &[
            (0, REFUSED, None),
            (60, REFUSED, None),
            (120, REFUSED, Some((Event::Firing, 0, None))),
            (180, REFUSED, None),
            (240, OK, None),
            (300, OK, Some((Event::Resolved, 0, None))),
            (360, OK, None),
        ],
    );
}

#[test]
fn a_single_blip_or_two_never_pages() {
    run(
        Thresholds::default(),
        &[
            (0, REFUSED, None),
            (60, OK, None),
            (120, REFUSED, None),
            (180, REFUSED, None),
            (240, OK, None),
            (300, REFUSED, None),
            (360, REFUSED, None),
            (420, REFUSED, Some((Event::Firing, 300, None))),
        ],
    );
}

#[test]
fn flapping_while_firing_neither_resolves_nor_re_fires() {
    run(
        Thresholds::default(),
        &[
            (0, REFUSED, None),
            (60, REFUSED, None),
            (120, REFUSED, Some((Event::Firing, 0, None))),
            (180, OK, None),
            (240, REFUSED, None),
            (300, OK, None),
            (360, REFUSED, None),
            (420, OK, None),
            (480, OK, Some((Event::Resolved, 0, None))),
        ],
    );
}

#[test]
fn reminders_every_repeat_interval_show_a_changed_reason() {
    let hour = 3600;
    let t = Thresholds {
        failure: 1,
        success: 1,
        repeat_interval: Duration::from_secs(hour),
    };
    run(
        t,
        &[
            (0, REFUSED, Some((Event::Firing, 0, None))),
            (hour - 1, REFUSED, None),
            (hour, REFUSED, Some((Event::Reminder, 0, None))),
            (hour + 600, TIMEOUT, None),
            (
                2 * hour,
                TIMEOUT,
                Some((Event::Reminder, 0, Some("connect/connect_refused"))),
            ),
            (3 * hour, TIMEOUT, Some((Event::Reminder, 0, None))),
            (3 * hour + 60, OK, Some((Event::Resolved, 0, None))),
        ],
    );
}

#[test]
fn state_survives_serialisation_so_a_restart_neither_re_fires_nor_loses_resolved() {
    let t = Thresholds::default();
    let mut state = AlertState::default();
    for s in [0, 60, 120] {
        state.eval(Some(cause("connect/connect_refused")), at(s), &t);
    }
    assert!(state.firing);
    let saved = serde_json::to_string(&state).expect("serialise");
    let mut restored: AlertState = serde_json::from_str(&saved).expect("restore");
    assert_eq!(restored, state);
    assert_eq!(
        restored.eval(Some(cause("connect/connect_refused")), at(180), &t),
        None,
        "no duplicate firing"
    );
    assert_eq!(restored.eval(None, at(240), &t), None);
    let resolved = restored
        .eval(None, at(300), &t)
        .expect("resolved still sent");
    assert_eq!((resolved.event, resolved.since), (Event::Resolved, at(0)));
    assert_eq!(resolved.cause.key.to_string(), "connect/connect_refused");
}

#[test]
fn thresholds_of_one_fire_and_resolve_at_once() {
    let t = Thresholds {
        failure: 1,
        success: 1,
        repeat_interval: Duration::from_secs(60),
    };
    run(
        t,
        &[
            (
                0,
                Some("certificate_expiring"),
                Some((Event::Firing, 0, None)),
            ),
            (30, Some("certificate_expiring"), None),
            (
                60,
                Some("certificate_expiring"),
                Some((Event::Reminder, 0, None)),
            ),
            (90, OK, Some((Event::Resolved, 0, None))),
            (
                120,
                Some("certificate_expiring"),
                Some((Event::Firing, 120, None)),
            ),
        ],
    );
}

#[test]
fn cause_keys_read_back_what_they_write_and_refuse_anything_else() {
    use crate::report::{FailureReason, Phase};
    let keys = [
        CauseKey::Failure {
            phase: Phase::TlsHandshake,
            reason: FailureReason::TlsCertificate,
        },
        CauseKey::Failure {
            phase: Phase::EhloTls,
            reason: FailureReason::StarttlsInjection,
        },
        CauseKey::UnknownFailure,
        CauseKey::CertificateExpiring,
        CauseKey::StarttlsRemoved,
        CauseKey::AuthBeforeTls,
        CauseKey::Unspecified,
    ];
    for key in keys {
        assert_eq!(key.to_string().parse::<CauseKey>(), Ok(key), "{key}");
        let json = serde_json::to_string(&key).expect("serialize");
        assert_eq!(serde_json::from_str::<CauseKey>(&json).ok(), Some(key));
    }
    assert_eq!(keys[0].to_string(), "tls_handshake/tls_certificate");
    for bad in ["connect/nope", "nope/dns", "cert/expiring", "x"] {
        assert!(bad.parse::<CauseKey>().is_err(), "{bad}");
    }
}
