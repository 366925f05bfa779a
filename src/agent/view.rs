//! The agent as the HTTP surface sees it ([`crate::http::AgentView`]).

use std::sync::Arc;

use super::Agent;
use crate::config::ProbeConfig;
use crate::latest::Round;
use crate::metrics::Metrics;
use crate::probe::ProbeSettings;
use crate::resolve::{DnsError, Resolver};

impl crate::http::AgentView for Agent {
    fn is_ready(&self) -> bool {
        Agent::is_ready(self)
    }

    fn latest(&self) -> Vec<(Arc<ProbeConfig>, Option<Round>)> {
        Agent::latest(self)
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn reload_configuration(self: Arc<Self>) -> crate::http::Reloading {
        Box::pin(async move { Ok(Agent::reload(&self).await?) })
    }

    fn adhoc_settings(&self) -> ProbeSettings {
        let config = self.config();
        let mut settings =
            ProbeSettings::new(self.system_trust.clone(), config.ehlo_name.to_string());
        settings.set_timeout(config.timeout);
        settings
    }

    fn resolver(&self) -> Result<Resolver, DnsError> {
        Agent::resolver(self)
    }

    fn web(&self) -> crate::config::web::WebConfig {
        self.config().web.clone()
    }

    fn adhoc_limit(&self) -> &crate::limit::Limit {
        &self.adhoc
    }

    fn history(&self) -> &crate::history::History {
        Agent::history(self)
    }

    fn reload_problem(&self) -> Option<(std::time::SystemTime, String)> {
        Agent::reload_problem(self)
    }

    fn vantage(&self) -> Option<String> {
        self.config().vantage.clone()
    }

    fn shard(&self) -> Option<(crate::shard::Shard, usize)> {
        let config = self.config();
        let shard = config.shard?;
        Some((shard, config.probes.len() + config.handed_over.len()))
    }
}
