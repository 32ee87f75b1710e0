//! The import run: open the steps, check them against each other and the journal, run them in
//! order, and begin and finish the run in the journal.
//!
//! Owns: [`run`] and the checks made before anything is sent (step order, lookups that
//! resolve, step identities the journal knows: entity, origin and key; a new source path is the
//! next version of the step). The options, errors and journal names are `job`'s (re-exported
//! here). A step's own work is in `step` and the files it names; the figures in `report`.
//! Must not hold per-row logic.

use std::time::Instant;

pub use super::job::{
    RunError, RunOptions, absolute_path, default_journal, journal_key, source_changed_advice,
};
use super::job::{canonical_source, step_label};
use super::ledger::RunJournal;
use super::parents::{KnownStep, bind_parents};
use super::prepare::Step;
use super::progress::Progress;
use super::report::{PlanRate, RunReport};
use super::sample::{Sample, SampleSize};
use super::step::{RunContext, StepRunner};
use super::steps::{OpenError, check_lookups_known, check_order, open_steps};
use super::stop::StepEnd;
use crate::journal::{self, StepSpec};
use crate::mapping::Diagnostics;
use crate::transport::Transport;

/// Runs every step in order. Returns the report; a portal refusal that stops the run is in
/// `report.stopped`, an interruption (Ctrl-C) in `report.interrupted`. The run has one stop
/// handle, the transport's [`Shutdown`](crate::transport::Shutdown): its first signal stops
/// reading and sending, its second abandons the request in flight.
pub async fn run(opts: &RunOptions, transport: &Transport, rate: PlanRate) -> Result<RunReport, RunError> {
    run_sampled(opts, transport, rate, None).await
}

/// [`run`], taking only the rows of a `--sample` (issue 21) when `sample` is given.
pub async fn run_sampled(
    opts: &RunOptions,
    transport: &Transport,
    rate: PlanRate,
    sample: Option<SampleSize>,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    // Every mapping is checked before anything is sent.
    let mut steps = match open_steps(&opts.mappings) {
        Ok(steps) => steps,
        Err(OpenError::Mapping(d)) => return Err(RunError::Mapping(d)),
        Err(OpenError::Source { error, .. }) => return Err(error.into()),
    };
    mapping_problems(check_order(&steps))?;
    let sample = match sample {
        Some(size) => Some(match Sample::of_mappings(size, &opts.mappings) {
            Ok(s) => s,
            Err(OpenError::Mapping(d)) => return Err(RunError::Mapping(d)),
            Err(OpenError::Source { error, .. }) => return Err(error.into()),
        }),
        None => None,
    };
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
    let known = match journal.reader() {
        Some(j) => j.steps()?.into_iter().map(|s| s.name).collect(),
        None => Vec::new(),
    };
    mapping_problems(check_lookups_known(&steps, &known))?;
    // Attached steps (comments, activities): their parents' entities, from the job or the journal.
    let recorded = match journal.reader() {
        Some(j) => j.steps()?,
        None => Vec::new(),
    };
    let recorded: Vec<KnownStep<'_>> =
        recorded.iter().map(|s| KnownStep { name: &s.name, entity: &s.entity }).collect();
    mapping_problems(bind_parents(&mut steps, &recorded))?;
    // After the parents are bound: a product-rows step's label names its parent's type.
    let moved = check_step_identities(&mut journal, &steps)?;
    let reads = crate::portal::Reads::new(std::sync::Arc::new(transport.clone()));
    // Requisite steps: each preset's ID by its name, read once (issue 20; exit 2 when unknown).
    super::record::bind_presets(&mut steps, &reads).await?;
    // Import steps: what the portal would refuse whole, before anything is written (exit 2).
    let import_notes =
        super::import_check::check_imports(&steps, journal.reader(), &reads, opts.dry_run).await?;
    // The portal's workflows on new items: read beside the first requests (it costs no time),
    // said as soon as it is known, attached to the summary at the end.
    let questions = super::import_check::automation_questions(&steps);
    let automation = tokio::spawn(super::import_check::automation_notes(questions, reads.clone()));
    let run_id = journal.begin_run(&opts.job, &opts.args_summary)?;
    // The HTML report's figures over time (issue 22): sampled once a second while the steps run.
    let sampler = crate::report::Sampler::start(transport);
    let progress = Progress::new(opts.progress_bars);
    let step_names: Vec<String> = steps.iter().map(|s| s.plan.name.clone()).collect();
    let mut report = RunReport {
        dry_run: opts.dry_run,
        journal: opts.journal.display().to_string(),
        ..Default::default()
    };
    let context = RunContext {
        reads: &reads,
        opts,
        progress: &progress,
        steps: &step_names,
        schema: schema.as_ref(),
        sample: sample.as_ref(),
    };
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
        for (_, note) in import_notes.iter().filter(|(name, _)| *name == step_report.step) {
            step_report.notes.push(note.clone());
        }
        report.steps.push(step_report);
        match StepEnd::of(result) {
            StepEnd::Next => {}
            StepEnd::Interrupted => {
                report.interrupted = true;
                break;
            }
            StepEnd::Stopped(s) => {
                report.stopped = Some(s);
                break;
            }
            StepEnd::Journal(e) => return Err(RunError::Journal(e)),
        }
    }
    if let Ok(notes) = automation.await {
        for (step, note) in notes {
            if let Some(r) = report.steps.iter_mut().find(|r| r.step == step) {
                r.notes.push(note);
            }
        }
    }
    progress.finish();
    report.set_figures(&transport.stats(), started.elapsed().as_secs_f64(), rate);
    // ...and kept with the run's final figures, so `b24import report` can render this run later.
    if let (RunJournal::Writing(j), Some(id)) = (&mut journal, run_id) {
        let settings = crate::report::settings_of(transport, rate, opts.batch_size);
        crate::report::store_run(j, id, &report, sampler.stop(), settings)?;
    }
    journal.finish_run(run_id, report.journal_outcome())?;
    Ok(report)
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
        let entity = step_label(&step.plan.target);
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
