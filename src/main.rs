//! The `smtpwatch` binary: parse arguments, set up logging and TLS, dispatch, exit.

use std::process::ExitCode;

/// jemalloc instead of glibc's malloc: a probe makes many small, short-lived allocations
/// (reply lines, transcript entries, report fields), and glibc's free-list coalescing showed up
/// as about a tenth of the agent's CPU (`cargo bench --bench agent`, README "Performance").
/// mimalloc was as fast but held 30 MiB more at peak.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    ExitCode::from(smtpwatch::cli::main(std::env::args_os()))
}
