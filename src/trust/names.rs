//! The issuer and subject names of a DER certificate, read without parsing the rest of it.
//!
//! WebPKI links a certificate to its issuer by comparing the issuer name with candidate
//! subjects byte for byte, so these raw encodings are what decides which roots can matter for
//! a chain ([`super::on_demand`]). The names sit near the start of a certificate, so they can
//! be read from a prefix of it: the walk never needs more than the bytes up to the subject.

/// One DER element: its tag, the element as a whole and what follows it; `None` when `input`
/// is too short for it or its length is not DER-like (long forms up to four bytes).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (tag, contents_from, length) = header(input)?;
    let end = contents_from.checked_add(length)?;
    if end > input.len() {
        return None;
    }
    Some((tag, &input[..end], &input[end..]))
}

/// Tag, where the contents start, and their length.
fn header(input: &[u8]) -> Option<(u8, usize, usize)> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    if first < 0x80 {
        return Some((tag, 2, first as usize));
    }
    let count = (first & 0x7f) as usize;
    if count == 0 || count > 4 {
        return None;
    }
    let bytes = input.get(2..2 + count)?;
    let length = bytes.iter().fold(0usize, |n, b| (n << 8) | *b as usize);
    Some((tag, 2 + count, length))
}

/// The contents of a SEQUENCE whose end may lie beyond `input` (a prefix): what of them is here.
fn sequence_start(input: &[u8]) -> Option<&[u8]> {
    let (tag, from, length) = header(input)?;
    if tag != 0x30 {
        return None;
    }
    let rest = input.get(from..)?;
    Some(&rest[..length.min(rest.len())])
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
/// `[0] EXPLICIT Version`.
const VERSION: u8 = 0xa0;

/// (issuer, subject) of the certificate `der` begins, each the whole encoded Name; `None` when
/// `der` ends before the subject does, or is not shaped like an X.509 certificate.
pub fn issuer_and_subject(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let tbs = sequence_start(sequence_start(der)?)?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = element(rest)?.2;
    }
    let mut next = |want: u8| -> Option<&[u8]> {
        let (tag, whole, after) = element(rest)?;
        rest = after;
        (tag == want).then_some(whole)
    };
    next(INTEGER)?; // serial number
    next(SEQUENCE)?; // signature algorithm
    let issuer = next(SEQUENCE)?;
    next(SEQUENCE)?; // validity
    let subject = next(SEQUENCE)?;
    Some((issuer, subject))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::{FromDer, X509Certificate};

    fn bundle() -> Vec<rustls::pki_types::CertificateDer<'static>> {
        let text = super::super::pem::read_file(std::path::Path::new(
            "/etc/ssl/certs/ca-certificates.crt",
        ))
        .expect("Debian's CA bundle");
        super::super::pem::certificates(&text)
            .into_iter()
            .filter_map(Result::ok)
            .collect()
    }

    #[test]
    fn names_are_the_ones_x509_parser_reads() {
        let certs = bundle();
        assert!(certs.len() > 100);
        for der in &certs {
            let (_, parsed) = X509Certificate::from_der(der).expect("a valid root");
            let (issuer, subject) = issuer_and_subject(der).expect("names");
            assert_eq!(issuer, parsed.tbs_certificate.issuer.as_raw());
            assert_eq!(subject, parsed.tbs_certificate.subject.as_raw());
        }
    }

    #[test]
    fn a_prefix_is_enough_or_it_says_so() {
        for der in bundle() {
            let (_, subject) = issuer_and_subject(&der).expect("names");
            let needed = subject.as_ptr() as usize - der.as_ptr() as usize + subject.len();
            assert!(issuer_and_subject(&der[..needed]).is_some());
            assert_eq!(issuer_and_subject(&der[..needed - 1]), None);
        }
    }

    #[test]
    fn garbage_is_none_never_a_panic() {
        for input in [
            &b""[..],
            b"\x30",
            b"\x30\x85\x01\x02\x03\x04\x05",
            b"\x30\x84\xff\xff\xff\xff\x30",
            b"\x30\x03\x30\x01\x02",
            b"\x04\x02\x30\x00",
            b"\x30\x80",
        ] {
            assert_eq!(issuer_and_subject(input), None);
        }
    }
}
