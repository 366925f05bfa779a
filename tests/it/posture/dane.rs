//! DANE: DANE-EE match and mismatch after a renewal (with MTA-STS enforce and TLS-RPT), and
//! DANE-TA with the issuer named.

use super::*;

#[tokio::test]
async fn dane_match_mismatch_after_renewal_mta_sts_enforce_and_tls_rpt() {
    let t = mail_domain(
        ("200 OK", "text/plain", ENFORCE),
        vec![Rec::Txt("_mta-sts.mail.test.", STS_TXT)],
    )
    .await;
    assert_eq!(t.smtp.len(), 2);
    let (reports, p) = run_check(&t).await;
    assert_eq!(p.mx_dnssec, Dnssec::Secure);
    let by_addr = |ip: &str| {
        reports
            .iter()
            .find(|r| r.address.as_deref().is_some_and(|a| a.starts_with(ip)))
            .expect("a report per address")
    };
    // mx1: self-signed, WebPKI-invalid, but its DANE-EE record matches: the probe succeeds.
    let mx1 = by_addr("127.0.0.2");
    assert!(mx1.success, "{:?}", mx1.failure);
    assert_eq!(p.hosts[0].host, "mx1.mail.test");
    assert!(p.hosts[0].dane);
    let dane1 = p.hosts[0].addresses[0].dane.as_ref().expect("dane");
    assert_eq!(
        (dane1.result.as_str(), dane1.matched.as_ref().map(|m| m.1)),
        ("match", Some(0))
    );
    assert!(!p.hosts[0].addresses[0].webpki_valid);
    // mx2: renewed without a TLSA roll-over. The PKIX-EE record for the new key does not count.
    let mx2 = by_addr("127.0.0.3");
    let failure = mx2.failure.as_ref().expect("mx2 fails");
    assert_eq!(failure.reason.as_str(), "dane_mismatch");
    let dane2 = p.hosts[1].addresses[0].dane.as_ref().expect("dane");
    assert_eq!((dane2.result.as_str(), dane2.ignored), ("mismatch", 1));
    // The message shows what the server presents, as the record to publish would name it.
    let presented = tlsa_311(mx2.tls.as_ref().expect("tls").chain_der[0].as_slice()).expect("spki");
    assert_eq!(dane2.presented, [presented.display()]);
    assert!(
        failure
            .message
            .contains(&format!("(leaf: {})", presented.display())),
        "{}",
        failure.message
    );
    assert!(p.hosts[1].addresses[0].webpki_valid);
    // MTA-STS enforce covers both; TLS-RPT is published.
    assert_eq!(p.mta_sts.state.as_str(), "valid");
    assert_eq!(
        p.mta_sts.policy.as_ref().map(|p| p.mode.as_str()),
        Some("enforce")
    );
    assert!(p.mta_sts.uncovered.is_empty());
    assert_eq!(p.tls_rpt.rua, ["mailto:tls@mail.test"]);
    assert_eq!(p.status(), Status::Critical);
    assert!(finding(&p, "dane_mismatch").is_some_and(|f| f.subject.starts_with("127.0.0.3")));
    // No PTR records in this zone: FCrDNS is a warning, never a failure.
    assert!(finding(&p, "fcrdns").is_some_and(|f| f.severity.as_str() == "warning"));
    let text = smtpwatch::posture::render::text(&p);
    if std::env::var_os("SMTPWATCH_SHOW_POSTURE").is_some() {
        let shown = target_text(&reports);
        eprintln!("{shown}\n{text}");
    }
    assert!(
        text.contains("MTA-STS:    enforce (id 20261128T000000, max_age 86400)"),
        "{text}"
    );
    assert!(text.contains("DANE match 3 1 1"), "{text}");
}

/// One round against mx1, whose certificate for `name` comes from a CA that a DANE-TA
/// record names (or, `forged`, is self-signed); the server sends the CA along.
async fn dane_ta_round(
    name: &str,
    forged: bool,
) -> (Vec<smtpwatch::report::ProbeReport>, DomainPosture) {
    let ca = TestCa::new("DANE-TA CA");
    let issued = if forged {
        self_signed(&[name])
    } else {
        ca.leaf(&[name], 90)
    };
    // The server sends its issuer along, as DANE-TA needs.
    let with_issuer = Leaf {
        chain: vec![issued.chain[0].clone(), ca.der()],
        key: issued.key.clone_key(),
    };
    let server = FakeService::try_start_on("127.0.0.2:0".parse().expect("addr"), move || {
        starttls_session(&with_issuer, AFTER_TLS)
    })
    .await
    .expect("bind");
    let ta = tlsa_311(ca.der().as_ref()).expect("spki").data;
    let zone = Zone::start(
        "mail.test.",
        true,
        vec![
            Rec::Mx("mail.test.", 10, "mx1.mail.test."),
            Rec::Addr("mx1.mail.test.", v4("127.0.0.2")),
            Rec::Tlsa("_25._tcp.mx1.mail.test.", 2, 1, 1, ta),
        ],
    )
    .await;
    let dns = PostureDns::new(&[zone.addr], Some(zone.anchors())).expect("dns");
    let resolver = Resolver::with_servers(&[zone.addr]).expect("resolver");
    let mut unrelated = rustls::RootCertStore::empty();
    unrelated.add(TestCa::new("unrelated").der()).expect("root");
    let trust = Trust::from_roots(unrelated).expect("trust");
    let fetcher =
        PolicyFetcher::new(&trust, resolver.clone(), Duration::from_secs(2)).expect("fetcher");
    let target: Target = format!("mx:mail.test:{}", server.addr.port())
        .parse()
        .expect("target");
    let posture = PostureSettings {
        mta_sts: false,
        fcrdns: false,
        ..PostureSettings::default()
    };
    let check = DomainCheck {
        target: &target,
        probe_name: None,
        settings: settings(&TestCa::new("unrelated")),
        resolver: &resolver,
        tools: &PostureTools {
            dns,
            fetcher,
            settings: posture,
        },
        family: Family::Any,
    };
    let (reports, p) = check_domain(check).await;
    (reports, p.expect("posture"))
}

#[tokio::test]
async fn dane_ta_matches_the_issuer_and_the_leaf_must_name_the_mx_host() {
    let (reports, p) = dane_ta_round("mx1.mail.test", false).await;
    assert!(reports[0].success, "{:?}", reports[0].failure);
    let dane = p.hosts[0].addresses[0].dane.as_ref().expect("dane");
    assert_eq!(
        (dane.result.as_str(), dane.matched.as_ref().map(|m| m.1)),
        ("match", Some(1))
    );
    assert!(p.findings.is_empty(), "{:?}", p.findings);

    let (reports, p) = dane_ta_round("elsewhere.test", false).await;
    let failure = reports[0].failure.as_ref().expect("a name mismatch fails");
    assert_eq!(failure.reason.as_str(), "dane_mismatch");
    assert!(
        failure.message.contains("names elsewhere.test"),
        "{}",
        failure.message
    );
    assert_eq!(p.status(), Status::Critical);
}

#[tokio::test]
async fn dane_ta_needs_the_leaf_signed_by_the_anchor_not_just_the_anchor_sent_along() {
    // A self-signed leaf for the MX name, followed by the real CA certificate: the TA record
    // matches a certificate of the chain, but nothing chains the leaf to it (RFC 7671 5.2).
    let (reports, p) = dane_ta_round("mx1.mail.test", true).await;
    let failure = reports[0].failure.as_ref().expect("not a match");
    assert_eq!(
        failure.reason.as_str(),
        "dane_mismatch",
        "{}",
        failure.message
    );
    assert!(
        failure.message.contains("not signed by"),
        "{}",
        failure.message
    );
    let dane = p.hosts[0].addresses[0].dane.as_ref().expect("dane");
    assert_eq!(dane.result.as_str(), "mismatch");
    assert_eq!(p.status(), Status::Critical);
}
