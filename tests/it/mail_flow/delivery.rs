//! The delivery round trip: a scripted submission, then the fake IMAP server, well-behaved and
//! hostile. Every case must end in its own reason, before its deadline.

use std::time::{Duration, Instant};

use smtpwatch::probe::mail_flow::{identity_of, Delivery, MailFlow, Mailbox};
use smtpwatch::report::ProbeReport;
use smtpwatch::secret::Secret;
use smtpwatch::target::TlsMode;

use super::{assert_no_secret, with_flow, PASSWORD};
use crate::support::certs::TestCa;
use crate::support::fake_imap::{FakeImap, Hostile, Script};
use crate::support::fake_smtp::{greet_and_ehlo, noop_quit, FakeSmtp, Step};
use crate::support::{assert_outcome, phase_names, probe_addr, settings};

const TO: &str = "box@fake.test";

fn submission() -> Vec<Step> {
    let mut steps = greet_and_ehlo(&["PIPELINING"]);
    steps.extend([
        Step::Expect("MAIL FROM:<>"),
        Step::Line("250 2.1.0 Ok"),
        Step::Expect("RCPT TO:<box@fake.test>"),
        Step::Line("250 2.1.5 Ok"),
        Step::Expect("DATA"),
        Step::Line("354 End data with <CR><LF>.<CR><LF>"),
        Step::ReadMessage,
        Step::Line("250 2.0.0 Ok: queued as 4AbC123"),
    ]);
    steps.extend(noop_quit());
    steps
}

/// A delivery check of [`TO`], found in `url` as `monitor` with [`PASSWORD`].
fn delivery_to(url: &str, timeout: Duration) -> MailFlow {
    let mailbox = Mailbox::parse_url(url, "monitor".into(), Secret::new(PASSWORD)).expect("url");
    MailFlow {
        delivery: Some(Delivery {
            to: TO.into(),
            mailbox,
            timeout,
            warn_after: None,
            identity: identity(),
        }),
        ..MailFlow::default()
    }
}

fn identity() -> String {
    identity_of(&["delivery-test", TO])
}

struct Trip {
    report: ProbeReport,
    smtp_sent: Vec<String>,
    imap_commands: Vec<String>,
    left: Vec<String>,
    took: Duration,
}

/// Submits through a scripted server, then finds the message on `script`'s fake IMAP server.
async fn trip(
    script: Script,
    imap_url: impl FnOnce(u16) -> String,
    timeout: Duration,
    phase: Duration,
) -> Trip {
    trip_with(|_| script, imap_url, timeout, phase).await
}

/// [`trip`], the script made knowing the SMTP server's address.
async fn trip_with(
    script: impl FnOnce(std::net::SocketAddr) -> Script,
    imap_url: impl FnOnce(u16) -> String,
    timeout: Duration,
    phase: Duration,
) -> Trip {
    let ca = TestCa::new("delivery CA");
    let leaf = ca.leaf(&["localhost"], 90);
    let smtp = FakeSmtp::start(submission()).await;
    let imap = FakeImap::start(script(smtp.addr), &leaf).await;
    let mut s = settings(&ca);
    s.phase_timeout = phase;
    with_flow(&mut s, delivery_to(&imap_url(imap.addr.port()), timeout));
    let started = Instant::now();
    let report = probe_addr(smtp.addr, TlsMode::None, &s).await;
    let took = started.elapsed();
    let smtp_sent = smtp.finish().await.expect("smtp script");
    let left = imap.tokens();
    let imap_commands = imap.finish().await;
    Trip {
        report,
        smtp_sent,
        imap_commands,
        left,
        took,
    }
}

fn imaps(port: u16) -> String {
    format!("imaps://localhost:{port}")
}

#[tokio::test]
async fn a_round_trip_over_imaps_with_idle_finds_reads_and_deletes_the_message() {
    // Leftovers: this probe's at this address (deleted), this probe's at a sibling address
    // (its round may still be waiting for it: kept), another probe's (kept).
    let sibling = format!("{}-1-00", identity_of(&[&identity(), "192.0.2.1:25"]));
    let kept = sibling.clone();
    let script = move |addr: std::net::SocketAddr| {
        let mut script = Script::good(PASSWORD);
        let stale = format!("{}-1-00", identity_of(&[&identity(), &addr.to_string()]));
        script.leftovers = vec![stale, sibling, "someone-else-1-00".into()];
        script
    };
    let t = trip_with(
        script,
        imaps,
        Duration::from_secs(10),
        Duration::from_secs(3),
    )
    .await;
    assert_outcome(&t.report, None);
    assert_eq!(
        phase_names(&t.report),
        [
            "connect",
            "banner",
            "ehlo",
            "mail_from",
            "rcpt_to",
            "data",
            "noop",
            "quit",
            "imap_connect",
            "imap_login",
            "delivery",
            "imap_cleanup"
        ]
    );
    let d = t.report.mail.delivery().expect("delivery facts");
    assert_eq!(d.queue_id.as_deref(), Some("4AbC123"));
    assert!(d.seconds.is_some_and(|s| (0.0..10.0).contains(&s)), "{d:?}");
    assert!(d.seen_at.is_some());
    assert_eq!(
        d.authentication_results.get("spf").map(String::as_str),
        Some("pass")
    );
    assert_eq!(
        d.authentication_results.get("dkim").map(String::as_str),
        Some("none")
    );
    let address = t.report.address.clone().expect("address");
    assert!(d.token.starts_with(&identity_of(&[&identity(), &address])));
    // The message carried the token in the headers the contract names.
    for header in [
        "X-Smtpwatch-Token: ",
        "Auto-Submitted: auto-generated",
        "Message-ID: <",
    ] {
        assert!(
            t.smtp_sent.iter().any(|l| l.starts_with(header)),
            "{header}: {:?}",
            t.smtp_sent
        );
    }
    assert!(t
        .smtp_sent
        .iter()
        .any(|l| l.starts_with("Subject: ") && l.contains(&d.token)));
    // This round's message and the stale one are gone; another probe's message stays.
    assert_eq!(t.left, [kept.as_str(), "someone-else-1-00"]);
    assert!(
        t.imap_commands.iter().any(|c| c == "IDLE"),
        "{:?}",
        t.imap_commands
    );
    assert!(t
        .imap_commands
        .iter()
        .any(|c| c.starts_with("UID EXPUNGE ")));
    assert!(t
        .report
        .transcript
        .iter()
        .any(|l| l.line.ends_with("LOGIN \"monitor\" <redacted>")));
    assert_no_secret(&t.report);
}

#[tokio::test]
async fn without_idle_the_mailbox_is_polled_over_starttls() {
    let mut script = Script::good(PASSWORD);
    script.implicit_tls = false;
    script.starttls = true;
    script.idle = false;
    script.deliver_after = Some(3);
    let t = trip(
        script,
        |p| format!("imap://localhost:{p}"),
        Duration::from_secs(10),
        Duration::from_secs(3),
    )
    .await;
    assert_outcome(&t.report, None);
    assert!(t.imap_commands.iter().any(|c| c == "STARTTLS"));
    assert!(!t.imap_commands.iter().any(|c| c == "IDLE"));
    let searches = t
        .imap_commands
        .iter()
        .filter(|c| c.contains("SEARCH") && !c.ends_with("-\""))
        .count();
    assert_eq!(searches, 3, "{:?}", t.imap_commands);
    assert!(t.left.is_empty());
}

#[tokio::test]
async fn imap_without_starttls_never_sends_the_password() {
    let mut script = Script::good(PASSWORD);
    script.implicit_tls = false;
    let t = trip(
        script,
        |p| format!("imap://localhost:{p}"),
        Duration::from_secs(10),
        Duration::from_secs(3),
    )
    .await;
    assert_outcome(&t.report, Some(("imap_connect", "starttls_unavailable")));
    assert!(
        !t.imap_commands.iter().any(|c| c.starts_with("LOGIN")),
        "{:?}",
        t.imap_commands
    );
}

#[tokio::test]
async fn a_wrong_mailbox_password_is_imap_login_failed() {
    let t = trip(
        Script::good("another-password"),
        imaps,
        Duration::from_secs(10),
        Duration::from_secs(3),
    )
    .await;
    assert_outcome(&t.report, Some(("imap_login", "imap_login_failed")));
    assert_no_secret(&t.report);
}

#[tokio::test]
async fn hostile_imap_servers_end_in_their_own_reason_before_the_deadline() {
    let cases = [
        (Hostile::HugeLiteral, "delivery", "reply_too_long"),
        (Hostile::EndlessUntagged, "delivery", "reply_too_long"),
        (Hostile::ByeOnSelect, "delivery", "closed"),
        (Hostile::DripGreeting, "imap_connect", "timeout"),
    ];
    for (hostile, phase, reason) in cases {
        let mut script = Script::good(PASSWORD);
        script.hostile = hostile;
        let t = trip(
            script,
            imaps,
            Duration::from_secs(20),
            Duration::from_secs(1),
        )
        .await;
        assert_outcome(&t.report, Some((phase, reason)));
        assert!(
            t.took < Duration::from_secs(8),
            "{hostile:?} took {:?}",
            t.took
        );
        let message = &t.report.failure.as_ref().expect("failure").message;
        assert!(message.len() < 600, "{hostile:?}: {message}");
    }
}

#[tokio::test]
async fn a_message_that_never_arrives_is_delivery_timeout_within_the_timeout() {
    for idle in [true, false] {
        let mut script = Script::good(PASSWORD);
        script.idle = idle;
        script.deliver_after = None;
        let t = trip(
            script,
            imaps,
            Duration::from_secs(2),
            Duration::from_secs(3),
        )
        .await;
        assert_outcome(&t.report, Some(("delivery", "delivery_timeout")));
        assert!(
            t.took < Duration::from_secs(4),
            "idle {idle}: took {:?}",
            t.took
        );
        assert!(t
            .report
            .mail
            .delivery()
            .is_some_and(|d| d.seconds.is_none() && d.queue_id.is_some()));
        assert!(phase_names(&t.report).contains(&"imap_cleanup"));
    }
}

#[tokio::test]
async fn an_imap_server_that_is_down_is_imap_connect() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let smtp = FakeSmtp::start(submission()).await;
    let ca = TestCa::new("delivery CA");
    let mut s = settings(&ca);
    with_flow(
        &mut s,
        delivery_to(&format!("imaps://127.0.0.1:{port}"), Duration::from_secs(5)),
    );
    let report = probe_addr(smtp.addr, TlsMode::None, &s).await;
    smtp.finish().await.expect("smtp script");
    assert_outcome(&report, Some(("imap_connect", "connect_refused")));
}
