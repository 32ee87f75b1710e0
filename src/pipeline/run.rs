//! The import run: prepared rows -> batches -> portal, every row's fate in the journal.
//!
//! Owns: the order of a step (reconcile what an earlier run left `sent`/`unknown`, stream the
//! source, skip rows the journal already finished, resolve lookups, pack, send, record), and
//! the exactly-once rules: a batch's rows go `sent` in one transaction before the request and
//! to their outcome in one transaction after it; nothing whose outcome is unknown is resent
//! before a lookup by its external key shows it is absent. Reading and mapping run on their
//! own thread ahead of the requests, through a bounded channel (flat memory).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use serde_json::{Value, json};

use super::ledger::{Ledger, RunJournal};
use super::prepare::{Prepared, Step, StepError, load_mapping};
use super::progress::Progress;
pub use super::report::{PlanRate, RunReport, StepReport, Stopped};
use super::upsert;
use crate::journal::{
    self, FieldHasher, FieldHashes, Journal, JournalError, NewRow, Outcome, RowState, StepConflict, StepSpec,
};
use crate::mapping::{Diagnostics, Entity, KeyField, MappingPlan, Mode, OnExisting, RowIssue};
use crate::payload::{self, Command};
use crate::source::SourceError;
use crate::transport::{CallError, CommandOutcome, Pack, Transport, TransportError};

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

/// How many times one row is sent again after its command did not run (limits, halts).
const MAX_NOT_EXECUTED_RESENDS: u32 = 20;
/// Rounds of "look up unknown rows, resend the absent ones" at the end of a step.
const MAX_RECONCILE_ROUNDS: u32 = 5;
/// Rows read ahead of the requests.
const READ_AHEAD: usize = 1024;
/// Keys per lookup request (`@originId` / `@EMAIL` lists).
const LOOKUP_CHUNK: usize = 50;
/// Tries of one lookup whose answer was lost before it counts as failed.
const LOOKUP_ATTEMPTS: u32 = 4;
/// Keys of rows that disappeared from the source listed in the report (the count is exact).
const MAX_MISSING_KEYS: usize = 10_000;

/// Runs every step in order. Returns the report; a portal refusal that stops the run is in
/// `report.stopped`, an interruption (Ctrl-C) in `report.interrupted`.
pub async fn run(
    opts: &RunOptions,
    transport: &Transport,
    rate: PlanRate,
    interrupted: Arc<AtomicBool>,
) -> Result<RunReport, RunError> {
    let started = Instant::now();
    // Every mapping is checked before anything is sent.
    let mut files = Vec::new();
    let mut diags = Diagnostics::default();
    for path in &opts.mappings {
        match load_mapping(path) {
            Ok(f) => files.push(f),
            Err(d) => diags.extend(d),
        }
    }
    // Names, lookups and cycles between the mappings (the same check as `validate`).
    let between = super::steps::check_job(&files.iter().collect::<Vec<_>>(), None);
    let mut steps = Vec::new();
    if diags.is_empty() {
        for file in files {
            match Step::open(file) {
                Ok(s) => steps.push(s),
                Err(StepError::Mapping(d)) => diags.extend(d),
                Err(StepError::Source(e)) => return Err(e.into()),
            }
        }
    }
    diags.extend(between);
    if !diags.is_empty() {
        return Err(RunError::Mapping(diags));
    }
    check_step_order(&steps)?;
    let mut journal = RunJournal::open(opts)?;
    if let Some(j) = journal.reader() {
        check_step_identities(j, &steps)?;
    }
    check_lookups_resolve(&steps, journal.reader())?;
    let run_id = journal.begin_run(&opts.job, &opts.args_summary)?;
    let progress = Progress::new(opts.progress_bars);
    let step_names: Vec<String> = steps.iter().map(|s| s.plan.name.clone()).collect();
    let mut report = RunReport {
        dry_run: opts.dry_run,
        journal: opts.journal.display().to_string(),
        ..Default::default()
    };
    for (order, step) in steps.into_iter().enumerate() {
        if interrupted.load(Ordering::Relaxed) {
            report.interrupted = true;
            break;
        }
        let (mut runner, rows) =
            StepRunner::new(step, order, &mut journal, transport, opts, &progress, &interrupted)?;
        runner.run_steps = step_names.clone();
        let result = runner.run(rows).await;
        report.steps.push(std::mem::take(&mut runner.report));
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
        Entity::Crm(id) if !matches!(id, 1 | 2 | 3 | 4 | 7 | 31) => format!("spa:{id}"),
        other => other.name(),
    }
}

/// The source as the journal records it: absolute, links resolved (as given if that fails).
pub(super) fn canonical_source(step: &Step) -> PathBuf {
    std::fs::canonicalize(step.source_path()).unwrap_or_else(|_| step.source_path().clone())
}

/// Every step must mean what the journal says it meant (same entity, same source) before
/// anything is written.
fn check_step_identities(journal: &Journal, steps: &[Step]) -> Result<(), RunError> {
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
        journal.check_step(&spec, || journal::Fingerprint::of_file(&source).ok().map(|f| f.sha256))??;
    }
    Ok(())
}

/// A step whose lookups need a step that runs after it would reject every such row: refuse
/// the order up front, every such field at its `path:line:col`, and say which file to put first.
fn check_step_order(steps: &[Step]) -> Result<(), RunError> {
    let mut diags = Diagnostics::default();
    for (i, step) in steps.iter().enumerate() {
        for field in &step.plan.fields {
            let needed = match &field.deferred {
                Some(crate::mapping::Deferred::Lookup(target)) => {
                    steps[i + 1..].iter().find(|s| s.plan.name == *target)
                }
                Some(crate::mapping::Deferred::UserByEmail) => {
                    steps[i + 1..].iter().find(|s| s.plan.target.entity == Entity::User)
                }
                None => None,
            };
            if let Some(target) = needed {
                let span = step.file.spec.fields.iter().find(|(n, _)| *n.get_ref() == field.name).map_or(
                    0..0,
                    |(n, spec)| match spec {
                        crate::mapping::spec::FieldSpec::Rule(r) => {
                            r.lookup.as_ref().or(r.user.as_ref()).map_or(n.span(), |l| l.span())
                        }
                        crate::mapping::spec::FieldSpec::Column(_) => n.span(),
                    },
                );
                diags.push(step.file.diag(
                    span,
                    format!(
                        "step `{}` (field `{}`) needs IDs from step `{}`, which runs after it: give {} before {}",
                        step.plan.name,
                        field.name,
                        target.plan.name,
                        target.file.path.display(),
                        step.file.path.display()
                    ),
                ));
            }
        }
    }
    if diags.is_empty() { Ok(()) } else { Err(RunError::Mapping(diags)) }
}

/// A lookup into a step that is neither given nor in the journal would reject every row that
/// uses it: refuse the run before anything is sent.
fn check_lookups_resolve(steps: &[Step], journal: Option<&Journal>) -> Result<(), RunError> {
    let known: Vec<String> = match journal {
        Some(j) => j.steps()?.into_iter().map(|s| s.name).collect(),
        None => Vec::new(),
    };
    let files: Vec<&crate::mapping::MappingFile> = steps.iter().map(|s| &s.file).collect();
    let diags = super::steps::check_job(&files, Some(&known));
    if diags.is_empty() { Ok(()) } else { Err(RunError::Mapping(diags)) }
}

/// Why a step stopped before its end.
enum Stop {
    Portal(TransportError),
    Interrupted,
    Journal(JournalError),
}

impl From<JournalError> for Stop {
    fn from(e: JournalError) -> Self {
        Stop::Journal(e)
    }
}

/// A row waiting to be sent: its journal key, its command, and the hashes of its full field
/// object to store in the journal once the portal has it (for later upserts).
struct Ready {
    key: String,
    cmd: Command,
    resends: u32,
    fields: Option<FieldHashes>,
}

/// What a packed command carries besides the command: its row key and field hashes to store.
struct Item {
    key: String,
    fields: Option<FieldHashes>,
}

/// A row with no journal record in upsert/update mode: looked up in the portal first.
struct Unseen {
    key: String,
    row_ref: String,
    hash: String,
    cmd: Command,
}

struct StepRunner<'a> {
    plan: MappingPlan,
    bytes: crate::source::BytesRead,
    size: u64,
    /// The journal side of the step (writing, or a dry run's read-only view).
    ledger: Ledger<'a>,
    transport: &'a Transport,
    opts: &'a RunOptions,
    progress: &'a Progress,
    interrupted: &'a AtomicBool,
    batch_size: usize,
    report: StepReport,
    /// Other steps' key -> portal ID, loaded from the journal when first needed.
    lookups: HashMap<String, HashMap<String, u64>>,
    /// E-mail -> user ID (None: no such user).
    users: HashMap<String, Option<u64>>,
    /// Commands of rows whose outcome became unknown in this run, kept until reconciled.
    unknown: HashMap<String, (Command, Option<FieldHashes>)>,
    /// Hashes field values as the journal stores them.
    hasher: FieldHasher,
    /// Upsert/update rows waiting for a portal lookup of their keys.
    unseen: Vec<Unseen>,
    /// Hashes of the keys this run's source holds (to report rows that disappeared).
    seen: std::collections::HashSet<u64>,
    /// Every step of this run (a dry run cannot resolve lookups into steps it did not write).
    run_steps: Vec<String>,
}

impl<'a> StepRunner<'a> {
    fn new(
        step: Step,
        order: usize,
        journal: &'a mut RunJournal,
        transport: &'a Transport,
        opts: &'a RunOptions,
        progress: &'a Progress,
        interrupted: &'a AtomicBool,
    ) -> Result<(StepRunner<'a>, super::prepare::Prepare), RunError> {
        let entity = step.plan.target.entity;
        let mut report =
            StepReport { step: step.plan.name.clone(), entity: entity.name(), ..Default::default() };
        report.notes.extend(step.source.notes().iter().cloned());
        let ledger = journal.step(&step, order, &mut report.notes)?;
        let hasher = ledger.hasher();
        let batch_size =
            if entity == Entity::User { opts.batch_size.clamp(1, 10) } else { opts.batch_size.clamp(1, 50) };
        let (plan, rows, bytes, size) = step.prepare();
        let runner = StepRunner {
            plan,
            bytes,
            size,
            ledger,
            transport,
            opts,
            progress,
            interrupted,
            batch_size,
            report,
            lookups: HashMap::new(),
            users: HashMap::new(),
            unknown: HashMap::new(),
            hasher,
            unseen: Vec::new(),
            seen: std::collections::HashSet::new(),
            run_steps: Vec::new(),
        };
        Ok((runner, rows))
    }

    fn writing(&self) -> bool {
        self.ledger.is_writing()
    }

    async fn run(&mut self, rows: super::prepare::Prepare) -> Result<(), Stop> {
        self.check_portal_fields().await?;
        if self.writing() {
            self.reconcile_leftovers().await?;
        }
        let bar = self.progress.step(&self.plan.name, self.size);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Prepared, SourceError>>(READ_AHEAD);
        let reader = std::thread::spawn(move || {
            for item in rows {
                let stop = item.is_err();
                if tx.blocking_send(item).is_err() || stop {
                    break;
                }
            }
        });
        let mut packer = self.transport.packer::<Item>(self.batch_size);
        let mut retry: VecDeque<Ready> = VecDeque::new();
        let mut result = Ok(());
        let mut read_all = true;
        while let Some(item) = rx.recv().await {
            if self.interrupted.load(Ordering::Relaxed) {
                result = Err(Stop::Interrupted);
                break;
            }
            let prepared = match item {
                Ok(p) => p,
                Err(e) => {
                    self.report.notes.push(format!("stopped reading: {e}"));
                    self.report.source_error = Some(e.to_string());
                    read_all = false;
                    break;
                }
            };
            self.report.rows_read += 1;
            let mut ready = self.admit(prepared).await?;
            if self.unseen.len() >= LOOKUP_CHUNK {
                ready.extend(self.flush_unseen().await?);
            }
            for r in ready {
                for pack in packer.push(Item { key: r.key, fields: r.fields }, r.cmd) {
                    if let Err(stop) = self.send(pack, &mut retry).await {
                        result = Err(stop);
                        break;
                    }
                }
                if result.is_err() {
                    break;
                }
            }
            if result.is_err() {
                break;
            }
            bar.update(self.bytes.get(), &self.report, self.transport);
        }
        drop(rx);
        let _ = reader.join();
        if result.is_ok() && read_all {
            self.ledger.set_source_rows(&self.plan.name, self.report.rows_read)?;
        }
        if result.is_ok() {
            match self.flush_unseen().await {
                Ok(ready) => {
                    for r in ready {
                        for pack in packer.push(Item { key: r.key, fields: r.fields }, r.cmd) {
                            if result.is_ok() {
                                result = self.send(pack, &mut retry).await;
                            }
                        }
                    }
                }
                Err(stop) => result = Err(stop),
            }
        }
        if result.is_ok()
            && let Some(pack) = packer.finish()
        {
            result = self.send(pack, &mut retry).await;
        }
        // Commands that did not run (limits inside a batch, halts) go again, bounded.
        while result.is_ok() && !retry.is_empty() {
            let mut packer = self.transport.packer::<Item>(self.batch_size);
            let mut resend: HashMap<String, u32> = HashMap::new();
            let mut packs = Vec::new();
            while let Some(r) = retry.pop_front() {
                if r.resends >= MAX_NOT_EXECUTED_RESENDS {
                    self.report
                        .notes
                        .push(format!("row {} was refused by limits too often; left pending", r.key));
                    continue;
                }
                resend.insert(r.key.clone(), r.resends + 1);
                packs.extend(packer.push(Item { key: r.key, fields: r.fields }, r.cmd));
            }
            packs.extend(packer.finish());
            for pack in packs {
                let before = retry.len();
                if let Err(stop) = self.send(pack, &mut retry).await {
                    result = Err(stop);
                    break;
                }
                for r in retry.iter_mut().skip(before) {
                    r.resends = resend.get(&r.key).copied().unwrap_or(1);
                }
            }
        }
        if result.is_ok() && self.writing() {
            result = self.reconcile_this_run().await;
        }
        if result.is_ok() {
            self.report_missing()?;
        }
        bar.finish(&self.report);
        self.finish_counts()?;
        result
    }

    /// Fills `pending`/`unknown` of the report from the journal.
    fn finish_counts(&mut self) -> Result<(), JournalError> {
        if let Some(c) = self.ledger.counts()? {
            self.report.pending += c.pending + c.sent;
            self.report.unknown = c.unknown;
        }
        Ok(())
    }

    /// Decides what to do with one prepared row: skip, reject, or send (returned; rows of an
    /// upsert with no journal record wait in `unseen` for a portal lookup instead).
    async fn admit(&mut self, p: Prepared) -> Result<Vec<Ready>, Stop> {
        let row_ref = p.record.row.to_string();
        let mut journal_key = journal_key(&p);
        let mut known = self.ledger.row_state(&journal_key)?;
        // A composite key with `|` or `\` in a cell: a journal of a version before key escaping
        // holds the row under the plain join. Keep using that record, never create it again.
        if known.is_none()
            && self.plan.key_columns.len() > 1
            && let Some(old) = crate::mapping::unescaped_key(&journal_key)
            && let Some(k) = self.ledger.row_state(&old)?
        {
            journal_key = old;
            known = Some(k);
        }
        self.seen.insert(key_hash(&journal_key));
        let mut cmd = match p.outcome {
            Err(issues) => {
                let hash = cells_hash(&p.record);
                if let Some(k) = known.as_ref().filter(|k| k.state.is_final() && k.payload_hash == hash) {
                    self.report.finished_before(k.state);
                } else if known
                    .as_ref()
                    .is_none_or(|k| k.state == RowState::Rejected || k.state == RowState::Pending)
                {
                    let text = crate::mapping::describe(&issues);
                    self.reject(&journal_key, &row_ref, &hash, code_of(&issues), &text, known.is_some())?;
                } else {
                    self.report.skipped += 1; // done earlier; the source row is now invalid: keep it
                }
                return Ok(Vec::new());
            }
            Ok(cmd) => cmd,
        };
        if let Some(k) = &known
            && matches!(k.state, RowState::Sent | RowState::Unknown)
        {
            return Ok(Vec::new()); // left unknown by reconciliation (no key to look it up): never resent
        }
        if let Err((code, text)) = self.resolve(&mut cmd).await? {
            let hash = cells_hash(&p.record);
            if let Some(k) = known.as_ref().filter(|k| k.state.is_final() && k.payload_hash == hash) {
                self.report.finished_before(k.state);
            } else if known.as_ref().is_some_and(|k| k.state == RowState::Done) {
                self.report.skipped += 1; // imported earlier; its lookup no longer resolves: keep it
            } else {
                self.reject(&journal_key, &row_ref, &hash, code, &text, known.is_some())?;
            }
            return Ok(Vec::new());
        }
        let hash = journal::payload_hash(&cmd);
        let mode = self.plan.target.mode;
        match known {
            Some(k) if k.state.is_final() && k.payload_hash == hash => {
                self.report.finished_before(k.state);
                Ok(Vec::new())
            }
            Some(k) if k.state == RowState::Done && mode == Mode::Create => {
                self.report.skipped += 1;
                self.report.changed_not_updated += 1;
                Ok(Vec::new())
            }
            Some(k)
                if k.state == RowState::Done || (k.state == RowState::Pending && k.portal_id.is_some()) =>
            {
                // An update: of a changed row, or one a killed run left half done.
                let id = k.portal_id.unwrap_or_default();
                let new = upsert::fields_of(&cmd);
                let changed = match &k.field_hashes {
                    Some(old) => upsert::changed_fields(&new, old, &self.hasher),
                    None => {
                        let mut all = upsert::all_fields_for_found_item(&new, &Value::Null);
                        all.remove("fm"); // what the item holds is unknown: never risk a duplicate phone
                        all
                    }
                };
                if changed.is_empty() || self.plan.target.entity == Entity::User {
                    if k.state == RowState::Done {
                        self.report.skipped += 1;
                        self.set_fields_and_hash(&journal_key, &row_ref, &hash, &new, id)?;
                    }
                    return Ok(Vec::new());
                }
                if !self.writing() {
                    self.report.would_send += 1;
                    return Ok(Vec::new());
                }
                self.reopen(&journal_key, &row_ref, &hash)?;
                let update = payload::update_command(&self.plan.target, id, changed);
                Ok(vec![Ready {
                    key: journal_key,
                    cmd: update,
                    resends: 0,
                    fields: Some(self.hasher.hashes(&new)),
                }])
            }
            Some(k) if k.state == RowState::Rejected => {
                // The row changed since the portal refused it: try it again.
                if self.writing() {
                    self.reopen(&journal_key, &row_ref, &hash)?;
                }
                self.new_row(journal_key, row_ref, hash, cmd, true)
            }
            Some(_) => self.new_row(journal_key, row_ref, hash, cmd, true),
            None => self.new_row(journal_key, row_ref, hash, cmd, false),
        }
    }

    /// A row the journal has not finished: created (create mode, or a pending row), or looked
    /// up in the portal first (upsert/update without a journal record).
    fn new_row(
        &mut self,
        key: String,
        row_ref: String,
        hash: String,
        cmd: Command,
        in_journal: bool,
    ) -> Result<Vec<Ready>, Stop> {
        // Upserts look a key up before creating it; updates never create, so even a row the
        // journal holds as pending (left by a create-mode run) is looked up first.
        let mode = self.plan.target.mode;
        if (mode == Mode::Upsert && !in_journal) || mode == Mode::Update {
            self.unseen.push(Unseen { key, row_ref, hash, cmd });
            return Ok(Vec::new());
        }
        Ok(self.create(key, &row_ref, &hash, cmd)?.into_iter().collect())
    }

    /// A row to create: recorded `pending` and returned for sending (counted only, in a dry run).
    fn create(
        &mut self,
        key: String,
        row_ref: &str,
        hash: &str,
        cmd: Command,
    ) -> Result<Option<Ready>, Stop> {
        if !self.writing() {
            self.report.would_send += 1;
            return Ok(None);
        }
        self.ledger.mark_pending(NewRow { key: &key, row_ref, payload_hash: hash })?;
        let fields = Some(self.hasher.hashes(&upsert::fields_of(&cmd)));
        Ok(Some(Ready { key, cmd, resends: 0, fields }))
    }

    /// Looks the waiting upsert rows up by their external key: found items are updated with
    /// every mapped field (the journal has no record of what they hold), absent ones created
    /// (`upsert`) or rejected (`update`).
    async fn flush_unseen(&mut self) -> Result<Vec<Ready>, Stop> {
        if self.unseen.is_empty() {
            return Ok(Vec::new());
        }
        let rows = std::mem::take(&mut self.unseen);
        let keys: Vec<String> = rows.iter().map(|r| r.key.clone()).collect();
        let found = match self.find_items(&keys, true).await? {
            Ok(found) => found,
            Err(e) => {
                // Unsure whether they exist: never create blindly. They stay out of the journal
                // and the next run tries again.
                self.report
                    .notes
                    .push(format!("could not look up {} new row(s) ({e}); run again", rows.len()));
                self.report.pending += rows.len() as u64;
                return Ok(Vec::new());
            }
        };
        let mut ready = Vec::new();
        for row in rows {
            let lookup_key = if self.plan.target.entity == Entity::User {
                row.key.to_lowercase()
            } else {
                row.key.clone()
            };
            let new = upsert::fields_of(&row.cmd);
            match found.get(&lookup_key) {
                Some(_)
                    if self.plan.target.entity == Entity::User
                        && self.plan.target.on_existing == OnExisting::Reject =>
                {
                    let text = "A user with this email already exists (on_existing = \"reject\")";
                    self.reject(&row.key, &row.row_ref, &row.hash, "ERROR_ARGUMENT", text, false)?;
                }
                Some((id, item)) => {
                    if !self.writing() {
                        self.report.would_send += 1;
                        continue;
                    }
                    let new_row = NewRow { key: &row.key, row_ref: &row.row_ref, payload_hash: &row.hash };
                    let changed = upsert::all_fields_for_found_item(&new, item);
                    if self.plan.target.entity == Entity::User || changed.is_empty() {
                        self.ledger.record_existing(new_row, *id, &self.hasher.hashes(&new), false)?;
                        self.report.existing += 1;
                        continue;
                    }
                    self.ledger.mark_pending(new_row.clone())?;
                    self.ledger
                        .record_outcomes(&[(row.key.as_str(), Outcome::Done { id: *id, existing: true })])?;
                    self.ledger.reopen(new_row)?;
                    let update = payload::update_command(&self.plan.target, *id, changed);
                    ready.push(Ready {
                        key: row.key,
                        cmd: update,
                        resends: 0,
                        fields: Some(self.hasher.hashes(&new)),
                    });
                }
                None if self.plan.target.mode == Mode::Update => {
                    self.reject(
                        &row.key,
                        &row.row_ref,
                        &row.hash,
                        "not_found",
                        "mode = \"update\": the portal has no item with this key",
                        false,
                    )?;
                }
                None => ready.extend(self.create(row.key, &row.row_ref, &row.hash, row.cmd)?),
            }
        }
        Ok(ready)
    }

    fn reopen(&mut self, key: &str, row_ref: &str, hash: &str) -> Result<(), JournalError> {
        self.ledger.reopen(NewRow { key, row_ref, payload_hash: hash })
    }

    /// A done row whose payload changed only in ways that need no request (e.g. an update of a
    /// user): remember the new payload so it is not looked at again.
    fn set_fields_and_hash(
        &mut self,
        key: &str,
        row_ref: &str,
        hash: &str,
        fields: &serde_json::Map<String, Value>,
        id: u64,
    ) -> Result<(), JournalError> {
        self.ledger.record_existing(
            NewRow { key, row_ref, payload_hash: hash },
            id,
            &self.hasher.hashes(fields),
            true,
        )
    }

    /// Lists the done rows of this step whose keys the source no longer has (never deleted).
    fn report_missing(&mut self) -> Result<(), JournalError> {
        for (key, _) in self.ledger.done_ids()? {
            if !self.seen.contains(&key_hash(&key)) {
                self.report.missing += 1;
                if self.report.missing_keys.len() < MAX_MISSING_KEYS {
                    self.report.missing_keys.push(key);
                }
            }
        }
        Ok(())
    }

    fn reject(
        &mut self,
        key: &str,
        row_ref: &str,
        hash: &str,
        code: &str,
        text: &str,
        in_journal: bool,
    ) -> Result<(), JournalError> {
        self.report.rejected += 1;
        self.ledger.reject(NewRow { key, row_ref, payload_hash: hash }, code, text, in_journal)
    }

    /// Replaces `{"$lookup": step, "key": k}` and `{"$user": email}` markers with portal IDs.
    /// The inner `Err` is the row's rejection (code, text).
    async fn resolve(&mut self, cmd: &mut Command) -> Result<Result<(), (&'static str, String)>, Stop> {
        let fields = match self.plan.target.entity {
            Entity::User => &mut cmd.params,
            Entity::Crm(_) => match cmd.params.get_mut("fields") {
                Some(f) => f,
                None => return Ok(Ok(())),
            },
        };
        let Some(map) = fields.as_object_mut() else { return Ok(Ok(())) };
        for value in map.values_mut() {
            let slots: Vec<&mut Value> = match value {
                Value::Array(items) => items.iter_mut().collect(),
                other => vec![other],
            };
            for slot in slots {
                let replacement = if let Some(step) = slot.get("$lookup").and_then(Value::as_str) {
                    let key = slot.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
                    let step = step.to_string();
                    match self.lookup(&step, &key)? {
                        Some(id) => json!(id),
                        // A dry run wrote nothing, so IDs of this run's earlier steps do not exist yet.
                        None if self.opts.dry_run && self.run_steps.contains(&step) => json!(0),
                        None => {
                            return Ok(Err((
                                "lookup_not_found",
                                format!("step `{step}` has no imported row with key `{key}`"),
                            )));
                        }
                    }
                } else if let Some(email) = slot.get("$user").and_then(Value::as_str) {
                    let email = email.to_string();
                    match self.user_id(&email).await? {
                        Ok(Some(id)) => json!(id),
                        Ok(None) => {
                            return Ok(Err((
                                "user_not_found",
                                format!("no portal user with e-mail {email}"),
                            )));
                        }
                        Err(e) => {
                            return Ok(Err((
                                "lookup_failed",
                                format!("could not look up the user {email}: {e}"),
                            )));
                        }
                    }
                } else {
                    continue;
                };
                *slot = replacement;
            }
        }
        Ok(Ok(()))
    }

    fn lookup(&mut self, step: &str, key: &str) -> Result<Option<u64>, JournalError> {
        if !self.lookups.contains_key(step) {
            let ids = self.ledger.ids_of_step(step)?;
            self.lookups.insert(step.to_string(), ids);
        }
        Ok(self.lookups.get(step).and_then(|m| m.get(key)).copied())
    }

    /// The user ID of `email`; `Err` when the lookup failed (the row is rejected with
    /// `lookup_failed` rather than guessed).
    async fn user_id(&mut self, email: &str) -> Result<Result<Option<u64>, String>, Stop> {
        if let Some(found) = self.users.get(email) {
            return Ok(Ok(*found));
        }
        match self.find_users(&[email.to_string()]).await? {
            Ok(mut found) => {
                let id = found.remove(email);
                self.users.insert(email.to_string(), id);
                Ok(Ok(id))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// `user.get` with `@EMAIL`: e-mail (lower-case) -> user ID; `Err` when the lookup failed.
    async fn find_users(&self, emails: &[String]) -> Result<Result<HashMap<String, u64>, String>, Stop> {
        let mut out = HashMap::new();
        for chunk in emails.chunks(LOOKUP_CHUNK) {
            // One e-mail: the plain `EMAIL` filter every portal knows; several: the `@` (IN) form.
            let filter = if let [one] = chunk { json!({"EMAIL": one}) } else { json!({"@EMAIL": chunk}) };
            let params = json!({"filter": filter, "ADMIN_MODE": true});
            let result = match self.read_call("user.get", &params).await? {
                Ok(v) => v,
                Err(e) => return Ok(Err(e)),
            };
            for user in result.as_array().into_iter().flatten() {
                if let (Some(email), Some(id)) =
                    (user.get("EMAIL").and_then(Value::as_str), id_of(user.get("ID")))
                {
                    out.insert(email.to_lowercase(), id);
                }
            }
        }
        Ok(Ok(out))
    }

    /// A read call. A deterministic refusal means "nothing found" (`Null`); a failure whose
    /// outcome is unknown (dropped connection, 5xx) is tried again a few times and then
    /// returned as `Err` so that callers never take a failed lookup for "absent".
    async fn read_call(&self, method: &str, params: &Value) -> Result<Result<Value, String>, Stop> {
        let mut last = String::new();
        for attempt in 0..LOOKUP_ATTEMPTS {
            if attempt > 0 {
                self.transport
                    .pause(std::time::Duration::from_millis(200 * u64::from(attempt)))
                    .await
                    .map_err(Stop::Portal)?;
            }
            match self.transport.call(method, params).await {
                Ok(v) => return Ok(Ok(v)),
                Err(CallError::Rejected { code, description, .. }) => {
                    tracing::warn!(method, code, description, "lookup refused");
                    return Ok(Ok(Value::Null));
                }
                Err(CallError::Transport(e)) if e.is_fatal() => return Err(Stop::Portal(e)),
                Err(CallError::Transport(e)) => {
                    tracing::warn!(method, error = %e, "lookup failed; trying again");
                    last = e.to_string();
                }
            }
        }
        Ok(Err(last))
    }

    /// Sends one pack and records every row's outcome; commands that did not run go to `retry`.
    /// A pack the portal refuses as too large (413) never ran: it is split in halves, a single
    /// command is sent alone, and one still too large alone is rejected `too_large`.
    async fn send(&mut self, pack: Pack<Item>, retry: &mut VecDeque<Ready>) -> Result<(), Stop> {
        if !self.ledger.is_writing() {
            // A dry run never writes to the portal (nothing reaches here: it only counts).
            return Ok(());
        }
        let keys: Vec<&str> = pack.items.iter().map(|i| i.key.as_str()).collect();
        self.ledger.mark_sent(&keys)?;
        let answer = match pack.commands.as_slice() {
            [(key, cmd)] if pack.alone => self.transport.call_alone(key, cmd).await,
            commands => self.transport.call_batch(commands).await,
        };
        let mut outcomes: Vec<(&str, Outcome)> = Vec::with_capacity(keys.len());
        let mut stored: Vec<(&str, &FieldHashes)> = Vec::new();
        let mut stop = None;
        if let Err(TransportError::TooLarge { bytes, .. }) = &answer
            && !pack.alone
        {
            let bytes = *bytes;
            let back: Vec<(&str, Outcome)> = keys.iter().map(|k| (*k, Outcome::Retry)).collect();
            self.ledger.record_outcomes(&back)?;
            tracing::info!(
                bytes,
                commands = keys.len(),
                "request too large for the portal; sending it in smaller parts"
            );
            return self.send_smaller(pack, retry).await;
        }
        match answer {
            Ok(batch) => {
                for (item, (cmd_key, cmd)) in pack.items.iter().zip(&pack.commands) {
                    let row_key = item.key.as_str();
                    let update = cmd.method.ends_with(".update");
                    let outcome = match batch.get(cmd_key) {
                        Some(CommandOutcome::Done(v)) => match created_id(cmd, v) {
                            Some(id) => {
                                if update {
                                    self.report.updated += 1;
                                } else {
                                    self.report.created += 1;
                                }
                                if let Some(f) = &item.fields {
                                    stored.push((row_key, f));
                                }
                                Outcome::Done { id, existing: update }
                            }
                            None => {
                                self.unknown.insert(row_key.to_string(), (cmd.clone(), item.fields.clone()));
                                Outcome::Unknown { reason: "the portal answered without an ID".into() }
                            }
                        },
                        Some(CommandOutcome::Failed { code, description }) => {
                            self.failed(cmd, code, description).await?
                        }
                        Some(CommandOutcome::NotExecuted(_)) => {
                            retry.push_back(Ready {
                                key: row_key.to_string(),
                                cmd: cmd.clone(),
                                resends: 0,
                                fields: item.fields.clone(),
                            });
                            Outcome::Retry
                        }
                        None => {
                            self.unknown.insert(row_key.to_string(), (cmd.clone(), item.fields.clone()));
                            Outcome::Unknown { reason: "missing from the batch answer".into() }
                        }
                    };
                    outcomes.push((row_key, outcome));
                }
            }
            Err(TransportError::TooLarge { bytes, .. }) => {
                // Alone and still too large: the row's own size is the problem.
                for (item, (_, cmd)) in pack.items.iter().zip(&pack.commands) {
                    let text = self.too_large_text(cmd, bytes);
                    outcomes.push((item.key.as_str(), Outcome::Rejected { code: "too_large".into(), text }));
                }
            }
            Err(e @ TransportError::Interrupted { in_flight: true, .. }) => {
                // Abandoned on the wire: the rows stay `sent`, looked up on the next run.
                stop = Some(e);
            }
            Err(TransportError::Ambiguous { reason, .. }) => {
                for (item, (_, cmd)) in pack.items.iter().zip(&pack.commands) {
                    self.unknown.insert(item.key.clone(), (cmd.clone(), item.fields.clone()));
                    outcomes.push((item.key.as_str(), Outcome::Unknown { reason: reason.clone() }));
                }
            }
            Err(e) => {
                // Fatal refusals, exhausted limits and invalid batches never ran: back to pending.
                outcomes.extend(keys.iter().map(|k| (*k, Outcome::Retry)));
                stop = Some(e);
            }
        }
        for (_, o) in &outcomes {
            if let Outcome::Rejected { .. } = o {
                self.report.rejected += 1;
            }
        }
        self.ledger.record_outcomes(&outcomes)?;
        if !stored.is_empty() {
            self.ledger.set_field_hashes(&stored)?;
        }
        match stop {
            Some(e) => Err(Stop::Portal(e)),
            None => Ok(()),
        }
    }

    /// A pack refused as too large, sent again in halves (a single command: alone, as a
    /// direct call, which needs fewer bytes than inside a batch).
    async fn send_smaller(&mut self, pack: Pack<Item>, retry: &mut VecDeque<Ready>) -> Result<(), Stop> {
        let Pack { mut items, mut commands, .. } = pack;
        if commands.len() == 1 {
            return Box::pin(self.send(Pack { items, commands, alone: true }, retry)).await;
        }
        let half = commands.len() / 2;
        let (items2, commands2) = (items.split_off(half), commands.split_off(half));
        Box::pin(self.send(Pack { items, commands, alone: false }, retry)).await?;
        Box::pin(self.send(Pack { items: items2, commands: commands2, alone: false }, retry)).await
    }

    /// Why a row is `too_large`: the request's size and the field that made it large.
    fn too_large_text(&self, cmd: &Command, bytes: usize) -> String {
        let fields = match self.plan.target.entity {
            Entity::User => Some(&cmd.params),
            Entity::Crm(_) => cmd.params.get("fields"),
        };
        let biggest = fields
            .and_then(Value::as_object)
            .and_then(|m| m.iter().map(|(k, v)| (k, v.to_string().len())).max_by_key(|(_, n)| *n));
        let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
        let mut text = format!(
            "the request for this row is {:.1} MiB ({bytes} bytes), more than the portal accepts \
             (HTTP 413 Request Entity Too Large)",
            mib(bytes)
        );
        if let Some((name, size)) = biggest {
            text.push_str(&format!("; the largest field is `{name}` ({:.1} MiB", mib(size)));
            if let Some(f) = self.plan.fields.iter().find(|f| &f.name == name) {
                text.push_str(&format!(", from `{}`", f.label));
            }
            text.push(')');
        }
        text.push_str(
            "; make the file smaller, or raise the request size limit of the portal's web server \
             (nginx client_max_body_size)",
        );
        text
    }

    /// A command the portal refused: rejected, unless it is a user that already exists and
    /// the step says to use existing users.
    async fn failed(&mut self, cmd: &Command, code: &str, description: &str) -> Result<Outcome, Stop> {
        if cmd.method == "user.add"
            && self.plan.target.on_existing == OnExisting::Use
            && description.to_lowercase().contains("already exists")
            && let Some(email) = cmd.params.get("EMAIL").and_then(Value::as_str)
            && let Ok(found) = self.find_users(&[email.to_lowercase()]).await?
            && let Some(id) = found.get(&email.to_lowercase()).copied()
        {
            self.report.existing += 1;
            return Ok(Outcome::Done { id, existing: true });
        }
        Ok(Outcome::Rejected { code: code.to_string(), text: description.to_string() })
    }

    /// Rows an earlier run left `sent` or `unknown` are looked up by their external key:
    /// found -> done; absent -> pending (sent again when the source reaches them). An update
    /// (the row has a portal ID) is simply sent again: updates are idempotent.
    async fn reconcile_leftovers(&mut self) -> Result<(), Stop> {
        let rows = self.ledger.rows_to_reconcile()?;
        if rows.is_empty() {
            return Ok(());
        }
        let (updates, creates): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.portal_id.is_some());
        let retry: Vec<(&str, Outcome)> = updates.iter().map(|r| (r.key.as_str(), Outcome::Retry)).collect();
        self.ledger.record_outcomes(&retry)?;
        let keys: Vec<String> = creates.into_iter().map(|r| r.key).collect();
        let (found, absent) = self.reconcile(&keys).await?;
        self.report.reconciled_found += found as u64;
        self.report.reconciled_absent += (absent.len() + updates.len()) as u64;
        Ok(())
    }

    /// Looks up this run's unknown rows; resends the absent ones (and unknown updates), a few
    /// rounds at most.
    async fn reconcile_this_run(&mut self) -> Result<(), Stop> {
        for _ in 0..MAX_RECONCILE_ROUNDS {
            if self.unknown.is_empty() {
                return Ok(());
            }
            let (updates, creates): (Vec<String>, Vec<String>) =
                self.unknown.keys().cloned().partition(|k| self.unknown[k].0.method.ends_with(".update"));
            let (found, mut absent) = self.reconcile(&creates).await?;
            self.report.created += found as u64;
            if !updates.is_empty() {
                let retry: Vec<(&str, Outcome)> =
                    updates.iter().map(|k| (k.as_str(), Outcome::Retry)).collect();
                self.ledger.record_outcomes(&retry)?;
                absent.extend(updates);
            }
            let mut retry = VecDeque::new();
            let mut packer = self.transport.packer::<Item>(self.batch_size);
            let mut packs = Vec::new();
            for (key, (cmd, fields)) in std::mem::take(&mut self.unknown) {
                if absent.contains(&key) {
                    packs.extend(packer.push(Item { key, fields }, cmd));
                } else if self.still_unknown(&key)? {
                    self.unknown.insert(key, (cmd, fields));
                }
            }
            packs.extend(packer.finish());
            if packs.is_empty() && !self.unknown.is_empty() {
                // Nothing could be decided (no key to look them up by, or the lookup failed):
                // try the lookup again after a pause, then leave them unknown and report.
                self.transport.pause(std::time::Duration::from_millis(500)).await.map_err(Stop::Portal)?;
                continue;
            }
            for pack in packs {
                self.send(pack, &mut retry).await?;
            }
            for r in retry {
                self.unknown.insert(r.key, (r.cmd, r.fields));
            }
        }
        Ok(())
    }

    fn still_unknown(&self, key: &str) -> Result<bool, JournalError> {
        self.ledger.still_unknown(key)
    }

    /// Looks `keys` up in the portal by their external key and records what it finds.
    /// Returns (found count, absent keys). Keys that cannot be looked up stay as they are.
    async fn reconcile(&mut self, keys: &[String]) -> Result<(usize, Vec<String>), Stop> {
        if keys.is_empty() {
            return Ok((0, Vec::new()));
        }
        if self.plan.target.entity.key_field() == KeyField::None {
            self.report.notes.push(format!(
                "{} row(s) have an unknown outcome and {} items have no external key to look them up by; \
                 check them in the portal",
                keys.len(),
                self.plan.target.entity.name()
            ));
            return Ok((0, Vec::new()));
        }
        let lookable: Vec<String> =
            keys.iter().filter(|k| !k.starts_with('#') && !k.contains("#dup@")).cloned().collect();
        let found = match self.find_items(&lookable, false).await? {
            Ok(found) => found,
            Err(e) => return Ok(self.lookup_failed(&e)),
        };
        let user = self.plan.target.entity == Entity::User;
        let mut outcomes = Vec::new();
        let mut absent = Vec::new();
        for key in &lookable {
            let lookup_key = if user { key.to_lowercase() } else { key.clone() };
            match found.get(&lookup_key) {
                Some((id, _)) => outcomes.push((key.as_str(), Outcome::Done { id: *id, existing: false })),
                None => {
                    outcomes.push((key.as_str(), Outcome::Retry));
                    absent.push(key.clone());
                }
            }
        }
        let found_count = outcomes.len() - absent.len();
        self.ledger.record_outcomes(&outcomes)?;
        Ok((found_count, absent))
    }

    /// Finds items (or users) by their external keys: key -> (portal ID, the item as listed).
    /// `full` selects every field (to compare multifields); otherwise only the ID and key.
    /// The inner `Err` means the lookup failed: nothing may be concluded from it.
    #[allow(clippy::type_complexity)]
    async fn find_items(
        &self,
        keys: &[String],
        full: bool,
    ) -> Result<Result<HashMap<String, (u64, Value)>, String>, Stop> {
        let target = &self.plan.target;
        let mut out = HashMap::new();
        match target.entity {
            Entity::User => {
                let emails: Vec<String> = keys.iter().map(|k| k.to_lowercase()).collect();
                match self.find_users(&emails).await? {
                    Ok(found) => out.extend(found.into_iter().map(|(k, id)| (k, (id, Value::Null)))),
                    Err(e) => return Ok(Err(e)),
                }
            }
            Entity::Crm(entity_type_id) => {
                let origin = target.entity.key_field() == KeyField::Origin;
                let field = if origin { "originId" } else { "xmlId" };
                for chunk in keys.chunks(LOOKUP_CHUNK) {
                    let filter = if origin {
                        json!({"=originatorId": target.origin, "@originId": chunk})
                    } else {
                        let xml: Vec<String> =
                            chunk.iter().map(|k| payload::xml_id(&target.origin, k)).collect();
                        json!({"@xmlId": xml})
                    };
                    let select = if full { json!(["*"]) } else { json!(["id", field]) };
                    let params = json!({"entityTypeId": entity_type_id, "filter": filter, "select": select, "start": -1});
                    let result = match self.read_call("crm.item.list", &params).await? {
                        Ok(v) => v,
                        Err(e) => return Ok(Err(e)),
                    };
                    for item in result.get("items").and_then(Value::as_array).into_iter().flatten() {
                        if let (Some(k), Some(id)) =
                            (item.get(field).and_then(Value::as_str), id_of(item.get("id")))
                        {
                            let prefix = format!("{}:", target.origin);
                            let key = if origin {
                                k.to_string()
                            } else {
                                k.strip_prefix(&prefix).unwrap_or(k).to_string()
                            };
                            out.insert(key, (id, item.clone()));
                        }
                    }
                }
            }
        }
        Ok(Ok(out))
    }

    /// A lookup that failed changes nothing: the rows stay `sent`/`unknown` for a later try.
    fn lookup_failed(&mut self, error: &str) -> (usize, Vec<String>) {
        self.report
            .notes
            .push(format!("could not look up rows with an unknown outcome ({error}); they stay unknown"));
        (0, Vec::new())
    }

    /// Compares the mapping's field names with the portal's `crm.item.fields` (read-only):
    /// the portal silently ignores unknown fields, so they are reported.
    async fn check_portal_fields(&mut self) -> Result<(), Stop> {
        let Entity::Crm(entity_type_id) = self.plan.target.entity else { return Ok(()) };
        let params = json!({
            "entityTypeId": entity_type_id,
            "useOriginalUfNames": if self.plan.target.use_original_uf_names { "Y" } else { "N" },
        });
        let result = match self.transport.call("crm.item.fields", &params).await {
            Ok(r) => r,
            // The portal cannot be used at all (credentials, overload, unreachable): stop now.
            Err(CallError::Transport(e)) if e.is_fatal() => return Err(Stop::Portal(e)),
            Err(_) => return Ok(()),
        };
        let Some(known) = result.get("fields").and_then(Value::as_object) else { return Ok(()) };
        for f in &self.plan.fields {
            if !known.contains_key(&f.name) {
                self.report.notes.push(format!(
                    "field `{}` is not a field of {} in this portal; the portal will ignore it",
                    f.name,
                    self.plan.target.entity.name()
                ));
            }
        }
        Ok(())
    }
}

/// The key a row is kept under in the journal: its source key; `key#dup@line` for a repeat of
/// a key seen earlier in the file; `#line` for a row without a key. `rejects` pairs journal rows
/// with source rows through this same function.
pub fn journal_key(p: &Prepared) -> String {
    match &p.outcome {
        Err(issues) if issues.iter().any(|i| i.code == "duplicate_key") => {
            format!("{}#dup@{}", p.key, p.record.row.line)
        }
        _ if p.key.is_empty() => format!("#{}", p.record.row.line),
        _ => p.key.clone(),
    }
}

/// A 64-bit hash of a row key (the set of keys a source holds, at 8 bytes a key).
fn key_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// The "payload hash" of a row the mapping refused: its cells, so a fixed row is tried again.
fn cells_hash(record: &crate::source::Record) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for cell in record.cells.iter() {
        h.update(cell.as_bytes());
        h.update([0x1f]);
    }
    format!("cells:{}", hex::encode(h.finalize()))
}

/// The code recorded for a row the mapping refused: its first problem's kind.
fn code_of(issues: &[RowIssue]) -> &'static str {
    issues.first().map_or("invalid", |i| i.code)
}

/// The ID of what an add created: `result.item.id` (crm.item.add) or the integer result
/// (user.add); IDs may come as strings.
fn created_id(cmd: &Command, result: &Value) -> Option<u64> {
    if cmd.method == "user.add" {
        return id_of(Some(result));
    }
    id_of(result.get("item").and_then(|i| i.get("id"))).or_else(|| id_of(result.get("id")))
}

fn id_of(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
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
