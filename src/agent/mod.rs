//! The agent behind `smtpwatch run`: configuration, scheduler, metrics, alerting and the latest
//! results, wired together; reloads swap the configuration without dropping unchanged probes'
//! history.
//!
//! [`Agent::start`] builds everything in one step and starts probing; [`serve`] runs the HTTP
//! endpoints on a given listener until a shutdown token fires, so tests start an agent on
//! `127.0.0.1:0` and stop it; the binary passes signal handling in.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::alert::dispatch::DeliveryMetrics;
use crate::alert::Alerting;
use crate::config::{self, Config, ConfigError, ProbeConfig};
use crate::history::History;
use crate::http;
use crate::latest::{LatestRounds, Round};
use crate::limit::Limit;
use crate::metrics::Metrics;
use crate::resolve::{DnsError, Resolver};
use crate::schedule::{self, Scheduler};
use crate::shard::Shard;
use crate::trust::LazyTrust;

use self::jobs::{build_jobs, JobSet, ProbeJob, Shared};
pub use self::jobs::{JobError, JobProblem};

mod jobs;
pub mod process;
mod reload;
mod round;
mod view;

/// The running agent, read by the HTTP handlers.
pub struct Agent {
    path: PathBuf,
    /// Every metric family.
    pub metrics: Metrics,
    config: RwLock<Arc<Config>>,
    latest: LatestRounds,
    /// The probe schedule; taken when the agent shuts down.
    scheduler: Mutex<Option<Scheduler<ProbeJob>>>,
    ready: AtomicBool,
    /// The system trust store: probes without a CA file and ad-hoc `/probe` requests share it.
    system_trust: Arc<LazyTrust>,
    /// Open probe connections, at most `concurrency` (an `mx:` round's fan-out included).
    connections: Limit,
    /// Ad-hoc `/probe` requests in flight (`[agent.probe_endpoint] max_concurrent`).
    adhoc: Limit,
    /// The resolver of the configuration in force (shared with its jobs and `/probe`), or why
    /// it could not be set up.
    resolver: RwLock<Result<Resolver, DnsError>>,
    /// Alert state and delivery.
    alerting: Arc<Alerting>,
    /// Stops the agent's own background work (alert re-sends).
    background: CancellationToken,
    /// One reload at a time (SIGHUP and `POST /-/reload` may come together).
    reloading: tokio::sync::Mutex<()>,
    /// Every round's outcome, for uptime and charts (off without `history_file`).
    history: History,
    /// The last reload that failed, and why, until one succeeds: the status page shows it.
    reload_problem: RwLock<Option<(std::time::SystemTime, String)>>,
    /// `run --shard`/`--vantage` or their environment variables, over the file's.
    placement: Placement,
}

/// Where in a fleet this agent stands when the command line or the environment says so
/// (`run --shard`, `SMTPWATCH_SHARD`, `run --vantage`, `SMTPWATCH_VANTAGE`): one shared
/// configuration file can then serve every agent. Each part set overrides the file's
/// `[agent] shard` or `vantage`, at start and on every reload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    /// This agent's shard.
    pub shard: Option<Shard>,
    /// Where this agent probes from (checked like `[agent] vantage`).
    pub vantage: Option<String>,
}

/// Applies `placement` over the file's, then keeps only the probes this agent's shard owns;
/// the others are listed in `handed_over`. The configuration in force then holds this
/// shard's probes only, so the schedule, metrics, alerts, history and pages all follow it.
fn own_probes(config: &mut Config, placement: &Placement) {
    if let Some(vantage) = &placement.vantage {
        config.vantage = Some(vantage.clone());
        for probe in &mut config.probes {
            Arc::make_mut(probe)
                .labels
                .insert("vantage".to_string(), vantage.clone());
        }
    }
    let shard = placement.shard.or(config.shard);
    config.shard = shard;
    if let Some(shard) = shard {
        let (mine, theirs): (Vec<_>, Vec<_>) = std::mem::take(&mut config.probes)
            .into_iter()
            .partition(|p| shard.owns(&p.name));
        config.probes = mine;
        config.handed_over = theirs.into_iter().map(|p| p.name.clone()).collect();
    }
}

/// The fleet figures of the configuration in force: its shard, the file's probes (this
/// shard's and those handed over) and this shard's.
fn record_fleet(metrics: &Metrics, config: &Config) {
    let owned = config.probes.len();
    metrics.fleet(config.shard, owned + config.handed_over.len(), owned);
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A probe cannot be made ready (DNS or posture set-up).
    #[error(transparent)]
    Job(#[from] JobError),
    /// Something else (metrics registry, alerting, the HTTP server).
    #[error("{0}")]
    Setup(String),
    /// The listen address cannot be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The configured address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Signal handlers cannot be installed.
    #[error("cannot handle signals: {0}")]
    Signals(std::io::Error),
    /// The runtime cannot be built.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
}

impl Agent {
    /// Loads `path`, builds the probes, metrics and alerting, and starts probing. Needs a tokio
    /// runtime (the scheduler and the notifiers' workers run on it).
    pub fn start(path: &Path) -> Result<Arc<Agent>, AgentError> {
        Agent::start_with(path, Placement::default())
    }

    /// [`Agent::start`], with a placement that overrides the file's `[agent] shard` and
    /// `vantage`, reloads included.
    pub fn start_with(path: &Path, placement: Placement) -> Result<Arc<Agent>, AgentError> {
        let setup = |e: &dyn std::fmt::Display| AgentError::Setup(e.to_string());
        let metrics = Metrics::new().map_err(|e| setup(&e))?;
        let config = config::load(path);
        metrics.config_loaded(config.is_ok());
        let mut config = config?;
        own_probes(&mut config, &placement);
        record_fleet(&metrics, &config);
        metrics.set_histograms(config.histograms);
        let system_trust = Arc::new(LazyTrust::new(Vec::new()));
        let connections = Limit::new(config.concurrency);
        let shared = Shared {
            system_trust: &system_trust,
            connections: &connections,
        };
        let JobSet { jobs, resolver } = build_jobs(&config, &shared)?;
        let delivery = DeliveryMetrics::register(metrics.registry()).map_err(|e| setup(&e))?;
        let alerting = Alerting::start(&config, delivery)
            .map_err(|e| AgentError::Setup(format!("alerting: {e}")))?;
        let history = match &config.history_file {
            None => History::off(),
            Some(path) => History::open(path, config.history_retention),
        };
        let concurrency = config.concurrency;
        let adhoc_concurrency = config.web.probe_endpoint.max_concurrent;
        let lag = metrics.schedule_lag.clone();
        let agent = Arc::new_cyclic(|me: &Weak<Agent>| {
            let me = me.clone();
            // The schedule holds the agent weakly: the agent owns the schedule.
            let run: schedule::RunFn<ProbeJob> = Arc::new(move |job| {
                let agent = me.upgrade();
                Box::pin(async move {
                    if let Some(agent) = agent {
                        agent.run_round(job).await;
                    }
                })
            });
            let on_lag: schedule::LagFn = Arc::new(move |d| lag.observe(d.as_secs_f64()));
            Agent {
                path: path.to_path_buf(),
                metrics,
                config: RwLock::new(Arc::new(config)),
                latest: LatestRounds::default(),
                scheduler: Mutex::new(Some(
                    Scheduler::new(concurrency, run, on_lag).with_quick_first_rounds(),
                )),
                ready: AtomicBool::new(false),
                system_trust,
                connections,
                adhoc: Limit::new(adhoc_concurrency),
                resolver: RwLock::new(resolver),
                alerting,
                background: CancellationToken::new(),
                reloading: tokio::sync::Mutex::new(()),
                history,
                reload_problem: RwLock::new(None),
                placement,
            }
        });
        tokio::spawn(
            agent
                .alerting
                .clone()
                .resend_loop(agent.background.child_token()),
        );
        if let Ok(mut slot) = agent.scheduler.lock() {
            if let Some(scheduler) = slot.as_mut() {
                scheduler.apply(jobs, concurrency);
            }
        }
        agent.ready.store(true, Ordering::SeqCst);
        Ok(agent)
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Whether the configuration is loaded and the scheduler runs.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// The latest round of every probe, in configuration order.
    pub fn latest(&self) -> Vec<(Arc<ProbeConfig>, Option<Round>)> {
        self.config()
            .probes
            .iter()
            .map(|p| (p.clone(), self.latest.get(&p.name)))
            .collect()
    }

    fn set_resolver(&self, resolver: Result<Resolver, DnsError>) {
        if let Ok(mut slot) = self.resolver.write() {
            *slot = resolver;
        }
    }

    /// Stops probing (rounds in flight get `grace`), then lets queued notifications go out
    /// for up to `grace`.
    pub async fn stop(&self, grace: Duration) {
        self.ready.store(false, Ordering::SeqCst);
        self.background.cancel();
        let scheduler = self.scheduler.lock().ok().and_then(|mut s| s.take());
        if let Some(scheduler) = scheduler {
            if !scheduler.shutdown(grace).await {
                tracing::warn!("probes still running after the grace period were cancelled");
            }
        }
        if !self.alerting.close(grace).await {
            tracing::warn!("notifications still queued after the grace period were abandoned");
        }
        let history = self.history.clone();
        let _ = tokio::task::spawn_blocking(move || history.close(grace)).await;
    }

    /// The history of every round (off without `history_file`).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The resolver of the configuration in force, for ad-hoc `/probe` requests.
    pub fn resolver(&self) -> Result<Resolver, DnsError> {
        self.resolver
            .read()
            .map_err(|e| DnsError(e.to_string()))
            .and_then(|r| r.clone())
    }
}

/// Serves the agent's HTTP endpoints on `listener` until `shutdown` fires, then stops the
/// agent; rounds in flight get `grace` to end.
pub async fn serve(
    agent: Arc<Agent>,
    listener: TcpListener,
    shutdown: CancellationToken,
    grace: Duration,
) -> Result<(), AgentError> {
    crate::systemd::ready(agent.config().probes.len());
    let alive = agent.clone();
    crate::systemd::spawn_watchdog(move || alive.is_ready(), shutdown.child_token());
    let app = crate::http::router(agent.clone());
    let limits = http::server::ServerLimits::for_agent(agent.config().concurrency);
    let stopping = shutdown.clone();
    tokio::spawn(async move {
        stopping.cancelled().await;
        crate::systemd::stopping();
    });
    let front = match &agent.config().web.web_config_file {
        None => None,
        Some(path) => Some(Arc::new(
            http::secure::Front::open(path.clone()).map_err(AgentError::Setup)?,
        )),
    };
    http::server::serve(listener, app, front, limits, shutdown, grace).await;
    agent.stop(grace).await;
    Ok(())
}
