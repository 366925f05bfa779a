//! TLS for probes: a verifier that records what it saw, and certificate facts (the trust store
//! itself is [`crate::trust`]'s).
//!
//! Monitoring needs the facts of a chain most when it does *not* verify (which name was on it,
//! who issued it, when it expired), so `RecordingVerifier` wraps rustls' WebPKI verifier,
//! keeps the presented chain and the verdict, and lets the handshake finish; the probe enforces
//! the verdict afterwards (or not, with `--insecure`), after a polite QUIT. TLS 1.2 and 1.3
//! only, ring provider only.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::escape::escape_str;
use crate::report::{CertFacts, TlsFacts};

/// A client configuration and the verifier that records into it.
pub(crate) type Recording = (Arc<ClientConfig>, Arc<RecordingVerifier>);

/// A fresh client configuration for one probe, whose verifier records the chain and its
/// verdict and never fails the handshake (the caller enforces the verdict afterwards), and the
/// name to send.
pub(crate) fn recording_setup(
    trust: &crate::trust::LazyTrust,
    name: &str,
) -> Result<(Recording, ServerName<'static>), String> {
    let trust = trust.get().map_err(|e| e.to_string())?;
    let recorder = Arc::new(RecordingVerifier {
        inner: trust.verifier(),
        seen: Mutex::new(None),
    });
    let mut config = ClientConfig::builder_with_provider(trust.provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    // Every probe does a full handshake and verifies the chain, so nothing is ever resumed: no
    // session cache to allocate per probe, and the server's tickets are not kept (rustls
    // stored each with a copy of the chain).
    config.resumption = rustls::client::Resumption::disabled();
    let name = crate::trust::server_name(name).map_err(|e| e.to_string())?;
    Ok(((Arc::new(config), recorder), name))
}

/// How to trust a private CA, for a chain that does not reach a trusted root.
pub(crate) fn trust_hint(why: &str) -> &'static str {
    if why.contains("UnknownIssuer") {
        " (a private CA? trust it with --ca-file or ca_file; --insecure records the verdict \
         without enforcing it)"
    } else {
        ""
    }
}

/// The chain a server presented and whether it verified.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The WebPKI verdict.
    pub verdict: Result<(), rustls::Error>,
}

/// Wraps the WebPKI verifier: records the chain and verdict, and accepts the chain either way.
#[derive(Debug)]
pub(crate) struct RecordingVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    seen: Mutex<Option<Seen>>,
}

impl RecordingVerifier {
    /// What the handshake presented, if it got that far.
    pub fn seen(&self) -> Option<Seen> {
        self.seen.lock().ok().and_then(|s| s.clone())
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        let verdict = result.as_ref().map(|_| ()).map_err(Clone::clone);
        if let Ok(mut slot) = self.seen.lock() {
            *slot = Some(Seen { chain, verdict });
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Builds the report's TLS facts from what the verifier saw and the session's parameters.
pub fn facts(
    seen: Option<Seen>,
    version: Option<String>,
    cipher: Option<String>,
    now: SystemTime,
) -> Option<TlsFacts> {
    if seen.is_none() && version.is_none() {
        return None;
    }
    let (chain_der, verify_error) = match seen {
        Some(s) => (s.chain, s.verdict.err().map(|e| e.to_string())),
        None => (Vec::new(), Some("no certificate was presented".to_string())),
    };
    let parsed: Vec<Option<(CertFacts, i64)>> =
        chain_der.iter().map(|der| cached_cert_facts(der)).collect();
    let leaf_not_after = parsed.first().and_then(|p| p.as_ref().map(|(_, t)| *t));
    let chain: Vec<CertFacts> = parsed.into_iter().flatten().map(|(f, _)| f).collect();
    let now_unix = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Some(TlsFacts {
        version,
        cipher,
        verified: verify_error.is_none(),
        verify_error: verify_error.map(|e| escape_str(&e)),
        cert_not_after: leaf_not_after.map(system_time_from_unix),
        cert_seconds_left: leaf_not_after
            .map(|t| ((t as f64 - now_unix) * 1000.0).round() / 1000.0),
        chain,
        chain_der: chain_der.iter().map(|c| c.as_ref().to_vec()).collect(),
    })
}

/// Why a server refused the handshake, when it refused what smtpwatch offers. rustls offers
/// TLS 1.3 and TLS 1.2 with ECDHE key exchange and AEAD ciphers only; servers that still offer
/// nothing but CBC-mode or static-RSA suites, or TLS 1.1 and older, refuse it, though
/// OpenSSL-based senders still connect to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A `handshake_failure` (or `insufficient_security`) alert: no suite in common.
    Suites,
    /// A `protocol_version` alert: TLS 1.1 or older only.
    Version,
}

impl Refusal {
    /// The refusal `error` (a failed handshake) carries, if it is one.
    pub fn of(error: &std::io::Error) -> Option<Refusal> {
        use rustls::AlertDescription as Alert;
        let rustls::Error::AlertReceived(alert) = error
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())?
        else {
            return None;
        };
        match alert {
            Alert::HandshakeFailure | Alert::InsufficientSecurity => Some(Refusal::Suites),
            Alert::ProtocolVersion => Some(Refusal::Version),
            _ => None,
        }
    }

    /// What it means, appended to the TLS library's message.
    pub fn hint(self) -> &'static str {
        match self {
            Refusal::Suites => {
                ": the server accepts none of the cipher suites smtpwatch offers (TLS 1.3; TLS \
                 1.2 with ECDHE and AES-GCM or ChaCha20-Poly1305); it probably offers only \
                 CBC-mode or static-RSA suites, which smtpwatch does not implement (see README, \
                 Legacy TLS)"
            }
            Refusal::Version => {
                ": the server speaks only TLS 1.1 or older, which smtpwatch does not offer (see \
                 README, Legacy TLS)"
            }
        }
    }
}

/// `TLSv1.3` / `TLSv1.2`.
pub fn version_name(version: rustls::ProtocolVersion) -> String {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}

/// The IANA name of a cipher suite.
pub fn cipher_name(suite: rustls::CipherSuite) -> String {
    suite
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("{suite:?}"))
}

/// Certificates whose facts are kept, at most: the agent meets the same certificates round
/// after round, and reading one (x509-parser, its names rendered) cost ~230,000 instructions,
/// a fifth of a verified STARTTLS probe (`bench/probe_vs_blackbox.sh`). Emptied when full.
const FACTS_CACHE_ENTRIES: usize = 4096;

/// Facts already read, by the certificate's SHA-256.
type FactsCache = std::collections::HashMap<[u8; 32], (CertFacts, i64)>;

static FACTS: std::sync::LazyLock<Mutex<FactsCache>> = std::sync::LazyLock::new(Mutex::default);

/// The facts of `der` and its end of validity (seconds since the epoch, unclamped), read once
/// per distinct certificate; the key is the whole certificate's digest, so a changed
/// certificate is read anew.
fn cached_cert_facts(der: &[u8]) -> Option<(CertFacts, i64)> {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let key: [u8; 32] = digest.as_ref().try_into().ok()?;
    if let Some(known) = FACTS.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Some(known);
    }
    let fresh = cert_facts(der, &key)?;
    if let Ok(mut cache) = FACTS.lock() {
        remember(&mut cache, key, fresh.clone(), FACTS_CACHE_ENTRIES);
    }
    Some(fresh)
}

fn remember(cache: &mut FactsCache, key: [u8; 32], facts: (CertFacts, i64), limit: usize) {
    if cache.len() >= limit {
        cache.clear();
    }
    cache.insert(key, facts);
}

/// Certificates are untrusted input: clamp their dates to what a report can print.
fn system_time_from_unix(secs: i64) -> SystemTime {
    const MAX_RFC3339: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    UNIX_EPOCH + Duration::from_secs(secs.clamp(0, MAX_RFC3339 as i64) as u64)
}

fn cert_facts(der: &[u8], sha256: &[u8; 32]) -> Option<(CertFacts, i64)> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let mut sans = Vec::new();
    if let Ok(Some(ext)) = cert.subject_alternative_name() {
        for name in &ext.value.general_names {
            match name {
                GeneralName::DNSName(n) => sans.push(escape_str(n)),
                GeneralName::IPAddress(b) => sans.push(match b.len() {
                    4 => IpAddr::from(<[u8; 4]>::try_from(*b).ok()?).to_string(),
                    16 => IpAddr::from(<[u8; 16]>::try_from(*b).ok()?).to_string(),
                    _ => continue,
                }),
                _ => {}
            }
        }
    }
    let not_after = cert.validity().not_after.timestamp();
    let facts = CertFacts {
        subject: escape_str(&super::cert_name::text(cert.subject())),
        issuer: escape_str(&super::cert_name::text(cert.issuer())),
        not_after: system_time_from_unix(not_after),
        sans,
        sha256: sha256.iter().map(|b| format!("{b:02x}")).collect(),
    };
    Some((facts, not_after))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(name: &str) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
        params.self_signed(&key).expect("cert").der().to_vec()
    }

    #[test]
    fn facts_read_once_are_the_facts_read_fresh() {
        let der = certificate("cached.test");
        let digest = ring::digest::digest(&ring::digest::SHA256, &der);
        let key: [u8; 32] = digest.as_ref().try_into().expect("32 bytes");
        let fresh = cert_facts(&der, &key).expect("parses");
        assert_eq!(cached_cert_facts(&der), Some(fresh.clone()));
        assert_eq!(
            cached_cert_facts(&der),
            Some(fresh.clone()),
            "from the cache"
        );
        assert_eq!(fresh.0.sans, ["cached.test"]);
        let other = certificate("other.test");
        assert_eq!(
            cached_cert_facts(&other).map(|(f, _)| f.sans),
            Some(vec!["other.test".to_string()]),
            "another certificate, other facts"
        );
        assert_eq!(cached_cert_facts(b"not a certificate"), None);
    }

    #[test]
    fn the_cache_is_bounded() {
        let der = certificate("bounded.test");
        let facts = cert_facts(&der, &[0; 32]).expect("parses");
        let mut cache = FactsCache::new();
        for i in 0..10u8 {
            remember(&mut cache, [i; 32], facts.clone(), 4);
            assert!(cache.len() <= 4);
            assert!(cache.contains_key(&[i; 32]), "the newest is kept");
        }
    }
}
