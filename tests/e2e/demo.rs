//! `smtpwatch demo` stays on loopback, seen from the kernel's side: every `connect`, `sendto`
//! and `sendmsg` the demo makes (traced with strace, children and threads included) names a
//! loopback address or none (Unix sockets), while its five probes run and an alert goes out.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The strace'd demo's process group; killed on drop.
struct Traced(std::process::Child);

impl Drop for Traced {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
    }
}

/// The address a traced socket call names, when it is an Internet one.
fn inet_address(line: &str) -> Option<String> {
    let after = |marker: &str| {
        line.split_once(marker)
            .and_then(|(_, rest)| rest.split('"').next())
            .map(str::to_string)
    };
    if line.contains("sa_family=AF_INET6") {
        after("inet_pton(AF_INET6, \"")
    } else if line.contains("sa_family=AF_INET,") {
        after("inet_addr(\"")
    } else {
        None
    }
}

fn is_loopback(address: &str) -> bool {
    address
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| match ip {
            std::net::IpAddr::V4(v4) => v4.is_loopback(),
            std::net::IpAddr::V6(v6) => {
                v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        })
}

#[test]
#[ignore = "needs strace, as tests/run.sh installs"]
fn the_demo_connects_and_sends_to_loopback_only() {
    let dir = std::env::temp_dir().join(format!("smtpwatch-demo-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let trace = dir.join("trace.txt");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o"])
        .arg(&trace)
        .arg(env!("CARGO_BIN_EXE_smtpwatch"))
        .args(["demo", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("strace (Debian package strace) runs the demo");
    let stdout = child.stdout.take().expect("stdout");
    let traced = Traced(child);

    // The expiring certificate's alert is printed once its probe has run: by then every probe
    // has had its first round and the built-in notifier has delivered.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut lines = BufReader::new(stdout).lines();
    loop {
        assert!(
            Instant::now() < deadline,
            "no alert from the demo within 60 s"
        );
        match lines.next() {
            Some(Ok(line)) if line.starts_with("ALERT firing") => break,
            Some(Ok(_)) => continue,
            other => panic!("the demo's output ended: {other:?}"),
        }
    }
    // And until the five probes have connected to their five servers.
    let text = loop {
        let text = std::fs::read_to_string(&trace).unwrap_or_default();
        let ports: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|l| l.contains(" connect("))
            .filter_map(|l| l.split_once("port=htons("))
            .filter_map(|(_, rest)| rest.split(')').next())
            .collect();
        if ports.len() >= 5 {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "the demo's probes never connected to five servers: {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    drop(traced);

    let addresses: Vec<String> = text.lines().filter_map(inet_address).collect();
    let outside: Vec<&String> = addresses.iter().filter(|a| !is_loopback(a)).collect();
    assert!(
        outside.is_empty(),
        "the demo reached beyond loopback: {outside:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
