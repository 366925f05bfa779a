//! smtpwatch: an SMTP uptime monitoring agent.
//!
//! # Data flow
//!
//! ```text
//! smtpwatch check TARGET ─> target ─> probe::fanout ─> resolve (MX, A/AAAA)
//!                                          │
//!                                          └─> probe (one per address) ─> ProbeReport
//!                                                                            │
//!                                          text / JSON lines / nagios <─ report::render
//! ```
//!
//! One type crosses every boundary: [`report::ProbeReport`], the result of one probe of one
//! address. Probing knows nothing of how reports are shown or counted.
//!
//! # Layout
//!
//! - [`cli`]: command-line definitions and the `check` command.
//! - [`target`]: parsing `host[:port]`, `smtp://`, `submission://`, `smtps://`, `mx:domain`.
//! - [`resolve`]: hickory-resolver lookups (A/AAAA, MX).
//! - [`probe`]: the phase sequence ([`probe::probe`]), sans-IO reply framing ([`probe::reply`]),
//!   the session with its single read buffer ([`probe::session`]), TLS ([`probe::tls`]) and
//!   the per-address fan-out ([`probe::fanout`]).
//! - [`report`]: `ProbeReport` and its renderings.
//! - [`escape`]: making untrusted server text safe to print.

pub mod agent;
pub mod cli;
pub mod config;
pub mod escape;
pub mod http;
pub mod metrics;
pub mod probe;
pub mod report;
pub mod resolve;
pub mod schedule;
pub mod target;
