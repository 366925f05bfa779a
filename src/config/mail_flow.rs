//! A `[[probe]]`'s mail-flow keys: `auth`, `mail_from`, `rcpt` and `delivery`, validated with
//! located errors, secrets read at load time (from `*_file` or `*_env`, never inline).
//!
//! ```toml
//! auth = { user = "monitor@example.com", password_file = "/etc/smtpwatch/monitor.pw" }
//! mail_from = "monitor@example.com"
//! rcpt = ["postmaster@example.com"]
//! [probe.delivery]
//! to = "monitor@example.com"
//! imap = "imaps://mail.example.com"   # user and password default to auth's
//! timeout = "2m"
//! warn_after = "30s"
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::secret;
use super::source::{ConfigError, Source};
use crate::probe::mail_flow::{
    check_address, identity_of, Auth, AuthMech, Delivery, MailFlow, Mailbox,
    DEFAULT_DELIVERY_TIMEOUT,
};
use crate::secret::Secret;

const PASSWORD_KEYS: [&str; 2] = ["password_file", "password_env"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    user: Spanned<String>,
    password_file: Option<Spanned<PathBuf>>,
    password_env: Option<Spanned<String>>,
    mech: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDelivery {
    to: Spanned<String>,
    imap: Spanned<String>,
    user: Option<Spanned<String>>,
    password_file: Option<Spanned<PathBuf>>,
    password_env: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    warn_after: Option<Spanned<String>>,
}

/// The mail-flow keys of one table, as read.
pub(super) struct RawMailFlow {
    pub auth: Option<Spanned<RawAuth>>,
    pub mail_from: Option<Spanned<String>>,
    pub rcpt: Option<Spanned<Vec<String>>>,
    pub delivery: Option<Spanned<RawDelivery>>,
}

/// Validates the keys; None when the table has none of them.
pub(super) fn parse(
    raw: RawMailFlow,
    probe: &str,
    ctx: &str,
    src: &Source<'_>,
) -> Result<Option<Arc<MailFlow>>, ConfigError> {
    let auth = match &raw.auth {
        None => None,
        Some(a) => {
            let a = a.get_ref();
            let password = one_secret(
                &a.password_file,
                &a.password_env,
                PASSWORD_KEYS,
                &format!("{ctx}: auth"),
                src,
            )?
            .ok_or_else(|| {
                src.at(
                    a.user.span(),
                    format!("{ctx}: auth needs password_file or password_env"),
                )
            })?;
            let mech = match &a.mech {
                None => AuthMech::Auto,
                Some(m) => m
                    .get_ref()
                    .parse()
                    .map_err(|e| src.at(m.span(), format!("{ctx}: auth.mech: {e}")))?,
            };
            Some(Auth {
                user: a.user.get_ref().clone(),
                password,
                mech,
            })
        }
    };
    if let Some(from) = &raw.mail_from {
        check_address(from.get_ref())
            .map_err(|e| src.at(from.span(), format!("{ctx}: mail_from: {e}")))?;
    }
    let rcpt = match &raw.rcpt {
        None => Vec::new(),
        Some(list) => {
            for r in list.get_ref() {
                check_address(r).map_err(|e| src.at(list.span(), format!("{ctx}: rcpt: {e}")))?;
            }
            list.get_ref().clone()
        }
    };
    let delivery = match &raw.delivery {
        None => None,
        Some(d) => Some(delivery(d, auth.as_ref(), probe, ctx, src)?),
    };
    let flow = MailFlow {
        auth,
        mail_from: raw.mail_from.map(Spanned::into_inner),
        rcpt,
        delivery,
    };
    Ok((!flow.is_empty()).then(|| Arc::new(flow)))
}

fn delivery(
    d: &Spanned<RawDelivery>,
    auth: Option<&Auth>,
    probe: &str,
    ctx: &str,
    src: &Source<'_>,
) -> Result<Delivery, ConfigError> {
    let span = d.span();
    let d = d.get_ref();
    let ctx = format!("{ctx}: delivery");
    check_address(d.to.get_ref()).map_err(|e| src.at(d.to.span(), format!("{ctx}.to: {e}")))?;
    let user = match (&d.user, auth) {
        (Some(user), _) => user.get_ref().clone(),
        (None, Some(auth)) => auth.user.clone(),
        (None, None) => {
            return Err(src.at(
                span,
                format!("{ctx}: set user (or the probe's auth) to log in to the mailbox"),
            ))
        }
    };
    let own = one_secret(&d.password_file, &d.password_env, PASSWORD_KEYS, &ctx, src)?;
    let password = match (own, auth) {
        (Some(p), _) => p,
        (None, Some(auth)) => auth.password.clone(),
        (None, None) => {
            return Err(src.at(
                span,
                format!("{ctx}: set password_file or password_env (or the probe's auth)"),
            ))
        }
    };
    let mailbox = Mailbox::parse_url(d.imap.get_ref(), user, password)
        .map_err(|e| src.at(d.imap.span(), format!("{ctx}.imap: {e}")))?;
    let timeout = src.duration(
        &d.timeout,
        &format!("{ctx}.timeout"),
        DEFAULT_DELIVERY_TIMEOUT,
    )?;
    if timeout.is_zero() {
        let at = d.timeout.as_ref().map_or(span.clone(), |t| t.span());
        return Err(src.at(at, format!("{ctx}.timeout must be more than zero")));
    }
    let warn_after = match &d.warn_after {
        None => None,
        Some(w) => {
            let value =
                src.duration(&d.warn_after, &format!("{ctx}.warn_after"), Duration::ZERO)?;
            if value >= timeout {
                return Err(src.at(
                    w.span(),
                    format!("{ctx}.warn_after must be shorter than its timeout"),
                ));
            }
            Some(value)
        }
    };
    Ok(Delivery {
        to: d.to.get_ref().clone(),
        mailbox,
        timeout,
        warn_after,
        identity: identity_of(&[probe, d.to.get_ref()]),
    })
}

/// A secret from at most one of a `*_file` and a `*_env` key, named `keys` in messages (None
/// when neither is given).
pub(super) fn one_secret(
    file: &Option<Spanned<PathBuf>>,
    env: &Option<Spanned<String>>,
    keys: [&str; 2],
    ctx: &str,
    src: &Source<'_>,
) -> Result<Option<Secret>, ConfigError> {
    let [file_key, env_key] = keys;
    match (file, env) {
        (Some(_), Some(env)) => Err(src.at(
            env.span(),
            format!("{ctx}: give either {file_key} or {env_key}, not both"),
        )),
        (Some(file), None) => secret::read_secret_file(file.get_ref())
            .map(Some)
            .map_err(|e| src.at(file.span(), format!("{ctx}: {file_key}: {e}"))),
        (None, Some(env)) => secret::read_secret_env(env.get_ref())
            .map(Some)
            .map_err(|e| src.at(env.span(), format!("{ctx}: {env_key}: {e}"))),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests;
