//! An SMTP client session over any byte stream: one read buffer, deadlines, a bounded transcript.
//!
//! The session owns the connection's single read buffer for its whole life. That is what makes
//! STARTTLS safe: [`Session::take_for_tls`] refuses to hand the stream to TLS while any byte the
//! server sent is still buffered (response injection, CVE-2011-0411), instead of reading those
//! plaintext bytes later as if they had arrived under TLS, as lettre does.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{timeout_at, Instant};

use super::reply::{Limits, Progress, Reply, ReplyError, ReplyParser};
use crate::escape::escape_str;
use crate::report::{seconds, TranscriptLine};

/// Anything the session can talk over: TCP, or TLS over TCP.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A boxed stream, so the plaintext and TLS sessions are one type.
pub type BoxStream = Box<dyn Stream>;

/// A TCP stream tuned for TLS once TLS starts, and left alone while plaintext.
///
/// Right after a TLS 1.3 handshake, OpenSSL servers send two session tickets in separate
/// writes; with Nagle on the server, the second (and the EHLO reply behind it) waits for our
/// ACK of the first, which Linux delays by ~40 ms. That stall would show up as phantom
/// `ehlo_tls` latency in every probe, so once [`QuickAck::switch`] is on the probe turns
/// delayed ACKs off whenever a read has to wait (`TCP_QUICKACK` is not sticky) and Nagle off
/// for the client's Finished-then-EHLO writes. A plaintext session never pays for either system
/// call, since it only ever writes one command and waits for its reply. Outside Linux quick ACK
/// is a no-op.
pub struct QuickAck {
    stream: tokio::net::TcpStream,
    armed: std::sync::Arc<std::sync::atomic::AtomicBool>,
    nodelay_set: bool,
}

impl QuickAck {
    /// Wraps `stream`, unarmed.
    pub fn new(stream: tokio::net::TcpStream) -> Self {
        QuickAck {
            stream,
            armed: Default::default(),
            nodelay_set: false,
        }
    }

    /// The switch that arms the TLS tuning, usable after the stream is boxed.
    pub fn switch(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.armed.clone()
    }

    fn armed(&self) -> bool {
        self.armed.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn nodelay_once_armed(&mut self) {
        if !self.nodelay_set && self.armed() {
            self.nodelay_set = true;
            let _ = self.stream.set_nodelay(true);
        }
    }
}

impl AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.stream).poll_read(cx, buf);
        // Only a read that waits needs it: what arrives from now on is ACKed at once, and an
        // ACK the kernel is still delaying for earlier data goes out with this call.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if polled.is_pending() && self.armed() {
            let _ = socket2::SockRef::from(&self.stream).set_tcp_quickack(true);
        }
        polled
    }
}

impl AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        self.nodelay_once_armed();
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    // rustls hands over a flight of records (ChangeCipherSpec and Finished) as one vectored
    // write: passed through, it is one system call and one segment instead of one per record.
    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> std::task::Poll<io::Result<usize>> {
        self.nodelay_once_armed();
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The failure reason of a TCP connect that failed with `e` (SMTP's and IMAP's alike).
pub fn connect_reason(e: &io::Error) -> crate::report::FailureReason {
    use crate::report::FailureReason;
    match e.kind() {
        io::ErrorKind::ConnectionRefused => FailureReason::ConnectRefused,
        io::ErrorKind::TimedOut => FailureReason::ConnectTimeout,
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => FailureReason::Closed,
        _ => FailureReason::Unreachable,
    }
}

/// What went wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The deadline passed before the reply was complete.
    #[error("no complete reply before the deadline{}", partial_note(received))]
    Timeout {
        /// What had arrived of the reply, complete lines and the rest (escaped, bounded).
        received: String,
        /// The complete lines of the reply that had arrived.
        partial: Option<Reply>,
    },
    /// The server closed or reset the connection.
    #[error("{0}")]
    Closed(String),
    /// The reply was malformed or too long.
    #[error(transparent)]
    Reply(#[from] ReplyError),
}

fn partial_note(partial: &str) -> String {
    if partial.is_empty() {
        String::new()
    } else {
        format!(" (received only {partial:?})")
    }
}

/// The conversation so far, bounded so a chatty server cannot grow it without limit.
#[derive(Debug)]
pub struct Transcript {
    start: Instant,
    lines: Vec<TranscriptLine>,
    bytes: usize,
    omitted: usize,
}

const TRANSCRIPT_MAX_LINES: usize = 200;
const TRANSCRIPT_MAX_BYTES: usize = 32 * 1024;

impl Transcript {
    /// An empty transcript whose timestamps count from `start`.
    pub fn new(start: Instant) -> Self {
        Transcript {
            start,
            lines: Vec::new(),
            bytes: 0,
            omitted: 0,
        }
    }

    /// Records one line (already escaped) in direction `dir` (`S` or `C`).
    pub fn push(&mut self, dir: &'static str, line: &str) {
        if self.lines.len() >= TRANSCRIPT_MAX_LINES
            || self.bytes + line.len() > TRANSCRIPT_MAX_BYTES
        {
            self.omitted += 1;
            return;
        }
        self.bytes += line.len();
        let t = seconds(self.start.elapsed());
        self.lines.push(TranscriptLine {
            t,
            dir,
            line: line.to_string(),
        });
    }

    /// The recorded lines, with a last line saying how many were left out.
    pub fn into_lines(mut self) -> Vec<TranscriptLine> {
        if self.omitted > 0 {
            let t = seconds(self.start.elapsed());
            let line = format!("[{} more lines not recorded]", self.omitted);
            self.lines.push(TranscriptLine { t, dir: "S", line });
        }
        self.lines
    }
}

/// A session: the stream (absent while TLS is being set up), the read buffer, the transcript.
pub struct Session {
    stream: Option<BoxStream>,
    buf: Vec<u8>,
    limits: Limits,
    /// The conversation, kept here so it survives every failure path.
    pub transcript: Transcript,
}

fn closed(what: &str, e: &io::Error) -> SessionError {
    SessionError::Closed(format!("{what}: {e}"))
}

impl Session {
    /// A session with no stream yet.
    pub fn new(limits: Limits, transcript: Transcript) -> Self {
        Session {
            stream: None,
            buf: Vec::new(),
            limits,
            transcript,
        }
    }

    /// Installs the (plaintext or TLS) stream to talk over.
    pub fn attach(&mut self, stream: BoxStream) {
        self.stream = Some(stream);
    }

    /// Whether a stream is attached.
    pub fn is_attached(&self) -> bool {
        self.stream.is_some()
    }

    /// Whether bytes the server sent after its last reply are waiting: before a command, that
    /// is a reply nobody asked for (the dialogue is out of step, or a 421 before closing).
    pub fn has_unread(&self) -> bool {
        !self.buf.is_empty()
    }

    fn stream(&mut self) -> Result<&mut BoxStream, SessionError> {
        self.stream
            .as_mut()
            .ok_or_else(|| SessionError::Closed("no connection".into()))
    }

    /// Reads one complete reply; the whole reply must arrive before `deadline`.
    pub async fn read_reply(&mut self, deadline: Instant) -> Result<Reply, SessionError> {
        let mut parser = ReplyParser::new(self.limits);
        let mut chunk = [0u8; 4096];
        loop {
            let Session {
                buf, transcript, ..
            } = self;
            if let Progress::Done(reply) = parser.advance(buf, |l| transcript.push("S", l))? {
                return Ok(reply);
            }
            let stream = self.stream()?;
            let n = match timeout_at(deadline, stream.read(&mut chunk)).await {
                Err(_) => {
                    let rest = crate::escape::escape_bytes(&self.buf[..self.buf.len().min(200)]);
                    if !rest.is_empty() {
                        self.transcript.push("S", &format!("{rest} [incomplete]"));
                    }
                    let partial = parser.partial();
                    // The complete lines first (the parser took them), then the rest.
                    let mut received: String = partial
                        .iter()
                        .flat_map(|r| r.lines.iter().map(move |l| format!("{}-{l}\r\n", r.code)))
                        .collect();
                    received.push_str(&rest);
                    if received.len() > 400 {
                        let cut = (0..=400).rev().find(|&i| received.is_char_boundary(i));
                        received.truncate(cut.unwrap_or(0));
                        received.push('…');
                    }
                    return Err(SessionError::Timeout { received, partial });
                }
                Ok(Err(e)) => return Err(closed("connection lost", &e)),
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                let what = if self.buf.is_empty() {
                    ""
                } else {
                    " in the middle of a line"
                };
                return Err(SessionError::Closed(format!(
                    "server closed the connection{what}"
                )));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends one command line (CRLF appended) before `deadline`.
    pub async fn send(&mut self, line: &str, deadline: Instant) -> Result<(), SessionError> {
        self.transcript.push("C", &escape_str(line));
        self.write(format!("{line}\r\n").as_bytes(), deadline).await
    }

    /// Sends a line that carries a secret; the transcript records `shown` instead.
    pub async fn send_hidden(
        &mut self,
        line: &str,
        shown: &str,
        deadline: Instant,
    ) -> Result<Reply, SessionError> {
        self.transcript.push("C", shown);
        self.write(format!("{line}\r\n").as_bytes(), deadline)
            .await?;
        self.read_reply(deadline).await
    }

    /// Sends a message after DATA's 354: its lines dot-stuffed (RFC 5321 §4.5.2), then the
    /// lone `.`, and reads the reply. The transcript records the header lines only.
    pub async fn send_message(
        &mut self,
        message: &str,
        deadline: Instant,
    ) -> Result<Reply, SessionError> {
        let mut wire = String::with_capacity(message.len() + 16);
        let mut in_header = true;
        for line in message.lines() {
            in_header &= !line.is_empty();
            if in_header {
                self.transcript.push("C", &escape_str(line));
            }
            if line.starts_with('.') {
                wire.push('.');
            }
            wire.push_str(line);
            wire.push_str("\r\n");
        }
        self.transcript.push("C", "[message body] .");
        wire.push_str(".\r\n");
        self.write(wire.as_bytes(), deadline).await?;
        self.read_reply(deadline).await
    }

    async fn write(&mut self, wire: &[u8], deadline: Instant) -> Result<(), SessionError> {
        let stream = self.stream()?;
        match timeout_at(deadline, async {
            stream.write_all(wire).await?;
            stream.flush().await
        })
        .await
        {
            Err(_) => Err(SessionError::Timeout {
                received: String::new(),
                partial: None,
            }),
            Ok(Err(e)) => Err(closed("cannot send", &e)),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// Sends a command and reads its reply.
    pub async fn command(&mut self, line: &str, deadline: Instant) -> Result<Reply, SessionError> {
        self.send(line, deadline).await?;
        self.read_reply(deadline).await
    }

    /// Hands the stream over for a TLS handshake, only if no unread byte is buffered or already
    /// waiting on the socket. `Err` carries how many bytes were injected.
    pub fn take_for_tls(&mut self) -> Result<BoxStream, usize> {
        if let Some(stream) = self.stream.as_mut() {
            // Bytes that arrived in a later segment are still plaintext injected before the
            // handshake: look once, without waiting, so they are not fed to TLS.
            let mut chunk = [0u8; 4096];
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            let mut read_buf = tokio::io::ReadBuf::new(&mut chunk);
            if let std::task::Poll::Ready(Ok(())) =
                std::pin::Pin::new(stream).poll_read(&mut cx, &mut read_buf)
            {
                self.buf.extend_from_slice(read_buf.filled());
            }
        }
        if !self.buf.is_empty() {
            let Session {
                buf, transcript, ..
            } = self;
            transcript.push(
                "S",
                &crate::escape::escape_bytes(&buf[..buf.len().min(200)]),
            );
            return Err(buf.len());
        }
        self.stream.take().ok_or(0)
    }

    /// Closes: over TLS, close_notify then FIN, bounded by `deadline`; in plaintext, closing
    /// the socket sends the same FIN without an extra system call.
    pub async fn shutdown(&mut self, tls: bool, deadline: Instant) {
        if let Some(mut stream) = self.stream.take() {
            if tls {
                let _ = timeout_at(deadline, stream.shutdown()).await;
            }
        }
    }
}
