//! The configuration's probes made ready to run: settings, resolver and posture tools per
//! probe, built once per load and shared by every round.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::posture::ProbePosture;
use crate::config::{Config, ProbeConfig};
use crate::limit::Limit;
use crate::posture::domain::{PostureTools, ToolsError};
use crate::probe::ProbeSettings;
use crate::resolve::{DnsError, Resolver};
use crate::schedule;
use crate::target::Host;
use crate::trust::LazyTrust;

/// One configured probe, ready to run.
pub struct ProbeJob {
    /// The probe's configuration (shared with the configuration it came from).
    pub config: Arc<ProbeConfig>,
    /// Shared by every probe with the same settings (most of them).
    pub(super) settings: Arc<ProbeSettings>,
    /// Shared by every job of the configuration (a resolver is 400-odd bytes; at 100,000
    /// probes a copy each was 40 MB).
    pub(super) resolver: Option<Arc<Resolver>>,
    /// For `mx:` probes: what the posture checks use (boxed: most probes have none, and
    /// they should not pay its size).
    pub(super) posture: Option<Box<PostureTools>>,
    /// Agent-wide settings that change what the probe does (for reload diffing), shared.
    agent_settings: Arc<(String, Vec<SocketAddr>)>,
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

/// The jobs of a configuration, and the resolver they share (or why there is none: a probe of
/// an IP literal needs no resolver, so DNS set-up problems are reported only when needed).
pub(super) struct JobSet {
    pub jobs: Vec<Arc<ProbeJob>>,
    pub resolver: Result<Resolver, DnsError>,
}

/// A probe that cannot be made ready.
#[derive(Debug, thiserror::Error)]
#[error("probe {probe:?}: {problem}")]
pub struct JobError {
    probe: String,
    problem: JobProblem,
}

/// What a probe lacks.
#[derive(Debug, thiserror::Error)]
pub enum JobProblem {
    /// Its target is a name and the resolver could not be set up.
    #[error(transparent)]
    Dns(DnsError),
    /// Its posture checks' resolver or policy fetcher.
    #[error(transparent)]
    Posture(ToolsError),
}

/// What every job of the agent shares: the system trust store (for probes without a CA file)
/// and the limit on open connections.
pub(super) struct Shared<'a> {
    pub system_trust: &'a Arc<LazyTrust>,
    pub connections: &'a Limit,
}

/// The jobs of `config`.
pub(super) fn build_jobs(config: &Config, shared: &Shared<'_>) -> Result<JobSet, JobError> {
    let resolver = Resolver::new(&config.dns_servers);
    let shared_resolver = resolver.as_ref().map(|r| Arc::new(r.clone()));
    let agent_settings = Arc::new((config.ehlo_name.to_string(), config.dns_servers.clone()));
    let mut jobs = Vec::with_capacity(config.probes.len());
    let mut distinct: HashMap<SettingsKey, Arc<ProbeSettings>> = HashMap::new();
    for p in &config.probes {
        let setup = |problem| JobError {
            probe: p.name.clone(),
            problem,
        };
        let settings = distinct
            .entry(SettingsKey::of(p))
            .or_insert_with(|| {
                let mut settings = p.probe_settings(shared.system_trust, &config.ehlo_name);
                settings.connections = Some(shared.connections.clone());
                Arc::new(settings)
            })
            .clone();
        let resolver = match (&shared_resolver, &p.target.host) {
            (_, Host::Ip(_)) => None,
            (Ok(r), Host::Name(_)) => Some(r.clone()),
            (Err(e), Host::Name(_)) => return Err(setup(JobProblem::Dns((*e).clone()))),
        };
        let posture = match (&p.posture, &resolver) {
            (Some(pp), Some(resolver)) => {
                let tools = posture_tools(p, pp, resolver, &settings, config)
                    .map_err(|e| setup(JobProblem::Posture(e)))?;
                Some(Box::new(tools))
            }
            _ => None,
        };
        jobs.push(Arc::new(ProbeJob {
            config: p.clone(),
            settings,
            resolver,
            posture,
            agent_settings: agent_settings.clone(),
        }));
    }
    Ok(JobSet { jobs, resolver })
}

/// Points every probe of `new` that is unchanged from `old` at `old`'s copy: the scheduler
/// keeps the jobs of unchanged probes (their history and schedule), which hold `old`'s
/// copies, so without this a reload left two copies of each probe's configuration alive.
pub(super) fn share_unchanged(new: &mut Config, old: &Config) {
    let old_by_name: HashMap<&str, &Arc<ProbeConfig>> =
        old.probes.iter().map(|p| (p.name.as_str(), p)).collect();
    for probe in new.probes.iter_mut() {
        if let Some(previous) = old_by_name.get(probe.name.as_str()) {
            if **previous == *probe {
                *probe = Arc::clone(previous);
            }
        }
    }
}

/// What a probe's [`ProbeSettings`] are made of: probes that agree on it share one.
#[derive(PartialEq, Eq, Hash)]
struct SettingsKey {
    tls: Option<crate::target::TlsMode>,
    insecure: bool,
    /// Which trust store (the system's, or one CA file's), by identity.
    trust: Option<usize>,
    server_name: Option<String>,
    noop: bool,
    timeout: Duration,
    warn_cert: Duration,
}

impl SettingsKey {
    fn of(p: &ProbeConfig) -> SettingsKey {
        SettingsKey {
            tls: p.tls,
            insecure: p.insecure,
            trust: p
                .ca_file
                .as_ref()
                .map(|ca| Arc::as_ptr(ca.value()) as usize),
            server_name: p.server_name.clone(),
            noop: p.noop,
            timeout: p.timeout,
            warn_cert: p.warn_cert,
        }
    }
}

/// The posture tools of `mx:` probe `p`: the policy fetcher trusts what the probe trusts, the
/// validating resolver uses the anchor the configuration read.
fn posture_tools(
    p: &ProbeConfig,
    posture: &ProbePosture,
    resolver: &Resolver,
    settings: &ProbeSettings,
    config: &Config,
) -> Result<PostureTools, ToolsError> {
    let anchors = posture.trust_anchor.as_ref().map(|a| a.value().clone());
    PostureTools::new(
        &config.dns_servers,
        anchors,
        &settings.trust,
        resolver,
        p.timeout.min(crate::probe::POLICY_FETCH_TIMEOUT),
        posture.settings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn probes_with_the_same_settings_share_them_and_others_do_not() {
        let text = "[[probe]]\nname = \"a\"\ntarget = \"127.0.0.1:25\"\n\
                    [[probe]]\nname = \"b\"\ntarget = \"127.0.0.2:25\"\n\
                    [[probe]]\nname = \"c\"\ntarget = \"127.0.0.3:25\"\nserver_name = \"mx.test\"\n\
                    [[probe]]\nname = \"d\"\ntarget = \"127.0.0.4:25\"\ntimeout = \"3s\"\n";
        let config = crate::config::parse(text, std::path::Path::new("t.toml")).expect("valid");
        let trust = Arc::new(LazyTrust::new(Vec::new()));
        let connections = Limit::new(4);
        let shared = Shared {
            system_trust: &trust,
            connections: &connections,
        };
        let jobs = build_jobs(&config, &shared).expect("jobs").jobs;
        let same = |i: usize, j: usize| Arc::ptr_eq(&jobs[i].settings, &jobs[j].settings);
        assert!(same(0, 1), "a and b agree on everything");
        assert!(!same(0, 2), "c names its server");
        assert!(!same(0, 3), "d has its own timeout");
        assert_eq!(jobs[2].settings.server_name.as_deref(), Some("mx.test"));
        assert_eq!(jobs[3].settings.timeout, Duration::from_secs(3));
    }

    #[test]
    fn a_reload_shares_the_unchanged_probes_and_only_those() {
        let parse =
            |text: &str| crate::config::parse(text, std::path::Path::new("t.toml")).expect("valid");
        let old = parse(
            "[[probe]]\nname = \"a\"\ntarget = \"127.0.0.1:25\"\n\
             [[probe]]\nname = \"b\"\ntarget = \"127.0.0.2:25\"\n",
        );
        let mut new = parse(
            "[[probe]]\nname = \"b\"\ntarget = \"127.0.0.2:2525\"\n\
             [[probe]]\nname = \"a\"\ntarget = \"127.0.0.1:25\"\n\
             [[probe]]\nname = \"c\"\ntarget = \"127.0.0.3:25\"\n",
        );
        share_unchanged(&mut new, &old);
        assert!(
            Arc::ptr_eq(&new.probes[1], &old.probes[0]),
            "a is unchanged"
        );
        assert!(
            !Arc::ptr_eq(&new.probes[0], &old.probes[1]),
            "b changed its port"
        );
        assert_eq!(new.probes[0].target.to_string(), "127.0.0.2:2525");
        assert_eq!(new.probes[2].name, "c");
    }
}
