//! The agent's configuration file (`probes.toml`): schema, defaults and validation.
//!
//! Parsing is strict (`deny_unknown_fields`) and every error names the file, the line and column,
//! the key, and what was expected, e.g.
//! `probes.toml:12:11: probe "mx1": timeout 90s must be shorter than interval 60s`.
//! `probes.example.toml` documents every key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub mod alerting;
pub mod posture;
pub mod secret;
mod source;
pub mod values;

pub use self::source::ConfigError;
use self::source::{key_at, Source};

pub use self::alerting::{AlertingConfig, NotifierConfig, NotifierKind};
use self::values::EhloName;
use crate::target::Target;
use crate::target::TlsMode;

/// Where the agent listens by default. 9925 sits in the Prometheus exporter range (9100-9999);
/// see the README on the choice.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9925";

/// The validated agent configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where the HTTP endpoints listen.
    pub listen: SocketAddr,
    /// EHLO name for every probe.
    pub ehlo_name: EhloName,
    /// Default probe interval.
    pub interval: Duration,
    /// Default probe timeout.
    pub timeout: Duration,
    /// Most probes in flight at once.
    pub concurrency: usize,
    /// DNS servers for every lookup (empty: the system resolver).
    pub dns_servers: Vec<SocketAddr>,
    /// Where firing alerts are persisted across restarts (None: not persisted).
    pub state_file: Option<PathBuf>,
    /// The probes, in file order.
    pub probes: Vec<ProbeConfig>,
    /// Alert thresholds, delivery and notifiers.
    pub alerting: AlertingConfig,
}

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
    /// Extra trusted CA.
    pub ca_file: Option<PathBuf>,
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
    pub posture: Option<posture::ProbePosture>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    agent: RawAgent,
    #[serde(default)]
    probe: Vec<RawProbe>,
    #[serde(default)]
    alerting: alerting::RawAlerting,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawAgent {
    listen: Option<Spanned<String>>,
    ehlo_name: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    concurrency: Option<Spanned<i64>>,
    dns_servers: Option<Vec<Spanned<String>>>,
    state_file: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
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
}

/// Label names the agent sets itself; user labels may not reuse them.
const RESERVED_LABELS: &[&str] = &[
    "probe", "target", "address", "phase", "reason", "le", "version", "cipher", "job", "instance",
];

/// Reads and validates `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: path.to_path_buf(),
        position: None,
        message: format!("cannot read: {e}"),
    })?;
    parse(&text, path)
}

/// Validates configuration text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let src = Source { text, path };
    let at = |span: Range<usize>, message: String| src.at(span, message);
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let key = key_at(text, span.start)
            .map(|k| format!("key `{k}`: "))
            .unwrap_or_default();
        at(span, format!("{key}{}", e.message().trim()))
    })?;

    let agent = raw.agent;
    let listen = match &agent.listen {
        None => DEFAULT_LISTEN
            .parse()
            .map_err(|_| at(0..0, "bad default listen".into()))?,
        Some(l) => l.get_ref().parse().map_err(|_| {
            at(
                l.span(),
                format!("agent.listen {:?} is not an IP:PORT address", l.get_ref()),
            )
        })?,
    };
    let ehlo_name = match &agent.ehlo_name {
        None => EhloName::this_host(),
        Some(n) => n
            .get_ref()
            .parse()
            .map_err(|e| at(n.span(), format!("agent.ehlo_name {e}")))?,
    };
    let duration = |value: &Option<Spanned<String>>, what: &str, default: Duration| {
        src.duration(value, what, default)
    };
    let interval = duration(&agent.interval, "agent.interval", Duration::from_secs(60))?;
    let timeout = duration(
        &agent.timeout,
        "agent.timeout",
        crate::probe::DEFAULT_TIMEOUT,
    )?;
    let concurrency = src.count(&agent.concurrency, "agent.concurrency", 1, 256)?;
    let mut dns_servers = Vec::new();
    for server in agent.dns_servers.iter().flatten() {
        let parsed = values::parse_dns_server(server.get_ref())
            .map_err(|e| at(server.span(), format!("agent.dns_servers: {e}")))?;
        dns_servers.push(parsed);
    }

    let state_file = match &agent.state_file {
        None => None,
        Some(f) => Some(
            secret::expand_systemd_dirs(f.get_ref())
                .map_err(|e| at(f.span(), format!("agent.state_file: {e}")))?,
        ),
    };
    let alerting = alerting::parse(raw.alerting, &src)?;

    let mut probes: Vec<ProbeConfig> = Vec::new();
    for p in raw.probe {
        let name = p.name.get_ref().clone();
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid_name {
            return Err(at(
                p.name.span(),
                format!("probe name {name:?}: use letters, digits, '-', '_' and '.'"),
            ));
        }
        if probes.iter().any(|q| q.name == name) {
            return Err(at(
                p.name.span(),
                format!("probe name {name:?} is used twice; names must be unique"),
            ));
        }
        let ctx = format!("probe {name:?}");
        let target: Target = p
            .target
            .get_ref()
            .parse()
            .map_err(|e| at(p.target.span(), format!("{ctx}: {e}")))?;
        let tls = match &p.tls {
            None => None,
            Some(t) => Some(
                t.get_ref()
                    .parse::<TlsMode>()
                    .map_err(|e| at(t.span(), format!("{ctx}: tls: {e}")))?,
            ),
        };
        if let Some(name) = &p.server_name {
            crate::trust::server_name(name.get_ref())
                .map_err(|e| at(name.span(), format!("{ctx}: server_name: {e}")))?;
        }
        if let Some(ca) = &p.ca_file {
            crate::trust::Trust::load(std::slice::from_ref(ca.get_ref()))
                .map_err(|e| at(ca.span(), format!("{ctx}: ca_file: {e}")))?;
        }
        let p_interval = duration(&p.interval, &format!("{ctx}: interval"), interval)?;
        let p_timeout = duration(&p.timeout, &format!("{ctx}: timeout"), timeout)?;
        if p_timeout >= p_interval {
            let span = p
                .timeout
                .as_ref()
                .or(p.interval.as_ref())
                .map(|s| s.span())
                .unwrap_or(p.name.span());
            return Err(at(
                span,
                format!(
                    "{ctx}: timeout {} must be shorter than interval {}",
                    humantime::format_duration(p_timeout),
                    humantime::format_duration(p_interval)
                ),
            ));
        }
        let warn_cert = duration(
            &p.warn_cert,
            &format!("{ctx}: warn_cert"),
            crate::probe::DEFAULT_WARN_CERT,
        )?;
        let labels = match p.labels {
            None => BTreeMap::new(),
            Some(labels) => {
                let span = labels.span();
                let labels = labels.into_inner();
                for key in labels.keys() {
                    if let Some(problem) = label_name_problem(key) {
                        return Err(at(span, format!("{ctx}: label {key:?} {problem}")));
                    }
                }
                labels
            }
        };
        let notify = match p.notify {
            None => None,
            Some(list) => {
                for wanted in list.get_ref() {
                    if !alerting.notifiers.iter().any(|n| &n.name == wanted) {
                        return Err(at(
                            list.span(),
                            format!("{ctx}: notify: there is no notifier named {wanted:?} under [alerting]"),
                        ));
                    }
                }
                Some(list.into_inner())
            }
        };
        let raw_posture = posture::RawPosture {
            dane: p.dane,
            mta_sts: p.mta_sts,
            dnssec_trust_anchor: p.dnssec_trust_anchor,
            fcrdns: p.fcrdns,
        };
        let posture = posture::parse(raw_posture, &target, &ctx, &src)?;
        probes.push(ProbeConfig {
            name,
            target,
            tls,
            insecure: p.insecure.unwrap_or(false),
            ca_file: p.ca_file.map(Spanned::into_inner),
            server_name: p.server_name.map(Spanned::into_inner),
            noop: p.noop.unwrap_or(true),
            interval: p_interval,
            timeout: p_timeout,
            warn_cert,
            labels,
            notify,
            posture,
        });
    }
    Ok(Config {
        listen,
        ehlo_name,
        interval,
        timeout,
        concurrency,
        dns_servers,
        state_file,
        probes,
        alerting,
    })
}

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

#[cfg(test)]
mod tests;
