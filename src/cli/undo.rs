//! `b24import undo` (issue 21): delete what b24import created in the portal.
//!
//! Owns: undo's flags (run's connection, pacing and journal flags, reused from `run`), its
//! summary (with where deleted items go: the portal's recycle bin), `--report`, and its exit
//! code (as `run`'s: 0 all undone, 1 some could not be, 2 usage, 3 the portal stopped it, 4 the
//! journal, 130 interrupted). The work is `pipeline::undo`. Must not decide what is deleted.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::exit;
use super::journal_args::JournalArgs;
use super::run::PortalArgs;
use crate::pipeline::undo::{UndoError, UndoOptions, UndoReport, UndoStepReport};

/// Where deleted items go, said in the summary and the README. The REST pages name the CRM
/// recycle bin only as a smart process's `isRecyclebinEnabled` flag (off unless set:
/// `api-reference/crm/universal/user-defined-object-types/crm-type-add.md`) and give no
/// retention period for CRM items (they give 30 days only for Drive files and Sites:
/// `api-reference/disk/file/index.md`), so the period is the portal's settings'.
pub const RECYCLE_BIN: &str = "deleted items go to the portal's recycle bin where it is on (CRM settings; for a \
     smart process its isRecyclebinEnabled flag) and can be restored there for as long as the portal's \
     recycle bin settings keep them (the REST documentation gives no period for CRM items); where it is off, \
     a delete is final";

/// Options of `b24import undo`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Deletes what b24import created (crm.item.delete), step by step in the reverse order of the
mappings (children before parents), batched and paced like a run. Items matched by duplicate
control (skip/merge/update), items updated by an upsert, and users (the portal cannot delete
them) are listed, never touched. Each undone row becomes `undone` in the journal; a later run
creates it again. A second undo sends nothing. Ctrl-C or a kill: run the same undo again.

Exit codes: 0 every row undone, 1 some could not be (refused, or their delete's outcome is
still unknown), 2 usage/mapping error, 3 the portal stopped it, 4 journal error, 130 stopped
by Ctrl-C (run again to continue).")]
pub struct Args {
    /// Mapping files of the job, in the order they were run (undone in reverse).
    #[arg(required = true, value_name = "MAPPING")]
    pub mappings: Vec<PathBuf>,
    #[command(flatten)]
    pub portal: PortalArgs,
    #[command(flatten)]
    pub journal: JournalArgs,
    /// Only what this run created (repeatable; run IDs as the journal numbers them).
    #[arg(long = "run", value_name = "ID")]
    pub runs: Vec<i64>,
    /// Only this step (repeatable).
    #[arg(long = "step", value_name = "NAME")]
    pub steps: Vec<String>,
    /// Deletes per batch request, 1 to 50.
    #[arg(
        long,
        default_value_t = 50,
        value_name = "N",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=50)
    )]
    pub batch_size: usize,
    /// Say what would be deleted; send nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the undo's report as JSON to this file (checked before anything is sent).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if let Err(code) = super::output::check_or_exit("--report", args.report.as_deref()) {
        return Ok(code);
    }
    let journal = args.journal.path(args.mappings.first().map(PathBuf::as_path));
    let pace = super::run::pace_job(&format!("{} (undo)", args.journal.job), &journal);
    let transport = match args.portal.transport_for_job(&journal.with_extension("refresh-token"), pace) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(exit::USAGE);
        }
    };
    let opts = UndoOptions {
        mappings: args.mappings.clone(),
        journal,
        job: args.journal.job.clone(),
        runs: args.runs.clone(),
        steps: args.steps.clone(),
        dry_run: args.dry_run,
        batch_size: args.batch_size,
        args_summary: summary_of(&args),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(async {
        let watcher = super::run::stop_watcher(&transport);
        let out = crate::pipeline::undo::undo(&opts, &transport).await;
        watcher.abort();
        out
    });
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    finish(outcome, args.report.as_deref())
}

fn finish(outcome: Result<UndoReport, UndoError>, report_path: Option<&Path>) -> anyhow::Result<u8> {
    let report = match outcome {
        Ok(r) => r,
        Err(UndoError::Mapping(d)) => {
            for x in &d.0 {
                eprintln!("error: {x}");
            }
            eprintln!("{} problem(s) in the mapping file(s); nothing was sent.", d.0.len());
            return Ok(exit::USAGE);
        }
        Err(UndoError::Usage(e)) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
        Err(UndoError::Journal(e)) => {
            eprintln!("error: {e}");
            return Ok(exit::JOURNAL);
        }
    };
    print_summary(&report);
    if let Some(path) = report_path {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("cannot write the report {}", path.display()))?;
    }
    Ok(if let Some(reason) = &report.stopped {
        eprintln!("error: stopped: {reason}");
        exit::PORTAL
    } else if report.interrupted {
        exit::INTERRUPTED
    } else if report.not_undone() > 0 {
        exit::ROWS_REJECTED
    } else {
        exit::OK
    })
}

fn print_summary(r: &UndoReport) {
    if r.dry_run {
        outln!("dry run: nothing was deleted and nothing was written to the journal");
        for run in &r.runs {
            outln!("run {run}");
        }
    }
    for s in &r.steps {
        outln!("{:<12} {:<10} {}", s.step, s.entity, step_line(s, r.dry_run));
        for f in &s.failed {
            outln!("{:<12} not undone: {} (id {}): {}: {}", "", f.key, f.id, f.code, f.text);
        }
        for n in &s.notes {
            outln!("{:<12} note: {n}", "");
        }
    }
    if r.steps.is_empty() {
        outln!("nothing to undo: the journal has none of these steps");
    }
    outln!("{} requests, elapsed {:.1}s", r.requests, r.elapsed_secs);
    if r.steps.iter().any(|s| s.undone() > 0 || s.would_delete > 0) {
        outln!("note: {RECYCLE_BIN}");
    }
    outln!("journal: {}", r.journal);
}

/// One step's figures, every one of them, in a fixed order (scripts may split on ", ").
fn step_line(s: &UndoStepReport, dry_run: bool) -> String {
    let mut line = if dry_run {
        format!("{} would be deleted", s.would_delete)
    } else {
        format!(
            "{} deleted, {} already gone, {} not undone, {} unknown",
            s.deleted,
            s.already_gone,
            s.failed.len(),
            s.unknown
        )
    };
    line.push_str(&format!(
        ", {} undone before, {} left alone (not created by b24import)",
        s.undone_before, s.left_alone
    ));
    if s.users_left > 0 {
        line.push_str(&format!(", {} users left (the portal cannot delete users)", s.users_left));
    }
    line
}

/// The command line as recorded in the journal (no secrets).
fn summary_of(args: &Args) -> String {
    let mut parts: Vec<String> = vec!["undo".into()];
    parts.extend(args.mappings.iter().map(|m| m.display().to_string()));
    if let Some(w) = &args.portal.webhook {
        parts.push(format!("--webhook {}", crate::transport::client::redact_url(w)));
    }
    parts.extend(args.runs.iter().map(|r| format!("--run {r}")));
    parts.extend(args.steps.iter().map(|s| format!("--step {s}")));
    if args.dry_run {
        parts.push("--dry-run".into());
    }
    parts.join(" ")
}
