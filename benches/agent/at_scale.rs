//! The 100,000-probe mode (`cargo bench --bench agent -- 100k`): the real agent (`Agent::start`
//! on a generated configuration, its HTTP server, its metrics, alerting (one webhook notifier;
//! every probe succeeds, so nothing is sent) and latest rounds) probing the child's plaintext
//! listeners, one round per probe per minute, i.e. 1,667 starts a
//! second. It prints the configuration's load time, then for a steady minute, a minute with one
//! full gzip scrape, and a reload: starts per second, agent CPU per probe, schedule lag p50/p99
//! (from the agent's own `smtpwatch_schedule_lag_seconds`, interpolated within its buckets),
//! the scrape's time, bytes and series per address, and the peak RSS (before and after the
//! reload). The scrape is read as a stream, so the benchmark's own buffers stay out of it.
//!
//! SMTPWATCH_BENCH_PROBES (default 100000) and SMTPWATCH_BENCH_INTERVAL (seconds, default 60)
//! scale it down; SMTPWATCH_BENCH_HISTOGRAMS=1 turns `[agent] histograms` on.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use prometheus::core::Collector;
use smtpwatch::agent::Agent;
use smtpwatch::http::AgentView;
use tokio_util::sync::CancellationToken;

use super::measure::{cpu_seconds, live_heap, peak_heap_mib, peak_rss_kib};

/// What the agent's counters said at one moment.
struct Snapshot {
    at: Instant,
    cpu: f64,
    starts: u64,
    /// (upper bound, cumulative count) of the lag histogram.
    buckets: Vec<(f64, u64)>,
}

fn snapshot(agent: &Agent) -> Snapshot {
    let families = agent.metrics().schedule_lag.collect();
    let h = families[0].get_metric()[0].get_histogram();
    Snapshot {
        at: Instant::now(),
        cpu: cpu_seconds(),
        starts: h.get_sample_count(),
        buckets: h
            .get_bucket()
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .collect(),
    }
}

/// Between two snapshots: starts per second, CPU µs per start, lag p50 and p99 in ms.
fn window(from: &Snapshot, to: &Snapshot) -> (f64, f64, f64, f64) {
    let starts = to.starts.saturating_sub(from.starts);
    let seconds = to.at.duration_since(from.at).as_secs_f64();
    let cpu = (to.cpu - from.cpu) / starts.max(1) as f64 * 1e6;
    let counts: Vec<(f64, u64)> = to
        .buckets
        .iter()
        .zip(&from.buckets)
        .map(|((bound, a), (_, b))| (*bound, a.saturating_sub(*b)))
        .collect();
    let quantile = |q: f64| {
        let rank = q * starts as f64;
        let mut lower = (0.0, 0u64);
        for (bound, cumulative) in &counts {
            if *cumulative as f64 >= rank {
                let inside = (*cumulative - lower.1).max(1) as f64;
                return (lower.0 + (bound - lower.0) * (rank - lower.1 as f64) / inside) * 1e3;
            }
            lower = (*bound, *cumulative);
        }
        f64::INFINITY
    };
    (starts as f64 / seconds, cpu, quantile(0.5), quantile(0.99))
}

fn report(label: &str, w: (f64, f64, f64, f64)) {
    println!(
        "  {label}: {:.0} starts/s, {:.1} µs agent CPU per probe, lag p50 {:.2} ms, p99 {:.2} ms",
        w.0, w.1, w.2, w.3
    );
}

/// Gaps over 5 ms in a 2 ms tick on the event loop, for `length` from `from`: (seconds after
/// `from`, gap in ms). Says when a reload holds the loop, which the lag histogram cannot.
async fn stalls(from: Instant, length: Duration) -> Vec<(f64, f64)> {
    let mut found = Vec::new();
    let mut last = Instant::now();
    while last.duration_since(from) < length {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = Instant::now();
        let gap = now.duration_since(last).as_secs_f64() * 1e3;
        if gap > 5.0 {
            found.push((last.duration_since(from).as_secs_f64(), gap));
        }
        last = now;
    }
    found
}

/// What one scrape brought.
struct Scraped {
    seconds: f64,
    gzip_bytes: u64,
    text_bytes: u64,
    /// Lines of per-address series.
    series: u64,
}

/// One `/metrics` scrape as Prometheus makes it (gzip), its body de-chunked as it arrives
/// straight into `into` (a file): this process is the agent's, and a scraper in another
/// process would hold none of it nor spend CPU on it here.
fn scrape(addr: SocketAddr, into: &Path) -> (f64, u64) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    while reader.read_line(&mut line).expect("head") > 2 {
        line.clear();
    }
    let mut body = Dechunked {
        inner: reader,
        left: 0,
        done: false,
    };
    let mut file = std::fs::File::create(into).expect("scrape file");
    let bytes = std::io::copy(&mut body, &mut file).expect("body");
    (started.elapsed().as_secs_f64(), bytes)
}

/// Decompresses and counts a scrape saved by [`scrape`], a line at a time.
fn count_scrape(seconds: f64, gzip_bytes: u64, path: &Path) -> Scraped {
    let file = std::fs::File::open(path).expect("scrape file");
    let mut text = BufReader::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    let (mut text_bytes, mut series) = (0u64, 0u64);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = text.read_until(b'\n', &mut line).expect("gzip");
        if n == 0 {
            break;
        }
        text_bytes += n as u64;
        if is_address_series(&line) {
            series += 1;
        }
    }
    Scraped {
        seconds,
        gzip_bytes,
        text_bytes,
        series,
    }
}

fn is_address_series(line: &[u8]) -> bool {
    line.windows(9).any(|w| w == b"address=\"")
}

/// An HTTP/1.1 chunked body as a reader.
struct Dechunked<R> {
    inner: R,
    left: usize,
    done: bool,
}

impl<R: BufRead> Read for Dechunked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done {
            return Ok(0);
        }
        if self.left == 0 {
            let mut size = String::new();
            self.inner.read_line(&mut size)?;
            if size.trim().is_empty() {
                size.clear();
                self.inner.read_line(&mut size)?;
            }
            self.left = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if self.left == 0 {
                self.done = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n;
        Ok(n)
    }
}

fn write_config(
    path: &Path,
    probes: usize,
    interval: u64,
    servers: &[SocketAddr],
    histograms: bool,
) {
    let mut text = format!(
        "[agent]\nlisten = \"127.0.0.1:0\"\ninterval = \"{interval}s\"\ntimeout = \"5s\"\n\
         concurrency = 256\nehlo_name = \"bench.smtpwatch.test\"\nhistograms = {histograms}\n\n\
         [[alerting.webhook]]\nname = \"unused\"\nurl = \"http://127.0.0.1:9/\"\n\n"
    );
    for i in 0..probes {
        let addr = servers[i % servers.len()];
        text.push_str(&format!(
            "[[probe]]\nname = \"p{i:06}\"\ntarget = \"{addr}\"\ntls = \"none\"\n"
        ));
    }
    std::fs::write(path, text).expect("write config");
}

/// The value of `smtpwatch_probes_total` for probe `p000000`.
fn first_probe_count(agent: &Agent) -> f64 {
    let mut text = String::new();
    agent.metrics().render_series_chunk(3, None, &mut text);
    text.lines()
        .find(|l| l.contains("probe=\"p000000\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

pub(super) fn run(servers: &[SocketAddr]) {
    let env_num = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let probes = env_num("SMTPWATCH_BENCH_PROBES", 100_000) as usize;
    let interval = env_num("SMTPWATCH_BENCH_INTERVAL", 60);
    let histograms = std::env::var_os("SMTPWATCH_BENCH_HISTOGRAMS").is_some();
    let dir = std::env::temp_dir().join(format!("smtpwatch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("probes.toml");
    write_config(&path, probes, interval, servers, histograms);
    println!(
        "== {probes} plaintext probes every {interval} s (histograms {}), real agent",
        if histograms { "on" } else { "off" }
    );
    let per_probe = |from: f64| (live_heap() - from) / probes as f64;
    let heap0 = live_heap();
    let started = Instant::now();
    let config = smtpwatch::config::load(&path).expect("config");
    println!(
        "  configuration load: {:.2} s, {:.0} heap bytes per probe; peaks so far: RSS {:.1} MiB, heap {:.1} MiB",
        started.elapsed().as_secs_f64(),
        per_probe(heap0),
        peak_rss_kib() as f64 / 1024.0,
        peak_heap_mib(),
    );
    drop(config);

    // As `smtpwatch run` does.
    let _ = smtpwatch::runtime::raise_descriptor_limit();
    let runtime = smtpwatch::runtime::single_threaded().expect("runtime");
    runtime.block_on(async {
        let heap1 = live_heap();
        let started = Instant::now();
        let agent = Agent::start(&path).expect("agent");
        println!(
            "  agent start (load, jobs, alerting): {:.2} s, {:.0} heap bytes per probe; peaks so far: RSS {:.1} MiB, heap {:.1} MiB",
            started.elapsed().as_secs_f64(),
            per_probe(heap1),
            peak_rss_kib() as f64 / 1024.0,
            peak_heap_mib(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let served = tokio::spawn(smtpwatch::agent::serve(
            agent.clone(),
            listener,
            shutdown.clone(),
            Duration::from_secs(10),
        ));
        // The first round is spread over one interval; measure after it.
        tokio::time::sleep(Duration::from_secs(interval + 5)).await;

        println!(
            "  after the first round (series, latest rounds, alert book): {:.0} heap bytes per probe in all",
            per_probe(heap1)
        );
        let a = snapshot(&agent);
        tokio::time::sleep(Duration::from_secs(interval)).await;
        let b = snapshot(&agent);
        report("steady minute, no scrape", window(&a, &b));

        // A minute with one full scrape, from a thread of its own like a real scraper.
        let scrape_file = dir.join("scrape.gz");
        let into = scrape_file.clone();
        let scraper = std::thread::spawn(move || scrape(addr, &into));
        let deadline = Instant::now() + Duration::from_secs(interval);
        while !scraper.is_finished() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let during = snapshot(&agent);
        let (seconds, gzip_bytes) = scraper.join().expect("scraper");
        tokio::time::sleep_until(deadline.into()).await;
        let c = snapshot(&agent);
        // Unpacking and counting 150 MB is the benchmark's work, not the agent's: on the event
        // loop it held the probes for a few hundred milliseconds, and their late starts were
        // counted in the reload's window below.
        let scrape_path = scrape_file.clone();
        let scraped =
            tokio::task::spawn_blocking(move || count_scrape(seconds, gzip_bytes, &scrape_path))
                .await
                .expect("count the scrape");
        report("during the scrape", window(&b, &during));
        report("minute with one scrape", window(&b, &c));
        println!(
            "  scrape: {:.2} s, {:.1} MiB gzip, {:.1} MiB text, {} series, {:.1} per address, {:.0} bytes per address",
            scraped.seconds,
            scraped.gzip_bytes as f64 / 1048576.0,
            scraped.text_bytes as f64 / 1048576.0,
            scraped.series,
            scraped.series as f64 / probes as f64,
            scraped.text_bytes as f64 / probes as f64,
        );
        println!(
            "  peaks so far (rounds and one scrape): RSS {:.1} MiB, heap {:.1} MiB; heap now {:.0} bytes per probe",
            peak_rss_kib() as f64 / 1024.0,
            peak_heap_mib(),
            per_probe(heap1)
        );

        // Rendering series is the scraper's work, off the event loop as the agent does it.
        let probed = agent.clone();
        let before = tokio::task::spawn_blocking(move || first_probe_count(&probed))
            .await
            .expect("count rounds");
        let r0 = snapshot(&agent);
        let reload_started = Instant::now();
        let watch = tokio::spawn(stalls(reload_started, Duration::from_secs(11)));
        // As SIGHUP and POST /-/reload do it.
        let reload_result = agent.reload().await;
        let reload_seconds = reload_started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(10)).await;
        let d = snapshot(&agent);
        report("reload and the 10 s after", window(&r0, &d));
        if let Ok(mut stalls) = watch.await {
            stalls.sort_by(|a, b| b.1.total_cmp(&a.1));
            let shown: Vec<String> = stalls
                .iter()
                .take(8)
                .map(|(at, ms)| format!("{ms:.1} ms at +{at:.3} s"))
                .collect();
            println!(
                "  event-loop stalls over 5 ms from the reload's start: {} ({})",
                stalls.len(),
                shown.join(", ")
            );
        }
        println!(
            "  reload: {reload_seconds:.2} s ({}), history kept: probes_total of p000000 {before} before, {} after",
            if reload_result.is_ok() { "ok" } else { "FAILED" },
            first_probe_count(&agent)
        );
        shutdown.cancel();
        let _ = served.await;
    });
    println!(
        "  peak RSS (the reload included): {:.1} MiB",
        peak_rss_kib() as f64 / 1024.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
