//! Fuzz the reply parser: arbitrary server bytes, fed in arbitrary chunk sizes, must never
//! panic, never leave more than one line's worth of unconsumed bytes, and never produce a reply
//! beyond the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpwatch::probe::reply::{Limits, Progress, ReplyParser};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk_seed, input)) = data.split_first() else { return };
    let limits = Limits { max_line: 64, max_reply_bytes: 512, max_lines: 16 };
    let chunk = usize::from(chunk_seed % 32) + 1;
    let mut parser = ReplyParser::new(limits);
    let mut buf = Vec::new();
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        match parser.advance(&mut buf, |line| assert!(!line.contains(['\r', '\n', '\0']))) {
            Ok(Progress::Done(reply)) => {
                assert!((200..=559).contains(&reply.code));
                assert!(reply.lines.len() <= limits.max_lines);
                parser = ReplyParser::new(limits);
            }
            Ok(Progress::NeedMore) => {
                assert!(buf.len() < limits.max_line, "unconsumed bytes beyond one line");
            }
            Err(_) => return,
        }
    }
});
