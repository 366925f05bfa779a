//! A certificate's subject or issuer as text, exactly as x509-parser's `Display` writes it
//! (`CN=mx.example, O=Example, C=DE`; attributes of one RDN joined by ` + `).
//!
//! x509-parser's `Display` looks every attribute type up in its registry of all known OIDs,
//! which it builds on first use: a one-off verified `check` spent 150,000 instructions (5 %)
//! building it to print two names. The eight types that make up nearly every name (CN, C, L,
//! ST, O, OU, DC, Email: x509-parser's own abbreviations) are named here; any other type still
//! goes through x509-parser's lookup, so the text is the same either way.

use x509_parser::asn1_rs::{Any, BmpString, Tag};
use x509_parser::oid_registry::{
    Oid, OID_DOMAIN_COMPONENT, OID_PKCS9_EMAIL_ADDRESS, OID_X509_COMMON_NAME,
    OID_X509_COUNTRY_NAME, OID_X509_LOCALITY_NAME, OID_X509_ORGANIZATIONAL_UNIT,
    OID_X509_ORGANIZATION_NAME, OID_X509_STATE_OR_PROVINCE_NAME,
};
use x509_parser::x509::X509Name;

/// What x509-parser writes for a name it cannot render.
const INVALID: &str = "<X509Error: Invalid X.509 name>";

/// `name` as text (not yet escaped: the caller escapes it as untrusted input).
pub fn text(name: &X509Name<'_>) -> String {
    try_text(name).unwrap_or_else(|| INVALID.to_string())
}

fn try_text(name: &X509Name<'_>) -> Option<String> {
    let mut out = String::new();
    for rdn in name.iter() {
        let mut part = String::new();
        for attribute in rdn.iter() {
            let value = value_text(attribute.attr_value())?;
            if !part.is_empty() {
                part.push_str(" + ");
            }
            push_type(&mut part, attribute.attr_type());
            part.push('=');
            part.push_str(&value);
        }
        // As x509-parser joins: a separator whenever something came before.
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(&part);
    }
    Some(out)
}

fn push_type(out: &mut String, oid: &Oid<'_>) {
    let known = [
        (&OID_X509_COMMON_NAME, "CN"),
        (&OID_X509_COUNTRY_NAME, "C"),
        (&OID_X509_LOCALITY_NAME, "L"),
        (&OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
        (&OID_X509_ORGANIZATION_NAME, "O"),
        (&OID_X509_ORGANIZATIONAL_UNIT, "OU"),
        (&OID_DOMAIN_COMPONENT, "DC"),
        (&OID_PKCS9_EMAIL_ADDRESS, "Email"),
    ];
    match known.iter().find(|(known, _)| *known == oid) {
        Some((_, abbreviation)) => out.push_str(abbreviation),
        None => match x509_parser::objects::oid2abbrev(oid, x509_parser::objects::oid_registry()) {
            Ok(short_name) => out.push_str(short_name),
            Err(_) => out.push_str(&format!("{oid:?}")),
        },
    }
}

/// An attribute's value: the text of a string type, else its bytes in upper-case hex.
fn value_text(value: &Any<'_>) -> Option<String> {
    match value.tag() {
        Tag::NumericString
        | Tag::VisibleString
        | Tag::PrintableString
        | Tag::GeneralString
        | Tag::ObjectDescriptor
        | Tag::GraphicString
        | Tag::T61String
        | Tag::VideotexString
        | Tag::Utf8String
        | Tag::Ia5String => std::str::from_utf8(value.data).ok().map(str::to_owned),
        Tag::BmpString => BmpString::try_from(value.clone()).ok().map(|s| s.string()),
        _ => Some(
            value
                .as_bytes()
                .iter()
                .map(|byte| format!("{byte:02X}"))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;
    use x509_parser::prelude::{FromDer, X509Certificate};

    #[test]
    fn every_system_root_reads_as_x509_parser_writes_it() {
        let bundle = std::fs::read("/etc/ssl/certs/ca-certificates.crt").expect("CA bundle");
        let mut compared = 0;
        for der in rustls::pki_types::CertificateDer::pem_slice_iter(&bundle) {
            let der = der.expect("a PEM block");
            let (_, cert) = X509Certificate::from_der(&der).expect("a root parses");
            for name in [cert.subject(), cert.issuer()] {
                assert_eq!(text(name), name.to_string());
                compared += 1;
            }
        }
        assert!(compared > 200, "{compared} names");
    }

    #[test]
    fn rare_and_private_types_and_bmp_strings_read_the_same() {
        let mut params =
            rcgen::CertificateParams::new(vec!["mx.test".to_string()]).expect("params");
        let mut name = rcgen::DistinguishedName::new();
        name.push(rcgen::DnType::CommonName, "mx.test");
        name.push(
            rcgen::DnType::CustomDnType(vec![2, 5, 4, 5]), // serialNumber: a registry name
            "1234",
        );
        name.push(
            rcgen::DnType::CustomDnType(vec![1, 3, 6, 1, 4, 1, 99999, 1]),
            "private",
        );
        name.push(
            rcgen::DnType::OrganizationName,
            rcgen::DnValue::BmpString("BMP".try_into().expect("bmp")),
        );
        name.push(
            rcgen::DnType::CountryName,
            rcgen::DnValue::PrintableString("DE".try_into().expect("printable")),
        );
        params.distinguished_name = name;
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("certificate");
        let (_, parsed) = X509Certificate::from_der(cert.der()).expect("parses");
        assert_eq!(text(parsed.subject()), parsed.subject().to_string());
        assert!(
            text(parsed.subject()).contains("O=BMP"),
            "{}",
            text(parsed.subject())
        );
    }
}
