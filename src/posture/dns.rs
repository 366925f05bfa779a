//! DNS for posture checks, with DNSSEC validated by hickory itself (not the upstream
//! resolver's AD bit): every answer comes with its proof, `secure`, `insecure` or `bogus`.
//!
//! The trust anchor is the root's (hickory's built-in IANA keys) unless a DNSKEY-format file
//! is given (`dnssec_trust_anchor`, `--dnssec-trust-anchor`), e.g. for a private test root.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{ResolveHosts, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as HickoryDnsError, NetError};
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
use hickory_resolver::proto::rr::{RData, Record, RecordType};
use hickory_resolver::{Resolver as HickoryResolver, TokioResolver};
use serde::Serialize;

use super::dane::Tlsa;
use crate::resolve::DnsError;

/// The DNSSEC status of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dnssec {
    /// Signatures did not validate, or proofs are missing where the chain says they must be.
    Bogus,
    /// No DNSSEC records could be obtained to decide.
    Indeterminate,
    /// The zone is not signed (or an unsigned delegation leads to it).
    Insecure,
    /// A chain of trust from the anchor validates it.
    Secure,
}

impl Dnssec {
    fn of(proof: Proof) -> Dnssec {
        match proof {
            Proof::Secure => Dnssec::Secure,
            Proof::Insecure => Dnssec::Insecure,
            Proof::Bogus => Dnssec::Bogus,
            _ => Dnssec::Indeterminate,
        }
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dnssec::Secure => "secure",
            Dnssec::Insecure => "insecure",
            Dnssec::Bogus => "bogus",
            Dnssec::Indeterminate => "indeterminate",
        }
    }
}

/// Records of one type, and how far they can be trusted. Empty when the name or type does not
/// exist (then `dnssec` is the proof of that denial).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer<T> {
    /// The data.
    pub data: T,
    /// Its DNSSEC status (the weakest of its records).
    pub dnssec: Dnssec,
}

/// A validating resolver.
#[derive(Clone)]
pub struct PostureDns {
    inner: TokioResolver,
    explicit_anchor: bool,
    /// The round's deadline: a lookup still unanswered then is a DNS error (indeterminate).
    deadline: Option<tokio::time::Instant>,
}

impl std::fmt::Debug for PostureDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PostureDns")
    }
}

/// Reads a DNSKEY-format trust anchor file.
pub fn trust_anchor_file(path: &Path) -> Result<TrustAnchors, AnchorError> {
    TrustAnchors::from_file(path).map_err(|e| AnchorError {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// A trust anchor file that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("trust anchor {}: {reason}", path.display())]
pub struct AnchorError {
    path: std::path::PathBuf,
    reason: String,
}

impl PostureDns {
    /// Validates with `anchors` (None: the root), asking `servers` (none: the system's).
    pub fn new(
        servers: &[SocketAddr],
        anchors: Option<Arc<TrustAnchors>>,
    ) -> Result<Self, DnsError> {
        let mut opts = ResolverOpts::default();
        opts.timeout = Duration::from_secs(5);
        let config = if servers.is_empty() {
            let (config, system_opts) =
                hickory_resolver::system_conf::read_system_conf().map_err(|e| {
                    DnsError(format!(
                        "cannot read the system resolver configuration: {e}"
                    ))
                })?;
            opts = system_opts;
            opts.timeout = opts.timeout.min(Duration::from_secs(5));
            config
        } else {
            opts.use_hosts_file = ResolveHosts::Never;
            opts.attempts = 1;
            crate::resolve::name_servers(servers)
        };
        let explicit_anchor = anchors.is_some();
        let anchors = anchors.unwrap_or_default();
        let inner = HickoryResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .with_trust_anchor(anchors)
            .build()
            .map_err(|e| DnsError(format!("resolver set-up: {e}")))?;
        Ok(PostureDns {
            inner,
            explicit_anchor,
            deadline: None,
        })
    }

    /// The same resolver, every lookup bounded by `deadline` (one round's).
    pub fn until(&self, deadline: tokio::time::Instant) -> PostureDns {
        PostureDns {
            deadline: Some(deadline),
            ..self.clone()
        }
    }

    /// The round's deadline, if one was set.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.deadline
    }

    /// Whether statuses can be trusted: a trust anchor was given explicitly, or the root zone
    /// validates through the resolver. A resolver that strips DNSSEC data would otherwise make
    /// every answer look bogus.
    pub async fn can_validate(&self) -> bool {
        if self.explicit_anchor {
            return true;
        }
        self.lookup(".", RecordType::SOA)
            .await
            .is_ok_and(|a| a.dnssec == Dnssec::Secure)
    }

    /// Records of `rtype` at `name` (absolute), with their status.
    pub async fn lookup(
        &self,
        name: &str,
        rtype: RecordType,
    ) -> Result<Answer<Vec<RData>>, DnsError> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        let lookup = self.inner.lookup(fqdn.as_str(), rtype);
        let result = match self.deadline {
            None => lookup.await,
            Some(deadline) => match tokio::time::timeout_at(deadline, lookup).await {
                Ok(result) => result,
                Err(_) => {
                    return Err(DnsError(format!(
                        "{rtype} {name}: no answer before the deadline"
                    )))
                }
            },
        };
        match result {
            Ok(lookup) => {
                let records: Vec<&Record> = lookup
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == rtype)
                    .collect();
                let dnssec = records
                    .iter()
                    .map(|r| Dnssec::of(r.proof))
                    .min()
                    .unwrap_or(Dnssec::Indeterminate);
                let data = records.into_iter().map(|r| r.data.clone()).collect();
                Ok(Answer { data, dnssec })
            }
            Err(e) => denial(&e).ok_or_else(|| {
                DnsError(format!(
                    "{rtype} {name}: {}",
                    crate::escape::escape_str(&e.to_string())
                ))
            }),
        }
    }

    /// TXT strings at `name` (each record's strings joined), escaped: control bytes and
    /// invalid UTF-8 from DNS never reach a terminal, a log or a page.
    pub async fn txt(&self, name: &str) -> Result<Answer<Vec<String>>, DnsError> {
        let answer = self.lookup(name, RecordType::TXT).await?;
        let data = answer
            .data
            .iter()
            .filter_map(|d| match d {
                RData::TXT(t) => Some(crate::escape::escape_bytes(&t.txt_data.concat())),
                _ => None,
            })
            .collect();
        Ok(Answer {
            data,
            dnssec: answer.dnssec,
        })
    }

    /// TLSA records at `name`.
    pub async fn tlsa(&self, name: &str) -> Result<Answer<Vec<Tlsa>>, DnsError> {
        let answer = self.lookup(name, RecordType::TLSA).await?;
        let data = answer
            .data
            .iter()
            .filter_map(|d| match d {
                RData::TLSA(t) => Some(Tlsa {
                    usage: u8::from(t.cert_usage),
                    selector: u8::from(t.selector),
                    matching: u8::from(t.matching),
                    data: t.cert_data.to_vec(),
                }),
                _ => None,
            })
            .collect();
        Ok(Answer {
            data,
            dnssec: answer.dnssec,
        })
    }

    /// The weakest status of `host`'s A and AAAA answers.
    pub async fn address_status(&self, host: &str) -> Result<Dnssec, DnsError> {
        let a = self.lookup(host, RecordType::A).await?;
        let aaaa = self.lookup(host, RecordType::AAAA).await?;
        Ok(a.dnssec.min(aaaa.dnssec))
    }

    /// The PTR names of `ip`, lower-case without the trailing dot.
    pub async fn ptr(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        let name = hickory_resolver::proto::rr::Name::from(ip).to_ascii();
        let answer = self.lookup(&name, RecordType::PTR).await?;
        Ok(answer
            .data
            .iter()
            .filter_map(|d| match d {
                RData::PTR(p) => Some(p.0.to_ascii().trim_end_matches('.').to_ascii_lowercase()),
                _ => None,
            })
            .collect())
    }

    /// Whether `host` resolves (A/AAAA) to `ip`.
    pub async fn resolves_to(&self, host: &str, ip: IpAddr) -> bool {
        let rtype = if ip.is_ipv4() {
            RecordType::A
        } else {
            RecordType::AAAA
        };
        self.lookup(host, rtype).await.is_ok_and(|a| {
            a.data.iter().any(|d| match d {
                RData::A(v4) => IpAddr::V4(v4.0) == ip,
                RData::AAAA(v6) => IpAddr::V6(v6.0) == ip,
                _ => false,
            })
        })
    }
}

/// A negative answer (no such name or type) as an empty answer with its proof; None for real
/// failures. Bogus denials and bogus answers alike are `bogus`.
fn denial(e: &NetError) -> Option<Answer<Vec<RData>>> {
    let NetError::Dns(dns) = e else {
        return None;
    };
    let dnssec = match dns {
        HickoryDnsError::DnssecBogus => Dnssec::Bogus,
        HickoryDnsError::Nsec { proof, .. } => Dnssec::of(*proof),
        HickoryDnsError::NoRecordsFound(nr) => {
            let authorities = nr.authorities.as_deref().unwrap_or(&[]);
            let proof = authorities
                .iter()
                .map(|r| Dnssec::of(r.proof))
                .min()
                .unwrap_or(Dnssec::Indeterminate);
            // A referral (an authoritative server asked directly): a securely proven
            // delegation without DS leads to an insecure zone; with DS, the answer is in a
            // zone this lookup did not reach.
            let referral = nr.ns.is_some();
            let has_ds = authorities
                .iter()
                .any(|r| r.record_type() == RecordType::DS);
            match (referral, has_ds, proof) {
                (true, false, Dnssec::Secure) => Dnssec::Insecure,
                (true, true, _) => Dnssec::Indeterminate,
                _ => proof,
            }
        }
        _ => return None,
    };
    Some(Answer {
        data: Vec::new(),
        dnssec,
    })
}
