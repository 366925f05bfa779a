//! The process's heap allocator, chosen once by the command being run: jemalloc for the
//! long-running agent (`run`, `demo`), the C library's malloc for everything else (`check`,
//! `config check`, `alert test`, …).
//!
//! jemalloc wins where the process lives long: a probe makes many small, short-lived
//! allocations, and glibc's free-list coalescing showed up as about a tenth of the agent's CPU
//! (`cargo bench --bench agent`, README "Performance"; mimalloc was as fast but held 30 MiB
//! more at peak). A one-off `check` is the opposite case: it allocates a few hundred blocks
//! once, and jemalloc's first use of each size class (carving fresh slabs out of new 2 MiB
//! extents) cost it 100 page faults and about 0.3 ms of its 2 ms (`bench/check_vs_check_smtp.sh`).
//!
//! The choice is made at the first allocation, from the process's arguments, and never
//! changes, so every block is freed by the allocator that made it. The arguments come from the
//! C library's start-up: glibc passes `argc, argv, envp` to every `.init_array` function (Rust's
//! standard library reads its own `std::env::args` the same way), and that runs before the
//! first Rust allocation. Where they are not available the agent's allocator is used.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{c_char, c_int, CStr};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU8, Ordering};

use tikv_jemallocator::Jemalloc;

/// The commands that run for long and allocate per probe.
const LONG_RUNNING: [&[u8]; 2] = [b"run", b"demo"];

const UNDECIDED: u8 = 0;
const JEMALLOC: u8 = 1;
const SYSTEM: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);
static ARGV: AtomicPtr<*const c_char> = AtomicPtr::new(std::ptr::null_mut());
static ARGC: AtomicI32 = AtomicI32::new(0);

/// Keeps the process's arguments for [`decide`]; called by glibc before `main`.
extern "C" fn keep_arguments(argc: c_int, argv: *const *const c_char, _envp: *const *const c_char) {
    ARGC.store(argc, Ordering::Relaxed);
    ARGV.store(argv.cast_mut(), Ordering::Release);
}

// Only glibc passes the arguments to `.init_array` functions (as Rust's standard library
// relies on, under the same condition); elsewhere the hook is not registered, ARGV stays null
// and the agent's allocator is used.
#[used]
#[cfg_attr(
    all(target_os = "linux", target_env = "gnu"),
    link_section = ".init_array"
)]
static KEEP_ARGUMENTS: extern "C" fn(c_int, *const *const c_char, *const *const c_char) =
    keep_arguments;

/// Which allocator a process started as `arguments[0] arguments[1] …` uses.
pub fn long_running(command: Option<&[u8]>) -> bool {
    command.is_some_and(|command| LONG_RUNNING.contains(&command))
}

/// The first argument after the program's name, if glibc handed the arguments over.
fn command() -> Option<&'static [u8]> {
    let argv = ARGV.load(Ordering::Acquire);
    if argv.is_null() || ARGC.load(Ordering::Relaxed) < 2 {
        return None;
    }
    // SAFETY: glibc's argv: argc pointers to NUL-terminated strings that live as long as the
    // process, and argc ≥ 2 was checked.
    let first = unsafe { *argv.add(1) };
    if first.is_null() {
        return None;
    }
    // SAFETY: as above; a non-null element of argv is a NUL-terminated string.
    Some(unsafe { CStr::from_ptr(first) }.to_bytes())
}

fn decide() -> u8 {
    let choice = CHOICE.load(Ordering::Acquire);
    if choice != UNDECIDED {
        return choice;
    }
    let wanted = match ARGV.load(Ordering::Acquire).is_null() {
        // Not started by glibc's start-up: the safe general-purpose choice.
        true => JEMALLOC,
        false if long_running(command()) => JEMALLOC,
        false => SYSTEM,
    };
    // Whoever decides first wins; every caller computes the same answer anyway.
    match CHOICE.compare_exchange(UNDECIDED, wanted, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => wanted,
        Err(already) => already,
    }
}

/// The global allocator: jemalloc or the C library's malloc, as [`long_running`] decides.
pub struct ByCommand;

// SAFETY: each call goes to one of two sound allocators, and the same one for the whole life
// of the process (CHOICE is written once, before the first block exists).
unsafe impl GlobalAlloc for ByCommand {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match decide() {
            JEMALLOC => unsafe { Jemalloc.alloc(layout) },
            _ => unsafe { System.alloc(layout) },
        }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match decide() {
            JEMALLOC => unsafe { Jemalloc.alloc_zeroed(layout) },
            _ => unsafe { System.alloc_zeroed(layout) },
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match decide() {
            JEMALLOC => unsafe { Jemalloc.dealloc(ptr, layout) },
            _ => unsafe { System.dealloc(ptr, layout) },
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match decide() {
            JEMALLOC => unsafe { Jemalloc.realloc(ptr, layout, new_size) },
            _ => unsafe { System.realloc(ptr, layout, new_size) },
        }
    }
}

/// Which allocator this process uses ("jemalloc" or "system"), for tests and diagnostics.
pub fn in_use() -> &'static str {
    match decide() {
        JEMALLOC => "jemalloc",
        _ => "system",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_agent_commands_are_long_running() {
        assert!(long_running(Some(b"run")));
        assert!(long_running(Some(b"demo")));
        for other in [
            &b"check"[..],
            b"config",
            b"alert",
            b"man",
            b"completions",
            b"--help",
            b"",
        ] {
            assert!(!long_running(Some(other)), "{other:?}");
        }
        assert!(!long_running(None));
    }

    #[test]
    fn the_arguments_reach_the_decision_before_main() {
        // The test harness was started by glibc, so its arguments were kept before main, and
        // the decision follows its first argument (a test filter or an option here).
        assert!(!ARGV.load(Ordering::Acquire).is_null());
        assert!(ARGC.load(Ordering::Relaxed) >= 1);
        let expected = match long_running(command()) {
            true => "jemalloc",
            false => "system",
        };
        assert_eq!(in_use(), expected);
    }
}
