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
use crate::target::{Host, Target, TargetKind};

/// Probes every address of `target`; reports come in MX-preference, then address order.
/// `resolver` may be `None` only for IP-literal targets.
pub async fn probe_target(
    target: &Target,
    probe_name: Option<&str>,
    settings: Arc<ProbeSettings>,
    resolver: Option<&Resolver>,
    family: Family,
) -> Vec<ProbeReport> {
    let started = Instant::now();
    let deadline = started + settings.timeout;
    let tls = settings.tls.unwrap_or(target.default_tls);
    let plan = |host: &str, address: SocketAddr, resolved_in| ProbePlan {
        probe: probe_name.map(str::to_string),
        target: host_port(host, target.port),
        address,
        server_name: settings
            .server_name
            .clone()
            .unwrap_or_else(|| host.to_string()),
        tls,
        resolved_in,
        started,
    };
    let fail = |host: &str, message: String| {
        unresolved(probe_name, &host_port(host, target.port), started, message)
    };

    let mut plans = Vec::new();
    let mut reports = Vec::new();
    match (&target.kind, &target.host, resolver) {
        (TargetKind::Host, Host::Ip(ip), _) => {
            plans.push(plan(
                &ip.to_string(),
                SocketAddr::new(*ip, target.port),
                None,
            ));
        }
        (_, Host::Name(name), None) => {
            reports.push(fail(name, "no resolver available".into()));
        }
        (TargetKind::Host, Host::Name(name), Some(resolver)) => {
            let lookup = timeout_at(deadline, resolver.addresses(name, family)).await;
            match flatten(lookup) {
                Ok(ips) => {
                    let took = started.elapsed();
                    for ip in ips {
                        plans.push(plan(name, SocketAddr::new(ip, target.port), Some(took)));
                    }
                }
                Err(e) => reports.push(fail(name, e.0)),
            }
        }
        (TargetKind::Mx, Host::Ip(_), _) => {
            reports.push(fail(&target.host.to_string(), "mx: needs a domain".into()));
        }
        (TargetKind::Mx, Host::Name(domain), Some(resolver)) => {
            match flatten(timeout_at(deadline, resolver.mx(domain)).await) {
                Err(e) => reports.push(unresolved(probe_name, &target.to_string(), started, e.0)),
                Ok(hosts) => {
                    let hosts: Vec<String> = hosts.into_iter().map(|mx| mx.host).collect();
                    let (found, failed) =
                        plan_hosts(&hosts, resolver, family, deadline, started).await;
                    for (host, ip, took) in found {
                        plans.push(plan(&host, SocketAddr::new(ip, target.port), Some(took)));
                    }
                    for (host, message) in failed {
                        reports.push(fail(&host, message));
                    }
                }
            }
        }
    }
    run_plans(plans, reports, &settings).await
}

/// Probes every address of the MX hosts `hosts` of `target` (already looked up, in preference
/// order): the posture check looks the MX set up once and hands it here.
pub async fn probe_mx_hosts(
    target: &Target,
    probe_name: Option<&str>,
    settings: Arc<ProbeSettings>,
    resolver: &Resolver,
    family: Family,
    hosts: &[String],
) -> Vec<ProbeReport> {
    let started = Instant::now();
    let deadline = started + settings.timeout;
    let tls = settings.tls.unwrap_or(target.default_tls);
    let (found, failed) = plan_hosts(hosts, resolver, family, deadline, started).await;
    let plans = found
        .into_iter()
        .map(|(host, ip, took)| ProbePlan {
            probe: probe_name.map(str::to_string),
            target: host_port(&host, target.port),
            address: SocketAddr::new(ip, target.port),
            server_name: settings.server_name.clone().unwrap_or_else(|| host.clone()),
            tls,
            resolved_in: Some(took),
            started,
        })
        .collect();
    let reports = failed
        .into_iter()
        .map(|(host, message)| {
            unresolved(probe_name, &host_port(&host, target.port), started, message)
        })
        .collect();
    run_plans(plans, reports, &settings).await
}

/// The addresses of every host, looked up concurrently: (host, address, lookup time) in host
/// order, and (host, why) for the hosts that did not resolve.
async fn plan_hosts(
    hosts: &[String],
    resolver: &Resolver,
    family: Family,
    deadline: Instant,
    started: Instant,
) -> (Vec<(String, IpAddr, Duration)>, Vec<(String, String)>) {
    let mut lookups = JoinSet::new();
    for (index, host) in hosts.iter().cloned().enumerate() {
        let resolver = resolver.clone();
        lookups.spawn(async move {
            let found = timeout_at(deadline, resolver.addresses(&host, family)).await;
            (index, host, flatten(found), started.elapsed())
        });
    }
    let mut answers = lookups.join_all().await;
    answers.sort_by_key(|(index, ..)| *index);
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for (_, host, answer, took) in answers {
        match answer {
            Ok(ips) => found.extend(ips.into_iter().map(|ip| (host.clone(), ip, took))),
            Err(e) => failed.push((host, e.0)),
        }
    }
    (found, failed)
}

/// Probes `plans` concurrently; the reports of `unresolved` hosts go last.
async fn run_plans(
    plans: Vec<ProbePlan>,
    mut reports: Vec<ProbeReport>,
    settings: &Arc<ProbeSettings>,
) -> Vec<ProbeReport> {
    if let [plan] = plans.as_slice() {
        // One address (the common case): no task to spawn and join.
        let mut ordered = vec![probe(plan, settings).await];
        ordered.append(&mut reports);
        return ordered;
    }
    let mut probes = JoinSet::new();
    for (index, plan) in plans.into_iter().enumerate() {
        let settings = settings.clone();
        probes.spawn(async move { (index, probe(&plan, &settings).await) });
    }
    let mut done = probes.join_all().await;
    done.sort_by_key(|(index, _)| *index);
    // Failed lookups go last: the addresses that were probed lead the output.
    let mut ordered: Vec<ProbeReport> = done.into_iter().map(|(_, r)| r).collect();
    ordered.append(&mut reports);
    ordered
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
        target: target.to_string(),
        address: None,
        started_at: SystemTime::now() - took,
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
        banner: None,
        capabilities: Vec::new(),
        capabilities_before_tls: Vec::new(),
        ehlo_name: None,
        tls: None,
        warnings: Vec::new(),
        transcript: Vec::new(),
    }
}
