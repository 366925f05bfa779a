//! A mail domain checked end to end: MX and TLSA first, every MX address probed with
//! certificate verdicts recorded (DANE or WebPKI decides afterwards), then the assessment.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::assess::{self, AssessContext, PostureSettings};
use super::dns::PostureDns;
use super::fetch::PolicyFetcher;
use super::summary::DomainPosture;
use crate::probe::fanout::{probe_mx_hosts, unresolved, MxRound};
use hickory_resolver::proto::dnssec::TrustAnchors;

use crate::probe::ProbeSettings;
use crate::report::ProbeReport;
use crate::resolve::{DnsError, Family, Resolver};
use crate::target::Target;
use crate::trust::{ClientError, LazyTrust};

/// What an agent's `mx:` probe keeps between rounds: its validating resolver, policy fetcher
/// and switches.
pub struct PostureTools {
    /// The validating resolver.
    pub dns: PostureDns,
    /// MTA-STS policy fetcher.
    pub fetcher: PolicyFetcher,
    /// What to check.
    pub settings: PostureSettings,
}

/// Why the posture tools could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    /// The validating resolver.
    #[error(transparent)]
    Dns(#[from] DnsError),
    /// The policy fetcher's HTTPS client (its trust store included).
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl PostureTools {
    /// Asks `servers` (none: the system's), validating with `anchors` (None: the root's);
    /// fetches policies trusting `trust`, resolving through `resolver`, within `timeout`.
    pub fn new(
        servers: &[SocketAddr],
        anchors: Option<Arc<TrustAnchors>>,
        trust: &LazyTrust,
        resolver: &Resolver,
        timeout: Duration,
        settings: PostureSettings,
    ) -> Result<PostureTools, ToolsError> {
        let dns = PostureDns::new(servers, anchors)?;
        let trust = trust.get().map_err(ClientError::from)?;
        let fetcher = PolicyFetcher::new(trust, resolver.clone(), timeout)?;
        Ok(PostureTools {
            dns,
            fetcher,
            settings,
        })
    }
}

/// Everything a domain check uses.
pub struct DomainCheck<'a> {
    /// The `mx:` target.
    pub target: &'a Target,
    /// The configured probe name (None for `check`).
    pub probe_name: Option<&'a str>,
    /// How to probe; `insecure` is what the user asked for.
    pub settings: ProbeSettings,
    /// The (non-validating) resolver the probes use.
    pub resolver: &'a Resolver,
    /// The validating resolver, policy fetcher and switches.
    pub tools: &'a PostureTools,
    /// `-4` / `-6`.
    pub family: Family,
}

/// Probes every MX address of the domain and assesses its posture. The reports carry
/// posture failures (DANE mismatch, certificate, STARTTLS required by DANE) on the
/// addresses they concern.
pub async fn check_domain(check: DomainCheck<'_>) -> (Vec<ProbeReport>, Option<DomainPosture>) {
    let domain = check.target.host.to_string();
    let started = tokio::time::Instant::now();
    let lookup = tokio::time::timeout(check.settings.timeout, check.resolver.mx(&domain)).await;
    // The one lookup of the MX set: fan-out and the assessment both get these hosts.
    let hosts: Vec<String> = match lookup {
        Ok(Ok(hosts)) => hosts.into_iter().map(|h| h.host).collect(),
        Ok(Err(e)) => return (vec![unresolved_mx(&check, started, e.0)], None),
        Err(_) => {
            let message = "DNS lookup timed out".to_string();
            return (vec![unresolved_mx(&check, started, message)], None);
        }
    };
    if hosts.is_empty() {
        return (Vec::new(), None);
    }
    let tools = check.tools;
    // One deadline for the whole round: every posture lookup and the policy fetch end by it,
    // as the probes do; what is unanswered then is indeterminate.
    let dns = tools.dns.until(started + check.settings.timeout);
    let insecure = check.settings.insecure;
    let mut settings = check.settings;
    // Record, do not enforce: DANE-EE certificates are often self-signed, and WebPKI is
    // judged afterwards where DANE does not apply.
    settings.insecure = true;
    let inputs = AssessContext {
        dns: &dns,
        fetcher: &tools.fetcher,
        settings: &tools.settings,
        insecure,
    };
    let probing = probe_mx_hosts(
        MxRound {
            target: check.target,
            probe_name: check.probe_name,
            started,
        },
        Arc::new(settings),
        check.resolver,
        check.family,
        &hosts,
    );
    // The DNS side runs while the probes do: a probe that takes the whole deadline does not
    // leave the posture without time, nor the posture the probes. Its own lookups go one at a
    // time (see `assess::prepare`).
    let posture_dns = async {
        let prepared = assess::prepare(&dns, &hosts, &tools.settings).await;
        let survey = assess::survey(&domain, &hosts, &inputs).await;
        (prepared, survey)
    };
    let (mut reports, (prepared, survey)) = tokio::join!(probing, posture_dns);
    let posture = assess::assess(&domain, survey, &prepared, &mut reports, &inputs).await;
    let reports = reports.into_iter().map(|r| r.report).collect();
    (reports, Some(posture))
}

/// The report of a domain whose MX set could not be looked up.
fn unresolved_mx(
    check: &DomainCheck<'_>,
    started: tokio::time::Instant,
    message: String,
) -> ProbeReport {
    unresolved(
        check.probe_name,
        &check.target.to_string(),
        started,
        message,
    )
}
