//! The floor of a verified STARTTLS probe with the agent's own TLS stack: the dialogue of
//! `bench/probe_vs_blackbox.sh` (banner, EHLO, STARTTLS, a full rustls handshake with ring,
//! the agent's cipher order, the server's chain verified against CA_FILE for "localhost", EHLO,
//! QUIT, close_notify) over blocking sockets, one connection at a time, with nothing else: no
//! HTTP, no async runtime, no timing, no report, no recording verifier. The benchmark prints its
//! CPU per dialogue beside the agent's, so the figures say what the agent adds to its stack.
//!
//! Usage: `cargo run --release --example starttls_floor -- CA_FILE COUNT [ADDRESS:PORT]`
//! (default 127.0.0.1:2525); prints the CPU milliseconds per dialogue.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

type Failure = Box<dyn std::error::Error>;

/// Reads until a final reply line ("ddd ") arrives; returns its code.
fn reply(stream: &mut impl Read, buffer: &mut Vec<u8>) -> Result<u16, Failure> {
    buffer.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk)?;
        if read == 0 || buffer.len() > 65536 {
            return Err("connection closed or reply too long".into());
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(last) = buffer.strip_suffix(b"\r\n") {
            let start = last.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let line = &last[start..];
            if line.len() >= 4 && line[3] == b' ' {
                return Ok(std::str::from_utf8(&line[..3])?.parse()?);
            }
        }
    }
}

fn expect(stream: &mut impl Read, buffer: &mut Vec<u8>, code: u16) -> Result<(), Failure> {
    match reply(stream, buffer)? {
        got if got == code => Ok(()),
        got => Err(format!("expected {code}, got {got}").into()),
    }
}

fn dialogue(config: &Arc<ClientConfig>, address: &str) -> Result<(), Failure> {
    let mut buffer = Vec::new();
    let mut tcp = TcpStream::connect(address)?;
    tcp.set_nodelay(true)?;
    expect(&mut tcp, &mut buffer, 220)?;
    tcp.write_all(b"EHLO bench.smtpwatch.test\r\n")?;
    expect(&mut tcp, &mut buffer, 250)?;
    tcp.write_all(b"STARTTLS\r\n")?;
    expect(&mut tcp, &mut buffer, 220)?;
    let name = ServerName::try_from("localhost")?;
    let mut tls = StreamOwned::new(ClientConnection::new(config.clone(), name)?, tcp);
    tls.write_all(b"EHLO bench.smtpwatch.test\r\n")?;
    expect(&mut tls, &mut buffer, 250)?;
    tls.write_all(b"QUIT\r\n")?;
    expect(&mut tls, &mut buffer, 221)?;
    tls.conn.send_close_notify();
    tls.conn.complete_io(&mut tls.sock)?;
    Ok(())
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct it is given and reads nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().collect();
    let [_, ca_file, count, rest @ ..] = args.as_slice() else {
        return Err("usage: starttls_floor CA_FILE COUNT [ADDRESS:PORT]".into());
    };
    let count: u32 = count.parse()?;
    let address = rest.first().map_or("127.0.0.1:2525", String::as_str);
    let mut roots = RootCertStore::empty();
    for certificate in CertificateDer::pem_file_iter(ca_file)? {
        roots.add(certificate?)?;
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(smtpwatch::trust::provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    let config = Arc::new(config);
    dialogue(&config, address)?; // warm-up
    let before = cpu_seconds();
    for _ in 0..count {
        dialogue(&config, address)?;
    }
    println!(
        "{:.3}",
        (cpu_seconds() - before) / f64::from(count) * 1000.0
    );
    Ok(())
}
