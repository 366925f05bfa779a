//! An ad-hoc `/probe?target=…` request: its query, validated and turned into what to probe and
//! how, the blackbox_exporter way (the scrape's own timeout bounds the probe).

use std::time::Duration;

use axum::http::HeaderMap;
use serde::Deserialize;

use crate::config::modules::ProbeModule;
use crate::probe::ProbeSettings;
use crate::target::{Target, TargetError, TlsMode, UnknownTlsMode};
use crate::trust::ServerNameError;

/// Query of `/probe`. An unknown parameter is a 400, not silently ignored: a typo (`ca_file`,
/// `modul`) must not probe with other settings than the caller meant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeQuery {
    target: Option<String>,
    tls: Option<String>,
    format: Option<String>,
    server_name: Option<String>,
    insecure: Option<String>,
    module: Option<String>,
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
    /// `insecure` is not a boolean.
    #[error("insecure={0:?}: use 1, true, 0 or false")]
    Insecure(String),
    /// `module` names no `[[module]]`.
    #[error("unknown module {0:?} (define it with [[module]] in the configuration)")]
    Module(String),
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
        modules: &[ProbeModule],
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
        if let Some(name) = &self.module {
            let module = modules
                .iter()
                .find(|m| &m.name == name)
                .ok_or_else(|| BadQuery::Module(crate::escape::escape_str(name)))?;
            module.apply(&mut settings);
        }
        // The query's own parameters override its module's.
        if tls.is_some() {
            settings.tls = tls;
        }
        match self.insecure.as_deref() {
            None => {}
            Some("0") | Some("false") => settings.insecure = false,
            Some("1") | Some("true") | Some("") => settings.insecure = true,
            Some(other) => return Err(BadQuery::Insecure(crate::escape::escape_str(other))),
        }
        if self.server_name.is_some() {
            settings.server_name = self.server_name;
        }
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
    if !(secs.is_finite() && secs > 0.0) {
        return None;
    }
    // Answer half a second early; a huge value (1e300) is no limit, not a panic.
    Duration::try_from_secs_f64((secs - 0.5).max(0.5)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(value: &str) -> Option<Duration> {
        let mut headers = HeaderMap::new();
        let value = value.parse().expect("header value");
        headers.insert("x-prometheus-scrape-timeout-seconds", value);
        scrape_timeout(&headers)
    }

    #[test]
    fn any_scrape_timeout_header_gives_a_limit_or_none_never_a_panic() {
        assert_eq!(limit("10"), Some(Duration::from_millis(9500)));
        assert_eq!(limit("0.2"), Some(Duration::from_millis(500)));
        for hostile in [
            "1e300",
            "inf",
            "NaN",
            "-5",
            "0",
            "",
            "ten",
            "1e19",
            "18446744073709551616",
        ] {
            let got = limit(hostile);
            assert!(
                got.is_none_or(|d| d >= Duration::from_millis(500)),
                "{hostile}: {got:?}"
            );
        }
        assert_eq!(limit("1e300"), None);
    }
}
