//! The agent's HTTP server against hostile clients: half-sent requests are cut off, so is a
//! request that never ends, oversized headers are refused, a flood of idle connections cannot
//! keep the endpoints unreachable or hold shutdown up.

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use smtpwatch::http::server::{serve, ServerLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

async fn start(limits: ServerLimits) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/hang", get(std::future::pending::<&'static str>));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(
        listener,
        app,
        None,
        limits,
        shutdown.clone(),
        Duration::from_secs(1),
    ));
    Server {
        addr,
        shutdown,
        task,
    }
}

/// A connection that sends half a request and then nothing.
async fn slow_loris(addr: SocketAddr) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        .await
        .expect("write");
    stream
}

/// Reads until the server closes the connection; returns what it sent.
async fn until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got).await;
    got
}

async fn healthz(addr: SocketAddr) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    String::from_utf8_lossy(&until_closed(&mut stream).await).into_owned()
}

#[tokio::test]
async fn a_half_sent_request_is_cut_off_at_the_header_deadline() {
    let server = start(ServerLimits {
        header_read_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(60),
        connections: 8,
    })
    .await;
    let mut loris = slow_loris(server.addr).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), until_closed(&mut loris)).await;
    assert!(closed.is_ok(), "the server kept a half-sent request open");
    // An idle keep-alive connection is cut off the same way.
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    let closed = tokio::time::timeout(Duration::from_secs(5), until_closed(&mut idle)).await;
    assert!(closed.is_ok(), "the server kept an idle connection open");
    server.shutdown.cancel();
    server.task.await.expect("server");
}

#[tokio::test]
async fn idle_connections_beyond_the_cap_wait_and_the_endpoints_come_back() {
    let server = start(ServerLimits {
        header_read_timeout: Duration::from_millis(500),
        request_timeout: Duration::from_secs(60),
        connections: 2,
    })
    .await;
    // Fill every slot with a slow client; a real request then waits, and is answered once
    // the header deadline frees the slots.
    let _held = [slow_loris(server.addr).await, slow_loris(server.addr).await];
    let answer = tokio::time::timeout(Duration::from_secs(5), healthz(server.addr)).await;
    let answer = answer.expect("answered after the slow clients were cut off");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");
    server.shutdown.cancel();
    server.task.await.expect("server");
}

#[tokio::test]
async fn shutdown_does_not_wait_for_slow_clients() {
    let server = start(ServerLimits {
        header_read_timeout: Duration::from_secs(60),
        request_timeout: Duration::from_secs(60),
        connections: 8,
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(slow_loris(server.addr).await);
    }
    // Let the server take them (the first request through proves it is accepting).
    assert!(healthz(server.addr).await.starts_with("HTTP/1.1 200"));
    server.shutdown.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(5), server.task).await;
    assert!(
        ended.is_ok(),
        "shutdown waited for slow clients past its grace"
    );
    for mut stream in held {
        let closed = tokio::time::timeout(Duration::from_secs(5), until_closed(&mut stream)).await;
        assert!(
            closed.is_ok(),
            "a slow client's connection outlived the server"
        );
    }
}

#[tokio::test]
async fn a_request_that_never_ends_is_cut_off_and_keep_alive_requests_are_not() {
    let server = start(ServerLimits {
        header_read_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_millis(400),
        connections: 8,
    })
    .await;
    let mut stuck = TcpStream::connect(server.addr).await.expect("connect");
    stuck
        .write_all(b"GET /hang HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let closed = tokio::time::timeout(Duration::from_secs(5), until_closed(&mut stuck)).await;
    assert!(closed.is_ok(), "a never-ending request kept its connection");

    // One keep-alive connection, a request every 150 ms for longer than the limit: each new
    // request starts its own clock.
    let mut kept = TcpStream::connect(server.addr).await.expect("connect");
    for _ in 0..5 {
        kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .expect("write on the kept connection");
        let mut answer = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(2), kept.read(&mut answer))
            .await
            .expect("an answer")
            .expect("read");
        let text = String::from_utf8_lossy(&answer[..n]);
        assert!(
            text.starts_with("HTTP/1.1 200") && text.ends_with("ok\n"),
            "{text}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    server.shutdown.cancel();
    server.task.await.expect("server");
}

#[tokio::test]
async fn oversized_request_headers_are_refused() {
    let server = start(ServerLimits {
        header_read_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(5),
        connections: 8,
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let _ = stream.write_all(big.as_bytes()).await;
    let answer = tokio::time::timeout(Duration::from_secs(5), until_closed(&mut stream))
        .await
        .expect("closed");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 431"),
        "{text}"
    );
    assert!(!text.contains("ok\n"), "{text}");
    assert!(
        healthz(server.addr).await.starts_with("HTTP/1.1 200"),
        "still serving"
    );
    server.shutdown.cancel();
    server.task.await.expect("server");
}
