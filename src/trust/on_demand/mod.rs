//! Trust for one-off runs (`check`): the system bundle is indexed by subject name, and only the
//! roots that could have issued a certificate of the presented chain are decoded and parsed.
//!
//! A one-off `check` verifies one or two chains, while decoding all of Debian's ~145 roots cost
//! more instructions than the TLS handshake itself (README "Performance"). WebPKI only ever
//! uses a root whose subject equals, byte for byte, the issuer of a certificate in the chain, so
//! verifying against those roots alone gives the verdict the whole store gives. The agent, which
//! verifies thousands of chains, builds the whole store once instead ([`super::Trust::load`]).
//!
//! When the operator named CA files, a chain is first verified against their roots alone: a
//! path to one of them is a path in the whole store too, so success there is the whole store's
//! verdict, and the system bundle is never read (about 1.3 M instructions, 28 % of a
//! verified STARTTLS `check`). A chain those roots do not verify is judged by the whole store
//! as before, so every failure reads exactly as it did.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, Der, ServerName, TrustAnchor, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::names::issuer_and_subject;
use super::pem;

/// One root of the system store, and its subject (None: it could not be read, so the root is
/// always offered and WebPKI judges it).
struct Root {
    source: Source,
    subject: Option<Vec<u8>>,
}

/// Where a root's DER comes from.
enum Source {
    /// A block of the bundle file, decoded when a chain needs it.
    Block(pem::Block),
    /// Already decoded (a store that did not come from one bundle file).
    Der(CertificateDer<'static>),
}

/// The system store, indexed by subject.
struct SystemIndex {
    text: Vec<u8>,
    roots: Vec<Root>,
}

impl SystemIndex {
    /// The first of `bundles` that holds certificates, else what rustls-native-certs finds.
    fn build(bundles: Vec<std::path::PathBuf>) -> SystemIndex {
        for bundle in bundles {
            let Ok(text) = pem::read_file(&bundle) else {
                continue;
            };
            let blocks: Vec<pem::Block> = pem::blocks(&text)
                .into_iter()
                .filter_map(Result::ok)
                .collect();
            if blocks.is_empty() {
                continue;
            }
            let roots = blocks
                .into_iter()
                .map(|block| {
                    // Names end 275 bytes in on average (Debian's roots): from five lines of
                    // 48 bytes on, look after every line.
                    let has_names =
                        |der: &[u8]| der.len() >= 240 && issuer_and_subject(der).is_some();
                    let der = pem::decode_prefix(&text, &block, has_names)
                        .or_else(|| pem::decode(&text, &block).ok());
                    Root {
                        subject: der.as_deref().and_then(subject_of),
                        source: Source::Block(block),
                    }
                })
                .collect();
            return SystemIndex { text, roots };
        }
        // No bundle file: the store rustls-native-certs finds (a directory), decoded now.
        let roots = rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .map(|der| Root {
                subject: subject_of(&der),
                source: Source::Der(der),
            })
            .collect();
        SystemIndex {
            text: Vec::new(),
            roots,
        }
    }

    /// The roots whose subject is one of `issuers` (every root when None), and those whose
    /// subject is unknown.
    fn issuing(&self, issuers: Option<&[&[u8]]>) -> Vec<CertificateDer<'static>> {
        let wanted = |subject: Option<&[u8]>| match (issuers, subject) {
            (Some(issuers), Some(subject)) => issuers.contains(&subject),
            _ => true,
        };
        self.roots
            .iter()
            .filter(|root| wanted(root.subject.as_deref()))
            .filter_map(|root| match &root.source {
                Source::Block(block) => pem::decode(&self.text, block)
                    .ok()
                    .map(CertificateDer::from),
                Source::Der(der) => Some(der.clone()),
            })
            .collect()
    }
}

fn subject_of(der: &[u8]) -> Option<Vec<u8>> {
    issuer_and_subject(der).map(|(_, subject)| subject.to_vec())
}

/// Verifies as a WebPKI verifier over the system store plus `extra` would, building for each
/// chain a store of the roots that chain can use.
pub(super) struct OnDemandVerifier {
    provider: Arc<CryptoProvider>,
    /// The operator's CA files' roots: always trusted.
    extra: Vec<TrustAnchor<'static>>,
    /// A verifier over `extra` alone, tried first (None without CA files).
    extra_only: Option<Arc<WebPkiServerVerifier>>,
    /// The bundle files to index, in order of preference.
    bundles: Vec<std::path::PathBuf>,
    /// Built at the first chain.
    index: OnceLock<SystemIndex>,
}

impl std::fmt::Debug for OnDemandVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnDemandVerifier")
    }
}

impl OnDemandVerifier {
    /// Trusts the first of `bundles` that holds certificates (else the system's store as
    /// rustls-native-certs finds it), plus `extra`.
    pub fn new(
        provider: Arc<CryptoProvider>,
        extra: Vec<TrustAnchor<'static>>,
        bundles: Vec<std::path::PathBuf>,
    ) -> Self {
        let extra_only = match extra.is_empty() {
            true => None,
            false => {
                let mut roots = RootCertStore::empty();
                roots.extend(extra.iter().cloned());
                verifier_over(roots, &provider).ok()
            }
        };
        OnDemandVerifier {
            provider,
            extra,
            extra_only,
            bundles,
            index: OnceLock::new(),
        }
    }

    /// A verifier over the roots `chain` can use. As with the whole store, the bundled Mozilla
    /// roots stand in when the system has no usable root at all.
    fn roots_for(&self, chain: &[&CertificateDer<'_>]) -> RootCertStore {
        let index = self
            .index
            .get_or_init(|| SystemIndex::build(self.bundles.clone()));
        let issuers: Option<Vec<&[u8]>> = chain
            .iter()
            .map(|c| issuer_and_subject(c).map(|(issuer, _)| issuer))
            .collect();
        // A chain whose issuers cannot be read is offered every root.
        let candidates = index.issuing(issuers.as_deref());
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(candidates);
        if added == 0 && index.roots.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        roots.extend(self.extra.iter().cloned());
        if roots.is_empty() {
            // Nothing can issue this chain. An anchor no certificate can name as its issuer
            // (its subject is not DER) lets WebPKI say why the chain fails exactly as the whole
            // store would: expired, wrong name, unknown issuer.
            roots.extend([TrustAnchor {
                subject: Der::from_slice(&[0xff]),
                subject_public_key_info: Der::from_slice(&[0xff]),
                name_constraints: None,
            }]);
        }
        roots
    }

    fn for_chain(
        &self,
        chain: &[&CertificateDer<'_>],
    ) -> Result<Arc<WebPkiServerVerifier>, rustls::Error> {
        verifier_over(self.roots_for(chain), &self.provider)
    }
}

fn verifier_over(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, rustls::Error> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| rustls::Error::General(e.to_string()))
}

impl ServerCertVerifier for OnDemandVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(extra_only) = &self.extra_only {
            let verified = extra_only.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
            if let Ok(verified) = verified {
                return Ok(verified);
            }
        }
        let chain: Vec<&CertificateDer<'_>> =
            std::iter::once(end_entity).chain(intermediates).collect();
        self.for_chain(&chain)?.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests;
