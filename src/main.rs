//! The `smtpwatch` binary: parse arguments, set up logging and TLS, dispatch, exit.

use std::process::ExitCode;

/// jemalloc for the agent, the C library's malloc for one-off commands: see
/// `smtpwatch::allocator`.
#[global_allocator]
static ALLOCATOR: smtpwatch::allocator::ByCommand = smtpwatch::allocator::ByCommand;

fn main() -> ExitCode {
    ExitCode::from(smtpwatch::cli::main(std::env::args_os()))
}
