//! Mail-domain posture: what a domain publishes about its mail servers' TLS, checked against
//! what the servers present. Pure parts here; DNS lookups go through [`crate::resolve`].
//!
//! - [`mta_sts`]: MTA-STS records, policies and MX patterns (RFC 8461).
//! - [`tlsrpt`]: TLS reporting records (RFC 8460).
//! - [`dane`]: TLSA usability and matching against a presented chain (RFC 7672).

pub mod assess;
pub mod dane;
pub mod dns;
pub mod fetch;
pub mod mta_sts;
mod records;
pub mod render;
pub mod run;
pub mod summary;
pub mod tlsrpt;
