//! `mx:` and multi-address fan-out against a local DNS server and fake SMTP servers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use smtpwatch::probe::fanout::probe_target;
use smtpwatch::report::render::summarize;
use smtpwatch::report::Status;
use smtpwatch::resolve::{Family, Resolver};
use smtpwatch::target::Target;

use crate::support::certs::TestCa;
use crate::support::fake_dns::{ip, mx, FakeDns};
use crate::support::fake_smtp::{greet_and_ehlo, noop_quit, FakeSmtp};
use crate::support::settings;

/// Healthy fake servers on every address in `ips`, all on one port.
pub async fn servers_on_one_port(ips: &[&str]) -> (u16, Vec<FakeSmtp>) {
    'attempt: for _ in 0..20 {
        let first = SocketAddr::new(ips[0].parse().expect("ip"), 0);
        let script = || {
            greet_and_ehlo(&["PIPELINING"])
                .into_iter()
                .chain(noop_quit())
                .collect()
        };
        let Ok(lead) = FakeSmtp::try_start_on(first, script()).await else {
            continue;
        };
        let port = lead.addr.port();
        let mut all = vec![lead];
        for other in &ips[1..] {
            let addr = SocketAddr::new(other.parse().expect("ip"), port);
            match FakeSmtp::try_start_on(addr, script()).await {
                Ok(server) => all.push(server),
                Err(_) => continue 'attempt,
            }
        }
        return (port, all);
    }
    panic!("no common free port on {ips:?}");
}

/// Two MX hosts with A and AAAA records; 127.0.0.4 has no server.
async fn mail_test_zone() -> FakeDns {
    FakeDns::start(vec![
        ("example.test", mx(20, "mx2.example.test")),
        ("example.test", mx(10, "mx1.example.test")),
        ("mx1.example.test", ip("127.0.0.2")),
        ("mx1.example.test", ip("::1")),
        ("mx2.example.test", ip("127.0.0.3")),
        ("mx2.example.test", ip("127.0.0.4")),
        ("nomx.example.test", ip("127.0.0.2")),
        ("null.example.test", mx(0, ".")),
        ("literal.example.test", mx(10, "127.0.0.2")),
    ])
    .await
}

async fn check(target: &str, dns: &FakeDns, family: Family) -> Vec<smtpwatch::report::ProbeReport> {
    let target: Target = target.parse().expect("target");
    let resolver = Resolver::with_servers(&[dns.addr]).expect("resolver");
    let settings = Arc::new(settings(&TestCa::new("ca")));
    probe_target(&target, Some("mail"), settings, Some(&resolver), family).await
}

#[tokio::test]
async fn mx_probes_every_host_and_every_address_and_warns_on_one_dead() {
    let dns = mail_test_zone().await;
    let (port, servers) = servers_on_one_port(&["127.0.0.2", "::1", "127.0.0.3"]).await;
    let reports = check(&format!("mx:example.test:{port}"), &dns, Family::Any).await;

    let seen: Vec<(String, String, bool)> = reports
        .iter()
        .map(|r| {
            (
                r.target.clone(),
                r.address.clone().unwrap_or_default(),
                r.success,
            )
        })
        .collect();
    let want = [
        (
            format!("mx1.example.test:{port}"),
            format!("127.0.0.2:{port}"),
            true,
        ),
        (
            format!("mx1.example.test:{port}"),
            format!("[::1]:{port}"),
            true,
        ),
        (
            format!("mx2.example.test:{port}"),
            format!("127.0.0.3:{port}"),
            true,
        ),
        (
            format!("mx2.example.test:{port}"),
            format!("127.0.0.4:{port}"),
            false,
        ),
    ];
    assert_eq!(seen, want);
    assert_eq!(
        reports[3].failure.as_ref().map(|f| f.reason.as_str()),
        Some("connect_refused")
    );
    assert!(reports
        .iter()
        .all(|r| r.phases[0].phase.as_str() == "resolve"));
    assert!(reports.iter().all(|r| r.probe.as_deref() == Some("mail")));
    let summary = summarize(&reports);
    assert_eq!(
        (summary.status, summary.total, summary.failed),
        (Status::Warning, 4, 1)
    );
    for server in servers {
        server
            .finish()
            .await
            .expect("each live server saw a full session");
    }
}

#[tokio::test]
async fn family_filter_probes_only_ipv6() {
    let dns = mail_test_zone().await;
    let (port, _servers) = servers_on_one_port(&["::1"]).await;
    let reports = check(&format!("mx:example.test:{port}"), &dns, Family::V6).await;
    assert_eq!(reports.len(), 2, "{reports:#?}");
    assert_eq!(
        reports[0].address.as_deref(),
        Some(format!("[::1]:{port}").as_str())
    );
    // mx2 has no IPv6 address: that is a DNS failure for that host, not silence.
    assert_eq!(reports[1].target, format!("mx2.example.test:{port}"));
    assert_eq!(
        reports[1].failure.as_ref().map(|f| f.reason.as_str()),
        Some("dns")
    );
}

#[tokio::test]
async fn domain_without_mx_is_its_own_implicit_mx() {
    let dns = mail_test_zone().await;
    let (port, _servers) = servers_on_one_port(&["127.0.0.2"]).await;
    let reports = check(&format!("mx:nomx.example.test:{port}"), &dns, Family::Any).await;
    assert_eq!(reports.len(), 1);
    assert!(reports[0].success, "{:?}", reports[0].failure);
    assert_eq!(reports[0].target, format!("nomx.example.test:{port}"));
}

#[tokio::test]
async fn dns_failures_are_reports_with_reason_dns() {
    let dns = mail_test_zone().await;
    for (target, needle) in [
        ("mx:missing.example.test", "NXDOMAIN"),
        ("mx:null.example.test", "null MX"),
        ("mx:literal.example.test", "127.0.0.2 is an IP address"),
        ("missing.example.test:25", "NXDOMAIN"),
    ] {
        let reports = check(target, &dns, Family::Any).await;
        assert_eq!(reports.len(), 1, "{target}");
        let failure = reports[0].failure.as_ref().expect("failure");
        assert_eq!(
            (failure.phase.as_str(), failure.reason.as_str()),
            ("resolve", "dns"),
            "{target}"
        );
        assert!(
            failure.message.contains(needle),
            "{target}: {}",
            failure.message
        );
        assert_eq!(reports[0].address, None);
    }
}

/// Long-running healthy fake services on every address in `ips`, all on one port.
pub async fn servers_on_one_port_serving(
    ips: &[&str],
) -> (u16, Vec<crate::support::fake_smtp::FakeService>) {
    use crate::support::fake_smtp::FakeService;
    let script = || {
        greet_and_ehlo(&["PIPELINING"])
            .into_iter()
            .chain(noop_quit())
            .collect()
    };
    'attempt: for _ in 0..20 {
        let lead =
            FakeService::try_start_on(SocketAddr::new(ips[0].parse().expect("ip"), 0), script)
                .await;
        let Ok(lead) = lead else { continue };
        let port = lead.addr.port();
        let mut all = vec![lead];
        for other in &ips[1..] {
            let addr = SocketAddr::new(other.parse().expect("ip"), port);
            match FakeService::try_start_on(addr, script).await {
                Ok(service) => all.push(service),
                Err(_) => continue 'attempt,
            }
        }
        return (port, all);
    }
    panic!("no common free port on {ips:?}");
}

/// Servers on `ips` (one port) that count how many connections are open at once. Each holds
/// its banner until every address is connected or 300 ms have passed, so probes that are
/// allowed to overlap do overlap.
async fn counting_servers(
    ips: &[&str],
) -> (
    u16,
    Arc<std::sync::atomic::AtomicUsize>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (open, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let everyone = Arc::new(tokio::sync::Notify::new());
    'attempt: for _ in 0..20 {
        let mut listeners = Vec::new();
        let mut port = 0;
        for ip in ips {
            let addr = SocketAddr::new(ip.parse().expect("ip"), port);
            match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => {
                    port = l.local_addr().expect("addr").port();
                    listeners.push(l);
                }
                Err(_) => continue 'attempt,
            }
        }
        let total = ips.len();
        let tasks = listeners
            .into_iter()
            .map(|listener| {
                let (open, peak, everyone) = (open.clone(), peak.clone(), everyone.clone());
                tokio::spawn(async move {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    if now == total {
                        everyone.notify_waiters();
                    }
                    let held =
                        tokio::time::timeout(Duration::from_millis(300), everyone.notified());
                    let _ = held.await;
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 counting.test\r\n").await;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                        let answer: &[u8] = match verb.as_str() {
                            "QUIT" => b"221 bye\r\n",
                            _ => b"250 ok\r\n",
                        };
                        let _ = write.write_all(answer).await;
                        if verb == "QUIT" {
                            break;
                        }
                    }
                    open.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        return (port, peak, tasks);
    }
    panic!("no common free port on {ips:?}");
}

async fn peak_connections(limit: Option<smtpwatch::limit::Limit>) -> usize {
    let (port, peak, tasks) = counting_servers(&["127.0.0.2", "127.0.0.3", "127.0.0.4"]).await;
    let dns = FakeDns::start(vec![
        ("three.example.test", ip("127.0.0.2")),
        ("three.example.test", ip("127.0.0.3")),
        ("three.example.test", ip("127.0.0.4")),
    ])
    .await;
    let resolver = Resolver::with_servers(&[dns.addr]).expect("resolver");
    let mut settings = settings(&TestCa::new("ca"));
    settings.tls = Some(smtpwatch::target::TlsMode::None);
    settings.connections = limit;
    let target: Target = format!("three.example.test:{port}")
        .parse()
        .expect("target");
    let reports = probe_target(
        &target,
        None,
        Arc::new(settings),
        Some(&resolver),
        Family::Any,
    )
    .await;
    assert_eq!(reports.len(), 3);
    assert!(reports.iter().all(|r| r.success), "{reports:#?}");
    for task in tasks {
        task.await.expect("server");
    }
    peak.load(std::sync::atomic::Ordering::SeqCst)
}

#[tokio::test]
async fn the_connection_limit_counts_every_address_of_a_round() {
    assert_eq!(
        peak_connections(None).await,
        3,
        "without a limit the addresses overlap"
    );
    let one = smtpwatch::limit::Limit::new(1);
    assert_eq!(peak_connections(Some(one)).await, 1);
    let two = smtpwatch::limit::Limit::new(2);
    assert_eq!(peak_connections(Some(two)).await, 2);
}
