//! The agent over time: reloads good and bad, shutdown within its bound, `mx:` targets
//! re-resolved every round, alerts reaching a webhook, and posture on the status page.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_applies_good_config_and_rejects_bad_keeping_the_old() {
    let good = FakeService::start(healthy_script).await;
    let third = FakeService::start(healthy_script).await;
    let closed = closed_port();
    let agent = start(&config(good.addr, closed, "")).await;
    let m = agent.metrics_when(both_probed).await;
    let before = sample(&m, "smtpwatch_probes_total", &["probe=\"good\""]).unwrap_or(0.0);

    // Bad file: rejected, old probes keep running, the metric says so.
    std::fs::write(&agent.config, "[agent]\ninterval = \"soon\"\n").expect("write");
    let (status, body) = request(agent.addr, "POST", "/-/reload").await;
    assert_eq!(status, 400);
    assert!(body.contains(":2:12: agent.interval \"soon\""), "{body}");
    let m = agent
        .metrics_when(|m| {
            sample(m, "smtpwatch_probes_total", &["probe=\"good\""]).is_some_and(|v| v > before)
        })
        .await;
    assert_eq!(
        sample(&m, "smtpwatch_config_last_reload_successful", &[]),
        Some(0.0)
    );

    // Good file: `closed` removed, `third` added, `good` unchanged keeps its history.
    let text = config(
        good.addr,
        closed,
        &format!("[[probe]]\nname = \"third\"\ntarget = \"{}\"\n", third.addr),
    )
    .replace(
        &format!("[[probe]]\nname = \"closed\"\ntarget = \"127.0.0.1:{closed}\"\n"),
        "",
    );
    std::fs::write(&agent.config, text).expect("write");
    let (status, _) = request(agent.addr, "POST", "/-/reload").await;
    assert_eq!(status, 200);
    let m = agent
        .metrics_when(|m| sample(m, "smtpwatch_probes_total", &["probe=\"third\""]).is_some())
        .await;
    assert_eq!(
        sample(&m, "smtpwatch_config_last_reload_successful", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "smtpwatch_probe_success", &["probe=\"closed\""]),
        None,
        "removed probe's series gone"
    );
    assert!(
        sample(&m, "smtpwatch_probes_total", &["probe=\"good\""]).is_some_and(|v| v > before),
        "history kept"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_serving_within_the_bound() {
    let slow = FakeService::start(|| vec![Step::Silent]).await;
    let cfg = format!("[agent]\ninterval = \"1s\"\ntimeout = \"900ms\"\n[[probe]]\nname = \"slow\"\ntarget = \"{}\"\n", slow.addr);
    let agent = start(&cfg).await;
    agent
        .metrics_when(|m| m.contains("smtpwatch_probes_in_flight 1"))
        .await;
    let addr = agent.addr;
    agent.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_targets_re_resolve_every_round() {
    use crate::support::fake_dns::{ip, mx, FakeDns};
    let (port, _servers) =
        crate::fanout::servers_on_one_port_serving(&["127.0.0.2", "127.0.0.3"]).await;
    let dns = FakeDns::start(vec![
        ("mail.test", mx(10, "mx1.mail.test")),
        ("mx1.mail.test", ip("127.0.0.2")),
        ("mx2.mail.test", ip("127.0.0.3")),
    ])
    .await;
    let cfg = format!(
        "[agent]\ninterval = \"1s\"\ntimeout = \"800ms\"\ndns_servers = [\"{}\"]\n\
         [[probe]]\nname = \"domain\"\ntarget = \"mx:mail.test:{port}\"\n",
        dns.addr
    );
    let agent = start(&cfg).await;
    let mx1 = format!("address=\"127.0.0.2:{port}\"");
    let mx2 = format!("address=\"127.0.0.3:{port}\"");
    agent
        .metrics_when(|m| sample(m, "smtpwatch_probe_success", &[&mx1]) == Some(1.0))
        .await;

    // A second MX host appears: probed without a restart, as its own series.
    dns.set(vec![
        ("mail.test", mx(10, "mx1.mail.test")),
        ("mail.test", mx(20, "mx2.mail.test")),
        ("mx1.mail.test", ip("127.0.0.2")),
        ("mx2.mail.test", ip("127.0.0.3")),
    ]);
    let m = agent
        .metrics_when(|m| sample(m, "smtpwatch_probe_success", &[&mx2]) == Some(1.0))
        .await;
    assert!(m.contains(&format!("target=\"mx2.mail.test:{port}\"")));

    // The first one goes away: its series goes with it.
    dns.set(vec![
        ("mail.test", mx(20, "mx2.mail.test")),
        ("mx2.mail.test", ip("127.0.0.3")),
    ]);
    agent
        .metrics_when(|m| sample(m, "smtpwatch_probe_success", &[&mx1]).is_none())
        .await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_probe_reaches_the_webhook_and_the_notification_metrics() {
    use crate::support::receiver::{Answer, Receiver};
    let good = FakeService::start(healthy_script).await;
    let mut hook = Receiver::start(Answer::new(200, "")).await;
    let extra = format!(
        "[alerting]\nfailure_threshold = 2\n[[alerting.webhook]]\nname = \"hook\"\nurl = \"{}\"\n",
        hook.url("/hook/SECRET-PATH")
    );
    let agent = start(&config(good.addr, closed_port(), &extra)).await;
    let firing = hook.next().await.json();
    assert_eq!(firing["event"], "firing");
    assert_eq!(firing["probe"], "closed");
    assert_eq!(firing["reason"], "connect_refused");
    let m = agent
        .metrics_when(|m| {
            sample(
                m,
                "smtpwatch_notifications_total",
                &["notifier=\"hook\"", "outcome=\"sent\""],
            ) == Some(1.0)
        })
        .await;
    assert_eq!(
        sample(
            &m,
            "smtpwatch_notification_queue_length",
            &["notifier=\"hook\""]
        ),
        Some(0.0)
    );
    assert!(!m.contains("SECRET-PATH"));
    let (_, page) = get(agent.addr, "/").await;
    assert!(!page.contains("SECRET-PATH"));
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mx_probes_export_their_posture_and_show_it_on_the_status_page() {
    let t = crate::posture::mail_domain(
        ("200 OK", "text/plain", crate::posture::ENFORCE),
        Vec::new(),
    )
    .await;
    let dir = std::env::temp_dir().join(format!("smtpwatch-agent-posture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (anchor, ca) = (dir.join("anchor.key"), dir.join("ca.pem"));
    std::fs::write(&anchor, t.zone.anchor_record()).expect("anchor");
    std::fs::write(&ca, t.ca.pem()).expect("ca");
    let config = format!(
        "[agent]\nehlo_name = \"probe.test\"\ninterval = \"1s\"\ntimeout = \"900ms\"\ndns_servers = [\"{}\"]\n\
         [[probe]]\nname = \"domain\"\ntarget = \"mx:mail.test:{}\"\nca_file = \"{}\"\n\
         dnssec_trust_anchor = \"{}\"\nfcrdns = false\n",
        t.zone.addr,
        t.port,
        ca.display(),
        anchor.display()
    );
    let agent = start(&config).await;
    let m = agent
        .metrics_when(|m| sample(m, "smtpwatch_dane_match", &["address=\"127.0.0.3"]).is_some())
        .await;
    let record = |r: &str| format!("record=\"{r}\"");
    assert_eq!(
        sample(
            &m,
            "smtpwatch_dnssec_secure",
            &["probe=\"domain\"", &record("MX mail.test")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &m,
            "smtpwatch_dnssec_secure",
            &[&record("TLSA _25._tcp.mx1.mail.test")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "smtpwatch_dane_match", &["address=\"127.0.0.2"]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "smtpwatch_dane_match", &["address=\"127.0.0.3"]),
        Some(0.0)
    );
    // No _mta-sts record in this zone.
    assert_eq!(
        sample(&m, "smtpwatch_mta_sts_valid", &["probe=\"domain\""]),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &m,
            "smtpwatch_probe_failures_total",
            &["reason=\"dane_mismatch\""]
        )
        .map(|v| v >= 1.0),
        Some(true)
    );
    let (_, page) = get(agent.addr, "/").await;
    assert!(page.contains("posture mail.test CRITICAL"), "{page}");
    assert!(page.contains("DANE mismatch"), "{page}");
    agent.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_that_cancels_a_round_in_flight_leaves_the_gauge_exact() {
    // A server that accepts and never greets: the round stays in flight for its whole timeout.
    let silent = FakeService::start(|| vec![Step::Silent]).await;
    // A name whose first slot comes within a second, so the wait below is short.
    let interval = Duration::from_secs(20);
    let name = (0..)
        .map(|i| format!("stuck-{i}"))
        .find(|n| smtpwatch::schedule::offset(n, interval) < Duration::from_secs(1))
        .expect("a name");
    let text = format!(
        "[agent]\nehlo_name = \"probe.test\"\ninterval = \"20s\"\ntimeout = \"15s\"\nenable_lifecycle = true\n\
         [[probe]]\nname = \"{name}\"\ntarget = \"{}\"\n",
        silent.addr
    );
    let agent = start(&text).await;
    agent
        .metrics_when(|m| sample(m, "smtpwatch_probes_in_flight", &[]) == Some(1.0))
        .await;
    std::fs::write(&agent.config, "[agent]\nehlo_name = \"probe.test\"\n").expect("write");
    let (status, _) = request(agent.addr, "POST", "/-/reload").await;
    assert_eq!(status, 200);
    agent
        .metrics_when(|m| sample(m, "smtpwatch_probes_in_flight", &[]) == Some(0.0))
        .await;
    agent.stop().await;
}
