//! smtpwatch: an SMTP uptime monitoring agent.
//!
//! # Data flow
//!
//! ```text
//! probes.toml ─> config ─> schedule ─> probe::fanout ─> ProbeReport ─┬─> metrics (/metrics, /probe)
//!                                          ▲                         ├─> http (status page)
//!                                          │                         └─> alert ─> webhook, slack,
//!                                          │                                      alertmanager
//!                                   resolve (MX, A/AAAA)
//! smtpwatch check TARGET ─────────> probe::fanout ─> ProbeReport ─> report::render (text/json/nagios)
//! ```
//!
//! One type crosses every boundary: [`report::ProbeReport`], the result of one probe of one
//! address. Probing knows nothing of metrics, pages or alerts.
//!
//! # Layout
//!
//! - [`cli`]: command-line definitions, dispatch, `config check` and `alert test`.
//! - [`check`]: the `check` command (and the posture of `mx:` targets).
//! - [`posture`]: mail-domain posture: DNSSEC, DANE, MTA-STS, TLS-RPT, FCrDNS.
//! - [`target`]: parsing `host[:port]`, `smtp://`, `submission://`, `smtps://`, `mx:domain`.
//! - [`resolve`]: hickory-resolver lookups (A/AAAA, MX).
//! - [`probe`]: the phase sequence ([`probe::probe`]), sans-IO reply framing ([`probe::reply`]),
//!   the session with its single read buffer ([`probe::session`]), TLS ([`probe::tls`]) and
//!   the per-address fan-out ([`probe::fanout`]).
//! - [`report`]: `ProbeReport` and its renderings.
//! - [`escape`]: making untrusted server text safe to print.
//! - [`config`]: the agent's TOML file, validated with located errors.
//! - [`schedule`]: per-probe timers on a spread, a concurrency limit, reloads.
//! - [`metrics`]: Prometheus families and the blackbox-style `/probe` answer.
//! - [`agent`]: `smtpwatch run`: configuration, scheduler, metrics and latest results wired up.
//! - [`http`]: the agent's endpoints and HTML pages (axum).
//! - [`systemd`]: readiness, stopping and watchdog notifications (`Type=notify`).
//! - [`alert`]: alert state, notifications, delivery with retries, the state file.

pub mod agent;
pub mod alert;
pub mod check;
pub mod cli;
pub mod config;
pub mod escape;
pub mod http;
pub mod latest;
pub mod metrics;
pub mod posture;
pub mod probe;
pub mod report;
pub mod resolve;
pub mod runtime;
pub mod schedule;
pub mod systemd;
pub mod target;
pub mod trust;
