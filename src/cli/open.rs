//! Opening a command's mappings the way every command does (`pipeline::open_steps`: every
//! mapping checked before any source is read), printing every problem at once.
//!
//! Owns: how an opening failure is shown and its exit code (2), for `validate` and `provision`.

use std::path::PathBuf;

use super::exit;
use crate::pipeline::{self, OpenError, Step};

/// The steps of `mappings`, or the exit code after every problem was printed; `nothing_done`
/// ends the last line ("nothing was validated", "nothing was sent").
pub fn steps_or_exit(mappings: &[PathBuf], nothing_done: &str) -> Result<Vec<Step>, u8> {
    match pipeline::open_steps(mappings) {
        Ok(steps) => Ok(steps),
        Err(OpenError::Source { error, diagnostics }) => {
            for d in &diagnostics.0 {
                eprintln!("error: {d}");
            }
            eprintln!("error: {error}");
            Err(exit::USAGE)
        }
        Err(OpenError::Mapping(diags)) => {
            for d in &diags.0 {
                eprintln!("error: {d}");
            }
            eprintln!("{} problem(s) in the mapping file(s); {nothing_done}.", diags.0.len());
            Err(exit::USAGE)
        }
    }
}
