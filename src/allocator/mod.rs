//! The process's heap allocator, chosen once by the command being run: jemalloc for the
//! long-running agent (`run`, `demo`), a bump arena ([`arena`]) for everything else (`check`,
//! `config check`, `alert test`, …).
//!
//! jemalloc wins where the process lives long: a probe makes many small, short-lived
//! allocations, and glibc's free-list coalescing showed up as about a tenth of the agent's CPU
//! (`cargo bench --bench agent`, README "Performance"; mimalloc was as fast but held 30 MiB
//! more at peak). A one-off `check` is the opposite case: it allocates a few hundred blocks
//! once, and jemalloc's first use of each size class (carving fresh slabs out of new 2 MiB
//! extents) cost it 100 page faults and about 0.3 ms of its 2 ms (`bench/check_vs_check_smtp.sh`);
//! musl's malloc cost it 40 `mmap`/`munmap` calls.
//!
//! The choice is made at the first allocation, from the process's arguments, and never
//! changes, so every block is freed by the allocator that made it. glibc passes `argc, argv,
//! envp` to every `.init_array` function (Rust's standard library reads its own
//! `std::env::args` the same way), and that runs before the first Rust allocation. musl, which
//! the shipped binary is built on (`packaging/release-build.sh`), calls them without arguments,
//! so there the first allocation reads `/proc/self/cmdline` (three system calls, into a buffer
//! on the stack). Where neither gives the arguments the agent's allocator is used.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::{c_char, c_int};
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU8, Ordering};

use tikv_jemallocator::Jemalloc;

pub mod arena;

use self::arena::Arena;

/// The commands that run for long and allocate per probe.
const LONG_RUNNING: [&[u8]; 2] = [b"run", b"demo"];

const UNDECIDED: u8 = 0;
const JEMALLOC: u8 = 1;
const ARENA: u8 = 2;

static ONE_OFF: Arena = Arena::new();

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

/// The first argument after the program's name: `Some(None)` for a process started with no
/// argument, `None` when the arguments are unknown.
#[cfg(not(all(target_os = "linux", target_env = "musl")))]
fn with_command<R>(judge: impl FnOnce(Option<&[u8]>) -> R) -> Option<R> {
    let argv = ARGV.load(Ordering::Acquire);
    if argv.is_null() {
        return None; // not started by glibc's start-up
    }
    if ARGC.load(Ordering::Relaxed) < 2 {
        return Some(judge(None));
    }
    // SAFETY: glibc's argv: argc pointers to NUL-terminated strings that live as long as the
    // process, and argc ≥ 2 was checked.
    let first = unsafe { *argv.add(1) };
    if first.is_null() {
        return Some(judge(None));
    }
    // SAFETY: as above; a non-null element of argv is a NUL-terminated string.
    Some(judge(Some(
        unsafe { std::ffi::CStr::from_ptr(first) }.to_bytes(),
    )))
}

/// musl's start-up keeps no copy of argv that could be read before `main`, so the kernel's
/// is: `/proc/self/cmdline`, read without allocating (this runs inside the first allocation).
#[cfg(all(target_os = "linux", target_env = "musl"))]
fn with_command<R>(judge: impl FnOnce(Option<&[u8]>) -> R) -> Option<R> {
    let mut buffer = [0u8; 512];
    // SAFETY: a NUL-terminated path, a buffer of the length given, a descriptor closed once.
    let read = unsafe {
        let fd = libc::open(
            c"/proc/self/cmdline".as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        if fd < 0 {
            return None;
        }
        let read = libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len());
        libc::close(fd);
        read
    };
    let length = usize::try_from(read).ok()?;
    Some(judge(first_argument(buffer.get(..length)?)?))
}

/// The first argument in the kernel's NUL-separated command line: `Some(None)` when there is
/// none, `None` when the text is cut short before that argument's terminating NUL (a long
/// program path) and so proves nothing.
#[cfg_attr(not(all(target_os = "linux", target_env = "musl")), allow(dead_code))]
fn first_argument(cmdline: &[u8]) -> Option<Option<&[u8]>> {
    let program_end = cmdline.iter().position(|&byte| byte == 0)?;
    let rest = &cmdline[program_end + 1..];
    if rest.is_empty() {
        return Some(None);
    }
    let end = rest.iter().position(|&byte| byte == 0)?;
    Some(Some(&rest[..end]))
}

fn decide() -> u8 {
    let choice = CHOICE.load(Ordering::Acquire);
    if choice != UNDECIDED {
        return choice;
    }
    let wanted = match with_command(long_running) {
        // Arguments unknown: the safe general-purpose choice.
        None | Some(true) => JEMALLOC,
        Some(false) => ARENA,
    };
    // Whoever decides first wins; every caller computes the same answer anyway.
    match CHOICE.compare_exchange(UNDECIDED, wanted, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => wanted,
        Err(already) => already,
    }
}

/// The global allocator: jemalloc or the arena, as [`long_running`] decides.
pub struct ByCommand;

// SAFETY: each call goes to one of two sound allocators, and the same one for the whole life
// of the process (CHOICE is written once, before the first block exists).
unsafe impl GlobalAlloc for ByCommand {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match decide() {
            JEMALLOC => unsafe { Jemalloc.alloc(layout) },
            _ => unsafe { ONE_OFF.alloc(layout) },
        }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match decide() {
            JEMALLOC => unsafe { Jemalloc.alloc_zeroed(layout) },
            _ => unsafe { ONE_OFF.alloc_zeroed(layout) },
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match decide() {
            JEMALLOC => unsafe { Jemalloc.dealloc(ptr, layout) },
            _ => unsafe { ONE_OFF.dealloc(ptr, layout) },
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match decide() {
            JEMALLOC => unsafe { Jemalloc.realloc(ptr, layout, new_size) },
            _ => unsafe { ONE_OFF.realloc(ptr, layout, new_size) },
        }
    }
}

/// Which allocator this process uses ("jemalloc" or "arena"), for tests and diagnostics.
pub fn in_use() -> &'static str {
    match decide() {
        JEMALLOC => "jemalloc",
        _ => "arena",
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
    fn the_first_argument_is_read_from_the_kernels_command_line() {
        // (command line, first argument: None when unknown, Some(None) when there is none)
        type Case = (&'static [u8], Option<Option<&'static [u8]>>);
        let cases: [Case; 7] = [
            (
                b"/usr/bin/smtpwatch\0run\0--config\0x.toml\0",
                Some(Some(b"run")),
            ),
            (b"smtpwatch\0check\0", Some(Some(b"check"))),
            (b"smtpwatch\0", Some(None)),
            (b"smtpwatch\0\0", Some(Some(b""))),
            // Cut short by the buffer: nothing is proven, so the agent's allocator is used.
            (b"smtpwatch\0ru", None),
            (b"/a/very/long/program/pa", None),
            (b"", None),
        ];
        for (cmdline, expected) in cases {
            assert_eq!(first_argument(cmdline), expected, "{cmdline:?}");
        }
    }

    #[test]
    fn the_arguments_reach_the_decision_before_main() {
        // The test harness was started by glibc, so its arguments were kept before main, and
        // the decision follows its first argument (a test filter or an option here).
        assert!(!ARGV.load(Ordering::Acquire).is_null());
        assert!(ARGC.load(Ordering::Relaxed) >= 1);
        let expected = match with_command(long_running) {
            Some(false) => "arena",
            Some(true) | None => "jemalloc",
        };
        assert_eq!(in_use(), expected);
    }
}
