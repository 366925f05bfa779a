//! Alerting: probe rounds in, notifications out.
//!
//! - [`state`]: the pure per-alert state machine (thresholds, reminders, resolved).
//! - [`book`]: every alert's state; which alerts a round feeds (probe level, per address,
//!   certificate expiry).
//! - [`notification`]: the versioned notification; [`webhook`], [`slack`] and
//!   [`alertmanager`] turn it into each receiver's request.
//! - [`drift`]: capability drift (STARTTLS removed, AUTH before TLS).
//! - [`deliver`]: one attempt to one receiver and the delivery policy; [`dispatch`]: bounded
//!   queues, retries and backoff per endpoint, and their counters.
//! - [`outbox`]: every notification until its endpoint accepted it, persisted by a batching
//!   writer before it is sent (at least once across crashes); [`store`]: the state file that
//!   keeps firing alerts and the outbox across restarts.
//!
//! Secrets live in [`crate::config::secret`]. [`Alerting`] wires the parts up for the agent; it
//! knows nothing of sockets; its delivery counters ([`dispatch::DeliveryMetrics::register`]) go
//! on the agent's registry.

pub mod alertmanager;
pub mod book;
pub mod deliver;
pub mod delivery_metrics;
pub mod discord;
pub mod dispatch;
pub mod drift;
pub mod email;
pub mod notification;
pub mod ntfy;
pub mod outbox;
pub mod pagerduty;
pub mod slack;
pub mod state;
pub mod store;
pub mod teams;
pub mod template;
pub mod webhook;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use self::book::{AlertBook, ProbeInfo};
use self::deliver::Policy;
use self::deliver::{Endpoint, Item};
use self::dispatch::{DeliveryMetrics, Dispatcher};
use self::notification::{
    AlertKind, Notification, NotificationEvent, Scope, Severity, SCHEMA_VERSION,
};
use self::outbox::{Outbox, Snapshot, StateSource};
use self::state::Thresholds;
use crate::config::{AlertingConfig, Config, ProbeConfig};
use crate::report::ProbeReport;
use crate::trust::{https_client, ClientError, Trust};

/// The HTTPS client of every notifier: the system trust store, no redirects; each request sets
/// its own deadline (`[alerting] timeout`).
pub fn http_client() -> Result<reqwest::Client, ClientError> {
    let trust = Trust::load(&[])?;
    // No client-wide timeout: `deliver` bounds each request with the policy's.
    https_client(&trust, None, |builder| builder)
}

/// The host name notifications name as their sender.
pub fn agent_name() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// What the alerting side needs from the configuration: thresholds and notifiers, which
/// notifiers each probe routes to, and the state file.
struct Routing {
    alerting: AlertingConfig,
    /// Probe name → the notifiers it uses, for the probes that name some (the others use
    /// every notifier, and cost nothing here).
    routes: HashMap<String, Vec<String>>,
    state_file: Option<PathBuf>,
}

impl Routing {
    fn of(config: &Config) -> Routing {
        Routing {
            alerting: config.alerting.clone(),
            routes: config
                .probes
                .iter()
                .filter_map(|p| Some((p.name.clone(), p.notify.clone()?)))
                .collect(),
            state_file: config.state_file.clone(),
        }
    }

    fn routes_to(&self, probe: &str, notifier: &str) -> bool {
        match self.routes.get(probe) {
            Some(list) => list.iter().any(|n| n == notifier),
            None => true,
        }
    }
}

/// The agent's alerting: the book, the dispatcher, the outbox and the state file.
pub struct Alerting {
    book: Mutex<AlertBook>,
    setup: RwLock<Arc<Routing>>,
    dispatcher: Dispatcher,
    outbox: Arc<Outbox>,
    metrics: DeliveryMetrics,
}

impl StateSource for Alerting {
    fn snapshot(&self) -> Snapshot {
        let alerts = self.book.lock().map(|b| b.snapshot()).unwrap_or_default();
        Snapshot {
            path: self.setup().state_file.clone(),
            alerts,
            outbox: self.outbox.pending(),
        }
    }

    fn write_failed(&self, error: &store::StoreError) {
        self.metrics.state_write_errors.inc();
        tracing::error!(error = %error, "cannot save alert state");
    }
}

impl Alerting {
    /// Sets up alerting for `config`, restores firing alerts from its state file and queues
    /// again what the outbox held. Needs a tokio runtime (the dispatcher's workers, the state
    /// writer).
    pub fn start(config: &Config, metrics: DeliveryMetrics) -> Result<Arc<Alerting>, ClientError> {
        let client = http_client()?;
        let setup = Routing::of(config);
        let mut book = AlertBook::new(agent_name());
        let mut restored = store::Restored::default();
        if let Some(path) = &setup.state_file {
            match store::load(path) {
                Ok(state) => restored = state,
                Err(e) => {
                    if e.set_aside.is_some() {
                        metrics.state_set_aside.inc();
                    }
                    tracing::error!(error = %e, "cannot restore alert state; starting fresh");
                }
            }
            if !restored.alerts.is_empty() || !restored.outbox.is_empty() {
                tracing::info!(firing = restored.alerts.len(), undelivered = restored.outbox.len(), file = %path.display(), "restored alert state");
            }
        }
        book.restore(restored.alerts);
        let alerting = Arc::new_cyclic(|me: &std::sync::Weak<Alerting>| {
            let source: std::sync::Weak<dyn StateSource> = me.clone();
            let outbox = Outbox::start(source);
            let dispatcher = Dispatcher::start(
                &setup.alerting.notifiers,
                Policy::from_config(&setup.alerting),
                client,
                metrics.clone(),
                outbox.clone(),
            );
            Alerting {
                book: Mutex::new(book),
                setup: RwLock::new(Arc::new(setup)),
                dispatcher,
                outbox,
                metrics,
            }
        });
        for pending in restored.outbox {
            let title = pending.notification.title();
            if !alerting
                .dispatcher
                .requeue(&pending.endpoint, pending.notification)
            {
                tracing::warn!(notification = %title, "an undelivered notification's notifier is no longer configured; dropped");
            }
        }
        // Probes removed from the configuration while the agent was down: resolve them now,
        // or Alertmanager would keep getting their re-sends.
        alerting.resolve_removed(&alerting.setup(), config);
        Ok(alerting)
    }

    /// Resolves the firing alerts of probes `config` no longer has, routed by `setup`, and
    /// saves the state when that changed it.
    fn resolve_removed(&self, setup: &Routing, config: &Config) {
        let names: BTreeSet<String> = config.probes.iter().map(|p| p.name.clone()).collect();
        let mut gone = match self.book.lock() {
            Ok(mut book) => book.retain_probes(&names, SystemTime::now()),
            Err(_) => Vec::new(),
        };
        // A probe another shard now owns is handed over, not resolved: this agent forgets
        // it silently (its Alertmanager alert ends at its endsAt unless the new owner, which
        // sees the same failures, keeps it firing), so a target that keeps failing gets
        // neither a false `resolved` nor a gap.
        if !config.handed_over.is_empty() {
            let handed: BTreeSet<&str> = config.handed_over.iter().map(String::as_str).collect();
            gone.retain(|n| !handed.contains(n.probe.as_str()));
        }
        self.dispatch(setup, gone);
    }

    fn setup(&self) -> Arc<Routing> {
        self.setup
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Feeds one round of `probe` and queues what it causes.
    pub fn observe(&self, probe: &ProbeConfig, reports: &[ProbeReport], now: SystemTime) {
        let setup = self.setup();
        if setup.alerting.notifiers.is_empty() {
            return;
        }
        let info = ProbeInfo {
            name: &probe.name,
            target: &probe.target,
            labels: &probe.labels,
            warn_cert: probe.warn_cert,
        };
        let sent = {
            let Ok(mut book) = self.book.lock() else {
                return;
            };
            book.observe(&info, reports, now, &Thresholds::of(&setup.alerting))
        };
        self.dispatch(&setup, sent);
    }

    /// Queues what the book produced; the state (alerts and outbox) is written by the writer,
    /// off this thread, before anything is sent.
    fn dispatch(&self, setup: &Routing, sent: Vec<Notification>) {
        if sent.is_empty() {
            return;
        }
        self.outbox.save();
        for n in sent {
            tracing::info!(event = n.event.as_str(), probe = %n.probe, address = n.address.as_deref().unwrap_or("-"), alert = n.alert.alertname(), "alert");
            let probe = n.probe.clone();
            self.dispatcher
                .send(n, &|notifier| setup.routes_to(&probe, notifier));
        }
    }

    /// Applies a reloaded configuration: new notifiers and routes; alerts of removed probes
    /// resolve. Unchanged endpoints keep their queues; a new notifier hears of the alerts
    /// already firing that route to it.
    pub fn reconfigure(&self, config: &Config) {
        let old = self.setup();
        let new = Arc::new(Routing::of(config));
        // The old routes decide where the removed probes' `resolved` goes.
        self.resolve_removed(&old, config);
        let added = self
            .dispatcher
            .reconfigure(&new.alerting.notifiers, Policy::from_config(&new.alerting));
        if let Ok(mut slot) = self.setup.write() {
            *slot = new.clone();
        }
        if added.is_empty() {
            return;
        }
        let firing = match self.book.lock() {
            Ok(book) => book.firing(),
            Err(_) => return,
        };
        for n in firing {
            let probe = n.probe.clone();
            self.dispatcher.send(n, &|notifier| {
                added.iter().any(|a| a == notifier) && new.routes_to(&probe, notifier)
            });
        }
    }

    /// Re-sends firing alerts to Alertmanager every `resend_interval` until `stop`.
    pub async fn resend_loop(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let every = self
                .setup()
                .alerting
                .resend_interval
                .max(Duration::from_secs(1));
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.cancelled() => return,
            }
            let firing = match self.book.lock() {
                Ok(book) => book.firing(),
                Err(_) => continue,
            };
            if firing.is_empty() {
                continue;
            }
            let setup = self.setup();
            self.dispatcher
                .resend(&firing, &|notifier, n| setup.routes_to(&n.probe, notifier));
        }
    }

    /// Lets queued notifications go out for up to `grace`, then writes the state (what is
    /// still undelivered stays in the outbox for the next start).
    pub async fn close(&self, grace: Duration) -> bool {
        let drained = self.dispatcher.close(grace).await;
        self.outbox.save();
        self.outbox.flush().await;
        drained
    }
}

/// A clearly marked test notification.
pub fn test_notification(now: SystemTime) -> Notification {
    let agent = agent_name();
    Notification {
        version: SCHEMA_VERSION,
        id: String::new(),
        event: NotificationEvent::Test,
        alert: AlertKind::Test,
        severity: Severity::Info,
        scope: Scope::Probe,
        probe: "smtpwatch-test".into(),
        target: "test".into(),
        address: None,
        status: "ok".into(),
        phase: None,
        reason: None,
        code: None,
        message: format!(
            "Test notification from smtpwatch on {agent} (`smtpwatch alert test`); no action needed."
        ),
        previous_reason: None,
        since: notification::rfc3339(now),
        at: notification::rfc3339(now),
        transcript: Vec::new(),
        agent,
        labels: BTreeMap::new(),
        vantage: None,
    }
    .with_id()
}

/// How one endpoint took the test notification.
#[derive(Debug, Clone)]
pub struct TestOutcome {
    /// The notifier's name.
    pub notifier: String,
    /// The endpoint, credentials and secret paths redacted.
    pub url: String,
    /// Why it was not delivered (None: delivered).
    pub failure: Option<String>,
}

/// Sends one test notification to every endpoint of the named notifier (or all), one attempt
/// each.
pub async fn send_test(
    alerting: &AlertingConfig,
    only: Option<&str>,
) -> Result<Vec<TestOutcome>, ClientError> {
    let client = http_client()?;
    let policy = Policy::from_config(alerting);
    let item = Item::One(Arc::new(test_notification(SystemTime::now())));
    let mut results = Vec::new();
    let chosen = alerting
        .notifiers
        .iter()
        .filter(|n| only.is_none_or(|name| n.name == name));
    for endpoint in chosen.flat_map(Endpoint::of) {
        let failure = match deliver::deliver(&client, &endpoint, &item, &policy).await {
            deliver::Attempt::Delivered => None,
            deliver::Attempt::Retry(_, why) | deliver::Attempt::Refused(why) => Some(why),
        };
        results.push(TestOutcome {
            notifier: endpoint.notifier.clone(),
            url: endpoint.redacted_url(),
            failure,
        });
    }
    Ok(results)
}
