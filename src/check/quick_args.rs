//! `check`'s command line read without clap, for the lines monitoring systems write: a target
//! and long flags, `--flag value` or `--flag=value`, and `-4`/`-6`.
//!
//! clap builds its whole model of `check` (29 arguments, their help and their checks) before it
//! reads a word: 0.2 M instructions and a third of a plaintext check (README "Performance"). This
//! reader accepts only what it can read exactly as clap does and gives up on anything else (a
//! short flag cluster, `--`, a repeated flag, a value that does not parse, `--help`, a missing
//! requirement), so the caller asks clap, whose answer, messages and exit codes stand. A test
//! compares the two on every flag, alone and in pairs, in both spellings.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::ValueEnum;

use super::args::{
    parse_dane_mode, parse_tls_mode, CheckArgs, Format, MailFlowArgs, DEFAULT_AUTH_MECH,
    DEFAULT_DANE, DEFAULT_DELIVERY_TIMEOUT, DEFAULT_TIMEOUT, DEFAULT_WARN_CERT,
};
use crate::config::values::{parse_dns_server, parse_duration};

/// `check`'s arguments from the words after `check`, or None where clap must decide.
pub fn read(words: &[OsString]) -> Option<CheckArgs> {
    let mut args = defaults()?;
    let mut target = None;
    let mut seen: Vec<&str> = Vec::new();
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let word = word.to_str()?;
        let Some(flag) = word.strip_prefix("--") else {
            match word {
                "-4" => {
                    once(&mut seen, word)?;
                    args.ipv4_only = true;
                }
                "-6" => {
                    once(&mut seen, word)?;
                    args.ipv6_only = true;
                }
                _ if word.starts_with('-') || target.is_some() => return None,
                _ => target = Some(word.to_owned()),
            }
            continue;
        };
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag, None),
        };
        if let Some(switch) = switch(&mut args, name) {
            if inline.is_some() {
                return None;
            }
            once(&mut seen, name)?;
            *switch = true;
            continue;
        }
        let value = match inline {
            Some(value) => value,
            None => words.next()?.to_str()?,
        };
        if value.is_empty() || value.starts_with('-') {
            return None;
        }
        if !repeatable(name) {
            once(&mut seen, name)?;
        }
        set(&mut args, name, value)?;
    }
    args.target = target?;
    // clap's own checks: -4 excludes -6, --deliver-to and --imap need each other.
    let delivery = (args.mail.deliver_to.is_some(), args.mail.imap.is_some());
    if (args.ipv4_only && args.ipv6_only) || delivery.0 != delivery.1 {
        return None;
    }
    Some(args)
}

/// Records `name`; None if it was given before (clap refuses that for a single-valued flag).
fn once<'a>(seen: &mut Vec<&'a str>, name: &'a str) -> Option<()> {
    if seen.contains(&name) {
        return None;
    }
    seen.push(name);
    Some(())
}

fn repeatable(name: &str) -> bool {
    matches!(name, "ca-file" | "dns-server" | "rcpt")
}

/// The field of a flag that takes no value.
fn switch<'a>(args: &'a mut CheckArgs, name: &str) -> Option<&'a mut bool> {
    Some(match name {
        "insecure" => &mut args.insecure,
        "no-noop" => &mut args.no_noop,
        "transcript" => &mut args.transcript,
        "no-posture" => &mut args.no_posture,
        "no-mta-sts" => &mut args.no_mta_sts,
        "no-fcrdns" => &mut args.no_fcrdns,
        _ => return None,
    })
}

/// Sets the flag `name` to `value`; None for an unknown flag or a value that does not parse.
fn set(args: &mut CheckArgs, name: &str, value: &str) -> Option<()> {
    let text = || Some(value.to_owned());
    let path = || Some(PathBuf::from(value));
    let mail = &mut args.mail;
    match name {
        "tls" => args.tls = Some(parse_tls_mode(value).ok()?),
        "ca-file" => args.ca_files.push(PathBuf::from(value)),
        "server-name" => args.server_name = text(),
        "ehlo" => args.ehlo = text(),
        "timeout" => args.timeout = parse_duration(value).ok()?,
        "warn-cert" => args.warn_cert = parse_duration(value).ok()?,
        "format" => args.format = Format::from_str(value, false).ok()?,
        "dns-server" => args.dns_servers.push(parse_dns_server(value).ok()?),
        "dane" => args.dane = parse_dane_mode(value).ok()?,
        "dnssec-trust-anchor" => args.dnssec_trust_anchor = path(),
        "auth-user" => mail.auth_user = text(),
        "auth-password-file" => mail.auth_password_file = path(),
        "auth-mech" => mail.auth_mech = value.to_owned(),
        "mail-from" => mail.mail_from = text(),
        "rcpt" => mail.rcpt.push(value.to_owned()),
        "deliver-to" => mail.deliver_to = text(),
        "imap" => mail.imap = text(),
        "imap-user" => mail.imap_user = text(),
        "imap-password-file" => mail.imap_password_file = path(),
        "delivery-timeout" => mail.delivery_timeout = parse_duration(value).ok()?,
        _ => return None,
    }
    Some(())
}

fn defaults() -> Option<CheckArgs> {
    Some(CheckArgs {
        target: String::new(),
        tls: None,
        insecure: false,
        ca_files: Vec::new(),
        server_name: None,
        ehlo: None,
        no_noop: false,
        timeout: parse_duration(DEFAULT_TIMEOUT).ok()?,
        ipv4_only: false,
        ipv6_only: false,
        warn_cert: parse_duration(DEFAULT_WARN_CERT).ok()?,
        format: Format::Text,
        transcript: false,
        dns_servers: Vec::new(),
        no_posture: false,
        dane: parse_dane_mode(DEFAULT_DANE).ok()?,
        no_mta_sts: false,
        no_fcrdns: false,
        dnssec_trust_anchor: None,
        mail: Box::new(MailFlowArgs {
            auth_user: None,
            auth_password_file: None,
            auth_mech: DEFAULT_AUTH_MECH.to_owned(),
            mail_from: None,
            rcpt: Vec::new(),
            deliver_to: None,
            imap: None,
            imap_user: None,
            imap_password_file: None,
            delivery_timeout: parse_duration(DEFAULT_DELIVERY_TIMEOUT).ok()?,
        }),
    })
}

#[cfg(test)]
mod tests;
