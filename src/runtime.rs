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

/// The file-descriptor limit before and after raising the soft limit to the hard one, so that
/// 100,000 probes (and the connections `concurrency` allows) never run short of descriptors
/// under a distribution's default soft limit of 1,024. None when the limit cannot be read or
/// changed.
pub fn raise_descriptor_limit() -> Option<(u64, u64)> {
    let (before, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?;
    let after = rlimit::increase_nofile_limit(u64::MAX).ok()?;
    Some((before, after))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_soft_descriptor_limit_reaches_the_hard_one() {
        let (before, after) = super::raise_descriptor_limit().expect("limits on Linux");
        let (soft, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).expect("limits");
        assert!(after >= before);
        assert_eq!(soft, after);
        assert_eq!(soft, hard);
    }
}
