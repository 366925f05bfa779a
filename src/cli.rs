//! Command-line definitions (clap), dispatch, and the small commands (`config check`,
//! `alert test`); `check` lives in [`crate::check`].
//!
//! Exit codes follow the Nagios plugin convention for every command: 0 ok, 1 warning,
//! 2 critical, 3 unknown (bad usage, bad flag values, internal errors).

use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::posture::assess::DaneMode;
use crate::probe::TlsMode;

/// Exit code for bad usage and internal errors (Nagios UNKNOWN).
pub const EXIT_UNKNOWN: u8 = 3;

/// SMTP uptime monitoring: every address, every phase, every reason.
#[derive(Debug, Parser)]
#[command(name = "smtpwatch", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: probe on a schedule, serve /metrics, /probe and the status page.
    Run(RunArgs),
    /// Probe a target once and print the result; exit 0 ok, 1 warning, 2 critical, 3 unknown.
    Check(CheckArgs),
    /// Configuration file tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Alerting tools.
    #[command(subcommand)]
    Alert(AlertCommand),
}

/// `smtpwatch alert …`
#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Send a clearly marked test notification to each configured notifier (one attempt
    /// each) and report the outcome; exit 0 when all succeeded, 2 when any failed, 3 on a
    /// configuration error.
    Test {
        /// The configuration file.
        #[arg(
            long,
            value_name = "PATH",
            default_value = "/etc/smtpwatch/probes.toml"
        )]
        config: PathBuf,
        /// Only this notifier.
        #[arg(long, value_name = "NAME")]
        notifier: Option<String>,
    },
}

/// `smtpwatch config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file without running it; exit 0 when valid, 3 with the error.
    Check {
        /// The file to check.
        path: PathBuf,
    },
}

/// How the agent logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Options of `smtpwatch run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/etc/smtpwatch/probes.toml"
    )]
    pub config: PathBuf,
    /// Log format.
    #[arg(long, value_enum, default_value = "human")]
    pub log_format: LogFormat,
}

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
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Probe IPv4 addresses only.
    #[arg(short = '4', conflicts_with = "ipv6_only")]
    pub ipv4_only: bool,
    /// Probe IPv6 addresses only.
    #[arg(short = '6')]
    pub ipv6_only: bool,
    /// Warn when the leaf certificate expires within this (e.g. 14d).
    #[arg(long, value_name = "DURATION", default_value = "14d", value_parser = parse_duration)]
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
    #[arg(long, value_name = "MODE", default_value = "auto", value_parser = parse_dane_mode)]
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
}

fn parse_dane_mode(text: &str) -> Result<DaneMode, String> {
    text.parse()
}

fn parse_tls_mode(text: &str) -> Result<TlsMode, String> {
    text.parse()
}

/// Parses a humantime duration (`10s`, `1500ms`, `14d`); zero is refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(d) if d.is_zero() => Err("must be longer than zero".into()),
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (examples: 10s, 1500ms, 14d)")),
    }
}

/// Parses `IP` (port 53) or `IP:PORT` (IPv6 in brackets).
pub fn parse_dns_server(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, 53))
        .map_err(|_| format!("{text:?} is not IP or IP:PORT"))
}

/// An EHLO argument goes on the wire: only a domain or an address literal, nothing that could
/// smuggle a second command.
pub fn valid_ehlo_name(name: &str) -> bool {
    let literal = name.starts_with('[') && name.ends_with(']') && name.len() > 2;
    let domain = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    literal
        && name[1..name.len() - 1]
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b']')
        || domain
}

/// Parses `args`, runs the command, returns the process exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> u8 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_UNKNOWN } else { 0 };
        }
    };
    let (level, json) = match &cli.command {
        Command::Run(args) => ("info", args.log_format == LogFormat::Json),
        _ => ("warn", false),
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_env_filter(filter);
    let _ = if json {
        logs.json().try_init()
    } else {
        logs.try_init()
    };
    // Every TLS user (rustls, later reqwest) relies on one process-wide provider: ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Command::Check(args) => crate::check::run(args).unwrap_or_else(|message| {
            eprintln!("smtpwatch check: {message}");
            EXIT_UNKNOWN
        }),
        Command::Config(ConfigCommand::Check { path }) => match crate::config::load(&path) {
            Ok(config) => {
                println!("{}: ok, {} probes", path.display(), config.probes.len());
                0
            }
            Err(e) => {
                eprintln!("{e}");
                EXIT_UNKNOWN
            }
        },
        Command::Alert(AlertCommand::Test { config, notifier }) => {
            alert_test(&config, notifier.as_deref()).unwrap_or_else(|message| {
                eprintln!("smtpwatch alert test: {message}");
                EXIT_UNKNOWN
            })
        }
        Command::Run(args) => {
            crate::agent::run(&args.config)
                .map(|()| 0)
                .unwrap_or_else(|message| {
                    tracing::error!("{message}");
                    eprintln!("smtpwatch run: {message}");
                    1
                })
        }
    }
}

/// Runs `alert test`: one line per notifier endpoint; `Err` is a configuration problem.
pub fn alert_test(config: &std::path::Path, only: Option<&str>) -> Result<u8, String> {
    let config = crate::config::load(config).map_err(|e| e.to_string())?;
    let alerting = &config.alerting;
    if alerting.notifiers.is_empty() {
        return Err("no notifiers are configured under [alerting]".into());
    }
    if let Some(name) = only {
        if !alerting.notifiers.iter().any(|n| n.name == name) {
            return Err(format!("there is no notifier named {name:?}"));
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let results = runtime.block_on(crate::alert::send_test(alerting, only))?;
    let mut code = 0;
    for (notifier, url, outcome) in results {
        match outcome {
            Ok(()) => println!("{notifier}: ok ({url})"),
            Err(why) => {
                code = 2;
                println!("{notifier}: FAILED ({url}): {why}");
            }
        }
    }
    Ok(code)
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
            assert!(valid_ehlo_name(good), "{good}");
        }
        for bad in [
            "",
            "a b",
            "x\r\nMAIL FROM:<a@b>",
            "[]",
            "[a]b]",
            "host_name",
        ] {
            assert!(!valid_ehlo_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn durations_and_dns_servers_parse_or_explain() {
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("14d"), Ok(Duration::from_secs(14 * 86_400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").unwrap_err().contains("examples"));
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

    #[test]
    fn bad_usage_exits_3_and_help_exits_0() {
        let run = |args: &[&str]| main(args.iter().map(OsString::from));
        assert_eq!(run(&["smtpwatch", "check"]), EXIT_UNKNOWN);
        assert_eq!(
            run(&["smtpwatch", "check", "x", "--tls", "sometimes"]),
            EXIT_UNKNOWN
        );
        assert_eq!(
            run(&["smtpwatch", "check", "x", "--timeout", "0s"]),
            EXIT_UNKNOWN
        );
        assert_eq!(run(&["smtpwatch", "check", "http://x"]), EXIT_UNKNOWN);
        assert_eq!(
            run(&["smtpwatch", "check", "-6", "127.0.0.1"]),
            EXIT_UNKNOWN
        );
        assert_eq!(
            run(&["smtpwatch", "check", "--ehlo", "a b", "127.0.0.1"]),
            EXIT_UNKNOWN
        );
        assert_eq!(
            run(&[
                "smtpwatch",
                "check",
                "--ca-file",
                "/nonexistent",
                "127.0.0.1"
            ]),
            3
        );
        assert_eq!(run(&["smtpwatch", "--help"]), 0);
    }
}
