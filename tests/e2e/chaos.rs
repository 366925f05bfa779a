//! Delivery across a SIGKILL, with the release binary: a firing retrying against a receiver
//! that answers 500 when the agent is killed is delivered by the restarted agent, with the
//! same id, and accepted once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Every request a webhook receiver got: (event, id, the status it answered).
type Seen = Arc<Mutex<Vec<(String, String, u16)>>>;

/// A webhook receiver on loopback answering 500 to the first `failures` requests, then 200.
fn receiver(failures: usize) -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
    let addr = listener.local_addr().expect("addr");
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(stream);
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length.min(1 << 20)];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let mut seen = log.lock().expect("log");
            let status = if seen.len() < failures { 500 } else { 200 };
            seen.push((
                json["event"].as_str().unwrap_or("").to_string(),
                json["id"].as_str().unwrap_or("").to_string(),
                status,
            ));
            drop(seen);
            let mut stream = reader.into_inner();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
    });
    (addr, seen)
}

fn agent(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_smtpwatch"))
        .args(["run", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the agent")
}

fn wait_until(what: &str, bound: Duration, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + bound;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "end-to-end: run through tests/run.sh"]
fn a_firing_retrying_when_the_agent_is_killed_arrives_after_the_restart_once() {
    let dir = std::env::temp_dir().join(format!("smtpwatch-chaos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let (addr, seen) = receiver(1);
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let state = dir.join("state.json");
    let config = dir.join("probes.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\nlisten = \"127.0.0.1:0\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nstate_file = \"{}\"\n\
             [alerting]\nfailure_threshold = 1\nretry_backoff = \"1m\"\nretry_backoff_max = \"1m\"\n\
             [[alerting.webhook]]\nname = \"hook\"\nurl = \"http://{addr}/hook\"\n\
             [[probe]]\nname = \"down\"\ntarget = \"{closed}\"\ntls = \"none\"\n",
            state.display()
        ),
    )
    .expect("config");

    let mut first = agent(&config);
    wait_until("the first attempt", Duration::from_secs(20), || {
        !seen.lock().expect("log").is_empty()
    });
    // The firing is waiting a minute for its retry: kill the agent outright.
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");

    let mut second = agent(&config);
    wait_until("the re-delivery", Duration::from_secs(20), || {
        seen.lock()
            .expect("log")
            .iter()
            .any(|(_, _, status)| *status == 200)
    });
    let _ = Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    second.wait().expect("agent exit");
    let seen = seen.lock().expect("log").clone();
    let _ = std::fs::remove_dir_all(&dir);
    let (event, id, status) = &seen[0];
    assert_eq!((event.as_str(), *status), ("firing", 500), "{seen:?}");
    assert_eq!(id.len(), 32, "{seen:?}");
    let accepted: Vec<_> = seen
        .iter()
        .filter(|(_, i, s)| i == id && *s == 200)
        .collect();
    assert_eq!(accepted.len(), 1, "the firing is accepted once: {seen:?}");
    assert_eq!(accepted[0].0, "firing");
}
