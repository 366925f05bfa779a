//! A UDP relay in front of a DNS server that counts the questions it forwards, by record type:
//! tests use it to prove how often a resolver asks.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::proto::op::Message;
use hickory_resolver::proto::rr::RecordType;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// A running relay; stops when dropped.
pub struct DnsRelay {
    /// Where resolvers should send their questions.
    pub addr: SocketAddr,
    asked: Arc<Mutex<HashMap<RecordType, usize>>>,
    task: JoinHandle<()>,
}

impl Drop for DnsRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsRelay {
    /// Relays every datagram to `upstream` and its answer back (each within 2 s).
    pub async fn start(upstream: SocketAddr) -> DnsRelay {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("bind relay"));
        let addr = socket.local_addr().expect("addr");
        let asked: Arc<Mutex<HashMap<RecordType, usize>>> = Arc::default();
        let counts = asked.clone();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65_535];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                let query = buf[..n].to_vec();
                if let Ok(message) = Message::from_vec(&query) {
                    let mut counts = counts.lock().expect("counts");
                    for q in &message.queries {
                        *counts.entry(q.query_type()).or_default() += 1;
                    }
                }
                let socket = socket.clone();
                tokio::spawn(async move {
                    let Ok(out) = UdpSocket::bind("127.0.0.1:0").await else {
                        return;
                    };
                    if out.send_to(&query, upstream).await.is_err() {
                        return;
                    }
                    let mut answer = vec![0u8; 65_535];
                    let received =
                        tokio::time::timeout(Duration::from_secs(2), out.recv(&mut answer)).await;
                    if let Ok(Ok(len)) = received {
                        let _ = socket.send_to(&answer[..len], peer).await;
                    }
                });
            }
        });
        DnsRelay { addr, asked, task }
    }

    /// How many questions of `rtype` went through.
    pub fn asked(&self, rtype: RecordType) -> usize {
        self.asked
            .lock()
            .expect("counts")
            .get(&rtype)
            .copied()
            .unwrap_or(0)
    }
}
