//! Target parsing: every documented form and every rejection.

use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};

fn name(n: &str) -> Host {
    Host::Name(n.into())
}

#[test]
fn parses_every_documented_form() {
    use TargetKind::{Host as H, Mx};
    use TlsMode::*;
    let v6 = Host::Ip(IpAddr::V6(Ipv6Addr::new(
        0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x25,
    )));
    let cases: Vec<(&str, TargetKind, Host, u16, TlsMode)> = vec![
        (
            "mx.example.com",
            H,
            name("mx.example.com"),
            25,
            Opportunistic,
        ),
        (
            "MX.Example.COM.",
            H,
            name("mx.example.com"),
            25,
            Opportunistic,
        ),
        (
            "mx.example.com:2525",
            H,
            name("mx.example.com"),
            2525,
            Opportunistic,
        ),
        (
            "mx.example.com:465",
            H,
            name("mx.example.com"),
            465,
            Implicit,
        ),
        (
            "127.0.0.1:2525",
            H,
            Host::Ip(Ipv4Addr::LOCALHOST.into()),
            2525,
            Opportunistic,
        ),
        ("[2001:db8::25]:25", H, v6.clone(), 25, Opportunistic),
        ("[2001:db8::25]", H, v6.clone(), 25, Opportunistic),
        ("2001:db8::25", H, v6, 25, Opportunistic),
        (
            "smtp://mx.example.com",
            H,
            name("mx.example.com"),
            25,
            Opportunistic,
        ),
        (
            "smtp://mx.example.com:26/",
            H,
            name("mx.example.com"),
            26,
            Opportunistic,
        ),
        (
            "submission://mail.example.com",
            H,
            name("mail.example.com"),
            587,
            Starttls,
        ),
        (
            "smtps://mail.example.com",
            H,
            name("mail.example.com"),
            465,
            Implicit,
        ),
        (
            "smtps://mail.example.com:4650",
            H,
            name("mail.example.com"),
            4650,
            Implicit,
        ),
        ("mx:example.com", Mx, name("example.com"), 25, Opportunistic),
        (
            "mx:example.com:2525",
            Mx,
            name("example.com"),
            2525,
            Opportunistic,
        ),
    ];
    for (input, kind, host, port, tls) in cases {
        let want = Target {
            kind,
            host,
            port,
            default_tls: tls,
        };
        assert_eq!(input.parse::<Target>(), Ok(want), "input {input}");
    }
}

#[test]
fn rejects_bad_targets_with_a_reason() {
    let cases = [
        ("", "empty"),
        ("http://example.com", "unknown scheme"),
        ("smtp://user@example.com", "only host and port"),
        ("smtp://example.com/path", "only host and port"),
        ("example.com:0", "port \"0\""),
        ("example.com:99999", "port \"99999\""),
        ("example.com:", "port \"\""),
        ("exa mple.com", "not a valid host name label"),
        ("-bad.example", "not a valid host name label"),
        ("a..b", "not a valid host name label"),
        ("[::1", "unclosed"),
        ("[nope]:25", "is not IPv6"),
        ("2001:db8::1:25:x", "need brackets"),
        ("mx:192.0.2.1", "mail domain"),
    ];
    for (input, needle) in cases {
        let err = input.parse::<Target>().expect_err(input).to_string();
        assert!(err.contains(needle), "{input:?}: {err:?} lacks {needle:?}");
    }
}

#[test]
fn displays_round_trip() {
    for input in [
        "mx.example.com:25",
        "[::1]:2525",
        "mx:example.com",
        "mx:example.com:2525",
    ] {
        let target: Target = input.parse().expect(input);
        assert_eq!(target.to_string(), input);
    }
}
