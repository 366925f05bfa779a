//! An ad-hoc `/probe?target=…` request: its query, validated and turned into what to probe and
//! how, the blackbox_exporter way (the scrape's own timeout bounds the probe).

use std::time::Duration;

use axum::http::HeaderMap;
use serde::Deserialize;

use crate::probe::ProbeSettings;
use crate::target::{Target, TargetError, TlsMode, UnknownTlsMode};
use crate::trust::ServerNameError;

/// Query of `/probe`.
#[derive(Debug, Deserialize)]
pub struct ProbeQuery {
    target: Option<String>,
    tls: Option<String>,
    format: Option<String>,
    server_name: Option<String>,
    insecure: Option<bool>,
}

/// A query that cannot be served (400).
#[derive(Debug, thiserror::Error)]
pub enum BadQuery {
    /// No `target`, or an empty one.
    #[error("missing parameter: target")]
    MissingTarget,
    /// `target` does not parse.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// `tls` is not a mode.
    #[error(transparent)]
    Tls(#[from] UnknownTlsMode),
    /// `format` is neither `prometheus` nor `json`.
    #[error("unknown format {0:?} (prometheus or json)")]
    Format(String),
    /// `server_name` cannot be used for SNI.
    #[error("server_name: {0}")]
    ServerName(#[from] ServerNameError),
}

/// What one request probes, how, and how it wants the answer.
pub struct AdhocProbe {
    /// The target.
    pub target: Target,
    /// The agent's ad-hoc settings with the query's overrides.
    pub settings: ProbeSettings,
    /// JSON lines instead of the Prometheus text format.
    pub json: bool,
}

impl ProbeQuery {
    /// The probe this query asks for, on top of the agent's `base` settings; the probe ends
    /// before Prometheus stops waiting (`headers`' scrape timeout).
    pub fn into_probe(
        self,
        mut settings: ProbeSettings,
        headers: &HeaderMap,
    ) -> Result<AdhocProbe, BadQuery> {
        let raw_target = self
            .target
            .filter(|t| !t.trim().is_empty())
            .ok_or(BadQuery::MissingTarget)?;
        let target: Target = raw_target.parse()?;
        let tls = self.tls.as_deref().map(str::parse::<TlsMode>).transpose()?;
        let json = match self.format.as_deref() {
            None | Some("prometheus") => false,
            Some("json") => true,
            Some(other) => return Err(BadQuery::Format(other.to_string())),
        };
        if let Some(name) = &self.server_name {
            crate::trust::server_name(name)?;
        }
        settings.tls = tls;
        settings.insecure = self.insecure.unwrap_or(false);
        settings.server_name = self.server_name;
        if let Some(limit) = scrape_timeout(headers) {
            settings.set_timeout(settings.timeout.min(limit));
        }
        Ok(AdhocProbe {
            target,
            settings,
            json,
        })
    }
}

/// Prometheus tells exporters how long it will wait; answer within that.
fn scrape_timeout(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get("x-prometheus-scrape-timeout-seconds")?
        .to_str()
        .ok()?;
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs > 0.0).then(|| Duration::from_secs_f64((secs - 0.5).max(0.5)))
}
