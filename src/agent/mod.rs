//! The agent behind `smtpwatch run`: configuration, scheduler, metrics and the latest results,
//! wired together; reloads swap the configuration without dropping unchanged probes' history.
//!
//! [`serve`] runs everything on a given listener until a shutdown token fires, so tests start
//! an agent on `127.0.0.1:0` and stop it; the binary passes signal handling in.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::alert::dispatch::DeliveryMetrics;
use crate::alert::Alerting;
use crate::config::{self, Config, ConfigError, ProbeConfig};
use crate::latest::{LatestRounds, Round};
use crate::metrics::Metrics;
use crate::posture::domain::{check_domain, DomainCheck, PostureTools};
use crate::probe::fanout::probe_target;
use crate::probe::ProbeSettings;
use crate::resolve::{DnsError, Family, Resolver};
use crate::schedule::{self, Scheduler};
use crate::trust::LazyTrust;

pub mod process;
mod view;

/// One configured probe, ready to run.
pub struct ProbeJob {
    /// The probe's configuration.
    pub config: ProbeConfig,
    settings: Arc<ProbeSettings>,
    resolver: Option<Resolver>,
    /// For `mx:` probes: what the posture checks use.
    posture: Option<PostureTools>,
    /// Agent-wide settings that change what the probe does (for reload diffing).
    agent_settings: (String, Vec<SocketAddr>),
}

impl schedule::Job for ProbeJob {
    fn name(&self) -> &str {
        &self.config.name
    }
    fn interval(&self) -> Duration {
        self.config.interval
    }
    fn same_as(&self, other: &Self) -> bool {
        self.config == other.config && self.agent_settings == other.agent_settings
    }
}

/// Shared agent state, read by the HTTP handlers.
pub struct Agent {
    path: PathBuf,
    /// Every metric family.
    pub metrics: Metrics,
    config: RwLock<Arc<Config>>,
    latest: LatestRounds,
    scheduler: Mutex<Option<Scheduler<ProbeJob>>>,
    ready: AtomicBool,
    /// Trust for ad-hoc `/probe` requests: the system store.
    pub adhoc_trust: Arc<LazyTrust>,
    /// The resolver of the configuration in force (shared with its jobs and `/probe`), or why
    /// it could not be set up.
    resolver: RwLock<Result<Resolver, DnsError>>,
    /// Alert state and delivery (set up when the agent starts serving).
    alerting: RwLock<Option<Arc<Alerting>>>,
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Something else (metrics registry, DNS set-up, listener).
    #[error("{0}")]
    Setup(String),
}

/// The jobs of `config`, and the resolver they share.
type JobSet = (Vec<Arc<ProbeJob>>, Result<Resolver, DnsError>);

fn build_jobs(config: &Config) -> Result<JobSet, AgentError> {
    // A probe of an IP literal needs no resolver; report DNS set-up problems only when needed.
    let resolver = Resolver::new(&config.dns_servers);
    let mut trusts: HashMap<Option<PathBuf>, Arc<LazyTrust>> = HashMap::new();
    let mut jobs = Vec::new();
    for p in &config.probes {
        let trust = trusts
            .entry(p.ca_file.clone())
            .or_insert_with(|| Arc::new(LazyTrust::new(p.ca_file.iter().cloned().collect())))
            .clone();
        let mut s = ProbeSettings::new(trust, config.ehlo_name.to_string());
        s.tls = p.tls;
        s.insecure = p.insecure;
        s.server_name = p.server_name.clone();
        s.noop = p.noop;
        s.set_timeout(p.timeout);
        s.warn_cert = p.warn_cert;
        let needs_dns = matches!(p.target.host, crate::target::Host::Name(_));
        let resolver = match (&resolver, needs_dns) {
            (_, false) => None,
            (Ok(r), true) => Some(r.clone()),
            (Err(e), true) => return Err(AgentError::Setup(format!("probe {:?}: {e}", p.name))),
        };
        let posture = match (&p.posture, &resolver) {
            (Some(pp), Some(resolver)) => Some(posture_tools(p, pp, resolver, &s, config)?),
            _ => None,
        };
        jobs.push(Arc::new(ProbeJob {
            config: p.clone(),
            settings: Arc::new(s),
            resolver,
            posture,
            agent_settings: (config.ehlo_name.to_string(), config.dns_servers.clone()),
        }));
    }
    Ok((jobs, resolver))
}

/// The posture tools of `mx:` probe `p` (the policy fetcher trusts what the probe trusts).
fn posture_tools(
    p: &ProbeConfig,
    posture: &config::posture::ProbePosture,
    resolver: &Resolver,
    settings: &ProbeSettings,
    config: &Config,
) -> Result<PostureTools, AgentError> {
    let setup = |e: String| AgentError::Setup(format!("probe {:?}: {e}", p.name));
    let trust = settings.trust.get().map_err(|e| setup(e.to_string()))?;
    let timeout = p.timeout.min(crate::probe::POLICY_FETCH_TIMEOUT);
    let anchors = posture
        .trust_anchor
        .as_deref()
        .map(crate::posture::dns::trust_anchor_file)
        .transpose()
        .map_err(|e| setup(e.to_string()))?;
    PostureTools::new(
        &config.dns_servers,
        anchors,
        trust,
        resolver,
        timeout,
        posture.settings,
    )
    .map_err(setup)
}

impl Agent {
    /// Loads `path` and creates the agent (not yet scheduling).
    pub fn load(path: &Path) -> Result<Arc<Agent>, AgentError> {
        let metrics = Metrics::new().map_err(|e| AgentError::Setup(e.to_string()))?;
        let config = config::load(path);
        metrics.config_loaded(config.is_ok());
        let config = config?;
        Ok(Arc::new(Agent {
            path: path.to_path_buf(),
            metrics,
            config: RwLock::new(Arc::new(config)),
            latest: LatestRounds::default(),
            scheduler: Mutex::new(None),
            ready: AtomicBool::new(false),
            adhoc_trust: Arc::new(LazyTrust::new(Vec::new())),
            resolver: RwLock::new(Err(DnsError("the agent has not started".into()))),
            alerting: RwLock::new(None),
        }))
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
    pub fn latest(&self) -> Vec<(ProbeConfig, Option<Round>)> {
        self.config()
            .probes
            .iter()
            .map(|p| (p.clone(), self.latest.get(&p.name)))
            .collect()
    }

    async fn run_round(self: Arc<Self>, job: Arc<ProbeJob>) {
        self.metrics.in_flight.inc();
        let name = job.config.name.as_str();
        let (reports, posture) = match (&job.posture, &job.resolver) {
            (Some(tools), Some(resolver)) => {
                let check = DomainCheck {
                    target: &job.config.target,
                    probe_name: Some(name),
                    settings: (*job.settings).clone(),
                    resolver,
                    tools,
                    family: Family::Any,
                };
                check_domain(check).await
            }
            _ => {
                let reports = probe_target(
                    &job.config.target,
                    Some(name),
                    job.settings.clone(),
                    job.resolver.as_ref(),
                    Family::Any,
                )
                .await;
                (reports, None)
            }
        };
        self.metrics.in_flight.dec();
        self.metrics.posture.observe(name, posture.as_ref());
        self.metrics
            .observe_round(name, &job.config.labels, &reports);
        for r in reports.iter().filter(|r| !r.success) {
            if let Some(f) = &r.failure {
                tracing::warn!(
                    probe = name,
                    target = %r.target,
                    address = r.address.as_deref().unwrap_or("-"),
                    phase = f.phase.as_str(),
                    reason = f.reason.as_str(),
                    code = f.code,
                    message = %f.message,
                    "probe failed"
                );
            }
        }
        if let Some(alerting) = self.alerting() {
            alerting.observe(&job.config, &reports, SystemTime::now());
        }
        let round = Round {
            reports,
            posture,
            finished_at: SystemTime::now(),
        };
        self.latest.record(name, round);
    }

    fn start_scheduler(self: &Arc<Self>) -> Result<(), AgentError> {
        let config = self.config();
        let (jobs, resolver) = build_jobs(&config)?;
        self.set_resolver(resolver);
        let agent = self.clone();
        let run: schedule::RunFn<ProbeJob> =
            Arc::new(move |job| Box::pin(agent.clone().run_round(job)));
        let lag = self.metrics.schedule_lag.clone();
        let on_lag: schedule::LagFn = Arc::new(move |d| lag.observe(d.as_secs_f64()));
        let mut scheduler = Scheduler::new(config.concurrency, run, on_lag);
        scheduler.apply(jobs, config.concurrency);
        if let Ok(mut slot) = self.scheduler.lock() {
            *slot = Some(scheduler);
        }
        self.ready.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Re-reads the configuration file. On error the old configuration keeps running and
    /// `smtpwatch_config_last_reload_successful` drops to 0.
    pub fn reload(&self) -> Result<(), AgentError> {
        let result = config::load(&self.path)
            .map_err(AgentError::from)
            .and_then(|new| {
                let built = build_jobs(&new)?;
                Ok((new, built))
            });
        let (new, (jobs, resolver)) = match result {
            Ok(ok) => ok,
            Err(e) => {
                self.metrics.config_loaded(false);
                tracing::error!(error = %e, "configuration reload failed; keeping the previous configuration");
                return Err(e);
            }
        };
        if new.listen != self.config().listen {
            tracing::warn!(listen = %new.listen, "a new listen address takes effect after a restart");
        }
        if let Ok(mut guard) = self.scheduler.lock() {
            if let Some(scheduler) = guard.as_mut() {
                scheduler.apply(jobs, new.concurrency);
            }
        }
        self.set_resolver(resolver);
        let names: BTreeSet<String> = new.probes.iter().map(|p| p.name.clone()).collect();
        self.metrics.retain_probes(&names);
        self.latest.retain(&names);
        if let Some(alerting) = self.alerting() {
            alerting.reconfigure(&new);
        }
        let count = new.probes.len();
        if let Ok(mut config) = self.config.write() {
            *config = Arc::new(new);
        }
        self.metrics.config_loaded(true);
        tracing::info!(probes = count, "configuration reloaded");
        Ok(())
    }

    fn set_resolver(&self, resolver: Result<Resolver, DnsError>) {
        if let Ok(mut slot) = self.resolver.write() {
            *slot = resolver;
        }
    }

    /// Alerting, once the agent serves.
    pub fn alerting(&self) -> Option<Arc<Alerting>> {
        self.alerting.read().ok().and_then(|a| a.clone())
    }

    /// The resolver of the configuration in force, for ad-hoc `/probe` requests.
    pub fn resolver(&self) -> Result<Resolver, DnsError> {
        self.resolver
            .read()
            .map_err(|e| DnsError(e.to_string()))
            .and_then(|r| r.clone())
    }
}

/// Runs the agent on `listener` until `shutdown` fires; rounds in flight get `grace` to end.
pub async fn serve(
    agent: Arc<Agent>,
    listener: TcpListener,
    shutdown: CancellationToken,
    grace: Duration,
) -> Result<(), AgentError> {
    let alerting = Arc::new(
        Alerting::start(
            &agent.config(),
            DeliveryMetrics::register(agent.metrics.registry())
                .map_err(|e| AgentError::Setup(e.to_string()))?,
        )
        .map_err(|e| AgentError::Setup(format!("alerting: {e}")))?,
    );
    if let Ok(mut slot) = agent.alerting.write() {
        *slot = Some(alerting.clone());
    }
    let resend_stop = shutdown.child_token();
    tokio::spawn(alerting.clone().resend_loop(resend_stop));
    agent.start_scheduler()?;
    crate::systemd::ready(agent.config().probes.len());
    let alive = agent.clone();
    crate::systemd::spawn_watchdog(move || alive.is_ready(), shutdown.child_token());
    let app = crate::http::router(agent.clone());
    let stop = shutdown.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        stop.cancelled().await;
        crate::systemd::stopping();
    });
    let result = server
        .await
        .map_err(|e| AgentError::Setup(format!("HTTP server: {e}")));
    agent.ready.store(false, Ordering::SeqCst);
    let scheduler = agent.scheduler.lock().ok().and_then(|mut s| s.take());
    if let Some(scheduler) = scheduler {
        if !scheduler.shutdown(grace).await {
            tracing::warn!("probes still running after the grace period were cancelled");
        }
    }
    if !alerting.close(grace).await {
        tracing::warn!("notifications still queued after the grace period were abandoned");
    }
    result
}
