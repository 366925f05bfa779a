//! `[[module]]`: named probe settings for `/probe?module=NAME&target=…`, as blackbox_exporter's
//! modules are: `name`, `tls`, `ca_file`, `server_name`, `insecure`, `timeout`, `noop`. A
//! query's own parameters override its module's.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::files::{FileCache, Loaded};
use super::source::{ConfigError, Source};
use crate::probe::ProbeSettings;
use crate::target::TlsMode;
use crate::trust::LazyTrust;

/// One module, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeModule {
    /// What `module=` names.
    pub name: String,
    /// TLS mode (None: the target's default).
    pub tls: Option<TlsMode>,
    /// An extra CA, trusted beside the system roots (as a `[[probe]]`'s).
    pub ca_file: Option<Loaded<LazyTrust>>,
    /// SNI and verification name.
    pub server_name: Option<String>,
    /// Record but do not enforce certificate verification.
    pub insecure: bool,
    /// The probe's deadline (None: the agent's `timeout`; a scrape's timeout still bounds it).
    pub timeout: Option<Duration>,
    /// Send NOOP before QUIT (`false`: the dialogue of a blackbox_exporter SMTP module).
    pub noop: bool,
}

impl ProbeModule {
    /// `settings` (the agent's ad-hoc ones) with this module's applied.
    pub fn apply(&self, settings: &mut ProbeSettings) {
        settings.tls = self.tls;
        if let Some(ca) = &self.ca_file {
            settings.trust = Arc::clone(ca.value());
        }
        settings.server_name = self.server_name.clone();
        settings.insecure = self.insecure;
        if let Some(t) = self.timeout {
            settings.set_timeout(t);
        }
        settings.noop = self.noop;
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModule {
    name: Spanned<String>,
    tls: Option<Spanned<String>>,
    ca_file: Option<Spanned<PathBuf>>,
    server_name: Option<Spanned<String>>,
    insecure: Option<bool>,
    timeout: Option<Spanned<String>>,
    noop: Option<bool>,
}

/// Validates every `[[module]]` (names unique, each value as a `[[probe]]`'s).
pub(super) fn parse(
    raw: Vec<Spanned<RawModule>>,
    files: &mut FileCache,
    src: &Source<'_>,
) -> Result<Vec<ProbeModule>, ConfigError> {
    let at = |span: Range<usize>, message: String| src.at(span, message);
    let mut modules: Vec<ProbeModule> = Vec::with_capacity(raw.len());
    for m in raw {
        let m = m.into_inner();
        let name = m.name.get_ref().clone();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(at(
                m.name.span(),
                "module name must be letters, digits, '_', '-' or '.'".into(),
            ));
        }
        if modules.iter().any(|other| other.name == name) {
            return Err(at(
                m.name.span(),
                format!("module {name:?} is defined twice"),
            ));
        }
        let ctx = format!("module {name:?}");
        let keys = super::probe::tls_keys(
            super::probe::RawTlsKeys {
                tls: &m.tls,
                ca_file: &m.ca_file,
                server_name: &m.server_name,
            },
            &ctx,
            files,
            src,
        )?;
        let timeout = match &m.timeout {
            None => None,
            Some(_) => {
                Some(src.duration(&m.timeout, &format!("{ctx}: timeout"), Duration::ZERO)?)
            }
        };
        if let (Some(t), Some(raw)) = (timeout, &m.timeout) {
            if t.is_zero() || t > Duration::from_secs(300) {
                return Err(at(
                    raw.span(),
                    format!("{ctx}: timeout must be above 0 and at most 5m"),
                ));
            }
        }
        modules.push(ProbeModule {
            name,
            tls: keys.tls,
            ca_file: keys.ca_file,
            server_name: keys.server_name,
            insecure: m.insecure.unwrap_or(false),
            timeout,
            noop: m.noop.unwrap_or(true),
        });
    }
    Ok(modules)
}

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use std::path::Path;

    #[test]
    fn modules_load_and_bad_ones_are_located() {
        let good = "[[module]]\nname = \"tls\"\ntls = \"starttls\"\nserver_name = \"mx.example.com\"\ninsecure = true\ntimeout = \"3s\"\nnoop = false\n";
        let config = parse(good, Path::new("m.toml")).expect("valid");
        let m = &config.web.modules[0];
        assert_eq!((m.name.as_str(), m.insecure), ("tls", true));
        assert_eq!(m.timeout, Some(std::time::Duration::from_secs(3)));
        assert!(!m.noop, "noop = false is kept");
        let trust = std::sync::Arc::new(crate::trust::LazyTrust::new(Vec::new()));
        let mut settings = crate::probe::ProbeSettings::new(trust, "probe.test".into());
        m.apply(&mut settings);
        assert!(!settings.noop, "the module's noop reaches the probe");
        let plain = parse("[[module]]\nname = \"p\"\n", Path::new("m.toml")).expect("valid");
        assert!(
            plain.web.modules[0].noop,
            "NOOP is sent unless a module says otherwise"
        );
        for (text, wanted) in [
            (
                "[[module]]\nname = \"a\"\n[[module]]\nname = \"a\"\n",
                "m.toml:4:",
            ),
            ("[[module]]\nname = \"a\"\ntls = \"maybe\"\n", "m.toml:3:"),
            ("[[module]]\nname = \"a b\"\n", "m.toml:2:"),
            ("[[module]]\nname = \"a\"\ntimeout = \"10m\"\n", "m.toml:3:"),
            (
                "[[module]]\nname = \"a\"\nca_file = \"/nonexistent/ca.pem\"\n",
                "m.toml:3:",
            ),
            ("[[module]]\nname = \"a\"\nprober = \"smtp\"\n", "prober"),
        ] {
            let e = parse(text, Path::new("m.toml"))
                .expect_err(text)
                .to_string();
            assert!(e.contains(wanted), "{text}: {e}");
        }
    }
}
