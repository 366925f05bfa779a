//! One `[[probe]]` table: its keys, their validation, and how a probe's configuration becomes
//! the [`ProbeSettings`] the prober takes.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::alerting::AlertingConfig;
use super::files::{FileCache, Loaded};
use super::mail_flow;
use super::posture::{self, ProbePosture};
use super::source::{ConfigError, Source};
use super::values::EhloName;
use crate::probe::ProbeSettings;
use crate::target::{Target, TlsMode};
use crate::trust::LazyTrust;

/// One `[[probe]]`, defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// Unique name: the `probe` label and the status page key.
    pub name: String,
    /// What to probe.
    pub target: Target,
    /// TLS mode (None: from the target's scheme or port).
    pub tls: Option<TlsMode>,
    /// Record but do not enforce certificate verification.
    pub insecure: bool,
    /// Extra trusted CA, read when the configuration was loaded (with the system roots).
    pub ca_file: Option<Loaded<LazyTrust>>,
    /// SNI / verification name.
    pub server_name: Option<String>,
    /// Send NOOP.
    pub noop: bool,
    /// How often to probe.
    pub interval: Duration,
    /// Deadline for one probe round; shorter than `interval`.
    pub timeout: Duration,
    /// Certificate expiry warning threshold.
    pub warn_cert: Duration,
    /// Extra labels on every series of this probe.
    pub labels: BTreeMap<String, String>,
    /// The notifiers this probe's alerts go to (None: all of them).
    pub notify: Option<Vec<String>>,
    /// Mail-domain posture checks (`mx:` targets only).
    pub posture: Option<ProbePosture>,
    /// AUTH, envelope and delivery checks.
    pub mail: Option<Arc<crate::probe::mail_flow::MailFlow>>,
}

impl ProbeConfig {
    /// How to probe, as this table says: its CA file's trust, or `system` without one.
    pub fn probe_settings(&self, system: &Arc<LazyTrust>, ehlo_name: &EhloName) -> ProbeSettings {
        let trust = match &self.ca_file {
            Some(ca) => ca.value().clone(),
            None => system.clone(),
        };
        let mut settings = ProbeSettings::new(trust, ehlo_name.to_string());
        settings.tls = self.tls;
        settings.insecure = self.insecure;
        settings.server_name = self.server_name.clone();
        settings.noop = self.noop;
        settings.set_timeout(self.timeout);
        settings.warn_cert = self.warn_cert;
        settings.mail = self.mail.clone();
        settings
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbe {
    name: Spanned<String>,
    target: Spanned<String>,
    tls: Option<Spanned<String>>,
    insecure: Option<bool>,
    ca_file: Option<Spanned<PathBuf>>,
    server_name: Option<Spanned<String>>,
    noop: Option<bool>,
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    warn_cert: Option<Spanned<String>>,
    labels: Option<Spanned<BTreeMap<String, String>>>,
    notify: Option<Spanned<Vec<String>>>,
    dane: Option<Spanned<String>>,
    mta_sts: Option<Spanned<bool>>,
    dnssec_trust_anchor: Option<Spanned<PathBuf>>,
    fcrdns: Option<Spanned<bool>>,
    auth: Option<Spanned<mail_flow::RawAuth>>,
    mail_from: Option<Spanned<String>>,
    rcpt: Option<Spanned<Vec<String>>>,
    delivery: Option<Spanned<mail_flow::RawDelivery>>,
}

/// What a probe table inherits: the `[agent]` defaults and the notifiers it may name.
pub(super) struct Inherited<'a> {
    pub interval: Duration,
    pub timeout: Duration,
    pub alerting: &'a AlertingConfig,
    /// The names of the probes before this one (names must be unique).
    pub taken: &'a std::collections::HashSet<String>,
    /// `[agent] vantage`: a `vantage` label on every series and alert of every probe.
    pub vantage: Option<&'a str>,
}

/// Label names the agent sets itself; user labels may not reuse them.
const RESERVED_LABELS: &[&str] = &[
    "probe", "target", "address", "phase", "reason", "le", "version", "cipher", "job", "instance",
    "vantage",
];

/// The TLS keys a `[[probe]]` and a `[[module]]` share, as written.
pub(super) struct RawTlsKeys<'a> {
    pub tls: &'a Option<Spanned<String>>,
    pub ca_file: &'a Option<Spanned<PathBuf>>,
    pub server_name: &'a Option<Spanned<String>>,
}

/// The same keys, validated (the CA file read once per load).
pub(super) struct TlsKeys {
    pub tls: Option<TlsMode>,
    pub ca_file: Option<Loaded<LazyTrust>>,
    pub server_name: Option<String>,
}

/// Validates the TLS keys of the table `ctx` names, with located errors.
pub(super) fn tls_keys(
    raw: RawTlsKeys<'_>,
    ctx: &str,
    files: &mut FileCache,
    src: &Source<'_>,
) -> Result<TlsKeys, ConfigError> {
    let at = |span: Range<usize>, message: String| src.at(span, message);
    let tls = match raw.tls {
        None => None,
        Some(t) => Some(
            t.get_ref()
                .parse::<TlsMode>()
                .map_err(|e| at(t.span(), format!("{ctx}: tls: {e}")))?,
        ),
    };
    if let Some(name) = raw.server_name {
        crate::trust::server_name(name.get_ref())
            .map_err(|e| at(name.span(), format!("{ctx}: server_name: {e}")))?;
    }
    let ca_file = match raw.ca_file {
        None => None,
        Some(ca) => Some(
            files
                .ca_file(ca.get_ref())
                .map_err(|e| at(ca.span(), format!("{ctx}: ca_file: {e}")))?,
        ),
    };
    Ok(TlsKeys {
        tls,
        ca_file,
        server_name: raw.server_name.as_ref().map(|n| n.get_ref().clone()),
    })
}

/// Validates one table.
pub(super) fn parse(
    p: RawProbe,
    inherited: &Inherited<'_>,
    files: &mut FileCache,
    src: &Source<'_>,
) -> Result<ProbeConfig, ConfigError> {
    let at = |span: Range<usize>, message: String| src.at(span, message);
    let name = unique_name(&p.name, inherited.taken, src)?;
    let ctx = format!("probe {name:?}");
    let target: Target = p
        .target
        .get_ref()
        .parse()
        .map_err(|e| at(p.target.span(), format!("{ctx}: {e}")))?;
    let TlsKeys {
        tls,
        ca_file,
        server_name: _,
    } = tls_keys(
        RawTlsKeys {
            tls: &p.tls,
            ca_file: &p.ca_file,
            server_name: &p.server_name,
        },
        &ctx,
        files,
        src,
    )?;
    let (interval, timeout) = round_timing(&p, inherited, &ctx, src)?;
    let warn_cert = src.duration(
        &p.warn_cert,
        &format!("{ctx}: warn_cert"),
        crate::probe::DEFAULT_WARN_CERT,
    )?;
    let mut labels = labels(p.labels, &ctx, src)?;
    if let Some(v) = inherited.vantage {
        labels.insert("vantage".to_string(), v.to_string());
    }
    let notify = notify(p.notify, inherited.alerting, &ctx, src)?;
    let raw_posture = posture::RawPosture {
        dane: p.dane,
        mta_sts: p.mta_sts,
        dnssec_trust_anchor: p.dnssec_trust_anchor,
        fcrdns: p.fcrdns,
    };
    let posture = posture::parse(raw_posture, &target, &ctx, files, src)?;
    let raw_mail = mail_flow::RawMailFlow {
        auth: p.auth,
        mail_from: p.mail_from,
        rcpt: p.rcpt,
        delivery: p.delivery,
    };
    let mail = mail_flow::parse(raw_mail, &name, &ctx, src)?;
    if let Some(delivery) = mail.as_ref().and_then(|m| m.delivery.as_ref()) {
        if timeout + delivery.timeout >= interval {
            let span = p.interval.as_ref().map_or(p.name.span(), |s| s.span());
            return Err(src.at(
                span,
                format!(
                    "{ctx}: timeout {} plus delivery.timeout {} must be shorter than interval {}",
                    humantime::format_duration(timeout),
                    humantime::format_duration(delivery.timeout),
                    humantime::format_duration(interval)
                ),
            ));
        }
    }
    Ok(ProbeConfig {
        name,
        target,
        tls,
        insecure: p.insecure.unwrap_or(false),
        ca_file,
        server_name: p.server_name.map(Spanned::into_inner),
        noop: p.noop.unwrap_or(true),
        interval,
        timeout,
        warn_cert,
        labels,
        notify,
        posture,
        mail,
    })
}

fn unique_name(
    name: &Spanned<String>,
    taken: &std::collections::HashSet<String>,
    src: &Source<'_>,
) -> Result<String, ConfigError> {
    let text = name.get_ref();
    if !super::values::is_simple_name(text) {
        return Err(src.at(
            name.span(),
            format!("probe name {text:?}: use letters, digits, '-', '_' and '.'"),
        ));
    }
    if taken.contains(text) {
        return Err(src.at(
            name.span(),
            format!("probe name {text:?} is used twice; names must be unique"),
        ));
    }
    Ok(text.clone())
}

/// The interval and timeout, the timeout shorter than the interval.
fn round_timing(
    p: &RawProbe,
    inherited: &Inherited<'_>,
    ctx: &str,
    src: &Source<'_>,
) -> Result<(Duration, Duration), ConfigError> {
    let interval = src.interval(&p.interval, &format!("{ctx}: interval"), inherited.interval)?;
    let timeout = src.duration(&p.timeout, &format!("{ctx}: timeout"), inherited.timeout)?;
    if timeout >= interval {
        let span = p
            .timeout
            .as_ref()
            .or(p.interval.as_ref())
            .map(|s| s.span())
            .unwrap_or(p.name.span());
        return Err(src.at(
            span,
            format!(
                "{ctx}: timeout {} must be shorter than interval {}",
                humantime::format_duration(timeout),
                humantime::format_duration(interval)
            ),
        ));
    }
    Ok((interval, timeout))
}

fn labels(
    labels: Option<Spanned<BTreeMap<String, String>>>,
    ctx: &str,
    src: &Source<'_>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let Some(labels) = labels else {
        return Ok(BTreeMap::new());
    };
    let span = labels.span();
    let labels = labels.into_inner();
    for key in labels.keys() {
        if let Some(problem) = label_name_problem(key) {
            return Err(src.at(span.clone(), format!("{ctx}: label {key:?} {problem}")));
        }
    }
    Ok(labels)
}

fn notify(
    notify: Option<Spanned<Vec<String>>>,
    alerting: &AlertingConfig,
    ctx: &str,
    src: &Source<'_>,
) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(list) = notify else {
        return Ok(None);
    };
    for wanted in list.get_ref() {
        if !alerting.notifiers.iter().any(|n| &n.name == wanted) {
            return Err(src.at(
                list.span(),
                format!("{ctx}: notify: there is no notifier named {wanted:?} under [alerting]"),
            ));
        }
    }
    Ok(Some(list.into_inner()))
}

/// Why `key` cannot be a user label, if it cannot.
pub(crate) fn label_name_problem(key: &str) -> Option<&'static str> {
    let mut chars = key.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Some("is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)");
    }
    if key.starts_with("__") {
        return Some("starts with __, which Prometheus reserves");
    }
    RESERVED_LABELS
        .contains(&key)
        .then_some("is set by smtpwatch itself")
}
