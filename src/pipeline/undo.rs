//! `undo` (issue 21): deleting what b24import created in the portal, step by step in the
//! reverse order of the mappings (children before parents), through the one send loop.
//!
//! Owns: which rows of a journal are undone (rows whose item a run *created*: the journal's
//! `created_run`; never items matched by duplicate control, found by key or updated by an
//! upsert, never users: those are counted and left), the order (reverse step order), the
//! exactly-once rule of a delete (a row goes `undoing` before its request leaves; a delete
//! whose outcome is unknown is checked in the portal — gone or not — before it is sent again,
//! also after a SIGKILL), and the undo report. The one match on a step's kind is
//! [`UndoKind`]: the kinds other issues add (comments, activities, product rows, requisites)
//! get their arm there. Must not: build HTTP requests or pace them (the
//! [`Dispatcher`](crate::portal::Dispatcher) and the transport), write SQL (the journal's
//! `undo` module), or print anything (the command line's).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use serde_json::{Value, json};

use super::report::Stopped;
use super::stop::{StepEnd, Stop};
use super::undo_send::{UndoLanding, UndoTarget};
use crate::bitrix::{Method, json as bjson};
use crate::journal::undo::UndoRow;
use crate::journal::{Journal, JournalError, RowState, StepRecord, Transition};
use crate::mapping::{Diagnostics, Entity};
use crate::payload::Command;
use crate::portal::{Dispatcher, Reads};
use crate::transport::{CallError, Transport};

/// Rounds of "check the unknown deletes, send again those still there" in one undo.
const CHECK_ROUNDS: u32 = 3;

/// Item IDs per check (`crm.item.list` answers at most 50 items a page).
const CHECK_CHUNK: usize = 50;

/// What an undo is asked to do.
#[derive(Debug, Clone)]
pub struct UndoOptions {
    /// Mapping files: their steps, in the order of a run (undone in reverse).
    pub mappings: Vec<PathBuf>,
    pub journal: PathBuf,
    pub job: String,
    /// Only what these runs created (empty: every run of the journal).
    pub runs: Vec<i64>,
    /// Only these steps (empty: every step of the mappings).
    pub steps: Vec<String>,
    /// Count what would be deleted; send nothing, write nothing.
    pub dry_run: bool,
    /// Deletes per batch (at most 50).
    pub batch_size: usize,
    /// The command line without secrets, recorded in the journal.
    pub args_summary: String,
}

/// Why an undo could not proceed at all.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    #[error("{0}")]
    Mapping(Diagnostics),
    /// A flag names a step or run the mappings or the journal do not know (exit 2).
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Journal(#[from] JournalError),
}

/// One row the portal would not let undo delete.
#[derive(Debug, Clone, Serialize)]
pub struct UndoFailure {
    pub key: String,
    pub id: u64,
    pub code: String,
    pub text: String,
}

/// What undo did to one step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UndoStepReport {
    pub step: String,
    pub entity: String,
    /// Rows whose item b24import created (in the runs asked for), still in the portal at start.
    pub to_delete: u64,
    /// Deleted now.
    pub deleted: u64,
    /// Already gone from the portal (deleted by hand): counted as undone.
    pub already_gone: u64,
    /// Rows an earlier undo had already undone (nothing sent for them).
    pub undone_before: u64,
    /// Items b24import did not create (matched by duplicate control, found by key, updated by
    /// upsert), or created by runs not asked for: left as they are.
    pub left_alone: u64,
    /// Users: the portal cannot delete them; left as they are.
    pub users_left: u64,
    /// Deletes whose outcome is still unknown (the next undo checks them first).
    pub unknown: u64,
    /// Deletes the portal refused.
    pub failed: Vec<UndoFailure>,
    /// Would be deleted (dry run).
    pub would_delete: u64,
    pub notes: Vec<String>,
}

impl UndoStepReport {
    /// Rows undone by this undo.
    pub fn undone(&self) -> u64 {
        self.deleted + self.already_gone
    }
}

/// What an undo did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UndoReport {
    pub dry_run: bool,
    pub journal: String,
    /// In the order undone (the reverse of the mappings').
    pub steps: Vec<UndoStepReport>,
    /// The portal stopped the undo (exit 3).
    pub stopped: Option<Stopped>,
    /// Ctrl-C / SIGTERM (exit 130).
    pub interrupted: bool,
    pub requests: u64,
    pub elapsed_secs: f64,
    /// The journal's runs (`id: command line, outcome`), for `--run ID` (dry run only).
    pub runs: Vec<String>,
}

impl UndoReport {
    /// Rows that could not be undone (refused, or unknown), over every step.
    pub fn not_undone(&self) -> u64 {
        self.steps.iter().map(|s| s.failed.len() as u64 + s.unknown).sum()
    }
}

/// What a step's rows made in the portal, as undo takes it back: the one match of undo on a
/// step's kind. Issue 16's comments and activities and issue 17's product rows and requisites
/// add their arm here (their delete command, and the read that says whether one is gone);
/// nothing else in undo knows kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndoKind {
    /// A CRM item (`crm.item.delete`, checked by `crm.item.list` on `@id`).
    CrmItem { entity_type_id: u32 },
    /// A portal user: the portal cannot delete users; they are listed, never touched.
    User,
    /// Attached records (issues 19, 20) deleted by their own ID: a timeline comment
    /// (`crm.timeline.comment.delete`), an activity (`crm.activity.delete`), a requisite
    /// (`crm.requisite.delete`: its bank details and addresses go with it), a bank detail
    /// (`crm.requisite.bankdetail.delete`). A delete whose outcome is unknown is simply sent
    /// again: the second answer says "not found" when the first one ran (see [`Self::gone_by_refusal`]).
    Attached(Attached),
    /// What goes when its parent goes: an address (no ID of its own) is deleted by the portal
    /// with its requisite, so it is undone, without a request, when its parent step is undone
    /// in the same undo (children are undone first: it is marked just before its requisite
    /// goes); asked alone, it is listed as not undone.
    WithParent,
    /// The product rows of a parent (issue 20): set back to none (`crm.item.productrow.set`
    /// with `productRows: []`, the journal keeping the parent's ID); the parent's entityTypeId
    /// comes from the step's label (`product_rows:2`). The set is idempotent: an unknown outcome
    /// is sent again; a parent gone has no rows (`OWNER_NOT_FOUND`).
    ProductRows { owner_entity_type_id: u32 },
}

/// The attached kinds undo deletes one by one (see [`UndoKind::Attached`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attached {
    Comment,
    Activity,
    Requisite,
    BankDetail,
}

impl UndoKind {
    /// The kind of a step by the journal's entity label (`contact`, `spa:1032`, `user`);
    /// `None`: a kind this build cannot undo (its rows are left, with a note).
    pub fn of_label(label: &str) -> Option<UndoKind> {
        if let Some(id) = label.strip_prefix("spa:").and_then(|n| n.parse().ok()) {
            return Some(UndoKind::CrmItem { entity_type_id: id });
        }
        if let Some(id) = label.strip_prefix("product_rows:").and_then(|n| n.parse().ok()) {
            return Some(UndoKind::ProductRows { owner_entity_type_id: id });
        }
        match Entity::from_name(label)? {
            Entity::Crm(id) => Some(UndoKind::CrmItem { entity_type_id: id }),
            Entity::User => Some(UndoKind::User),
            Entity::Comment => Some(UndoKind::Attached(Attached::Comment)),
            Entity::Activity => Some(UndoKind::Attached(Attached::Activity)),
            Entity::Requisite => Some(UndoKind::Attached(Attached::Requisite)),
            Entity::BankDetail => Some(UndoKind::Attached(Attached::BankDetail)),
            // An address has no ID of its own (the journal keeps its requisite's): it goes with
            // its requisite.
            Entity::Address => Some(UndoKind::WithParent),
            // Product rows without their parent's type (not written by this build).
            Entity::ProductRows => None,
        }
    }

    /// The command that deletes the thing `id`; `None` when the portal cannot delete it.
    pub fn delete(self, id: u64) -> Option<Command> {
        match self {
            UndoKind::CrmItem { entity_type_id } => Some(Command {
                method: Method::CrmItemDelete,
                params: json!({"entityTypeId": entity_type_id, "id": id}),
            }),
            UndoKind::User | UndoKind::WithParent => None,
            UndoKind::ProductRows { owner_entity_type_id } => {
                let owner = crate::payload::products::owner_type(Entity::Crm(owner_entity_type_id))?;
                Some(crate::payload::products::clear_of(&owner, id))
            }
            UndoKind::Attached(a) => {
                let method = match a {
                    Attached::Comment => Method::CrmTimelineCommentDelete,
                    Attached::Activity => Method::CrmActivityDelete,
                    Attached::Requisite => Method::CrmRequisiteDelete,
                    Attached::BankDetail => Method::CrmRequisiteBankdetailDelete,
                };
                Some(Command { method, params: json!({"id": id}) })
            }
        }
    }

    /// Whether a refusal of the delete means the thing is already gone. `crm.item.delete`
    /// answers `NOT_FOUND` / "Item not found" for an item that does not exist, and
    /// `NOT_FOUND` / "SPA not found" for a wrong type (`universal/crm-item-delete.md`, "Possible
    /// Error Codes"): only the first is "gone".
    pub fn gone_by_refusal(self, code: &str, description: &str) -> bool {
        match self {
            UndoKind::CrmItem { .. } => {
                code.eq_ignore_ascii_case("NOT_FOUND")
                    && description.to_lowercase().contains("item not found")
            }
            UndoKind::User | UndoKind::WithParent => false,
            // The product-row pages' "Owner was not found": the parent is gone, and its rows.
            UndoKind::ProductRows { .. } => code.eq_ignore_ascii_case("OWNER_NOT_FOUND"),
            // Their pages' "not found" answers: a comment `NOT_FOUND` "Not found.", an activity
            // "Activity is not found", a requisite or bank detail "The Requisite(BankDetail)
            // with ID 'N' is not found".
            UndoKind::Attached(Attached::Comment) => code.eq_ignore_ascii_case("NOT_FOUND"),
            UndoKind::Attached(_) => description.to_lowercase().contains("not found"),
        }
    }

    /// The read that lists which of `ids` the portal still has.
    fn check_params(self, ids: &[u64]) -> Option<Value> {
        match self {
            UndoKind::CrmItem { entity_type_id } => Some(json!({
                "entityTypeId": entity_type_id, "filter": {"@id": ids}, "select": ["id"], "start": -1
            })),
            UndoKind::User | UndoKind::Attached(_) | UndoKind::WithParent | UndoKind::ProductRows { .. } => {
                None
            }
        }
    }
}

/// A step to undo: its journal record and kind.
struct UndoStep {
    record: StepRecord,
    kind: Option<UndoKind>,
    /// Whether its parent step (`parent = { step }`) is undone by this undo too.
    parent_undone: bool,
}

/// Each attached step's parent step (`parent = { step, column }` of its mapping).
fn parents_of(mappings: &[PathBuf]) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    for path in mappings {
        if let Ok(file) = super::load_mapping(path)
            && let Some(p) = &file.spec.target.parent
        {
            let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
            out.insert(
                file.step_name().map_or(stem, str::to_string),
                p.get_ref().step.get_ref().trim().to_string(),
            );
        }
    }
    out
}

/// The step names of `mappings`, in order (a mapping without `name`: its file stem).
pub fn step_names(mappings: &[PathBuf]) -> Result<Vec<String>, UndoError> {
    let mut names = Vec::new();
    let mut problems = Diagnostics::default();
    for path in mappings {
        match super::load_mapping(path) {
            Ok(file) => {
                let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
                names.push(file.step_name().map_or(stem, str::to_string));
            }
            Err(d) => problems.extend(d),
        }
    }
    if problems.is_empty() { Ok(names) } else { Err(UndoError::Mapping(problems)) }
}

/// Undoes what the journal's runs created, step by step in the reverse order of the mappings.
pub async fn undo(opts: &UndoOptions, transport: &Transport) -> Result<UndoReport, UndoError> {
    let started = Instant::now();
    let names = step_names(&opts.mappings)?;
    if let Some(bad) = opts.steps.iter().find(|s| !names.contains(s)) {
        return Err(UndoError::Usage(format!(
            "--step {bad}: no such step in the mappings given (steps: {})",
            names.join(", ")
        )));
    }
    if !opts.journal.exists() {
        return Err(JournalError::Missing { path: opts.journal.clone() }.into());
    }
    let mut report_runs = Vec::new();
    let mut journal =
        if opts.dry_run { Journal::open_read_only(&opts.journal)? } else { Journal::open(&opts.journal)? };
    if let Some(bad) = opts.runs.iter().find(|r| !journal.has_run(**r).unwrap_or(false)) {
        return Err(UndoError::Usage(format!("--run {bad}: the journal has no such run")));
    }
    if opts.dry_run {
        report_runs = journal
            .runs()?
            .into_iter()
            .map(|r| {
                format!("{}: {} ({})", r.id.0, r.args, r.outcome.as_deref().unwrap_or("running or killed"))
            })
            .collect();
    }
    let known = journal.steps()?;
    let parents = parents_of(&opts.mappings);
    let mut steps = Vec::new();
    for name in names.iter().rev() {
        if !opts.steps.is_empty() && !opts.steps.contains(name) {
            continue;
        }
        if let Some(record) = known.iter().find(|s| &s.name == name) {
            let parent_undone = parents.get(name).is_some_and(|p| {
                (opts.steps.is_empty() || opts.steps.contains(p)) && known.iter().any(|s| &s.name == p)
            });
            steps.push(UndoStep {
                kind: UndoKind::of_label(&record.entity),
                record: record.clone(),
                parent_undone,
            });
        }
    }
    let run_id = if opts.dry_run { None } else { Some(journal.begin_run(&opts.job, &opts.args_summary)?) };
    let reads = Reads::new(std::sync::Arc::new(transport.clone()));
    let mut report = UndoReport {
        dry_run: opts.dry_run,
        journal: opts.journal.display().to_string(),
        runs: report_runs,
        ..Default::default()
    };
    for step in &steps {
        if transport.shutdown().is_stopped() {
            report.interrupted = true;
            break;
        }
        let mut undoer =
            StepUndo { journal: &mut journal, reads: &reads, opts, step, report: Default::default() };
        let result = undoer.run().await;
        report.steps.push(undoer.report);
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
            StepEnd::Journal(e) => return Err(e.into()),
        }
    }
    report.requests = transport.stats().requests;
    report.elapsed_secs = started.elapsed().as_secs_f64();
    if let Some(id) = run_id {
        let outcome = if report.stopped.is_some() {
            "undo stopped by the portal"
        } else if report.interrupted {
            "undo interrupted"
        } else if report.not_undone() > 0 {
            "undo: some rows not undone"
        } else {
            "undo completed"
        };
        journal.finish_run(id, outcome)?;
    }
    Ok(report)
}

/// One step's undo.
struct StepUndo<'a> {
    journal: &'a mut Journal,
    reads: &'a Reads,
    opts: &'a UndoOptions,
    step: &'a UndoStep,
    report: UndoStepReport,
}

impl StepUndo<'_> {
    async fn run(&mut self) -> Result<(), Stop> {
        let step = self.step;
        self.report.step = step.record.name.clone();
        self.report.entity = step.record.entity.clone();
        self.report.undone_before = self.journal.undone_count(step.record.id)?;
        let rows = self.journal.undo_rows(step.record.id)?;
        let (mine, others): (Vec<UndoRow>, Vec<UndoRow>) =
            rows.into_iter().partition(|r| r.created_in(&self.opts.runs));
        self.report.left_alone = others.len() as u64;
        let Some(kind) = step.kind else {
            self.report.left_alone += mine.len() as u64;
            if !mine.is_empty() {
                self.report.notes.push(format!(
                    "{} row(s) of kind `{}`: this version cannot undo that kind; left as they are",
                    mine.len(),
                    step.record.entity
                ));
                self.report.failed.extend(mine.iter().map(|r| UndoFailure {
                    key: r.shown(),
                    id: r.portal_id,
                    code: "unsupported".into(),
                    text: format!("b24import cannot undo `{}` rows", step.record.entity),
                }));
            }
            return Ok(());
        };
        if kind == UndoKind::WithParent {
            return self.with_parent(mine);
        }
        if kind.delete(0).is_none() {
            // Users: the portal cannot delete them (a user is dismissed by hand, not deleted).
            self.report.users_left = mine.len() as u64;
            self.report.left_alone = others.len() as u64;
            return Ok(());
        }
        self.report.to_delete = mine.len() as u64;
        if self.opts.dry_run {
            self.report.would_delete = mine.len() as u64;
            return Ok(());
        }
        // A delete whose outcome an earlier undo never learned is checked before anything else.
        let undoing: Vec<UndoTarget> =
            mine.iter().filter(|r| r.state == RowState::Undoing).map(UndoTarget::of).collect();
        let mut to_send: Vec<UndoTarget> =
            mine.iter().filter(|r| r.state == RowState::Done).map(UndoTarget::of).collect();
        if !undoing.is_empty() {
            let still = self.check(kind, undoing).await?;
            to_send.extend(still);
        }
        for round in 0..=CHECK_ROUNDS {
            let unknown = self.send(kind, std::mem::take(&mut to_send)).await?;
            if unknown.is_empty() {
                break;
            }
            if round == CHECK_ROUNDS {
                self.report.unknown += unknown.len() as u64;
                break;
            }
            to_send = self.check(kind, unknown).await?;
        }
        Ok(())
    }

    /// Sends the deletes of `targets` through the one send loop; the rows whose delete's
    /// outcome stays unknown.
    async fn send(&mut self, kind: UndoKind, targets: Vec<UndoTarget>) -> Result<Vec<UndoTarget>, Stop> {
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let shutdown = self.reads.portal().shutdown();
        let mut sender: Dispatcher<UndoTarget> = Dispatcher::new(self.reads.shared(), self.opts.batch_size);
        let mut landing = UndoLanding {
            journal: self.journal,
            step: self.step.record.id,
            kind,
            report: &mut self.report,
            unknown: Vec::new(),
        };
        for t in targets {
            if shutdown.is_stopped() {
                sender.drain(&mut landing).await?;
                return Err(Stop::Interrupted);
            }
            let Some(cmd) = kind.delete(t.id) else { continue };
            sender.push(&mut landing, t, cmd).await?;
        }
        sender.finish(&mut landing).await?;
        Ok(landing.unknown)
    }

    /// Rows that go with their parent (addresses with their requisite): undone without a
    /// request when the parent step is undone too, else listed as not undone.
    fn with_parent(&mut self, mine: Vec<UndoRow>) -> Result<(), Stop> {
        let step = self.step;
        if !step.parent_undone {
            self.report.failed.extend(mine.iter().map(|r| UndoFailure {
                key: r.shown(),
                id: r.portal_id,
                code: "with_parent".into(),
                text: format!("a `{}` goes with its parent: undo its parent step too", step.record.entity),
            }));
            return Ok(());
        }
        self.report.to_delete = mine.len() as u64;
        if self.opts.dry_run {
            self.report.would_delete = mine.len() as u64;
            return Ok(());
        }
        let undoing: Vec<(&str, Transition<'_>)> = mine
            .iter()
            .filter(|r| r.state == RowState::Done)
            .map(|r| (r.key.as_str(), Transition::Undoing))
            .collect();
        self.journal.apply(step.record.id, &undoing)?;
        let undone: Vec<(&str, Transition<'_>)> =
            mine.iter().map(|r| (r.key.as_str(), Transition::Undone)).collect();
        self.journal.apply(step.record.id, &undone)?;
        self.report.deleted += mine.len() as u64;
        if !mine.is_empty() {
            self.report.notes.push(format!(
                "{} {}(es) go with their parents, deleted next (the portal deletes them together)",
                mine.len(),
                step.record.entity
            ));
        }
        Ok(())
    }

    /// Checks in the portal whether the items of `targets` (rows `undoing`) are gone: gone ->
    /// `undone`, still there -> `done` again and returned (to be deleted). A check that fails
    /// decides nothing: the rows stay `undoing` (counted unknown, checked by the next undo).
    /// Found gone, a delete whose outcome was unknown counts as deleted (it most likely ran).
    async fn check(&mut self, kind: UndoKind, targets: Vec<UndoTarget>) -> Result<Vec<UndoTarget>, Stop> {
        let ids: Vec<u64> = targets.iter().map(|t| t.id).collect();
        let mut present = HashSet::new();
        if matches!(kind, UndoKind::Attached(_) | UndoKind::ProductRows { .. }) {
            // No list by ID: the delete goes again, and its answer says whether it is gone.
            let changes: Vec<(&str, Transition<'_>)> =
                targets.iter().map(|t| (t.key.as_str(), Transition::Restored)).collect();
            self.journal.apply(self.step.record.id, &changes)?;
            return Ok(targets);
        }
        for chunk in ids.chunks(CHECK_CHUNK) {
            let Some(params) = kind.check_params(chunk) else { return Ok(Vec::new()) };
            match self.reads.ask(Method::CrmItemList, &params).await? {
                Ok(v) => {
                    let items = v.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
                    present.extend(items.iter().filter_map(|i| i.get("id").and_then(bjson::id)));
                }
                Err(e) => {
                    let why = match e {
                        CallError::Rejected { code, description, .. } => format!("{code}: {description}"),
                        CallError::Transport(t) => t.to_string(),
                    };
                    self.report.notes.push(format!(
                        "could not check {} delete(s) with an unknown outcome ({why}); they stay `undoing` \
                         and the next undo checks them first",
                        targets.len()
                    ));
                    self.report.unknown += targets.len() as u64;
                    return Ok(Vec::new());
                }
            }
        }
        let mut changes: Vec<(&str, Transition<'_>)> = Vec::new();
        let mut again = Vec::new();
        for t in &targets {
            if present.contains(&t.id) {
                changes.push((t.key.as_str(), Transition::Restored));
                again.push(t.clone());
            } else {
                changes.push((t.key.as_str(), Transition::Undone));
                self.report.deleted += 1;
            }
        }
        self.journal.apply(self.step.record.id, &changes)?;
        Ok(again)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::portal::RowAnswer;
    use crate::portal::answer::answer_of;
    use crate::transport::CommandOutcome;

    #[test]
    fn a_step_kind_comes_from_the_journal_label_and_users_cannot_be_deleted() {
        assert_eq!(UndoKind::of_label("contact"), Some(UndoKind::CrmItem { entity_type_id: 3 }));
        assert_eq!(UndoKind::of_label("spa:1032"), Some(UndoKind::CrmItem { entity_type_id: 1032 }));
        assert_eq!(UndoKind::of_label("user"), Some(UndoKind::User));
        assert_eq!(UndoKind::of_label("comment"), Some(UndoKind::Attached(Attached::Comment)));
        assert_eq!(UndoKind::of_label("address"), Some(UndoKind::WithParent));
        assert!(UndoKind::User.delete(5).is_none());
        let cmd = UndoKind::CrmItem { entity_type_id: 4 }.delete(7).expect("a delete");
        assert_eq!((cmd.method, cmd.params), (Method::CrmItemDelete, json!({"entityTypeId": 4, "id": 7})));
    }

    #[test]
    fn product_rows_are_emptied_on_the_parent_their_label_names() {
        let kind = UndoKind::of_label("product_rows:156").expect("a kind");
        assert_eq!(kind, UndoKind::ProductRows { owner_entity_type_id: 156 });
        let cmd = kind.delete(9).expect("a set");
        assert_eq!(cmd.method, Method::CrmItemProductrowSet);
        assert_eq!(cmd.params, json!({"ownerType": "T9c", "ownerId": 9, "productRows": []}));
        assert!(kind.gone_by_refusal("OWNER_NOT_FOUND", "Owner was not found"));
        assert_eq!(UndoKind::of_label("product_rows"), None);
    }

    #[test]
    fn only_item_not_found_means_gone() {
        // `universal/crm-item-delete.md`: NOT_FOUND "Item not found" (no such item) vs
        // NOT_FOUND "SPA not found" (a wrong entityTypeId).
        let k = UndoKind::CrmItem { entity_type_id: 3 };
        assert!(k.gone_by_refusal("NOT_FOUND", "Item not found"));
        assert!(!k.gone_by_refusal("NOT_FOUND", "SPA not found"));
        assert!(!k.gone_by_refusal("ACCESS_DENIED", "Access denied"));
    }

    #[test]
    fn a_delete_answered_with_an_empty_array_is_done_with_the_item_it_named() {
        let cmd = UndoKind::CrmItem { entity_type_id: 3 }.delete(12).expect("a delete");
        let done = CommandOutcome::Done(json!([]));
        assert_eq!(answer_of(Some(&done), &cmd), RowAnswer::Done { id: 12, update: false });
    }
}
