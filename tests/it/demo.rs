//! `smtpwatch demo` as a newcomer runs it: results for all five probes within 15 s, nothing
//! but loopback in what it runs, an alert printed, and Ctrl-C stopping it cleanly with its
//! directory removed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::http::get;

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_has_results_within_15_s_stays_on_loopback_and_stops_on_ctrl_c() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_smtpwatch"))
        .args(["demo", "--listen", &listen])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the demo");
    let stdout = child.stdout.take().expect("stdout");
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let first = lines_rx
        .recv_timeout(Duration::from_secs(15))
        .expect("the demo's first line");
    assert!(
        first.contains(&format!("http://{listen}/")),
        "prints the page's URL: {first}"
    );
    let config_line = lines_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("config line");
    let config_path = config_line.rsplit(' ').next().expect("path").to_string();
    let config = std::fs::read_to_string(&config_path).expect("the demo's configuration");
    for line in config
        .lines()
        .filter(|l| l.starts_with("target") || l.starts_with("url"))
    {
        assert!(
            line.contains("\"127.0.0.1:") || line.contains("//127.0.0.1:"),
            "loopback only: {line}"
        );
    }
    assert_eq!(config.matches("[[probe]]").count(), 5);

    let addr = listen.parse().expect("addr");
    // The line comes as the agent starts; it listens a moment later.
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the demo listens"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let api = loop {
        let (status, body) = get(addr, "/api/v1/probes").await;
        if status == 200 && !body.contains("\"pending\"") && body.matches("\"name\"").count() == 5 {
            break body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "results within 15 s: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let api: serde_json::Value = serde_json::from_str(&api).expect("json");
    let status = |name: &str| {
        api["probes"]
            .as_array()
            .expect("probes")
            .iter()
            .find(|p| p["name"] == name)
            .map(|p| p["status"].clone())
    };
    assert_eq!(status("healthy"), Some("ok".into()));
    assert_eq!(
        status("expiring-cert"),
        Some("warning".into()),
        "inside the 14 d window"
    );
    let (_, page) = get(addr, "/").await;
    assert!(
        page.contains("smtpwatch demo CA"),
        "the issuer is on the page"
    );
    // The expiring certificate's alert reaches the built-in receiver, which prints it.
    let deadline = Instant::now() + Duration::from_secs(20);
    let alert = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) if line.starts_with("ALERT firing") => break line,
            Ok(_) => continue,
            Err(e) => panic!("no alert printed: {e}"),
        }
    };
    assert!(alert.contains("expiring-cert"), "{alert}");

    // Ctrl-C: SIGINT, as a terminal sends it.
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "the demo stops on Ctrl-C");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(exit.success(), "{exit:?}");
    assert!(
        !std::path::Path::new(&config_path).exists(),
        "its directory is removed"
    );
}
