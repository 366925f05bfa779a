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
//! - [`store`]: the state file that keeps firing alerts across restarts.
//!
//! Secrets live in [`crate::config::secret`]. [`Alerting`] wires the parts up for the agent; it
//! knows nothing of sockets; its delivery counters ([`dispatch::DeliveryMetrics::register`]) go
//! on the agent's registry.

pub mod alertmanager;
pub mod book;
pub mod deliver;
pub mod dispatch;
pub mod drift;
pub mod notification;
pub mod slack;
pub mod state;
pub mod store;
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
    /// Probe name → the notifiers it uses (None: all).
    routes: HashMap<String, Option<Vec<String>>>,
    state_file: Option<PathBuf>,
}

impl Routing {
    fn of(config: &Config) -> Routing {
        Routing {
            alerting: config.alerting.clone(),
            routes: config
                .probes
                .iter()
                .map(|p| (p.name.clone(), p.notify.clone()))
                .collect(),
            state_file: config.state_file.clone(),
        }
    }

    fn routes_to(&self, probe: &str, notifier: &str) -> bool {
        match self.routes.get(probe) {
            Some(Some(list)) => list.iter().any(|n| n == notifier),
            _ => true,
        }
    }
}

/// The agent's alerting: the book, the dispatcher and the state file.
pub struct Alerting {
    book: Mutex<AlertBook>,
    setup: RwLock<Arc<Routing>>,
    dispatcher: RwLock<Arc<Dispatcher>>,
    client: reqwest::Client,
    metrics: DeliveryMetrics,
}

impl Alerting {
    /// Sets up alerting for `config` and restores firing alerts from its state file. Needs a
    /// tokio runtime (the dispatcher's workers).
    pub fn start(config: &Config, metrics: DeliveryMetrics) -> Result<Alerting, ClientError> {
        let client = http_client()?;
        let setup = Routing::of(config);
        let mut book = AlertBook::new(agent_name());
        if let Some(path) = &setup.state_file {
            match store::load(path) {
                Ok(entries) => {
                    if !entries.is_empty() {
                        tracing::info!(firing = entries.len(), file = %path.display(), "restored firing alerts");
                    }
                    book.restore(entries);
                }
                Err(e) => {
                    if e.set_aside.is_some() {
                        metrics.state_set_aside.inc();
                    }
                    tracing::error!(error = %e, "cannot restore alert state; starting fresh");
                }
            }
        }
        let dispatcher = Dispatcher::start(
            &setup.alerting.notifiers,
            Policy::from_config(&setup.alerting),
            client.clone(),
            metrics.clone(),
        );
        let alerting = Alerting {
            book: Mutex::new(book),
            setup: RwLock::new(Arc::new(setup)),
            dispatcher: RwLock::new(Arc::new(dispatcher)),
            client,
            metrics,
        };
        // Probes removed from the configuration while the agent was down: resolve them now,
        // or Alertmanager would keep getting their re-sends.
        alerting.resolve_removed(&alerting.setup(), config);
        Ok(alerting)
    }

    /// Resolves the firing alerts of probes `config` no longer has, routed by `setup`, and
    /// saves the state when that changed it.
    fn resolve_removed(&self, setup: &Routing, config: &Config) {
        let names: BTreeSet<String> = config.probes.iter().map(|p| p.name.clone()).collect();
        let (gone, snapshot) = match self.book.lock() {
            Ok(mut book) => {
                let gone = book.retain_probes(&names, SystemTime::now());
                let snapshot = (!gone.is_empty()).then(|| book.snapshot());
                (gone, snapshot)
            }
            Err(_) => (Vec::new(), None),
        };
        self.dispatch(setup, gone, snapshot);
    }

    fn setup(&self) -> Arc<Routing> {
        self.setup
            .read()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn dispatcher(&self) -> Arc<Dispatcher> {
        self.dispatcher
            .read()
            .map(|d| d.clone())
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
        let (sent, snapshot) = {
            let Ok(mut book) = self.book.lock() else {
                return;
            };
            let sent = book.observe(&info, reports, now, &Thresholds::of(&setup.alerting));
            let snapshot = (!sent.is_empty()).then(|| book.snapshot());
            (sent, snapshot)
        };
        self.dispatch(&setup, sent, snapshot);
    }

    fn dispatch(
        &self,
        setup: &Routing,
        sent: Vec<Notification>,
        snapshot: Option<Vec<store::Saved>>,
    ) {
        if let (Some(path), Some(snapshot)) = (&setup.state_file, snapshot) {
            if let Err(e) = store::save(path, snapshot) {
                self.metrics.state_write_errors.inc();
                tracing::error!(error = %e, "cannot save alert state");
            }
        }
        let dispatcher = self.dispatcher();
        for n in sent {
            tracing::info!(event = n.event.as_str(), probe = %n.probe, address = n.address.as_deref().unwrap_or("-"), alert = n.alert.alertname(), "alert");
            let probe = n.probe.clone();
            dispatcher.send(n, &|notifier| setup.routes_to(&probe, notifier));
        }
    }

    /// Applies a reloaded configuration: new notifiers and routes; alerts of removed probes
    /// resolve. Unchanged notifiers keep their queues.
    pub fn reconfigure(&self, config: &Config) {
        let old = self.setup();
        let new = Arc::new(Routing::of(config));
        // The old routes decide where the removed probes' `resolved` goes.
        self.resolve_removed(&old, config);
        let notifiers_changed = old.alerting.notifiers != new.alerting.notifiers
            || Policy::from_config(&old.alerting) != Policy::from_config(&new.alerting);
        if notifiers_changed {
            let dispatcher = Dispatcher::start(
                &new.alerting.notifiers,
                Policy::from_config(&new.alerting),
                self.client.clone(),
                self.metrics.clone(),
            );
            let previous = match self.dispatcher.write() {
                Ok(mut slot) => std::mem::replace(&mut *slot, Arc::new(dispatcher)),
                Err(_) => return,
            };
            // The old workers finish what they have queued, then stop.
            tokio::spawn(async move {
                previous.close(Duration::from_secs(60)).await;
            });
        }
        if let Ok(mut slot) = self.setup.write() {
            *slot = new;
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
            self.dispatcher()
                .resend(&firing, &|notifier, n| setup.routes_to(&n.probe, notifier));
        }
    }

    /// Lets queued notifications go out for up to `grace`.
    pub async fn close(&self, grace: Duration) -> bool {
        self.dispatcher().close(grace).await
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
