//! Mail-domain posture against an in-process signed zone: DNSSEC status of answers as hickory
//! validates them with the zone's own key as trust anchor.

use std::net::IpAddr;

use hickory_resolver::proto::rr::RecordType;
use smtpwatch::posture::dns::{Dnssec, PostureDns};

use crate::support::signed_zone::{Rec, Zone};

fn v4(text: &str) -> IpAddr {
    text.parse().expect("ip")
}

async fn mail_test(signed: bool) -> Zone {
    Zone::start(
        "mail.test.",
        signed,
        vec![
            Rec::Mx("mail.test.", 10, "mx1.mail.test."),
            Rec::Addr("mx1.mail.test.", v4("127.0.0.2")),
            Rec::Txt("_mta-sts.mail.test.", "v=STSv1; id=20261128;"),
            Rec::Tlsa("_25._tcp.mx1.mail.test.", 3, 1, 1, vec![0x1e; 32]),
        ],
    )
    .await
}

#[tokio::test]
async fn a_signed_zone_validates_as_secure_and_denials_are_proven() {
    let zone = mail_test(true).await;
    let dns = PostureDns::new(&[zone.addr], Some(zone.anchors())).expect("resolver");
    let tlsa = dns.tlsa("_25._tcp.mx1.mail.test").await.expect("TLSA");
    assert_eq!(tlsa.dnssec, Dnssec::Secure);
    assert_eq!(tlsa.data.len(), 1);
    assert_eq!(
        (
            tlsa.data[0].usage,
            tlsa.data[0].selector,
            tlsa.data[0].matching
        ),
        (3, 1, 1)
    );
    let txt = dns.txt("_mta-sts.mail.test").await.expect("TXT");
    assert_eq!(
        (txt.dnssec, txt.data.clone()),
        (Dnssec::Secure, vec!["v=STSv1; id=20261128;".to_string()])
    );
    assert_eq!(
        dns.address_status("mx1.mail.test").await,
        Ok(Dnssec::Secure)
    );
    // NODATA: the name exists without TLSA, and NSEC proves it. (hickory-server's NXDOMAIN
    // proofs do not validate in hickory 0.26, so the test zone avoids relying on them.)
    let none = dns
        .tlsa("mx1.mail.test")
        .await
        .expect("a denial, not an error");
    assert!(none.data.is_empty());
    assert_eq!(none.dnssec, Dnssec::Secure, "NSEC proves there is no TLSA");
}

#[tokio::test]
async fn a_signature_that_does_not_validate_is_bogus() {
    let zone = mail_test(true).await;
    // Another key for the same zone name: the served signatures do not validate under it.
    let impostor = mail_test(true).await;
    let dns = PostureDns::new(&[zone.addr], Some(impostor.anchors())).expect("resolver");
    let tlsa = dns.tlsa("_25._tcp.mx1.mail.test").await.expect("answer");
    assert_eq!(tlsa.dnssec, Dnssec::Bogus);
}

#[tokio::test]
async fn a_signed_zone_served_without_signatures_is_bogus() {
    let signed = mail_test(true).await;
    // mail.test. served unsigned while its key is the trust anchor: a stripping attack.
    let stripped = mail_test(false).await;
    let dns = PostureDns::new(&[stripped.addr], Some(signed.anchors())).expect("resolver");
    let mx = dns
        .lookup("mail.test", RecordType::MX)
        .await
        .map(|a| a.dnssec);
    assert_eq!(mx, Ok(Dnssec::Bogus));
}
