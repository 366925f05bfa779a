//! DNSSEC: secure, bogus and stripped zones, trust anchor files, and insecure delegations.

use super::*;

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

#[tokio::test]
async fn the_anchor_record_round_trips_through_a_trust_anchor_file() {
    let t = mail_domain(("200 OK", "text/plain", ENFORCE), Vec::new()).await;
    let path = std::env::temp_dir().join(format!("smtpwatch-anchor-{}.key", std::process::id()));
    std::fs::write(&path, t.zone.anchor_record()).expect("write anchor");
    let anchors = std::sync::Arc::new(
        smtpwatch::posture::dns::trust_anchor_file(&path).expect("parse the anchor"),
    );
    let dns = PostureDns::new(&[t.zone.addr], Some(anchors)).expect("dns");
    let mx = dns
        .lookup("mail.test", RecordType::MX)
        .await
        .map(|a| a.dnssec);
    assert_eq!(mx, Ok(Dnssec::Secure));
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn a_bogus_zone_fails_with_dns_bogus_and_dane_does_not_apply() {
    let t = mail_domain(("200 OK", "text/plain", ENFORCE), Vec::new()).await;
    // Validating with another key for mail.test.: every signature is bogus.
    let impostor = mail_test(true).await;
    let (reports, p) = run_check_with(&t, impostor.anchors()).await;
    assert_eq!(p.mx_dnssec, Dnssec::Bogus);
    assert_eq!(p.hosts[0].tlsa_dnssec, Dnssec::Bogus);
    assert!(!p.hosts[0].dane, "a bogus TLSA set is not usable");
    assert_eq!(
        finding(&p, "dns_bogus").map(|f| f.severity.as_str()),
        Some("failure")
    );
    assert_eq!(p.status(), Status::Critical);
    // Without DANE, mx1's self-signed certificate is judged by WebPKI.
    let mx1 = reports
        .iter()
        .find(|r| {
            r.address
                .as_deref()
                .is_some_and(|a| a.starts_with("127.0.0.2"))
        })
        .expect("mx1");
    assert_eq!(
        mx1.failure.as_ref().map(|f| f.reason.as_str()),
        Some("tls_certificate")
    );
}

#[tokio::test]
async fn an_insecure_delegation_makes_dane_not_applicable() {
    // test. is signed and delegates plain.test. without a DS record: provably insecure.
    let parent = Zone::start(
        "test.",
        true,
        vec![
            Rec::Ns("plain.test.", "ns.plain.test."),
            Rec::Addr("ns.plain.test.", v4("127.0.0.1")),
        ],
    )
    .await;
    let dns = PostureDns::new(&[parent.addr], Some(parent.anchors())).expect("dns");
    let mx = dns
        .lookup("plain.test", RecordType::MX)
        .await
        .map(|a| a.dnssec);
    assert_eq!(mx, Ok(Dnssec::Insecure));
    let hosts = ["mx.plain.test".to_string()];
    let prepared =
        smtpwatch::posture::assess::prepare(&dns, &hosts, &PostureSettings::default()).await;
    assert_eq!(prepared[0].tlsa_dnssec, Dnssec::Insecure);
    assert!(!prepared[0].dane_applies());
}
