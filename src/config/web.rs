//! What the agent's HTTP surface lets clients do (`[agent] enable_lifecycle`, `allowed_hosts`,
//! `[agent.probe_endpoint]`): the browser-facing protections and the ad-hoc probe's limits.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;
use toml::Spanned;

use super::source::{ConfigError, Source};
use crate::target::{Host, Target, TargetKind};

/// The HTTP surface's rules.
#[derive(Debug, Clone, PartialEq)]
pub struct WebConfig {
    /// `POST /-/reload` is allowed (Prometheus' `--web.enable-lifecycle`); else 403.
    pub enable_lifecycle: bool,
    /// The `Host` header values accepted (host part; `*.` prefixes allowed). None: any host.
    pub allowed_hosts: Option<Vec<String>>,
    /// `/probe`.
    pub probe_endpoint: ProbeEndpoint,
    /// The exporter-toolkit web configuration (TLS, basic auth), checked at load and re-read
    /// by the server when it changes.
    pub web_config_file: Option<std::path::PathBuf>,
    /// `[[module]]`s for `/probe?module=NAME`.
    pub modules: Vec<super::modules::ProbeModule>,
}

/// The ad-hoc probe endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeEndpoint {
    /// Whether `/probe` answers at all (404 otherwise).
    pub enabled: bool,
    /// What it may probe (empty: anything).
    pub allow: Vec<AllowRule>,
    /// Ad-hoc probes at once; beyond, 503.
    pub max_concurrent: usize,
}

/// One entry of `allow`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowRule {
    /// An address range (`192.0.2.0/24`, `2001:db8::/32`, a bare address): IP-literal targets.
    Cidr(IpAddr, u8),
    /// A host name, or `*.domain` for any name below it: host-name targets.
    Host(String),
    /// `mx:domain` (or `mx:*.domain`): `mx:` targets.
    Mx(String),
}

/// The default `max_concurrent`.
pub const DEFAULT_PROBE_CONCURRENCY: usize = 8;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbeEndpoint {
    enabled: Option<bool>,
    allow: Option<Vec<Spanned<String>>>,
    max_concurrent: Option<Spanned<i64>>,
}

/// The raw keys of `[agent]` this module reads.
pub(super) struct RawWeb<'a> {
    pub enable_lifecycle: Option<bool>,
    pub allowed_hosts: &'a Option<Vec<Spanned<String>>>,
    pub probe_endpoint: &'a Option<RawProbeEndpoint>,
    pub web_config_file: &'a Option<Spanned<std::path::PathBuf>>,
}

pub(super) fn parse(
    raw: RawWeb<'_>,
    listen: SocketAddr,
    src: &Source<'_>,
) -> Result<WebConfig, ConfigError> {
    let allowed_hosts = match raw.allowed_hosts {
        Some(hosts) => Some(
            hosts
                .iter()
                .map(|h| {
                    h.get_ref()
                        .trim()
                        .trim_end_matches('.')
                        .to_ascii_lowercase()
                })
                .collect(),
        ),
        // Listening on loopback, only local names can reach the agent legitimately: a page
        // on another site that rebinds its name to 127.0.0.1 sends its own Host.
        None if listen.ip().is_loopback() => Some(
            ["localhost", "127.0.0.1", "::1", "[::1]"]
                .iter()
                .map(|h| h.to_string())
                .chain([listen.ip().to_string()])
                .collect(),
        ),
        None => None,
    };
    let endpoint = raw.probe_endpoint.as_ref();
    let mut allow = Vec::new();
    for rule in endpoint
        .and_then(|e| e.allow.as_ref())
        .into_iter()
        .flatten()
    {
        let parsed = allow_rule(rule.get_ref()).ok_or_else(|| {
            src.at(
                rule.span(),
                format!(
                    "agent.probe_endpoint.allow: {:?} is not a CIDR, host pattern or mx:domain",
                    rule.get_ref()
                ),
            )
        })?;
        allow.push(parsed);
    }
    let max_concurrent = src.count(
        &endpoint.and_then(|e| e.max_concurrent.clone()),
        "agent.probe_endpoint.max_concurrent",
        1,
        DEFAULT_PROBE_CONCURRENCY,
    )?;
    let web_config_file = match raw.web_config_file {
        None => None,
        Some(file) => {
            let path = super::secret::expand_systemd_dirs(file.get_ref())
                .map_err(|e| src.at(file.span(), format!("agent.web_config_file: {e}")))?;
            super::web_file::load(&path)
                .map_err(|e| src.at(file.span(), format!("agent.web_config_file: {e}")))?;
            Some(path)
        }
    };
    Ok(WebConfig {
        web_config_file,
        // Filled in by the caller: `[[module]]` is a table of its own.
        modules: Vec::new(),
        enable_lifecycle: raw.enable_lifecycle.unwrap_or(false),
        allowed_hosts,
        probe_endpoint: ProbeEndpoint {
            enabled: endpoint.and_then(|e| e.enabled).unwrap_or(true),
            allow,
            max_concurrent,
        },
    })
}

fn allow_rule(text: &str) -> Option<AllowRule> {
    let text = text.trim().to_ascii_lowercase();
    if let Some(domain) = text.strip_prefix("mx:") {
        return valid_pattern(domain).then(|| AllowRule::Mx(domain.trim_end_matches('.').into()));
    }
    let (ip, prefix) = match text.split_once('/') {
        Some((ip, prefix)) => (ip, Some(prefix)),
        None => (text.as_str(), None),
    };
    if let Ok(ip) = ip.trim_matches(['[', ']']).parse::<IpAddr>() {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        };
        return Some(AllowRule::Cidr(ip, prefix));
    }
    (prefix.is_none() && valid_pattern(&text))
        .then(|| AllowRule::Host(text.trim_end_matches('.').into()))
}

fn valid_pattern(pattern: &str) -> bool {
    let name = pattern.strip_prefix("*.").unwrap_or(pattern);
    !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(domain) => name
            .strip_suffix(domain)
            .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        None => pattern == name,
    }
}

fn in_range(range: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    let (range, ip, bits) = match (range, ip) {
        (IpAddr::V4(r), IpAddr::V4(i)) => (u32::from(r) as u128, u32::from(i) as u128, 32),
        (IpAddr::V6(r), IpAddr::V6(i)) => (u128::from(r), u128::from(i), 128),
        _ => return false,
    };
    let shift = bits - u32::from(prefix);
    shift >= 128 || (range >> shift) == (ip >> shift)
}

impl ProbeEndpoint {
    /// Whether `/probe` may probe `target`.
    pub fn allows(&self, target: &Target) -> bool {
        if self.allow.is_empty() {
            return true;
        }
        self.allow
            .iter()
            .any(|rule| match (rule, target.kind, &target.host) {
                (AllowRule::Cidr(range, prefix), TargetKind::Host, Host::Ip(ip)) => {
                    in_range(*range, *prefix, *ip)
                }
                (AllowRule::Host(pattern), TargetKind::Host, Host::Name(name)) => {
                    name_matches(pattern, name)
                }
                (AllowRule::Mx(pattern), TargetKind::Mx, Host::Name(domain)) => {
                    name_matches(pattern, domain)
                }
                _ => false,
            })
    }
}

impl WebConfig {
    /// Whether a request with this `Host` header may be served.
    pub fn host_allowed(&self, host: Option<&str>) -> bool {
        let Some(allowed) = &self.allowed_hosts else {
            return true;
        };
        let Some(host) = host else {
            return false;
        };
        let host = host.trim().to_ascii_lowercase();
        // The host part: `[::1]:9925`, `127.0.0.1:9925`, `name:9925`, `name`.
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h),
        };
        let name = name.trim_end_matches('.');
        allowed.iter().any(|pattern| {
            let pattern = pattern.trim_matches(['[', ']']);
            name_matches(pattern, name)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(rules: &[&str]) -> ProbeEndpoint {
        ProbeEndpoint {
            enabled: true,
            allow: rules.iter().map(|r| allow_rule(r).expect("rule")).collect(),
            max_concurrent: 1,
        }
    }

    fn target(text: &str) -> Target {
        text.parse().expect("target")
    }

    #[test]
    fn allow_rules_match_their_kind_of_target_only() {
        let e = endpoint(&[
            "192.0.2.0/24",
            "2001:db8::/32",
            "*.mail.test",
            "mx:example.test",
        ]);
        assert!(e.allows(&target("192.0.2.7:25")));
        assert!(!e.allows(&target("192.0.3.7:25")));
        assert!(e.allows(&target("[2001:db8::25]:25")));
        assert!(e.allows(&target("mx1.mail.test")));
        assert!(!e.allows(&target("mail.test")), "*. needs a label before");
        assert!(!e.allows(&target("evilmail.test")));
        assert!(e.allows(&target("mx:example.test")));
        assert!(
            !e.allows(&target("example.test")),
            "mx: rules are for mx: targets"
        );
        assert!(!e.allows(&target("mx:other.test")));
        assert!(endpoint(&[]).allows(&target("anything.test")));
        for bad in ["192.0.2.0/33", "a..b", "mx:", "*.", "x/y"] {
            assert_eq!(allow_rule(bad), None, "{bad}");
        }
    }

    #[test]
    fn hosts_are_matched_without_their_port() {
        let web = WebConfig {
            enable_lifecycle: false,
            allowed_hosts: Some(vec!["localhost".into(), "::1".into(), "127.0.0.1".into()]),
            probe_endpoint: endpoint(&[]),
            web_config_file: None,
            modules: Vec::new(),
        };
        for ok in [
            "localhost:9925",
            "127.0.0.1:9925",
            "[::1]:9925",
            "LOCALHOST",
        ] {
            assert!(web.host_allowed(Some(ok)), "{ok}");
        }
        for refused in ["evil.test", "evil.test:9925", "127.0.0.1.evil.test", ""] {
            assert!(!web.host_allowed(Some(refused)), "{refused}");
        }
        assert!(!web.host_allowed(None));
    }
}
