//! Value types shared by the configuration file and the command line, each parsed and validated
//! once: durations, DNS server addresses and the EHLO name.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

/// A value that does not parse, with what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// A zero duration.
    #[error("must be longer than zero")]
    ZeroDuration,
    /// A duration below zero (`-1s`).
    #[error("must be a positive duration (e.g. 10s), not negative")]
    NegativeDuration,
    /// Not a humantime duration.
    #[error("{0} (examples: 10s, 1500ms, 14d)")]
    Duration(String),
    /// Not `IP` or `IP:PORT`.
    #[error("{0:?} is not IP or IP:PORT")]
    DnsServer(String),
    /// An EHLO argument that is neither a domain nor an address literal.
    #[error("{0:?} is not a domain or [address] literal")]
    EhloName(String),
}

/// Whether `name` can name a probe or notifier: letters, digits, `-`, `_` and `.`, not empty
/// (it becomes a label value, a URL path segment and a state-file key).
pub fn is_simple_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Parses a humantime duration (`10s`, `1500ms`, `14d`); zero is refused.
pub fn parse_duration(text: &str) -> Result<Duration, ValueError> {
    if text.trim_start().starts_with('-') {
        return Err(ValueError::NegativeDuration);
    }
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err(ValueError::ZeroDuration),
        Ok(d) => Ok(d),
        Err(e) => Err(ValueError::Duration(e.to_string())),
    }
}

/// Parses `IP` (port 53) or `IP:PORT` (IPv6 in brackets).
pub fn parse_dns_server(text: &str) -> Result<SocketAddr, ValueError> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| ValueError::DnsServer(text.to_string()))
}

/// The name sent in EHLO/HELO. It goes on the wire, so only a domain or an address literal is
/// accepted: nothing that could smuggle a second command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EhloName(String);

impl EhloName {
    /// This machine's host name, or `localhost` when it is not a usable EHLO name.
    pub fn this_host() -> EhloName {
        let name = gethostname::gethostname()
            .to_string_lossy()
            .trim()
            .to_string();
        name.parse()
            .unwrap_or_else(|_| EhloName("localhost".into()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for EhloName {
    type Err = ValueError;

    fn from_str(name: &str) -> Result<Self, ValueError> {
        let literal = name.starts_with('[') && name.ends_with(']') && name.len() > 2;
        let domain = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        let valid = literal
            && name[1..name.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b']')
            || domain;
        if valid {
            Ok(EhloName(name.to_string()))
        } else {
            Err(ValueError::EhloName(name.to_string()))
        }
    }
}

impl fmt::Display for EhloName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ehlo_names_cannot_smuggle_commands() {
        for good in [
            "mail.example.com",
            "localhost",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
        ] {
            assert_eq!(
                good.parse::<EhloName>().map(|n| n.to_string()),
                Ok(good.to_string())
            );
        }
        for bad in [
            "",
            "a b",
            "x\r\nMAIL FROM:<a@b>",
            "[]",
            "[a]b]",
            "host_name",
        ] {
            assert!(bad.parse::<EhloName>().is_err(), "{bad:?}");
        }
        assert!(EhloName::this_host().as_str().parse::<EhloName>().is_ok());
    }

    #[test]
    fn durations_and_dns_servers_parse_or_explain() {
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("14d"), Ok(Duration::from_secs(14 * 86_400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon")
            .unwrap_err()
            .to_string()
            .contains("examples"));
        assert_eq!(
            parse_dns_server("127.0.0.1"),
            Ok("127.0.0.1:53".parse().unwrap())
        );
        assert_eq!(
            parse_dns_server("127.0.0.1:5353"),
            Ok("127.0.0.1:5353".parse().unwrap())
        );
        assert_eq!(
            parse_dns_server("[::1]:5353"),
            Ok("[::1]:5353".parse().unwrap())
        );
        assert!(parse_dns_server("dns.example").is_err());
    }
}
