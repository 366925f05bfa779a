//! DNS for probes: A/AAAA of a host and the MX set of a mail domain (hickory-resolver).
//!
//! The resolver is the system's (`/etc/resolv.conf`, hosts file) unless `--dns-server` /
//! `dns_servers` name servers, in which case those answer every lookup and the hosts file is not
//! consulted. Answers are returned in full: the probe tries every address, not one of many.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig,
    ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver as HickoryResolver, TokioResolver};

use crate::escape::escape_str;

/// Which address families to probe (`-4`, `-6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Family {
    /// IPv4 and IPv6.
    #[default]
    Any,
    /// IPv4 only.
    V4,
    /// IPv6 only.
    V6,
}

impl Family {
    /// Whether `ip` belongs to this family.
    pub fn admits(self, ip: &IpAddr) -> bool {
        match self {
            Family::Any => true,
            Family::V4 => ip.is_ipv4(),
            Family::V6 => ip.is_ipv6(),
        }
    }
}

/// A lookup that failed or found nothing usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DnsError(pub String);

/// One MX host and its preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MxHost {
    /// Lower is preferred.
    pub preference: u16,
    /// The exchange's name, lower-case, without the trailing dot.
    pub host: String,
}

/// The resolver every lookup of a command or agent goes through.
#[derive(Clone)]
pub struct Resolver {
    inner: TokioResolver,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

fn options(mut opts: ResolverOpts) -> ResolverOpts {
    // Both families in one lookup; the probe filters by -4/-6 itself.
    opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    opts.timeout = opts.timeout.min(Duration::from_secs(5));
    opts
}

impl Resolver {
    /// The resolver for a configuration: these name servers, or the system's when none are
    /// given (`--dns-server`, `dns_servers`).
    pub fn new(servers: &[SocketAddr]) -> Result<Resolver, DnsError> {
        if servers.is_empty() {
            Resolver::system()
        } else {
            Resolver::with_servers(servers)
        }
    }

    /// The system resolver.
    pub fn system() -> Result<Resolver, DnsError> {
        let mut builder = TokioResolver::builder_tokio().map_err(|e| {
            DnsError(format!(
                "cannot read the system resolver configuration: {e}"
            ))
        })?;
        let opts = options(builder.options_mut().clone());
        *builder.options_mut() = opts;
        let inner = builder
            .build()
            .map_err(|e| DnsError(format!("resolver set-up: {e}")))?;
        Ok(Resolver { inner })
    }

    /// Only these name servers (UDP, falling back to TCP for truncated answers).
    pub fn with_servers(servers: &[SocketAddr]) -> Result<Resolver, DnsError> {
        let mut opts = options(ResolverOpts::default());
        opts.use_hosts_file = ResolveHosts::Never;
        opts.attempts = 1;
        let config = name_servers(servers);
        let inner = HickoryResolver::builder_with_config(config, TokioRuntimeProvider::default())
            .with_options(opts)
            .build()
            .map_err(|e| DnsError(format!("resolver set-up: {e}")))?;
        Ok(Resolver { inner })
    }

    /// Every address of `host` in `family`, A records first, duplicates removed.
    pub async fn addresses(&self, host: &str, family: Family) -> Result<Vec<IpAddr>, DnsError> {
        let lookup = match self.inner.lookup_ip(host).await {
            Ok(lookup) => lookup,
            Err(e) if e.is_no_records_found() && !e.is_nx_domain() => {
                return Err(DnsError(self.no_address(host).await));
            }
            Err(e) => return Err(DnsError(format!("{host}: {}", describe(&e)))),
        };
        let mut ips: Vec<IpAddr> = Vec::new();
        for ip in lookup.iter().filter(|ip| family.admits(ip)) {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        ips.sort_by_key(|ip| ip.is_ipv6());
        if ips.is_empty() {
            let which = match family {
                Family::Any => "address",
                Family::V4 => "IPv4 address",
                Family::V6 => "IPv6 address",
            };
            return Err(DnsError(format!("{host}: no {which}")));
        }
        Ok(ips)
    }

    /// Why `host` has no address, when its name exists: plainly none, or a CNAME chain that
    /// loops or ends nowhere (RFC 1034 §3.6.2), followed here at most [`CNAME_STEPS`] steps,
    /// only on this failure path.
    async fn no_address(&self, host: &str) -> String {
        let mut chain = vec![host.trim_end_matches('.').to_ascii_lowercase()];
        while chain.len() <= CNAME_STEPS {
            let Some(name) = chain.last() else { break };
            let fqdn = format!("{name}.");
            let next = self
                .inner
                .lookup(fqdn.as_str(), RecordType::CNAME)
                .await
                .ok()
                .and_then(|lookup| {
                    lookup.answers().iter().find_map(|r| match &r.data {
                        RData::CNAME(target) => Some(target.0.to_ascii()),
                        _ => None,
                    })
                });
            let Some(next) = next else { break };
            let next = next.trim_end_matches('.').to_ascii_lowercase();
            let looped = chain.contains(&next);
            chain.push(next);
            if looped {
                return format!(
                    "{host}: the CNAME chain loops ({})",
                    escape_str(&chain.join(" → "))
                );
            }
        }
        match chain.len() {
            1 => format!("{host}: no address records"),
            n if n > CNAME_STEPS => format!(
                "{host}: CNAME chain longer than {CNAME_STEPS} steps ({} …)",
                escape_str(&chain.join(" → "))
            ),
            _ => format!(
                "{host}: the CNAME chain ends without an address ({})",
                escape_str(&chain.join(" → "))
            ),
        }
    }

    /// The MX hosts of `domain`, most preferred first. With no MX records, the domain itself
    /// is the implicit MX (RFC 5321 §5.1); a null MX (RFC 7505) is an error.
    pub async fn mx(&self, domain: &str) -> Result<Vec<MxHost>, DnsError> {
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        let lookup = match self.inner.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => lookup,
            Err(e) if e.is_no_records_found() && !e.is_nx_domain() => {
                return Ok(vec![MxHost {
                    preference: 0,
                    host: domain.to_string(),
                }]);
            }
            Err(e) => return Err(DnsError(format!("MX {domain}: {}", describe(&e)))),
        };
        let mut hosts: Vec<MxHost> = lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::MX(mx) => Some(MxHost {
                    preference: mx.preference,
                    host: mx
                        .exchange
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                }),
                _ => None,
            })
            .collect();
        hosts.sort_by(|a, b| (a.preference, &a.host).cmp(&(b.preference, &b.host)));
        hosts.dedup();
        if hosts.iter().any(|h| h.host.is_empty()) {
            return Err(DnsError(format!(
                "{domain} has a null MX: it accepts no mail"
            )));
        }
        if hosts.is_empty() {
            return Err(DnsError(format!("MX {domain}: answer holds no MX record")));
        }
        Ok(hosts)
    }
}

/// A configuration asking exactly `servers`, each over UDP with TCP for truncated answers.
pub(crate) fn name_servers(servers: &[SocketAddr]) -> ResolverConfig {
    ResolverConfig::from_name_servers(
        servers
            .iter()
            .map(|server| {
                let mut udp = ConnectionConfig::udp();
                udp.port = server.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = server.port();
                NameServerConfig::new(server.ip(), true, vec![udp, tcp])
            })
            .collect(),
    )
}

/// The longest CNAME chain [`Resolver::no_address`] follows to explain a failure.
const CNAME_STEPS: usize = 8;

fn describe(e: &hickory_resolver::net::NetError) -> String {
    if e.is_nx_domain() {
        "no such domain (NXDOMAIN)".into()
    } else if e.is_no_records_found() {
        "no records of that type".into()
    } else {
        crate::escape::escape_str(&e.to_string())
    }
}
