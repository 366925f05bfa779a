//! `[agent] web_config_file`: the Prometheus exporter-toolkit web configuration (the file
//! node_exporter and blackbox_exporter read with `--web.config.file`), YAML:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt          # relative paths are relative to this file
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # or NoClientCert, VerifyClientCertIfGiven
//!   client_ca_file: clients-ca.crt
//!   min_version: TLS12             # or TLS13
//! basic_auth_users:
//!   prometheus: $2y$10$…           # bcrypt hashes (htpasswd -nBC 10 "" | tr -d ':')
//! ```
//!
//! What rustls cannot do is refused with a clear message rather than ignored: TLS 1.0/1.1,
//! `RequestClientCert` and `RequireAnyClientCert` (a client certificate taken unverified),
//! `cipher_suites` and `curve_preferences` (rustls' choice: AEAD suites, X25519 and P-256).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use rustls::server::WebPkiClientVerifier;
use serde::Deserialize;

/// The largest web configuration file read (it holds a few paths and hashes).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebFile {
    tls_server_config: Option<RawTls>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    http_server_config: Option<RawHttp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    /// Accepted for compatibility; the agent serves HTTP/1.1.
    #[allow(dead_code)]
    http2: Option<bool>,
}

/// A loaded web configuration.
#[derive(Debug, Clone)]
pub struct WebFile {
    /// The TLS server configuration (None: plain HTTP).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// User name → bcrypt hash (empty: no authentication).
    pub users: BTreeMap<String, String>,
}

/// Reads and checks the file at `path` (every file it names included).
pub fn load(path: &Path) -> Result<WebFile, String> {
    let text = read_bounded(path)?;
    let raw: RawWebFile = serde_saphyr::from_str(&text).map_err(|e| {
        // The parser's message names the line and column; values are never secrets here.
        format!("{}: {e}", path.display())
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let tls = match raw.tls_server_config {
        None => None,
        Some(t) => {
            Some(Arc::new(tls_config(t, base).map_err(|e| {
                format!("{}: tls_server_config: {e}", path.display())
            })?))
        }
    };
    let users = raw.basic_auth_users.unwrap_or_default();
    for (user, hash) in &users {
        let bcrypt = ["$2a$", "$2b$", "$2x$", "$2y$"]
            .iter()
            .any(|p| hash.starts_with(p))
            && hash.len() == 60;
        if !bcrypt {
            return Err(format!(
                "{}: basic_auth_users: the value for {user:?} is not a bcrypt hash \
                 (htpasswd -nBC 10 \"\" | tr -d ':' makes one)",
                path.display()
            ));
        }
    }
    let _ = raw.http_server_config;
    Ok(WebFile { tls, users })
}

fn read_bounded(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{}: larger than {MAX_FILE_BYTES} bytes",
            path.display()
        ));
    }
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn tls_config(t: RawTls, base: &Path) -> Result<rustls::ServerConfig, String> {
    let at = |p: &Path| {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };
    let versions = versions(t.min_version.as_deref(), t.max_version.as_deref())?;
    let cert_file = t
        .cert_file
        .as_deref()
        .map(at)
        .ok_or("cert_file is required")?;
    let key_file = t
        .key_file
        .as_deref()
        .map(at)
        .ok_or("key_file is required")?;
    let cert_text = read_bounded(&cert_file)?;
    let chain: Vec<_> = crate::trust::pem::certificates(cert_text.as_bytes())
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cert_file {}: {e}", cert_file.display()))?;
    if chain.is_empty() {
        return Err(format!("cert_file {}: no certificate", cert_file.display()));
    }
    let key = PrivateKeyDer::from_pem_slice(read_bounded(&key_file)?.as_bytes())
        .map_err(|_| format!("key_file {}: no private key (PEM)", key_file.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| e.to_string())?;
    let kind = t.client_auth_type.as_deref().unwrap_or("NoClientCert");
    let builder = match kind {
        "NoClientCert" => builder.with_no_client_auth(),
        "VerifyClientCertIfGiven" | "RequireAndVerifyClientCert" => {
            let ca = t
                .client_ca_file
                .as_deref()
                .map(at)
                .ok_or_else(|| format!("client_auth_type {kind} needs client_ca_file"))?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in crate::trust::pem::certificates(read_bounded(&ca)?.as_bytes()) {
                let cert = cert.map_err(|e| format!("client_ca_file {}: {e}", ca.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("client_ca_file {}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if kind == "VerifyClientCertIfGiven" {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
        }
        "RequestClientCert" | "RequireAnyClientCert" => {
            return Err(format!(
                "client_auth_type {kind} (a client certificate taken unverified) is not \
                 supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            ))
        }
        other => {
            return Err(format!(
                "client_auth_type {other:?} is not one of NoClientCert, \
                 VerifyClientCertIfGiven, RequireAndVerifyClientCert"
            ))
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("cert_file and key_file: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let rank = |v: &str, key: &str| match v {
        "TLS12" => Ok(12),
        "TLS13" => Ok(13),
        "TLS10" | "TLS11" => Err(format!(
            "{key} {v}: TLS 1.0 and 1.1 are not supported (rustls speaks TLS 1.2 and 1.3)"
        )),
        other => Err(format!("{key} {other:?} is not TLS12 or TLS13")),
    };
    let low = min
        .map(|v| rank(v, "min_version"))
        .transpose()?
        .unwrap_or(12);
    let high = max
        .map(|v| rank(v, "max_version"))
        .transpose()?
        .unwrap_or(13);
    if low > high {
        return Err("min_version is above max_version".into());
    }
    let mut out = Vec::new();
    if high >= 13 {
        out.push(&rustls::version::TLS13);
    }
    if low <= 12 {
        out.push(&rustls::version::TLS12);
    }
    Ok(out)
}
