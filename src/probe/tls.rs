//! TLS for probes: trust store, a verifier that records what it saw, and certificate facts.
//!
//! Monitoring needs the facts of a chain most when it does *not* verify (which name was on it,
//! who issued it, when it expired), so `RecordingVerifier` wraps rustls' WebPKI verifier,
//! keeps the presented chain and the verdict, and only then enforces it (or not, with
//! `--insecure`). TLS 1.2 and 1.3 only, ring provider only.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::escape::escape_str;
use crate::report::{CertFacts, TlsFacts};

/// Trusted roots and the verifier built from them, shared by every probe.
#[derive(Clone)]
pub struct Trust {
    provider: Arc<CryptoProvider>,
    verifier: Arc<WebPkiServerVerifier>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trust")
    }
}

/// A trust store that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A `--ca-file` could not be read or holds no usable certificate.
    #[error("CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// No root at all: no system store and no CA file.
    #[error("no trusted CA certificates: {0}")]
    Empty(String),
}

impl Trust {
    /// The system's trust store (falling back to the bundled Mozilla roots when the system has
    /// none), plus every certificate in `ca_files`.
    pub fn load(ca_files: &[PathBuf]) -> Result<Trust, TrustError> {
        let mut roots = RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(system_roots());
        if added == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for path in ca_files {
            add_ca_file(&mut roots, path)?;
        }
        Trust::from_roots(roots)
    }

    /// Only the given roots (for tests and for `--ca-file` without the system store).
    pub fn from_roots(roots: RootCertStore) -> Result<Trust, TrustError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TrustError::Empty(e.to_string()))?;
        Ok(Trust { provider, verifier })
    }

    /// A fresh client configuration whose verifier records into the returned slot.
    pub(crate) fn client_config(
        &self,
        insecure: bool,
    ) -> Result<(Arc<ClientConfig>, Arc<RecordingVerifier>), rustls::Error> {
        let recorder = Arc::new(RecordingVerifier {
            inner: self.verifier.clone(),
            insecure,
            seen: Mutex::new(None),
        });
        let config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth();
        Ok((Arc::new(config), recorder))
    }

    /// A plain verifying client configuration (ring provider), for HTTPS clients such as the
    /// notifiers.
    pub fn https_client_config(&self) -> Result<ClientConfig, rustls::Error> {
        Ok(ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_webpki_verifier(self.verifier.clone())
            .with_no_client_auth())
    }
}

/// Distribution CA bundles, one file holding every trusted root.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Alpine, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",             // openSUSE
    "/etc/ssl/cert.pem",                  // BSDs, macOS
];

/// The system's roots, cheaply: start-up cost matters for a Nagios plugin run every minute.
///
/// `SSL_CERT_FILE` names one bundle; otherwise the distribution's bundle file is read. Only
/// when neither exists (or `SSL_CERT_DIR` is set alone) does rustls-native-certs scan a
/// directory, which on Debian opens ~150 files holding the same certificates as the bundle.
fn system_roots() -> Vec<CertificateDer<'static>> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let dir_only = from_env.is_none() && std::env::var_os("SSL_CERT_DIR").is_some();
    let candidates: Vec<PathBuf> = match from_env {
        Some(file) => vec![file],
        None if dir_only => Vec::new(),
        None => SYSTEM_BUNDLES.iter().map(PathBuf::from).collect(),
    };
    for bundle in candidates {
        if let Ok(iter) = CertificateDer::pem_file_iter(&bundle) {
            let certs: Vec<_> = iter.filter_map(Result::ok).collect();
            if !certs.is_empty() {
                return certs;
            }
        }
    }
    rustls_native_certs::load_native_certs().certs
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), TrustError> {
    let fail = |reason: String| TrustError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificate in it".into()));
    }
    for cert in certs {
        roots.add(cert).map_err(|e| fail(e.to_string()))?;
    }
    Ok(())
}

/// The chain a server presented and whether it verified.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The WebPKI verdict.
    pub verdict: Result<(), String>,
}

/// Wraps the WebPKI verifier: records the chain and verdict, enforces it unless insecure.
#[derive(Debug)]
pub(crate) struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    insecure: bool,
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
        let verdict = result.as_ref().map(|_| ()).map_err(|e| e.to_string());
        if let Ok(mut slot) = self.seen.lock() {
            *slot = Some(Seen { chain, verdict });
        }
        if self.insecure {
            Ok(ServerCertVerified::assertion())
        } else {
            result
        }
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

/// The name to send as SNI and verify against: a DNS name, or an IP for IP literals.
pub fn server_name(name: &str) -> Result<ServerName<'static>, String> {
    if let Ok(ip) = name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(name.to_string()).map_err(|e| format!("invalid server name {name:?}: {e}"))
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
    let (chain_der, verdict) = match seen {
        Some(s) => (s.chain, s.verdict),
        None => (Vec::new(), Err("no certificate was presented".to_string())),
    };
    let chain: Vec<CertFacts> = chain_der.iter().filter_map(|der| cert_facts(der)).collect();
    let leaf_not_after = chain_der.first().and_then(|der| not_after_unix(der));
    let now_unix = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    Some(TlsFacts {
        version,
        cipher,
        verified: verdict.is_ok(),
        verify_error: verdict.err().map(|e| escape_str(&e)),
        cert_not_after: leaf_not_after.map(system_time_from_unix),
        cert_seconds_left: leaf_not_after
            .map(|t| ((t as f64 - now_unix) * 1000.0).round() / 1000.0),
        chain,
        chain_der: chain_der.iter().map(|c| c.as_ref().to_vec()).collect(),
    })
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

fn not_after_unix(der: &[u8]) -> Option<i64> {
    X509Certificate::from_der(der)
        .ok()
        .map(|(_, c)| c.validity().not_after.timestamp())
}

/// Certificates are untrusted input: clamp their dates to what a report can print.
fn system_time_from_unix(secs: i64) -> SystemTime {
    const MAX_RFC3339: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    UNIX_EPOCH + Duration::from_secs(secs.clamp(0, MAX_RFC3339 as i64) as u64)
}

fn cert_facts(der: &[u8]) -> Option<CertFacts> {
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
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    Some(CertFacts {
        subject: escape_str(&cert.subject().to_string()),
        issuer: escape_str(&cert.issuer().to_string()),
        not_after: system_time_from_unix(cert.validity().not_after.timestamp()),
        sans,
        sha256: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
    })
}
