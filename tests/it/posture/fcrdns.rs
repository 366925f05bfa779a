//! Forward-confirmed reverse DNS and the names in the banner and EHLO reply.

use super::*;

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
