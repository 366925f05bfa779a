//! Certificates made at test time with rcgen: a test CA and leaves signed by it (or not).

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// A CA that signs leaves.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// What a server sends after a leaf of this CA: this CA and the intermediates up to the
    /// root, nearest first (empty for a root, which the client holds).
    chain: Vec<CertificateDer<'static>>,
}

/// A leaf certificate with its key, ready for a rustls server.
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ca key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("ca cert"),
            chain: Vec::new(),
        }
    }

    /// An intermediate CA signed by this one, valid from `from` until `until`; the leaves it
    /// signs carry it in their chain.
    pub fn intermediate(&self, name: &str, from: OffsetDateTime, until: OffsetDateTime) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = from;
        params.not_after = until;
        let key = KeyPair::generate().expect("intermediate key");
        let issuer = CertifiedIssuer::signed_by(params, key, &self.issuer).expect("intermediate");
        let mut chain = vec![issuer.der().clone()];
        chain.extend(self.chain.iter().cloned());
        TestCa { issuer, chain }
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// The CA certificate in PEM, for `ca_file`.
    pub fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `names`, valid from yesterday for `days_left` days from now.
    pub fn leaf(&self, names: &[&str], days_left: i64) -> Leaf {
        let now = OffsetDateTime::now_utc();
        self.leaf_valid(
            names,
            now - Duration::days(1),
            now + Duration::days(days_left),
        )
    }

    pub fn leaf_valid(&self, names: &[&str], from: OffsetDateTime, until: OffsetDateTime) -> Leaf {
        let (params, key) = leaf_params(names, from, until);
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        let mut chain = vec![cert.der().clone()];
        chain.extend(self.chain.iter().cloned());
        Leaf {
            chain,
            key: private_key(&key),
        }
    }
}

fn leaf_params(
    names: &[&str],
    from: OffsetDateTime,
    until: OffsetDateTime,
) -> (CertificateParams, KeyPair) {
    let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("leaf params");
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    // rustls refuses a CA certificate as an end entity.
    params.is_ca = IsCa::ExplicitNoCa;
    params.not_before = from;
    params.not_after = until;
    (params, KeyPair::generate().expect("leaf key"))
}

fn private_key(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

/// A self-signed leaf that no CA vouches for.
pub fn self_signed(names: &[&str]) -> Leaf {
    let now = OffsetDateTime::now_utc();
    let (params, key) = leaf_params(names, now - Duration::days(1), now + Duration::days(90));
    let cert = params.self_signed(&key).expect("self-signed");
    Leaf {
        chain: vec![cert.der().clone()],
        key: private_key(&key),
    }
}

impl Leaf {
    /// A rustls server configuration presenting this leaf.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server_config_with(rustls::DEFAULT_VERSIONS)
    }

    /// The same, offering only the TLS `versions` given.
    pub fn server_config_with(
        &self,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> Arc<rustls::ServerConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .expect("server config");
        Arc::new(config)
    }
}
