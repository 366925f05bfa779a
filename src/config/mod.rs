//! The agent's configuration file (`probes.toml`): schema, defaults and validation.
//!
//! Parsing is strict (`deny_unknown_fields`) and every error names the file, the line and column,
//! the key, and what was expected, e.g.
//! `probes.toml:12:11: probe "mx1": timeout 90s must be shorter than interval 60s`.
//! `probes.example.toml` documents every key.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::de::{DeValue, ValueDeserializer};
use toml::Spanned;

pub mod alerting;
pub mod files;
mod hints;
mod mail_flow;
pub mod modules;
pub mod notifiers;
pub mod posture;
pub mod probe;
pub mod secret;
mod source;
pub mod values;
pub mod web;
pub mod web_file;

pub use self::source::ConfigError;
use self::source::{key_at, without_values, Source};

pub use self::alerting::{AlertingConfig, NotifierConfig, NotifierKind};
use self::files::FileCache;
pub use self::probe::ProbeConfig;
use self::values::EhloName;

/// Where the agent listens by default. 9925 sits in the Prometheus exporter range (9100-9999);
/// see the README on the choice.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9925";

/// How long history's aggregates are kept unless `[agent] history_retention` says otherwise.
pub const DEFAULT_HISTORY_RETENTION: Duration = Duration::from_secs(30 * 86_400);

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
    /// The history database (`[agent] history_file`; None: no history).
    pub history_file: Option<PathBuf>,
    /// How long history's aggregates are kept (`history_retention`, default 30 d).
    pub history_retention: Duration,
    /// This agent's shard of a fleet (`[agent] shard = "I/N"`; `run --shard` and
    /// `SMTPWATCH_SHARD` take precedence).
    pub shard: Option<crate::shard::Shard>,
    /// Where this agent probes from (`[agent] vantage`): a `vantage` label on every
    /// per-address series and alert.
    pub vantage: Option<String>,
    /// Probes of the file that other shards own (set by the agent): their alerts are handed
    /// over, not resolved, when this shard stops running them.
    pub handed_over: Vec<String>,
    /// The probes, in file order (shared with the agent's jobs, not copied).
    pub probes: Vec<Arc<ProbeConfig>>,
    /// Alert thresholds, delivery and notifiers.
    pub alerting: AlertingConfig,
    /// What the HTTP surface lets clients do.
    pub web: web::WebConfig,
    /// Per-address latency histograms on /metrics (`[agent] histograms`; off: last-value
    /// gauges only, at most about 25 series per address).
    pub histograms: bool,
}

/// Everything but the `[[probe]]` tables, which are deserialized one at a time.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    agent: RawAgent,
    /// Taken out before; named here so that a misspelt table's error lists it.
    #[serde(default, rename = "probe")]
    _probe: serde::de::IgnoredAny,
    #[serde(default)]
    alerting: alerting::RawAlerting,
    #[serde(default, rename = "module")]
    modules: Vec<Spanned<modules::RawModule>>,
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
    history_file: Option<Spanned<PathBuf>>,
    history_retention: Option<Spanned<String>>,
    shard: Option<Spanned<String>>,
    vantage: Option<Spanned<String>>,
    enable_lifecycle: Option<bool>,
    histograms: Option<bool>,
    allowed_hosts: Option<Vec<Spanned<String>>>,
    probe_endpoint: Option<web::RawProbeEndpoint>,
    web_config_file: Option<Spanned<PathBuf>>,
}

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
    let toml_error = |e: toml::de::Error| {
        let span = e.span().unwrap_or(0..0);
        let key = key_at(text, span.start)
            .map(|k| format!("key `{k}`: "))
            .unwrap_or_default();
        at(
            span,
            format!(
                "{key}{}",
                hints::with_hint(&without_values(e.message().trim()))
            ),
        )
    };
    // The document, then its parts: the `[[probe]]` tables are taken out and each is
    // deserialized and validated on its own, its share of the document freed as it goes.
    // Deserializing the whole file into one structure held the document and every raw probe
    // at once: 258 MiB for 100,000 probes, seven times the configuration itself.
    let mut root = toml::de::DeTable::parse(text).map_err(toml_error)?;
    let root_span = root.span();
    let probe_tables = root.get_mut().remove("probe");
    let document = Spanned::new(root_span, DeValue::Table(root.into_inner()));
    let raw = RawConfig::deserialize(ValueDeserializer::from(document)).map_err(toml_error)?;
    let agent = parse_agent(&raw.agent, &src)?;
    let alerting = alerting::parse(raw.alerting, &src)?;
    let mut files = FileCache::default();
    let mut agent = agent;
    agent.web.modules = modules::parse(raw.modules, &mut files, &src)?;
    let probe_tables = match probe_tables {
        None => toml::de::DeArray::new(),
        Some(value) => match (value.span(), value.into_inner()) {
            (_, DeValue::Array(tables)) => tables,
            // Not an array of tables: serde's own message says what was expected.
            (span, other) => {
                let wrong = Spanned::new(span.clone(), other);
                return Err(
                    match Vec::<probe::RawProbe>::deserialize(ValueDeserializer::from(wrong)) {
                        Err(e) => toml_error(e),
                        Ok(_) => at(
                            span,
                            "`probe` must be an array of tables ([[probe]])".into(),
                        ),
                    },
                );
            }
        },
    };
    let mut probes: Vec<Arc<ProbeConfig>> = Vec::with_capacity(probe_tables.len());
    let mut taken = std::collections::HashSet::with_capacity(probe_tables.len());
    for table in probe_tables {
        let p = probe::RawProbe::deserialize(ValueDeserializer::from(table)).map_err(toml_error)?;
        let inherited = probe::Inherited {
            interval: agent.interval,
            timeout: agent.timeout,
            alerting: &alerting,
            taken: &taken,
            vantage: agent.vantage.as_deref(),
        };
        let parsed = probe::parse(p, &inherited, &mut files, &src)?;
        taken.insert(parsed.name.clone());
        probes.push(Arc::new(parsed));
    }
    Ok(Config {
        listen: agent.listen,
        ehlo_name: agent.ehlo_name,
        interval: agent.interval,
        timeout: agent.timeout,
        concurrency: agent.concurrency,
        dns_servers: agent.dns_servers,
        state_file: agent.state_file,
        history_file: agent.history_file,
        history_retention: agent.history_retention,
        shard: agent.shard,
        vantage: agent.vantage,
        handed_over: Vec::new(),
        probes,
        alerting,
        web: agent.web,
        histograms: raw.agent.histograms.unwrap_or(false),
    })
}

/// The `[agent]` table, validated.
struct AgentPart {
    listen: SocketAddr,
    ehlo_name: EhloName,
    interval: Duration,
    timeout: Duration,
    concurrency: usize,
    dns_servers: Vec<SocketAddr>,
    state_file: Option<PathBuf>,
    history_file: Option<PathBuf>,
    history_retention: Duration,
    shard: Option<crate::shard::Shard>,
    vantage: Option<String>,
    web: web::WebConfig,
}

fn parse_agent(agent: &RawAgent, src: &Source<'_>) -> Result<AgentPart, ConfigError> {
    let at = |span: Range<usize>, message: String| src.at(span, message);
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
    let interval = src.interval(&agent.interval, "agent.interval", Duration::from_secs(60))?;
    let timeout = src.duration(
        &agent.timeout,
        "agent.timeout",
        crate::probe::DEFAULT_TIMEOUT,
    )?;
    // Checked here, where the values are written: every probe that inherits both would
    // otherwise be reported at its own line for the [agent] table's mistake.
    if timeout >= interval {
        let span = agent
            .interval
            .as_ref()
            .or(agent.timeout.as_ref())
            .map_or(0..0, |v| v.span());
        return Err(at(
            span,
            format!(
                "agent.timeout {} must be shorter than agent.interval {}",
                humantime::format_duration(timeout),
                humantime::format_duration(interval)
            ),
        ));
    }
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
    let history_file = match &agent.history_file {
        None => None,
        Some(f) => Some(
            secret::expand_systemd_dirs(f.get_ref())
                .map_err(|e| at(f.span(), format!("agent.history_file: {e}")))?,
        ),
    };
    let history_retention = src.duration(
        &agent.history_retention,
        "agent.history_retention",
        DEFAULT_HISTORY_RETENTION,
    )?;
    if let Some(r) = &agent.history_retention {
        let days = history_retention.as_secs_f64() / 86_400.0;
        if !(1.0..=400.0).contains(&days) {
            return Err(at(
                r.span(),
                format!(
                    "agent.history_retention {} must be between 1d and 400d",
                    r.get_ref()
                ),
            ));
        }
    }
    let shard = match &agent.shard {
        None => None,
        Some(s) => Some(
            s.get_ref()
                .parse()
                .map_err(|e| at(s.span(), format!("agent.{e}")))?,
        ),
    };
    let vantage = match &agent.vantage {
        None => None,
        Some(v) => {
            let name = v.get_ref();
            if !is_vantage_name(name) {
                return Err(at(v.span(), format!("agent.{VANTAGE_RULE}")));
            }
            Some(name.clone())
        }
    };
    let raw_web = web::RawWeb {
        enable_lifecycle: agent.enable_lifecycle,
        allowed_hosts: &agent.allowed_hosts,
        probe_endpoint: &agent.probe_endpoint,
        web_config_file: &agent.web_config_file,
    };
    let web = web::parse(raw_web, listen, src)?;
    Ok(AgentPart {
        web,
        listen,
        ehlo_name,
        interval,
        timeout,
        concurrency,
        dns_servers,
        state_file,
        history_file,
        history_retention,
        shard,
        vantage,
    })
}

#[cfg(test)]
mod tests;

/// What a vantage name may be, for error messages (`[agent] vantage`, `run --vantage`).
pub const VANTAGE_RULE: &str = "vantage must be 1 to 64 letters, digits, '_', '-' or '.'";

/// Whether `name` can be a vantage: a label value that needs no escaping anywhere.
pub fn is_vantage_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}
