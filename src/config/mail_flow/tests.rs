//! The mail-flow keys: secrets from files and variables, errors with file, line and key, and
//! never a secret in a message.

use std::path::Path;

use crate::config::parse;

const PASSWORD: &str = "cfg-pa55word";

/// One directory per test: tests run in parallel, and rewriting a shared password file while
/// another test reads it made that test see it empty.
fn dir(test: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("smtpwatch-cfg-mf-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("pw"), format!("{PASSWORD}\n")).expect("pw");
    dir
}

fn probe(extra: &str) -> String {
    format!(
        "[[probe]]\nname = \"sub\"\ntarget = \"submission://mail.example.com\"\ninterval = \"5m\"\n{extra}"
    )
}

#[test]
fn auth_envelope_and_delivery_load_with_their_defaults() {
    let pw = dir("defaults").join("pw");
    let text = probe(&format!(
        "auth = {{ user = \"monitor\", password_file = \"{}\" }}\nrcpt = [\"a@example.com\"]\n\
         [probe.delivery]\nto = \"box@example.com\"\nimap = \"imaps://mail.example.com/Monitor\"\n",
        pw.display()
    ));
    let config = parse(&text, Path::new("p.toml")).expect("valid");
    let flow = config.probes[0].mail.clone().expect("mail flow");
    let auth = flow.auth.as_ref().expect("auth");
    assert_eq!(auth.password.expose(), PASSWORD);
    assert_eq!(flow.rcpt, ["a@example.com"]);
    assert_eq!(flow.mail_from, None);
    let d = flow.delivery.as_ref().expect("delivery");
    assert_eq!(d.timeout, std::time::Duration::from_secs(120));
    assert_eq!(
        (d.mailbox.user.as_str(), d.mailbox.folder.as_str()),
        ("monitor", "Monitor")
    );
    assert_eq!(
        d.mailbox.password.expose(),
        PASSWORD,
        "the IMAP password defaults to AUTH's"
    );
    assert!(!format!("{config:?}").contains(PASSWORD));
}

#[test]
fn bad_mail_flow_keys_are_located_and_never_quote_a_secret() {
    let pw = dir("errors").join("pw");
    let pw = pw.display();
    let cases = [
        (probe("auth = { user = \"m\" }\n"), "p.toml:5:", "auth needs password_file or password_env"),
        (
            probe(&format!("auth = {{ user = \"m\", password_file = \"{pw}\", password_env = \"X\" }}\n")),
            "p.toml:5:",
            "give either password_file or password_env, not both",
        ),
        (probe("auth = { user = \"m\", password_env = \"SMTPWATCH_SURELY_UNSET_42\" }\n"), "p.toml:5:", "password_env"),
        (
            probe(&format!("auth = {{ user = \"m\", password_file = \"{pw}\", mech = \"cram-md5\" }}\n")),
            "p.toml:5:",
            "auth.mech",
        ),
        (probe("rcpt = [\"a@b>\\r\\nDATA\"]\n"), "p.toml:5:", "rcpt"),
        (probe("mail_from = \"nobody\"\n"), "p.toml:5:", "mail_from"),
        (probe("delivery = { to = \"a@b.test\", imap = \"imaps://h\" }\n"), "p.toml:5:", "set user"),
        (
            probe(&format!("delivery = {{ to = \"a@b.test\", imap = \"imaps://u:{PASSWORD}@h\", user = \"u\", password_file = \"{pw}\" }}\n")),
            "p.toml:5:",
            "must not carry credentials",
        ),
        (
            probe(&format!("delivery = {{ to = \"a@b.test\", imap = \"imaps://h\", user = \"u\", password_file = \"{pw}\", timeout = \"5m\" }}\n")),
            "p.toml:4:",
            "plus delivery.timeout 5m must be shorter than interval 5m",
        ),
        (
            probe(&format!("delivery = {{ to = \"a@b.test\", imap = \"imaps://h\", user = \"u\", password_file = \"{pw}\", warn_after = \"3m\" }}\n")),
            "p.toml:5:",
            "warn_after must be shorter",
        ),
        (probe("delivery = { to = \"a@b.test\", imap = \"imaps://h\", passwd = \"x\" }\n"), "p.toml:5:", "passwd"),
    ];
    for (text, at, wanted) in cases {
        let err = parse(&text, Path::new("p.toml"))
            .expect_err(wanted)
            .to_string();
        assert!(err.starts_with(at), "{wanted}: {err}");
        assert!(err.contains(wanted), "{wanted}: {err}");
        assert!(!err.contains(PASSWORD), "{err}");
    }
}
