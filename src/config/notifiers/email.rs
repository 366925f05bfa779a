//! An `[[alerting.email]]` table: the relay, its TLS mode, the envelope and AUTH.

use std::ops::Range;

use toml::Spanned;

use super::{EmailSettings, EmailTls, RawNotifier};
use crate::config::mail_flow::one_secret;
use crate::config::source::{ConfigError, Source};

/// An email notifier's relay (`host:port`, port 587 by default), TLS mode, envelope and
/// credentials.
pub(super) fn settings(
    raw: &RawNotifier,
    ctx: &str,
    src: &Source<'_>,
) -> Result<EmailSettings, ConfigError> {
    let whole = raw.name.span();
    let relay = raw
        .relay
        .as_ref()
        .ok_or_else(|| src.at(whole.clone(), format!("{ctx}: needs relay = \"host:port\"")))?;
    let (host, port) = match relay.get_ref().rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h.trim_matches(['[', ']']), p.parse::<u16>().ok()),
        _ => (relay.get_ref().trim_matches(['[', ']']), Some(587)),
    };
    let port = port.filter(|p| *p > 0).ok_or_else(|| {
        src.at(
            relay.span(),
            format!("{ctx}: relay: the port is not a number"),
        )
    })?;
    if host.is_empty() {
        return Err(src.at(relay.span(), format!("{ctx}: relay has no host")));
    }
    let tls = match raw.tls.as_ref().map(|t| t.get_ref().as_str()) {
        None | Some("starttls") => EmailTls::Starttls,
        Some("implicit") => EmailTls::Implicit,
        Some("none") => EmailTls::None,
        Some(other) => {
            let span = raw.tls.as_ref().map_or(whole.clone(), Spanned::span);
            return Err(src.at(
                span,
                format!("{ctx}: tls {other:?} is not starttls, implicit or none"),
            ));
        }
    };
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if tls == EmailTls::None && !loopback {
        let span = raw.tls.as_ref().map_or(whole.clone(), Spanned::span);
        return Err(src.at(
            span,
            format!("{ctx}: tls = \"none\" is only for a relay on loopback"),
        ));
    }
    let address = |a: &str, key: &str, span: Range<usize>| {
        crate::probe::mail_flow::check_address(a)
            .map_err(|e| src.at(span, format!("{ctx}: {key}: {e}")))
    };
    let from = raw
        .from
        .as_ref()
        .ok_or_else(|| src.at(whole.clone(), format!("{ctx}: needs from")))?;
    address(from.get_ref(), "from", from.span())?;
    let to = raw
        .to
        .as_ref()
        .ok_or_else(|| src.at(whole.clone(), format!("{ctx}: needs to = [...]")))?;
    if to.get_ref().is_empty() {
        return Err(src.at(to.span(), format!("{ctx}: to lists no address")));
    }
    for a in to.get_ref() {
        address(a, "to", to.span())?;
    }
    let keys = ["password_file", "password_env"];
    let password = one_secret(&raw.password_file, &raw.password_env, keys, ctx, src)?;
    if password.is_some() != raw.user.is_some() {
        return Err(src.at(
            whole,
            format!("{ctx}: give user and a password_* key together"),
        ));
    }
    let ca_pem = match &raw.ca_file {
        None => None,
        Some(f) => Some(
            std::fs::read(f.get_ref())
                .map_err(|e| src.at(f.span(), format!("{ctx}: ca_file: {e}")))?,
        ),
    };
    Ok(EmailSettings {
        host: host.to_string(),
        port,
        tls,
        from: from.get_ref().clone(),
        to: to.get_ref().clone(),
        user: raw.user.as_ref().map(|u| u.get_ref().clone()),
        password,
        ca_pem,
    })
}
