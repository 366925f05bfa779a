//! `check`'s mail-flow flags turned into a [`MailFlow`], checked before anything is sent.
//!
//! Passwords: `--auth-password-file` or `SMTPWATCH_AUTH_PASSWORD`; the IMAP login defaults to
//! the AUTH user and password (the usual case: one monitoring account), overridden by
//! `--imap-user` and `--imap-password-file` or `SMTPWATCH_IMAP_PASSWORD`. A file wins over the
//! environment.

use super::args::MailFlowArgs;
use crate::config::secret::{read_secret_env, read_secret_file};
use crate::probe::mail_flow::{check_address, identity_of, Auth, Delivery, MailFlow, Mailbox};
use crate::secret::Secret;

/// The variable `--auth-password-file` may be replaced by.
pub const AUTH_PASSWORD_ENV: &str = "SMTPWATCH_AUTH_PASSWORD";
/// The variable `--imap-password-file` may be replaced by.
pub const IMAP_PASSWORD_ENV: &str = "SMTPWATCH_IMAP_PASSWORD";

/// The mail-flow check the flags ask for (None: none); `Err` is a usage error.
pub fn mail_flow(args: &MailFlowArgs, target: &str) -> Result<Option<MailFlow>, String> {
    let auth_password = password(
        args.auth_password_file.as_deref(),
        AUTH_PASSWORD_ENV,
        "--auth-password-file",
    )?;
    let auth = match (&args.auth_user, &auth_password) {
        (Some(user), Some(password)) => Some(Auth {
            user: user.clone(),
            password: password.clone(),
            mech: args
                .auth_mech
                .parse()
                .map_err(|e| format!("--auth-mech: {e}"))?,
        }),
        (Some(_), None) => {
            return Err(format!(
                "--auth-user needs a password: --auth-password-file PATH or {AUTH_PASSWORD_ENV}"
            ))
        }
        (None, Some(_)) if args.auth_password_file.is_some() => {
            return Err("--auth-password-file needs --auth-user".into())
        }
        (None, _) => None,
    };
    if let Some(from) = &args.mail_from {
        check_address(from).map_err(|e| format!("--mail-from: {e}"))?;
    }
    for rcpt in &args.rcpt {
        check_address(rcpt).map_err(|e| format!("--rcpt: {e}"))?;
    }
    let delivery = match (&args.deliver_to, &args.imap) {
        (Some(to), Some(url)) => {
            check_address(to).map_err(|e| format!("--deliver-to: {e}"))?;
            let user = args
                .imap_user
                .clone()
                .or_else(|| args.auth_user.clone())
                .ok_or(
                    "--deliver-to needs --imap-user (or --auth-user) to log in to the mailbox",
                )?;
            let own = password(
                args.imap_password_file.as_deref(),
                IMAP_PASSWORD_ENV,
                "--imap-password-file",
            )?;
            let password = own.or(auth_password).ok_or_else(|| {
                format!(
                    "--deliver-to needs the mailbox password: --imap-password-file PATH, \
                     {IMAP_PASSWORD_ENV}, or the AUTH password"
                )
            })?;
            let mailbox =
                Mailbox::parse_url(url, user, password).map_err(|e| format!("--imap: {e}"))?;
            if args.delivery_timeout.is_zero() {
                return Err("--delivery-timeout must be more than zero".into());
            }
            Some(Delivery {
                to: to.clone(),
                mailbox,
                timeout: args.delivery_timeout,
                warn_after: None,
                identity: identity_of(&["check", target, to]),
            })
        }
        _ => None,
    };
    let flow = MailFlow {
        auth,
        mail_from: args.mail_from.clone(),
        rcpt: args.rcpt.clone(),
        delivery,
    };
    Ok((!flow.is_empty()).then_some(flow))
}

/// The password from `file`, else from `env` when set; None when neither is given.
fn password(
    file: Option<&std::path::Path>,
    env: &str,
    flag: &str,
) -> Result<Option<Secret>, String> {
    if let Some(path) = file {
        return read_secret_file(path)
            .map(Some)
            .map_err(|e| format!("{flag}: {e}"));
    }
    match std::env::var_os(env) {
        None => Ok(None),
        Some(_) => read_secret_env(env).map(Some).map_err(|e| e.to_string()),
    }
}
