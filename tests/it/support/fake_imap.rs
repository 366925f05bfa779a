//! A fake IMAP server for delivery checks: one mailbox, one client, and hostile modes.
//!
//! It "delivers" the probe's message itself: the first `UID SEARCH` for a whole token tells it
//! which token the probe waits for, and the message appears after `deliver_after` searches (or
//! at the next IDLE). Every command it received is recorded.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::certs::Leaf;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Ways to misbehave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// A well-behaved server.
    No,
    /// FETCH announces a 100 MB literal.
    HugeLiteral,
    /// SELECT answers with untagged responses that never end.
    EndlessUntagged,
    /// SELECT answers `* BYE` and closes.
    ByeOnSelect,
    /// The greeting arrives one byte every 300 ms.
    DripGreeting,
}

/// How the server behaves.
pub struct Script {
    pub implicit_tls: bool,
    pub starttls: bool,
    pub idle: bool,
    pub password: &'static str,
    /// After how many searches the message appears (None: never).
    pub deliver_after: Option<usize>,
    pub hostile: Hostile,
    /// Tokens of messages already in the mailbox.
    pub leftovers: Vec<String>,
}

impl Script {
    /// imaps://, IDLE, the message at the first IDLE or second search.
    pub fn good(password: &'static str) -> Script {
        Script {
            implicit_tls: true,
            starttls: false,
            idle: true,
            password,
            deliver_after: Some(2),
            hostile: Hostile::No,
            leftovers: Vec::new(),
        }
    }
}

#[derive(Default)]
struct Mailbox {
    /// (uid, token, deleted)
    messages: Vec<(u64, String, bool)>,
    next_uid: u64,
    commands: Vec<String>,
}

/// A running fake IMAP server.
pub struct FakeImap {
    pub addr: SocketAddr,
    mailbox: Arc<Mutex<Mailbox>>,
    handle: JoinHandle<Result<(), String>>,
}

impl FakeImap {
    /// Listens on 127.0.0.1 and serves `script` to the first client, presenting `leaf`.
    pub async fn start(script: Script, leaf: &Leaf) -> FakeImap {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind imap");
        let addr = listener.local_addr().expect("addr");
        let mut mailbox = Mailbox {
            next_uid: 1,
            ..Mailbox::default()
        };
        for token in &script.leftovers {
            let uid = mailbox.next_uid;
            mailbox.next_uid += 1;
            mailbox.messages.push((uid, token.clone(), false));
        }
        let mailbox = Arc::new(Mutex::new(mailbox));
        let shared = mailbox.clone();
        let tls = leaf.server_config();
        let handle = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
            serve(Box::new(tcp), script, tls, shared).await
        });
        FakeImap {
            addr,
            mailbox,
            handle,
        }
    }

    /// The tokens of the messages left in the mailbox.
    pub fn tokens(&self) -> Vec<String> {
        let mailbox = self.mailbox.lock().expect("mailbox");
        mailbox.messages.iter().map(|(_, t, _)| t.clone()).collect()
    }

    /// The commands received (tags removed), after the client is done.
    pub async fn finish(self) -> Vec<String> {
        let _ = tokio::time::timeout(Duration::from_secs(10), self.handle).await;
        let mailbox = self.mailbox.lock().expect("mailbox");
        mailbox.commands.clone()
    }
}

async fn serve(
    mut stream: Box<dyn Io>,
    script: Script,
    tls: Arc<rustls::ServerConfig>,
    mailbox: Arc<Mutex<Mailbox>>,
) -> Result<(), String> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    if script.implicit_tls {
        stream = Box::new(acceptor.accept(stream).await.map_err(|e| e.to_string())?);
    }
    let caps = |tls_up: bool| {
        let mut caps = String::from("IMAP4rev1 UIDPLUS");
        if script.starttls && !tls_up {
            caps.push_str(" STARTTLS");
        }
        if script.idle {
            caps.push_str(" IDLE");
        }
        caps
    };
    let greeting = format!(
        "* OK [CAPABILITY {}] fake ready\r\n",
        caps(script.implicit_tls)
    );
    if script.hostile == Hostile::DripGreeting {
        for b in greeting.bytes() {
            if stream.write_all(&[b]).await.is_err() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    } else {
        send(&mut stream, &greeting).await?;
    }
    let mut buf = Vec::new();
    let mut tls_up = script.implicit_tls;
    let mut waiting_for: Option<String> = None;
    let mut searches = 0;
    loop {
        let Some(line) = read_line(&mut stream, &mut buf).await? else {
            return Ok(());
        };
        let (tag, command) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let tag = tag.to_string();
        mailbox
            .lock()
            .expect("mailbox")
            .commands
            .push(command.to_string());
        let upper = command.to_ascii_uppercase();
        let ok = format!("{tag} OK done\r\n");
        if upper == "CAPABILITY" {
            send(
                &mut stream,
                &format!("* CAPABILITY {}\r\n{ok}", caps(tls_up)),
            )
            .await?;
        } else if upper == "STARTTLS" {
            send(&mut stream, &ok).await?;
            stream = Box::new(acceptor.accept(stream).await.map_err(|e| e.to_string())?);
            tls_up = true;
        } else if upper.starts_with("LOGIN ") {
            if command.ends_with(&format!("\"{}\"", script.password)) {
                send(
                    &mut stream,
                    &format!("{tag} OK [CAPABILITY {}] Logged in\r\n", caps(true)),
                )
                .await?;
            } else {
                send(
                    &mut stream,
                    &format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"),
                )
                .await?;
            }
        } else if upper.starts_with("SELECT ") {
            match script.hostile {
                Hostile::ByeOnSelect => {
                    send(&mut stream, "* BYE Server shutting down.\r\n").await?;
                    return Ok(());
                }
                Hostile::EndlessUntagged => {
                    for _ in 0..100_000 {
                        if stream.write_all(b"* 1 RECENT\r\n").await.is_err() {
                            return Ok(());
                        }
                    }
                    return Ok(());
                }
                _ => {
                    let n = mailbox.lock().expect("mailbox").messages.len();
                    send(&mut stream, &format!("* {n} EXISTS\r\n{ok}")).await?;
                }
            }
        } else if let Some(rest) = upper.strip_prefix("UID SEARCH HEADER X-SMTPWATCH-TOKEN ") {
            let wanted = rest.trim_matches('"').to_ascii_lowercase();
            if !wanted.ends_with('-') {
                searches += 1;
                waiting_for = Some(wanted.clone());
                if script.deliver_after.is_some_and(|n| searches >= n) {
                    deliver(&mailbox, &mut waiting_for);
                }
            }
            let found: Vec<String> = {
                let mailbox = mailbox.lock().expect("mailbox");
                mailbox
                    .messages
                    .iter()
                    .filter(|(_, t, _)| t.to_ascii_lowercase().contains(&wanted))
                    .map(|(uid, _, _)| uid.to_string())
                    .collect()
            };
            send(
                &mut stream,
                &format!("* SEARCH {}\r\n{ok}", found.join(" ")).replace("SEARCH \r", "SEARCH\r"),
            )
            .await?;
        } else if upper == "IDLE" {
            send(&mut stream, "+ idling\r\n").await?;
            if script.deliver_after.is_some() && waiting_for.is_some() {
                deliver(&mailbox, &mut waiting_for);
                let n = mailbox.lock().expect("mailbox").messages.len();
                send(&mut stream, &format!("* {n} EXISTS\r\n")).await?;
            }
            let Some(done) = read_line(&mut stream, &mut buf).await? else {
                return Ok(());
            };
            mailbox.lock().expect("mailbox").commands.push(done.clone());
            send(&mut stream, &ok).await?;
        } else if upper.starts_with("UID FETCH ") {
            if script.hostile == Hostile::HugeLiteral {
                send(
                    &mut stream,
                    "* 1 FETCH (UID 1 BODY[HEADER.FIELDS (AUTHENTICATION-RESULTS)] {100000000}\r\n",
                )
                .await?;
                let _ = stream.write_all(&[b'x'; 4096]).await;
                continue;
            }
            let header = "Authentication-Results: fake.test; spf=pass smtp.mailfrom=probe.test;\r\n dkim=none; dmarc=pass\r\n\r\n";
            let uid = upper.split_whitespace().nth(2).unwrap_or("1");
            send(&mut stream, &format!("* 1 FETCH (UID {uid} BODY[HEADER.FIELDS (AUTHENTICATION-RESULTS)] {{{}}}\r\n{header})\r\n{ok}", header.len())).await?;
        } else if let Some(rest) = upper.strip_prefix("UID STORE ") {
            let set: Vec<u64> = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .split(',')
                .filter_map(|n| n.parse().ok())
                .collect();
            for m in mailbox.lock().expect("mailbox").messages.iter_mut() {
                m.2 |= set.contains(&m.0);
            }
            send(&mut stream, &ok).await?;
        } else if upper.starts_with("UID EXPUNGE ") || upper == "EXPUNGE" {
            mailbox.lock().expect("mailbox").messages.retain(|m| !m.2);
            send(&mut stream, &ok).await?;
        } else if upper == "NOOP" {
            send(&mut stream, &ok).await?;
        } else if upper == "LOGOUT" {
            send(&mut stream, &format!("* BYE Logging out\r\n{ok}")).await?;
            return Ok(());
        } else {
            send(&mut stream, &format!("{tag} BAD unknown command\r\n")).await?;
        }
    }
}

fn deliver(mailbox: &Mutex<Mailbox>, waiting_for: &mut Option<String>) {
    if let Some(token) = waiting_for.take() {
        let mut mailbox = mailbox.lock().expect("mailbox");
        let uid = mailbox.next_uid;
        mailbox.next_uid += 1;
        mailbox.messages.push((uid, token, false));
    }
}

async fn send(stream: &mut Box<dyn Io>, text: &str) -> Result<(), String> {
    stream
        .write_all(text.as_bytes())
        .await
        .map_err(|e| e.to_string())
}

async fn read_line(stream: &mut Box<dyn Io>, buf: &mut Vec<u8>) -> Result<Option<String>, String> {
    loop {
        if let Some(end) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=end).collect();
            return Ok(Some(String::from_utf8_lossy(&line).trim_end().to_string()));
        }
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk)).await {
            Err(_) => return Err("client went quiet".into()),
            Ok(Ok(0)) | Ok(Err(_)) => return Ok(None),
            Ok(Ok(n)) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}
