//! Mail-domain posture against an in-process signed zone (hickory validating with the zone's
//! own key as trust anchor), fake STARTTLS servers on 127.0.0.2 and 127.0.0.3, and a local
//! HTTPS policy server: DNSSEC status, DANE match and mismatch, MTA-STS and TLS-RPT, FCrDNS.
//! This file holds the shared domain; each concern has its own file.

mod dane;
mod deadline;
mod dnssec;
mod fcrdns;
mod lookups;
mod mta_sts;

use std::net::IpAddr;

use std::time::Duration;

use hickory_resolver::proto::rr::RecordType;
use smtpwatch::posture::assess::PostureSettings;
use smtpwatch::posture::dane::tlsa_311;
use smtpwatch::posture::dns::{Dnssec, PostureDns};
use smtpwatch::posture::domain::{check_domain, DomainCheck, PostureTools};
use smtpwatch::posture::fetch::PolicyFetcher;
use smtpwatch::posture::summary::{DomainPosture, Finding, FindingSeverity, RecordState};
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
    anchors: std::sync::Arc<hickory_resolver::proto::dnssec::TrustAnchors>,
) -> (Vec<smtpwatch::report::ProbeReport>, DomainPosture) {
    run_check_through(t, anchors, t.zone.addr).await
}

/// A round whose probes resolve through `probe_dns` (the validating resolver asks the zone).
async fn run_check_through(
    t: &MailTest,
    anchors: std::sync::Arc<hickory_resolver::proto::dnssec::TrustAnchors>,
    probe_dns: std::net::SocketAddr,
) -> (Vec<smtpwatch::report::ProbeReport>, DomainPosture) {
    let dns = PostureDns::new(&[t.zone.addr], Some(anchors)).expect("dns");
    let resolver = Resolver::with_servers(&[probe_dns]).expect("resolver");
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

fn target_text(reports: &[smtpwatch::report::ProbeReport]) -> String {
    smtpwatch::report::render::text("mx:mail.test", reports, false)
}
