//! `smtpwatch demo`: the real agent, with a configuration of its own, against built-in SMTP
//! servers on 127.0.0.1: a healthy STARTTLS server (a CA the demo makes and trusts), one whose
//! certificate expires inside the warning window, a slow one, one that stops offering
//! STARTTLS after three minutes, and one that is down for two minutes in every six. Alerts go
//! to a built-in receiver that prints them. Nothing leaves loopback: every target is an IP
//! address on 127.0.0.1 and the only notifier is the receiver. Ctrl-C stops everything and
//! removes the demo's directory.

mod certs;
mod servers;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use self::certs::DemoCa;
use self::servers::Behaviour;
use crate::agent::AgentError;

/// Why the demo stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Certs(#[from] certs::CertError),
    #[error("the demo's files: {0}")]
    Files(std::io::Error),
    #[error("a demo server: {0}")]
    Server(std::io::Error),
    #[error(transparent)]
    Agent(#[from] AgentError),
}

/// The demo's probes: name, what its server does, TLS mode, days its certificate has left.
const PROBES: [(&str, Behaviour, &str, i64); 5] = [
    ("healthy", Behaviour::Healthy, "starttls", 365),
    ("expiring-cert", Behaviour::Healthy, "starttls", 7),
    (
        "slow",
        Behaviour::Slow(Duration::from_millis(1500)),
        "starttls",
        365,
    ),
    (
        "loses-starttls",
        Behaviour::DropsStartTls(Duration::from_secs(180)),
        "opportunistic",
        365,
    ),
    (
        "flapping",
        Behaviour::Flapping {
            up: Duration::from_secs(240),
            down: Duration::from_secs(120),
        },
        "starttls",
        365,
    ),
];

/// The demo's directory: its CA, configuration, history and alert state.
fn demo_dir() -> PathBuf {
    std::env::temp_dir().join(format!("smtpwatch-demo-{}", std::process::id()))
}

/// The configuration the demo runs: every probe trusts the demo CA and names `localhost`.
fn configuration(
    listen: SocketAddr,
    dir: &Path,
    servers: &[SocketAddr],
    alerts: SocketAddr,
) -> String {
    let d = dir.display();
    let mut text = format!(
        "# Written by `smtpwatch demo`: the agent against the demo's own servers on 127.0.0.1.\n\
         [agent]\nlisten = \"{listen}\"\nehlo_name = \"demo.smtpwatch.test\"\ninterval = \"30s\"\n\
         timeout = \"5s\"\nhistory_file = \"{d}/history.db\"\nstate_file = \"{d}/state.json\"\n\n"
    );
    for ((name, _, tls, _), addr) in PROBES.iter().zip(servers) {
        let _ = write!(
            text,
            "[[probe]]\nname = \"{name}\"\ntarget = \"{addr}\"\ntls = \"{tls}\"\n\
             ca_file = \"{d}/ca.pem\"\nserver_name = \"localhost\"\n\n"
        );
    }
    let _ = write!(
        text,
        "[alerting]\nfailure_threshold = 2\nsuccess_threshold = 1\n\n\
         [[alerting.webhook]]\nname = \"demo-log\"\nurl = \"http://{alerts}/alerts\"\n"
    );
    text
}

/// Runs the demo until Ctrl-C (or SIGTERM).
pub fn run_demo(listen: SocketAddr) -> Result<(), DemoError> {
    let runtime = crate::runtime::single_threaded().map_err(AgentError::from)?;
    let dir = demo_dir();
    let result = runtime.block_on(async {
        std::fs::create_dir_all(&dir).map_err(DemoError::Files)?;
        let ca = DemoCa::new()?;
        std::fs::write(dir.join("ca.pem"), ca.pem()).map_err(DemoError::Files)?;
        let stop = CancellationToken::new();
        let mut addrs = Vec::new();
        for (_, behaviour, _, days) in PROBES {
            let addr = servers::start(behaviour, ca.server(days)?, stop.clone())
                .await
                .map_err(DemoError::Server)?;
            addrs.push(addr);
        }
        let alerts = receiver::start(stop.clone())
            .await
            .map_err(DemoError::Server)?;
        let config = dir.join("probes.toml");
        std::fs::write(&config, configuration(listen, &dir, &addrs, alerts))
            .map_err(DemoError::Files)?;
        println!(
            "smtpwatch demo: status page at http://{listen}/  (metrics at /metrics; Ctrl-C stops)\n\
             its configuration: {}",
            config.display()
        );
        let ran = crate::agent::process::serve_until_signal(&config, Default::default()).await;
        stop.cancel();
        ran.map_err(DemoError::from)
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

mod receiver;
