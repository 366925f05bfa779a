//! A tiny authoritative DNS server over UDP on loopback, answering from a fixed record list.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

type Zone = Arc<RwLock<HashMap<String, Vec<RData>>>>;

/// A running fake DNS server; stops when dropped. Answers carry TTL 0, so a changed zone is
/// seen by the next lookup.
pub struct FakeDns {
    pub addr: SocketAddr,
    zone: Zone,
    task: JoinHandle<()>,
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn key(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.').to_ascii_lowercase())
}

impl FakeDns {
    /// Serves `records` (owner name, data); unknown names get NXDOMAIN, known names without the
    /// asked type get an empty NOERROR answer.
    pub async fn start(records: Vec<(&str, RData)>) -> FakeDns {
        FakeDns::start_ignoring(records, &[]).await
    }

    /// Like [`FakeDns::start`], but questions of the types in `ignored` get no answer at all
    /// (a server or middlebox that drops them).
    pub async fn start_ignoring(records: Vec<(&str, RData)>, ignored: &[RecordType]) -> FakeDns {
        let ignored = ignored.to_vec();
        let zone: Zone = Arc::new(RwLock::new(build_zone(records)));
        let served = zone.clone();
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind fake dns");
        let addr = socket.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if query
                    .queries
                    .iter()
                    .any(|q| ignored.contains(&q.query_type()))
                {
                    continue;
                }
                let mut response = Message::response(query.metadata.id, query.metadata.op_code);
                response.metadata.recursion_desired = query.metadata.recursion_desired;
                response.metadata.recursion_available = true;
                response.metadata.authoritative = true;
                for q in &query.queries {
                    response.queries.push(q.clone());
                    let name = key(&q.name().to_ascii());
                    let zone = served.read().expect("zone").clone();
                    match zone.get(&name) {
                        None => response.metadata.response_code = ResponseCode::NXDomain,
                        Some(datas) => {
                            let owner = Name::from_ascii(&name).expect("name");
                            for data in datas.iter().filter(|d| d.record_type() == q.query_type()) {
                                response.answers.push(Record::from_rdata(
                                    owner.clone(),
                                    0,
                                    data.clone(),
                                ));
                            }
                        }
                    }
                }
                if let Ok(bytes) = response.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        FakeDns { addr, zone, task }
    }

    /// Replaces every record.
    pub fn set(&self, records: Vec<(&str, RData)>) {
        *self.zone.write().expect("zone") = build_zone(records);
    }
}

fn build_zone(records: Vec<(&str, RData)>) -> HashMap<String, Vec<RData>> {
    let mut zone: HashMap<String, Vec<RData>> = HashMap::new();
    for (name, data) in records {
        zone.entry(key(name)).or_default().push(data);
    }
    zone
}

/// An MX record's data.
pub fn mx(preference: u16, host: &str) -> RData {
    RData::MX(hickory_resolver::proto::rr::rdata::MX::new(
        preference,
        Name::from_ascii(key(host)).expect("mx name"),
    ))
}

/// An A or AAAA record's data.
pub fn ip(addr: &str) -> RData {
    match addr.parse::<std::net::IpAddr>().expect("ip") {
        std::net::IpAddr::V4(v4) => RData::A(hickory_resolver::proto::rr::rdata::A(v4)),
        std::net::IpAddr::V6(v6) => RData::AAAA(hickory_resolver::proto::rr::rdata::AAAA(v6)),
    }
}
