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
            "probes.toml:4:12: key `insecure`: invalid type: string \"yes\", expected a boolean",
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
        ("[alerting]\n", "probes.toml:1:2: unknown field `alerting`, expected `agent` or `probe`"),
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
    ] {
        assert!(
            text.contains(&format!("{key} =")),
            "probes.example.toml does not document {key}"
        );
    }
}
