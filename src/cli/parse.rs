//! Parsing the command line, with two short ways for `check`.
//!
//! clap builds every argument of every subcommand before it reads one: for `smtpwatch check`
//! that was a sixth of a plaintext check's instructions (README "Performance"), spent on
//! `run`, `config`, `alert`, … A `check` command line is therefore first read without clap
//! ([`crate::check::quick_args`], the usual lines), then parsed by a command made of `check`'s
//! arguments alone. Anything that does not parse that way (an error, `--help`, `--version`) is
//! parsed again by the whole command line, so every message, help text and exit code is the
//! whole command line's.

use std::ffi::OsString;

use clap::{Args, FromArgMatches, Parser};

use super::{Cli, Command};
use crate::check::CheckArgs;

/// The command line `args` (program name first), as [`Cli::try_parse_from`] reads it.
pub fn parse(args: &[OsString]) -> Result<Cli, clap::Error> {
    if let Some(check) = parse_check(args) {
        return Ok(Cli {
            command: Command::Check(check),
        });
    }
    Cli::try_parse_from(args)
}

/// `check`'s arguments when `args` is a valid `smtpwatch check …` line, else None.
fn parse_check(args: &[OsString]) -> Option<CheckArgs> {
    if args.get(1).is_none_or(|command| command != "check") {
        return None;
    }
    if let Some(check) = crate::check::quick_args::read(&args[2..]) {
        return Some(check);
    }
    let command = CheckArgs::augment_args(clap::Command::new("check"));
    let matches = command.try_get_matches_from(&args[1..]).ok()?;
    CheckArgs::from_arg_matches(&matches).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_short_way_reads_a_check_line_as_the_whole_command_line_does() {
        let lines: [&[&str]; 6] = [
            &["smtpwatch", "check", "mx.example"],
            &[
                "smtpwatch",
                "check",
                "127.0.0.1:2525",
                "--tls",
                "none",
                "--format",
                "nagios",
            ],
            &[
                "smtpwatch",
                "check",
                "mx:example.org",
                "--no-posture",
                "-6",
                "--timeout",
                "3s",
            ],
            &[
                "smtpwatch",
                "check",
                "smtps://mx.example",
                "--ca-file",
                "a.pem",
                "--ca-file",
                "b.pem",
            ],
            &[
                "smtpwatch",
                "check",
                "mx.example",
                "--server-name",
                "localhost",
                "--no-noop",
            ],
            &[
                "smtpwatch",
                "check",
                "--warn-cert",
                "20d",
                "mx.example",
                "--ehlo",
                "probe.test",
            ],
        ];
        for words in lines {
            let args = line(words);
            let short = parse_check(&args).unwrap_or_else(|| panic!("short way: {words:?}"));
            let whole = Cli::try_parse_from(&args).expect("whole command line");
            let Command::Check(whole) = whole.command else {
                panic!("not check: {words:?}");
            };
            assert_eq!(format!("{short:?}"), format!("{whole:?}"), "{words:?}");
        }
    }

    #[test]
    fn anything_else_goes_the_whole_way_with_its_messages() {
        for words in [
            &["smtpwatch", "check"][..],
            &["smtpwatch", "check", "--help"],
            &["smtpwatch", "check", "--version"],
            &["smtpwatch", "check", "x", "--tls", "sometimes"],
            &["smtpwatch", "run", "--config", "probes.toml"],
            &["smtpwatch"],
        ] {
            let args = line(words);
            assert!(parse_check(&args).is_none(), "{words:?}");
            let ours = parse(&args).map(|cli| format!("{cli:?}"));
            let whole = Cli::try_parse_from(&args).map(|cli| format!("{cli:?}"));
            match (ours, whole) {
                (Ok(ours), Ok(whole)) => assert_eq!(ours, whole),
                (Err(ours), Err(whole)) => {
                    assert_eq!(ours.kind(), whole.kind(), "{words:?}");
                    assert_eq!(ours.to_string(), whole.to_string(), "{words:?}");
                }
                (ours, whole) => panic!("{words:?}: {ours:?} against {whole:?}"),
            }
        }
    }
}
