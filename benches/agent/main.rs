//! Agent benchmark: the scheduler, probe engine and metrics of `smtpwatch run` against fake SMTP
//! servers on loopback. The servers run in a child process (this same binary, re-executed), so
//! the CPU time and peak RSS printed are the agent's alone.
//!
//! `cargo bench --bench agent` runs 10,000 plaintext probes at a 30 s interval for 40 s, then
//! 1,000 STARTTLS probes at a 10 s interval for 20 s, and prints probes/s, CPU per probe, peak
//! RSS and schedule lag p50/p99. Override with SMTPWATCH_BENCH_PROBES / _INTERVAL / _SECONDS;
//! SMTPWATCH_BENCH_MULTI_THREAD=1 uses tokio's multi-threaded runtime instead of the agent's.
//! `cargo bench --bench agent -- 100k` runs the real agent at 100,000 probes instead (see
//! [`at_scale`]).

mod at_scale;
mod measure;
mod server;

use self::measure::{cpu_seconds, ms, peak_rss_kib, scrape_bytes};
use self::server::serve_forever;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use smtpwatch::alert::Alerting;
use smtpwatch::config::ProbeConfig;
use smtpwatch::metrics::Metrics;
use smtpwatch::probe::fanout::probe_target;
use smtpwatch::probe::ProbeSettings;
use smtpwatch::resolve::Family;
use smtpwatch::schedule::{self, Scheduler};
use smtpwatch::target::TlsMode;
use smtpwatch::trust::LazyTrust;
use smtpwatch::trust::Trust;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader as TokioBufReader,
};

/// The allocator of the `smtpwatch` binary, so the figures are the binary's, counting the bytes
/// live so the 100k mode can say what each part of the agent holds.
#[global_allocator]
static ALLOCATOR: measure::Counting = measure::Counting;

const SERVER_ENV: &str = "SMTPWATCH_BENCH_SERVER";
const PLAIN_LISTENERS: usize = 8;

fn main() {
    if std::env::var_os(SERVER_ENV).is_some() {
        return serve_forever();
    }
    // `cargo bench` passes --bench; any other argument is ignored.
    let env_num = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let probes = env_num("SMTPWATCH_BENCH_PROBES", 10_000) as usize;
    let interval = Duration::from_secs(env_num("SMTPWATCH_BENCH_INTERVAL", 30));
    let seconds = Duration::from_secs(env_num("SMTPWATCH_BENCH_SECONDS", 40));
    let _ = rustls::crypto::ring::default_provider().install_default();

    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .env(SERVER_ENV, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start fake servers");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ca_pem = read_block(&mut lines, "END CA");
    let addrs: Vec<SocketAddr> = lines
        .by_ref()
        .map_while(Result::ok)
        .take_while(|l| l != "END ADDRS")
        .map(|l| l.parse().expect("addr"))
        .collect();
    let (plain, tls) = addrs.split_at(PLAIN_LISTENERS);
    if std::env::args().any(|a| a == "100k") {
        at_scale::run(plain);
        drop(child.stdin.take());
        let _ = child.wait();
        return;
    }

    // The agent's own runtime (single-threaded, see `smtpwatch::runtime`); the multi-threaded one
    // only for comparison.
    let runtime = if std::env::var_os("SMTPWATCH_BENCH_MULTI_THREAD").is_some() {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime")
    } else {
        smtpwatch::runtime::single_threaded().expect("runtime")
    };
    println!("smtpwatch agent benchmark (2 cores; fake servers in a child process)");
    runtime.block_on(run_phase(
        "plaintext",
        probes,
        interval,
        seconds,
        plain,
        None,
    ));
    let tls_probes = (probes / 10).max(1);
    let tls_interval = (interval / 3).max(Duration::from_secs(1));
    runtime.block_on(run_phase(
        "STARTTLS",
        tls_probes,
        tls_interval,
        seconds / 2,
        tls,
        Some(&ca_pem),
    ));
    println!("peak RSS: {:.1} MiB", peak_rss_kib() as f64 / 1024.0);
    runtime.block_on(reference_exchange(plain[0]));
    drop(child.stdin.take());
    let _ = child.wait();
}

fn read_block(lines: &mut impl Iterator<Item = std::io::Result<String>>, end: &str) -> String {
    let mut out = String::new();
    for line in lines.map_while(Result::ok) {
        if line == end {
            break;
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

struct BenchJob {
    config: ProbeConfig,
}

impl schedule::Job for BenchJob {
    fn name(&self) -> &str {
        &self.config.name
    }
    fn interval(&self) -> Duration {
        self.config.interval
    }
    fn same_as(&self, other: &Self) -> bool {
        self.config == other.config
    }
}

/// Alerting as the agent runs it, with one notifier that is never called (every probe
/// succeeds): the cost of the per-round bookkeeping.
fn bench_alerting(metrics: &Metrics) -> Arc<Alerting> {
    let text = "[[alerting.webhook]]\nname = \"unused\"\nurl = \"http://127.0.0.1:9/\"\n";
    let config =
        smtpwatch::config::parse(text, std::path::Path::new("bench.toml")).expect("config");
    Alerting::start(
        &config,
        smtpwatch::alert::dispatch::DeliveryMetrics::register(metrics.registry()).expect("m"),
    )
    .expect("alerting")
}

async fn run_phase(
    label: &str,
    probes: usize,
    interval: Duration,
    length: Duration,
    servers: &[SocketAddr],
    ca_pem: Option<&str>,
) {
    let trust = match ca_pem {
        None => LazyTrust::new(Vec::new()),
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            let der =
                rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).expect("ca pem");
            roots.add(der).expect("ca");
            LazyTrust::ready(Trust::from_roots(roots).expect("trust"))
        }
    };
    let mut settings = ProbeSettings::new(Arc::new(trust), "bench.smtpwatch.test".into());
    settings.tls = Some(if ca_pem.is_some() {
        TlsMode::Starttls
    } else {
        TlsMode::None
    });
    settings.server_name = Some("localhost".into());
    settings.timeout = Duration::from_secs(10);
    settings.phase_timeout = Duration::from_secs(10);
    let settings = Arc::new(settings);
    let metrics = Arc::new(Metrics::new().expect("metrics"));
    let alerting = bench_alerting(&metrics);
    let lags: Arc<Mutex<Vec<Duration>>> = Arc::new(Mutex::new(Vec::with_capacity(probes * 2)));
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let failed = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (m, d, f, s, a) = (
        metrics.clone(),
        done.clone(),
        failed.clone(),
        settings.clone(),
        alerting.clone(),
    );
    let run: schedule::RunFn<BenchJob> = Arc::new(move |job: Arc<BenchJob>| {
        let (m, d, f, s, a) = (m.clone(), d.clone(), f.clone(), s.clone(), a.clone());
        Box::pin(async move {
            m.in_flight.inc();
            let p = &job.config;
            let reports = probe_target(&p.target, Some(&p.name), s, None, Family::Any).await;
            m.in_flight.dec();
            m.observe_round(&p.name, &p.labels, &reports);
            a.observe(p, &reports, std::time::SystemTime::now());
            d.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if reports.iter().any(|r| !r.success) {
                f.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        })
    });
    let lag_sink = lags.clone();
    let on_lag: schedule::LagFn = Arc::new(move |lag| lag_sink.lock().expect("lags").push(lag));
    let jobs: Vec<Arc<BenchJob>> = (0..probes)
        .map(|i| {
            let addr = servers[i % servers.len()];
            Arc::new(BenchJob {
                config: ProbeConfig {
                    name: format!("{label}-{i}"),
                    target: addr.to_string().parse().expect("target"),
                    tls: None,
                    insecure: false,
                    ca_file: None,
                    server_name: None,
                    noop: true,
                    interval,
                    timeout: Duration::from_secs(10),
                    warn_cert: Duration::from_secs(14 * 86_400),
                    labels: BTreeMap::new(),
                    notify: None,
                    posture: None,
                    mail: None,
                },
            })
        })
        .collect();

    let cpu_before = cpu_seconds();
    let started = Instant::now();
    let scheduler = Scheduler::new(256, run, on_lag);
    scheduler.apply(jobs, 256);
    tokio::time::sleep(length).await;
    let _ = scheduler.shutdown(Duration::from_secs(10)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    let rendered = scrape_bytes(&metrics);

    let completed = done.load(std::sync::atomic::Ordering::Relaxed);
    let mut lags = lags.lock().expect("lags").clone();
    lags.sort();
    let pct = |p: f64| {
        lags.get(((lags.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    println!(
        "== {label}: {probes} probes configured, interval {}, run {:.0} s",
        humantime::format_duration(interval),
        elapsed
    );
    println!(
        "  probes completed: {completed} ({} failed), {:.1} probes/s",
        failed.load(std::sync::atomic::Ordering::Relaxed),
        completed as f64 / elapsed
    );
    println!(
        "  agent CPU: {cpu:.2} s, {:.1} µs per probe",
        cpu / completed.max(1) as f64 * 1e6
    );
    println!(
        "  schedule lag: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms ({} samples)",
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(pct(1.0)),
        lags.len()
    );
    println!("  /metrics size: {:.1} KiB", rendered as f64 / 1024.0);
}

/// A reference: a bare tokio SMTP exchange (connect, banner, EHLO, NOOP, QUIT; no smtpwatch
/// code) started alone every 3 ms, the average pace of 10,000 probes at 30 s. Its CPU per
/// exchange is what waking up for network I/O costs here when nothing shares the wake-ups.
async fn reference_exchange(server: SocketAddr) {
    use tokio::io::AsyncReadExt;
    async fn exchange(server: SocketAddr) {
        let Ok(mut s) = tokio::net::TcpStream::connect(server).await else {
            return;
        };
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf).await;
        for command in [&b"EHLO floor.test\r\n"[..], b"NOOP\r\n", b"QUIT\r\n"] {
            if s.write_all(command).await.is_err() || s.read(&mut buf).await.is_err() {
                return;
            }
        }
    }
    let n = 3000;
    let cpu_before = cpu_seconds();
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        tokio::time::sleep(Duration::from_millis(3)).await;
        tasks.push(tokio::spawn(exchange(server)));
    }
    for task in tasks {
        let _ = task.await;
    }
    let cpu = cpu_seconds() - cpu_before;
    println!(
        "== reference: bare tokio exchange (no smtpwatch code), one every 3 ms: {:.1} µs CPU each",
        cpu / n as f64 * 1e6
    );
}
