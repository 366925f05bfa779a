//! From a target to reports: resolve (MX, then A/AAAA), then probe every address concurrently.
//!
//! A name that resolves to three addresses gives three reports; `mx:domain` gives one report
//! per address of every MX host. A lookup that fails gives a report too (phase `resolve`,
//! reason `dns`, no address), so a broken MX host is never silently dropped.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinSet;
use tokio::time::{timeout_at, Instant};

use super::dialogue::probe;
use super::settings::{ProbePlan, ProbeSettings};
use crate::report::{seconds, Failure, FailureReason, Phase, PhaseTiming, ProbeReport, Status};
use crate::resolve::{DnsError, Family, Resolver};
use crate::target::{Host, Target, TargetKind, TlsMode};

/// Probes every address of `target`; reports come in MX-preference, then address order.
/// `resolver` may be `None` only for IP-literal targets.
pub async fn probe_target(
    target: &Target,
    probe_name: Option<&str>,
    settings: Arc<ProbeSettings>,
    resolver: Option<&Resolver>,
    family: Family,
) -> Vec<ProbeReport> {
    let fanout = Fanout::start(target, probe_name, &settings);
    let mut plans = Vec::new();
    let mut reports = Vec::new();
    match (&target.kind, &target.host, resolver) {
        (TargetKind::Host, Host::Ip(ip), _) => {
            plans.push(fanout.plan(&ip.to_string(), *ip, None));
        }
        (_, Host::Name(name), None) => {
            reports.push(fanout.unresolved(name, "no resolver available".into()));
        }
        (TargetKind::Host, Host::Name(name), Some(resolver)) => {
            let lookup = timeout_at(fanout.deadline(), resolver.addresses(name, family)).await;
            match flatten(lookup) {
                Ok(ips) => {
                    let took = fanout.started.elapsed();
                    plans.extend(ips.into_iter().map(|ip| fanout.plan(name, ip, Some(took))));
                }
                Err(e) => reports.push(fanout.unresolved(name, e.0)),
            }
        }
        (TargetKind::Mx, Host::Ip(_), _) => {
            let domain = target.host.to_string();
            reports.push(fanout.unresolved(&domain, "mx: needs a domain".into()));
        }
        (TargetKind::Mx, Host::Name(domain), Some(resolver)) => {
            match flatten(timeout_at(fanout.deadline(), resolver.mx(domain)).await) {
                Err(e) => reports.push(unresolved(
                    probe_name,
                    &target.to_string(),
                    fanout.started,
                    e.0,
                )),
                Ok(hosts) => {
                    let hosts: Vec<String> = hosts.into_iter().map(|mx| mx.host).collect();
                    let (host_plans, host_reports) =
                        fanout.plan_hosts(&hosts, resolver, family).await;
                    plans = host_plans.into_iter().map(|(_, plan)| plan).collect();
                    reports = host_reports.into_iter().map(|(_, r)| r).collect();
                }
            }
        }
    }
    run_plans(plans, reports, &settings).await
}

/// An `mx:` round whose MX set has been looked up.
pub struct MxRound<'a> {
    /// The `mx:` target.
    pub target: &'a Target,
    /// The configured probe name (None for `check`).
    pub probe_name: Option<&'a str>,
    /// When the round (the MX lookup included) started: its timeout counts from here.
    pub started: Instant,
}

/// A report of an `mx:` round, with the MX host and the address it concerns as values (the
/// report itself names them as text, for its readers).
#[derive(Debug, Clone)]
pub struct MxReport {
    /// The host's index in the hosts given to [`probe_mx_hosts`].
    pub host: usize,
    /// The address probed (None: the host did not resolve).
    pub address: Option<SocketAddr>,
    /// The report of one of its addresses (or of its failed lookup).
    pub report: ProbeReport,
}

/// Probes every address of the MX hosts `hosts` of `target` (already looked up, in preference
/// order): the posture check looks the MX set up once and hands it here. Reports come in the
/// order [`probe_target`] gives them, each with its host.
pub async fn probe_mx_hosts(
    round: MxRound<'_>,
    settings: Arc<ProbeSettings>,
    resolver: &Resolver,
    family: Family,
    hosts: &[String],
) -> Vec<MxReport> {
    let mut fanout = Fanout::start(round.target, round.probe_name, &settings);
    // The round began with the MX lookup: its deadline is the probes' too.
    fanout.started = round.started;
    let (plans, unresolved) = fanout.plan_hosts(hosts, resolver, family).await;
    // run_plans keeps this order: the probed addresses, then the failed lookups.
    let order: Vec<(usize, Option<SocketAddr>)> = plans
        .iter()
        .map(|(host, plan)| (*host, Some(plan.address)))
        .chain(unresolved.iter().map(|(host, _)| (*host, None)))
        .collect();
    let plans = plans.into_iter().map(|(_, plan)| plan).collect();
    let unresolved = unresolved.into_iter().map(|(_, report)| report).collect();
    let reports = run_plans(plans, unresolved, &settings).await;
    order
        .into_iter()
        .zip(reports)
        .map(|((host, address), report)| MxReport {
            host,
            address,
            report,
        })
        .collect()
}

/// What every plan and report of one target's round shares.
struct Fanout<'a> {
    target: &'a Target,
    probe_name: Option<&'a str>,
    settings: &'a ProbeSettings,
    tls: TlsMode,
    /// When the round (resolution included) started.
    started: Instant,
}

impl<'a> Fanout<'a> {
    fn start(target: &'a Target, probe_name: Option<&'a str>, settings: &'a ProbeSettings) -> Self {
        Fanout {
            target,
            probe_name,
            settings,
            tls: settings.tls.unwrap_or(target.default_tls),
            started: Instant::now(),
        }
    }

    /// The whole round's deadline.
    fn deadline(&self) -> Instant {
        self.started + self.settings.timeout
    }

    /// The plan for address `ip` of `host`.
    fn plan(&self, host: &str, ip: IpAddr, resolved_in: Option<Duration>) -> ProbePlan {
        ProbePlan {
            probe: self.probe_name.map(str::to_string),
            target: host_port(host, self.target.port),
            address: SocketAddr::new(ip, self.target.port),
            server_name: self
                .settings
                .server_name
                .clone()
                .unwrap_or_else(|| host.to_string()),
            tls: self.tls,
            resolved_in,
            started: self.started,
        }
    }

    /// The report for `host`, which did not resolve.
    fn unresolved(&self, host: &str, message: String) -> ProbeReport {
        let target = host_port(host, self.target.port);
        unresolved(self.probe_name, &target, self.started, message)
    }

    /// The addresses of every host, looked up concurrently: the plans in host order, and a
    /// report for each host that did not resolve, each with its host's index.
    async fn plan_hosts(
        &self,
        hosts: &[String],
        resolver: &Resolver,
        family: Family,
    ) -> (Vec<(usize, ProbePlan)>, Vec<(usize, ProbeReport)>) {
        let (deadline, started) = (self.deadline(), self.started);
        let mut lookups = JoinSet::new();
        for (index, host) in hosts.iter().cloned().enumerate() {
            let resolver = resolver.clone();
            lookups.spawn(async move {
                // RFC 5321 §5.1: an MX names a host; senders do not use an address there.
                if host.parse::<IpAddr>().is_ok() {
                    let why = format!(
                        "the MX exchange {host} is an IP address, not a host name (RFC 5321 section 5.1); mail servers do not deliver to it"
                    );
                    return (index, host, Err(DnsError(why)), started.elapsed());
                }
                let found = timeout_at(deadline, resolver.addresses(&host, family)).await;
                (index, host, flatten(found), started.elapsed())
            });
        }
        let mut answers = lookups.join_all().await;
        answers.sort_by_key(|(index, ..)| *index);
        let mut plans = Vec::new();
        let mut reports = Vec::new();
        for (index, host, answer, took) in answers {
            match answer {
                Ok(ips) => plans.extend(
                    ips.into_iter()
                        .map(|ip| (index, self.plan(&host, ip, Some(took)))),
                ),
                Err(e) => reports.push((index, self.unresolved(&host, e.0))),
            }
        }
        (plans, reports)
    }
}

/// Probes `plans` concurrently; the reports of `unresolved` hosts go last.
async fn run_plans(
    plans: Vec<ProbePlan>,
    mut reports: Vec<ProbeReport>,
    settings: &Arc<ProbeSettings>,
) -> Vec<ProbeReport> {
    if plans.len() == 1 {
        // One address (the common case): no task to spawn and join.
        let mut ordered = Vec::with_capacity(1 + reports.len());
        for plan in plans {
            ordered.push(probe_within_limit(plan, settings).await);
        }
        ordered.append(&mut reports);
        return ordered;
    }
    let mut probes = JoinSet::new();
    for (index, plan) in plans.into_iter().enumerate() {
        let settings = settings.clone();
        probes.spawn(async move { (index, probe_within_limit(plan, &settings).await) });
    }
    let mut done = probes.join_all().await;
    done.sort_by_key(|(index, _)| *index);
    // Failed lookups go last: the addresses that were probed lead the output.
    let mut ordered: Vec<ProbeReport> = done.into_iter().map(|(_, r)| r).collect();
    ordered.append(&mut reports);
    ordered
}

/// Probes `plan` holding one unit of the connection limit; the wait for it is not part of the
/// probe's time budget (a busy agent delays a probe, it does not fail it).
async fn probe_within_limit(mut plan: ProbePlan, settings: &ProbeSettings) -> ProbeReport {
    let Some(limit) = &settings.connections else {
        return probe(&plan, settings).await;
    };
    let asked = Instant::now();
    let _permit = limit.acquire().await;
    plan.started += asked.elapsed();
    probe(&plan, settings).await
}

fn flatten<T>(
    result: Result<Result<T, DnsError>, tokio::time::error::Elapsed>,
) -> Result<T, DnsError> {
    result.unwrap_or_else(|_| Err(DnsError("DNS lookup timed out".into())))
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The report for a target whose name could not be resolved.
pub fn unresolved(
    probe: Option<&str>,
    target: &str,
    started: Instant,
    message: String,
) -> ProbeReport {
    let took = started.elapsed();
    ProbeReport {
        probe: probe.map(str::to_string),
        success: false,
        status: Status::Critical,
        duration_seconds: seconds(took),
        failure: Some(Failure {
            phase: Phase::Resolve,
            reason: FailureReason::Dns,
            code: None,
            message,
        }),
        phases: vec![PhaseTiming {
            phase: Phase::Resolve,
            seconds: seconds(took),
            code: None,
        }],
        ..ProbeReport::blank(target, None, SystemTime::now() - took)
    }
}
