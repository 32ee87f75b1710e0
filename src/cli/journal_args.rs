//! Which journal a command uses: `--journal` and `--job`, shared by `run`, `status`, `rejects`
//! and `ids` (and the demo), and the default path when `--journal` is not given.
//!
//! Owns only the choice of file and the read-only open of the commands that inspect a journal;
//! what is in the journal is `crate::journal`'s business.

use std::path::{Path, PathBuf};

use super::exit;
use crate::pipeline;

/// Which journal to use.
#[derive(Debug, clap::Args)]
pub struct JournalArgs {
    /// The journal file. Default: <first mapping's dir>/.b24import/<job>.sqlite; for status,
    /// rejects and ids: mappings/.b24import/<job>.sqlite if it exists, else .b24import/<job>.sqlite.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Job name: one journal per job.
    #[arg(long, default_value = "import")]
    pub job: String,
}

impl JournalArgs {
    /// Opens the journal `status`, `rejects` and `ids` read, read-only (no lock, no migration,
    /// no file created or changed); `Err` carries the exit code after the reason is printed:
    /// 4 for a missing journal too (like every other journal error).
    pub fn open_existing(&self) -> Result<(PathBuf, crate::journal::Journal), u8> {
        let path = self.path(None);
        match crate::journal::Journal::open_read_only(&path) {
            Ok(j) => Ok((path, j)),
            Err(e) => {
                eprintln!("error: {e}");
                Err(exit::JOURNAL)
            }
        }
    }

    /// `--journal`, else the default next to the first mapping; without mappings (status,
    /// rejects, ids), `mappings/.b24import/<job>.sqlite` if it exists, else `.b24import/<job>.sqlite`.
    pub fn path(&self, first_mapping: Option<&Path>) -> PathBuf {
        match (&self.journal, first_mapping) {
            (Some(p), _) => p.clone(),
            (None, Some(m)) => pipeline::run::default_journal(m, &self.job),
            (None, None) => {
                let in_mappings = pipeline::run::default_journal(Path::new("mappings/x.toml"), &self.job);
                if in_mappings.exists() {
                    in_mappings
                } else {
                    pipeline::run::default_journal(Path::new("x.toml"), &self.job)
                }
            }
        }
    }
}
