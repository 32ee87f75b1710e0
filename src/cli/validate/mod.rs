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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use std::collections::HashMap;
use std::sync::Arc;

use super::csv_out::{RejectsWriter, per_step_path};
use super::exit;
use crate::mapping::{MappingPlan, Pending, Problem as Kind, RowIssue};
use crate::payload::Draft;
use crate::pipeline::{self, Step};
use crate::schema::{Gap, LabelBook, PortalSchema, SchemaError};

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
    #[command(flatten)]
    pub portal: super::run::PortalArgs,
}

/// What validation found for one step (also the `--json` shape).
#[derive(Debug, Default, Serialize)]
struct StepSummary {
    step: String,
    mapping: String,
    source: String,
    entity: String,
    rows_read: u64,
    valid: u64,
    invalid: u64,
    errors_by_kind: BTreeMap<String, u64>,
    problems: Vec<Problem>,
    notes: Vec<String>,
    /// Why reading stopped before the end of the source (the rows after it were not read).
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<String>,
    /// `--online`: what the portal lacks for this step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    portal: Vec<PortalProblem>,
    /// `--online` with `on_duplicate`: the rows that would match items the portal already
    /// holds, by what the mode would do with them.
    #[serde(skip_serializing_if = "Option::is_none")]
    duplicates: Option<pipeline::DuplicateFigures>,
    /// Rows match several existing items under `on_ambiguous = "reject"`: they would be
    /// rejected (exit 1).
    #[serde(skip)]
    ambiguous_rejected: bool,
}

/// One schema gap of a step (`--online`).
#[derive(Debug, Serialize)]
struct PortalProblem {
    message: String,
    /// `b24import provision` would fix it.
    provision: bool,
    /// Only the rows using it are refused (exit 1), not the mapping (exit 2).
    row_level: bool,
}

/// What `--online` read, for checking each step's rows.
struct Online {
    schema: Arc<PortalSchema>,
    gaps: Vec<Vec<Gap>>,
    /// E-mail -> user ID, for every e-mail the rows name; `Err`: the lookup failed.
    users: Result<HashMap<String, u64>, String>,
}

/// One step's share of [`Online`].
struct OnlineStep<'a> {
    book: Option<LabelBook>,
    users: &'a Result<HashMap<String, u64>, String>,
}

#[derive(Debug, Serialize)]
struct Problem {
    row: String,
    column: Option<String>,
    value: Option<String>,
    code: String,
    message: String,
    /// Later rows with exactly this problem (one cause, e.g. a label the portal's list lacks):
    /// shown as one line with the count, not once per row.
    more: u64,
}

impl Problem {
    fn render(&self) -> String {
        let mut s = self.row.clone();
        if let Some(c) = &self.column {
            s.push_str("  ");
            s.push_str(c);
        }
        if let Some(v) = &self.value {
            s.push_str(&format!("  \"{}\"", v.replace('\n', "\\n")));
        }
        s.push_str("  ");
        s.push_str(&self.message);
        if self.more > 0 {
            s.push_str(&format!(" (and {} more row(s) with the same problem)", self.more));
        }
        s
    }

    fn same(&self, issue: &RowIssue) -> bool {
        self.column == issue.column
            && self.value == issue.value
            && self.code == issue.code.to_string()
            && self.message == issue.message
    }
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    // Output paths first: a typo must not cost a full read of every source.
    for (flag, path) in [("--emit", &args.emit), ("--rejects", &args.rejects)] {
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
    let step_names: Vec<String> = steps.iter().map(|s| s.plan.name.clone()).collect();
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
            book: pipeline::steps::label_book(&o.schema, &step.plan),
            users: &o.users,
        });
        let gaps = online.as_ref().and_then(|o| o.gaps.get(i)).cloned().unwrap_or_default();
        match validate_step(
            step,
            &args,
            &step_names,
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
    if args.json {
        let json = serde_json::json!({"steps": summaries, "ok": fatal.is_none() && summaries.iter().all(|s| s.invalid == 0)});
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

/// `--online` with `on_duplicate` in a mapping: what the run would find, from a dry run of
/// every step (read-only: `crm.duplicate.findbycomm` and the items it names; the default
/// journal, when it exists, is only read, so rows it knows are not counted, as in `run`).
/// One entry per step: its figures (`None` without a check), and whether ambiguous rows are
/// rejected. `Err` is the exit code.
type DuplicateCounts = Vec<(Option<pipeline::DuplicateFigures>, bool)>;

fn duplicate_counts(args: &Args) -> Result<DuplicateCounts, u8> {
    let steps = pipeline::open_steps(&args.mappings).map_err(|_| exit::USAGE)?;
    let rejects: Vec<bool> =
        steps.iter().map(|s| s.plan.duplicates.on_ambiguous == crate::mapping::OnAmbiguous::Reject).collect();
    if steps.iter().all(|s| s.plan.duplicates.on_duplicate == crate::mapping::OnDuplicate::Create) {
        return Ok(rejects.into_iter().map(|r| (None, r)).collect());
    }
    drop(steps);
    let first = args.mappings.first().map(PathBuf::as_path).unwrap_or(Path::new("."));
    let journal = pipeline::run::default_journal(first, "import");
    let transport = args.portal.transport(&super::run::default_token_file(&args.mappings)).map_err(|e| {
        eprintln!("error: {e:#}");
        exit::USAGE
    })?;
    let rate = args.portal.rate();
    let opts = pipeline::RunOptions {
        dry_run: true,
        args_summary: "validate --online".into(),
        ..pipeline::RunOptions::new(args.mappings.clone(), journal, "import")
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| {
        eprintln!("error: cannot start the async runtime: {e}");
        exit::USAGE
    })?;
    let rate = pipeline::PlanRate { per_second: rate.per_second, burst: rate.burst };
    let outcome = runtime.block_on(super::run::until_stopped(super::run::run_with(&opts, &transport, rate)));
    runtime.shutdown_timeout(Duration::from_millis(100));
    match outcome {
        None => Err(interrupted()),
        Some(Ok(report)) if report.interrupted => Err(interrupted()),
        Some(Ok(report)) => Ok(report
            .steps
            .into_iter()
            .zip(rejects)
            .map(|(s, r)| ((s.duplicates.rows_checked > 0).then_some(s.duplicates), r))
            .collect()),
        Some(Err(e)) => {
            eprintln!("error: the duplicate check could not be made: {e}");
            Err(exit::PORTAL)
        }
    }
}

/// Ctrl-C or SIGTERM stopped `--online`'s reads (at once, mid-request too): exit 130.
fn interrupted() -> u8 {
    eprintln!("interrupted: validate --online stopped before its reads were done; nothing was written");
    exit::INTERRUPTED
}

/// `--online`: reads the portal's schema (binding smart processes by title), compares every
/// step with it, and looks up the e-mails the rows name. `Err` is the exit code.
fn read_online(args: &Args, steps: &mut [Step]) -> Result<Online, u8> {
    let transport = match args.portal.transport(&super::run::default_token_file(&args.mappings)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Err(exit::USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Err(exit::USAGE);
        }
    };
    let result = runtime.block_on(super::run::until_stopped(async {
        let pre = pipeline::steps::preflight(steps, &transport, true).await?;
        let mut emails = std::collections::BTreeSet::new();
        for step in steps.iter() {
            emails.extend(pipeline::steps::used_emails(&step.plan)?);
        }
        let emails: Vec<String> = emails.into_iter().collect();
        let users = if emails.is_empty() {
            Ok(HashMap::new())
        } else {
            pipeline::steps::find_users(&transport, &emails).await.map_err(SchemaError::Transport)?
        };
        Ok::<_, pipeline::steps::PreflightError>(Online {
            schema: pre.schema,
            gaps: pre.steps.into_iter().map(|(_, g)| g).collect(),
            users,
        })
    }));
    runtime.shutdown_timeout(Duration::from_millis(100));
    let Some(result) = result else { return Err(interrupted()) };
    result.map_err(|e| {
        eprintln!("error: {e}");
        match e {
            pipeline::steps::PreflightError::Source(_) => exit::USAGE,
            pipeline::steps::PreflightError::Schema(_) => exit::PORTAL,
        }
    })
}

/// `--online`: the row's problems only the portal can show: labels not in its lists, users
/// not found by e-mail. Judged by the run's own rules (`pipeline::steps::{row_category,
/// label_value, user_value}`), so a row passed here resolves in the run with the same texts;
/// unlike the run, every problem of the row is listed, not only the first.
fn online_issues(plan: &MappingPlan, draft: &Draft, online: &mut OnlineStep<'_>) -> Vec<RowIssue> {
    use pipeline::steps::{label_value, row_category, user_value};
    let mut issues = Vec::new();
    let column = |field: &str| plan.fields.iter().find(|f| f.name == field).map(|f| f.label.clone());
    let category = match row_category(online.book.as_mut(), draft) {
        Ok(c) => c,
        Err((code, message)) => {
            issues.push(RowIssue { column: column("categoryId"), value: None, code, message });
            return issues;
        }
    };
    for p in draft.pending().iter().flat_map(|f| &f.values) {
        match p {
            Pending::Label { field, label } => {
                // No book: the smart process is missing, a schema gap that already says so.
                if let Some(book) = online.book.as_mut()
                    && let Err((code, message)) = label_value(book, field, label, category)
                {
                    issues.push(RowIssue {
                        column: column(field),
                        value: Some(label.clone()),
                        code,
                        message,
                    });
                }
            }
            Pending::User { email } => {
                let found = match online.users {
                    Ok(found) => Ok(found.get(email).copied()),
                    Err(e) => Err(e.as_str()),
                };
                if let Err((code, message)) = user_value(email, found) {
                    // A failed lookup is not the cell's fault: no column.
                    let column = (code != Kind::LookupFailed)
                        .then(|| {
                            plan.fields
                                .iter()
                                .find(|f| f.deferred == Some(crate::mapping::Deferred::UserByEmail))
                                .map(|f| f.label.clone())
                        })
                        .flatten();
                    issues.push(RowIssue { column, value: Some(email.clone()), code, message });
                }
            }
            Pending::Lookup { .. } => {}
        }
    }
    issues
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

/// The summary, and the error that cut the step short, if any.
type StepResult = Result<StepSummary, Box<(StepSummary, anyhow::Error)>>;

fn validate_step(
    step: Step,
    args: &Args,
    step_names: &[String],
    mut emit: Option<&mut BufWriter<File>>,
    rejects_path: Option<&Path>,
    mut online: Option<OnlineStep<'_>>,
    gaps: &[Gap],
) -> StepResult {
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
    if let Some(w) = rejects
        && let Err(e) = w.finish()
    {
        return Err(Box::new((summary, e)));
    }
    Ok(summary)
}

fn problem(row: &str, issue: &RowIssue) -> Problem {
    Problem {
        row: row.to_string(),
        column: issue.column.clone(),
        value: issue.value.clone(),
        code: issue.code.to_string(),
        message: issue.message.clone(),
        more: 0,
    }
}

fn print_text(summaries: &[StepSummary], args: &Args) {
    let mut total = (0u64, 0u64, 0u64);
    for s in summaries {
        total = (total.0 + s.rows_read, total.1 + s.valid, total.2 + s.invalid);
        outln!("{} ({} -> {})", s.step, s.mapping, s.entity);
        outln!("  source   {}", s.source);
        outln!("  rows     {} read, {} valid, {} invalid", s.rows_read, s.valid, s.invalid);
        if !s.errors_by_kind.is_empty() {
            let kinds: Vec<String> = s.errors_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
            outln!("  errors   {}", kinds.join(", "));
        }
        for note in &s.notes {
            outln!("  note     {note}");
        }
        for p in &s.portal {
            let tag = if p.provision { "portal   (provision) " } else { "portal   " };
            outln!("  {tag}{}", p.message);
        }
        if let Some(line) = s.duplicates.as_ref().and_then(|d| d.summary()) {
            outln!("  {line}");
            for m in s.duplicates.iter().flat_map(|d| d.matches.iter()).take(args.max_problems) {
                outln!("    {m}");
            }
        }
        if s.stopped.is_some() {
            outln!(
                "  STOPPED  reading stopped after {} row(s); the rest of the file was not read (see the error)",
                s.rows_read
            );
        }
        if !s.problems.is_empty() {
            let shown: u64 = s.problems.iter().map(|p| 1 + p.more).sum();
            let all: u64 = s.errors_by_kind.values().sum();
            outln!("  problems (first {shown} of {all}):");
            for p in &s.problems {
                outln!("    {}", p.render());
            }
        }
        outln!();
    }
    outln!("total: {} rows read, {} valid, {} invalid", total.0, total.1, total.2);
    if summaries.iter().any(|s| s.stopped.is_some()) {
        outln!("not every row was read: fix the source error below and validate again");
    }
    if total.2 > 0 && args.rejects.is_none() {
        outln!("hint: --rejects rejects.csv writes every invalid row with its errors");
    }
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Progress {
    fn new(size: u64, step: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(size);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg} ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(step.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar, started: Instant::now() }
    }

    fn update(&self, bytes: u64, rows: u64) {
        if let Some(bar) = &self.bar {
            let secs = self.started.elapsed().as_secs_f64().max(1e-3);
            bar.set_position(bytes);
            bar.set_message(format!("{rows} rows, {:.0} rows/s", rows as f64 / secs));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
