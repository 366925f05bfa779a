//! The demo's SMTP servers on 127.0.0.1: just enough ESMTP for a probe (EHLO, STARTTLS,
//! NOOP, RSET, QUIT), each with a behaviour to show. Every line read is bounded (1 KiB) and
//! every session too (60 s, 100 commands), as a real server's would be.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// What a demo server does.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// Answers at once, STARTTLS offered.
    Healthy,
    /// Waits this long before its banner.
    Slow(Duration),
    /// Offers STARTTLS for this long after the start, then no more.
    DropsStartTls(Duration),
    /// Listens for `up`, then refuses connections for `down`, and again.
    Flapping { up: Duration, down: Duration },
}

const LINE_LIMIT: u64 = 1024;
const SESSION_LIMIT: Duration = Duration::from_secs(60);
const COMMAND_LIMIT: usize = 100;

/// Binds 127.0.0.1:0 and serves `behaviour` (with `tls` for STARTTLS) until `stop`.
pub async fn start(
    behaviour: Behaviour,
    tls: Arc<rustls::ServerConfig>,
    stop: CancellationToken,
) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let started = Instant::now();
    let acceptor = TlsAcceptor::from(tls);
    tokio::spawn(async move {
        let mut listener = Some(listener);
        loop {
            if let Behaviour::Flapping { up, down } = behaviour {
                let period = up + down;
                let into = Duration::from_nanos(
                    (started.elapsed().as_nanos() % period.as_nanos().max(1)) as u64,
                );
                if into >= up {
                    // Down: nothing listens, so connections are refused.
                    listener = None;
                    tokio::select! {
                        _ = tokio::time::sleep(period - into) => {}
                        _ = stop.cancelled() => return,
                    }
                    continue;
                }
                if listener.is_none() {
                    match TcpListener::bind(addr).await {
                        Ok(l) => listener = Some(l),
                        Err(e) => {
                            tracing::warn!(%addr, error = %e, "demo server cannot listen again");
                            return;
                        }
                    }
                }
            }
            let Some(l) = listener.as_ref() else { return };
            let accepted = tokio::select! {
                a = l.accept() => a,
                _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                _ = stop.cancelled() => return,
            };
            let Ok((stream, _)) = accepted else { continue };
            let offer_tls = match behaviour {
                Behaviour::DropsStartTls(after) => started.elapsed() < after,
                _ => true,
            };
            let delay = match behaviour {
                Behaviour::Slow(d) => d,
                _ => Duration::ZERO,
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(
                    SESSION_LIMIT,
                    session(stream, delay, offer_tls, acceptor),
                )
                .await;
            });
        }
    });
    Ok(addr)
}

enum Next {
    Quit,
    StartTls,
}

async fn session(
    stream: TcpStream,
    delay: Duration,
    offer_tls: bool,
    acceptor: TlsAcceptor,
) -> io::Result<()> {
    tokio::time::sleep(delay).await;
    let mut plain = BufReader::new(stream);
    plain
        .get_mut()
        .write_all(b"220 localhost ESMTP smtpwatch demo server\r\n")
        .await?;
    if let Next::StartTls = converse(&mut plain, offer_tls).await? {
        let tls = acceptor.accept(plain.into_inner()).await?;
        let mut tls = BufReader::new(tls);
        converse(&mut tls, false).await?;
    }
    Ok(())
}

async fn send<S: AsyncWrite + Unpin>(s: &mut S, bytes: &[u8]) -> io::Result<()> {
    s.write_all(bytes).await?;
    // Inside TLS the bytes wait in the session until flushed.
    s.flush().await
}

/// Answers commands until QUIT, STARTTLS (when offered) or the end of the stream.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    offer_tls: bool,
) -> io::Result<Next> {
    for _ in 0..COMMAND_LIMIT {
        let mut line = Vec::new();
        let read = (&mut *s)
            .take(LINE_LIMIT)
            .read_until(b'\n', &mut line)
            .await?;
        if read == 0 {
            return Ok(Next::Quit);
        }
        let verb = String::from_utf8_lossy(&line)
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if offer_tls => {
                b"250-localhost\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
            }
            "EHLO" => b"250-localhost\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
            "HELO" => b"250 localhost\r\n",
            "STARTTLS" if offer_tls => {
                send(s.get_mut(), b"220 2.0.0 ready to start TLS\r\n").await?;
                return Ok(Next::StartTls);
            }
            "NOOP" | "RSET" => b"250 2.0.0 ok\r\n",
            "QUIT" => {
                send(s.get_mut(), b"221 2.0.0 bye\r\n").await?;
                return Ok(Next::Quit);
            }
            _ => b"502 5.5.2 not in the demo\r\n",
        };
        send(s.get_mut(), reply).await?;
    }
    send(s.get_mut(), b"421 4.7.0 too many commands\r\n").await?;
    Ok(Next::Quit)
}
