//! `smtpwatch check`: one probe of a target, printed; for `mx:` targets also the mail-domain
//! posture. Returns the Nagios-style exit code.

use std::net::IpAddr;
use std::sync::Arc;

use hickory_resolver::proto::dnssec::TrustAnchors;

mod args;
mod mail_flow;
mod output;
pub mod quick_args;

pub use self::args::{CheckArgs, Format, MailFlowArgs};
pub use self::mail_flow::{AUTH_PASSWORD_ENV, IMAP_PASSWORD_ENV};
use crate::config::values::{EhloName, ValueError};
use crate::posture::dns::AnchorError;
use crate::posture::domain::{check_domain, DomainCheck, PostureTools, ToolsError};
use crate::posture::summary::DomainPosture;
use crate::probe::fanout::probe_target;
use crate::probe::ProbeSettings;
use crate::report::ProbeReport;
use crate::resolve::{DnsError, Resolver};
use crate::runtime::RuntimeError;
use crate::target::{Host, Target, TargetError, TargetKind};
use crate::trust::{LazyTrust, ServerNameError, Trust, TrustError};

/// Why `check` could not probe: a usage or set-up problem (exit 3), never a probe result.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The target does not parse.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// An IP target of the family `-4`/`-6` excludes.
    #[error("{0} is excluded by the -4/-6 option")]
    ExcludedFamily(IpAddr),
    /// `--ehlo`.
    #[error("--ehlo {0}")]
    Ehlo(ValueError),
    /// `--server-name`.
    #[error("--server-name: {0}")]
    ServerName(ServerNameError),
    /// `--ca-file`.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// `--dnssec-trust-anchor`.
    #[error(transparent)]
    Anchor(#[from] AnchorError),
    /// The runtime.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The resolver.
    #[error(transparent)]
    Dns(#[from] DnsError),
    /// The posture checks' resolver or policy fetcher.
    #[error(transparent)]
    Posture(#[from] ToolsError),
    /// A mail-flow flag (its message names it; never a secret).
    #[error("{0}")]
    MailFlow(String),
}

/// What the flags decide, checked before anything goes on the network.
struct Plan {
    target: Target,
    settings: ProbeSettings,
    /// An `mx:` target with the posture checks on.
    with_posture: bool,
    /// The DNSSEC anchor to validate with (None: the root's).
    anchors: Option<Arc<TrustAnchors>>,
}

/// Runs `check`: prints the result, returns the exit code; `Err` is a usage problem (exit 3).
pub fn execute(args: CheckArgs) -> Result<u8, CheckError> {
    let plan = plan(&args)?;
    let runtime = crate::runtime::single_threaded()?;
    let (reports, posture) = runtime.block_on(Box::pin(probe(&args, &plan)))?;
    let shown = plan.target.to_string();
    print!(
        "{}",
        output::render(&args, &shown, &reports, posture.as_ref())
    );
    let mut status = crate::report::render::summarize(&reports).status;
    if let Some(posture) = &posture {
        status = status.max(posture.status());
    }
    Ok(status.exit_code())
}

fn plan(args: &CheckArgs) -> Result<Plan, CheckError> {
    let target: Target = args.target.parse()?;
    if let Host::Ip(ip) = &target.host {
        if !args.family().admits(ip) {
            return Err(CheckError::ExcludedFamily(*ip));
        }
    }
    let ehlo_name = match &args.ehlo {
        Some(name) => name.parse().map_err(CheckError::Ehlo)?,
        None => EhloName::this_host(),
    };
    if let Some(name) = &args.server_name {
        crate::trust::server_name(name).map_err(CheckError::ServerName)?;
    }
    // One run verifies a chain or two: the system store is indexed, and only the roots a
    // chain can use are decoded. CA files are read now, so a bad one is a usage error.
    let trust = Arc::new(LazyTrust::ready(Trust::on_demand(&args.ca_files)?));
    // Checked before probing, whatever the target, so a bad file is a usage error (exit 3).
    let anchors = match &args.dnssec_trust_anchor {
        Some(path) => Some(Arc::new(crate::posture::dns::trust_anchor_file(path)?)),
        None => None,
    };
    let with_posture = target.kind == TargetKind::Mx && !args.no_posture;
    let mut settings = args.probe_settings(trust, &ehlo_name);
    let flow =
        mail_flow::mail_flow(&args.mail, &target.to_string()).map_err(CheckError::MailFlow)?;
    settings.mail = flow.map(Arc::new);
    Ok(Plan {
        settings,
        target,
        with_posture,
        anchors,
    })
}

async fn probe(
    args: &CheckArgs,
    plan: &Plan,
) -> Result<(Vec<ProbeReport>, Option<DomainPosture>), CheckError> {
    let target = &plan.target;
    let resolver = match &target.host {
        Host::Ip(_) => None,
        Host::Name(_) => Some(Resolver::new(&args.dns_servers)?),
    };
    match (&resolver, plan.with_posture) {
        (Some(resolver), true) => {
            let tools = PostureTools::new(
                &args.dns_servers,
                plan.anchors.clone(),
                &plan.settings.trust,
                resolver,
                args.timeout.min(crate::probe::POLICY_FETCH_TIMEOUT),
                args.posture_settings(),
            )?;
            let check = DomainCheck {
                target,
                probe_name: None,
                settings: plan.settings.clone(),
                resolver,
                tools: &tools,
                family: args.family(),
            };
            Ok(check_domain(check).await)
        }
        _ => {
            let settings = Arc::new(plan.settings.clone());
            let reports =
                probe_target(target, None, settings, resolver.as_ref(), args.family()).await;
            Ok((reports, None))
        }
    }
}
