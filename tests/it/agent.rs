//! The agent on 127.0.0.1:0 against fake SMTP servers: metrics, /probe, the status page,
//! reloads and shutdown. Waiting is always for an observable condition, bounded in time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use smtpwatch::agent::{serve, Agent};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::fake_smtp::{noop_quit, FakeService, Step};
use crate::support::http::{get, request, sample};

struct TestAgent {
    addr: SocketAddr,
    config: PathBuf,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), smtpwatch::agent::AgentError>>,
}

fn temp_config(text: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!("smtpwatch-it-{}-{n}.toml", std::process::id()));
    std::fs::write(&path, text).expect("write config");
    path
}

async fn start(config_text: &str) -> TestAgent {
    let config = temp_config(config_text);
    let agent = Agent::load(&config).expect("valid config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(
        agent,
        listener,
        shutdown.clone(),
        Duration::from_secs(2),
    ));
    let test = TestAgent {
        addr,
        config,
        shutdown,
        task,
    };
    test.wait_for("/-/ready", |status, _| status == 200).await;
    test
}

impl TestAgent {
    /// Polls `path` until `ok(status, body)`; panics with the last body after 15 s.
    async fn wait_for(&self, path: &str, ok: impl Fn(u16, &str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let (status, body) = get(self.addr, path).await;
            if ok(status, &body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting on {path}; last:\n{body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn metrics_when(&self, ok: impl Fn(&str) -> bool) -> String {
        self.wait_for("/metrics", |s, body| s == 200 && ok(body))
            .await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        assert!(
            matches!(ended, Ok(Ok(Ok(())))),
            "agent stopped cleanly: {ended:?}"
        );
        let _ = std::fs::remove_file(self.config);
    }
}

fn healthy_script() -> Vec<Step> {
    let mut steps = vec![
        Step::Line("220 good.test ESMTP <script>alert(1)</script>"),
        Step::Expect("EHLO"),
        Step::Line("250-good.test\r\n250 PIPELINING"),
    ];
    steps.extend(noop_quit());
    steps
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn config(good: SocketAddr, closed: u16, extra: &str) -> String {
    format!(
        "[agent]\nehlo_name = \"probe.test\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n\
         [[probe]]\nname = \"good\"\ntarget = \"{good}\"\nlabels = {{ team = \"mail\" }}\n\
         [[probe]]\nname = \"closed\"\ntarget = \"127.0.0.1:{closed}\"\n{extra}"
    )
}

fn both_probed(m: &str) -> bool {
    sample(m, "smtpwatch_probes_total", &["probe=\"good\""]).is_some()
        && sample(m, "smtpwatch_probes_total", &["probe=\"closed\""]).is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_carry_values_and_labels() {
    let good = FakeService::start(healthy_script).await;
    let agent = start(&config(good.addr, closed_port(), "")).await;
    let m = agent.metrics_when(both_probed).await;
    let good_addr = format!("address=\"{}\"", good.addr);
    assert_eq!(
        sample(
            &m,
            "smtpwatch_probe_success",
            &["probe=\"good\"", "team=\"mail\"", &good_addr]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "smtpwatch_probe_success", &["probe=\"closed\""]),
        Some(0.0)
    );
    let refused = [
        "probe=\"closed\"",
        "phase=\"connect\"",
        "reason=\"connect_refused\"",
    ];
    assert!(sample(&m, "smtpwatch_probe_failures_total", &refused).is_some_and(|v| v >= 1.0));
    assert_eq!(
        sample(&m, "smtpwatch_starttls_advertised", &["probe=\"good\""]),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &m,
            "smtpwatch_smtp_reply_code",
            &["probe=\"good\"", "phase=\"banner\""]
        ),
        Some(220.0)
    );
    assert!(sample(
        &m,
        "smtpwatch_phase_duration_seconds_count",
        &["probe=\"good\"", "phase=\"noop\""]
    )
    .is_some());
    assert!(sample(&m, "smtpwatch_schedule_lag_seconds_count", &[]).is_some_and(|v| v >= 2.0));
    assert_eq!(sample(&m, "smtpwatch_build_info", &[]), Some(1.0));
    assert_eq!(
        sample(&m, "smtpwatch_config_last_reload_successful", &[]),
        Some(1.0)
    );
    assert!(
        m.contains("smtpwatch_probe_duration_seconds_bucket{probe=\"good\""),
        "histograms exposed"
    );
    assert!(
        m.contains("le=\"0.001\"") && m.contains("le=\"30\""),
        "1 ms … 30 s buckets"
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_endpoint_answers_in_blackbox_names_and_json() {
    let good = FakeService::start(healthy_script).await;
    let closed = closed_port();
    let agent = start(&config(good.addr, closed, "")).await;

    let (status, body) = get(agent.addr, &format!("/probe?target={}", good.addr)).await;
    assert_eq!(status, 200);
    assert!(body.contains("\nprobe_success 1\n"), "{body}");
    assert!(body.contains("probe_duration_seconds "), "{body}");
    assert!(
        body.contains("probe_smtp_phase_duration_seconds{"),
        "{body}"
    );

    let (status, body) = get(agent.addr, &format!("/probe?target=127.0.0.1:{closed}")).await;
    assert_eq!(status, 200, "a failing target is still a successful scrape");
    assert!(body.contains("\nprobe_success 0\n"), "{body}");
    assert!(body.contains("reason=\"connect_refused\""), "{body}");

    let (status, body) = get(
        agent.addr,
        &format!("/probe?target={}&format=json", good.addr),
    )
    .await;
    assert_eq!(status, 200);
    let report: serde_json::Value = serde_json::from_str(body.trim()).expect("one ProbeReport");
    assert_eq!(report["status"], "ok");

    for bad in [
        "/probe",
        "/probe?target=http://x",
        "/probe?target=x.test&tls=maybe",
        "/probe?target=x.test&format=xml",
    ] {
        let (status, body) = get(agent.addr, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(!body.trim().is_empty(), "{bad}: a message says why");
    }
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_shows_every_probe_escaped() {
    let good = FakeService::start(healthy_script).await;
    let agent = start(&config(good.addr, closed_port(), "")).await;
    agent.metrics_when(both_probed).await;
    let page = agent
        .wait_for("/", |s, b| {
            s == 200 && b.matches("data-status=").count() >= 4
        })
        .await;
    for needle in [
        "id=\"probe-good\"",
        "id=\"probe-closed\"",
        "data-status=\"ok\"",
        "data-status=\"critical\"",
        "connect_refused",
        "/probes/good/last",
        "http-equiv=\"refresh\"",
        "name=\"viewport\"",
    ] {
        assert!(
            page.contains(needle),
            "{needle} missing from the status page"
        );
    }
    assert!(
        !page.contains("src=") && !page.contains("<link"),
        "no external assets"
    );
    let (status, last) = get(agent.addr, "/probes/good/last").await;
    assert_eq!(status, 200);
    assert!(
        last.contains("-&gt; EHLO probe.test"),
        "transcript shown:\n{last}"
    );
    assert!(
        last.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "server text escaped"
    );
    assert!(!last.contains("<script>alert"), "no raw server HTML");
    assert_eq!(get(agent.addr, "/probes/nope/last").await.0, 404);
    agent.stop().await;
}

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
