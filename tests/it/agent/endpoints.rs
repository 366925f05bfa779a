//! The agent's HTTP surface: metrics with values and labels, `/probe` in blackbox_exporter
//! names and JSON, and the status page with everything escaped.

use super::*;

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
    // Lean by default: the last probe's durations as gauges, no per-address histogram.
    assert!(sample(
        &m,
        "smtpwatch_last_phase_duration_seconds",
        &["probe=\"good\"", "phase=\"noop\""]
    )
    .is_some_and(|v| v > 0.0 && v < 1.0));
    assert!(sample(&m, "smtpwatch_probe_duration_seconds", &["probe=\"good\""]).is_some());
    assert!(
        !m.contains("_bucket{probe="),
        "no per-address histogram by default"
    );
    assert!(!m.contains("smtpwatch_phase_duration_seconds"), "{m}");
    assert!(sample(&m, "smtpwatch_schedule_lag_seconds_count", &[]).is_some_and(|v| v >= 2.0));
    assert_eq!(sample(&m, "smtpwatch_build_info", &[]), Some(1.0));
    assert_eq!(
        sample(&m, "smtpwatch_config_last_reload_successful", &[]),
        Some(1.0)
    );
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn histograms_on_add_the_latency_histograms_beside_the_gauges() {
    let good = FakeService::start(healthy_script).await;
    let text = config(good.addr, closed_port(), "").replace(
        "enable_lifecycle = true\n",
        "enable_lifecycle = true\nhistograms = true\n",
    );
    let agent = start(&text).await;
    let m = agent.metrics_when(both_probed).await;
    assert!(
        m.contains("smtpwatch_probe_duration_histogram_seconds_bucket{probe=\"good\""),
        "{m}"
    );
    assert!(sample(
        &m,
        "smtpwatch_phase_duration_seconds_count",
        &["probe=\"good\"", "phase=\"noop\""]
    )
    .is_some_and(|n| n >= 1.0));
    assert!(
        m.contains("le=\"0.001\"") && m.contains("le=\"30\""),
        "1 ms … 30 s buckets"
    );
    assert!(sample(&m, "smtpwatch_probe_duration_seconds", &["probe=\"good\""]).is_some());
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
        "/probe?target=x.test&ca_file=/etc/ca.pem",
        "/probe?target=x.test&module=smtp_starttls",
        "/probe?target=x.test&module=",
        "/probe?target=x.test&insecure=maybe",
    ] {
        let (status, body) = get(agent.addr, bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(!body.trim().is_empty(), "{bad}: a message says why");
    }
    // insecure takes 1 as well as true.
    let (status, body) = get(
        agent.addr,
        &format!("/probe?target={}&insecure=1&format=json", good.addr),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_modules_set_defaults_and_the_query_overrides_them() {
    let good = FakeService::start(healthy_script).await;
    let modules = "[[module]]\nname = \"strict-tls\"\ntls = \"starttls\"\ntimeout = \"2s\"\n\
                   [[module]]\nname = \"plain\"\ntls = \"none\"\n";
    let agent = start(&config(good.addr, closed_port(), modules)).await;
    let probe = |query: String| async move {
        get(
            agent.addr,
            &format!("/probe?target={}&{query}&format=json", good.addr),
        )
        .await
    };
    let (status, body) = probe("module=strict-tls".into()).await;
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(body.trim()).expect("json");
    assert_eq!(
        report["failure"]["reason"], "starttls_unavailable",
        "the module's tls: {body}"
    );
    let (_, body) = probe("module=strict-tls&tls=none".into()).await;
    let report: serde_json::Value = serde_json::from_str(body.trim()).expect("json");
    assert_eq!(report["status"], "ok", "the query's tls wins: {body}");
    let (_, body) = probe("module=plain".into()).await;
    let report: serde_json::Value = serde_json::from_str(body.trim()).expect("json");
    assert_eq!(report["status"], "ok", "{body}");
    let (status, body) = probe("module=nope".into()).await;
    assert_eq!(status, 400);
    assert!(body.contains("unknown module \"nope\""), "{body}");
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_page_shows_every_probe_escaped() {
    let good = FakeService::start(healthy_script).await;
    // Greets like the good one, then refuses EHLO: a failed round with a transcript.
    let refusing = FakeService::start(|| {
        vec![
            Step::Line("220 bad.test ESMTP <script>alert(1)</script>"),
            Step::Expect("EHLO"),
            Step::Line("554 5.7.1 <b>no</b>"),
        ]
    })
    .await;
    let extra = format!(
        "[[probe]]\nname = \"bad\"\ntarget = \"{}\"\n",
        refusing.addr
    );
    let agent = start(&config(good.addr, closed_port(), &extra)).await;
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
    // An OK round keeps no transcript (memory at 100,000 probes); its banner is still shown.
    let (status, last) = get(agent.addr, "/probes/good/last").await;
    assert_eq!(status, 200);
    assert!(!last.contains("EHLO probe.test"), "{last}");
    assert!(
        last.contains("transcripts of rounds that were not OK"),
        "{last}"
    );
    assert!(
        last.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "server text escaped"
    );
    assert!(!last.contains("<script>alert"), "no raw server HTML");
    // A failed round keeps its transcript, escaped.
    let last = agent
        .wait_for("/probes/bad/last", |s, b| s == 200 && b.contains("EHLO"))
        .await;
    assert!(
        last.contains("-&gt; EHLO probe.test"),
        "transcript shown:\n{last}"
    );
    assert!(last.contains("&lt;b&gt;no&lt;/b&gt;"), "{last}");
    assert!(!last.contains("<b>no"), "no raw server HTML");
    assert_eq!(get(agent.addr, "/probes/nope/last").await.0, 404);
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_gzipped_for_a_scraper_that_accepts_it() {
    use std::io::Read as _;
    let good = FakeService::start(healthy_script).await;
    let agent = start(&config(good.addr, closed_port(), "")).await;
    let plain = agent.metrics_when(both_probed).await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://{}/metrics", agent.addr))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    let compressed = response.bytes().await.expect("body");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut text)
        .expect("valid gzip");
    assert!(compressed.len() * 2 < text.len(), "it shrinks");
    // The same families and series as the plain scrape (values move between scrapes).
    let names = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_string()))
            .filter(|s| !s.contains("schedule_lag") && !s.contains("in_flight"))
            .collect()
    };
    assert_eq!(names(&text), names(&plain));
    agent.stop().await;
}
