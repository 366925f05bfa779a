//! One deadline for a whole `mx:` round: a DNS server that drops the posture questions (TXT,
//! TLSA, PTR) cannot hold the round past its timeout, and what it left unanswered is
//! indeterminate, not a failure.

use std::sync::Arc;

use super::*;
use crate::support::fake_dns::{ip, mx, FakeDns};
use crate::support::fake_smtp::noop_quit;

#[tokio::test]
async fn posture_lookups_end_with_the_round_and_unanswered_ones_are_indeterminate() {
    let healthy = || {
        crate::support::fake_smtp::greet_and_ehlo(&["PIPELINING"])
            .into_iter()
            .chain(noop_quit())
            .collect()
    };
    let server = FakeService::try_start_on("127.0.0.2:0".parse().expect("addr"), healthy)
        .await
        .expect("bind 127.0.0.2");
    let dns = FakeDns::start_ignoring(
        vec![
            ("slow.test", mx(10, "mx1.slow.test")),
            ("mx1.slow.test", ip("127.0.0.2")),
        ],
        &[RecordType::TXT, RecordType::TLSA, RecordType::PTR],
    )
    .await;
    let resolver = Resolver::with_servers(&[dns.addr]).expect("resolver");
    let posture_dns = PostureDns::new(&[dns.addr], None).expect("posture dns");
    let trust = Trust::load(&[]).expect("system roots");
    let fetcher =
        PolicyFetcher::new(&trust, resolver.clone(), Duration::from_secs(5)).expect("fetcher");
    let target: Target = format!("mx:slow.test:{}", server.addr.port())
        .parse()
        .expect("target");
    let mut probe_settings = crate::support::settings(&TestCa::new("unused"));
    probe_settings.tls = Some(smtpwatch::target::TlsMode::None);
    probe_settings.set_timeout(Duration::from_secs(2));
    let tools = PostureTools {
        dns: posture_dns,
        fetcher,
        settings: PostureSettings::default(),
    };
    let check = DomainCheck {
        target: &target,
        probe_name: None,
        settings: probe_settings,
        resolver: &resolver,
        tools: &tools,
        family: Family::Any,
    };
    let started = std::time::Instant::now();
    let (reports, posture) = check_domain(check).await;
    let took = started.elapsed();
    // Each dropped question alone would wait 5 s per attempt without the round's deadline.
    assert!(
        took < Duration::from_secs(4),
        "the round took {took:?} with a 2 s timeout"
    );
    assert_eq!(reports.len(), 1);
    assert!(reports[0].success, "{:?}", reports[0].failure);
    let p = posture.expect("posture");
    assert_eq!(p.mta_sts.state, RecordState::Indeterminate);
    assert_eq!(p.tls_rpt.state, RecordState::Indeterminate);
    assert!(
        p.findings
            .iter()
            .all(|f| f.severity != FindingSeverity::Failure),
        "nothing unanswered is a failure: {:#?}",
        p.findings
    );
    assert!(
        finding(&p, "mta_sts_indeterminate").is_some(),
        "{:#?}",
        p.findings
    );
    drop(Arc::new(server));
}
