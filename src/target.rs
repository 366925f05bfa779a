//! What to probe: parsing `host[:port]`, `smtp://`, `submission://`, `smtps://` and `mx:domain`.
//!
//! A [`Target`] says where to connect and which [`TlsMode`] the scheme implies; resolving names to
//! addresses is [`crate::resolve`]'s job.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// A host: a DNS name (lower-cased, no trailing dot) or an IP literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, validated as LDH labels (underscores allowed for internal names).
    Name(String),
    /// An IPv4 or IPv6 literal; no lookup happens.
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Whether the target names one host or a mail domain whose MX hosts are all probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    /// Probe this host (every address it resolves to).
    Host,
    /// Resolve the domain's MX records and probe every host and every address.
    Mx,
}

/// How to use TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// STARTTLS when advertised, plaintext otherwise.
    Opportunistic,
    /// STARTTLS required: not advertised is a failure, never continue in plaintext.
    Starttls,
    /// TLS before the banner (port 465, `smtps://`).
    Implicit,
    /// Plaintext only.
    None,
}

impl TlsMode {
    /// The name used on the command line and in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Opportunistic => "opportunistic",
            TlsMode::Starttls => "starttls",
            TlsMode::Implicit => "implicit",
            TlsMode::None => "none",
        }
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A TLS mode name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown TLS mode {0:?} (expected opportunistic, starttls, implicit or none)")]
pub struct UnknownTlsMode(String);

impl FromStr for TlsMode {
    type Err = UnknownTlsMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "opportunistic" => Ok(TlsMode::Opportunistic),
            "starttls" => Ok(TlsMode::Starttls),
            "implicit" => Ok(TlsMode::Implicit),
            "none" => Ok(TlsMode::None),
            other => Err(UnknownTlsMode(other.to_string())),
        }
    }
}

/// A parsed probe target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// Host or MX.
    pub kind: TargetKind,
    /// The host (for [`TargetKind::Mx`], the mail domain).
    pub host: Host,
    /// TCP port.
    pub port: u16,
    /// The TLS mode the scheme or port implies when none is given explicitly.
    pub default_tls: TlsMode,
}

/// A target string that cannot be used, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target {input:?}: {reason}")]
pub struct TargetError {
    input: String,
    reason: TargetProblem,
}

/// What is wrong with a target string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetProblem {
    /// Nothing but spaces.
    #[error("empty")]
    Empty,
    /// A scheme other than the four known.
    #[error("unknown scheme (use smtp://, submission://, smtps:// or mx:)")]
    UnknownScheme,
    /// A path, user or query.
    #[error("only host and port are allowed (no path, user or query)")]
    NotHostPort,
    /// `mx:` with an IP address.
    #[error("mx: needs a mail domain, not an IP address")]
    MxOfAddress,
    /// `[` without `]`.
    #[error("unclosed '[' in IPv6 address")]
    UnclosedBracket,
    /// Brackets around something that is not IPv6.
    #[error("{0:?} is not IPv6")]
    NotIpv6(String),
    /// Something other than `:port` after `]`.
    #[error("junk after ']'")]
    JunkAfterBracket,
    /// Several colons without brackets.
    #[error("IPv6 addresses with a port need brackets: [::1]:25")]
    UnbracketedIpv6,
    /// Not a port number.
    #[error("port {0:?} is not a number from 1 to 65535")]
    BadPort(String),
    /// A port without a host.
    #[error("missing host")]
    MissingHost,
    /// `mx:` without a domain.
    #[error("mx: needs a mail domain, e.g. mx:example.com")]
    MissingDomain,
    /// A name over 253 characters.
    #[error("host name longer than 253 characters")]
    NameTooLong,
    /// A label that is empty, too long, or has characters outside LDH and `_`.
    #[error("{0:?} is not a valid host name label")]
    BadLabel(String),
}

impl Target {
    /// `host:port` for display (IPv6 in brackets), or `mx:domain` for MX targets.
    pub fn host_port(&self) -> String {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{}", self.port),
            host => format!("{host}:{}", self.port),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            TargetKind::Mx if self.port == 25 => write!(f, "mx:{}", self.host),
            TargetKind::Mx => write!(f, "mx:{}:{}", self.host, self.port),
            TargetKind::Host => f.write_str(&self.host_port()),
        }
    }
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let fail = |reason: TargetProblem| TargetError {
            input: input.to_string(),
            reason,
        };
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(fail(TargetProblem::Empty));
        }
        let lower = trimmed.to_ascii_lowercase();
        let (kind, scheme_port, scheme_tls, rest) = if let Some(rest) = lower.strip_prefix("mx:") {
            (TargetKind::Mx, 25, None, rest)
        } else if let Some(rest) = lower.strip_prefix("smtp://") {
            (TargetKind::Host, 25, None, rest)
        } else if let Some(rest) = lower.strip_prefix("submission://") {
            (TargetKind::Host, 587, Some(TlsMode::Starttls), rest)
        } else if let Some(rest) = lower.strip_prefix("smtps://") {
            (TargetKind::Host, 465, Some(TlsMode::Implicit), rest)
        } else if lower.contains("://") {
            return Err(fail(TargetProblem::UnknownScheme));
        } else {
            (TargetKind::Host, 25, None, lower.as_str())
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '@', '?', '#']) {
            return Err(fail(TargetProblem::NotHostPort));
        }
        let (host, port) = split_host_port(rest).map_err(|problem| match problem {
            TargetProblem::MissingHost if kind == TargetKind::Mx => {
                fail(TargetProblem::MissingDomain)
            }
            other => fail(other),
        })?;
        let port = port.unwrap_or(scheme_port);
        if kind == TargetKind::Mx && matches!(host, Host::Ip(_)) {
            return Err(fail(TargetProblem::MxOfAddress));
        }
        let default_tls = scheme_tls.unwrap_or(if port == 465 {
            TlsMode::Implicit
        } else {
            TlsMode::Opportunistic
        });
        Ok(Target {
            kind,
            host,
            port,
            default_tls,
        })
    }
}

fn split_host_port(rest: &str) -> Result<(Host, Option<u16>), TargetProblem> {
    if let Some(after) = rest.strip_prefix('[') {
        let (ip, tail) = after
            .split_once(']')
            .ok_or(TargetProblem::UnclosedBracket)?;
        let ip: std::net::Ipv6Addr = ip
            .parse()
            .map_err(|_| TargetProblem::NotIpv6(ip.to_string()))?;
        let port = match tail {
            "" => None,
            t => Some(parse_port(
                t.strip_prefix(':').ok_or(TargetProblem::JunkAfterBracket)?,
            )?),
        };
        return Ok((Host::Ip(IpAddr::V6(ip)), port));
    }
    // A bare IPv6 literal has several colons and cannot carry a port.
    if rest.matches(':').count() > 1 {
        let ip: IpAddr = rest.parse().map_err(|_| TargetProblem::UnbracketedIpv6)?;
        return Ok((Host::Ip(ip), None));
    }
    let (host, port) = match rest.split_once(':') {
        Some((h, p)) => (h, Some(parse_port(p)?)),
        None => (rest, None),
    };
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok((Host::Ip(ip), port));
    }
    Ok((Host::Name(validate_name(host)?), port))
}

fn parse_port(text: &str) -> Result<u16, TargetProblem> {
    match text.parse::<u16>() {
        Ok(0) | Err(_) => Err(TargetProblem::BadPort(text.to_string())),
        Ok(port) => Ok(port),
    }
}

fn validate_name(host: &str) -> Result<String, TargetProblem> {
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() {
        return Err(TargetProblem::MissingHost);
    }
    if name.len() > 253 {
        return Err(TargetProblem::NameTooLong);
    }
    for label in name.split('.') {
        let ok_chars = label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if label.is_empty() || label.len() > 63 || !ok_chars || label.starts_with('-') {
            return Err(TargetProblem::BadLabel(label.to_string()));
        }
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests;
