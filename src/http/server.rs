//! The HTTP server under the agent's endpoints, hardened so that no HTTP client can make a
//! probe fail or hold the agent up: request headers must arrive within
//! [`HEADER_READ_TIMEOUT`] (an idle keep-alive connection included) and fit in
//! [`MAX_HEADER_BYTES`], a whole request (its body, the handler, the response read by the client)
//! is done within [`REQUEST_TIMEOUT`], at most [`connection_cap`] connections are open at once
//! (the rest wait in the kernel's backlog), file descriptors stay in reserve for probes, and
//! shutdown closes every connection within its grace.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::secure::Front;

/// A connection's byte stream: plain TCP, or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// How long a client has to send a request's headers (and an idle connection to start one).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one request may take from its first byte to the last byte of its response: well
/// beyond a `/probe` (bounded by its own timeout) or a full scrape, and short enough that a
/// client reading a response one byte a minute gives its connection back.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The largest request head (request line and headers); hyper's minimum buffer.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The most HTTP connections open at once when descriptors are plentiful.
pub const MAX_CONNECTIONS: usize = 64;

/// Descriptors kept for the agent itself besides one per probe connection: DNS sockets, the
/// state file, the notifiers' connections, logs.
const RESERVED_DESCRIPTORS: u64 = 64;

/// How many HTTP connections may be open at once: [`MAX_CONNECTIONS`], fewer when the
/// descriptor limit (`nofile`) would not leave `concurrency` probe connections and the agent's
/// own needs free; at least 2, so the endpoints stay reachable.
pub fn connection_cap(nofile: Option<u64>, concurrency: usize) -> usize {
    let Some(nofile) = nofile else {
        return MAX_CONNECTIONS;
    };
    let reserved = RESERVED_DESCRIPTORS + concurrency as u64;
    let free = nofile.saturating_sub(reserved);
    (free.min(MAX_CONNECTIONS as u64) as usize).max(2)
}

/// A hyper service that notes when each request on its connection started.
struct Marked<S> {
    inner: S,
    requests: Requests,
}

/// When the current request of a connection started (milliseconds since the connection was
/// accepted; 0 before the first request).
#[derive(Clone)]
struct Requests {
    accepted: tokio::time::Instant,
    latest: Arc<AtomicU64>,
}

impl<S> Marked<S> {
    fn new(inner: S) -> (Marked<S>, Requests) {
        let requests = Requests {
            accepted: tokio::time::Instant::now(),
            latest: Arc::new(AtomicU64::new(0)),
        };
        let marked = Marked {
            inner,
            requests: requests.clone(),
        };
        (marked, requests)
    }
}

impl<S: hyper::service::Service<R>, R> hyper::service::Service<R> for Marked<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, request: R) -> Self::Future {
        let since = self.requests.accepted.elapsed().as_millis();
        self.requests
            .latest
            .store(u64::try_from(since).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.inner.call(request)
    }
}

impl Requests {
    /// Resolves once one request (or the wait for the first) has lasted `limit`: a new request
    /// starts the clock again, and an idle connection is the header timeout's to close.
    async fn stuck(&self, limit: Duration) {
        loop {
            let started = self.latest.load(Ordering::Relaxed);
            let at = self.accepted + Duration::from_millis(started);
            tokio::time::sleep_until(at + limit).await;
            if self.latest.load(Ordering::Relaxed) == started {
                return;
            }
        }
    }
}

/// The soft `RLIMIT_NOFILE` of this process, from `/proc/self/limits` (None: unknown or
/// unlimited).
pub fn descriptor_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// How the server bounds its clients.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Time to send a request's headers ([`HEADER_READ_TIMEOUT`]).
    pub header_read_timeout: Duration,
    /// Time for a whole request and its response ([`REQUEST_TIMEOUT`]).
    pub request_timeout: Duration,
    /// Connections open at once ([`connection_cap`]).
    pub connections: usize,
}

impl ServerLimits {
    /// The agent's limits, leaving descriptors for `concurrency` probe connections.
    pub fn for_agent(concurrency: usize) -> ServerLimits {
        ServerLimits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            connections: connection_cap(descriptor_limit(), concurrency),
        }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown`; connections still open then
/// get `grace` to finish their request, and are dropped after it.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    front: Option<Arc<Front>>,
    limits: ServerLimits,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let app = match &front {
        Some(front) => app.layer(axum::middleware::from_fn_with_state(
            front.clone(),
            super::secure::basic_auth,
        )),
        None => app,
    };
    let permits = Arc::new(Semaphore::new(limits.connections.max(1)));
    let connections = TaskTracker::new();
    let closing = CancellationToken::new();
    let kill = CancellationToken::new();
    loop {
        // A free slot first: beyond the cap, clients wait in the backlog, holding no descriptor.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = shutdown.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of descriptors (EMFILE) or a connection reset before accept: wait a
                    // little rather than spin.
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let (service, requests) = Marked::new(TowerToHyperService::new(app.clone()));
        let (closing, kill) = (closing.clone(), kill.clone());
        let tls = front.as_ref().and_then(|f| f.current().tls.clone());
        connections.spawn(async move {
            let _permit = permit;
            let stream: Box<dyn Io> = match tls {
                None => Box::new(stream),
                Some(config) => {
                    // The handshake gets the header deadline: a client that opens a connection
                    // and says nothing holds a slot no longer than one that sends no headers.
                    let accepting = tokio_rustls::TlsAcceptor::from(config).accept(stream);
                    match tokio::time::timeout(limits.header_read_timeout, accepting).await {
                        Ok(Ok(tls)) => Box::new(tls),
                        // Plain HTTP on the TLS port, a refused client certificate, a stall.
                        _ => return,
                    }
                }
            };
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                // Dropping the connection closes the socket.
                _ = requests.stuck(limits.request_timeout) => {}
                _ = closing.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    tokio::select! {
                        _ = connection => {}
                        _ = kill.cancelled() => {}
                    }
                }
            }
        });
    }
    drop(listener);
    connections.close();
    closing.cancel();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after the grace period were dropped");
        kill.cancel();
        connections.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_descriptors_for_probes() {
        assert_eq!(connection_cap(None, 256), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(65_536), 256), MAX_CONNECTIONS);
        // 1024 descriptors, 256 probe connections, 64 reserved: plenty left, still 64.
        assert_eq!(connection_cap(Some(1024), 256), MAX_CONNECTIONS);
        // 350 descriptors: 350 - 256 - 64 = 30 HTTP connections.
        assert_eq!(connection_cap(Some(350), 256), 30);
        // Starved: the endpoints stay reachable with 2.
        assert_eq!(connection_cap(Some(100), 256), 2);
    }

    #[test]
    fn the_descriptor_limit_is_read_from_proc() {
        let limit = descriptor_limit();
        assert!(limit.is_none_or(|n| n > 0), "{limit:?}");
    }
}
