//! The agent end to end: `smtpwatch run` (started by tests/run.sh) probing the real Postfix and
//! a closed port, real Prometheus scraping it, promtool linting /metrics, and headless Chromium
//! rendering the status page.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

pub(crate) fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the end-to-end suite through tests/run.sh")
    })
}

/// GET `path` from `host:port` over HTTP/1.0 (no chunking); returns status and body.
pub(crate) fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_string())
}

pub(crate) fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs an instant query; returns each result's labels and value.
pub(crate) fn query(promql: &str) -> Vec<(serde_json::Value, f64)> {
    query_at(&env("SMTPWATCH_E2E_PROMETHEUS"), promql)
}

/// [`query`] against the Prometheus at `prometheus` (`host:port`).
pub(crate) fn query_at(prometheus: &str, promql: &str) -> Vec<(serde_json::Value, f64)> {
    let (status, body) = http_get(
        prometheus,
        &format!("/api/v1/query?query={}", url_encode(promql)),
    );
    assert_eq!(status, 200, "{promql}: {body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("prometheus json");
    json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            let value = r["value"][1]
                .as_str()
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN);
            (r["metric"].clone(), value)
        })
        .collect()
}

/// Polls `promql` until it returns exactly one series with `value`; at most 60 s.
pub(crate) fn wait_for_value(promql: &str, value: f64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let result = query(promql);
        if let [(labels, v)] = result.as_slice() {
            if *v == value {
                return labels.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "{promql} never became {value}: {result:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn prometheus_scrapes_success_for_postfix_and_refused_for_a_closed_port() {
    let postfix = wait_for_value("smtpwatch_probe_success{probe=\"postfix\"}", 1.0);
    assert_eq!(postfix["address"], "127.0.0.1:2525");
    assert_eq!(postfix["team"], "mail", "user labels reach Prometheus");
    wait_for_value("smtpwatch_probe_success{probe=\"closed\"}", 0.0);
    let refused = wait_for_value(
        "sum by (probe, reason) (smtpwatch_probe_failures_total{probe=\"closed\",reason=\"connect_refused\"}) > bool 0",
        1.0,
    );
    assert_eq!(refused["reason"], "connect_refused");
    wait_for_value(
        "smtpwatch_tls_info{probe=\"postfix\",version=\"TLSv1.3\"}",
        1.0,
    );
    wait_for_value("smtpwatch_starttls_advertised{probe=\"postfix\"}", 1.0);
    wait_for_value("smtpwatch_config_last_reload_successful", 1.0);
    // Lean metrics: the last handshake's duration as a gauge, and no histogram.
    let handshake =
        query("smtpwatch_last_phase_duration_seconds{probe=\"postfix\",phase=\"tls_handshake\"}");
    assert!(
        handshake.iter().any(|(_, v)| *v > 0.0 && *v < 5.0),
        "{handshake:?}"
    );
    assert!(query("smtpwatch_phase_duration_seconds_count").is_empty());
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn metrics_pass_promtool_check_metrics() {
    let (status, body) = http_get(&env("SMTPWATCH_E2E_AGENT"), "/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("smtpwatch_probe_success{"), "{body}");
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("promtool output");
    let lint = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && lint.trim().is_empty(),
        "promtool check metrics:\n{lint}"
    );
}

/// Headless Chromium as the machine allows it (no sandbox as root, no background traffic).
fn chromium(profile: &std::path::Path, url: &str, extra: &[String]) -> std::process::Output {
    let mut args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    args.extend(extra.iter().cloned());
    args.push(url.to_string());
    Command::new("chromium")
        .args(&args)
        .output()
        .expect("run chromium")
}

/// The DOM Chromium renders for `url`, checked for every needle.
fn rendered(profile: &std::path::Path, url: &str, needles: &[&str]) {
    let dom = chromium(profile, url, &["--dump-dom".into()]);
    let text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        dom.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&dom.stderr)
    );
    for needle in needles {
        assert!(
            text.contains(needle),
            "{needle} missing from the DOM of {url}:\n{text}"
        );
    }
}

/// Desktop and phone screenshots of `url` under `name-desktop.png` and `name-phone.png`.
fn screenshots(profile: &std::path::Path, url: &str, name: &str) {
    let shots = std::path::PathBuf::from(env("SMTPWATCH_E2E_SCREENSHOTS"));
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    for (size, window) in [("desktop", "1280,900"), ("phone", "412,915")] {
        let path = shots.join(format!("{name}-{size}.png"));
        let shot = chromium(
            profile,
            url,
            &[
                format!("--screenshot={}", path.display()),
                format!("--window-size={window}"),
            ],
        );
        assert!(
            shot.status.success(),
            "{}",
            String::from_utf8_lossy(&shot.stderr)
        );
        let png = std::fs::read(&path).expect("screenshot written");
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 5_000,
            "a real picture: {} bytes",
            png.len()
        );
    }
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn status_and_history_pages_render_in_headless_chromium() {
    let agent = env("SMTPWATCH_E2E_AGENT");
    // Both probes have a result before the browser looks.
    wait_for_value("smtpwatch_probe_success{probe=\"closed\"}", 0.0);
    let profile = std::env::temp_dir().join(format!("smtpwatch-chromium-{}", std::process::id()));
    let status = format!("http://{agent}/");
    rendered(
        &profile,
        &status,
        &[
            "id=\"probe-postfix\"",
            "id=\"probe-closed\"",
            "data-status=\"ok\"",
            "data-status=\"critical\"",
            "connect_refused",
            "127.0.0.1:2525",
            "tls_handshake",
            "TLSv1.3",
            "class=\"summary\"",
            "critical</span>",
            "class=\"bar\"",
            "data-range=\"30d\"",
            "<svg class=\"chart\"",
            "failing since",
            "issuer CN=smtpwatch e2e CA",
        ],
    );
    screenshots(&profile, &status, "status-page");
    let history = format!("http://{agent}/probes/closed?range=7d");
    rendered(
        &profile,
        &history,
        &[
            "Latency, 7d",
            "<svg class=\"chart\"",
            "polyline",
            "Last failures",
            "connect/connect_refused",
        ],
    );
    screenshots(&profile, &history, "history-page");
    let _ = std::fs::remove_dir_all(profile);
}
