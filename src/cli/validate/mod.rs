//! `b24import validate`: check of mappings and their sources, offline or against the portal.
//!
//! Reads every row, builds every payload, and reports which rows would import and why the
//! others would not. Offline (the default) it never opens a network connection. With
//! `--online` it also reads the portal (never writes): the schema gaps of each step
//! (`schema::Gap`: what `provision` would still do counts as a problem, exit 2), and per row the
//! labels not in the portal's lists and the users not found by e-mail (exit 1, rows in
//! `--rejects`). An online check reads each source up to three times (labels, e-mails, rows),
//! and once more when a mapping has `on_duplicate` (a read-only dry run counts the rows that
//! would match items the portal already holds).
//!
//! Split by role: this file (the options, the order of work, one step's rows), `online` (what
//! `--online` reads and checks), `summary` (what is found and how it is shown).

mod online;
// issue 22: `--report FILE.html`.
mod report;
mod summary;

use online::{OnlineStep, duplicate_counts, online_issues, read_online};
use summary::{PortalProblem, Progress, StepSummary, print_text, problem};

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::csv_out::{RejectsWriter, per_step_path};
use super::exit;
use crate::pipeline::{self, Step};
use crate::schema::Gap;

/// Options of `b24import validate`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Examples:
  b24import validate mappings/contacts.toml
  b24import validate mappings/*.toml --emit payloads.jsonl --rejects rejects.csv
  b24import validate mappings/deals.toml --json
  b24import validate mappings/projects.toml --online --webhook https://portal/rest/1/code/

Exit codes: 0 every row is valid (--online: and the portal is ready for every row), 1 some rows
are invalid, 2 a mapping or source cannot be used (--online: or the portal lacks something the
mappings need, including what `b24import provision` would create), 3 the portal cannot be read,
130 --online stopped by Ctrl-C or SIGTERM (at once, even mid-request).")]
pub struct Args {
    /// Mapping files (TOML), one per step, in the order the import would run them.
    #[arg(required = true, value_name = "MAPPING")]
    pub mappings: Vec<PathBuf>,
    /// Write one JSON line per valid row: {"row", "key", "method", "params"}.
    #[arg(long, value_name = "FILE")]
    pub emit: Option<PathBuf>,
    /// Write every invalid row (original columns + `_row`, `_error`) as UTF-8 CSV. With several
    /// mappings, the step name is added before the extension (rejects.contacts.csv).
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Print the summary as JSON on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// How many problems to print per step.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub max_problems: usize,
    /// Also read the portal (never write): schema gaps, labels not in its lists, users not
    /// found by e-mail.
    #[arg(long)]
    pub online: bool,
    /// Write a report of what was found: FILE.html is one self-contained page to open or mail
    /// (per step, invalid rows grouped by reason with their first rows and what to do, the
    /// notes); any other name gets the summary as JSON (as --json prints it).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Only the rows `run --sample N` (or P%) would take (issue 21): the others are counted,
    /// not checked.
    #[arg(long, value_name = "N|P%")]
    pub sample: Option<crate::pipeline::sample::SampleSize>,
    #[command(flatten)]
    pub portal: super::run::PortalArgs,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    // Output paths first: a typo must not cost a full read of every source.
    for (flag, path) in [("--emit", &args.emit), ("--rejects", &args.rejects), ("--report", &args.report)] {
        if let Err(code) = super::output::check_or_exit(flag, path.as_deref()) {
            return Ok(code);
        }
    }
    // Every mapping file is checked before any source is read, so all shape problems show at
    // once; the same opening and checks as `run` (`pipeline::open_steps`).
    let steps = match super::open::steps_or_exit(&args.mappings, "nothing was validated") {
        Ok(steps) => steps,
        Err(code) => return Ok(code),
    };
    let mut steps = steps;
    let online = if args.online {
        match read_online(&args, &mut steps) {
            Ok(o) => Some(o),
            Err(code) => return Ok(code),
        }
    } else {
        None
    };
    // Attached steps (comments, activities): their parent steps, given or in the job's journal.
    if let Err(code) = bind_parents_or_exit(&args, &mut steps) {
        return Ok(code);
    }
    let step_names: Vec<String> = steps.iter().map(|s| s.plan.name.clone()).collect();
    // Issue 21: the rows a sample run would take (the sources read once more).
    let sample = match args.sample.map(|size| pipeline::sample::Sample::of_mappings(size, &args.mappings)) {
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            let e = match e {
                pipeline::OpenError::Mapping(d) => d.to_string(),
                pipeline::OpenError::Source { error, .. } => error.to_string(),
            };
            eprintln!("error: --sample: {e}; nothing was validated");
            return Ok(exit::USAGE);
        }
        None => None,
    };
    let several = steps.len() > 1;
    let mut emit = match &args.emit {
        Some(p) => {
            Some(BufWriter::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?))
        }
        None => None,
    };
    let mut summaries = Vec::new();
    let mut fatal = None;
    for (i, step) in steps.into_iter().enumerate() {
        let rejects_path = args
            .rejects
            .as_ref()
            .map(|p| if several { per_step_path(p, &step.plan.name) } else { p.clone() });
        let online_step = online.as_ref().map(|o| OnlineStep {
            catalogue: o.catalogue.as_ref(),
            book: pipeline::steps::label_book(&o.schema, &step.plan),
            users: &o.users,
        });
        let gaps = online.as_ref().and_then(|o| o.gaps.get(i)).cloned().unwrap_or_default();
        match validate_step(
            step,
            &args,
            JobSteps { names: &step_names, sample: sample.as_ref() },
            emit.as_mut(),
            rejects_path.as_deref(),
            online_step,
            &gaps,
        ) {
            Ok(summary) => summaries.push(summary),
            Err(failed) => {
                let (summary, err) = *failed;
                summaries.push(summary);
                fatal = Some(err);
                break;
            }
        }
    }
    if let Some(w) = emit.as_mut() {
        w.flush().context("cannot write the --emit file")?;
    }
    if args.online && fatal.is_none() && !summaries.iter().any(|s| s.portal.iter().any(|p| !p.row_level)) {
        match duplicate_counts(&args) {
            Ok(figures) => {
                for (summary, (figures, rejects)) in summaries.iter_mut().zip(figures) {
                    summary.ambiguous_rejected = rejects && figures.as_ref().is_some_and(|f| f.ambiguous > 0);
                    summary.duplicates = figures;
                }
            }
            Err(code) => return Ok(code),
        }
    }
    let json = serde_json::json!({"steps": summaries, "ok": fatal.is_none() && summaries.iter().all(|s| s.invalid == 0)});
    if let Some(path) = &args.report {
        report::write(path, &summaries, &json, args.online)?;
    }
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print_text(&summaries, &args);
    }
    if let Some(err) = fatal {
        eprintln!("error: {err:#}");
        return Ok(exit::USAGE);
    }
    if summaries.iter().any(|s| s.portal.iter().any(|p| !p.row_level)) {
        eprintln!(
            "the portal is not ready for these mappings (see `portal` above); `b24import provision` makes what it can"
        );
        return Ok(exit::USAGE);
    }
    // Rows matching several existing items under `on_ambiguous = "reject"` would be rejected.
    let ambiguous = summaries.iter().any(|s| s.ambiguous_rejected);
    Ok(if summaries.iter().any(|s| s.invalid > 0) || ambiguous { exit::ROWS_REJECTED } else { exit::OK })
}

/// `mappings/../samples/x.csv` -> `samples/x.csv` (lexically, for display only).
fn tidy_path(path: &Path) -> String {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::ParentDir if out.file_name().is_some_and(|n| n != "..") => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.display().to_string()
}

/// The steps of the job being validated, and the rows a `--sample` would take (issue 21).
#[derive(Clone, Copy)]
struct JobSteps<'a> {
    names: &'a [String],
    sample: Option<&'a pipeline::sample::Sample>,
}

/// The summary, and the error that cut the step short, if any.
type StepResult = Result<StepSummary, Box<(StepSummary, anyhow::Error)>>;

fn validate_step(
    step: Step,
    args: &Args,
    job: JobSteps<'_>,
    mut emit: Option<&mut BufWriter<File>>,
    rejects_path: Option<&Path>,
    mut online: Option<OnlineStep<'_>>,
    gaps: &[Gap],
) -> StepResult {
    let JobSteps { names: step_names, sample } = job;
    let mut summary = StepSummary {
        portal: gaps
            .iter()
            .filter(|g| !g.is_note())
            .map(|g| PortalProblem {
                message: g.to_string(),
                provision: g.provision_fixes(),
                row_level: g.is_row_level(),
            })
            .collect(),
        step: step.plan.name.clone(),
        reasons: crate::report::Reasons::new(&step.plan.name),
        mapping: step.file.path.display().to_string(),
        source: tidy_path(step.source_path()),
        entity: step.plan.target.entity.name(),
        notes: step
            .plan
            .notes
            .iter()
            .cloned()
            .chain(gaps.iter().filter(|g| g.is_note()).map(|g| g.to_string()))
            .collect(),
        ..StepSummary::default()
    };
    let here = step_names.iter().position(|n| *n == step.plan.name).unwrap_or(0);
    for field in &step.plan.fields {
        if let Some(crate::mapping::Deferred::Lookup(target)) = &field.deferred {
            summary.notes.push(match step_names.iter().position(|n| n == target) {
                Some(there) if there > here => format!(
                    "field `{}`: IDs from step `{target}` are resolved at run time; `run` needs step `{target}` given before this one",
                    field.name
                ),
                Some(_) => format!("field `{}`: IDs from step `{target}` are resolved at run time", field.name),
                None => format!(
                    "field `{}`: step `{target}` is not among the mappings given ({}); its IDs come from the journal at run time, and `run` refuses a step the journal does not have",
                    field.name,
                    step_names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    let mut rejects = match rejects_path {
        Some(p) => match RejectsWriter::create(p, &step.plan.headers) {
            Ok(w) => Some(w),
            Err(e) => return Err(Box::new((summary, e))),
        },
        None => None,
    };
    let (plan, rows, bytes, size) = step.prepare();
    let progress = Progress::new(size, &summary.step);
    for item in rows {
        let mut prepared = match item {
            Ok(p) => p,
            Err(e) => {
                progress.finish();
                summary.stopped = Some(e.to_string());
                return Err(Box::new((summary, anyhow::Error::new(e))));
            }
        };
        summary.rows_read += 1;
        if let Some(s) = sample
            && !s.takes(&summary.step, &pipeline::run::journal_key(&prepared))
        {
            summary.not_sampled += 1;
            continue;
        }
        if let (Some(o), Ok(draft)) = (online.as_mut(), &prepared.outcome) {
            let issues = online_issues(&plan, draft, o);
            if !issues.is_empty() {
                prepared.outcome = Err(issues);
            }
        }
        match &prepared.outcome {
            Ok(cmd) => {
                summary.valid += 1;
                if let Some(w) = emit.as_deref_mut() {
                    let line = serde_json::json!({
                        "row": prepared.record.row.to_string(),
                        "key": prepared.key,
                        "method": cmd.method().as_str(),
                        "params": cmd.emit_params(),
                    });
                    if let Err(e) = serde_json::to_writer(&mut *w, &line)
                        .map_err(anyhow::Error::from)
                        .and_then(|_| w.write_all(b"\n").map_err(anyhow::Error::from))
                    {
                        return Err(Box::new((summary, e.context("cannot write the --emit file"))));
                    }
                }
            }
            Err(issues) => {
                summary.invalid += 1;
                for issue in issues {
                    *summary.errors_by_kind.entry(issue.code.to_string()).or_default() += 1;
                    report::add_issue(&mut summary.reasons, &prepared, issue);
                    if let Some(p) = summary.problems.iter_mut().find(|p| p.same(issue)) {
                        p.more += 1;
                    } else if summary.problems.len() < args.max_problems {
                        summary.problems.push(problem(&prepared.record.row.to_string(), issue));
                    }
                }
                if let Some(w) = rejects.as_mut()
                    && let Err(e) = w.write(&prepared.record, issues)
                {
                    return Err(Box::new((summary, e)));
                }
            }
        }
        if summary.rows_read.is_multiple_of(4096) {
            progress.update(bytes.get(), summary.rows_read);
        }
    }
    progress.finish();
    if sample.is_some() {
        summary.notes.push(format!(
            "sample: {} of {} row(s) would be taken (--sample); {} not in the sample",
            summary.rows_read - summary.not_sampled,
            summary.rows_read,
            summary.not_sampled
        ));
    }
    if let Some(w) = rejects
        && let Err(e) = w.finish()
    {
        return Err(Box::new((summary, e)));
    }
    Ok(summary)
}

/// Binds every attached step to its parent step (given, or recorded in the default journal of
/// the job, read only); each problem is printed with its place, exit 2.
fn bind_parents_or_exit(args: &Args, steps: &mut [pipeline::Step]) -> Result<(), u8> {
    use pipeline::parents::{KnownStep, bind_parents};
    if !steps.iter().any(|s| s.plan.target.parent.is_some()) {
        return Ok(());
    }
    let journal = args.mappings.first().map(|m| pipeline::run::default_journal(m, "import"));
    let recorded = journal
        .and_then(|p| crate::journal::Journal::open_read_only(&p).ok())
        .and_then(|j| j.steps().ok())
        .unwrap_or_default();
    let recorded: Vec<KnownStep<'_>> =
        recorded.iter().map(|s| KnownStep { name: &s.name, entity: &s.entity }).collect();
    let diags = bind_parents(steps, &recorded);
    if diags.is_empty() {
        return Ok(());
    }
    for d in &diags.0 {
        eprintln!("error: {d}");
    }
    eprintln!("{} problem(s) in the mapping file(s); nothing was validated.", diags.0.len());
    Err(exit::USAGE)
}
