//! Trust stores: the system's roots plus operator CA files, and the one HTTPS client builder
//! that notifiers and the MTA-STS policy fetcher share. Probes build their recording TLS
//! configuration from a [`Trust`] in [`crate::probe::tls`].
//!
//! The agent decodes the system bundle at most once per process (`system_roots`), so several
//! CA files do not decode it once each; `check` decodes only the roots a chain can use
//! ([`Trust::on_demand`]).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

mod base64;
mod names;
mod on_demand;
pub mod pem;

/// Trusted roots and the verifier built from them, shared by every probe.
#[derive(Clone)]
pub struct Trust {
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trust")
    }
}

/// A trust store that could not be built.
#[derive(Debug, Clone, thiserror::Error)]
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
        let (added, _ignored) = roots.add_parsable_certificates(system_roots().iter().cloned());
        if added == 0 {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        for path in ca_files {
            add_ca_file(&mut roots, path)?;
        }
        Trust::from_roots(roots)
    }

    /// The same trust as [`Trust::load`], for a process that verifies a chain or two: the
    /// system store is indexed, not decoded, and each chain is verified against the roots that
    /// can issue it ([`on_demand`]). The CA files are read now, so a bad one is reported now.
    pub fn on_demand(ca_files: &[PathBuf]) -> Result<Trust, TrustError> {
        let mut extra = RootCertStore::empty();
        for path in ca_files {
            add_ca_file(&mut extra, path)?;
        }
        let provider = Arc::new(provider());
        let verifier =
            on_demand::OnDemandVerifier::new(provider.clone(), extra.roots, bundle_candidates());
        Ok(Trust {
            provider,
            verifier: Arc::new(verifier),
        })
    }

    /// Only the given roots (for tests and for `--ca-file` without the system store).
    pub fn from_roots(roots: RootCertStore) -> Result<Trust, TrustError> {
        let provider = Arc::new(provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TrustError::Empty(e.to_string()))?;
        Ok(Trust { provider, verifier })
    }

    /// The WebPKI verifier of these roots.
    pub(crate) fn verifier(&self) -> Arc<dyn ServerCertVerifier> {
        self.verifier.clone()
    }

    /// The crypto provider (ring).
    pub(crate) fn provider(&self) -> Arc<CryptoProvider> {
        self.provider.clone()
    }

    /// A plain verifying client configuration (ring provider), for HTTPS clients such as the
    /// notifiers.
    pub fn https_client_config(&self) -> Result<ClientConfig, rustls::Error> {
        Ok(ClientConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .dangerous()
            .with_custom_certificate_verifier(self.verifier.clone())
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

/// The system's roots, decoded once per process, cheaply: start-up cost matters for a Nagios plugin run every minute.
///
/// `SSL_CERT_FILE` names one bundle; otherwise the distribution's bundle file is read. Only
/// when neither exists (or `SSL_CERT_DIR` is set alone) does rustls-native-certs scan a
/// directory, which on Debian opens ~150 files holding the same certificates as the bundle.
/// ring's provider with the same cipher suites as its default, AES-128-GCM first in each
/// protocol version instead of AES-256-GCM. The suite fixes the handshake's hash: SHA-256,
/// which x86 and ARM CPUs compute in hardware, instead of SHA-384, which they do not, so
/// the TLS 1.3 key schedule's 32 HMAC keys and 56 digests cost a fraction (they were a tenth
/// of a verified STARTTLS check's instructions). Servers that prefer their own order (Postfix's
/// `tls_preempt_cipherlist`) still choose; both suites are TLS 1.3's and equally acceptable.
pub fn provider() -> CryptoProvider {
    let mut provider = rustls::crypto::ring::default_provider();
    let aes_128_first = |suite: &rustls::SupportedCipherSuite| {
        use rustls::CipherSuite as Suite;
        !matches!(
            suite.suite(),
            Suite::TLS13_AES_128_GCM_SHA256
                | Suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
                | Suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        )
    };
    // Stable: otherwise rustls' order, TLS 1.3 suites before TLS 1.2 ones.
    provider.cipher_suites.sort_by_key(|suite| {
        (
            suite.version() != &rustls::version::TLS13,
            aes_128_first(suite),
        )
    });
    provider
}

fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(read_system_roots)
}

/// The bundle files to try, in order (`SSL_CERT_FILE` alone when set; none when only
/// `SSL_CERT_DIR` is).
fn bundle_candidates() -> Vec<PathBuf> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let dir_only = from_env.is_none() && std::env::var_os("SSL_CERT_DIR").is_some();
    match from_env {
        Some(file) => vec![file],
        None if dir_only => Vec::new(),
        None => SYSTEM_BUNDLES.iter().map(PathBuf::from).collect(),
    }
}

fn read_system_roots() -> Vec<CertificateDer<'static>> {
    for bundle in bundle_candidates() {
        if let Ok(text) = pem::read_file(&bundle) {
            let certs: Vec<_> = pem::certificates(&text)
                .into_iter()
                .filter_map(Result::ok)
                .collect();
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
    let text = pem::read_file(path).map_err(|e| fail(e.to_string()))?;
    let certs: Vec<CertificateDer<'static>> = pem::certificates(&text)
        .into_iter()
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

/// The trust store, loaded on first use: a plaintext probe never pays for parsing it.
#[derive(Debug)]
pub struct LazyTrust {
    ca_files: Vec<std::path::PathBuf>,
    cell: OnceLock<Result<Trust, TrustError>>,
}

impl LazyTrust {
    /// The system store plus `ca_files`, loaded when first needed.
    pub fn new(ca_files: Vec<std::path::PathBuf>) -> Self {
        LazyTrust {
            ca_files,
            cell: OnceLock::new(),
        }
    }

    /// An already-built trust store (tests, or a caller that checked it up front).
    pub fn ready(trust: Trust) -> Self {
        LazyTrust {
            ca_files: Vec::new(),
            cell: OnceLock::from(Ok(trust)),
        }
    }

    /// Loads now and reports errors (so `check` can exit 3 on a bad `--ca-file` before probing).
    pub fn get(&self) -> Result<&Trust, TrustError> {
        self.cell
            .get_or_init(|| Trust::load(&self.ca_files))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// An HTTPS client trusting `trust`: ring, TLS 1.2 and 1.3, no redirects (a webhook or policy
/// server that redirects is misconfigured, and following it could send data somewhere
/// unexpected), smtpwatch's user agent, and `timeout` on every request when given. `build`
/// adds what a caller needs beyond that (a resolver, no proxy).
pub fn https_client(
    trust: &Trust,
    timeout: Option<Duration>,
    build: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
) -> Result<reqwest::Client, ClientError> {
    let tls = trust.https_client_config().map_err(ClientError::Tls)?;
    let mut builder = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("smtpwatch/", env!("CARGO_PKG_VERSION")));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    build(builder)
        .build()
        .map_err(|e| ClientError::Build(e.without_url().to_string()))
}

/// An HTTPS client that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The trust store.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// The TLS configuration.
    #[error("TLS set-up: {0}")]
    Tls(rustls::Error),
    /// The HTTP client (the message carries no URL).
    #[error("HTTP client set-up: {0}")]
    Build(String),
}

/// The name to send as SNI and verify against: a DNS name, or an IP for IP literals.
pub fn server_name(name: &str) -> Result<ServerName<'static>, ServerNameError> {
    if let Ok(ip) = name
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(name.to_string()).map_err(|e| ServerNameError {
        name: name.to_string(),
        reason: e.to_string(),
    })
}

/// A name that cannot be sent as SNI or verified against.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid server name {name:?}: {reason}")]
pub struct ServerNameError {
    name: String,
    reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_provider_offers_rings_suites_with_aes_128_first_in_each_version() {
        let ours: Vec<_> = provider().cipher_suites.iter().map(|s| s.suite()).collect();
        let mut theirs: Vec<_> = rustls::crypto::ring::default_provider()
            .cipher_suites
            .iter()
            .map(|s| s.suite())
            .collect();
        assert_eq!(ours[0], rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        let first_tls12 = ours
            .iter()
            .position(|s| format!("{s:?}").starts_with("TLS_ECDHE"))
            .expect("TLS 1.2 suites");
        assert!(ours[..first_tls12]
            .iter()
            .all(|s| format!("{s:?}").starts_with("TLS13_")));
        assert!(format!("{:?}", ours[first_tls12]).contains("AES_128_GCM"));
        let mut sorted = ours.clone();
        sorted.sort_by_key(|s| u16::from(*s));
        theirs.sort_by_key(|s| u16::from(*s));
        assert_eq!(sorted, theirs, "the same suites");
    }
}
