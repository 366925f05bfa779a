//! A minimal HTTPS server for MTA-STS policy tests: answers every request with one scripted
//! response (status line, content type, body) over TLS with a test certificate.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The running server; stops when dropped.
pub struct PolicyServer {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PolicyServer {
    /// Serves `status` (e.g. "200 OK"), `content_type` and `body` with `tls`.
    pub async fn start(
        tls: Arc<rustls::ServerConfig>,
        status: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> PolicyServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if status.starts_with('3') {
            head.push_str("Location: https://elsewhere.test/policy\r\n");
        }
        head.push_str("\r\n");
        let response = Arc::new([head.into_bytes(), body].concat());
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, response) = (acceptor.clone(), response.clone());
                tokio::spawn(async move {
                    let Ok(mut stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 16_384 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = stream.write_all(&response).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        PolicyServer { addr, task }
    }
}
