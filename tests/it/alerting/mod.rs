//! Alerting against in-process HTTP receivers: thresholds, signatures, Slack's `ok`, retries,
//! Retry-After, no retry on 400, queue overflow, restart with a state file, Alertmanager
//! re-sends to every URL, `alert test`, and secrets kept out of logs and metrics.

mod chat;
mod lifecycle;
mod notifiers;
mod outbox;
mod reload;
mod retries;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use smtpwatch::alert::deliver::Policy;
use smtpwatch::alert::dispatch::DeliveryMetrics;
use smtpwatch::alert::dispatch::Dispatcher;
use smtpwatch::alert::notification::{Notification, NotificationEvent};
use smtpwatch::alert::Alerting;
use smtpwatch::config::{self, Config};
use smtpwatch::metrics::Metrics;
use smtpwatch::report::ProbeReport;
use smtpwatch::target::TlsMode;
use tokio_util::sync::CancellationToken;

use crate::support::certs::TestCa;
use crate::support::fake_smtp::{greet_and_ehlo, noop_quit};
use crate::support::receiver::{Answer, Receiver};
use crate::support::{probe_addr, run, settings};

/// A real failed probe (connection refused) and a real good one.
async fn reports() -> (ProbeReport, ProbeReport) {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let down = probe_addr(closed, TlsMode::None, &settings(&TestCa::new("ca"))).await;
    assert_eq!(
        down.failure.as_ref().map(|f| f.reason.as_str()),
        Some("connect_refused")
    );
    let mut steps = greet_and_ehlo(&[]);
    steps.extend(noop_quit());
    let (up, _) = run(steps, TlsMode::None, |_| {}).await;
    assert!(up.success);
    (down, up)
}

fn temp_path(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!("smtpwatch-alert-{}-{n}-{name}", std::process::id()))
}

/// A config with one probe `mx` and the given `[alerting]` text.
fn config(alerting: &str, extra_agent: &str) -> Config {
    let text = format!(
        "[agent]\n{extra_agent}\n[alerting]\nretry_backoff = \"10ms\"\nretry_backoff_max = \"50ms\"\n{alerting}\n\
         [[probe]]\nname = \"mx\"\ntarget = \"127.0.0.1:25\"\nlabels = {{ team = \"mail\" }}\n"
    );
    config::parse(&text, Path::new("test.toml")).expect("valid test config")
}

/// Delivery counters on a registry of their own.
fn delivery_metrics() -> DeliveryMetrics {
    DeliveryMetrics::register(&prometheus::Registry::new()).expect("delivery metrics")
}

fn counter(metrics: &DeliveryMetrics, notifier: &str, outcome: &str) -> u64 {
    metrics
        .notifications
        .with_label_values(&[notifier, outcome])
        .get()
}

/// Captures this thread's log output.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || logs.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
}
