//! Shared metric pieces: the latency histogram, and small gauge families built by hand for
//! `/probe` answers (whose label sets depend on the request).

use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};

/// Bucket bounds for SMTP latencies: 1 ms to 30 s.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Label pairs in order.
pub type Labels = Vec<(String, String)>;

/// A cumulative histogram with [`LATENCY_BUCKETS`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hist {
    counts: [u64; LATENCY_BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Hist {
    /// Records one observation in seconds.
    pub fn observe(&mut self, seconds: f64) {
        for (bound, count) in LATENCY_BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Sum of observations.
    pub fn sum(&self) -> f64 {
        self.sum
    }

    /// (upper bound, cumulative count) per bucket, +Inf excluded.
    pub fn buckets(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        LATENCY_BUCKETS.iter().copied().zip(self.counts)
    }
}

fn labels(pairs: &Labels) -> Vec<LabelPair> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| {
            let mut l = LabelPair::default();
            l.set_name(k.clone());
            l.set_value(v.clone());
            l
        })
        .collect()
}

/// A family under construction.
pub struct Family {
    family: MetricFamily,
}

impl Family {
    /// An empty family of `kind`.
    pub fn new(name: &str, help: &str, kind: MetricType) -> Family {
        let mut family = MetricFamily::default();
        family.set_name(name.to_string());
        family.set_help(help.to_string());
        family.set_field_type(kind);
        Family { family }
    }

    /// Adds a gauge sample.
    pub fn gauge(&mut self, pairs: &Labels, value: f64) {
        let mut g = Gauge::default();
        g.set_value(value);
        let mut m = Metric::from_label(labels(pairs));
        m.set_gauge(g);
        self.family.mut_metric().push(m);
    }

    /// The family, or nothing when it has no samples (empty families are not exposed).
    pub fn finish(self) -> Option<MetricFamily> {
        (!self.family.get_metric().is_empty()).then_some(self.family)
    }
}

/// `labels` plus one more pair.
pub fn with(pairs: &Labels, key: &str, value: &str) -> Labels {
    let mut out = pairs.clone();
    out.push((key.to_string(), value.to_string()));
    out
}

/// Renders families in the Prometheus text format.
pub fn encode(families: &[MetricFamily]) -> String {
    use prometheus::Encoder;
    let mut buf = Vec::new();
    // Encoding into memory only fails on inconsistent families, which this module never builds.
    if let Err(e) = prometheus::TextEncoder::new().encode(families, &mut buf) {
        tracing::error!(error = %e, "cannot encode metrics");
    }
    String::from_utf8_lossy(&buf).into_owned()
}
