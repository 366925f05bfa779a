//! The first bytes a server sends, kept while a TLS handshake reads them, so a failed handshake
//! can show what came instead of a ServerHello: most often the plaintext banner of a port probed
//! with implicit TLS. Kept inline (no allocation per handshake); after the first [`KEPT`] bytes
//! it only passes reads through.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How many of the server's first bytes are kept: a banner line, not a whole reply.
pub const KEPT: usize = 160;

/// A stream that remembers the first [`KEPT`] bytes read from it.
pub struct FirstBytes<S> {
    inner: S,
    kept: [u8; KEPT],
    len: usize,
}

impl<S> FirstBytes<S> {
    /// Wraps `inner`, keeping nothing yet.
    pub fn new(inner: S) -> Self {
        FirstBytes {
            inner,
            kept: [0; KEPT],
            len: 0,
        }
    }

    /// The bytes kept so far.
    pub fn kept(&self) -> &[u8] {
        &self.kept[..self.len]
    }

    /// The kept bytes as escaped transcript lines when they start like an SMTP reply (three
    /// digits: what a plaintext server says first); nothing for anything else, such as a TLS
    /// alert.
    pub fn text_lines(&self) -> Vec<String> {
        let kept = self.kept();
        let reply_like = kept.len() >= 3 && kept[..3].iter().all(u8::is_ascii_digit);
        if !reply_like {
            return Vec::new();
        }
        String::from_utf8_lossy(kept)
            .split('\n')
            .map(|line| line.trim_end_matches('\r'))
            .filter(|line| !line.is_empty())
            .map(crate::escape::escape_str)
            .collect()
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstBytes<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if this.len < KEPT {
            let fresh = &buf.filled()[before..];
            let n = fresh.len().min(KEPT - this.len);
            this.kept[this.len..this.len + n].copy_from_slice(&fresh[..n]);
            this.len += n;
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstBytes<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, data)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn keeps_the_first_bytes_and_passes_everything_through() {
        let (mut server, client) = tokio::io::duplex(1024);
        let mut tap = FirstBytes::new(client);
        let long = vec![b'a'; KEPT * 2];
        server.write_all(&long).await.expect("write");
        let mut got = vec![0; long.len()];
        tap.read_exact(&mut got).await.expect("read");
        assert_eq!(got, long, "reads are untouched");
        assert_eq!(
            tap.kept(),
            &long[..KEPT],
            "only the first KEPT bytes are kept"
        );
        tap.write_all(b"hello").await.expect("write through");
        let mut echoed = [0; 5];
        server.read_exact(&mut echoed).await.expect("read");
        assert_eq!(&echoed, b"hello");
    }

    /// A tap that has read all of `sent` from a server.
    async fn tap_after(sent: &[u8]) -> FirstBytes<tokio::io::DuplexStream> {
        let (mut server, client) = tokio::io::duplex(1024);
        let mut tap = FirstBytes::new(client);
        server.write_all(sent).await.expect("write");
        let mut got = vec![0; sent.len()];
        tap.read_exact(&mut got).await.expect("read");
        tap
    }

    #[tokio::test]
    async fn text_becomes_escaped_lines_and_binary_becomes_nothing() {
        let lines = tap_after(b"220 mx.test ESMTP \x1b[31m\r\n")
            .await
            .text_lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("220 mx.test ESMTP ") && !lines[0].contains('\x1b'),
            "control bytes are escaped: {lines:?}"
        );
        let lines = tap_after(b"220 mx.test ESMTP\r\n250 two\n")
            .await
            .text_lines();
        assert_eq!(
            lines,
            vec!["220 mx.test ESMTP".to_string(), "250 two".to_string()]
        );
        let alert = tap_after(&[0x15, 3, 3, 0, 2, 2, 40]).await;
        assert!(alert.text_lines().is_empty(), "a TLS alert is binary");
    }
}
