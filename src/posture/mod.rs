//! Mail-domain posture: what a domain publishes about its mail servers' TLS, checked against
//! what the servers present.
//!
//! - [`domain`]: a whole `mx:` round: one MX lookup, the TLSA sets, every address probed with
//!   certificate verdicts recorded, then the assessment.
//! - [`assess`]: judging the domain, each MX host and each address; the verdict on one report
//!   (DANE where it applies, WebPKI elsewhere) is `verdict`'s.
//! - [`dns`]: the validating resolver (secure, insecure, bogus per answer); [`fetch`]: the
//!   MTA-STS policy over HTTPS.
//! - [`mta_sts`]: MTA-STS records, policies and MX patterns (RFC 8461); [`tlsrpt`]: TLS
//!   reporting records (RFC 8460); [`dane`]: TLSA usability and matching (RFC 7672).
//! - [`summary`]: what an assessment reports; [`render`]: it as text.

pub mod assess;
pub mod dane;
pub mod dns;
pub mod domain;
pub mod fetch;
pub mod mta_sts;
mod records;
pub mod render;
pub mod summary;
pub mod tlsrpt;
mod verdict;

/// More than one TXT record of a kind that must be published once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{count} {prefix} TXT records; exactly one is allowed")]
pub struct SeveralRecords {
    count: usize,
    prefix: &'static str,
}

/// The one TXT record starting with `prefix` (`v=STSv1`, `v=TLSRPTv1`): others are ignored,
/// and more than one is an error (RFC 8461 §3.1, RFC 8460 §3). `Ok(None)`: none published.
pub(crate) fn single_record<'a>(
    txts: &'a [String],
    prefix: &'static str,
) -> Result<Option<&'a String>, SeveralRecords> {
    let candidates: Vec<&String> = txts
        .iter()
        .filter(|t| t.trim_start().starts_with(prefix))
        .collect();
    match candidates.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        many => Err(SeveralRecords {
            count: many.len(),
            prefix,
        }),
    }
}
