//! `mx:` against DNS servers that misbehave the ways real ones do: an MX host that is a CNAME
//! (followed, as MTAs do) or a CNAME chain that comes back on itself; answers truncated over
//! UDP (retried over TCP, or a `dns` failure when TCP is closed); a server that never answers.
//! Each ends with its verdict, inside the probe's deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::proto::rr::RecordType;
use smtpwatch::probe::fanout::probe_target;
use smtpwatch::report::ProbeReport;
use smtpwatch::resolve::{Family, Resolver};
use smtpwatch::target::Target;

use crate::fanout::servers_on_one_port;
use crate::support::certs::TestCa;
use crate::support::fake_dns::{cname, ip, mx, Behaviour, FakeDns};
use crate::support::settings;

async fn check(target: &str, dns: &FakeDns, timeout: Duration) -> (Vec<ProbeReport>, Duration) {
    let target: Target = target.parse().expect("target");
    let resolver = Resolver::with_servers(&[dns.addr]).expect("resolver");
    let mut s = settings(&TestCa::new("ca"));
    s.timeout = timeout;
    s.phase_timeout = timeout;
    let started = Instant::now();
    let reports = probe_target(
        &target,
        Some("mail"),
        Arc::new(s),
        Some(&resolver),
        Family::V4,
    )
    .await;
    (reports, started.elapsed())
}

/// `mx:example.test` on `port` through `dns` is probed once, successfully; returns that report.
async fn probed_once(dns: &FakeDns, port: u16) -> ProbeReport {
    let target = format!("mx:example.test:{port}");
    let (mut reports, _) = check(&target, dns, Duration::from_secs(5)).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].success, "{:?}", reports[0].failure);
    reports.remove(0)
}

fn dns_failure(report: &ProbeReport) -> &str {
    let failure = report.failure.as_ref().expect("a failure");
    assert_eq!(
        (failure.phase.as_str(), failure.reason.as_str()),
        ("resolve", "dns"),
        "{failure:?}"
    );
    &failure.message
}

#[tokio::test]
async fn an_mx_host_that_is_a_cname_is_followed_and_probed() {
    let (port, _servers) = servers_on_one_port(&["127.0.0.2"]).await;
    let dns = FakeDns::start(vec![
        ("example.test", mx(10, "alias.example.test")),
        ("alias.example.test", cname("real.example.test")),
        ("real.example.test", ip("127.0.0.2")),
    ])
    .await;
    let report = probed_once(&dns, port).await;
    assert_eq!(
        report.address.as_deref(),
        Some(format!("127.0.0.2:{port}").as_str())
    );
}

#[tokio::test]
async fn a_cname_chain_that_loops_is_a_dns_failure() {
    let dns = FakeDns::start(vec![
        ("example.test", mx(10, "a.example.test")),
        ("a.example.test", cname("b.example.test")),
        ("b.example.test", cname("a.example.test")),
    ])
    .await;
    let (reports, took) = check("mx:example.test", &dns, Duration::from_secs(5)).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    let message = dns_failure(&reports[0]);
    assert!(
        message.contains("CNAME chain loops (a.example.test → b.example.test → a.example.test)"),
        "{message}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn an_answer_truncated_over_udp_is_fetched_over_tcp() {
    let (port, _servers) = servers_on_one_port(&["127.0.0.2"]).await;
    let records = vec![
        ("example.test", mx(10, "mx.example.test")),
        ("mx.example.test", ip("127.0.0.2")),
    ];
    let behaviour = Behaviour {
        truncate_udp: true,
        tcp: true,
        ..Behaviour::default()
    };
    let dns = FakeDns::start_with(records, behaviour).await;
    probed_once(&dns, port).await;
}

#[tokio::test]
async fn a_truncated_answer_with_tcp_closed_is_a_dns_failure_in_time() {
    let records = vec![
        ("example.test", mx(10, "mx.example.test")),
        ("mx.example.test", ip("127.0.0.2")),
    ];
    let behaviour = Behaviour {
        truncate_udp: true,
        ..Behaviour::default()
    };
    let dns = FakeDns::start_with(records, behaviour).await;
    let (reports, took) = check("mx:example.test", &dns, Duration::from_secs(3)).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    let message = dns_failure(&reports[0]);
    assert!(message.contains("truncated"), "{message}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

#[tokio::test]
async fn a_dns_server_that_never_answers_is_a_dns_failure_at_the_deadline() {
    let dns = FakeDns::start_ignoring(
        vec![("example.test", mx(10, "mx.example.test"))],
        &[RecordType::MX],
    )
    .await;
    let (reports, took) = check("mx:example.test", &dns, Duration::from_secs(2)).await;
    assert_eq!(reports.len(), 1, "{reports:?}");
    let message = dns_failure(&reports[0]);
    assert!(
        message.contains("timed out") || message.contains("deadline"),
        "{message}"
    );
    assert!(
        took < Duration::from_secs(3),
        "bounded by the deadline: {took:?}"
    );
}
