//! Prometheus metrics: the agent's own families and the per-address probe series.
//!
//! Names follow DESIGN.md ("Metrics"). [`Metrics::observe_round`] is the only way probe results
//! enter; [`Metrics::render`] is what `/metrics` serves. [`blackbox`] renders a one-off `/probe`
//! in blackbox_exporter's names.

pub mod blackbox;
pub mod family;
pub mod posture;
mod series;
mod text;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{Gauge, Histogram, HistogramOpts, IntGauge, IntGaugeVec, Opts, Registry};

use self::series::SeriesStore;
use crate::report::ProbeReport;

/// Probes rendered per /metrics chunk (and per hold of the series lock).
pub const SERIES_CHUNK_PROBES: usize = 256;

/// How many per-address families /metrics has (for streaming them chunk by chunk).
const SERIES_FAMILIES: usize = series::FAMILY_COUNT;

/// Every metric family of the agent. Handles are cheap to use from any task.
pub struct Metrics {
    registry: Registry,
    series: SeriesStore,
    /// `smtpwatch_config_last_reload_successful`.
    pub reload_ok: IntGauge,
    /// `smtpwatch_config_last_reload_success_timestamp_seconds`.
    pub reload_timestamp: Gauge,
    /// `smtpwatch_schedule_lag_seconds`: actual start − planned start.
    pub schedule_lag: Histogram,
    /// `smtpwatch_probes_in_flight`.
    pub in_flight: IntGauge,
    /// The posture families of `mx:` probes.
    pub posture: posture::PostureMetrics,
    /// `smtpwatch_shard_info{index,count}`, `smtpwatch_probes_configured`,
    /// `smtpwatch_probes_owned`.
    shard_info: IntGaugeVec,
    probes_configured: IntGauge,
    probes_owned: IntGauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// Creates and registers every agent family.
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let build = IntGaugeVec::new(
            Opts::new("smtpwatch_build_info", "smtpwatch version (always 1)."),
            &["version"],
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let reload_ok = IntGauge::new(
            "smtpwatch_config_last_reload_successful",
            "Whether the last configuration (re)load succeeded.",
        )?;
        let reload_timestamp = Gauge::new(
            "smtpwatch_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully (Unix time).",
        )?;
        let lag_buckets = vec![
            0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
        ];
        let schedule_lag = Histogram::with_opts(
            HistogramOpts::new(
                "smtpwatch_schedule_lag_seconds",
                "How late probes start: actual start minus planned start.",
            )
            .buckets(lag_buckets),
        )?;
        let in_flight = IntGauge::new(
            "smtpwatch_probes_in_flight",
            "Probes running now (addresses).",
        )?;
        let shard_info = IntGaugeVec::new(
            Opts::new(
                "smtpwatch_shard_info",
                "This agent's shard of the fleet (index from 0 of count; 0 of 1 unsharded).",
            ),
            &["index", "count"],
        )?;
        let probes_configured = IntGauge::new(
            "smtpwatch_probes_configured",
            "Probes in the configuration file, all shards together.",
        )?;
        let probes_owned =
            IntGauge::new("smtpwatch_probes_owned", "Probes this agent's shard runs.")?;
        registry.register(Box::new(shard_info.clone()))?;
        registry.register(Box::new(probes_configured.clone()))?;
        registry.register(Box::new(probes_owned.clone()))?;
        registry.register(Box::new(build))?;
        registry.register(Box::new(reload_ok.clone()))?;
        registry.register(Box::new(reload_timestamp.clone()))?;
        registry.register(Box::new(schedule_lag.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        let posture = posture::PostureMetrics::register(&registry)?;
        Ok(Metrics {
            registry,
            series: SeriesStore::new(),
            reload_ok,
            reload_timestamp,
            schedule_lag,
            in_flight,
            posture,
            shard_info,
            probes_configured,
            probes_owned,
        })
    }

    /// The registry of the agent's own families, where other sinks (alert delivery) register
    /// theirs.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The fleet figures after a (re)load: which shard this is, and how many probes the file
    /// has and this shard runs.
    pub fn fleet(&self, shard: Option<crate::shard::Shard>, configured: usize, owned: usize) {
        let shard = shard.unwrap_or(crate::shard::Shard { index: 0, count: 1 });
        self.shard_info.reset();
        self.shard_info
            .with_label_values(&[&shard.index.to_string(), &shard.count.to_string()])
            .set(1);
        self.probes_configured.set(configured as i64);
        self.probes_owned.set(owned as i64);
    }

    /// Records a (re)load: success sets the timestamp.
    pub fn config_loaded(&self, ok: bool) {
        self.reload_ok.set(i64::from(ok));
        if ok {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            self.reload_timestamp.set(now.as_secs_f64());
        }
    }

    /// Records one round of `probe` (one report per address).
    pub fn observe_round(
        &self,
        probe: &str,
        labels: &BTreeMap<String, String>,
        reports: &[ProbeReport],
    ) {
        self.series.observe_round(probe, labels, reports);
    }

    /// Keeps the per-address latency histograms or not (`[agent] histograms`).
    pub fn set_histograms(&self, on: bool) {
        self.series.set_histograms(on);
    }

    /// Forgets probes a reload removed.
    pub fn forget_probes(&self, removed: &[String]) {
        self.series.forget_probes(removed);
        self.posture.forget_probes(removed);
    }

    /// The agent's own families (small), in text form: the start of /metrics.
    pub fn render_agent(&self) -> String {
        family::encode(&self.registry.gather())
    }

    /// Appends one chunk of per-address family `family`: up to [`SERIES_CHUNK_PROBES`] probes
    /// after `after`; returns the last probe rendered, or None when the family is complete.
    pub fn render_series_chunk(
        &self,
        family: usize,
        after: Option<&str>,
        out: &mut String,
    ) -> Option<String> {
        if !self.series.family_enabled(family) {
            return None;
        }
        if after.is_none() {
            series::family_header(family, out);
        }
        self.series
            .render_chunk(family, after, SERIES_CHUNK_PROBES, out)
    }

    /// The text exposition for /metrics in pieces: the agent's own families, then each
    /// per-address family a chunk of probes at a time, so a scrape never builds one giant
    /// string nor holds the series lock for long.
    pub fn pieces(&self) -> Pieces<'_> {
        Pieces {
            metrics: self,
            cursor: Cursor::Agent,
        }
    }

    /// The whole text exposition in one string (tests and small agents).
    pub fn render(&self) -> String {
        self.pieces().collect()
    }
}

/// Where [`Pieces`] is.
enum Cursor {
    Agent,
    Family(usize, Option<String>),
    Done,
}

/// The exposition piece by piece ([`Metrics::pieces`]).
pub struct Pieces<'a> {
    metrics: &'a Metrics,
    cursor: Cursor,
}

impl Iterator for Pieces<'_> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        match std::mem::replace(&mut self.cursor, Cursor::Done) {
            Cursor::Done => None,
            Cursor::Agent => {
                self.cursor = Cursor::Family(0, None);
                Some(self.metrics.render_agent())
            }
            Cursor::Family(family, after) => {
                let mut text = String::new();
                let rendered =
                    self.metrics
                        .render_series_chunk(family, after.as_deref(), &mut text);
                self.cursor = match rendered {
                    Some(last) => Cursor::Family(family, Some(last)),
                    None if family + 1 < SERIES_FAMILIES => Cursor::Family(family + 1, None),
                    None => Cursor::Done,
                };
                Some(text)
            }
        }
    }
}
