//! Alerting end to end: the agent (started by tests/run.sh) sends its alert for a closed port
//! to a real Alertmanager that this test starts; Alertmanager is restarted and the alert comes
//! back with the next re-send; then the port opens (a tiny SMTP responder) and the alert
//! resolves.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::agent::{env, http_get};
use crate::chaos::serve_smtp;

/// A real Alertmanager on `addr`, storing in `dir`; killed on drop.
pub(crate) struct Alertmanager(Child);

impl Alertmanager {
    fn start(addr: &str, dir: &Path) -> Alertmanager {
        Alertmanager::start_with(
            addr,
            dir,
            "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n",
        )
    }

    /// With the configuration `yaml`.
    pub(crate) fn start_with(addr: &str, dir: &Path, yaml: &str) -> Alertmanager {
        std::fs::create_dir_all(dir).expect("alertmanager dir");
        let config = dir.join("alertmanager.yml");
        std::fs::write(&config, yaml).expect("alertmanager config");
        let log = std::fs::File::create(dir.join("alertmanager.log")).expect("log");
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus-alertmanager (Debian package prometheus-alertmanager) starts");
        let am = Alertmanager(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(addr).is_err() || http_get(addr, "/-/ready").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "Alertmanager on {addr} did not become ready"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        am
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `flappy` probe's alerts in Alertmanager.
fn flappy_alerts(addr: &str) -> Vec<serde_json::Value> {
    let (status, body) = http_get(addr, "/api/v2/alerts");
    assert_eq!(status, 200, "{body}");
    let all: serde_json::Value = serde_json::from_str(&body).expect("alerts JSON");
    all.as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["labels"]["probe"] == "flappy")
        .collect()
}

fn is_active(alert: &serde_json::Value) -> bool {
    let ends = alert["endsAt"].as_str().unwrap_or("");
    alert["status"]["state"] == "active"
        && humantime::parse_rfc3339_weak(ends.trim_end_matches('Z').split('.').next().unwrap_or(""))
            .is_ok_and(|t| t > SystemTime::now())
}

fn updated_at(alert: &serde_json::Value) -> SystemTime {
    let text = alert["updatedAt"].as_str().unwrap_or("");
    humantime::parse_rfc3339_weak(text.trim_end_matches('Z').split('.').next().unwrap_or(""))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// Polls until `ok` holds for the flappy alerts; at most 60 s.
fn wait_alerts(
    addr: &str,
    what: &str,
    ok: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let alerts = flappy_alerts(addr);
        if ok(&alerts) {
            return alerts;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; alerts: {alerts:#?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "end-to-end: run through tests/run.sh"]
fn alertmanager_receives_keeps_across_its_restart_and_resolves_the_alert() {
    let addr = env("SMTPWATCH_E2E_ALERTMANAGER");
    let port: u16 = env("SMTPWATCH_E2E_FLAPPY_PORT").parse().expect("port");
    let dir = PathBuf::from(env("SMTPWATCH_E2E_STATE"))
        .join("..")
        .join("alertmanager");

    let am = Alertmanager::start(&addr, &dir.join("first"));
    let alerts = wait_alerts(&addr, "the firing alert", |a| a.iter().any(is_active));
    let alert = &alerts[0];
    assert_eq!(alert["labels"]["alertname"], "SMTPProbeFailing");
    assert_eq!(alert["labels"]["reason"], "connect_refused");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["target"], format!("127.0.0.1:{port}"));
    assert!(alert["annotations"]["description"]
        .as_str()
        .unwrap_or("")
        .contains("refused"));

    // Alertmanager keeps alerts in memory only: after a restart, the agent's re-send brings
    // the alert back.
    drop(am);
    let restarted = SystemTime::now();
    let am = Alertmanager::start(&addr, &dir.join("second"));
    wait_alerts(&addr, "the alert after the restart", |a| {
        a.iter()
            .any(|x| is_active(x) && updated_at(x) >= restarted - Duration::from_secs(1))
    });

    let listener = TcpListener::bind(("127.0.0.1", port)).expect("open the flappy port");
    serve_smtp(listener, None);
    wait_alerts(&addr, "the resolution", |a| !a.iter().any(is_active));
    drop(am);
}
