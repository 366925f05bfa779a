//! Tests of the command line: `check` flags and their defaults against a bare probe table,
//! usage errors and help.

use super::*;

#[test]
fn check_flag_defaults_are_the_probe_defaults() {
    let cli = Cli::try_parse_from(["smtpwatch", "check", "mx.example"]).expect("parses");
    let Command::Check(args) = cli.command else {
        panic!("not check");
    };
    assert_eq!(args.timeout, crate::probe::DEFAULT_TIMEOUT);
    assert_eq!(args.warn_cert, crate::probe::DEFAULT_WARN_CERT);
}

#[test]
fn check_flags_and_a_bare_probe_table_probe_alike() {
    let cli = Cli::try_parse_from(["smtpwatch", "check", "mx.example"]).expect("parses");
    let Command::Check(args) = cli.command else {
        panic!("not check");
    };
    let table = "[[probe]]\nname = \"a\"\ntarget = \"mx.example\"\n";
    let config = crate::config::parse(table, std::path::Path::new("probes.toml")).expect("valid");
    let trust = std::sync::Arc::new(crate::trust::LazyTrust::new(Vec::new()));
    let ehlo: crate::config::values::EhloName = "probe.test".parse().expect("name");
    let from_flags = args.probe_settings(trust.clone(), &ehlo);
    let from_table = config.probes[0].probe_settings(&trust, &ehlo);
    // Every field, the limits and the shared trust store included.
    assert_eq!(format!("{from_flags:?}"), format!("{from_table:?}"));
    assert!(std::sync::Arc::ptr_eq(&from_flags.trust, &from_table.trust));
}

#[test]
fn bad_usage_exits_3_and_help_exits_0() {
    let run = |args: &[&str]| main(args.iter().map(OsString::from));
    assert_eq!(run(&["smtpwatch", "check"]), EXIT_UNKNOWN);
    assert_eq!(
        run(&["smtpwatch", "check", "x", "--tls", "sometimes"]),
        EXIT_UNKNOWN
    );
    assert_eq!(
        run(&["smtpwatch", "check", "x", "--timeout", "0s"]),
        EXIT_UNKNOWN
    );
    assert_eq!(run(&["smtpwatch", "check", "http://x"]), EXIT_UNKNOWN);
    assert_eq!(
        run(&["smtpwatch", "check", "-6", "127.0.0.1"]),
        EXIT_UNKNOWN
    );
    assert_eq!(
        run(&["smtpwatch", "check", "--ehlo", "a b", "127.0.0.1"]),
        EXIT_UNKNOWN
    );
    assert_eq!(
        run(&[
            "smtpwatch",
            "check",
            "--ca-file",
            "/nonexistent",
            "127.0.0.1"
        ]),
        3
    );
    assert_eq!(run(&["smtpwatch", "--help"]), 0);
}
