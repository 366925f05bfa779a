//! A scripted fake SMTP server: accepts one connection and plays a list of steps, recording
//! what the client sent. Hostile behaviours (trickling, injection, resets, garbage) are steps.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One thing the server does.
pub enum Step {
    /// Send these bytes as they are, in one write.
    Raw(Vec<u8>),
    /// Send a line with CRLF.
    Line(&'static str),
    /// Read one line from the client; it must start with this (case-insensitive).
    Expect(&'static str),
    /// Send these bytes one at a time, pausing between them (a slow or stalling server).
    Trickle(Vec<u8>, Duration),
    /// Say nothing until the client goes away (bounded at 30 s).
    Silent,
    /// Do the server side of a TLS handshake.
    StartTls(Arc<rustls::ServerConfig>),
    /// Read the client's first TLS record, then send these bytes instead of a ServerHello.
    AnswerHelloWith(Vec<u8>),
    /// Close with an RST instead of a FIN.
    Reset,
    /// Close gracefully (FIN) and stop.
    Close,
    /// Shut down the sending side (FIN) but keep reading what the client sends.
    HalfClose,
    /// The client must end TLS with close_notify (a clean EOF), then stop.
    ExpectCloseNotify,
    /// Read a message after DATA's 354, up to the lone `.` (its lines are recorded).
    ReadMessage,
}

/// Shorthand for [`Step::Raw`] from a string.
pub fn raw(text: &str) -> Step {
    Step::Raw(text.as_bytes().to_vec())
}

/// The standard happy greeting, EHLO (with the given capability lines) and nothing more.
pub fn greet_and_ehlo(capabilities: &[&str]) -> Vec<Step> {
    let mut ehlo = String::from("250-fake.test\r\n");
    for (i, cap) in capabilities.iter().enumerate() {
        let sep = if i + 1 == capabilities.len() {
            ' '
        } else {
            '-'
        };
        ehlo.push_str(&format!("250{sep}{cap}\r\n"));
    }
    if capabilities.is_empty() {
        ehlo = "250 fake.test\r\n".into();
    }
    vec![
        Step::Line("220 fake.test ESMTP"),
        Step::Expect("EHLO "),
        Step::Raw(ehlo.into_bytes()),
    ]
}

/// The end of a polite session: NOOP and QUIT answered.
pub fn noop_quit() -> Vec<Step> {
    vec![
        Step::Expect("NOOP"),
        Step::Line("250 2.0.0 Ok"),
        Step::Expect("QUIT"),
        Step::Line("221 2.0.0 Bye"),
    ]
}

/// A running fake server.
pub struct FakeSmtp {
    pub addr: SocketAddr,
    handle: JoinHandle<Result<Vec<String>, String>>,
}

impl FakeSmtp {
    /// Listens on 127.0.0.1 (an ephemeral port) and plays `steps` to the first client.
    pub async fn start(steps: Vec<Step>) -> FakeSmtp {
        Self::start_on("127.0.0.1:0".parse().expect("addr"), steps).await
    }

    /// Listens on `addr` and plays `steps` to the first client.
    pub async fn start_on(addr: SocketAddr, steps: Vec<Step>) -> FakeSmtp {
        Self::try_start_on(addr, steps)
            .await
            .expect("bind fake smtp")
    }

    /// [`FakeSmtp::start_on`], failing instead of panicking when the address is taken.
    pub async fn try_start_on(addr: SocketAddr, steps: Vec<Step>) -> std::io::Result<FakeSmtp> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let handle = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.map_err(|e| e.to_string())?;
            play(stream, steps).await
        });
        Ok(FakeSmtp { addr, handle })
    }

    /// The lines the client sent, or why the script could not be played to the end.
    pub async fn finish(self) -> Result<Vec<String>, String> {
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .map_err(|_| "fake server did not finish".to_string())?
            .map_err(|e| e.to_string())?
    }
}

async fn play(tcp: TcpStream, steps: Vec<Step>) -> Result<Vec<String>, String> {
    let mut received = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    if steps.iter().any(|s| matches!(s, Step::Reset)) {
        // With a zero linger, dropping the socket sends RST instead of FIN.
        #[allow(deprecated)]
        tcp.set_linger(Some(Duration::ZERO))
            .map_err(|e| e.to_string())?;
    }
    let mut stream: Box<dyn Io> = Box::new(tcp);
    for step in steps {
        match step {
            Step::Raw(bytes) => stream.write_all(&bytes).await.map_err(|e| e.to_string())?,
            Step::Line(line) => stream
                .write_all(format!("{line}\r\n").as_bytes())
                .await
                .map_err(|e| e.to_string())?,
            Step::Expect(prefix) => {
                let line = read_line(&mut stream, &mut buf).await?;
                received.push(line.clone());
                if !line
                    .to_ascii_uppercase()
                    .starts_with(&prefix.to_ascii_uppercase())
                {
                    return Err(format!("expected {prefix:?}, client sent {line:?}"));
                }
            }
            Step::ReadMessage => loop {
                let line = read_line(&mut stream, &mut buf).await?;
                let end = line == ".";
                received.push(line);
                if end {
                    break;
                }
            },
            Step::Trickle(bytes, pause) => {
                for b in bytes {
                    stream.write_all(&[b]).await.map_err(|e| e.to_string())?;
                    tokio::time::sleep(pause).await;
                }
            }
            Step::Silent => {
                let mut sink = [0u8; 1024];
                let wait = tokio::time::timeout(Duration::from_secs(30), async {
                    while stream.read(&mut sink).await.map(|n| n > 0).unwrap_or(false) {}
                });
                let _ = wait.await;
            }
            Step::StartTls(config) => {
                if !buf.is_empty() {
                    return Err("client sent data before the TLS handshake".into());
                }
                let tls = tokio_rustls::TlsAcceptor::from(config)
                    .accept(stream)
                    .await
                    .map_err(|e| format!("server handshake: {e}"))?;
                stream = Box::new(tls);
            }
            Step::AnswerHelloWith(bytes) => {
                let mut hello = [0u8; 5];
                stream
                    .read_exact(&mut hello)
                    .await
                    .map_err(|e| e.to_string())?;
                if hello[0] != 0x16 {
                    return Err(format!("client did not start a TLS handshake: {hello:?}"));
                }
                stream.write_all(&bytes).await.map_err(|e| e.to_string())?;
            }
            Step::ExpectCloseNotify => {
                let mut sink = [0u8; 64];
                let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut sink));
                return match read.await {
                    Ok(Ok(0)) => Ok(received),
                    other => Err(format!("expected a clean TLS close, got {other:?}")),
                };
            }
            Step::HalfClose => stream.shutdown().await.map_err(|e| e.to_string())?,
            Step::Reset | Step::Close => {
                drop(stream);
                return Ok(received);
            }
        }
    }
    // Whatever the client still sends (e.g. QUIT after a failure) is recorded, bounded.
    let tail = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(line) = read_line(&mut stream, &mut buf).await {
            received.push(line);
        }
    });
    let _ = tail.await;
    Ok(received)
}

async fn read_line(stream: &mut Box<dyn Io>, buf: &mut Vec<u8>) -> Result<String, String> {
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..end + 2).collect();
            return Ok(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("client closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A fake server that plays a fresh script to every client, until dropped.
pub struct FakeService {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for FakeService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeService {
    /// Listens on 127.0.0.1 and serves `script()` to each connection.
    pub async fn start(script: impl Fn() -> Vec<Step> + Send + Sync + 'static) -> FakeService {
        let addr = "127.0.0.1:0".parse().expect("addr");
        Self::try_start_on(addr, script)
            .await
            .expect("bind fake service")
    }

    /// Listens on `addr` and serves `script()` to each connection.
    pub async fn try_start_on(
        addr: SocketAddr,
        script: impl Fn() -> Vec<Step> + Send + Sync + 'static,
    ) -> std::io::Result<FakeService> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(play(stream, script()));
            }
        });
        Ok(FakeService { addr, task })
    }
}
