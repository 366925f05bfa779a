//! What the benchmark measures about itself: scrape size, CPU seconds and peak RSS.

use super::*;

/// One /metrics scrape as the HTTP handler streams it (chunk by chunk, each chunk dropped once
/// sent); returns the size of the whole answer.
pub(super) fn scrape_bytes(metrics: &Metrics) -> usize {
    metrics.pieces().map(|piece| piece.len()).sum()
}

/// jemalloc, counting the bytes allocated and not yet freed (one relaxed atomic add per call).
pub(super) struct Counting;

static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);
static PEAK: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE.fetch_add(by, std::sync::atomic::Ordering::Relaxed) + by;
    PEAK.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
}

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        grew(layout.size() as isize);
        unsafe { tikv_jemallocator::Jemalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size() as isize, std::sync::atomic::Ordering::Relaxed);
        unsafe { tikv_jemallocator::Jemalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        grew(new as isize - layout.size() as isize);
        unsafe { tikv_jemallocator::Jemalloc.realloc(ptr, layout, new) }
    }
}

/// The most heap bytes live at once so far, in MiB.
pub(super) fn peak_heap_mib() -> f64 {
    PEAK.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1048576.0
}

/// Heap bytes live now (as the program asked for them, before the allocator's overhead).
pub(super) fn live_heap() -> f64 {
    LIVE.load(std::sync::atomic::Ordering::Relaxed) as f64
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// User + system CPU of this process, from /proc (clock ticks of 1/100 s).
pub(super) fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_comm = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Peak resident set size (VmHWM) in KiB.
pub(super) fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

// ---- the fake servers (child process) ----
