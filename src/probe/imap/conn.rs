//! An IMAP4rev1 client connection with every read bounded: line length, literal size, the
//! bytes of literals per response and the number of untagged responses per command. A server
//! that drips, floods or lies ends in a clear error before the deadline, never a hang or an
//! unbounded buffer.
//!
//! Only what a delivery check needs: tagged commands, untagged data with literals, and IDLE.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use crate::escape::{escape_bytes, escape_str};
use crate::probe::session::{BoxStream, Transcript};

/// The longest line (literals excluded) a server may send.
pub const MAX_LINE: usize = 64 * 1024;
/// The largest literal a server may send (we only fetch one header field).
pub const MAX_LITERAL: usize = 64 * 1024;
/// The most literal bytes in one response.
pub const MAX_LITERAL_TOTAL: usize = 256 * 1024;
/// The most untagged responses to one command (or while idling).
pub const MAX_UNTAGGED: usize = 1_000;

/// What went wrong talking IMAP.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// The deadline passed first.
    #[error("no complete IMAP response before the deadline")]
    Timeout,
    /// The server closed the connection (after a BYE, its text).
    #[error("{0}")]
    Closed(String),
    /// A line, literal or response over its bound.
    #[error("{0}")]
    TooLong(String),
    /// Something that is not IMAP.
    #[error("{0}")]
    Protocol(String),
}

/// A tagged command's end: `OK`, `NO` or `BAD` and the text after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// The command succeeded.
    Ok(String),
    /// The command failed (`NO`).
    No(String),
    /// The server did not understand it (`BAD`).
    Bad(String),
}

/// A command's untagged data and its completion.
#[derive(Debug)]
pub struct Response {
    /// Untagged lines, without `* `, literals replaced by `{n}`.
    pub untagged: Vec<String>,
    /// The literals, in order.
    pub literals: Vec<Vec<u8>>,
    /// How it ended.
    pub completion: Completion,
}

/// One logical line: the text (literal markers kept) and its literals.
struct Line {
    text: String,
    literals: Vec<Vec<u8>>,
}

/// A connection: the stream, its one read buffer, the tag counter, the shared transcript.
pub struct Conn<'t> {
    stream: BoxStream,
    buf: Vec<u8>,
    tag: u32,
    transcript: &'t mut Transcript,
}

impl<'t> Conn<'t> {
    /// A connection over `stream`, recording into `transcript`.
    pub fn new(stream: BoxStream, transcript: &'t mut Transcript) -> Self {
        Conn {
            stream,
            buf: Vec::new(),
            tag: 0,
            transcript,
        }
    }

    /// Whether bytes the server sent are still unread (before a TLS handshake: injection).
    pub fn has_unread(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Gives the stream back (for STARTTLS), with the transcript.
    pub fn into_parts(self) -> (BoxStream, &'t mut Transcript) {
        (self.stream, self.transcript)
    }

    /// The server's greeting line (`OK`, `PREAUTH` or `BYE`), without `* `.
    pub async fn greeting(&mut self, deadline: Instant) -> Result<String, ImapError> {
        let line = self.read_line(deadline).await?;
        line.text
            .strip_prefix("* ")
            .map(str::to_string)
            .ok_or_else(|| ImapError::Protocol(format!("not an IMAP greeting: {:?}", line.text)))
    }

    /// Sends `command` (its transcript form is `shown`, for secrets) and reads to its tagged end.
    pub async fn command(
        &mut self,
        command: &str,
        shown: Option<&str>,
        deadline: Instant,
    ) -> Result<Response, ImapError> {
        let tag = self.send_tagged(command, shown, deadline).await?;
        self.read_to_completion(&tag, deadline).await
    }

    /// Sends IDLE and waits (until `until`) for `* N EXISTS`; then DONE and its completion.
    /// Returns whether new mail was announced. Errors if the server refuses IDLE.
    pub async fn idle(&mut self, until: Instant, deadline: Instant) -> Result<bool, ImapError> {
        let tag = self.send_tagged("IDLE", None, deadline).await?;
        let mut announced = false;
        let mut count = 0;
        let mut continued = false;
        loop {
            let wait = if continued { until } else { deadline };
            let line = match self.read_line(wait).await {
                Ok(line) => line,
                Err(ImapError::Timeout) if continued && Instant::now() < deadline => break,
                Err(e) => return Err(e),
            };
            if line.text.starts_with("+") {
                continued = true;
                continue;
            }
            if let Some(data) = line.text.strip_prefix("* ") {
                count += 1;
                bye(data)?;
                if count > MAX_UNTAGGED {
                    return Err(flood());
                }
                if data.to_ascii_uppercase().ends_with(" EXISTS") {
                    announced = true;
                    break;
                }
                continue;
            }
            // A tagged answer before the continuation: IDLE refused.
            let completion = completion_of(&line.text, &tag)?;
            return Err(ImapError::Protocol(format!("IDLE refused: {completion:?}")));
        }
        self.write("DONE", "DONE", deadline).await?;
        let response = self.read_to_completion(&tag, deadline).await?;
        match response.completion {
            Completion::Ok(_) => Ok(announced),
            other => Err(ImapError::Protocol(format!("IDLE ended with {other:?}"))),
        }
    }

    async fn send_tagged(
        &mut self,
        command: &str,
        shown: Option<&str>,
        deadline: Instant,
    ) -> Result<String, ImapError> {
        self.tag += 1;
        let tag = format!("s{}", self.tag);
        let line = format!("{tag} {command}");
        let shown = shown.map_or_else(|| escape_str(&line), |s| format!("{tag} {s}"));
        self.write(&line, &shown, deadline).await?;
        Ok(tag)
    }

    async fn write(&mut self, line: &str, shown: &str, deadline: Instant) -> Result<(), ImapError> {
        self.transcript.push("C", &format!("[imap] {shown}"));
        let wire = format!("{line}\r\n");
        let stream = &mut self.stream;
        match timeout_at(deadline, async {
            stream.write_all(wire.as_bytes()).await?;
            stream.flush().await
        })
        .await
        {
            Err(_) => Err(ImapError::Timeout),
            Ok(Err(e)) => Err(ImapError::Closed(format!(
                "cannot send to the IMAP server: {e}"
            ))),
            Ok(Ok(())) => Ok(()),
        }
    }

    async fn read_to_completion(
        &mut self,
        tag: &str,
        deadline: Instant,
    ) -> Result<Response, ImapError> {
        let mut untagged = Vec::new();
        let mut literals = Vec::new();
        let mut literal_bytes = 0;
        let mut last_bye = None;
        loop {
            let line = match self.read_line(deadline).await {
                Ok(line) => line,
                Err(ImapError::Closed(why)) => {
                    return Err(ImapError::Closed(last_bye.unwrap_or(why)));
                }
                Err(e) => return Err(e),
            };
            if let Some(data) = line.text.strip_prefix("* ") {
                if untagged.len() >= MAX_UNTAGGED {
                    return Err(flood());
                }
                if bye(data).is_err() {
                    last_bye = Some(format!("the IMAP server said {data:?} and closed"));
                }
                literal_bytes += line.literals.iter().map(Vec::len).sum::<usize>();
                if literal_bytes > MAX_LITERAL_TOTAL {
                    return Err(ImapError::TooLong(format!(
                        "the IMAP server sent more than {MAX_LITERAL_TOTAL} bytes of literals \
                         in one response"
                    )));
                }
                untagged.push(data.to_string());
                literals.extend(line.literals);
                continue;
            }
            if line.text.starts_with('+') {
                return Err(ImapError::Protocol(
                    "the IMAP server asked for a continuation nobody offered".into(),
                ));
            }
            let completion = completion_of(&line.text, tag)?;
            return Ok(Response {
                untagged,
                literals,
                completion,
            });
        }
    }

    /// One logical line: a text line, with any `{n}` literals and the text after them.
    async fn read_line(&mut self, deadline: Instant) -> Result<Line, ImapError> {
        let mut text = String::new();
        let mut literals = Vec::new();
        loop {
            let raw = self.raw_line(deadline).await?;
            let part = escape_bytes(&raw);
            match literal_size(&raw) {
                Some(size) if size > MAX_LITERAL => {
                    return Err(ImapError::TooLong(format!(
                        "the IMAP server announced a {size}-byte literal (at most {MAX_LITERAL})"
                    )))
                }
                Some(size) => {
                    text.push_str(&part);
                    if text.len() > MAX_LINE {
                        return Err(too_long_line());
                    }
                    literals.push(self.literal(size, deadline).await?);
                }
                None => {
                    text.push_str(&part);
                    if text.len() > MAX_LINE {
                        return Err(too_long_line());
                    }
                    self.transcript
                        .push("S", &format!("[imap] {}", shorten(&text)));
                    return Ok(Line { text, literals });
                }
            }
        }
    }

    async fn raw_line(&mut self, deadline: Instant) -> Result<Vec<u8>, ImapError> {
        loop {
            if let Some(end) = memchr::memchr(b'\n', &self.buf) {
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                return Err(too_long_line());
            }
            self.fill(deadline).await?;
        }
    }

    async fn literal(&mut self, size: usize, deadline: Instant) -> Result<Vec<u8>, ImapError> {
        while self.buf.len() < size {
            self.fill(deadline).await?;
        }
        Ok(self.buf.drain(..size).collect())
    }

    async fn fill(&mut self, deadline: Instant) -> Result<(), ImapError> {
        let mut chunk = [0u8; 8192];
        match timeout_at(deadline, self.stream.read(&mut chunk)).await {
            Err(_) => Err(ImapError::Timeout),
            Ok(Err(e)) => Err(ImapError::Closed(format!("IMAP connection lost: {e}"))),
            Ok(Ok(0)) => Err(ImapError::Closed(
                "the IMAP server closed the connection".into(),
            )),
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }
}

/// `{n}` or `{n+}` at the end of a line: a literal of n bytes follows.
fn literal_size(line: &[u8]) -> Option<usize> {
    let open = line.strip_suffix(b"}")?;
    let start = open.iter().rposition(|&b| b == b'{')?;
    let digits = &open[start + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Too many digits for a usize is simply too large.
    Some(
        std::str::from_utf8(digits)
            .ok()?
            .parse()
            .unwrap_or(usize::MAX),
    )
}

fn completion_of(line: &str, tag: &str) -> Result<Completion, ImapError> {
    let rest = line
        .strip_prefix(tag)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or_else(|| ImapError::Protocol(format!("unexpected IMAP line {:?}", shorten(line))))?;
    let (status, text) = rest.split_once(' ').unwrap_or((rest, ""));
    let text = text.to_string();
    match status.to_ascii_uppercase().as_str() {
        "OK" => Ok(Completion::Ok(text)),
        "NO" => Ok(Completion::No(text)),
        "BAD" => Ok(Completion::Bad(text)),
        _ => Err(ImapError::Protocol(format!(
            "unexpected IMAP status in {:?}",
            shorten(line)
        ))),
    }
}

fn bye(data: &str) -> Result<(), ImapError> {
    if data.len() >= 3 && data[..3].eq_ignore_ascii_case("BYE") {
        return Err(ImapError::Closed(format!("the IMAP server said {data:?}")));
    }
    Ok(())
}

fn flood() -> ImapError {
    ImapError::TooLong(format!(
        "the IMAP server sent more than {MAX_UNTAGGED} untagged responses to one command"
    ))
}

fn too_long_line() -> ImapError {
    ImapError::TooLong(format!("an IMAP line is longer than {MAX_LINE} bytes"))
}

/// At most 200 characters of a line, for messages and the transcript.
pub fn shorten(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_markers_are_read_only_at_the_end_of_a_line() {
        assert_eq!(literal_size(b"* 1 FETCH (BODY[] {12}"), Some(12));
        assert_eq!(literal_size(b"a LOGIN {5+}"), Some(5));
        assert_eq!(literal_size(b"* OK {x}"), None);
        assert_eq!(literal_size(b"* OK no literal"), None);
        assert_eq!(literal_size(b"{99999999999999999999999}"), Some(usize::MAX));
    }

    #[test]
    fn completions_need_our_tag() {
        assert_eq!(
            completion_of("s1 OK done", "s1").expect("ok"),
            Completion::Ok("done".into())
        );
        assert!(matches!(
            completion_of("s1 NO nope", "s1"),
            Ok(Completion::No(_))
        ));
        assert!(completion_of("s2 OK", "s1").is_err());
        assert!(completion_of("s1 MAYBE", "s1").is_err());
    }
}
