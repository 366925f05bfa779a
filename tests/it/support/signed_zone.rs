//! An in-process DNSSEC-signed authoritative zone (hickory-server) on 127.0.0.1, and the trust
//! anchor that validates it: hermetic DNSSEC, DANE, MTA-STS and TLS-RPT tests.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::dnssec::crypto::EcdsaSigningKey;
use hickory_resolver::proto::dnssec::rdata::DNSKEY;
use hickory_resolver::proto::dnssec::{Algorithm, DnssecSigner, SigningKey, TrustAnchors};
use hickory_resolver::proto::rr::rdata::tlsa::{CertUsage, Matching, Selector};
use hickory_resolver::proto::rr::rdata::{A, AAAA, MX, NS, SOA, TLSA, TXT};
use hickory_resolver::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::dnssec::NxProofKind;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use hickory_server::Server;

fn name(text: &str) -> Name {
    Name::from_str(text).expect("name")
}

/// What goes into a zone, by owner name (absolute, with the trailing dot).
pub enum Rec {
    Mx(&'static str, u16, &'static str),
    Addr(&'static str, IpAddr),
    Txt(&'static str, &'static str),
    Tlsa(&'static str, u8, u8, u8, Vec<u8>),
    /// A delegation: NS of a child zone (no DS: an insecure delegation).
    Ns(&'static str, &'static str),
}

/// A zone served on 127.0.0.1; signed unless `signed` is false.
pub struct Zone {
    /// UDP and TCP port.
    pub addr: SocketAddr,
    anchor: Option<Arc<dyn hickory_resolver::proto::dnssec::PublicKey + Send + Sync>>,
    dnskey: Option<DNSKEY>,
    origin: Name,
    _server: Server<Catalog>,
}

impl Zone {
    /// Serves `origin` with `records` (SOA and NS added).
    pub async fn start(origin: &str, signed: bool, records: Vec<Rec>) -> Zone {
        let origin_name = name(origin);
        let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            origin_name.clone(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
            signed.then_some(NxProofKind::Nsec),
        );
        let soa = SOA::new(
            name(&format!("ns.{origin}")),
            name(&format!("hostmaster.{origin}")),
            1,
            3600,
            600,
            86400,
            0,
        );
        let mut all = vec![
            Record::from_rdata(origin_name.clone(), 0, RData::SOA(soa)),
            Record::from_rdata(
                origin_name.clone(),
                0,
                RData::NS(NS(name(&format!("ns.{origin}")))),
            ),
        ];
        for r in records {
            let (owner, data) = match r {
                Rec::Mx(owner, pref, host) => (name(owner), RData::MX(MX::new(pref, name(host)))),
                Rec::Addr(owner, IpAddr::V4(v4)) => (name(owner), RData::A(A(v4))),
                Rec::Addr(owner, IpAddr::V6(v6)) => (name(owner), RData::AAAA(AAAA(v6))),
                Rec::Txt(owner, text) => {
                    (name(owner), RData::TXT(TXT::new(vec![text.to_string()])))
                }
                Rec::Ns(owner, host) => (name(owner), RData::NS(NS(name(host)))),
                Rec::Tlsa(owner, u, s, m, data) => (
                    name(owner),
                    RData::TLSA(TLSA::new(
                        CertUsage::from(u),
                        Selector::from(s),
                        Matching::from(m),
                        data,
                    )),
                ),
            };
            all.push(Record::from_rdata(owner, 0, data));
        }
        for record in all {
            assert!(zone.upsert_mut(record, 1), "record added");
        }
        let mut anchor = None;
        let mut dnskey = None;
        if signed {
            let alg = Algorithm::ECDSAP256SHA256;
            let pkcs8 = EcdsaSigningKey::generate_pkcs8(alg).expect("key");
            let key = EcdsaSigningKey::from_pkcs8(&pkcs8, alg).expect("key");
            let public = key.to_public_key().expect("public key");
            dnskey = Some(DNSKEY::from_key(&public));
            let signer = DnssecSigner::new(
                DNSKEY::from_key(&public),
                Box::new(key),
                origin_name.clone(),
                Duration::from_secs(86400),
            );
            zone.add_zone_signing_key_mut(signer).expect("signing key");
            zone.secure_zone_mut().expect("sign the zone");
            anchor = Some(Arc::new(public) as Arc<_>);
        }
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(&origin_name), vec![Arc::new(zone)]);
        let mut server = Server::new(catalog);
        let (udp, tcp) = udp_and_tcp_on_one_port().await;
        let addr = udp.local_addr().expect("addr");
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64);
        Zone {
            addr,
            anchor,
            dnskey,
            origin: origin_name,
            _server: server,
        }
    }

    /// The zone's key as a DNSKEY record in zone-file form (for `dnssec_trust_anchor`).
    pub fn anchor_record(&self) -> String {
        let key = self.dnskey.as_ref().expect("a signed zone");
        format!("{} 3600 IN DNSKEY {key}\n", self.origin)
    }

    /// A trust anchor holding this zone's key (None for an unsigned zone).
    pub fn anchors(&self) -> std::sync::Arc<TrustAnchors> {
        let mut anchors = TrustAnchors::empty();
        if let Some(key) = &self.anchor {
            anchors.insert_with_name(key.as_ref(), LowerName::new(&self.origin));
        }
        std::sync::Arc::new(anchors)
    }
}

/// A UDP socket and a TCP listener on the same free port of 127.0.0.1. The UDP port the kernel
/// picks may be taken for TCP by another test, so a few ports are tried.
async fn udp_and_tcp_on_one_port() -> (tokio::net::UdpSocket, tokio::net::TcpListener) {
    for _ in 0..20 {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("udp");
        let addr = udp.local_addr().expect("addr");
        if let Ok(tcp) = tokio::net::TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP after 20 tries");
}
