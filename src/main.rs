//! The `smtpwatch` binary: parse arguments, set up logging and TLS, dispatch, exit.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(smtpwatch::cli::main(std::env::args_os()))
}
