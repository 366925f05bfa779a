//! A bump allocator for one-off commands: one anonymous mapping, reserved at the first
//! allocation, handed out front to back and never returned to the kernel.
//!
//! A one-off `check` allocates a few hundred blocks and exits. musl's malloc (the shipped
//! binary's C library) maps and unmaps small regions as it goes: 40 `mmap`/`munmap` calls, a
//! tenth of a plaintext check's CPU. Here a block costs an add and a compare, and the pages
//! touched are as few as the bytes allocated allow. Freeing the most recent block (a common
//! pattern: temporary buffers, a `Vec` that grows) gives its space back; other frees are no-ops,
//! so the arena is capped ([`ARENA_BYTES`]) and, once full or where the kernel refuses the
//! mapping, every further block comes from the C library's malloc. Blocks are told apart by
//! address, so each is freed by the allocator that made it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Address space reserved (not committed: pages are backed only when touched). A one-off check
/// touches well under 1 MiB; `config check` of a 100,000-probe file outgrows it and continues
/// in the C library's malloc.
pub const ARENA_BYTES: usize = 64 << 20;

const UNRESERVED: usize = 0;
/// `start` when the kernel refused the mapping: every block comes from the C library.
const REFUSED: usize = usize::MAX;

/// The arena: `[start, start + ARENA_BYTES)`, with the next free byte at `top`; no byte at or
/// above `fresh` was ever handed out, so those are still the kernel's zeros.
pub struct Arena {
    start: AtomicUsize,
    top: AtomicUsize,
    fresh: AtomicUsize,
}

impl Arena {
    pub const fn new() -> Self {
        Self {
            start: AtomicUsize::new(UNRESERVED),
            top: AtomicUsize::new(UNRESERVED),
            fresh: AtomicUsize::new(UNRESERVED),
        }
    }

    /// The arena's first address, reserving it on first use; `None` if it could not be.
    fn start(&self) -> Option<usize> {
        match self.start.load(Ordering::Acquire) {
            REFUSED => None,
            UNRESERVED => self.reserve(),
            start => Some(start),
        }
    }

    #[cold]
    fn reserve(&self) -> Option<usize> {
        // SAFETY: a fresh private anonymous mapping, no address requested; the result is checked.
        let mapped = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ARENA_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        let wanted = match mapped == libc::MAP_FAILED {
            true => REFUSED,
            false => mapped as usize,
        };
        match self
            .start
            .compare_exchange(UNRESERVED, wanted, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                if wanted != REFUSED {
                    self.fresh.store(wanted, Ordering::Release);
                    self.top.store(wanted, Ordering::Release);
                }
                (wanted != REFUSED).then_some(wanted)
            }
            Err(other) => {
                // Another thread reserved first: give ours back, use theirs.
                if wanted != REFUSED {
                    // SAFETY: the mapping made above, unused and unpublished.
                    unsafe { libc::munmap(mapped, ARENA_BYTES) };
                }
                (other != REFUSED).then_some(other)
            }
        }
    }

    /// Whether `ptr` was handed out by the arena.
    fn owns(&self, ptr: *mut u8) -> bool {
        let start = self.start.load(Ordering::Acquire);
        let address = ptr as usize;
        start != UNRESERVED && start != REFUSED && (start..start + ARENA_BYTES).contains(&address)
    }

    /// A block from the arena, or null when it cannot hold one more.
    fn bump(&self, layout: Layout) -> *mut u8 {
        self.claim(layout).0
    }

    /// A block from the arena (null when it cannot hold one more) and how many of its first
    /// bytes were handed out before (the rest are zero).
    fn claim(&self, layout: Layout) -> (*mut u8, usize) {
        let Some(start) = self.start() else {
            return (std::ptr::null_mut(), 0);
        };
        let end = start + ARENA_BYTES;
        let mut top = self.top.load(Ordering::Relaxed);
        loop {
            // The top is wherever the last block ended; the start is page-aligned, so aligning
            // the address aligns the block.
            let Some(block) = top.checked_next_multiple_of(layout.align()) else {
                return (std::ptr::null_mut(), 0);
            };
            let Some(next) = block.checked_add(layout.size()).filter(|&next| next <= end) else {
                return (std::ptr::null_mut(), 0);
            };
            match self
                .top
                .compare_exchange_weak(top, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    // Raised after the claim and before the block is used, so whoever frees it
                    // and hands the space out again sees it as used.
                    let fresh = self.fresh.fetch_max(next, Ordering::AcqRel);
                    return (
                        block as *mut u8,
                        fresh.saturating_sub(block).min(layout.size()),
                    );
                }
                Err(moved) => top = moved,
            }
        }
    }
}

impl Drop for Arena {
    /// Only an arena that is not the process's allocator is ever dropped (in tests); its blocks
    /// must be gone by then, as for any allocator.
    fn drop(&mut self) {
        let start = *self.start.get_mut();
        if start != UNRESERVED && start != REFUSED {
            // SAFETY: the mapping `reserve` made, no longer used.
            unsafe { libc::munmap(start as *mut libc::c_void, ARENA_BYTES) };
        }
    }
}

impl Default for Arena {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: blocks from the arena never overlap (each is a distinct range claimed by a successful
// compare-and-swap of `top`) and lie inside one mapping that lives as long as the process;
// blocks it cannot hold come from the C library's malloc, and frees are routed by address.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let block = self.bump(layout);
        match block.is_null() {
            true => unsafe { System.alloc(layout) },
            false => block,
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // Only space handed out before (and given back) needs zeroing: the rest is untouched
        // since the kernel mapped it, and stays unbacked until used.
        let (block, used_before) = self.claim(layout);
        if block.is_null() {
            return unsafe { System.alloc_zeroed(layout) };
        }
        unsafe { block.write_bytes(0, used_before) };
        block
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !self.owns(ptr) {
            return unsafe { System.dealloc(ptr, layout) };
        }
        // The most recent block gives its space back; if another block was claimed since, the
        // swap fails and the space stays claimed (a leak bounded by the arena).
        let end = ptr as usize + layout.size();
        let _ = self
            .top
            .compare_exchange(end, ptr as usize, Ordering::AcqRel, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let start = ptr as usize;
        let end = start + layout.size();
        // The most recent block grows or shrinks where it is.
        if let Some(new_end) = start
            .checked_add(new_size)
            .filter(|&new_end| new_end <= self.start.load(Ordering::Acquire) + ARENA_BYTES)
        {
            if self
                .top
                .compare_exchange(end, new_end, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return ptr;
            }
        }
        if new_size <= layout.size() {
            return ptr; // shrinking in place: the tail is simply not used
        }
        // SAFETY (of the layout): the caller guarantees `new_size`, rounded up to the
        // alignment, does not overflow isize.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size());
                self.dealloc(ptr, layout);
            }
        }
        moved
    }
}

#[cfg(test)]
mod tests;
