//! Table-driven tests for the reply parser, from real and hostile transcripts.

use super::*;

fn parse_all(input: &[u8]) -> (Result<Option<Reply>, ReplyError>, Vec<String>, Vec<u8>) {
    let mut buf = input.to_vec();
    let mut seen = Vec::new();
    let mut parser = ReplyParser::new(Limits::default());
    let result = parser
        .advance(&mut buf, |l| seen.push(l.to_string()))
        .map(|p| match p {
            Progress::Done(r) => Some(r),
            Progress::NeedMore => None,
        });
    (result, seen, buf)
}

fn reply(code: u16, lines: &[&str]) -> Reply {
    Reply {
        code,
        lines: lines.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn well_formed_replies() {
    let cases: &[(&[u8], Reply)] = &[
        (
            b"220 mx.example ESMTP Postfix\r\n",
            reply(220, &["mx.example ESMTP Postfix"]),
        ),
        (b"250\r\n", reply(250, &[""])),
        (b"250 \r\n", reply(250, &[""])),
        (
            b"250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 STARTTLS\r\n",
            reply(
                250,
                &["mx.example", "PIPELINING", "SIZE 10240000", "STARTTLS"],
            ),
        ),
        (
            b"220-first\r\n220-second\r\n220 third\r\n",
            reply(220, &["first", "second", "third"]),
        ),
        (b"554 5.7.1 go away\r\n", reply(554, &["5.7.1 go away"])),
        (
            b"220 esc\x1b[31m nul\0\r\n",
            reply(220, &["esc\\x1b[31m nul\\x00"]),
        ),
    ];
    for (input, want) in cases {
        let (got, _, rest) = parse_all(input);
        assert_eq!(
            got,
            Ok(Some(want.clone())),
            "input {:?}",
            String::from_utf8_lossy(input)
        );
        assert!(rest.is_empty());
    }
}

#[test]
fn malformed_replies_are_protocol_errors() {
    let cases: &[(&[u8], &str)] = &[
        (b"650 bad class\r\n", "invalid reply code"),
        (b"260 bad second digit\r\n", "invalid reply code"),
        (b"2506 too many digits\r\n", "expected space or '-'"),
        (b"25 short\r\n", "no reply code"),
        (b"abc text\r\n", "no reply code"),
        (b"\r\n", "no reply code"),
        (b"250-one\r\n220 two\r\n", "mixed reply codes 250 and 220"),
        (b"250 bare lf\n", "bare LF"),
        (b"250-first\r\n250 second\n", "bare LF"),
        (b"250_weird separator\r\n", "expected space or '-'"),
    ];
    for (input, needle) in cases {
        let (got, _, _) = parse_all(input);
        match got {
            Err(ReplyError::Malformed(msg)) => {
                assert!(
                    msg.contains(needle),
                    "input {input:?}: {msg:?} lacks {needle:?}"
                )
            }
            other => panic!("input {input:?}: expected Malformed, got {other:?}"),
        }
    }
}

#[test]
fn incomplete_input_needs_more_and_keeps_partial_line() {
    let (got, seen, rest) = parse_all(b"250-first\r\n250 sec");
    assert_eq!(got, Ok(None));
    assert_eq!(seen, vec!["250-first"]);
    assert_eq!(rest, b"250 sec");
}

#[test]
fn bytes_after_the_reply_stay_in_the_buffer() {
    let (got, _, rest) = parse_all(b"220 go ahead\r\n250 injected\r\n");
    assert_eq!(got, Ok(Some(reply(220, &["go ahead"]))));
    assert_eq!(rest, b"250 injected\r\n");
}

#[test]
fn byte_at_a_time_feeding_gives_the_same_reply() {
    let input = b"250-mx\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n";
    let mut parser = ReplyParser::new(Limits::default());
    let mut buf = Vec::new();
    let mut done = None;
    for &b in input {
        buf.push(b);
        if let Progress::Done(r) = parser.advance(&mut buf, |_| {}).expect("valid") {
            done = Some(r);
        }
    }
    assert_eq!(done, Some(reply(250, &["mx", "8BITMIME", "SMTPUTF8"])));
}

#[test]
fn long_line_is_too_long_without_waiting_for_its_end() {
    let mut input = b"220 ".to_vec();
    input.extend(std::iter::repeat_n(b'a', 100 * 1024));
    let (got, seen, _) = parse_all(&input);
    assert!(matches!(got, Err(ReplyError::TooLong(m)) if m.contains("2048")));
    assert!(seen[0].len() <= 200, "transcript keeps only a prefix");
}

#[test]
fn line_of_exactly_the_limit_is_accepted() {
    let mut input = b"220 ".to_vec();
    input.extend(std::iter::repeat_n(b'a', 2048 - 6));
    input.extend(b"\r\n");
    assert_eq!(input.len(), 2048);
    let (got, _, _) = parse_all(&input);
    assert!(matches!(got, Ok(Some(r)) if r.code == 220));
    input.insert(5, b'a');
    let (got, _, _) = parse_all(&input);
    assert!(matches!(got, Err(ReplyError::TooLong(_))));
}

#[test]
fn too_many_lines_or_bytes_is_too_long() {
    let many_lines = "250-x\r\n".repeat(10_000) + "250 end\r\n";
    let (got, seen, _) = parse_all(many_lines.as_bytes());
    assert!(matches!(got, Err(ReplyError::TooLong(m)) if m.contains("1000 lines")));
    assert!(
        seen.len() <= 1001,
        "parser stopped at the bound, saw {}",
        seen.len()
    );

    let big_lines = format!("250-{}\r\n", "y".repeat(2000)).repeat(40) + "250 end\r\n";
    let (got, _, _) = parse_all(big_lines.as_bytes());
    assert!(matches!(got, Err(ReplyError::TooLong(m)) if m.contains("65536 bytes")));
}

#[test]
fn pseudo_random_input_never_panics_and_stays_bounded() {
    // A deterministic xorshift generator: the same inputs on every run.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"0123456789 -\r\n25AZ\x00\xff";
    for _ in 0..20_000 {
        let len = (next() % 64) as usize;
        let input: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let mut buf = input.clone();
        let mut parser = ReplyParser::new(Limits::default());
        let before = buf.len();
        let _ = parser.advance(&mut buf, |_| {});
        assert!(buf.len() <= before);
        assert!(parser.lines.len() <= Limits::default().max_lines);
    }
}

#[test]
fn fuzz_regression_long_line_shorter_than_the_transcript_prefix() {
    // cargo fuzz found this: a 65-byte line with max_line 64 sliced past the buffer's end.
    let limits = Limits {
        max_line: 64,
        max_reply_bytes: 512,
        max_lines: 16,
    };
    let mut buf = vec![b'x'; 64];
    buf.push(b'\n');
    let result = ReplyParser::new(limits).advance(&mut buf, |_| {});
    assert!(matches!(result, Err(ReplyError::TooLong(_))), "{result:?}");
}
