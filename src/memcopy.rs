//! `memcpy` and `memmove` for the static musl binary on x86-64 (`packaging/release-build.sh`).
//!
//! musl's x86-64 `memcpy` is `rep movsq` followed by a byte-at-a-time `movsb` loop for the
//! tail: the string instructions' start-up cost is paid on every call, and Rust calls it about
//! a thousand times per verified STARTTLS probe, mostly for a few dozen bytes (moved futures,
//! buffers, key material). In the agent's `/probe` benchmark it was 7 % of the agent's CPU
//! (`perf record`), the largest single user-space entry. Here copies of up to 64 bytes are
//! a few overlapping unaligned loads and stores; longer ones are one `rep movsb`, which every
//! x86-64 since 2013 (ERMSB) runs at full speed.
//!
//! Defining the two symbols in the binary keeps the linker from taking musl's from `libc.a`
//! (an archive member is only linked for a symbol still undefined). With glibc, whose string
//! functions are already tuned per CPU, nothing is exported: [`copy`] is only compiled, and
//! tested, there. The body has no loops, so the compiler cannot turn it back into a call to
//! `memcpy` (the recursion `#![no_builtins]` guards against in compiler-builtins).

#![cfg(target_arch = "x86_64")]

use std::arch::asm;

/// Copies `n` bytes from `src` to `dst`; the two may overlap.
///
/// # Safety
/// `src` must be valid for `n` bytes of reads and `dst` for `n` bytes of writes.
#[inline(always)]
pub unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) {
    // Up to 64 bytes every load comes before every store, which makes overlap harmless.
    unsafe {
        if n <= 16 {
            if n >= 8 {
                let head = src.cast::<u64>().read_unaligned();
                let tail = src.add(n - 8).cast::<u64>().read_unaligned();
                dst.cast::<u64>().write_unaligned(head);
                dst.add(n - 8).cast::<u64>().write_unaligned(tail);
            } else if n >= 4 {
                let head = src.cast::<u32>().read_unaligned();
                let tail = src.add(n - 4).cast::<u32>().read_unaligned();
                dst.cast::<u32>().write_unaligned(head);
                dst.add(n - 4).cast::<u32>().write_unaligned(tail);
            } else if n >= 2 {
                let head = src.cast::<u16>().read_unaligned();
                let tail = src.add(n - 2).cast::<u16>().read_unaligned();
                dst.cast::<u16>().write_unaligned(head);
                dst.add(n - 2).cast::<u16>().write_unaligned(tail);
            } else if n == 1 {
                *dst = *src;
            }
            return;
        }
        if n <= 32 {
            let head = src.cast::<u128>().read_unaligned();
            let tail = src.add(n - 16).cast::<u128>().read_unaligned();
            dst.cast::<u128>().write_unaligned(head);
            dst.add(n - 16).cast::<u128>().write_unaligned(tail);
            return;
        }
        if n <= 64 {
            let a = src.cast::<u128>().read_unaligned();
            let b = src.add(16).cast::<u128>().read_unaligned();
            let c = src.add(n - 32).cast::<u128>().read_unaligned();
            let d = src.add(n - 16).cast::<u128>().read_unaligned();
            dst.cast::<u128>().write_unaligned(a);
            dst.add(16).cast::<u128>().write_unaligned(b);
            dst.add(n - 32).cast::<u128>().write_unaligned(c);
            dst.add(n - 16).cast::<u128>().write_unaligned(d);
            return;
        }
        let (to, from) = (dst as usize, src as usize);
        if to <= from || to >= from + n {
            // A forward copy is right unless the destination starts inside the source.
            asm!(
                "rep movsb",
                inout("rcx") n => _,
                inout("rdi") dst => _,
                inout("rsi") src => _,
                options(nostack, preserves_flags)
            );
        } else {
            // Moving a block up over itself (rare: an insertion near the front of a buffer)
            // copies from the end down; slower, but only this case pays for it.
            asm!(
                "std",
                "rep movsb",
                "cld",
                inout("rcx") n => _,
                inout("rdi") dst.add(n - 1) => _,
                inout("rsi") src.add(n - 1) => _,
                options(nostack)
            );
        }
    }
}

/// The C library's `memcpy`, for the static musl binary.
///
/// # Safety
/// As C's `memcpy`.
#[cfg(all(target_env = "musl", not(test)))]
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    unsafe { copy(dst, src, n) };
    dst
}

/// The C library's `memmove`, for the static musl binary (musl's calls into its `memcpy`).
///
/// # Safety
/// As C's `memmove`.
#[cfg(all(target_env = "musl", not(test)))]
#[no_mangle]
pub unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    unsafe { copy(dst, src, n) };
    dst
}

#[cfg(test)]
mod tests;
