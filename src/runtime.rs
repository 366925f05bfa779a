//! The one async runtime builder: every command (`run`, `check`, `alert test`) runs on a
//! single-threaded tokio runtime.
//!
//! Probes are I/O-bound; a single thread wakes less often than a work-stealing pool (a wake-up
//! is the dominant cost of a plaintext probe on some kernels) and handles 10,000 probes at 30 s
//! with room to spare (see `cargo bench --bench agent`). Blocking work (configuration reloads)
//! goes to tokio's blocking pool.

/// A runtime that could not be started.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the async runtime: {0}")]
pub struct RuntimeError(#[from] std::io::Error);

/// The single-threaded runtime with I/O and timers.
pub fn single_threaded() -> Result<tokio::runtime::Runtime, RuntimeError> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}
