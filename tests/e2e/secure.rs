//! `[agent] web_config_file` against real Prometheus and Chromium: an agent of its own (the
//! release binary) behind TLS and basic auth, scraped by a Prometheus of its own with `scheme:
//! https`, `basic_auth` and `tls_config.ca_file`; a wrong password and plain HTTP are refused
//! (their jobs are down); the status page renders in headless Chromium over HTTPS, with the
//! test CA in the NSS database of Chromium's own home directory (certutil).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;

use crate::agent::query_at;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<String> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A CA (`ca.pem`) and a `localhost` server certificate under `dir`.
fn certificates(dir: &Path) {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "smtpwatch web e2e CA");
    let issuer = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca");
    std::fs::write(dir.join("ca.pem"), pem("CERTIFICATE", issuer.der())).expect("ca.pem");
    let key = rcgen::KeyPair::generate().expect("key");
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).expect("leaf");
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    let leaf = params.signed_by(&key, &issuer).expect("leaf");
    std::fs::write(dir.join("agent.crt"), pem("CERTIFICATE", leaf.der())).expect("crt");
    std::fs::write(
        dir.join("agent.key"),
        pem("PRIVATE KEY", &key.serialize_der()),
    )
    .expect("key");
}

/// A home directory whose NSS database (what Chromium on Linux trusts) holds the test CA.
fn home_trusting_the_ca(dir: &Path) -> PathBuf {
    let home = dir.join("home");
    let nss = home.join(".pki/nssdb");
    std::fs::create_dir_all(&nss).expect("nssdb dir");
    let db = format!("sql:{}", nss.display());
    let run = |args: &[&str]| {
        let out = Command::new("certutil")
            .args(args)
            .output()
            .expect("certutil");
        assert!(
            out.status.success(),
            "certutil {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&["-N", "-d", &db, "--empty-password"]);
    let ca = dir.join("ca.pem").to_string_lossy().into_owned();
    run(&[
        "-A",
        "-d",
        &db,
        "-n",
        "smtpwatch web e2e CA",
        "-t",
        "C,,",
        "-i",
        &ca,
    ]);
    home
}

fn wait_up(prometheus: &str, job: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let result = query_at(prometheus, &format!("up{{job=\"{job}\"}}"));
        if result.iter().any(|(_, v)| *v == want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "up{{job={job:?}}} never {want}: {result:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
#[ignore = "needs the servers started by tests/run.sh"]
fn prometheus_scrapes_over_https_with_basic_auth_and_chromium_renders_the_page() {
    let dir: PathBuf =
        std::env::temp_dir().join(format!("smtpwatch-web-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    certificates(&dir);
    let hash = bcrypt::hash("scrape-pw", 6).expect("bcrypt");
    std::fs::write(
        dir.join("web.yml"),
        format!("tls_server_config:\n  cert_file: agent.crt\n  key_file: agent.key\nbasic_auth_users:\n  prometheus: {hash}\n"),
    )
    .expect("web.yml");
    std::fs::write(dir.join("good.pw"), "scrape-pw").expect("pw");
    std::fs::write(dir.join("wrong.pw"), "not-it").expect("pw");
    let agent_port = free_port();
    std::fs::write(
        dir.join("agent.toml"),
        format!(
            "[agent]\nlisten = \"127.0.0.1:{agent_port}\"\nweb_config_file = \"{d}/web.yml\"\n\n\
             [[probe]]\nname = \"postfix\"\ntarget = \"127.0.0.1:2525\"\ninterval = \"2s\"\ntimeout = \"1s\"\n",
            d = dir.display()
        ),
    )
    .expect("agent.toml");
    let _agent = Killed(
        Command::new(env!("CARGO_BIN_EXE_smtpwatch"))
            .args(["run", "--config"])
            .arg(dir.join("agent.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("agent"),
    );
    let prom_port = free_port();
    let target = format!("localhost:{agent_port}");
    let job = |name: &str, scheme: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: {scheme}\n    tls_config:\n      ca_file: {d}/ca.pem\n    basic_auth:\n      username: prometheus\n      password_file: {d}/{password}\n    static_configs:\n      - targets: [\"{target}\"]\n",
            d = dir.display()
        )
    };
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n{}{}{}",
        job("secure", "https", "good.pw"),
        job("wrong_password", "https", "wrong.pw"),
        job("plain_http", "http", "good.pw"),
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("prometheus.yml");
    let _prometheus = Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}/prometheus.yml", dir.display()))
            .arg(format!("--storage.tsdb.path={}/tsdb", dir.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus"),
    );
    let prometheus = format!("127.0.0.1:{prom_port}");
    // Prometheus answers its API once it is up; `up` then tells each job's fate.
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(&prometheus).is_err() {
        assert!(Instant::now() < deadline, "prometheus did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_up(&prometheus, "secure", 1.0);
    wait_up(&prometheus, "wrong_password", 0.0);
    wait_up(&prometheus, "plain_http", 0.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while query_at(
        &prometheus,
        "smtpwatch_probe_success{job=\"secure\",probe=\"postfix\"}",
    )
    .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the series never reached Prometheus"
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    let home = home_trusting_the_ca(&dir);
    let profile = dir.join("chromium");
    let url = format!("https://prometheus:scrape-pw@localhost:{agent_port}/");
    let dom = Command::new("chromium")
        .env("HOME", &home)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&url)
        .output()
        .expect("chromium");
    let text = String::from_utf8_lossy(&dom.stdout);
    assert!(
        text.contains("id=\"probe-postfix\""),
        "status page over HTTPS:\n{text}\n{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
