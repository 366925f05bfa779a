//! Reloading the configuration while probing goes on.
//!
//! The work is split by where it may run without holding up the probes: reading the file and
//! building the jobs, and later swapping the configuration (dropping the old one), take a core
//! for a while and run on a background thread at a lower priority; the schedule is swapped on
//! the event loop a batch at a time ([`Scheduler::apply_in_steps`]), because the driver takes
//! the schedule's lock for every start and must never wait for a thread the kernel has set
//! aside. Unchanged probes keep their jobs, schedule, series and alert state.
//!
//! [`Scheduler::apply_in_steps`]: crate::schedule::Scheduler::apply_in_steps

use std::collections::HashSet;
use std::sync::Arc;

use super::jobs::{build_jobs, share_unchanged, JobSet, ProbeJob, Shared};
use super::{Agent, AgentError};
use crate::config::{self, Config};
use crate::resolve::{DnsError, Resolver};

/// A configuration read and built, not yet in force.
struct Prepared {
    config: Config,
    jobs: Vec<Arc<ProbeJob>>,
    resolver: Result<Resolver, DnsError>,
}

impl Agent {
    /// Re-reads the configuration file. On error the old configuration keeps running and
    /// `smtpwatch_config_last_reload_successful` drops to 0.
    pub async fn reload(self: &Arc<Self>) -> Result<(), AgentError> {
        let _one_at_a_time = self.reloading.lock().await;
        let me = self.clone();
        let prepared = crate::runtime::in_background("smtpwatch-reload", move || me.prepare())
            .await
            .unwrap_or_else(|| Err(AgentError::Setup("the reload could not run".into())));
        let prepared = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                self.metrics.config_loaded(false);
                self.note_reload(Some(e.to_string()));
                tracing::error!(error = %e, "configuration reload failed; keeping the previous configuration");
                return Err(e);
            }
        };
        let new = &prepared.config;
        if new.listen != self.config().listen {
            tracing::warn!(listen = %new.listen, "a new listen address takes effect after a restart");
        }
        if new.history_file != self.config().history_file {
            tracing::warn!("a new history_file takes effect after a restart");
        }
        self.connections.resize(new.concurrency);
        self.adhoc.resize(new.web.probe_endpoint.max_concurrent);
        let scheduler = self.scheduler.lock().ok().and_then(|s| s.clone());
        if let Some(scheduler) = scheduler {
            scheduler
                .apply_in_steps(prepared.jobs, new.concurrency)
                .await;
        }
        let me = self.clone();
        let (config, resolver) = (prepared.config, prepared.resolver);
        let finished = crate::runtime::in_background("smtpwatch-reload", move || {
            me.put_in_force(config, resolver)
        })
        .await;
        if finished.is_none() {
            // The new jobs run, but the rest of the agent did not follow: say so, never a
            // silent success.
            self.metrics.config_loaded(false);
            let e = AgentError::Setup(
                "the reload stopped half-way: its last step could not run".into(),
            );
            tracing::error!(error = %e, "configuration reload failed");
            self.note_reload(Some(e.to_string()));
            return Err(e);
        }
        self.note_reload(None);
        Ok(())
    }

    /// Keeps (or, on success, clears) the last reload failure for the status page.
    fn note_reload(&self, problem: Option<String>) {
        if let Ok(mut slot) = self.reload_problem.write() {
            *slot = problem.map(|p| (std::time::SystemTime::now(), p));
        }
    }

    /// The last reload failure and when it happened, until a reload succeeds.
    pub fn reload_problem(&self) -> Option<(std::time::SystemTime, String)> {
        self.reload_problem.read().ok()?.clone()
    }

    /// Reads and builds the new configuration, sharing what is unchanged with the old one.
    fn prepare(&self) -> Result<Prepared, AgentError> {
        let mut new = config::load(&self.path)?;
        super::own_probes(&mut new, &self.placement);
        share_unchanged(&mut new, &self.config());
        let shared = Shared {
            system_trust: &self.system_trust,
            connections: &self.connections,
        };
        let JobSet { jobs, resolver } = build_jobs(&new, &shared)?;
        Ok(Prepared {
            config: new,
            jobs,
            resolver,
        })
    }

    /// After the schedule: the rest of the agent follows the new configuration, and the
    /// removed probes' series, latest rounds and alerts go.
    fn put_in_force(&self, new: Config, resolver: Result<Resolver, DnsError>) {
        self.set_resolver(resolver);
        // Only what the reload removed is looked up under the sinks' locks, which the event
        // loop takes after every round.
        let kept: HashSet<&str> = new.probes.iter().map(|p| p.name.as_str()).collect();
        let removed: Vec<String> = self
            .config()
            .probes
            .iter()
            .filter(|p| !kept.contains(p.name.as_str()))
            .map(|p| p.name.clone())
            .collect();
        drop(kept);
        self.metrics.forget_probes(&removed);
        self.metrics.set_histograms(new.histograms);
        // Here, once the reload is in force: a reload that fails keeps the old figures.
        super::record_fleet(&self.metrics, &new);
        self.latest.forget(&removed);
        self.alerting.reconfigure(&new);
        let count = new.probes.len();
        let old = match self.config.write() {
            Ok(mut config) => std::mem::replace(&mut *config, Arc::new(new)),
            Err(_) => return,
        };
        // Here, on this thread, and not under the lock: at 100,000 probes it is a lot to free.
        drop(old);
        self.metrics.config_loaded(true);
        tracing::info!(probes = count, "configuration reloaded");
    }
}
