//! Making untrusted server text safe to print.
//!
//! Everything a server sends is escaped once, where it enters the program (the reply parser and
//! the transcript), so logs, JSON, terminals and HTML never see raw control bytes or invalid
//! UTF-8. Escapes are Rust-style: `\x1b`, `\u{85}`, `\\`.

/// Escapes control characters, backslashes and invalid UTF-8 in `bytes`.
///
/// ```
/// assert_eq!(smtpwatch::escape::escape_bytes(b"220 ok\x1b[31m\xff"), r"220 ok\x1b[31m\xff");
/// ```
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            push_char(&mut out, ch);
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}

/// Escapes control characters and backslashes in text that is already UTF-8.
pub fn escape_str(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    text.chars().for_each(|ch| push_char(&mut out, ch));
    out
}

fn push_char(out: &mut String, ch: char) {
    match ch {
        '\\' => out.push_str("\\\\"),
        c if (c as u32) < 0x80 && c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
        // C1 controls and the bidi overrides can reorder or hide text on a terminal or page.
        c if c.is_control()
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c) =>
        {
            out.push_str(&format!("\\u{{{:x}}}", c as u32))
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_bytes_invalid_utf8_and_backslash() {
        let cases: &[(&[u8], &str)] = &[
            (b"plain text", "plain text"),
            (b"nul\0byte", "nul\\x00byte"),
            (b"esc\x1b[2J", "esc\\x1b[2J"),
            (b"tab\there", "tab\\x09here"),
            (b"del\x7f", "del\\x7f"),
            (b"bad\xff\xfe", "bad\\xff\\xfe"),
            (b"back\\slash", "back\\\\slash"),
            ("caf\u{e9}".as_bytes(), "caf\u{e9}"),
            ("c1\u{85}".as_bytes(), "c1\\u{85}"),
            ("rtl\u{202e}x".as_bytes(), "rtl\\u{202e}x"),
        ];
        for (input, want) in cases {
            assert_eq!(escape_bytes(input), *want, "input {input:?}");
        }
        assert_eq!(escape_str("a\rb"), "a\\x0db");
    }
}
