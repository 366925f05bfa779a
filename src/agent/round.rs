//! One round of one probe: probe (and assess, for `mx:`), then hand the reports to metrics,
//! the log, alerting and the latest rounds.

use std::sync::Arc;
use std::time::SystemTime;

use super::jobs::ProbeJob;
use super::Agent;
use crate::latest::Round;
use crate::posture::domain::{check_domain, DomainCheck};
use crate::probe::fanout::probe_target;
use crate::report::Status;
use crate::resolve::Family;

impl Agent {
    pub(super) async fn run_round(self: Arc<Self>, job: Arc<ProbeJob>) {
        // Decremented on drop: a round a reload cancels mid-flight leaves the gauge exact.
        let in_flight = InFlight::enter(&self.metrics.in_flight);
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
                    job.resolver.as_deref(),
                    Family::Any,
                )
                .await;
                (reports, None)
            }
        };
        drop(in_flight);
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
        self.alerting
            .observe(&job.config, &reports, SystemTime::now());
        // What the latest round keeps: everything, except the transcripts of addresses that
        // were OK (the bulk of a report, and at 100,000 probes the bulk of the agent's memory).
        // Vectors grown push by push hold up to twice what they need; at 100,000 probes the
        // slack was tens of megabytes.
        let mut reports = reports;
        for r in reports.iter_mut() {
            if r.status == Status::Ok {
                r.transcript = Vec::new();
            }
            r.phases.shrink_to_fit();
            r.capabilities.shrink_to_fit();
            r.capabilities_before_tls.shrink_to_fit();
            r.transcript.shrink_to_fit();
        }
        reports.shrink_to_fit();
        let round = Round {
            reports,
            posture: posture.map(Box::new),
            finished_at: SystemTime::now(),
        };
        self.latest.record(name, round);
    }
}

/// One round counted in `smtpwatch_probes_in_flight` for as long as it lives.
struct InFlight(prometheus::IntGauge);

impl InFlight {
    fn enter(gauge: &prometheus::IntGauge) -> InFlight {
        gauge.inc();
        InFlight(gauge.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}
