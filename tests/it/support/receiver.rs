//! A scripted HTTP receiver for notification tests (an in-process stand-in for Slack, a
//! webhook endpoint or Alertmanager): records every request and answers from a script.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::sync::{mpsc, Notify};

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    /// Path and query.
    pub path: String,
    /// Request headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    /// Hold the answer until [`Receiver::release`].
    hold: bool,
}

impl Answer {
    /// Status and body.
    pub fn new(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: body.to_string(),
            hold: false,
        }
    }
    /// With a header.
    pub fn header(mut self, name: &'static str, value: &str) -> Answer {
        self.headers.push((name, value.to_string()));
        self
    }
    /// Answer only after [`Receiver::release`].
    pub fn held(mut self) -> Answer {
        self.hold = true;
        self
    }
}

struct Shared {
    script: Mutex<VecDeque<Answer>>,
    default: Answer,
    seen: mpsc::UnboundedSender<Received>,
    release: Notify,
}

/// The receiver.
pub struct Receiver {
    /// Where it listens.
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    seen: mpsc::UnboundedReceiver<Received>,
}

impl Receiver {
    /// Starts on 127.0.0.1:0; answers `default` once the script is used up.
    pub async fn start(default: Answer) -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            default,
            seen: tx,
            release: Notify::new(),
        });
        let handler_shared = shared.clone();
        let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let shared = handler_shared.clone();
            async move { answer(shared, uri, headers, body).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            addr,
            shared,
            seen: rx,
        }
    }

    /// Queues answers for the next requests.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.shared
            .script
            .lock()
            .expect("script lock")
            .extend(answers);
    }

    /// Lets held answers go.
    pub fn release(&self) {
        self.shared.release.notify_waiters();
    }

    /// The next request; panics after 10 s.
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(10), self.seen.recv())
            .await
            .expect("a request within 10 s")
            .expect("receiver running")
    }

    /// A request already received, if any (does not wait).
    pub fn try_next(&mut self) -> Option<Received> {
        self.seen.try_recv().ok()
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

async fn answer(shared: Arc<Shared>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let answer = shared
        .script
        .lock()
        .ok()
        .and_then(|mut s| s.pop_front())
        .unwrap_or_else(|| shared.default.clone());
    let release = shared.release.notified();
    let _ = shared.seen.send(Received {
        path: uri.to_string(),
        headers,
        body: body.to_vec(),
        at: Instant::now(),
    });
    if answer.hold {
        release.await;
    }
    let mut response = (
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        answer.body,
    )
        .into_response();
    for (name, value) in answer.headers {
        if let Ok(v) = value.parse() {
            response.headers_mut().insert(name, v);
        }
    }
    response
}
