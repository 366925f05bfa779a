//! Each bad file paired with its exact error; the example file must load.

use super::*;

fn err(text: &str) -> String {
    parse(text, Path::new("probes.toml"))
        .expect_err("should fail")
        .to_string()
}

#[test]
fn minimal_file_gets_documented_defaults() {
    let config = parse(
        "[[probe]]\nname = \"mx1\"\ntarget = \"mx1.example.com\"\n",
        Path::new("p.toml"),
    )
    .expect("valid");
    assert_eq!(config.listen, "127.0.0.1:9925".parse().unwrap());
    assert_eq!(
        (config.interval, config.timeout),
        (Duration::from_secs(60), Duration::from_secs(10))
    );
    assert_eq!(config.concurrency, 256);
    let probe = &config.probes[0];
    assert_eq!(
        (probe.interval, probe.timeout),
        (Duration::from_secs(60), Duration::from_secs(10))
    );
    assert_eq!(probe.warn_cert, Duration::from_secs(14 * 86_400));
    assert!(probe.noop && !probe.insecure && probe.tls.is_none());
}

#[test]
fn bad_files_name_file_line_column_key_and_expectation() {
    let cases: &[(&str, &str)] = &[
        // The probe tables are deserialized one by one: positions and messages are the
        // document's, whatever the table.
        (
            "[[probe]]\nname = \"a\"\ntarget = \"x.example\"\n[[probe]]\nname = \"b\"\ntarget = 5\n",
            "probes.toml:6:10: key `target`: invalid type: integer `…`, expected a string",
        ),
        ("probe = 3\n", "probes.toml:1:9: key `probe`: invalid type: integer `…`, expected a sequence"),
        ("[probe]\nname = \"a\"\n", "probes.toml:1:1: invalid type: map, expected a sequence"),
        ("[probes]\n", "probes.toml:1:2: unknown field `probes`, expected one of `agent`, `probe`, `alerting`"),
        (
            "[[probe]]\nname = \"mx1\"\ntarget = \"mx1.example.com\"\ninterval = \"60s\"\ntimeout = \"90s\"\n",
            "probes.toml:5:11: probe \"mx1\": timeout 1m 30s must be shorter than interval 1m",
        ),
        (
            "[[probe]]\nname = \"mx1\"\ntarget = \"mx1.example.com\"\nintervall = \"60s\"\n",
            "probes.toml:4:1: key `intervall`: unknown field `intervall`, expected one of",
        ),
        (
            "[agent]\nlisten = \"localhost\"\n",
            "probes.toml:2:10: agent.listen \"localhost\" is not an IP:PORT address",
        ),
        (
            "[agent]\ntimeout = \"soon\"\n",
            "probes.toml:2:11: agent.timeout \"soon\": ",
        ),
        (
            "[[probe]]\nname = \"a\"\ntarget = \"x.example\"\n[[probe]]\nname = \"a\"\ntarget = \"y.example\"\n",
            "probes.toml:5:8: probe name \"a\" is used twice; names must be unique",
        ),
        (
            "[[probe]]\nname = \"a b\"\ntarget = \"x.example\"\n",
            "probes.toml:2:8: probe name \"a b\": use letters, digits",
        ),
        (
            "[[probe]]\nname = \"a\"\ntarget = \"http://x.example\"\n",
            "probes.toml:3:10: probe \"a\": invalid target \"http://x.example\": unknown scheme",
        ),
        (
            "[[probe]]\nname = \"a\"\ntarget = \"x.example\"\ntls = \"maybe\"\n",
            "probes.toml:4:7: probe \"a\": tls: unknown TLS mode \"maybe\"",
        ),
        (
            "[[probe]]\nname = \"a\"\ntarget = \"x.example\"\ninsecure = \"yes\"\n",
            "probes.toml:4:12: key `insecure`: invalid type: string \"…\", expected a boolean",
        ),
        (
            "[[probe]]\nname = \"a\"\ntarget = \"x.example\"\nlabels = { probe = \"x\" }\n",
            "probes.toml:4:10: probe \"a\": label \"probe\" is set by smtpwatch itself",
        ),
        (
            "[[probe]]\nname = \"a\"\ntarget = \"x.example\"\nlabels = { \"bad-name\" = \"x\" }\n",
            "probes.toml:4:10: probe \"a\": label \"bad-name\" is not a Prometheus label name",
        ),
        (
            "[[probe]]\nname = \"a\"\ntarget = \"x.example\"\nca_file = \"/nonexistent/ca.pem\"\n",
            "probes.toml:4:11: probe \"a\": ca_file: CA file /nonexistent/ca.pem:",
        ),
        ("[agent]\nconcurrency = 0\n", "probes.toml:2:15: agent.concurrency must be at least 1"),
        ("[agent]\ndns_servers = [\"dns\"]\n", "probes.toml:2:16: agent.dns_servers: \"dns\" is not IP or IP:PORT"),
        ("[agent]\nehlo_name = \"a b\"\n", "probes.toml:2:13: agent.ehlo_name \"a b\" is not a domain"),
        ("[alerting]\nfailure_threshold = 0\n", "probes.toml:2:21: alerting.failure_threshold must be at least 1"),
        ("[alerting]\nrepeat_interval = \"often\"\n", "probes.toml:2:19: alerting.repeat_interval \"often\":"),
        (
            "[[alerting.slack]]\nname = \"s\"\n",
            "probes.toml:2:8: alerting.slack \"s\": give exactly one of url, url_file or url_env",
        ),
        (
            "[[alerting.slack]]\nname = \"s\"\nurl = \"ftp://hooks.example/T0/SECRETPATH\"\n",
            "probes.toml:3:7: alerting.slack \"s\": the URL is not an http:// or https:// URL with a host (value not shown)",
        ),
        (
            "[[alerting.webhook]]\nname = \"w\"\nurl_env = \"SMTPWATCH_TEST_UNSET_VARIABLE\"\n",
            "probes.toml:3:11: alerting.webhook \"w\": url_env: environment variable SMTPWATCH_TEST_UNSET_VARIABLE is not set",
        ),
        (
            "[[alerting.webhook]]\nname = \"w\"\nurl = \"http://h.example/x\"\nsecret_file = \"/nonexistent/key\"\n",
            "probes.toml:4:15: alerting.webhook \"w\": secret_file: cannot read /nonexistent/key:",
        ),
        (
            "[[alerting.slack]]\nname = \"s\"\nurl = \"http://h.example/x\"\nheaders = { a = \"b\" }\n",
            "probes.toml:4:11: alerting.slack \"s\": key `headers` is not used by a slack notifier",
        ),
        (
            "[[alerting.slack]]\nname = \"x\"\nurl = \"http://h.example/x\"\n[[alerting.webhook]]\nname = \"x\"\nurl = \"http://h.example/y\"\n",
            "probes.toml:1:1: alerting: notifier name \"x\" is used twice",
        ),
        (
            "[[alerting.alertmanager]]\nname = \"am\"\nurls = []\n",
            "probes.toml:2:8: alerting.alertmanager \"am\": `urls` lists no URL",
        ),
        (
            "[[probe]]\nname = \"a\"\ntarget = \"x.example\"\nnotify = [\"pager\"]\n",
            "probes.toml:4:10: probe \"a\": notify: there is no notifier named \"pager\" under [alerting]",
        ),
        ("[alerting]\nwebhok = []\n", "probes.toml:2:1: key `webhok`: unknown field `webhok`"),
        (
            "[[probe]]\nname = \"a\"\ntarget = \"mx1.example\"\ndane = \"require\"\n",
            "probes.toml:4:8: probe \"a\": dane applies to mx: targets only",
        ),
        (
            "[[probe]]\nname = \"a\"\ntarget = \"mx:example.com\"\ndane = \"always\"\n",
            "probes.toml:4:8: probe \"a\": dane: unknown DANE mode \"always\"",
        ),
        ("[[probe]]\nname = \"a\"\n", "probes.toml:1:1: missing field `target`"),
        ("not toml at all", "probes.toml:1:"),
    ];
    for (text, want) in cases {
        let got = err(text);
        assert!(
            got.starts_with(want),
            "for\n{text}\n  got: {got}\n want: {want}…"
        );
    }
}

#[test]
fn the_example_file_is_valid_and_documents_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("probes.example.toml");
    let text = std::fs::read_to_string(&path).expect("probes.example.toml");
    let config = parse(&text, &path).expect("the example must load");
    assert!(!config.probes.is_empty());
    // The README installs the example 0644: no live secret may sit in it uncommented.
    let inline_slack = text.lines().any(|l| {
        l.trim_start()
            .starts_with("url = \"https://hooks.slack.com")
    });
    assert!(
        !inline_slack,
        "a Slack URL inline in a world-readable example"
    );
    // Every key of the schema appears in the example (commented or not).
    for key in [
        "listen",
        "ehlo_name",
        "interval",
        "timeout",
        "concurrency",
        "dns_servers",
        "name",
        "target",
        "tls",
        "insecure",
        "ca_file",
        "server_name",
        "noop",
        "warn_cert",
        "labels",
        "notify",
        "state_file",
        "failure_threshold",
        "success_threshold",
        "repeat_interval",
        "resend_interval",
        "queue_size",
        "retry_backoff",
        "retry_backoff_max",
        "retry_attempts",
        "url",
        "urls",
        "url_file",
        "url_env",
        "secret_file",
        "secret_env",
        "headers",
        "dane",
        "mta_sts",
        "fcrdns",
        "dnssec_trust_anchor",
        "enable_lifecycle",
        "allowed_hosts",
        "enabled",
        "allow",
        "max_concurrent",
        "user",
        "mail_from",
        "rcpt",
        "to",
        "password_file",
        "password_env",
        "mech",
        "imap",
        "warn_after",
    ] {
        assert!(
            text.contains(&format!("{key} =")),
            "probes.example.toml does not document {key}"
        );
    }
}

#[test]
fn notifiers_resolve_their_secrets_and_never_print_them() {
    let dir = std::env::temp_dir().join(format!("smtpwatch-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let key = dir.join("hmac.key");
    let url_file = dir.join("slack.url");
    std::fs::write(&key, "k3y-material\n").expect("key");
    std::fs::write(
        &url_file,
        "https://hooks.slack.example/services/T0/B0/SECRETTOKEN\n",
    )
    .expect("url");
    let text = format!(
        "[alerting]\nrepeat_interval = \"1h\"\n\
         [[alerting.webhook]]\nname = \"hook\"\nurl = \"http://127.0.0.1:1/in/SECRETHOOK\"\n\
         secret_file = \"{}\"\nheaders = {{ X-Team = \"mail\" }}\n\
         [[alerting.slack]]\nname = \"chat\"\nurl_file = \"{}\"\n\
         [[alerting.alertmanager]]\nname = \"am\"\nurls = [\"http://127.0.0.1:9093\", \"http://127.0.0.2:9093/\"]\n\
         [[probe]]\nname = \"mx\"\ntarget = \"127.0.0.1\"\nnotify = [\"chat\"]\n",
        key.display(),
        url_file.display()
    );
    let config = parse(&text, Path::new("p.toml")).expect("valid");
    let a = &config.alerting;
    assert_eq!(a.repeat_interval, Duration::from_secs(3600));
    let names: Vec<_> = a.notifiers.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["hook", "chat", "am"]);
    match &a.notifiers[0].kind {
        NotifierKind::Webhook {
            url,
            secret,
            headers,
        } => {
            assert_eq!(url.expose(), "http://127.0.0.1:1/in/SECRETHOOK");
            assert_eq!(secret.as_ref().map(|s| s.expose()), Some("k3y-material"));
            assert_eq!(headers["X-Team"], "mail");
        }
        other => panic!("expected a webhook, got {other:?}"),
    }
    match &a.notifiers[2].kind {
        NotifierKind::Alertmanager { urls } => assert_eq!(urls.len(), 2),
        other => panic!("expected alertmanager, got {other:?}"),
    }
    assert_eq!(config.probes[0].notify, Some(vec!["chat".to_string()]));
    let printed = format!("{config:?}");
    for secret in ["SECRETHOOK", "SECRETTOKEN", "k3y-material"] {
        assert!(!printed.contains(secret), "{secret} leaked into {printed}");
    }
    assert!(printed.contains("https://hooks.slack.example/<redacted>"));
}

#[test]
fn parse_errors_name_the_key_but_never_quote_a_value() {
    let cases = [
        (
            "[alerting]\n[[alerting.alertmanager]]\nname = \"am\"\nurls = \"https://user:S3CRET@am.test\"\n",
            "urls",
        ),
        (
            "[alerting]\n[[alerting.webhook]]\nname = \"w\"\nurl_env = \"X\"\nheaders = \"Authorization: Bearer S3CRET\"\n",
            "headers",
        ),
        (
            "[alerting]\n[[alerting.slack]]\nname = \"s\"\nurl = [\"https://hooks.test/S3CRET\"]\n",
            "url",
        ),
        (
            "[alerting]\n[[alerting.webhook]]\nname = \"w\"\nurl_env = \"X\"\nsecret_env = { S3CRET = 1 }\n",
            "secret_env",
        ),
    ];
    for (text, key) in cases {
        let message = err(text);
        assert!(!message.contains("S3CRET"), "{message}");
        assert!(message.starts_with("probes.toml:"), "{message}");
        assert!(message.contains(&format!("key `{key}`")), "{message}");
    }
}

#[test]
fn quoted_values_are_taken_out_of_parser_messages() {
    assert_eq!(
        source::without_values(r#"invalid type: string "a \"b\" c", expected a sequence"#),
        "invalid type: string \"…\", expected a sequence"
    );
    assert_eq!(
        source::without_values("invalid type: integer `5`, expected a string"),
        "invalid type: integer `…`, expected a string"
    );
    // Field names in other messages stay: they are keys, not values.
    assert_eq!(
        source::without_values("unknown field `urll`, expected `url`"),
        "unknown field `urll`, expected `url`"
    );
}

#[test]
fn intervals_under_a_second_are_refused() {
    assert_eq!(
        err("[agent]\ninterval = \"1ms\"\n"),
        "probes.toml:2:12: agent.interval \"1ms\" is shorter than 1s: probing a mail server more often is abuse, not monitoring"
    );
    let probe = "[[probe]]\nname = \"a\"\ntarget = \"x.example\"\ninterval = \"999ms\"\ntimeout = \"100ms\"\n";
    assert!(err(probe).contains("probe \"a\": interval \"999ms\" is shorter than 1s"));
    assert!(parse(
        "[agent]\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
        Path::new("p.toml")
    )
    .is_ok());
}

#[test]
fn an_agent_timeout_not_below_its_interval_is_reported_at_the_agent_table() {
    let text = "[agent]\ninterval = \"5s\"\n\n[[probe]]\nname = \"a\"\ntarget = \"127.0.0.1\"\n";
    let e = parse(text, Path::new("p.toml"))
        .expect_err("10s timeout, 5s interval")
        .to_string();
    assert!(
        e.starts_with("p.toml:2:"),
        "at agent.interval, not at the probe: {e}"
    );
    assert!(
        e.contains("agent.timeout 10s must be shorter than agent.interval 5s"),
        "{e}"
    );
}

#[test]
fn vantage_and_shard_are_validated_and_vantage_is_a_reserved_label() {
    let ok = "[agent]\nvantage = \"eu-1\"\nshard = \"2/3\"\n[[probe]]\nname = \"a\"\ntarget = \"127.0.0.1\"\n";
    let config = parse(ok, Path::new("p.toml")).expect("valid");
    assert_eq!(
        config.probes[0].labels.get("vantage").map(String::as_str),
        Some("eu-1")
    );
    assert_eq!(config.shard.map(|s| s.to_string()), Some("2/3".into()));
    for (text, wanted) in [
        ("[agent]\nvantage = \"eu 1\"\n", "p.toml:2:"),
        ("[agent]\nshard = \"3/3\"\n", "p.toml:2:"),
        (
            "[[probe]]\nname = \"a\"\ntarget = \"127.0.0.1\"\nlabels = { vantage = \"x\" }\n",
            "vantage",
        ),
    ] {
        let e = parse(text, Path::new("p.toml"))
            .expect_err(text)
            .to_string();
        assert!(e.contains(wanted), "{text}: {e}");
    }
}
