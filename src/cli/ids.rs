//! `b24import ids`: source key -> portal ID for every imported row (what a migration needs
//! to fix up other systems).

use std::path::PathBuf;

use anyhow::Context as _;

use super::exit;
use super::journal_args::JournalArgs;

/// Options of `b24import ids`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub journal: JournalArgs,
    /// CSV to write: step, key, id (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Only this step.
    #[arg(long)]
    pub step: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if let Err(code) = super::output::check_or_exit("--out", Some(&args.out)) {
        return Ok(code);
    }
    let (_, journal) = match args.journal.open_existing() {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let mut out = csv::Writer::from_writer(super::output::open_out(&args.out)?);
    out.write_record(["step", "key", "id"])?;
    let mut n = 0;
    for step in journal.steps()? {
        if args.step.as_ref().is_some_and(|s| *s != step.name) {
            continue;
        }
        // Keys as users know them (`#7` for the row without a key on line 7), in that order.
        let mut ids: Vec<(String, u64)> = journal
            .ids(step.id)?
            .into_iter()
            .map(|(key, id)| (crate::journal::keys::shown(&key), id))
            .collect();
        ids.sort();
        for (key, id) in ids {
            out.write_record([step.name.as_str(), &super::csv_out::safe_cell(&key), &id.to_string()])?;
            n += 1;
        }
    }
    out.flush().with_context(|| format!("cannot write {}", super::output::shown(&args.out)))?;
    if super::output::is_stdout(&args.out) {
        eprintln!("{n} imported rows written to standard output");
    } else {
        outln!("{n} imported rows written to {}", args.out.display());
    }
    Ok(exit::OK)
}
