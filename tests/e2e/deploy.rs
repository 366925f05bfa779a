//! The deployment kit: the systemd unit's hardening score and syntax, and the release binary
//! run the way the unit runs it, as far as this machine (no systemd as PID 1) allows: an
//! unprivileged user, no capabilities, no new privileges, umask 077, and a notify socket that
//! must receive READY=1.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn unit() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/smtpwatch.service")
}

/// The shard template, under an instance's name (`systemd-analyze` needs one).
fn shard_instance(dir: &Path) -> PathBuf {
    let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/smtpwatch@.service");
    let text = std::fs::read_to_string(template).expect("template unit");
    assert!(text.contains("--shard %i") && text.contains("StateDirectory=smtpwatch/%i"));
    std::fs::create_dir_all(dir).expect("dir");
    let path = dir.join("smtpwatch@1-of-3.service");
    let binary = env!("CARGO_BIN_EXE_smtpwatch");
    std::fs::write(&path, text.replace("/usr/local/bin/smtpwatch", binary)).expect("write");
    path
}

#[test]
#[ignore = "end-to-end: run through tests/run.sh"]
fn unit_scores_at_most_1_5_in_systemd_analyze_security() {
    let dir = std::env::temp_dir().join(format!("smtpwatch-units-{}", std::process::id()));
    for unit in [unit(), shard_instance(&dir)] {
        security_at_most_1_5(&unit);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn security_at_most_1_5(unit: &Path) {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--threshold=15", "--no-pager"])
        .arg(unit)
        .output()
        .expect("systemd-analyze (package systemd)");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score in:\n{text}"));
    println!("{line}");
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable score line {line:?}"));
    assert!(score <= 1.5, "{line}");
    assert!(out.status.success(), "--threshold=15 failed: {line}");
}

/// `systemd-analyze verify` says nothing about `unit` and succeeds.
fn verify(unit: &Path) {
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit)
        .output()
        .expect("systemd-analyze");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "verify {}:\n{said}",
        unit.display()
    );
}

#[test]
#[ignore = "end-to-end: run through tests/run.sh"]
fn unit_verifies_cleanly_with_the_real_binary() {
    let dir = std::env::temp_dir().join(format!("smtpwatch-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let text = std::fs::read_to_string(unit()).expect("unit file");
    assert!(text.contains("/usr/local/bin/smtpwatch"));
    let path = dir.join("smtpwatch.service");
    let binary = env!("CARGO_BIN_EXE_smtpwatch");
    std::fs::write(&path, text.replace("/usr/local/bin/smtpwatch", binary)).expect("write");
    verify(&path);
    verify(&shard_instance(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "end-to-end: run through tests/run.sh (as root)"]
fn release_binary_runs_unprivileged_and_notifies_ready() {
    let dir = std::env::temp_dir().join(format!("smtpwatch-sandbox-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("state")).expect("dir");
    for (path, mode) in [(dir.clone(), 0o755), (dir.join("state"), 0o777)] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("notify socket");
    std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let config = dir.join("probes.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\nlisten = \"127.0.0.1:0\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nstate_file = \"{}\"\n\
             [[probe]]\nname = \"postfix\"\ntarget = \"127.0.0.1:2525\"\ntls = \"none\"\n",
            dir.join("state/state.json").display()
        ),
    )
    .expect("config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    // A copy the unprivileged user can reach wherever the checkout lives (e.g. under /root).
    let binary = dir.join("smtpwatch");
    std::fs::copy(env!("CARGO_BIN_EXE_smtpwatch"), &binary).expect("copy the binary");
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let agent = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--no-new-privs",
            "--bounding-set=-all",
            "--inh-caps=-all",
            "--",
            "sh",
            "-c",
            "umask 077 && exec \"$0\" run --config \"$1\"",
        ])
        .arg(&binary)
        .arg(&config)
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("setpriv (package util-linux)");
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut buf = [0u8; 1024];
    let mut ready = false;
    while Instant::now() < deadline && !ready {
        if let Ok(n) = socket.recv(&mut buf) {
            ready = String::from_utf8_lossy(&buf[..n])
                .lines()
                .any(|l| l == "READY=1");
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status();
    let out = agent.wait_with_output().expect("agent exit");
    let _ = std::fs::remove_dir_all(&dir);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(ready, "no READY=1 from the sandboxed agent; log:\n{log}");
    assert_eq!(out.status.code(), Some(0), "{log}");
}
