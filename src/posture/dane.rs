//! DANE for SMTP (RFC 7672): which TLSA records count and whether a presented chain matches.
//!
//! Only DANE-TA(2) and DANE-EE(3) records are usable; PKIX-TA(0) and PKIX-EE(1) are ignored, as
//! RFC 7672 §3.1.3 says. DANE-EE(3) matches the leaf and ignores its names and dates. DANE-TA(2)
//! matches a certificate of the presented chain as trust anchor; the leaf must then verify up to
//! it through the certificates between (signatures, dates, server use: RFC 7671 §5.2, checked
//! here with webpki) and name the MX host (checked by the caller with the chain facts). Selector 0 is the whole certificate, 1 the
//! SubjectPublicKeyInfo; matching 0 is the bytes themselves, 1 SHA-256, 2 SHA-512.

use ring::digest;
use serde::Serialize;

/// One TLSA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    /// Certificate usage (0-3).
    pub usage: u8,
    /// Selector (0 certificate, 1 SPKI).
    pub selector: u8,
    /// Matching type (0 exact, 1 SHA-256, 2 SHA-512).
    pub matching: u8,
    /// The association data.
    pub data: Vec<u8>,
}

/// The certificate usages that count for SMTP (RFC 7672 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaneUsage {
    /// DANE-TA(2): a certificate of the presented chain is the trust anchor; the leaf must
    /// name the MX host.
    TrustAnchor,
    /// DANE-EE(3): the leaf itself; names and dates do not matter.
    EndEntity,
}

/// How a TLSA set compared with a presented chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DaneResult {
    /// A usable record matched.
    Match,
    /// No usable record matched.
    Mismatch,
    /// The set has no usable record.
    NoUsableRecords,
}

impl DaneResult {
    /// The name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            DaneResult::Match => "match",
            DaneResult::Mismatch => "mismatch",
            DaneResult::NoUsableRecords => "no_usable_records",
        }
    }
}

impl std::fmt::Display for DaneResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Tlsa {
    /// The usage, when it is one that counts for SMTP.
    pub fn dane_usage(&self) -> Option<DaneUsage> {
        match self.usage {
            2 => Some(DaneUsage::TrustAnchor),
            3 => Some(DaneUsage::EndEntity),
            _ => None,
        }
    }

    /// Usable for SMTP: DANE-TA(2) or DANE-EE(3) with known selector and matching type.
    pub fn usable(&self) -> bool {
        self.dane_usage().is_some() && self.selector <= 1 && self.matching <= 2
    }

    /// Presentation form, `3 1 1 ab12…` (data abbreviated after 16 hex digits).
    pub fn display(&self) -> String {
        let hex: String = self.data.iter().map(|b| format!("{b:02x}")).collect();
        let short = if hex.len() > 16 {
            format!("{}…", &hex[..16])
        } else {
            hex
        };
        format!("{} {} {} {short}", self.usage, self.selector, self.matching)
    }

    /// Whether this record matches certificate `der`.
    fn matches(&self, der: &[u8]) -> bool {
        let selected = match self.selector {
            0 => der.to_vec(),
            1 => match spki(der) {
                Some(spki) => spki,
                None => return false,
            },
            _ => return false,
        };
        let digest = match self.matching {
            0 => selected,
            1 => digest::digest(&digest::SHA256, &selected).as_ref().to_vec(),
            2 => digest::digest(&digest::SHA512, &selected).as_ref().to_vec(),
            _ => return false,
        };
        digest == self.data
    }
}

/// The DER SubjectPublicKeyInfo of a certificate.
fn spki(der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.tbs_certificate.subject_pki.raw.to_vec())
}

/// The record for `der` that [`Tlsa`] would publish with usage 3, selector 1, matching 1 (the
/// common `3 1 1`), for messages and tests.
pub fn tlsa_311(der: &[u8]) -> Option<Tlsa> {
    Some(Tlsa {
        usage: 3,
        selector: 1,
        matching: 1,
        data: digest::digest(&digest::SHA256, &spki(der)?)
            .as_ref()
            .to_vec(),
    })
}

/// The outcome of comparing a TLSA set with a presented chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaneCheck {
    /// `match`, `mismatch` or `no_usable_records`.
    pub result: DaneResult,
    /// The usable records compared, presentation form.
    pub records: Vec<String>,
    /// Which record matched which certificate (0 = leaf), when one did.
    pub matched: Option<(String, usize)>,
    /// The usage of the record that matched.
    #[serde(skip)]
    pub matched_usage: Option<DaneUsage>,
    /// Records ignored as unusable for SMTP (usages 0 and 1).
    pub ignored: usize,
    /// The presented chain as `3 1 1` records would name it, leaf first: what to publish.
    pub presented: Vec<String>,
    /// Why a DANE-TA record that matched a certificate of the chain did not count: the leaf
    /// does not chain to it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unverified: Option<String>,
}

/// Compares `records` with `chain` (DER, leaf first).
pub fn check(records: &[Tlsa], chain: &[Vec<u8>]) -> DaneCheck {
    let usable: Vec<&Tlsa> = records.iter().filter(|r| r.usable()).collect();
    let ignored = records.len() - usable.len();
    let shown = usable.iter().map(|r| r.display()).collect();
    let presented = chain
        .iter()
        .filter_map(|der| tlsa_311(der))
        .map(|r| r.display())
        .collect();
    if usable.is_empty() {
        return DaneCheck {
            result: DaneResult::NoUsableRecords,
            records: shown,
            matched: None,
            matched_usage: None,
            ignored,
            presented,
            unverified: None,
        };
    }
    let mut matched = None;
    let mut matched_usage = None;
    let mut unverified = None;
    'records: for record in &usable {
        // DANE-EE: the leaf only. DANE-TA: any certificate of the chain above... or the leaf
        // itself when the server sends its trust anchor as a one-certificate chain.
        let candidates: Vec<usize> = match record.dane_usage() {
            Some(DaneUsage::EndEntity) => vec![0],
            _ => (0..chain.len()).rev().collect(),
        };
        for i in candidates {
            if !chain.get(i).is_some_and(|der| record.matches(der)) {
                continue;
            }
            let is_ta = record.dane_usage() == Some(DaneUsage::TrustAnchor);
            if is_ta && i > 0 {
                if let Err(why) = chains_to(chain, i) {
                    unverified = Some(format!(
                        "{} matches certificate {i}, but the leaf is not signed by it: {why:?}",
                        record.display()
                    ));
                    continue;
                }
            }
            matched = Some((record.display(), i));
            matched_usage = record.dane_usage();
            unverified = None;
            break 'records;
        }
    }
    DaneCheck {
        result: if matched.is_some() {
            DaneResult::Match
        } else {
            DaneResult::Mismatch
        },
        records: shown,
        matched,
        matched_usage,
        ignored,
        presented,
        unverified,
    }
}

/// Whether the leaf (`chain[0]`) verifies up to `chain[anchor]` as trust anchor, through the
/// certificates between them, for TLS server use at the current time (RFC 7671 §5.2: the
/// anchor's own dates and constraints do not count; the leaf's name is checked by the caller).
fn chains_to(chain: &[Vec<u8>], anchor: usize) -> Result<(), webpki::Error> {
    use rustls::pki_types::{CertificateDer, UnixTime};
    let ta_der = CertificateDer::from(chain[anchor].as_slice());
    let ta = webpki::anchor_from_trusted_cert(&ta_der)?;
    let leaf_der = CertificateDer::from(chain[0].as_slice());
    let leaf = webpki::EndEntityCert::try_from(&leaf_der)?;
    let between: Vec<CertificateDer<'_>> = chain[1..anchor]
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();
    leaf.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &[ta],
        &between,
        UnixTime::now(),
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(name: &str) -> (Vec<u8>, rcgen::KeyPair) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
        (params.self_signed(&key).expect("cert").der().to_vec(), key)
    }

    #[test]
    fn dane_ee_matches_the_leaf_by_spki_or_whole_certificate() {
        let (leaf, _) = cert("mx1.mail.test");
        let rec = tlsa_311(&leaf).expect("spki");
        let got = check(std::slice::from_ref(&rec), std::slice::from_ref(&leaf));
        assert_eq!(got.result, DaneResult::Match);
        assert_eq!(got.matched.map(|m| m.1), Some(0));
        let full_sha512 = Tlsa {
            usage: 3,
            selector: 0,
            matching: 2,
            data: digest::digest(&digest::SHA512, &leaf).as_ref().to_vec(),
        };
        assert_eq!(
            check(&[full_sha512], std::slice::from_ref(&leaf)).result,
            DaneResult::Match
        );
        let exact = Tlsa {
            usage: 3,
            selector: 0,
            matching: 0,
            data: leaf.clone(),
        };
        assert_eq!(check(&[exact], &[leaf]).result, DaneResult::Match);
    }

    #[test]
    fn a_renewed_key_without_a_tlsa_roll_over_is_a_mismatch_and_the_next_key_is_fine() {
        let (old, _) = cert("mx1.mail.test");
        let (renewed, _) = cert("mx1.mail.test");
        let published = tlsa_311(&old).expect("spki");
        let got = check(
            std::slice::from_ref(&published),
            std::slice::from_ref(&renewed),
        );
        assert_eq!(got.result, DaneResult::Mismatch);
        assert_eq!(got.records, [published.display()]);
        // Current + next published (the roll-over done right): either certificate matches.
        let next = tlsa_311(&renewed).expect("spki");
        assert_eq!(
            check(&[published, next], &[renewed]).result,
            DaneResult::Match
        );
    }

    /// A CA and a leaf for `name` it signed, both DER.
    fn issued(name: &str) -> (Vec<u8>, Vec<u8>) {
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Test CA");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let issuer = rcgen::CertifiedIssuer::self_signed(ca, ca_key).expect("ca");
        let mut leaf = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
        leaf.is_ca = rcgen::IsCa::ExplicitNoCa;
        let key = rcgen::KeyPair::generate().expect("key");
        let leaf = leaf.signed_by(&key, &issuer).expect("leaf");
        (issuer.der().to_vec(), leaf.der().to_vec())
    }

    #[test]
    fn dane_ta_needs_the_leaf_to_chain_to_the_matched_certificate() {
        let (issuer, leaf) = issued("mx1.mail.test");
        let ta = Tlsa {
            usage: 2,
            ..tlsa_311(&issuer).expect("spki")
        };
        let got = check(std::slice::from_ref(&ta), &[leaf, issuer.clone()]);
        assert_eq!(
            (got.result, got.matched.map(|m| m.1)),
            (DaneResult::Match, Some(1))
        );
        // A self-signed leaf sent with the real issuer: the record matches the issuer, but the
        // leaf does not chain to it.
        let (forged, _) = cert("mx1.mail.test");
        let got = check(std::slice::from_ref(&ta), &[forged, issuer]);
        assert_eq!(got.result, DaneResult::Mismatch);
        assert!(got
            .unverified
            .is_some_and(|why| why.contains("not signed by it")));
    }

    #[test]
    fn dane_ta_matches_a_chain_certificate_and_pkix_usages_are_ignored() {
        let (issuer, leaf) = issued("mx1.mail.test");
        let ta = Tlsa {
            usage: 2,
            ..tlsa_311(&issuer).expect("spki")
        };
        let got = check(std::slice::from_ref(&ta), &[leaf.clone(), issuer.clone()]);
        assert_eq!(got.matched.map(|m| m.1), Some(1));
        // The same digest as DANE-EE does not match: the issuer is not the leaf.
        let ee = Tlsa { usage: 3, ..ta };
        assert_eq!(
            check(&[ee], &[leaf.clone(), issuer]).result,
            DaneResult::Mismatch
        );
        let pkix = Tlsa {
            usage: 1,
            ..tlsa_311(&leaf).expect("spki")
        };
        let got = check(&[pkix], &[leaf]);
        assert_eq!((got.result, got.ignored), (DaneResult::NoUsableRecords, 1));
    }
}
