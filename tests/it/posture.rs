//! Mail-domain posture against an in-process signed zone (hickory validating with the zone's
//! own key as trust anchor), fake STARTTLS servers on 127.0.0.2 and 127.0.0.3, and a local
//! HTTPS policy server: DNSSEC status, DANE match and mismatch, MTA-STS and TLS-RPT.

use std::net::IpAddr;

use std::time::Duration;

use hickory_resolver::proto::rr::RecordType;
use smtpwatch::posture::assess::PostureSettings;
use smtpwatch::posture::dane::tlsa_311;
use smtpwatch::posture::dns::{Dnssec, PostureDns};
use smtpwatch::posture::domain::{check_domain, DomainCheck, PostureTools};
use smtpwatch::posture::fetch::PolicyFetcher;
use smtpwatch::posture::summary::{DomainPosture, Finding};
use smtpwatch::report::Status;
use smtpwatch::resolve::{Family, Resolver};
use smtpwatch::target::Target;
use smtpwatch::trust::Trust;

use crate::support::certs::{self_signed, Leaf, TestCa};
use crate::support::fake_smtp::FakeService;
use crate::support::policy_server::PolicyServer;
use crate::support::signed_zone::{Rec, Zone};
use crate::support::{settings, starttls_session};

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

/// The domain of the DANE / MTA-STS tests: mx1 (127.0.0.2) presents a self-signed key its
/// TLSA record names (DANE-EE match); mx2 (127.0.0.3) was "renewed": its certificate is
/// WebPKI-valid but its TLSA record still names the old key.
pub(crate) struct MailTest {
    pub(crate) zone: Zone,
    smtp: Vec<FakeService>,
    policy: PolicyServer,
    pub(crate) ca: TestCa,
    pub(crate) port: u16,
}

const AFTER_TLS: &str = "250-mx.mail.test\r\n250 PIPELINING\r\n";

pub(crate) async fn mail_domain(policy: (&str, &str, &str), extra: Vec<Rec>) -> MailTest {
    let ca = TestCa::new("Posture CA");
    let mx1 = self_signed(&["mx1.mail.test"]);
    let mx2 = ca.leaf(&["mx2.mail.test"], 90);
    let old_key = self_signed(&["mx2.mail.test"]);
    let tlsa = |leaf: &Leaf| tlsa_311(leaf.chain[0].as_ref()).expect("spki").data;
    // The same port on both addresses (the MX target has one port); retry when another test
    // holds it on 127.0.0.3.
    let mut pair = None;
    for _ in 0..20 {
        let leaf = self_signed_clone(&mx1);
        let script = move || starttls_session(&leaf, AFTER_TLS);
        let first = FakeService::try_start_on("127.0.0.2:0".parse().expect("addr"), script)
            .await
            .expect("bind 127.0.0.2");
        let port = first.addr.port();
        let leaf = self_signed_clone(&mx2);
        let script = move || starttls_session(&leaf, AFTER_TLS);
        let addr = format!("127.0.0.3:{port}").parse().expect("addr");
        if let Ok(second) = FakeService::try_start_on(addr, script).await {
            pair = Some((first, second, port));
            break;
        }
    }
    let (first, second, port) = pair.expect("a port free on 127.0.0.2 and 127.0.0.3");
    let (status, content_type, body) = policy;
    let policy = PolicyServer::start(
        ca.leaf(&["mta-sts.mail.test"], 90).server_config(),
        status,
        content_type,
        body.as_bytes().to_vec(),
    )
    .await;
    let mut records = vec![
        Rec::Mx("mail.test.", 10, "mx1.mail.test."),
        Rec::Mx("mail.test.", 20, "mx2.mail.test."),
        Rec::Addr("mx1.mail.test.", v4("127.0.0.2")),
        Rec::Addr("mx2.mail.test.", v4("127.0.0.3")),
        Rec::Addr("mta-sts.mail.test.", v4("127.0.0.1")),
        Rec::Tlsa("_25._tcp.mx1.mail.test.", 3, 1, 1, tlsa(&mx1)),
        Rec::Tlsa("_25._tcp.mx2.mail.test.", 3, 1, 1, tlsa(&old_key)),
        Rec::Tlsa("_25._tcp.mx2.mail.test.", 1, 1, 1, tlsa(&mx2)),
        Rec::Txt(
            "_smtp._tls.mail.test.",
            "v=TLSRPTv1; rua=mailto:tls@mail.test",
        ),
    ];
    records.extend(extra);
    let zone = Zone::start("mail.test.", true, records).await;
    MailTest {
        zone,
        smtp: vec![first, second],
        policy,
        ca,
        port,
    }
}

/// A copy of a leaf (certificates and key are plain data).
fn self_signed_clone(leaf: &Leaf) -> Leaf {
    Leaf {
        chain: leaf.chain.clone(),
        key: leaf.key.clone_key(),
    }
}

const STS_TXT: &str = "v=STSv1; id=20261128T000000;";
pub(crate) const ENFORCE: &str =
    "version: STSv1\r\nmode: enforce\r\nmx: mx1.mail.test\r\nmx: *.mail.test\r\nmax_age: 86400\r\n";

async fn run_check(t: &MailTest) -> (Vec<smtpwatch::report::ProbeReport>, DomainPosture) {
    run_check_with(t, t.zone.anchors()).await
}

async fn run_check_with(
    t: &MailTest,
    anchors: hickory_resolver::proto::dnssec::TrustAnchors,
) -> (Vec<smtpwatch::report::ProbeReport>, DomainPosture) {
    let dns = PostureDns::new(&[t.zone.addr], Some(anchors)).expect("dns");
    let resolver = Resolver::with_servers(&[t.zone.addr]).expect("resolver");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(t.ca.der()).expect("root");
    let trust = Trust::from_roots(roots).expect("trust");
    let fetcher = PolicyFetcher::new(&trust, resolver.clone(), Duration::from_secs(5))
        .expect("fetcher")
        .with_port(t.policy.addr.port());
    let target: Target = format!("mx:mail.test:{}", t.port).parse().expect("target");
    let check = DomainCheck {
        target: &target,
        probe_name: None,
        settings: settings(&t.ca),
        resolver: &resolver,
        tools: &PostureTools {
            dns,
            fetcher,
            settings: PostureSettings::default(),
        },
        family: Family::Any,
    };
    let (reports, posture) = check_domain(check).await;
    (reports, posture.expect("a posture for an mx: target"))
}

fn finding<'a>(p: &'a DomainPosture, reason: &str) -> Option<&'a Finding> {
    p.findings.iter().find(|f| f.reason == reason)
}

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

#[tokio::test]
async fn mta_sts_policy_problems_are_named() {
    let cases: [((&str, &str, &str), &str); 5] = [
        (("404 Not Found", "text/plain", "nope"), "not 200"),
        (("301 Moved Permanently", "text/plain", ""), "redirect"),
        (("200 OK", "text/html", ENFORCE), "not text/plain"),
        (
            (
                "200 OK",
                "text/plain",
                "version: STSv1\nmode: enforce\nmx: *.mail.test\nmax_age: 99999999\n",
            ),
            "exceeds",
        ),
        (
            ("200 OK", "text/plain", &"x".repeat(70 * 1024)),
            "exceeds 65536 bytes",
        ),
    ];
    for (policy, want) in cases {
        let t = mail_domain(policy, vec![Rec::Txt("_mta-sts.mail.test.", STS_TXT)]).await;
        let (_, p) = run_check(&t).await;
        assert_eq!(p.mta_sts.state.as_str(), "invalid", "{want}");
        let f = finding(&p, "mta_sts_policy").expect("mta_sts_policy");
        assert_eq!(f.severity.as_str(), "failure");
        assert!(f.message.contains(want), "{want}: {}", f.message);
    }
}

#[tokio::test]
async fn an_mx_outside_the_policy_fails_under_enforce_and_warns_under_testing() {
    let narrow = "version: STSv1\nmode: enforce\nmx: mx1.mail.test\nmax_age: 86400\n";
    let t = mail_domain(
        ("200 OK", "text/plain", narrow),
        vec![Rec::Txt("_mta-sts.mail.test.", STS_TXT)],
    )
    .await;
    let (_, p) = run_check(&t).await;
    assert_eq!(p.mta_sts.uncovered, ["mx2.mail.test"]);
    assert_eq!(
        finding(&p, "mta_sts_mx_mismatch").map(|f| f.severity.as_str()),
        Some("failure")
    );

    let testing = narrow.replace("enforce", "testing");
    let t = mail_domain(
        ("200 OK", "text/plain", &testing),
        vec![Rec::Txt("_mta-sts.mail.test.", STS_TXT)],
    )
    .await;
    let (_, p) = run_check(&t).await;
    assert_eq!(
        finding(&p, "mta_sts_mx_mismatch").map(|f| f.severity.as_str()),
        Some("warning")
    );
}

#[tokio::test]
async fn without_an_mta_sts_record_nothing_is_fetched() {
    let t = mail_domain(("500 Internal Server Error", "text/plain", ""), Vec::new()).await;
    let (_, p) = run_check(&t).await;
    assert_eq!(p.mta_sts.state.as_str(), "none");
    assert!(finding(&p, "mta_sts_policy").is_none());
}

fn target_text(reports: &[smtpwatch::report::ProbeReport]) -> String {
    smtpwatch::report::render::text("mx:mail.test", reports, false)
}

#[tokio::test]
async fn the_anchor_record_round_trips_through_a_trust_anchor_file() {
    let t = mail_domain(("200 OK", "text/plain", ENFORCE), Vec::new()).await;
    let path = std::env::temp_dir().join(format!("smtpwatch-anchor-{}.key", std::process::id()));
    std::fs::write(&path, t.zone.anchor_record()).expect("write anchor");
    let anchors = smtpwatch::posture::dns::trust_anchor_file(&path).expect("parse the anchor");
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

/// One round against mx1, whose certificate for `name` comes from a CA that a DANE-TA
/// record names; the server sends the CA along.
async fn dane_ta_round(name: &str) -> (Vec<smtpwatch::report::ProbeReport>, DomainPosture) {
    let ca = TestCa::new("DANE-TA CA");
    let issued = ca.leaf(&[name], 90);
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
    let (reports, p) = dane_ta_round("mx1.mail.test").await;
    assert!(reports[0].success, "{:?}", reports[0].failure);
    let dane = p.hosts[0].addresses[0].dane.as_ref().expect("dane");
    assert_eq!(
        (dane.result.as_str(), dane.matched.as_ref().map(|m| m.1)),
        ("match", Some(1))
    );
    assert!(p.findings.is_empty(), "{:?}", p.findings);

    let (reports, p) = dane_ta_round("elsewhere.test").await;
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
async fn fcrdns_holds_when_the_ptr_name_resolves_back_and_the_banner_name_is_checked() {
    use crate::support::fake_smtp::{greet_and_ehlo, noop_quit};
    // 127.0.0.1: hickory answers its PTR (localhost) and localhost's address itself, so the
    // round trip closes; the banner names fake.test, which is neither the MX host nor the PTR.
    let server = FakeService::start(|| {
        let mut steps = greet_and_ehlo(&["PIPELINING"]);
        steps.extend(noop_quit());
        steps
    })
    .await;
    let zone = Zone::start(
        "mail.test.",
        true,
        vec![
            Rec::Mx("mail.test.", 10, "mx1.mail.test."),
            Rec::Addr("mx1.mail.test.", v4("127.0.0.1")),
        ],
    )
    .await;
    let dns = PostureDns::new(&[zone.addr], Some(zone.anchors())).expect("dns");
    let resolver = Resolver::with_servers(&[zone.addr]).expect("resolver");
    let ca = TestCa::new("unused");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der()).expect("root");
    let trust = Trust::from_roots(roots).expect("trust");
    let fetcher =
        PolicyFetcher::new(&trust, resolver.clone(), Duration::from_secs(2)).expect("fetcher");
    let target: Target = format!("mx:mail.test:{}", server.addr.port())
        .parse()
        .expect("target");
    let check = DomainCheck {
        target: &target,
        probe_name: None,
        settings: settings(&ca),
        resolver: &resolver,
        tools: &PostureTools {
            dns,
            fetcher,
            settings: PostureSettings {
                mta_sts: false,
                ..PostureSettings::default()
            },
        },
        family: Family::Any,
    };
    let (_, p) = check_domain(check).await;
    let p = p.expect("posture");
    let address = &p.hosts[0].addresses[0];
    assert_eq!(address.ptr, ["localhost"]);
    assert_eq!(address.fcrdns, Some(true));
    assert!(finding(&p, "fcrdns").is_none(), "{:?}", p.findings);
    assert_eq!(
        finding(&p, "banner_name").map(|f| f.severity.as_str()),
        Some("warning")
    );
    // The EHLO reply names fake.test too.
    assert!(
        finding(&p, "ehlo_name").is_some_and(|f| f.message.contains("EHLO reply names fake.test"))
    );
    assert_eq!(p.status(), Status::Warning);
    assert_eq!(p.tls_rpt.state.as_str(), "none");
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
