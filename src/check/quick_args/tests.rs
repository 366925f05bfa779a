use std::ffi::OsString;

use clap::{Args, FromArgMatches};

use super::read;
use crate::check::CheckArgs;

/// What clap makes of `check WORDS…` (Debug text), or None where it refuses the line.
fn clap_reads(words: &[&str]) -> Option<String> {
    let command = CheckArgs::augment_args(clap::Command::new("check"));
    let line = std::iter::once("check").chain(words.iter().copied());
    let matches = command.try_get_matches_from(line).ok()?;
    let args = CheckArgs::from_arg_matches(&matches).ok()?;
    Some(format!("{args:?}"))
}

fn quick_reads(words: &[&str]) -> Option<String> {
    let words: Vec<OsString> = words.iter().map(OsString::from).collect();
    read(&words).map(|args| format!("{args:?}"))
}

/// The quick reader either gives up or reads the line exactly as clap does.
fn agree(words: &[&str]) -> bool {
    match quick_reads(words) {
        None => false,
        Some(quick) => {
            assert_eq!(Some(quick), clap_reads(words), "{words:?}");
            true
        }
    }
}

/// Every flag of `check`, each with a value clap accepts (None for a switch).
const FLAGS: [(&str, Option<&str>); 28] = [
    ("--tls", Some("starttls")),
    ("--insecure", None),
    ("--ca-file", Some("a.pem")),
    ("--server-name", Some("localhost")),
    ("--ehlo", Some("probe.test")),
    ("--no-noop", None),
    ("--timeout", Some("3s")),
    ("-4", None),
    ("-6", None),
    ("--warn-cert", Some("20d")),
    ("--format", Some("nagios")),
    ("--transcript", None),
    ("--dns-server", Some("[::1]:5353")),
    ("--no-posture", None),
    ("--dane", Some("require")),
    ("--no-mta-sts", None),
    ("--no-fcrdns", None),
    ("--dnssec-trust-anchor", Some("root.key")),
    ("--auth-user", Some("monitor")),
    ("--auth-password-file", Some("pw.txt")),
    ("--auth-mech", Some("login")),
    ("--mail-from", Some("probe@example.org")),
    ("--rcpt", Some("postmaster@example.org")),
    ("--deliver-to", Some("probe@example.org")),
    ("--imap", Some("imaps://imap.example.org/INBOX")),
    ("--imap-user", Some("probe")),
    ("--imap-password-file", Some("imap.txt")),
    ("--delivery-timeout", Some("30s")),
];

/// Both spellings of one flag: `--flag value` and `--flag=value` (a switch has one).
fn spellings(flag: &str, value: Option<&str>) -> Vec<Vec<String>> {
    match value {
        None => vec![vec![flag.to_owned()]],
        Some(value) => vec![
            vec![flag.to_owned(), value.to_owned()],
            vec![format!("{flag}={value}")],
        ],
    }
}

fn as_strs(words: &[String]) -> Vec<&str> {
    words.iter().map(String::as_str).collect()
}

#[test]
fn every_flag_alone_is_read_as_clap_reads_it_on_either_side_of_the_target() {
    assert!(agree(&["mx.example"]), "the defaults are clap's");
    for (flag, value) in FLAGS {
        for spelling in spellings(flag, value) {
            let mut after = vec!["mx.example".to_owned()];
            after.extend(spelling.iter().cloned());
            let mut before = spelling.clone();
            before.push("127.0.0.1:2525".to_owned());
            for line in [after, before] {
                let read = agree(&as_strs(&line));
                // --deliver-to and --imap need each other, so alone clap refuses them.
                let needs_partner = matches!(flag, "--deliver-to" | "--imap");
                assert_eq!(read, !needs_partner, "{line:?}");
            }
        }
    }
}

#[test]
fn every_pair_of_flags_is_read_as_clap_reads_it_or_left_to_clap() {
    let mut read = 0;
    let mut left = 0;
    for (first, first_value) in FLAGS {
        for (second, second_value) in FLAGS {
            for one in spellings(first, first_value) {
                for other in spellings(second, second_value) {
                    let mut line = vec!["smtp://mx.example".to_owned()];
                    line.extend(one.iter().cloned());
                    line.extend(other.iter().cloned());
                    let words = as_strs(&line);
                    if agree(&words) {
                        read += 1;
                    } else {
                        left += 1;
                        // Left to clap only where clap, too, has something to say.
                        let repeatable = ["--ca-file", "--dns-server", "--rcpt"];
                        let lawful = first != second || repeatable.contains(&first);
                        let pair = [first, second];
                        let needs = pair.contains(&"--deliver-to") != pair.contains(&"--imap");
                        let excluded = pair.contains(&"-4") && pair.contains(&"-6");
                        if lawful && !needs && !excluded {
                            panic!("a lawful line left to clap: {words:?}");
                        }
                    }
                }
            }
        }
    }
    assert!(read > 1800 && left > 100, "read {read}, left {left}");
}

#[test]
fn odd_and_wrong_lines_are_left_to_clap() {
    let lines: [&[&str]; 22] = [
        &[],
        &["--help"],
        &["mx.example", "-h"],
        &["mx.example", "--version"],
        &["mx.example", "--"],
        &["--", "mx.example"],
        &["mx.example", "-46"],
        &["mx.example", "second.example"],
        &["mx.example", "--tls"],
        &["mx.example", "--tls="],
        &["mx.example", "--tls", "sometimes"],
        &["mx.example", "--insecure=yes"],
        &["mx.example", "--timeout", "-1s"],
        &["mx.example", "--timeout", "soon"],
        &["mx.example", "--ehlo", "--no-noop"],
        &["mx.example", "--format", "xml"],
        &["mx.example", "--dns-server", "dns.example"],
        &["mx.example", "--tls", "none", "--tls", "starttls"],
        &["mx.example", "--unknown"],
        &["mx.example", "--tl", "none"],
        &["--tls", "none"],
        &["-", "--no-noop"],
    ];
    for words in lines {
        assert_eq!(quick_reads(words), None, "{words:?}");
    }
    // Not UTF-8: clap's to judge.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        let words = [OsString::from_vec(b"mx.\xffexample".to_vec())];
        assert!(read(&words).is_none());
    }
}
