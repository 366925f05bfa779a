//! `smtpwatch run` under a stand-in for systemd: a unix datagram socket as `NOTIFY_SOCKET`
//! receives READY=1 once the agent serves, WATCHDOG=1 pings when `WATCHDOG_USEC` is set, and
//! STOPPING=1 on SIGTERM, after which the agent exits 0.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Receives datagrams until one contains `want`; panics after 15 s.
fn wait_for(socket: &UnixDatagram, want: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            let found = text.lines().any(|l| l == want);
            seen.push(text);
            if found {
                return;
            }
        }
    }
    panic!("no {want} from the agent; got {seen:?}");
}

#[test]
fn run_notifies_ready_watchdog_and_stopping() {
    let dir = std::env::temp_dir().join(format!("smtpwatch-sd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let socket_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port");
    let config = dir.join("probes.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\nlisten = \"127.0.0.1:0\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n\
             [[probe]]\nname = \"closed\"\ntarget = \"{closed}\"\n"
        ),
    )
    .expect("config");
    let mut agent = Command::new(env!("CARGO_BIN_EXE_smtpwatch"))
        .args(["run", "--config"])
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the agent");
    let mut seen = Vec::new();
    wait_for(&socket, "READY=1", &mut seen);
    assert!(seen
        .last()
        .is_some_and(|m| m.contains("STATUS=probing 1 targets")));
    wait_for(&socket, "WATCHDOG=1", &mut seen);
    let killed = Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    wait_for(&socket, "STOPPING=1", &mut seen);
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = agent.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the agent did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}
