//! `b24import report`: an earlier run of a journal as one self-contained HTML page, and the
//! page `run --report FILE.html` writes at the end of a run.
//!
//! Owns: choosing the journal and the run, and writing the page. What the page holds is
//! `crate::report`'s business; this reads the journal only (read-only, works while a run holds
//! it) and never contacts the portal.

use std::path::{Path, PathBuf};

use super::exit;
use super::journal_args::JournalArgs;
use crate::journal::Journal;
use crate::pipeline::RunReport;
use crate::report::{self, Figures};

/// Options of `b24import report`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
The page is one HTML file that opens from a mail attachment: inline style and SVG, no script,
nothing loaded from the network, light and dark schemes, prints on A4. It shows, in this order:
per step the rows read, created, updated, existing, rejected, unknown and skipped (numbers and a
bar); the run over time (items per second, requests in flight, limit refusals, operating time
against the budget, with the ideal pace of the wall that bound the run); the rejected rows
grouped by reason (error code and text), each group with its count, its first 20 rows (source
file and line, key, column and value) and what to do; the settings (plan, rate, batch size,
requests in flight, mappings, source fingerprints), credentials masked; what a re-run would do.

It is made from the journal alone: the run's figures and its samples (one a second, ten a second at first) are kept
there by `run`, so a nightly job's page can be made the next morning. Rejected rows are the
journal's as they are now. A run of an older version has no samples: the page says so.

Examples:
  b24import report --out last-night.html                   the last run of the default journal
  b24import report --job nightly --run 12 --out run12.html
  b24import report --journal imports/.b24import/import.sqlite --out report.html
  b24import run mappings/*.toml --webhook URL --report run.html   the same page at the end of a run")]
pub struct Args {
    #[command(flatten)]
    pub journal: JournalArgs,
    /// The run to show (its number, as `status` counts them); default: the last one.
    #[arg(long, value_name = "ID")]
    pub run: Option<i64>,
    /// The HTML file to write (`-`: standard output).
    #[arg(long, value_name = "FILE.html")]
    pub out: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if let Err(code) = super::output::check_or_exit("--out", Some(&args.out)) {
        return Ok(code);
    }
    if !super::output::is_stdout(&args.out) && !report::is_html(&args.out) {
        eprintln!(
            "error: --out {} : the report is an HTML page; give a file ending in .html (the JSON report is \
             `run --report FILE.json`)",
            args.out.display()
        );
        return Ok(exit::USAGE);
    }
    let (_, journal) = match args.journal.open_existing() {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let run = match report::find_run(&journal, args.run) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    let page = report::page_of_journal(&journal, &run)?;
    if super::output::is_stdout(&args.out) {
        outln!("{}", report::render(&page));
    } else {
        report::write(&page, &args.out)?;
        outln!("report of run {} written to {}", run.id.0, args.out.display());
    }
    Ok(exit::OK)
}

/// The page of the run that just ended (`run --report FILE.html`): the journal's record of it
/// when it wrote one (its samples and stored figures), else (a dry run, a run stopped before it
/// began) the report's own figures.
pub(super) fn write_run_page(r: &RunReport, path: &Path) -> anyhow::Result<()> {
    let journal = if r.dry_run { None } else { Journal::open_read_only(Path::new(&r.journal)).ok() };
    let mut figures = Figures::of(r, None);
    let mut run = None;
    if let Some(j) = &journal
        && let Ok(last) = report::find_run(j, None)
        && let Some(stored) = j.run_figures(last.id)?.and_then(|t| serde_json::from_str::<Figures>(&t).ok())
        // The journal's last run is this one only if it kept these very figures.
        && stored.requests == figures.requests
        && (stored.elapsed_secs - figures.elapsed_secs).abs() < 1e-6
    {
        figures.settings = stored.settings;
        run = Some(last);
    }
    let journal = journal.filter(|_| run.is_some());
    let page = report::run_page(journal.as_ref(), run.as_ref(), Some(&figures))?;
    report::write(&page, path)?;
    Ok(())
}
