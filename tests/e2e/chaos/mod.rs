//! Chaos for at-least-once delivery, with the release binary and real receivers: the agent is
//! SIGKILLed at three points ([`kill`]), Alertmanager is down for a while ([`alertmanager`]), a
//! reload swaps the notifier ([`reload`]), the state directory turns read-only ([`readonly`]).
//! After recovery, every firing and every resolved arrives, and none is accepted twice per id.
//!
//! The parts here: a webhook receiver whose answer the test switches (a status, or holding the
//! request), an SMTP server that can be made to fail, and the agent as a child process.

mod alertmanager;
mod kill;
mod readonly;
mod reload;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::agent::http_get;

/// One request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub body: serde_json::Value,
    /// What it answered (None: held until its sender was gone).
    pub status: Option<u16>,
}

impl Seen {
    pub fn field(&self, name: &str) -> &str {
        self.body[name].as_str().unwrap_or("")
    }
}

/// How a receiver answers new requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Answer {
    Status(u16),
    /// Read the request, answer nothing until the answer changes.
    Hold,
}

/// An HTTP receiver on loopback, one thread per connection.
pub(crate) struct Receiver {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    answer: Arc<(Mutex<Answer>, Condvar)>,
}

impl Receiver {
    pub fn start(answer: Answer) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind receiver");
        let addr = listener.local_addr().expect("addr");
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let answer = Arc::new((Mutex::new(answer), Condvar::new()));
        let (log, mode) = (seen.clone(), answer.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (log, mode) = (log.clone(), mode.clone());
                std::thread::spawn(move || serve_one(stream, &log, &mode));
            }
        });
        Receiver { addr, seen, answer }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers from now on; held requests are let go.
    pub fn set(&self, answer: Answer) {
        let (lock, changed) = &*self.answer;
        *lock.lock().expect("answer") = answer;
        changed.notify_all();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }

    /// Those accepted (answered 2xx) with the given `event` field.
    pub fn accepted(&self, event: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| {
                s.status.is_some_and(|c| (200..300).contains(&c)) && s.field("event") == event
            })
            .collect()
    }
}

fn serve_one(stream: TcpStream, log: &Mutex<Vec<Seen>>, mode: &(Mutex<Answer>, Condvar)) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let (lock, changed) = mode;
    let mut answer = lock.lock().expect("answer");
    let status = match *answer {
        Answer::Status(code) => Some(code),
        Answer::Hold => None,
    };
    log.lock().expect("log").push(Seen { body, status });
    // A held request stays unanswered in the log: it is released only once its sender is gone.
    while *answer == Answer::Hold {
        answer = changed.wait(answer).expect("answer");
    }
    let code = status.unwrap_or(200);
    drop(answer);
    let mut stream = reader.into_inner();
    let _ = write!(
        stream,
        "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
}

/// An SMTP server on loopback that answers properly while up and drops every connection
/// while down (a failing probe: `banner`).
pub(crate) struct SmtpServer {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
}

impl SmtpServer {
    pub fn start(up: bool) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind SMTP");
        let addr = listener.local_addr().expect("addr");
        let up = Arc::new(AtomicBool::new(up));
        serve_smtp(listener, Some(up.clone()));
        SmtpServer { addr, up }
    }

    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

/// Answers SMTP sessions on `listener` (banner, EHLO, NOOP, QUIT) in the background; with
/// `up` false, closes each connection at once.
pub(crate) fn serve_smtp(listener: TcpListener, up: Option<Arc<AtomicBool>>) {
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            if up.as_ref().is_some_and(|u| !u.load(Ordering::SeqCst)) {
                continue;
            }
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let Ok(mut out) = conn.try_clone() else {
                    return;
                };
                let _ = out.write_all(b"220 e2e.test ESMTP\r\n");
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { return };
                    let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-e2e.test\r\n250 PIPELINING\r\n",
                        "QUIT" => b"221 2.0.0 Bye\r\n",
                        _ => b"250 2.0.0 Ok\r\n",
                    };
                    if out.write_all(reply).is_err() || verb == "QUIT" {
                        return;
                    }
                }
            });
        }
    });
}

/// A port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A directory of this test's own, removed on drop.
pub(crate) struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("smtpwatch-chaos-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `[agent]` and `[alerting]` head every chaos config shares: 1 s rounds, a state file,
/// the HTTP surface on `listen`, an alert at the first failure and its resolution at the
/// first success; `alerting` adds to `[alerting]`.
pub(crate) fn head(listen: &str, state: &Path, alerting: &str) -> String {
    format!(
        "[agent]\nlisten = \"{listen}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\nstate_file = \"{}\"\n\
         [alerting]\nfailure_threshold = 1\nsuccess_threshold = 1\n{alerting}\n",
        state.display()
    )
}

/// A plaintext probe of `addr`.
pub(crate) fn probe(name: &str, addr: SocketAddr) -> String {
    format!("[[probe]]\nname = \"{name}\"\ntarget = \"{addr}\"\ntls = \"none\"\n")
}

/// The agent as a child process, SIGTERMed on drop.
pub(crate) struct Agent {
    child: Child,
    reaped: bool,
    pub listen: String,
}

impl Agent {
    /// `smtpwatch run --config CONFIG`, behind `wrapper` (e.g. `unshare --mount`) if given.
    pub fn start(config: &Path, listen: &str, wrapper: &[&str]) -> Agent {
        let binary = env!("CARGO_BIN_EXE_smtpwatch");
        let mut command = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        let log = std::fs::File::create(config.with_extension("log")).expect("agent log");
        let child = command
            .args(["run", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the agent");
        let agent = Agent {
            child,
            reaped: false,
            listen: listen.to_string(),
        };
        wait_until("the agent to be ready", Duration::from_secs(20), || {
            TcpStream::connect(listen).is_ok() && http_get(listen, "/-/ready").0 == 200
        });
        agent
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no shutdown of any kind.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
        self.reaped = true;
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill(1)");
        assert!(status.success(), "kill -{name}");
    }

    /// The value of the first series of /metrics whose line starts with `prefix` (a name and
    /// perhaps its first labels); 0 when there is none.
    pub fn metric(&self, prefix: &str) -> f64 {
        let (_, body) = http_get(&self.listen, "/metrics");
        body.lines()
            .filter(|l| l.starts_with(prefix))
            .find_map(|l| l.rsplit(' ').next().and_then(|v| v.parse().ok()))
            .unwrap_or(0.0)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The outbox in the state file at `path` (empty when the file is absent or unreadable).
pub(crate) fn saved_outbox(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|j| j["outbox"].as_array().cloned())
        .unwrap_or_default()
}

/// Polls `ok` every 50 ms until it holds; fails after `bound`.
pub(crate) fn wait_until(what: &str, bound: Duration, ok: impl Fn() -> bool) {
    let deadline = Instant::now() + bound;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fails unless every id among `seen`'s accepted requests was accepted exactly once.
pub(crate) fn accepted_once_per_id(seen: &[Seen]) {
    let mut ids: Vec<&str> = seen
        .iter()
        .filter(|s| s.status.is_some_and(|c| (200..300).contains(&c)))
        .map(|s| s.field("id"))
        .collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "an id accepted twice: {seen:#?}");
}
