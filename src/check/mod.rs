//! `smtpwatch check`: one probe of a target, printed; for `mx:` targets also the mail-domain
//! posture. Returns the Nagios-style exit code.

use std::sync::Arc;

mod args;

pub use self::args::{CheckArgs, Format};
use crate::config::values::EhloName;
use crate::posture::assess::PostureSettings;
use crate::posture::domain::{check_domain, DomainCheck, PostureTools};
use crate::probe::fanout::probe_target;
use crate::probe::ProbeSettings;
use crate::report::render;
use crate::resolve::{Family, Resolver};
use crate::target::{Host, Target, TargetKind};
use crate::trust::LazyTrust;

/// Runs `check`: prints the result, returns the exit code; `Err` is a usage problem (exit 3).
pub fn execute(args: CheckArgs) -> Result<u8, String> {
    let target: Target = args.target.parse().map_err(|e| format!("{e}"))?;
    let family = match (args.ipv4_only, args.ipv6_only) {
        (true, _) => Family::V4,
        (_, true) => Family::V6,
        _ => Family::Any,
    };
    if let Host::Ip(ip) = &target.host {
        if !family.admits(ip) {
            return Err(format!("{ip} is excluded by the -4/-6 option"));
        }
    }
    let ehlo_name = match &args.ehlo {
        Some(name) => name.parse().map_err(|e| format!("--ehlo {e}"))?,
        None => EhloName::this_host(),
    };
    if let Some(name) = &args.server_name {
        crate::trust::server_name(name).map_err(|e| format!("--server-name: {e}"))?;
    }
    let trust = Arc::new(LazyTrust::new(args.ca_files.clone()));
    if !args.ca_files.is_empty() {
        trust.get().map_err(|e| e.to_string())?;
    }
    let mut settings = ProbeSettings::new(trust, ehlo_name.to_string());
    settings.tls = args.tls;
    settings.insecure = args.insecure;
    settings.server_name = args.server_name;
    settings.noop = !args.no_noop;
    settings.set_timeout(args.timeout);
    settings.warn_cert = args.warn_cert;

    // Checked before probing, whatever the target, so a bad file is a usage error (exit 3).
    let anchors = match &args.dnssec_trust_anchor {
        Some(path) => {
            Some(crate::posture::dns::trust_anchor_file(path).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    let posture_settings = PostureSettings {
        dane: args.dane,
        mta_sts: !args.no_mta_sts,
        fcrdns: !args.no_fcrdns,
    };
    let with_posture = target.kind == TargetKind::Mx && !args.no_posture;

    let runtime = crate::runtime::single_threaded().map_err(|e| e.to_string())?;
    let (reports, posture) = runtime.block_on(async {
        let resolver = match &target.host {
            Host::Ip(_) => None,
            Host::Name(_) => Some(Resolver::new(&args.dns_servers).map_err(|e| e.to_string())?),
        };
        match (&resolver, with_posture) {
            (Some(resolver), true) => {
                let tools = PostureTools::new(
                    &args.dns_servers,
                    anchors,
                    settings.trust.get().map_err(|e| e.to_string())?,
                    resolver,
                    args.timeout.min(crate::probe::POLICY_FETCH_TIMEOUT),
                    posture_settings,
                )?;
                let check = DomainCheck {
                    target: &target,
                    probe_name: None,
                    settings,
                    resolver,
                    tools: &tools,
                    family,
                };
                Ok::<_, String>(check_domain(check).await)
            }
            _ => {
                let settings = Arc::new(settings);
                let reports =
                    probe_target(&target, None, settings, resolver.as_ref(), family).await;
                Ok((reports, None))
            }
        }
    })?;

    let shown = target.to_string();
    let mut output = match args.format {
        Format::Text => render::text(&shown, &reports, args.transcript),
        Format::Json => render::json_lines(&reports),
        Format::Nagios => render::nagios(&shown, &reports),
    };
    let mut status = render::summarize(&reports).status;
    if let Some(posture) = &posture {
        status = status.max(posture.status());
        match args.format {
            Format::Text => {
                output.push('\n');
                output.push_str(&crate::posture::render::text(posture));
            }
            Format::Json => {
                let line = serde_json::json!({ "domain_posture": posture });
                output.push_str(&line.to_string());
                output.push('\n');
            }
            Format::Nagios => {
                for f in &posture.findings {
                    output.push_str(&format!(
                        "posture {} {} {}: {}\n",
                        f.severity,
                        f.reason,
                        f.subject,
                        f.message.replace('|', "/")
                    ));
                }
            }
        }
    }
    print!("{output}");
    Ok(status.exit_code())
}
