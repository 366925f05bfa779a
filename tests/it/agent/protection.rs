//! The agent's HTTP surface refuses what a browser on another site, a rebinding page or a
//! flood of ad-hoc probes would do: reload without `enable_lifecycle`, cross-site posts, foreign
//! `Host` headers, probes outside `allow`, and more ad-hoc probes at once than `max_concurrent`.

use super::*;
use crate::support::http::request_with;

fn agent_config(extra: &str) -> String {
    format!("[agent]\nehlo_name = \"probe.test\"\ninterval = \"1h\"\ntimeout = \"5s\"\n{extra}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_over_http_needs_enable_lifecycle_and_refuses_other_sites() {
    let off = start(&agent_config("")).await;
    let (status, body) = request(off.addr, "POST", "/-/reload").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("enable_lifecycle"), "{body}");
    off.stop().await;

    let on = start(&agent_config("enable_lifecycle = true\n")).await;
    let host = on.addr.to_string();
    assert_eq!(request(on.addr, "POST", "/-/reload").await.0, 200);
    let same_origin = format!("http://{host}");
    let cases: [(&[(&str, &str)], u16); 4] = [
        (&[("Host", &host), ("Origin", "http://evil.test")], 403),
        (&[("Host", &host), ("Sec-Fetch-Site", "cross-site")], 403),
        (&[("Host", &host), ("Origin", "null")], 403),
        (&[("Host", &host), ("Origin", &same_origin)], 200),
    ];
    for (headers, want) in cases {
        let (status, body) = request_with(on.addr, "POST", "/-/reload", headers).await;
        assert_eq!(status, want, "{headers:?}: {body}");
    }
    on.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_loopback_only_local_host_names_are_served() {
    let agent = start(&agent_config("")).await;
    let port = agent.addr.port();
    for (host, want) in [
        (format!("127.0.0.1:{port}"), 200),
        (format!("localhost:{port}"), 200),
        (format!("rebound.evil.test:{port}"), 403),
        ("evil.test".to_string(), 403),
    ] {
        let (status, _) = request_with(agent.addr, "GET", "/metrics", &[("Host", &host)]).await;
        assert_eq!(status, want, "Host: {host}");
    }
    let (status, _) = request_with(agent.addr, "GET", "/metrics", &[]).await;
    assert_eq!(status, 403, "no Host at all");
    agent.stop().await;

    let listed = start(&agent_config(
        "allowed_hosts = [\"monitor.example\", \"127.0.0.1\"]\n",
    ))
    .await;
    let ok = request_with(
        listed.addr,
        "GET",
        "/healthz",
        &[("Host", "monitor.example:9925")],
    );
    assert_eq!(ok.await.0, 200);
    let localhost = format!("localhost:{}", listed.addr.port());
    let (status, _) = request_with(listed.addr, "GET", "/healthz", &[("Host", &localhost)]).await;
    assert_eq!(
        status, 403,
        "an explicit list replaces the loopback default"
    );
    listed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_endpoint_probes_only_what_allow_lists_and_at_most_max_concurrent() {
    // A server that never greets, and says when a connection arrives.
    let (connected, mut arrivals) = tokio::sync::mpsc::unbounded_channel();
    let silent = FakeService::start(move || {
        let _ = connected.send(());
        vec![Step::Silent]
    })
    .await;
    let agent = start(&agent_config(
        "[agent.probe_endpoint]\nallow = [\"127.0.0.1\", \"*.allowed.test\"]\nmax_concurrent = 1\n",
    ))
    .await;
    let (status, body) = get(agent.addr, "/probe?target=192.0.2.1:25").await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = get(agent.addr, "/probe?target=mx.elsewhere.test").await;
    assert_eq!(status, 403);

    // One slow probe holds the only slot (it is connected to the silent server); a second at
    // the same time is refused.
    let addr = agent.addr;
    let slow_path = format!("/probe?target={}", silent.addr);
    let slow = tokio::spawn(async move { get(addr, &slow_path).await });
    let arrived = tokio::time::timeout(Duration::from_secs(10), arrivals.recv()).await;
    assert!(matches!(arrived, Ok(Some(()))), "the slow probe connected");
    let quick = format!("/probe?target=127.0.0.1:{}", closed_port());
    let (status, body) = get(agent.addr, &quick).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("max_concurrent"), "{body}");
    let (status, _) = slow.await.expect("slow probe");
    assert_eq!(status, 200, "the first probe answers (probe_success 0)");
    agent.stop().await;

    let off = start(&agent_config("[agent.probe_endpoint]\nenabled = false\n")).await;
    assert_eq!(get(off.addr, "/probe?target=127.0.0.1:25").await.0, 404);
    off.stop().await;
}
