//! One round of one probe: probe (and assess, for `mx:`), then hand the reports to metrics,
//! the log, alerting and the latest rounds.

use std::sync::Arc;
use std::time::SystemTime;

use super::jobs::ProbeJob;
use super::Agent;
use crate::latest::Round;
use crate::posture::domain::{check_domain, DomainCheck};
use crate::probe::fanout::probe_target;
use std::fmt::Write as _;

use crate::history::Entry;
use crate::report::render::summarize;
use crate::report::{ProbeReport, Status};
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
        if self.history.is_on() {
            let posture_status = posture.as_ref().map_or(Status::Ok, |p| p.status());
            self.history
                .record(history_entry(name, &reports, posture_status));
        }
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

/// Most transcript lines a failure's detail keeps in the history (its end: where it failed).
const DETAIL_LINES: usize = 40;

/// The round as history keeps it: the worst status, the slowest address, the first failure
/// and, when it was not OK, the failures' messages with the end of each transcript.
fn history_entry(name: &str, reports: &[ProbeReport], posture: Status) -> Entry {
    let status = summarize(reports).status.max(posture);
    let seconds = reports
        .iter()
        .map(|r| r.duration_seconds)
        .fold(0.0, f64::max);
    let first = reports.iter().find(|r| r.status != Status::Ok);
    let reason = first.map(|r| match &r.failure {
        Some(f) => format!("{}/{}", f.phase.as_str(), f.reason.as_str()),
        None => "warning".to_string(),
    });
    let detail = (status != Status::Ok).then(|| {
        let mut out = String::new();
        for r in reports.iter().filter(|r| r.status != Status::Ok) {
            let address = r.address.as_deref().unwrap_or(&r.target);
            let what = match &r.failure {
                Some(f) => f.message.clone(),
                None => r.warnings.join("; "),
            };
            let _ = writeln!(out, "{address}: {}: {what}", r.status.nagios_word());
            let skip = r.transcript.len().saturating_sub(DETAIL_LINES);
            for line in &r.transcript[skip..] {
                let _ = writeln!(out, "{:>9.1}ms {} {}", line.t * 1000.0, line.dir, line.line);
            }
        }
        if status != Status::Ok && first.is_none() {
            out.push_str("the mail-domain posture is not OK\n");
        }
        out
    });
    Entry {
        probe: name.to_string(),
        at: SystemTime::now(),
        status,
        seconds,
        reason: reason.or_else(|| (status != Status::Ok).then(|| "posture".to_string())),
        detail,
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
