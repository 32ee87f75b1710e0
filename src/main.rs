//! The `b24import` binary: parse the command line, run it, map the outcome to an exit code.
//! Everything real lives in the library (`b24import::cli`).

use std::process::ExitCode;

fn main() -> ExitCode {
    b24import::cli::main()
}
