//! The agent on 127.0.0.1:0 against fake SMTP servers: metrics, /probe, the status page,
//! reloads and shutdown. Waiting is always for an observable condition, bounded in time.

mod delivery;
mod endpoints;
mod fleet;
mod history;
mod lifecycle;
mod protection;
mod secure;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use smtpwatch::agent::{serve, Agent};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::support::fake_smtp::{noop_quit, FakeService, Step};
use crate::support::http::{get, request, sample};

struct TestAgent {
    addr: SocketAddr,
    config: PathBuf,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), smtpwatch::agent::AgentError>>,
}

fn temp_config(text: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let path = std::env::temp_dir().join(format!("smtpwatch-it-{}-{n}.toml", std::process::id()));
    std::fs::write(&path, text).expect("write config");
    path
}

async fn start(config_text: &str) -> TestAgent {
    let test = launch(config_text).await;
    test.wait_for("/-/ready", |status, _| status == 200).await;
    test
}

/// The agent on 127.0.0.1:0, not yet known to be ready.
async fn launch(config_text: &str) -> TestAgent {
    launch_placed(config_text, smtpwatch::agent::Placement::default()).await
}

/// [`launch`], placed in a fleet over the file's shard and vantage (as `run --shard
/// --vantage` does).
async fn launch_placed(config_text: &str, placement: smtpwatch::agent::Placement) -> TestAgent {
    let config = temp_config(config_text);
    let agent = Agent::start_with(&config, placement).expect("valid config");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(
        agent,
        listener,
        shutdown.clone(),
        Duration::from_secs(2),
    ));
    TestAgent {
        addr,
        config,
        shutdown,
        task,
    }
}

impl TestAgent {
    /// Polls `path` until `ok(status, body)`; panics with the last body after 15 s.
    async fn wait_for(&self, path: &str, ok: impl Fn(u16, &str) -> bool) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let (status, body) = get(self.addr, path).await;
            if ok(status, &body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting on {path}; last:\n{body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn metrics_when(&self, ok: impl Fn(&str) -> bool) -> String {
        self.wait_for("/metrics", |s, body| s == 200 && ok(body))
            .await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let ended = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        assert!(
            matches!(ended, Ok(Ok(Ok(())))),
            "agent stopped cleanly: {ended:?}"
        );
        let _ = std::fs::remove_file(self.config);
    }
}

fn healthy_script() -> Vec<Step> {
    let mut steps = vec![
        Step::Line("220 good.test ESMTP <script>alert(1)</script>"),
        Step::Expect("EHLO"),
        Step::Line("250-good.test\r\n250 PIPELINING"),
    ];
    steps.extend(noop_quit());
    steps
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn config(good: SocketAddr, closed: u16, extra: &str) -> String {
    format!(
        "[agent]\nehlo_name = \"probe.test\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nenable_lifecycle = true\n\
         [[probe]]\nname = \"good\"\ntarget = \"{good}\"\nlabels = {{ team = \"mail\" }}\n\
         [[probe]]\nname = \"closed\"\ntarget = \"127.0.0.1:{closed}\"\n{extra}"
    )
}

fn both_probed(m: &str) -> bool {
    sample(m, "smtpwatch_probes_total", &["probe=\"good\""]).is_some()
        && sample(m, "smtpwatch_probes_total", &["probe=\"closed\""]).is_some()
}
