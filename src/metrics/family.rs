//! Shared metric pieces: the latency histogram, and the text encoding of the registry's own
//! families.

use prometheus::proto::MetricFamily;

/// Bucket bounds for SMTP latencies: 1 ms to 30 s.
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

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
