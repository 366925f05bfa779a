//! smtpwatch: an SMTP uptime monitoring agent.
//!
//! # Data flow
//!
//! ```text
//! probes.toml ─> config ─> agent ─> schedule ─> probe ─> ProbeReport ─┬─> metrics (/metrics, /probe)
//!                                     posture (mx:) ─┘                ├─> latest ─> http (status page)
//!                                                                     └─> alert ─> webhook, slack,
//!                                                                                  alertmanager
//! smtpwatch check TARGET ─> check ─> probe / posture ─> ProbeReport ─> report::render
//! ```
//!
//! One type crosses every boundary: [`report::ProbeReport`], the result of one probe of one
//! address. Probing knows nothing of metrics, pages or alerts. `ARCHITECTURE.md` lists which
//! module may use which, and a test holds the code to it.
//!
//! # Layout
//!
//! - [`cli`]: the top floor: command-line definitions, logging, dispatch, `config check` and
//!   `alert test`.
//! - [`check`]: the `check` command, its flags and output formats (and the posture of `mx:`
//!   targets).
//! - [`agent`]: `smtpwatch run`: the agent built in one step (jobs from the configuration,
//!   alerting, the schedule), rounds fed to the sinks, reloads, signals.
//! - [`http`]: the agent's endpoints and HTML pages, through the narrow [`http::AgentView`].
//! - [`systemd`]: readiness, stopping and watchdog notifications (`Type=notify`).
//! - [`schedule`]: per-probe timers on a spread, a concurrency limit, reloads.
//! - [`alert`]: alert state, the alert book, notifications, delivery with retries, the state
//!   file.
//! - [`metrics`]: Prometheus families and the blackbox-style `/probe` answer.
//! - [`latest`]: the latest round of every probe.
//! - [`config`]: the agent's TOML file, validated with located errors; value types
//!   ([`config::values`]), secrets ([`config::secret`]), the files it names, read once per load
//!   ([`config::files`]), and a `[[probe]]` table's probe settings ([`config::probe`]).
//! - [`posture`]: mail-domain posture: DNSSEC, DANE, MTA-STS, TLS-RPT, FCrDNS.
//! - [`probe`]: the per-address fan-out ([`probe::fanout`]), the phase dialogue
//!   ([`probe::probe`]), the session with its single read buffer ([`probe::session`]), sans-IO
//!   reply framing ([`probe::reply`]), TLS facts ([`probe::tls`]), and the mail-flow checks'
//!   settings ([`probe::mail_flow`]) and IMAP client ([`probe::imap`]).
//! - [`report`]: `ProbeReport` and its renderings.
//! - [`resolve`]: hickory-resolver lookups (A/AAAA, MX).
//! - [`target`]: parsing `host[:port]`, `smtp://`, `submission://`, `smtps://`, `mx:domain`, and
//!   the TLS mode a scheme implies.
//! - [`trust`]: trust stores and the one HTTPS client builder.
//! - [`limit`]: a concurrency limit that can be resized under load (rounds and connections).
//! - [`runtime`]: the one async runtime builder.
//! - [`escape`]: making untrusted server text safe to print.
//! - [`secret`]: values (passwords, webhook URLs) that are never printed.

pub mod agent;
pub mod alert;
pub mod allocator;
pub mod check;
pub mod cli;
pub mod config;
pub mod demo;
pub mod escape;
pub mod history;
pub mod http;
pub mod latest;
pub mod limit;
pub mod memcopy;
pub mod metrics;
pub mod posture;
pub mod probe;
pub mod report;
pub mod resolve;
pub mod runtime;
pub mod schedule;
pub mod secret;
pub mod shard;
pub mod stable_hash;
pub mod systemd;
pub mod target;
pub mod trust;
