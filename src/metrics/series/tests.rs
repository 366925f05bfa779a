//! The store's promise to the event loop: a round never waits for the lock a scrape holds,
//! and is not lost for it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::SeriesStore;
use crate::report::ProbeReport;

fn report(duration: f64) -> ProbeReport {
    ProbeReport {
        probe: Some("mx".into()),
        duration_seconds: duration,
        ..ProbeReport::blank("mx.test:25", Some("127.0.0.1:25"), SystemTime::now())
    }
}

/// Everything family `family` renders, chunk by chunk as a scrape does.
fn render(store: &SeriesStore, family: usize) -> String {
    let mut out = String::new();
    let mut after = None;
    while let Some(last) = store.render_chunk(family, after.as_deref(), 1, &mut out) {
        after = Some(last);
    }
    out
}

/// The `smtpwatch_probe_duration_seconds` samples (each round replaces the value).
fn durations(store: &SeriesStore) -> String {
    (0..super::FAMILY_COUNT)
        .map(|f| render(store, f))
        .flat_map(|text| text.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|line| line.starts_with("smtpwatch_probe_duration_seconds{"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Records rounds of `durations` from another thread while this one holds the store's lock;
/// fails if recording waited for the lock.
fn observe_while_held(store: &SeriesStore, durations: &[f64]) {
    let labels = BTreeMap::new();
    let held = store.inner.lock().expect("lock");
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for d in durations {
                store.observe_round("mx", &labels, &[report(*d)]);
            }
            let _ = done.send(());
        });
        // With a waiting lock this would time out: the lock is held until after the wait.
        let returned = finished.recv_timeout(Duration::from_secs(10)).is_ok();
        drop(held);
        assert!(returned, "observe_round waited for the held lock");
    });
}

#[test]
fn a_round_does_not_wait_for_a_held_lock_and_is_applied_in_order_after_it() {
    let store = SeriesStore::new();
    observe_while_held(&store, &[0.25, 0.5]);
    let text = durations(&store);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.ends_with(" 0.5"), "the later round wins: {text}");
}

#[test]
fn a_queued_round_of_a_removed_probe_does_not_bring_it_back() {
    let store = SeriesStore::new();
    observe_while_held(&store, &[0.25]);
    store.forget_probes(&["mx".to_string()]);
    for family in 0..super::FAMILY_COUNT {
        let text = render(&store, family);
        assert!(!text.contains("probe=\"mx\""), "family {family}: {text}");
    }
}

fn all_samples(store: &SeriesStore) -> String {
    (0..super::FAMILY_COUNT).map(|f| render(store, f)).collect()
}

#[test]
fn delivery_checks_have_their_families_and_plain_probes_none() {
    use crate::report::DeliveryFacts;
    let store = SeriesStore::new();
    store.observe_round("mx", &BTreeMap::new(), &[report(0.1)]);
    assert!(!all_samples(&store).contains("smtpwatch_delivery"));

    let mut seen = report(0.1);
    let results = [
        ("spf", "pass"),
        ("dkim", "weird\"}"),
        ("x-evil", "pass"),
        ("dmarc", "fail"),
    ];
    seen.mail.facts_mut().delivery = Some(DeliveryFacts {
        to: "box@test".into(),
        token: "t".into(),
        queue_id: None,
        submitted_at: Some(SystemTime::now()),
        seen_at: Some(SystemTime::now()),
        seconds: Some(1.5),
        warn_after_seconds: Some(30.0),
        authentication_results: results.map(|(m, r)| (m.into(), r.into())).into(),
    });
    store.observe_round("mx", &BTreeMap::new(), &[seen.clone()]);
    let text = all_samples(&store);
    for wanted in [
        "smtpwatch_delivery_success{probe=\"mx\",target=\"mx.test:25\",address=\"127.0.0.1:25\"} 1",
        "smtpwatch_delivery_seconds{probe=\"mx\",target=\"mx.test:25\",address=\"127.0.0.1:25\"} 1.5",
        "smtpwatch_delivery_warn_after_seconds{probe=\"mx\",target=\"mx.test:25\",address=\"127.0.0.1:25\"} 30",
        "method=\"spf\",result=\"pass\"} 1",
        "method=\"dkim\",result=\"other\"} 1",
        "method=\"dmarc\",result=\"fail\"} 1",
    ] {
        assert!(text.contains(wanted), "{wanted} missing:\n{text}");
    }
    assert!(
        !text.contains("x-evil") && !text.contains("weird"),
        "{text}"
    );

    // A round whose message never came: success 0, the last seen time kept.
    let mut lost = seen;
    if let Some(d) = lost.mail.facts_mut().delivery.as_mut() {
        d.seconds = None;
    }
    lost.success = false;
    store.observe_round("mx", &BTreeMap::new(), &[lost]);
    let text = all_samples(&store);
    assert!(text.contains("smtpwatch_delivery_success{probe=\"mx\",target=\"mx.test:25\",address=\"127.0.0.1:25\"} 0"), "{text}");
    assert!(text.contains("smtpwatch_delivery_seconds{probe=\"mx\",target=\"mx.test:25\",address=\"127.0.0.1:25\"} 1.5"));
}
