//! Sans-IO SMTP reply framing ([RFC 5321 §4.2](https://www.rfc-editor.org/rfc/rfc5321#section-4.2)).
//!
//! The session feeds the parser its one read buffer; the parser consumes complete lines from the
//! front and returns a [`Reply`] once the final line (`250 ...` or a bare `250`) arrives. It is
//! strict where lenient clients are dangerous and bounded where they are naive:
//!
//! - lines end in CRLF; a bare LF is a protocol error (never "probably fine");
//! - every line starts with the same three-digit code (`[2-5][0-5][0-9]`), followed by `-`
//!   (more lines follow), a space, or the end of the line;
//! - a line may not exceed [`Limits::max_line`] bytes and a reply may not exceed
//!   [`Limits::max_reply_bytes`] or [`Limits::max_lines`]; the parser never holds more than that.
//!
//! `smtp-proto` 0.2 was evaluated for this and not used: it accepts bare-LF line endings and
//! silently truncates replies at 4 KiB, both of which this probe must report instead.

use crate::escape::escape_bytes;

/// Bounds on what one reply may contain; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line, CRLF included.
    pub max_line: usize,
    /// Largest reply, all lines and CRLFs included.
    pub max_reply_bytes: usize,
    /// Most lines in one reply.
    pub max_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 2048,
            max_reply_bytes: 64 * 1024,
            max_lines: 1000,
        }
    }
}

/// One complete SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The three-digit reply code shared by every line.
    pub code: u16,
    /// Each line's text after the code and separator, control bytes escaped.
    pub lines: Vec<String>,
}

impl Reply {
    /// True for 2xx and 3xx codes.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// The reply text on one line, lines joined with a space (for messages and logs).
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
}

/// Why a reply could not be framed. Both variants end the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The bytes are not a well-formed SMTP reply.
    #[error("malformed reply: {0}")]
    Malformed(String),
    /// A line or the whole reply exceeded its bound.
    #[error("reply too long: {0}")]
    TooLong(String),
}

/// A complete line, as seen by the transcript: raw text without CRLF, escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine(pub String);

/// Incremental reply parser. Create one per expected reply.
#[derive(Debug, Default)]
pub struct ReplyParser {
    limits: Limits,
    code: Option<u16>,
    lines: Vec<String>,
    bytes: usize,
}

/// What one call to [`ReplyParser::advance`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// More bytes are needed; every complete line has been consumed.
    NeedMore,
    /// The reply is complete; bytes after it stay in the buffer.
    Done(Reply),
}

impl ReplyParser {
    /// A parser with the given bounds.
    pub fn new(limits: Limits) -> Self {
        ReplyParser {
            limits,
            ..Default::default()
        }
    }

    /// The complete lines taken so far of a reply that has not ended (None: none yet), so a
    /// reply cut off by the deadline still says what arrived.
    pub fn partial(&self) -> Option<Reply> {
        let code = self.code?;
        (!self.lines.is_empty()).then(|| Reply {
            code,
            lines: self.lines.clone(),
        })
    }

    /// Consumes complete lines from the front of `buf`, calling `on_line` for each (the
    /// transcript), until the reply is complete or more data is needed.
    pub fn advance(
        &mut self,
        buf: &mut Vec<u8>,
        mut on_line: impl FnMut(&str),
    ) -> Result<Progress, ReplyError> {
        loop {
            let Some(lf) = buf.iter().position(|&b| b == b'\n') else {
                if buf.len() >= self.limits.max_line {
                    on_line(&escape_bytes(&buf[..self.limits.max_line.min(200)]));
                    return Err(ReplyError::TooLong(format!(
                        "line longer than {} bytes",
                        self.limits.max_line
                    )));
                }
                return Ok(Progress::NeedMore);
            };
            let line_len = lf + 1;
            if line_len > self.limits.max_line {
                on_line(&escape_bytes(&buf[..lf.min(200)]));
                return Err(ReplyError::TooLong(format!(
                    "line longer than {} bytes",
                    self.limits.max_line
                )));
            }
            let content_end = if lf > 0 && buf[lf - 1] == b'\r' {
                lf - 1
            } else {
                on_line(&escape_bytes(&buf[..lf]));
                return Err(ReplyError::Malformed(
                    "line ends in bare LF, not CRLF".into(),
                ));
            };
            let escaped = escape_bytes(&buf[..content_end]);
            on_line(&escaped);
            self.bytes += line_len;
            if self.bytes > self.limits.max_reply_bytes {
                return Err(ReplyError::TooLong(format!(
                    "reply larger than {} bytes",
                    self.limits.max_reply_bytes
                )));
            }
            if self.lines.len() >= self.limits.max_lines {
                return Err(ReplyError::TooLong(format!(
                    "reply has more than {} lines",
                    self.limits.max_lines
                )));
            }
            let (code, last) = split_line(&buf[..content_end])?;
            buf.drain(..line_len);
            match self.code {
                Some(first) if first != code => {
                    return Err(ReplyError::Malformed(format!(
                        "mixed reply codes {first} and {code} in one reply"
                    )))
                }
                _ => self.code = Some(code),
            }
            // The code and separator are plain ASCII, so the escaped text after them is the
            // escaped line minus its first four characters.
            self.lines
                .push(escaped.get(4..).unwrap_or_default().to_string());
            if last {
                return Ok(Progress::Done(Reply {
                    code,
                    lines: std::mem::take(&mut self.lines),
                }));
            }
        }
    }
}

/// Splits one line (without CRLF) into its code and whether it is the last line.
fn split_line(content: &[u8]) -> Result<(u16, bool), ReplyError> {
    let shown = || escape_bytes(&content[..content.len().min(40)]);
    let digits = match content.get(..3) {
        Some(d) if d.iter().all(u8::is_ascii_digit) => d,
        _ => {
            return Err(ReplyError::Malformed(format!(
                "no reply code in {:?}",
                shown()
            )))
        }
    };
    if !(b'2'..=b'5').contains(&digits[0]) || !(b'0'..=b'5').contains(&digits[1]) {
        return Err(ReplyError::Malformed(format!(
            "invalid reply code in {:?}",
            shown()
        )));
    }
    let code = digits
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    match content.get(3) {
        None => Ok((code, true)),
        Some(b' ') => Ok((code, true)),
        Some(b'-') => Ok((code, false)),
        Some(_) => Err(ReplyError::Malformed(format!(
            "expected space or '-' after the code in {:?}",
            shown()
        ))),
    }
}

#[cfg(test)]
mod tests;
