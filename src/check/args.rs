//! The arguments of `smtpwatch check` and its output formats.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use std::sync::Arc;

use clap::{Args, ValueEnum};

use crate::config::values::{parse_dns_server, parse_duration, EhloName};
use crate::posture::assess::{DaneMode, PostureSettings, UnknownDaneMode};
use crate::probe::ProbeSettings;
use crate::resolve::Family;
use crate::target::{TlsMode, UnknownTlsMode};
use crate::trust::LazyTrust;

/// The defaults of `check`'s flags, shared with [`super::quick_args`], which reads the usual
/// command lines without clap.
pub(super) const DEFAULT_TIMEOUT: &str = "10s";
pub(super) const DEFAULT_WARN_CERT: &str = "14d";
pub(super) const DEFAULT_DANE: &str = "auto";
pub(super) const DEFAULT_AUTH_MECH: &str = "auto";
pub(super) const DEFAULT_DELIVERY_TIMEOUT: &str = "2m";

/// How `check` prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A human summary: one line per phase, banner, capabilities, TLS and certificate.
    Text,
    /// One ProbeReport JSON object per probed address, one per line.
    Json,
    /// A check_smtp-style status line with perfdata.
    Nagios,
}

/// Options of `smtpwatch check` (same meaning as the config keys).
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// What to probe, in any of the forms of [`crate::target::Target`].
    #[arg(
        help = "host, host:port, [v6]:port, smtp://host[:port], submission://host[:port] (587, \
                  STARTTLS required), smtps://host[:port] (465, implicit TLS), or \
                  mx:domain[:port] (every MX host, every address)"
    )]
    pub target: String,
    /// TLS mode: opportunistic (STARTTLS when advertised), starttls (required), implicit (TLS
    /// before the banner) or none. Default: from the scheme or port.
    #[arg(long, value_name = "MODE", value_parser = parse_tls_mode)]
    pub tls: Option<TlsMode>,
    /// Record certificate verification but do not enforce it.
    #[arg(long)]
    pub insecure: bool,
    /// Trust this CA (PEM) in addition to the system store; repeatable.
    #[arg(long = "ca-file", value_name = "PATH")]
    pub ca_files: Vec<PathBuf>,
    /// Name for SNI and certificate verification (default: the target or MX host name).
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,
    /// Name to send in EHLO/HELO (default: this machine's host name).
    #[arg(long, value_name = "NAME")]
    pub ehlo: Option<String>,
    /// Do not send NOOP before QUIT.
    #[arg(long)]
    pub no_noop: bool,
    /// Overall time limit, resolution included (e.g. 10s, 1500ms).
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_TIMEOUT, value_parser = parse_duration, allow_hyphen_values = true)]
    pub timeout: Duration,
    /// Probe IPv4 addresses only.
    #[arg(short = '4', conflicts_with = "ipv6_only")]
    pub ipv4_only: bool,
    /// Probe IPv6 addresses only.
    #[arg(short = '6')]
    pub ipv6_only: bool,
    /// Warn when the leaf certificate expires within this (e.g. 14d).
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_WARN_CERT, value_parser = parse_duration, allow_hyphen_values = true)]
    pub warn_cert: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Print the SMTP conversation with timestamps (text format).
    #[arg(long)]
    pub transcript: bool,
    /// DNS server for every lookup, IP or IP:PORT (repeatable; default: the system resolver).
    #[arg(long = "dns-server", value_name = "IP[:PORT]", value_parser = parse_dns_server)]
    pub dns_servers: Vec<SocketAddr>,
    /// For mx: targets, skip the mail-domain posture checks (DNSSEC, DANE, MTA-STS, TLS-RPT,
    /// FCrDNS).
    #[arg(long)]
    pub no_posture: bool,
    /// DANE for mx: targets: auto (check where a secure TLSA set exists), require (every MX
    /// must have one) or off.
    #[arg(long, value_name = "MODE", default_value = DEFAULT_DANE, value_parser = parse_dane_mode)]
    pub dane: DaneMode,
    /// For mx: targets, skip MTA-STS and TLS-RPT.
    #[arg(long)]
    pub no_mta_sts: bool,
    /// For mx: targets, skip forward-confirmed reverse DNS and banner name checks.
    #[arg(long)]
    pub no_fcrdns: bool,
    /// DNSSEC trust anchor (DNSKEY records, zone-file format; default: the root's keys).
    #[arg(long, value_name = "PATH")]
    pub dnssec_trust_anchor: Option<PathBuf>,
    /// Mail flow: the checks of AUTH, the envelope and delivery.
    #[command(flatten)]
    pub mail: Box<MailFlowArgs>,
}

/// `check`'s mail-flow options. Secrets come from files or the environment, never from the
/// command line (where `ps` and shell history would show them).
#[derive(Debug, Args)]
pub struct MailFlowArgs {
    /// AUTH as this user (inside TLS only).
    #[arg(long, value_name = "NAME", help_heading = "Mail flow")]
    pub auth_user: Option<String>,
    /// The AUTH password, read from this file (or set SMTPWATCH_AUTH_PASSWORD).
    #[arg(long, value_name = "PATH", help_heading = "Mail flow")]
    pub auth_password_file: Option<PathBuf>,
    /// AUTH mechanism: auto (PLAIN when offered, else LOGIN), plain or login.
    #[arg(
        long,
        value_name = "MECH",
        default_value = DEFAULT_AUTH_MECH,
        help_heading = "Mail flow"
    )]
    pub auth_mech: String,
    /// Envelope sender (default: the null sender <>).
    #[arg(long, value_name = "ADDR", help_heading = "Mail flow")]
    pub mail_from: Option<String>,
    /// Check that the server accepts this recipient (RCPT TO, then RSET; nothing is sent);
    /// repeatable.
    #[arg(long = "rcpt", value_name = "ADDR", help_heading = "Mail flow")]
    pub rcpt: Vec<String>,
    /// Send a test message to this address and find it over IMAP (needs --imap).
    #[arg(
        long,
        value_name = "ADDR",
        requires = "imap",
        help_heading = "Mail flow"
    )]
    pub deliver_to: Option<String>,
    /// The mailbox to find the message in: imaps://host[:port][/folder] or imap://… (STARTTLS
    /// required).
    #[arg(
        long,
        value_name = "URL",
        requires = "deliver_to",
        help_heading = "Mail flow"
    )]
    pub imap: Option<String>,
    /// IMAP user (default: --auth-user).
    #[arg(long, value_name = "NAME", help_heading = "Mail flow")]
    pub imap_user: Option<String>,
    /// The IMAP password, read from this file (or set SMTPWATCH_IMAP_PASSWORD; default: the
    /// AUTH password).
    #[arg(long, value_name = "PATH", help_heading = "Mail flow")]
    pub imap_password_file: Option<PathBuf>,
    /// How long the message may take to reach the mailbox, IMAP steps included.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_DELIVERY_TIMEOUT, value_parser = parse_duration,
          help_heading = "Mail flow")]
    pub delivery_timeout: Duration,
}

impl CheckArgs {
    /// How to probe, as the flags say, trusting `trust` (the system store plus `--ca-file`).
    pub fn probe_settings(&self, trust: Arc<LazyTrust>, ehlo_name: &EhloName) -> ProbeSettings {
        let mut settings = ProbeSettings::new(trust, ehlo_name.to_string());
        settings.tls = self.tls;
        settings.insecure = self.insecure;
        settings.server_name = self.server_name.clone();
        settings.noop = !self.no_noop;
        settings.set_timeout(self.timeout);
        settings.warn_cert = self.warn_cert;
        settings
    }

    /// The posture switches, as the flags say.
    pub fn posture_settings(&self) -> PostureSettings {
        PostureSettings {
            dane: self.dane,
            mta_sts: !self.no_mta_sts,
            fcrdns: !self.no_fcrdns,
        }
    }

    /// `-4`, `-6` or both families.
    pub fn family(&self) -> Family {
        match (self.ipv4_only, self.ipv6_only) {
            (true, _) => Family::V4,
            (_, true) => Family::V6,
            _ => Family::Any,
        }
    }
}

pub(super) fn parse_dane_mode(text: &str) -> Result<DaneMode, UnknownDaneMode> {
    text.parse()
}

pub(super) fn parse_tls_mode(text: &str) -> Result<TlsMode, UnknownTlsMode> {
    text.parse()
}
