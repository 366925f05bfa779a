//! MTA-STS: policy problems named, MX coverage under enforce and testing, no record no fetch.

use super::*;

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

#[tokio::test]
async fn control_bytes_in_txt_records_are_escaped_where_they_enter() {
    let zone = Zone::start(
        "esc.test.",
        true,
        vec![Rec::Txt(
            "_smtp._tls.esc.test.",
            "v=TLSRPTv1; rua=mailto:a\x1b[2J\x07@esc.test",
        )],
    )
    .await;
    let dns = PostureDns::new(&[zone.addr], Some(zone.anchors())).expect("dns");
    let txt = dns.txt("_smtp._tls.esc.test").await.expect("TXT");
    let record = smtpwatch::posture::tlsrpt::parse_record(&txt.data)
        .expect("valid")
        .expect("one record");
    assert_eq!(record.rua, ["mailto:a\\x1b[2J\\x07@esc.test"]);
}
