//! The process's execution set-up: every command (`run`, `check`, `alert test`) runs on a
//! single-threaded tokio runtime.
//!
//! Probes are I/O-bound; a single thread wakes less often than a work-stealing pool (a wake-up
//! is the dominant cost of a plaintext probe on some kernels) and handles 10,000 probes at 30 s
//! with room to spare (see `cargo bench --bench agent`). Work that takes a core for a while
//! (a scrape's rendering, a reload) runs on a thread of its own at a lower priority
//! ([`in_background`]); the descriptor limit is raised here too.

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

/// How much less CPU a background thread asks for: nice 10 gets about a tenth of the share of
/// a thread at the default nice 0 when both want the same core.
const BACKGROUND_NICE: libc::c_int = 10;

/// Runs `work` on a thread of its own at a lower CPU priority and waits for it without
/// holding the event loop: for work that takes a core for a while and must not take the
/// probes' time (rendering a scrape, loading a reloaded configuration). On two cores, a
/// 100,000-probe scrape at the normal priority took schedule lag p99 from 5 to 23 ms (`cargo
/// bench --bench agent -- 100k`). `None` when no thread could be started or `work` panicked.
pub async fn in_background<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (done, result) = tokio::sync::oneshot::channel();
    // The work may start tasks (a reload starts new notifiers' workers): it runs inside the
    // caller's runtime, as tokio's own blocking threads do.
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _inside = runtime.enter();
            lower_this_threads_priority();
            let _ = done.send(work());
        })
        .ok()?;
    result.await.ok()
}

/// Lowers the calling thread's CPU priority (Linux: nice is per thread). Best effort: if it
/// cannot, the thread runs at the normal priority. A thread cannot raise its priority back
/// without privilege, so this is only for a thread made for the work.
fn lower_this_threads_priority() {
    // SAFETY: plain system calls on the calling thread's own id; no memory is shared.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, BACKGROUND_NICE);
    }
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

    #[test]
    fn a_background_thread_runs_at_a_lower_priority() {
        let nice = || {
            // SAFETY: reads the calling thread's own priority.
            unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::getpriority(libc::PRIO_PROCESS, tid)
            }
        };
        let before = nice();
        let runtime = super::single_threaded().expect("runtime");
        let inside = runtime
            .block_on(super::in_background("test-background", nice))
            .expect("ran");
        assert_eq!(inside, (before + super::BACKGROUND_NICE).min(19));
        assert_eq!(nice(), before, "only the calling thread changes");
    }

    #[test]
    fn background_work_can_start_tasks_on_the_callers_runtime() {
        let runtime = super::single_threaded().expect("runtime");
        let answer = runtime.block_on(async {
            let task = super::in_background("test-spawn", || tokio::spawn(async { 42 }))
                .await
                .expect("ran without panicking");
            task.await.expect("the task ran on the caller's runtime")
        });
        assert_eq!(answer, 42);
    }
}
