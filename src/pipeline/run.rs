//! The import run: open the steps, check them against each other and the journal, run them in
//! order, and begin and finish the run in the journal.
//!
//! Owns: [`run`], [`RunOptions`], [`RunError`] (why a run could not proceed at all), the checks
//! made before anything is sent (step order, lookups that resolve, step identities the journal
//! knows: entity, origin and key; a new source path is the next version of the step) and the names a row and a step have in the journal ([`journal_key`], the entity
//! label). A step's own work is in `step` and the files it names; the figures in `report`.
//! Must not hold per-row logic.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::ledger::RunJournal;
use super::prepare::{Prepared, Step, StepError};
use super::progress::Progress;
use super::report::{PlanRate, RunReport};
use super::step::{RunContext, StepRunner, Stop};
use super::steps::{OpenError, check_lookups_known, check_order, open_steps};
use crate::journal::{self, JournalError, StepConflict, StepSpec};
use crate::mapping::{Diagnostics, Entity, Mode};
use crate::source::SourceError;
use crate::transport::Transport;

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Mapping files, run as steps in this order.
    pub mappings: Vec<PathBuf>,
    pub journal: PathBuf,
    /// Job name recorded in the journal.
    pub job: String,
    /// Commands per batch (at most 50; user steps use at most 10: each `user.add` sends an
    /// invitation and is slow).
    pub batch_size: usize,
    /// Read the portal, never write to it, and write nothing to the journal.
    pub dry_run: bool,
    /// The command line without secrets, recorded in the journal.
    pub args_summary: String,
    /// Show progress bars (stderr is a terminal) or plain log lines.
    pub progress_bars: bool,
}

impl RunOptions {
    /// A writing run of `mappings` as job `job`: full batches of 50, no progress bars, the job
    /// name as the recorded command line. Callers change what differs with struct update syntax.
    pub fn new(mappings: Vec<PathBuf>, journal: PathBuf, job: &str) -> RunOptions {
        RunOptions {
            mappings,
            journal,
            job: job.to_string(),
            batch_size: 50,
            dry_run: false,
            args_summary: job.to_string(),
            progress_bars: false,
        }
    }
}

/// Why a run could not proceed at all (as opposed to rejected rows, which are data).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Mapping(Diagnostics),
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("{0}")]
    Journal(#[from] JournalError),
    /// A step name the journal knows with another entity or source (exit 2).
    #[error("{0}")]
    StepConflict(Box<StepConflict>),
    /// The portal lacks what a mapping declares (exit 2): `b24import provision` makes it.
    #[error("{0}")]
    NotProvisioned(String),
    /// The portal's schema could not be read (exit 2).
    #[error("{0}")]
    Schema(crate::schema::SchemaError),
}

impl From<StepConflict> for RunError {
    fn from(c: StepConflict) -> Self {
        RunError::StepConflict(Box::new(c))
    }
}

impl From<StepError> for RunError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::Mapping(d) => RunError::Mapping(d),
            StepError::Source(s) => RunError::Source(s),
        }
    }
}

/// Runs every step in order. Returns the report; a portal refusal that stops the run is in
/// `report.stopped`, an interruption (Ctrl-C) in `report.interrupted`. The run has one stop
/// handle, the transport's [`Shutdown`](crate::transport::Shutdown): its first signal stops
/// reading and sending, its second abandons the request in flight.
pub async fn run(opts: &RunOptions, transport: &Transport, rate: PlanRate) -> Result<RunReport, RunError> {
    let started = Instant::now();
    // Every mapping is checked before anything is sent.
    let mut steps = match open_steps(&opts.mappings) {
        Ok(steps) => steps,
        Err(OpenError::Mapping(d)) => return Err(RunError::Mapping(d)),
        Err(OpenError::Source { error, .. }) => return Err(error.into()),
    };
    mapping_problems(check_order(&steps))?;
    // The portal's schema, read before anything is written, when a step needs it (issue 10).
    let schema = match super::steps::run_preflight(&mut steps, transport).await? {
        Ok(schema) => schema,
        Err(e) => {
            let report = RunReport {
                dry_run: opts.dry_run,
                journal: opts.journal.display().to_string(),
                stopped: Some(e.into()),
                ..Default::default()
            };
            return Ok(report);
        }
    };
    let mut journal = RunJournal::open(opts)?;
    let moved = check_step_identities(&mut journal, &steps)?;
    let known = match journal.reader() {
        Some(j) => j.steps()?.into_iter().map(|s| s.name).collect(),
        None => Vec::new(),
    };
    mapping_problems(check_lookups_known(&steps, &known))?;
    let run_id = journal.begin_run(&opts.job, &opts.args_summary)?;
    let progress = Progress::new(opts.progress_bars);
    let step_names: Vec<String> = steps.iter().map(|s| s.plan.name.clone()).collect();
    let mut report = RunReport {
        dry_run: opts.dry_run,
        journal: opts.journal.display().to_string(),
        ..Default::default()
    };
    let reads = crate::portal::Reads::new(std::sync::Arc::new(transport.clone()));
    let context =
        RunContext { reads: &reads, opts, progress: &progress, steps: &step_names, schema: schema.as_ref() };
    for (order, step) in steps.into_iter().enumerate() {
        if transport.shutdown().is_stopped() {
            report.interrupted = true;
            break;
        }
        let (mut runner, rows) = StepRunner::new(step, order, &mut journal, context)?;
        let result = runner.run(rows).await;
        let mut step_report = runner.take_report();
        if let Some((_, note)) = moved.iter().find(|(name, _)| *name == step_report.step) {
            step_report.notes.insert(0, note.clone());
        }
        report.steps.push(step_report);
        match result {
            Ok(()) => {}
            // Ctrl-C / SIGTERM reached the transport in a wait or a request: not a portal failure.
            Err(Stop::Portal(e)) if e.is_interrupted() => {
                report.interrupted = true;
                break;
            }
            Err(Stop::Portal(e)) => {
                report.stopped = Some(e.into());
                break;
            }
            Err(Stop::Interrupted) => {
                report.interrupted = true;
                break;
            }
            Err(Stop::Journal(e)) => return Err(RunError::Journal(e)),
        }
    }
    progress.finish();
    report.set_figures(&transport.stats(), started.elapsed().as_secs_f64(), rate);
    journal.finish_run(run_id, report.journal_outcome())?;
    Ok(report)
}

/// The journal's entity label of a step (`contact`, `spa:1032`).
pub(super) fn entity_label(entity: Entity) -> String {
    match entity {
        Entity::Crm(id) if !Entity::is_builtin_type_id(id) => format!("spa:{id}"),
        other => other.name(),
    }
}

/// The source as the journal records it: absolute, links resolved (as given if that fails).
pub(super) fn canonical_source(step: &Step) -> PathBuf {
    std::fs::canonicalize(step.source_path()).unwrap_or_else(|_| step.source_path().clone())
}

/// The origin and key columns of `step`, as the journal records its identity.
fn identity_of(step: &Step) -> String {
    let keys: Vec<&str> =
        step.plan.key_columns.iter().filter_map(|&i| step.plan.headers.get(i)).map(String::as_str).collect();
    journal::step_identity(&step.plan.target.origin, &keys)
}

/// Every step must mean what the journal says it meant (same entity, origin and key) before
/// anything is written; a writing run then records the identities. The source may have moved
/// (tonight's file with the date in its name): `(step name, "source now X (was Y)")` per step
/// whose source changed path.
fn check_step_identities(
    journal: &mut RunJournal,
    steps: &[Step],
) -> Result<Vec<(String, String)>, RunError> {
    let Some(reader) = journal.reader() else { return Ok(Vec::new()) };
    let mut moved = Vec::new();
    for (order, step) in steps.iter().enumerate() {
        let entity = entity_label(step.plan.target.entity);
        let source = canonical_source(step);
        let spec = StepSpec {
            name: &step.plan.name,
            mapping_path: &step.file.path,
            entity: &entity,
            order: order as i64,
            source: &source,
            source_sha256: None,
        };
        if let Some(previous) = reader.check_step(&spec, &identity_of(step))?? {
            let note = format!("source now {} (was {previous})", source.display());
            moved.push((step.plan.name.clone(), note));
        }
    }
    if let RunJournal::Writing(j) = journal {
        for step in steps {
            j.record_step_identity(&step.plan.name, &identity_of(step))?;
        }
    }
    Ok(moved)
}

/// `Ok` when there are no problems, else the run stops before sending anything (exit 2).
fn mapping_problems(diags: Diagnostics) -> Result<(), RunError> {
    if diags.is_empty() { Ok(()) } else { Err(RunError::Mapping(diags)) }
}

/// The key a row is kept under in the journal, as text ([`journal::RowKey::encode`]): its
/// source key; a repeat of a key seen earlier in the file by that key and its line; a row
/// without a key by its line (shown `key#dup@line` and `#line`; a source key `#7` stays apart
/// from line 7). `rejects` pairs journal rows with source rows through this same function.
pub fn journal_key(p: &Prepared) -> String {
    let repeat = matches!(&p.outcome, Err(issues) if issues.iter().any(|i| i.code == crate::mapping::Problem::DuplicateKey));
    crate::journal::keys::row_key(&p.key, p.record.row.line, repeat)
}

/// What a run does with a source that changed since the journal recorded it, and what to do
/// about it. Never suggests a new journal: in `create` mode that would create every row again.
pub fn source_changed_advice(mode: Mode) -> &'static str {
    match mode {
        Mode::Create => {
            "rows already done are not sent again and rows with new keys are created; changed rows \
             are not updated in mode = \"create\": to update them, set mode = \"upsert\" in [target] \
             and run again with this journal (a new journal would create every row a second time)"
        }
        Mode::Upsert => "rows already done are updated where they changed; rows with new keys are created",
        Mode::Update => "rows already done are updated where they changed; nothing is created",
    }
}

/// `path` made absolute (symlinks resolved when it exists), so that the journal finds the
/// mapping again from any working directory.
pub fn absolute_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).or_else(|_| std::path::absolute(path)).unwrap_or_else(|_| path.to_path_buf())
}

/// The default journal of a run: `<first mapping's dir>/.b24import/<job>.sqlite`.
pub fn default_journal(first_mapping: &Path, job: &str) -> PathBuf {
    journal::default_path(first_mapping, job)
}
