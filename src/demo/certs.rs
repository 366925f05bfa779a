//! The demo's certificates, made at start: a CA of its own (written to a file the demo's
//! configuration trusts with `ca_file`), a leaf for `localhost` valid for a year, and one that
//! expires inside the warning window.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

/// The demo CA.
pub struct DemoCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
#[error("making the demo certificates: {0}")]
pub struct CertError(String);

fn failed(e: impl std::fmt::Display) -> CertError {
    CertError(e.to_string())
}

impl DemoCa {
    /// A new CA, named so that nobody mistakes it for a real one.
    pub fn new() -> Result<DemoCa, CertError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "smtpwatch demo CA (not for real use)");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().map_err(failed)?;
        let issuer = CertifiedIssuer::self_signed(params, key).map_err(failed)?;
        Ok(DemoCa { issuer })
    }

    /// The CA certificate in PEM.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A TLS server configuration presenting a `localhost` leaf that expires in `days`.
    pub fn server(&self, days: i64) -> Result<Arc<rustls::ServerConfig>, CertError> {
        let now = OffsetDateTime::now_utc();
        let mut params = CertificateParams::new(vec!["localhost".to_string()]).map_err(failed)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.is_ca = IsCa::ExplicitNoCa;
        params.not_before = now - Duration::days(1);
        params.not_after = now + Duration::days(days);
        let key = KeyPair::generate().map_err(failed)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(failed)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(failed)?
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .map_err(failed)?;
        Ok(Arc::new(config))
    }
}
