//! Series per address on /metrics (DESIGN.md: at most 25 by default, so 100,000 targets fit one
//! Prometheus): counted on real rounds of a verified STARTTLS probe and of a failing one.

use std::collections::BTreeMap;

use smtpwatch::metrics::Metrics;
use smtpwatch::target::TlsMode;

use crate::support::certs::TestCa;
use crate::support::fake_smtp::{greet_and_ehlo, Step};
use crate::support::{run, run_trusting, starttls_session};

/// The per-address series of `address` in `text` (sample lines that carry its label).
fn series_of(text: &str, address: &str) -> Vec<String> {
    let label = format!("address=\"{address}\"");
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains(&label))
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn an_address_costs_at_most_25_series_by_default_and_histograms_add_them() {
    let ca = TestCa::new("Test CA");
    let leaf = ca.leaf(&["localhost"], 90);
    let after_tls = "250-fake.test\r\n250 PIPELINING\r\n";
    let (good, _) = run_trusting(
        &ca,
        starttls_session(&leaf, after_tls),
        TlsMode::Starttls,
        |_| {},
    )
    .await;
    assert!(good.success, "{:?}", good.failure);
    // Failures of three kinds at the same address, as an address collects them over time.
    let mut failing = Vec::new();
    for steps in [
        vec![Step::Line("554 go away")],
        vec![Step::Close],
        greet_and_ehlo(&[])
            .into_iter()
            .chain([Step::Expect("NOOP"), Step::Line("421 bye")])
            .collect(),
    ] {
        let (mut report, _) = run(steps, TlsMode::None, |_| {}).await;
        assert!(!report.success);
        report.address = good.address.clone();
        report.target = good.target.clone();
        failing.push(report);
    }
    let address = good.address.clone().expect("address");
    let labels = BTreeMap::from([("team".to_string(), "mail".to_string())]);
    let metrics = Metrics::new().expect("metrics");
    for report in failing.iter().chain(std::iter::once(&good)) {
        metrics.observe_round("mx", &labels, std::slice::from_ref(report));
    }
    let lean = series_of(&metrics.render(), &address);
    assert!(
        lean.len() <= 25,
        "{} series:\n{}",
        lean.len(),
        lean.join("\n")
    );
    assert!(lean
        .iter()
        .any(|l| l.starts_with("smtpwatch_last_phase_duration_seconds{")
            && l.contains("phase=\"tls_handshake\"")));
    assert!(lean.iter().all(|l| !l.contains("_bucket")), "{lean:?}");

    metrics.set_histograms(true);
    metrics.observe_round("mx", &labels, std::slice::from_ref(&good));
    let full = series_of(&metrics.render(), &address);
    assert!(
        full.len() > lean.len() + 100,
        "{} with histograms",
        full.len()
    );
}
