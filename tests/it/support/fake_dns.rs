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
        FakeDns::start_with(
            records,
            Behaviour {
                ignored: ignored.to_vec(),
                ..Behaviour::default()
            },
        )
        .await
    }

    /// Serves `records` behaving as `behaviour` says.
    pub async fn start_with(records: Vec<(&str, RData)>, behaviour: Behaviour) -> FakeDns {
        let zone: Zone = Arc::new(RwLock::new(build_zone(records)));
        let (socket, tcp) = bind_pair(behaviour.tcp).await;
        let addr = socket.local_addr().expect("addr");
        let served = zone.clone();
        let udp_task = tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if query
                    .queries
                    .iter()
                    .any(|q| behaviour.ignored.contains(&q.query_type()))
                {
                    continue;
                }
                let mut response = answer(&query, &served);
                if behaviour.truncate_udp {
                    response.answers.clear();
                    response.metadata.truncation = true;
                }
                if let Ok(bytes) = response.to_vec() {
                    let _ = socket.send_to(&bytes, peer).await;
                }
            }
        });
        let served = zone.clone();
        let task = tokio::spawn(async move {
            if let Some(listener) = tcp {
                while let Ok((conn, _)) = listener.accept().await {
                    tokio::spawn(serve_tcp(conn, served.clone()));
                }
            }
            let _ = udp_task.await;
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

/// How a [`FakeDns`] misbehaves.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Question types that get no answer at all.
    pub ignored: Vec<RecordType>,
    /// Every UDP answer comes back empty with the TC bit: the client must retry over TCP.
    pub truncate_udp: bool,
    /// Also serve DNS over TCP on the same port.
    pub tcp: bool,
}

/// A UDP socket on loopback and, if asked, a TCP listener on the same port.
async fn bind_pair(tcp: bool) -> (UdpSocket, Option<tokio::net::TcpListener>) {
    for _ in 0..20 {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind fake dns");
        if !tcp {
            return (socket, None);
        }
        let addr = socket.local_addr().expect("addr");
        if let Ok(listener) = tokio::net::TcpListener::bind(addr).await {
            return (socket, Some(listener));
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// One TCP client: length-prefixed queries, length-prefixed answers.
async fn serve_tcp(mut conn: tokio::net::TcpStream, zone: Zone) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let mut len = [0u8; 2];
        if conn.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if conn.read_exact(&mut buf).await.is_err() {
            return;
        }
        let Ok(query) = Message::from_vec(&buf) else {
            return;
        };
        let Ok(bytes) = answer(&query, &zone).to_vec() else {
            return;
        };
        let Ok(n) = u16::try_from(bytes.len()) else {
            return;
        };
        if conn.write_all(&n.to_be_bytes()).await.is_err() || conn.write_all(&bytes).await.is_err()
        {
            return;
        }
    }
}

/// The answer to `query` from `zone`: a name with a CNAME (and none of the asked type) gets
/// the CNAME and, as a real server does, what it points to, chased through the zone until
/// the chain ends or comes back on itself.
fn answer(query: &Message, zone: &Zone) -> Message {
    let mut response = Message::response(query.metadata.id, query.metadata.op_code);
    response.metadata.recursion_desired = query.metadata.recursion_desired;
    response.metadata.recursion_available = true;
    response.metadata.authoritative = true;
    let zone = zone.read().expect("zone").clone();
    for q in &query.queries {
        response.queries.push(q.clone());
        let mut name = key(&q.name().to_ascii());
        let mut seen = Vec::new();
        loop {
            let Some(datas) = zone.get(&name) else {
                if seen.is_empty() {
                    response.metadata.response_code = ResponseCode::NXDomain;
                }
                break;
            };
            let owner = Name::from_ascii(&name).expect("name");
            let wanted: Vec<&RData> = datas
                .iter()
                .filter(|d| d.record_type() == q.query_type())
                .collect();
            let alias = datas.iter().find_map(|d| match d {
                RData::CNAME(target) if q.query_type() != RecordType::CNAME => {
                    Some(target.0.to_ascii())
                }
                _ => None,
            });
            match (wanted.is_empty(), alias) {
                (true, Some(target)) if !seen.contains(&name) => {
                    response.answers.push(Record::from_rdata(
                        owner,
                        0,
                        RData::CNAME(hickory_resolver::proto::rr::rdata::CNAME(
                            Name::from_ascii(&target).expect("target"),
                        )),
                    ));
                    seen.push(name);
                    name = key(&target);
                }
                _ => {
                    for data in wanted {
                        response
                            .answers
                            .push(Record::from_rdata(owner.clone(), 0, data.clone()));
                    }
                    break;
                }
            }
        }
    }
    response
}

/// A CNAME record's data.
pub fn cname(target: &str) -> RData {
    RData::CNAME(hickory_resolver::proto::rr::rdata::CNAME(
        Name::from_ascii(key(target)).expect("cname target"),
    ))
}
