//! One probe of one address: the SMTP phase sequence, timed and classified into a
//! [`ProbeReport`](crate::report::ProbeReport).
//!
//! `connect` → (`tls_handshake` for implicit TLS) → `banner` → `ehlo` (or `helo` after a 500/502)
//! → `starttls` → `tls_handshake` → `ehlo_tls` → (mail flow: `auth`, `mail_from`, `rcpt_to`,
//! `rset` or `data`) → `noop` → `quit` → (delivery: `imap_connect`, `imap_login`, `delivery`,
//! `imap_cleanup`). Every phase has a deadline of
//! `min(phase start + phase_timeout, overall deadline)` covering the whole phase, so a server that
//! trickles one byte a second still times out, and the failure names the phase. After a refusal
//! the probe still says QUIT, so MTA logs show a polite client; after a broken or hostile reply it
//! just closes. Probing knows nothing of metrics or alerts.

pub mod fanout;
pub mod imap;
pub mod mail_flow;
pub mod reply;
pub mod session;
pub mod tls;

mod cert_name;
mod dialogue;
mod first_bytes;
mod settings;

pub use self::dialogue::probe;
pub use self::settings::{
    ProbePlan, ProbeSettings, DEFAULT_TIMEOUT, DEFAULT_WARN_CERT, POLICY_FETCH_TIMEOUT,
};
