//! AUTH and envelope checks against scripted SMTP servers.

use base64::Engine as _;
use smtpwatch::probe::mail_flow::{AuthMech, MailFlow};
use smtpwatch::target::TlsMode;

use super::{assert_no_secret, auth, with_flow, PASSWORD};
use crate::support::certs::TestCa;
use crate::support::fake_smtp::{greet_and_ehlo, noop_quit, raw, Step};
use crate::support::{assert_outcome, phase_names, run, run_trusting};

/// Greeting, STARTTLS, EHLO again answered with `caps` (multi-line EHLO reply text).
fn tls_session(ca: &TestCa, caps: &'static str) -> Vec<Step> {
    let leaf = ca.leaf(&["localhost"], 90);
    let mut steps = greet_and_ehlo(&["STARTTLS"]);
    steps.extend([
        Step::Expect("STARTTLS"),
        Step::Line("220 2.0.0 Ready"),
        Step::StartTls(leaf.server_config()),
        Step::Expect("EHLO probe.test"),
        raw(caps),
    ]);
    steps
}

/// The settings tweak of an AUTH-only check.
fn auth_only(mech: AuthMech) -> impl FnOnce(&mut smtpwatch::probe::ProbeSettings) {
    move |s| {
        with_flow(
            s,
            MailFlow {
                auth: Some(auth(mech)),
                ..MailFlow::default()
            },
        )
    }
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[tokio::test]
async fn auth_plain_inside_tls_succeeds_and_the_transcript_hides_the_credentials() {
    let ca = TestCa::new("mail flow CA");
    let mut steps = tls_session(&ca, "250-fake.test\r\n250 AUTH LOGIN PLAIN\r\n");
    steps.extend([
        Step::Expect("AUTH PLAIN "),
        Step::Line("235 2.7.0 Authentication successful"),
    ]);
    steps.extend(noop_quit());
    let (report, sent) =
        run_trusting(&ca, steps, TlsMode::Starttls, auth_only(AuthMech::Auto)).await;
    assert_outcome(&report, None);
    let sent = sent.expect("script");
    let wire = format!("AUTH PLAIN {}", b64(&format!("\0monitor\0{PASSWORD}")));
    assert!(sent.contains(&wire), "{sent:?}");
    assert_eq!(
        report
            .phase(smtpwatch::report::Phase::Auth)
            .and_then(|p| p.code),
        Some(235)
    );
    assert!(report
        .transcript
        .iter()
        .any(|l| l.line == "AUTH PLAIN <redacted>"));
    assert_no_secret(&report);
}

#[tokio::test]
async fn auth_login_answers_both_challenges_and_shows_neither() {
    let ca = TestCa::new("mail flow CA");
    let mut steps = tls_session(&ca, "250-fake.test\r\n250 AUTH LOGIN\r\n");
    steps.extend([
        Step::Expect("AUTH LOGIN"),
        Step::Line("334 VXNlcm5hbWU6"),
        Step::Expect("bW9uaXRvcg=="),
        Step::Line("334 UGFzc3dvcmQ6"),
        Step::Expect(""),
        Step::Line("235 2.7.0 ok"),
    ]);
    steps.extend(noop_quit());
    let (report, sent) =
        run_trusting(&ca, steps, TlsMode::Starttls, auth_only(AuthMech::Auto)).await;
    assert_outcome(&report, None);
    assert!(sent.expect("script").contains(&b64(PASSWORD)));
    assert_no_secret(&report);
}

#[tokio::test]
async fn refused_credentials_are_auth_failed_and_the_probe_still_says_quit() {
    let ca = TestCa::new("mail flow CA");
    for code in [
        "535 5.7.8 Error: authentication failed",
        "534 5.7.9 Please log in with your web browser",
    ] {
        let mut steps = tls_session(&ca, "250-fake.test\r\n250 AUTH PLAIN\r\n");
        steps.extend([
            Step::Expect("AUTH PLAIN "),
            Step::Line(code),
            Step::Expect("QUIT"),
            Step::Line("221 bye"),
        ]);
        let (report, sent) =
            run_trusting(&ca, steps, TlsMode::Starttls, auth_only(AuthMech::Plain)).await;
        assert_outcome(&report, Some(("auth", "auth_failed")));
        assert_eq!(
            report.failure.as_ref().and_then(|f| f.code),
            Some(code[..3].parse().expect("code"))
        );
        sent.expect("script");
        assert_no_secret(&report);
    }
}

#[tokio::test]
async fn credentials_are_never_sent_without_tls_or_an_offered_mechanism() {
    // Plaintext session that offers AUTH: nothing is sent, the next command is QUIT.
    let mut steps = greet_and_ehlo(&["AUTH PLAIN LOGIN"]);
    steps.extend([Step::Expect("QUIT"), Step::Line("221 bye")]);
    let (report, sent) = run(steps, TlsMode::Opportunistic, auth_only(AuthMech::Auto)).await;
    assert_outcome(&report, Some(("auth", "auth_unavailable")));
    let sent = sent.expect("script");
    assert!(
        !sent
            .iter()
            .any(|l| l.to_ascii_uppercase().starts_with("AUTH")),
        "{sent:?}"
    );

    // TLS, but only CRAM-MD5 offered (or no AUTH at all): nothing is sent either.
    let ca = TestCa::new("mail flow CA");
    for (caps, mech) in [
        ("250-fake.test\r\n250 AUTH CRAM-MD5\r\n", AuthMech::Auto),
        ("250-fake.test\r\n250 AUTH PLAIN\r\n", AuthMech::Login),
        ("250 fake.test\r\n", AuthMech::Auto),
    ] {
        let mut steps = tls_session(&ca, caps);
        steps.extend([Step::Expect("QUIT"), Step::Line("221 bye")]);
        let (report, sent) = run_trusting(&ca, steps, TlsMode::Starttls, auth_only(mech)).await;
        assert_outcome(&report, Some(("auth", "auth_unavailable")));
        sent.expect("script");
    }
}

#[tokio::test]
async fn every_recipient_is_asked_and_the_first_refusal_fails_at_rcpt_to() {
    let mut steps = greet_and_ehlo(&["PIPELINING"]);
    steps.extend([
        Step::Expect("MAIL FROM:<>"),
        Step::Line("250 2.1.0 Ok"),
        Step::Expect("RCPT TO:<known@fake.test>"),
        Step::Line("250 2.1.5 Ok"),
        Step::Expect("RCPT TO:<nobody@fake.test>"),
        Step::Line("550 5.1.1 <nobody@fake.test>: Recipient address rejected: User unknown"),
        Step::Expect("RCPT TO:<other@fake.test>"),
        Step::Line("450 4.2.0 greylisted"),
        Step::Expect("QUIT"),
        Step::Line("221 bye"),
    ]);
    let rcpt = ["known@fake.test", "nobody@fake.test", "other@fake.test"];
    let (report, sent) = run(steps, TlsMode::None, |s| {
        with_flow(
            s,
            MailFlow {
                rcpt: rcpt.map(String::from).to_vec(),
                ..MailFlow::default()
            },
        )
    })
    .await;
    sent.expect("script");
    assert_outcome(&report, Some(("rcpt_to", "rejected")));
    assert_eq!(report.failure.as_ref().and_then(|f| f.code), Some(550));
    let codes: Vec<(String, u16)> = report
        .mail
        .recipients()
        .iter()
        .map(|r| (r.rcpt.clone(), r.code))
        .collect();
    assert_eq!(
        codes,
        [
            ("known@fake.test".into(), 250),
            ("nobody@fake.test".into(), 550),
            ("other@fake.test".into(), 450)
        ]
    );
    let json = serde_json::to_value(&report).expect("json");
    assert_eq!(json["recipients"][1]["code"], 550, "{json:#}");
    assert!(json["delivery"].is_null());
}

#[tokio::test]
async fn accepted_recipients_end_with_rset_and_no_message() {
    let mut steps = greet_and_ehlo(&["PIPELINING"]);
    steps.extend([
        Step::Expect("MAIL FROM:<probe@probe.test>"),
        Step::Line("250 2.1.0 Ok"),
        Step::Expect("RCPT TO:<known@fake.test>"),
        Step::Line("250 2.1.5 Ok"),
        Step::Expect("RSET"),
        Step::Line("250 2.0.0 Ok"),
    ]);
    steps.extend(noop_quit());
    let (report, sent) = run(steps, TlsMode::None, |s| {
        with_flow(
            s,
            MailFlow {
                mail_from: Some("probe@probe.test".into()),
                rcpt: vec!["known@fake.test".into()],
                ..MailFlow::default()
            },
        )
    })
    .await;
    assert_outcome(&report, None);
    let sent = sent.expect("script");
    assert!(!sent.iter().any(|l| l == "DATA"), "{sent:?}");
    assert_eq!(
        phase_names(&report),
        [
            "connect",
            "banner",
            "ehlo",
            "mail_from",
            "rcpt_to",
            "rset",
            "noop",
            "quit"
        ]
    );
}

/// `check`'s mail-flow flags: a missing or misplaced secret is a usage error (exit 3) whose
/// message names the flag and never the secret; an address that could change a command is one
/// too. Nothing is probed (the target's port is closed: a probe would print a result).
#[tokio::test]
async fn mail_flow_flags_are_checked_before_anything_is_sent() {
    let dir = std::env::temp_dir().join(format!("smtpwatch-mf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("pw");
    std::fs::write(&file, format!("{PASSWORD}\n")).expect("pw");
    let file = file.to_string_lossy().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--auth-user", "monitor"],
            "--auth-user needs a password",
        ),
        (
            vec!["--auth-password-file", &file],
            "--auth-password-file needs --auth-user",
        ),
        (
            vec![
                "--auth-user",
                "m",
                "--auth-password-file",
                &file,
                "--auth-mech",
                "cram",
            ],
            "--auth-mech",
        ),
        (vec!["--rcpt", "a@b>\rDATA"], "--rcpt"),
        (
            vec![
                "--deliver-to",
                "a@b.test",
                "--imap",
                "imaps://h",
                "--imap-user",
                "u",
            ],
            "mailbox password",
        ),
        (
            vec![
                "--auth-user",
                "m",
                "--auth-password-file",
                &file,
                "--deliver-to",
                "a@b.test",
                "--imap",
                "imaps://u:pw@h",
            ],
            "--imap",
        ),
        (vec!["--deliver-to", "a@b.test"], "--imap"),
    ];
    for (flags, wanted) in cases {
        let mut args = vec!["check", "127.0.0.1:1"];
        args.extend(flags.iter().copied());
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_smtpwatch"))
            .args(&args)
            .env_remove("SMTPWATCH_AUTH_PASSWORD")
            .env_remove("SMTPWATCH_IMAP_PASSWORD")
            .output()
            .await
            .expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {stderr}");
        assert!(stderr.contains(wanted), "{args:?}: {stderr}");
        assert!(
            !stderr.contains(PASSWORD) && !stderr.contains(":pw@"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?} probed");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
