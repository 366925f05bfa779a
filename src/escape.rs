//! Making untrusted server text safe to print.
//!
//! Everything a server or a DNS answer sends is escaped once, where it enters the program (the
//! reply parser, the transcript, the record parsers) with [`escape_bytes`] or [`escape_str`],
//! so logs, JSON and terminals never see raw control bytes or invalid UTF-8. Escapes are
//! Rust-style: `\x1b`, `\u{85}`, `\\`.
//!
//! Each markup format then has its one function, applied where text is put into it: [`html`]
//! (the status page), [`slack`] (Slack's mrkdwn), [`markdown`] (Markdown chat formats). Each
//! also escapes control characters again, so text that skipped the entry point is still safe;
//! backslashes are left alone there, so text escaped at entry is not escaped twice.

/// Escapes control characters, backslashes and invalid UTF-8 in `bytes`.
///
/// ```
/// assert_eq!(smtpwatch::escape::escape_bytes(b"220 ok\x1b[31m\xff"), r"220 ok\x1b[31m\xff");
/// ```
pub fn escape_bytes(bytes: &[u8]) -> String {
    // Nearly every reply line is printable ASCII: one copy, no per-character work.
    if bytes.iter().all(|&b| plain(b)) {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return text.to_owned();
        }
    }
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
    if text.bytes().all(plain) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    text.chars().for_each(|ch| push_char(&mut out, ch));
    out
}

/// A byte that stands for itself: printable ASCII other than the backslash.
fn plain(byte: u8) -> bool {
    (0x20..0x7f).contains(&byte) && byte != b'\\'
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

/// Control characters (and the bidi overrides) as escapes; backslashes left as they are.
fn controls(text: &str, out: &mut String) {
    for ch in text.chars() {
        match ch {
            '\\' => out.push('\\'),
            c => push_char(out, c),
        }
    }
}

/// Text for HTML element content and attribute values.
pub fn html(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    controls(text, &mut safe);
    let mut out = String::with_capacity(safe.len());
    for c in safe.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Multi-line text for a `<pre>` (a transcript, a posture report): each line through [`html`],
/// joined by line breaks, so the breaks stay breaks instead of showing as `\x0a` while every
/// other control character is still escaped.
pub fn html_lines(text: &str) -> String {
    text.lines().map(html).collect::<Vec<_>>().join("\n")
}

/// Text for Slack's mrkdwn, where `&`, `<` and `>` are markup: `<!channel>` mentions,
/// `<url|text>` links.
pub fn slack(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    controls(text, &mut safe);
    safe.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text for Markdown (CommonMark and the chat dialects built on it): every ASCII punctuation
/// character that can start markup (links, emphasis, code, headings, tables, HTML) gets a
/// backslash, so `[text](url)` shows as typed.
pub fn markdown(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    controls(text, &mut safe);
    let mut out = String::with_capacity(safe.len() + safe.len() / 8);
    for c in safe.chars() {
        if "\\`*_{}[]()<>#+-.!|~&".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_but_printable_ascii_is_escaped_alone_or_in_a_line() {
        for byte in 0..=255u8 {
            let alone = escape_bytes(&[byte]);
            let line = escape_bytes(&[b'2', b'5', b'0', b' ', byte]);
            if (0x20..0x7f).contains(&byte) && byte != b'\\' {
                assert_eq!(alone, char::from(byte).to_string());
            } else {
                assert!(
                    alone.starts_with('\\') && alone.len() > 1,
                    "{byte:#x}: {alone}"
                );
            }
            assert_eq!(line, format!("250 {alone}"), "{byte:#x}");
            assert!(!line.chars().any(char::is_control), "{byte:#x}: {line:?}");
            if let Ok(text) = std::str::from_utf8(&[byte]) {
                assert_eq!(escape_str(text), alone, "{byte:#x}");
            }
        }
    }

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

    /// What each markup escaper gets: a terminal escape, a NUL, a Slack mention and link, HTML,
    /// a Markdown link and emphasis.
    const HOSTILE: &str =
        "a\x1b[2Jb\0c <!channel> <https://evil.test|click> <script>x</script> [click](https://evil.test) *bold* `code`";

    #[test]
    fn no_markup_escaper_lets_control_bytes_through() {
        for (kind, out) in [
            ("html", html(HOSTILE)),
            ("slack", slack(HOSTILE)),
            ("markdown", markdown(HOSTILE)),
        ] {
            assert!(!out.chars().any(|c| c.is_control()), "{kind}: {out:?}");
            assert!(
                out.contains("x1b") && out.contains("x00"),
                "{kind} shows them: {out}"
            );
        }
    }

    #[test]
    fn html_shows_tags_and_mentions_as_text() {
        let out = html(HOSTILE);
        for raw in ["<script>", "<!channel>", "<https://"] {
            assert!(!out.contains(raw), "{raw}: {out}");
        }
        assert!(
            out.contains("&lt;script&gt;") && out.contains("&lt;!channel&gt;"),
            "{out}"
        );
        assert_eq!(html("a\"b'c&"), "a&quot;b&#39;c&amp;");
    }

    #[test]
    fn html_lines_keeps_line_breaks_and_escapes_the_rest() {
        let out = html_lines("220 <hi>\r\n250 a\x1b[31m\n");
        assert_eq!(out, "220 &lt;hi&gt;\n250 a\\x1b[31m");
    }

    #[test]
    fn slack_cannot_mention_or_link() {
        let out = slack(HOSTILE);
        for raw in ["<!channel>", "<https://evil.test|click>", "<script>"] {
            assert!(!out.contains(raw), "{raw}: {out}");
        }
        assert!(out.contains("&lt;!channel&gt;"), "{out}");
    }

    #[test]
    fn markdown_shows_links_emphasis_code_and_tags_as_typed() {
        let out = markdown(HOSTILE);
        for raw in ["[click](", "*bold*", "`code`", "<script>", "<!channel>"] {
            assert!(!out.contains(raw), "{raw}: {out}");
        }
        assert!(out.contains(r"\[click\]\(https://evil\.test\)"), "{out}");
        // Text escaped at entry is not escaped again.
        assert_eq!(markdown(r"\x1b"), r"\\x1b");
        assert_eq!(html(r"\x1b"), r"\x1b");
    }
}
