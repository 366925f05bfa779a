//! What an `mx:` round asks DNS: the MX set once, its hosts handed to fan-out and posture alike.

use super::*;
use crate::support::dns_relay::DnsRelay;

#[tokio::test]
async fn an_mx_round_asks_for_the_mx_set_once_and_probes_and_assesses_the_same_hosts() {
    let t = mail_domain(
        ("200 OK", "text/plain", ENFORCE),
        vec![Rec::Txt("_mta-sts.mail.test.", STS_TXT)],
    )
    .await;
    let relay = DnsRelay::start(t.zone.addr).await;
    let (reports, p) = run_check_through(&t, t.zone.anchors(), relay.addr).await;

    assert_eq!(
        relay.asked(RecordType::MX),
        1,
        "the MX set is looked up once"
    );
    // Fan-out asked for each host's addresses through the same resolver.
    assert!(
        relay.asked(RecordType::A) >= 2,
        "{}",
        relay.asked(RecordType::A)
    );
    let mut probed: Vec<&str> = reports
        .iter()
        .filter_map(|r| r.target.rsplit_once(':').map(|(host, _)| host))
        .collect();
    probed.dedup();
    let assessed: Vec<&str> = p.hosts.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(probed, ["mx1.mail.test", "mx2.mail.test"]);
    assert_eq!(assessed, probed);
}
