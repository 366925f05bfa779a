//! Command-line definitions (clap), dispatch, and the small commands (`config check`,
//! `alert test`); `check` lives in [`crate::check`].
//!
//! Exit codes follow the Nagios plugin convention for every command: 0 ok, 1 warning,
//! 2 critical, 3 unknown (bad usage, bad flag values, internal errors).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::check::CheckArgs;

mod manuals;
mod parse;

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
    /// A first look: the agent against built-in SMTP servers on 127.0.0.1 (healthy,
    /// certificate expiring, slow, losing STARTTLS, flapping), alerts printed; Ctrl-C stops.
    Demo {
        /// Where the status page and /metrics listen.
        #[arg(long, value_name = "ADDR", default_value = crate::config::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
    },
    /// Configuration file tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Alerting tools.
    #[command(subcommand)]
    Alert(AlertCommand),
    /// Print the shell completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, or with --dir write one page per command (smtpwatch.1,
    /// smtpwatch-check.1, …) into DIR.
    Man {
        /// Where to write every page.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
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
    /// Print which of N shards runs each probe, and how many each gets.
    Shards {
        /// The configuration file.
        path: PathBuf,
        /// How many shards.
        #[arg(long, value_name = "N")]
        count: u32,
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
    /// Run only shard I of N (I from 0) of the configuration's probes; over SMTPWATCH_SHARD
    /// and the file's [agent] shard.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::shard::Shard>,
    /// Where this agent probes from (a `vantage` label on its series and alerts); over
    /// SMTPWATCH_VANTAGE and the file's [agent] vantage.
    #[arg(long, value_name = "NAME")]
    pub vantage: Option<String>,
}

/// Logs to stderr at `level` (RUST_LOG, when set, decides instead), as JSON lines or not.
fn start_logging(level: &str, json: bool) {
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
}

/// Parses `args`, runs the command, returns the process exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> u8 {
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match parse::parse(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            if !e.use_stderr() {
                return 0;
            }
            if nagios_requested(&args) {
                // A Nagios plugin always says one status line, even about its own usage.
                let why = e.kind().as_str().unwrap_or("bad usage");
                println!("SMTP UNKNOWN - {why} (see stderr)");
            }
            return EXIT_UNKNOWN;
        }
    };
    let (level, json) = match &cli.command {
        Command::Run(args) => ("info", args.log_format == LogFormat::Json),
        Command::Demo { .. } => ("info", false),
        _ => ("warn", false),
    };
    // `check` says everything it has to say in its report and its own error line; library
    // logs are for debugging it, with RUST_LOG set. Setting up the subscriber otherwise was a
    // twentieth of a plaintext check's instructions.
    let debugging = std::env::var_os("RUST_LOG").is_some();
    if debugging || !matches!(cli.command, Command::Check(_)) {
        start_logging(level, json);
    }
    // Every TLS user (rustls, later reqwest) relies on one process-wide provider: ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cli.command {
        Command::Check(args) => {
            let nagios = args.format == crate::check::Format::Nagios;
            crate::check::execute(args).unwrap_or_else(|message| {
                eprintln!("smtpwatch check: {message}");
                if nagios {
                    let line = crate::escape::escape_str(&message.to_string()).replace('|', "/");
                    println!("SMTP UNKNOWN - {line}");
                }
                EXIT_UNKNOWN
            })
        }
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
        Command::Completions { shell } => {
            manuals::completions(shell, &mut std::io::stdout());
            0
        }
        Command::Man { dir: None } => match manuals::man_page(&mut std::io::stdout()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("smtpwatch man: {e}");
                EXIT_UNKNOWN
            }
        },
        Command::Man { dir: Some(dir) } => match manuals::man_pages(&dir) {
            Ok(pages) => {
                pages.iter().for_each(|p| println!("{}", p.display()));
                0
            }
            Err(e) => {
                eprintln!("smtpwatch man: {}: {e}", dir.display());
                EXIT_UNKNOWN
            }
        },
        Command::Demo { listen } => match crate::demo::run_demo(listen) {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!("smtpwatch demo: {e}");
                1
            }
        },
        Command::Config(ConfigCommand::Shards { path, count }) => shards(&path, count),
        Command::Run(args) => match run_placement(args.shard, args.vantage)
            .and_then(|placement| Ok(crate::agent::process::run_agent(&args.config, placement)?))
        {
            Ok(()) => 0,
            Err(e) => {
                // Once, through the log (stderr, or JSON lines with --log-format json).
                tracing::error!("smtpwatch run: {e}");
                // A bad configuration is bad usage, as for every command; what fails later
                // (the listen address, signals) is the agent failing.
                match e {
                    RunError::Usage(_) | RunError::Agent(crate::agent::AgentError::Config(_)) => {
                        EXIT_UNKNOWN
                    }
                    RunError::Agent(_) => 1,
                }
            }
        },
    }
}

/// Why `run` stopped.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Agent(#[from] crate::agent::AgentError),
}

/// Where `run` places the agent: `--shard`, else `SMTPWATCH_SHARD`, else (None) the file's;
/// the same for `--vantage` and `SMTPWATCH_VANTAGE`.
fn run_placement(
    shard: Option<crate::shard::Shard>,
    vantage: Option<String>,
) -> Result<crate::agent::Placement, RunError> {
    let from_env = |name: &str| std::env::var(name).ok().filter(|t| !t.trim().is_empty());
    let shard = match shard {
        Some(shard) => Some(shard),
        None => match from_env("SMTPWATCH_SHARD") {
            Some(text) => Some(
                text.parse()
                    .map_err(|e| RunError::Usage(format!("SMTPWATCH_SHARD: {e}")))?,
            ),
            None => None,
        },
    };
    let (vantage, source) = match vantage {
        Some(name) => (Some(name), "--vantage"),
        None => (from_env("SMTPWATCH_VANTAGE"), "SMTPWATCH_VANTAGE"),
    };
    if let Some(name) = &vantage {
        if !crate::config::is_vantage_name(name) {
            let shown = crate::escape::escape_str(name);
            return Err(RunError::Usage(format!(
                "{source} \"{shown}\": {}",
                crate::config::VANTAGE_RULE
            )));
        }
    }
    Ok(crate::agent::Placement { shard, vantage })
}

/// `config shards PATH --count N`: one line per probe, then the count per shard.
fn shards(path: &std::path::Path, count: u32) -> u8 {
    if count == 0 || count > 1000 {
        eprintln!("smtpwatch config shards: --count must be from 1 to 1000");
        return EXIT_UNKNOWN;
    }
    let config = match crate::config::load(path) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("{e}");
            return EXIT_UNKNOWN;
        }
    };
    let mut per = vec![0usize; count as usize];
    for p in &config.probes {
        let owner = crate::shard::owner(&p.name, count);
        per[owner as usize] += 1;
        println!("{}/{count}\t{}", owner, crate::escape::escape_str(&p.name));
    }
    for (index, n) in per.iter().enumerate() {
        println!("# shard {index}/{count}: {n} probes");
    }
    0
}

/// Whether the arguments ask `check` for Nagios output (`--format nagios` or `--format=nagios`),
/// read from the raw arguments because they did not parse.
fn nagios_requested(args: &[OsString]) -> bool {
    let text: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    text.iter().any(|a| a == "check")
        && (text.iter().any(|a| a == "--format=nagios")
            || text
                .windows(2)
                .any(|w| w[0] == "--format" && w[1] == "nagios"))
}

/// Runs `alert test`: one line per notifier endpoint; `Err` is a configuration problem.
///
/// The error is a `String` on purpose: this is the top floor, where every cause (the file, the
/// notifier name, the runtime, the HTTP client) only becomes one line on stderr and exit 3.
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
    let runtime = crate::runtime::single_threaded().map_err(|e| e.to_string())?;
    let results = runtime
        .block_on(crate::alert::send_test(alerting, only))
        .map_err(|e| e.to_string())?;
    let mut code = 0;
    for result in results {
        let (notifier, url) = (&result.notifier, &result.url);
        match &result.failure {
            None => println!("{notifier}: ok ({url})"),
            Some(why) => {
                code = 2;
                println!("{notifier}: FAILED ({url}): {why}");
            }
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests;
