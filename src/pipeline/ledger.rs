//! The journal side of a run and of each of its steps, with "writing or not" as one value.
//!
//! Owns: opening the journal for a run ([`RunJournal`]: writing, or read-only for a dry run,
//! which may have no journal at all), beginning and finishing the journal run, registering a
//! step (its identity and source fingerprint), and [`Ledger`], through which a step reads and
//! records its rows. Each recording method is one batch of typed [`Transition`]s applied in
//! one transaction ([`Ledger::apply`]; the journal refuses a transition the row's state does
//! not allow, see `journal::rows`): `mark_pending` is `Pending`, `reopen` `Reopen`, `mark_sent`
//! `Sent`, `record_outcomes` `Done`/`Rejected`/`Unknown`/`NotRun`, `set_field_hashes`
//! `Confirmed`, `reject` `Pending` or `Reopen` then `Rejected`, `record_existing`
//! `FoundExisting`, `record_to_update` `FoundToUpdate`. Row keys are the text of a
//! `journal::RowKey`, as `run::journal_key` makes them. A dry run's ledger reads what the
//! journal holds and writes nothing: every recording method is a no-op there, so callers never
//! test a flag or unwrap a journal.
//! Must not decide anything about rows (that is `admit`) nor talk to the portal.
//!
//! The journal's API is synchronous. A step's ledger borrows the run's one [`Journal`] for the
//! whole step, across its `.await`s (requests, limit waits): each journal call is a short
//! SQLite transaction made on the run's task between two awaits, never while one is pending,
//! and no other task touches the journal.

use std::collections::HashMap;

use super::job::{RunError, RunOptions, absolute_path, canonical_source, source_changed_advice, step_label};
use super::prepare::Step;
use crate::journal::{
    self, Counts, FieldHasher, FieldHashes, FingerprintCheck, Journal, JournalError, NewRow, Outcome, RowKey,
    RowStatus, RunId, StepId, StepSpec, Transition,
};

/// The journal of a run: open for writing (holding its lock), or only read by a dry run.
pub(super) enum RunJournal {
    Writing(Journal),
    /// A dry run: the journal when one exists, opened read-only.
    DryRun(Option<Journal>),
}

impl RunJournal {
    /// A run holds the journal's lock throughout; a dry run writes nothing, so it only reads.
    pub(super) fn open(opts: &RunOptions) -> Result<RunJournal, JournalError> {
        Ok(if !opts.dry_run {
            RunJournal::Writing(Journal::open(&opts.journal)?)
        } else if opts.journal.exists() {
            RunJournal::DryRun(Some(Journal::open_read_only(&opts.journal)?))
        } else {
            RunJournal::DryRun(None)
        })
    }

    /// The journal to read, if there is one.
    pub(super) fn reader(&self) -> Option<&Journal> {
        match self {
            RunJournal::Writing(j) => Some(j),
            RunJournal::DryRun(j) => j.as_ref(),
        }
    }

    /// Records the start of a run (nothing for a dry run).
    pub(super) fn begin_run(&mut self, job: &str, args_summary: &str) -> Result<Option<RunId>, JournalError> {
        match self {
            RunJournal::Writing(j) => Ok(Some(j.begin_run(job, args_summary)?)),
            RunJournal::DryRun(_) => Ok(None),
        }
    }

    /// Records how the run `id` ended (nothing for a dry run).
    pub(super) fn finish_run(&mut self, id: Option<RunId>, outcome: &str) -> Result<(), JournalError> {
        match (self, id) {
            (RunJournal::Writing(j), Some(id)) => j.finish_run(id, outcome),
            _ => Ok(()),
        }
    }

    /// The ledger of the `order`-th step of the run: registers the step and checks its source's
    /// fingerprint when writing (a change is noted in `notes` with what the run does about it),
    /// finds the step's earlier record when only reading.
    pub(super) fn step(
        &mut self,
        step: &Step,
        order: usize,
        notes: &mut Vec<String>,
    ) -> Result<Ledger<'_>, RunError> {
        match self {
            RunJournal::Writing(j) => {
                let source = absolute_path(step.source_path());
                let fingerprint = journal::Fingerprint::of_file(&source);
                let canonical = canonical_source(step);
                let id = j.upsert_step(&StepSpec {
                    name: &step.plan.name,
                    mapping_path: &absolute_path(&step.file.path),
                    entity: &step_label(&step.plan.target),
                    order: order as i64,
                    source: &canonical,
                    source_sha256: fingerprint.as_ref().ok().map(|f| f.sha256.as_str()),
                })?;
                match fingerprint {
                    Ok(fp) => {
                        if let FingerprintCheck::Changed(change) = j.check_fingerprint(&source, &fp)? {
                            notes.push(format!("{change}; {}", source_changed_advice(step.plan.target.mode)));
                        }
                        j.record_fingerprint(&source, &fp)?;
                    }
                    Err(e) => notes.push(format!("cannot fingerprint {}: {e}", source.display())),
                }
                Ok(Ledger::Writing { journal: j, step: id })
            }
            RunJournal::DryRun(j) => {
                let journal = j.as_ref();
                let step = match journal {
                    Some(j) => j.steps()?.into_iter().find(|s| s.name == step.plan.name).map(|s| s.id),
                    None => None,
                };
                Ok(Ledger::DryRun { journal, step })
            }
        }
    }
}

/// The journal side of one step. `Writing` records every row's fate; `DryRun` reads what an
/// earlier run recorded (when there is a journal and it knows the step) and records nothing.
pub(super) enum Ledger<'a> {
    Writing { journal: &'a mut Journal, step: StepId },
    DryRun { journal: Option<&'a Journal>, step: Option<StepId> },
}

impl Ledger<'_> {
    /// Issue 21: remembers the rows a sample run takes (nothing for a dry run).
    pub(super) fn record_sampled(&mut self, keys: &[&str]) -> Result<(), JournalError> {
        match self {
            Ledger::Writing { journal, step } => journal.record_sampled(*step, keys),
            Ledger::DryRun { .. } => Ok(()),
        }
    }

    /// Whether this step writes (to the journal and to the portal).
    pub(super) fn is_writing(&self) -> bool {
        matches!(self, Ledger::Writing { .. })
    }

    fn reader(&self) -> Option<&Journal> {
        match self {
            Ledger::Writing { journal, .. } => Some(journal),
            Ledger::DryRun { journal, .. } => *journal,
        }
    }

    /// The journal and this step's ID, when the journal knows the step.
    fn this_step(&self) -> Option<(&Journal, StepId)> {
        match self {
            Ledger::Writing { journal, step } => Some((journal, *step)),
            Ledger::DryRun { journal, step } => Some(((*journal)?, (*step)?)),
        }
    }

    /// Hashes field values as this journal stores them (a fresh salt without a journal).
    pub(super) fn hasher(&self) -> FieldHasher {
        self.reader().map(|j| j.field_hasher().clone()).unwrap_or_default()
    }

    /// What the journal holds of the row `key` of this step.
    pub(super) fn row_state(&self, key: &str) -> Result<Option<RowStatus>, JournalError> {
        match self.this_step() {
            Some((j, step)) => j.row_state(step, key),
            None => Ok(None),
        }
    }

    /// Key -> portal ID of the done rows of this step (none if the journal does not know it).
    pub(super) fn done_ids(&self) -> Result<Vec<(String, u64)>, JournalError> {
        match self.this_step() {
            Some((j, step)) => j.ids(step),
            None => Ok(Vec::new()),
        }
    }

    /// Source key -> portal ID of the done rows of the step named `name` (empty if it is not
    /// known), for lookups by key: rows kept by their line have no key to be looked up by.
    pub(super) fn ids_of_step(&self, name: &str) -> Result<HashMap<String, u64>, JournalError> {
        let mut ids = HashMap::new();
        if let Some(j) = self.reader()
            && let Some(s) = j.steps()?.into_iter().find(|s| s.name == name)
        {
            for (key, id) in j.ids(s.id)? {
                if let RowKey::Source(key) = RowKey::decode(&key) {
                    ids.insert(key, id);
                }
            }
        }
        Ok(ids)
    }

    /// Rows an earlier run left `sent`/`unknown` (none for a dry run: it never reconciles).
    pub(super) fn rows_to_reconcile(&self) -> Result<Vec<RowStatus>, JournalError> {
        match self {
            Ledger::Writing { journal, step } => journal.rows_to_reconcile(*step),
            Ledger::DryRun { .. } => Ok(Vec::new()),
        }
    }

    /// The row counts of this step, when writing (a dry run's figures are its own).
    pub(super) fn counts(&self) -> Result<Option<Counts>, JournalError> {
        match self {
            Ledger::Writing { journal, step } => journal.counts(*step).map(Some),
            Ledger::DryRun { .. } => Ok(None),
        }
    }

    /// Whether the row `key` still waits for a lookup of its outcome.
    pub(super) fn still_unknown(&self, key: &str) -> Result<bool, JournalError> {
        Ok(self.row_state(key)?.is_some_and(|s| s.state.needs_reconciliation()))
    }

    /// The journal and step to write to; `None` in a dry run.
    fn writer(&mut self) -> Option<(&mut Journal, StepId)> {
        match self {
            Ledger::Writing { journal, step } => Some((journal, *step)),
            Ledger::DryRun { .. } => None,
        }
    }

    /// Applies `changes` (row key -> [`Transition`]) in one transaction; a transition the row's
    /// state does not allow is refused and nothing changes ([`Journal::apply`]).
    pub(super) fn apply(&mut self, changes: &[(&str, Transition<'_>)]) -> Result<(), JournalError> {
        match self.writer() {
            Some((j, step)) => j.apply(step, changes),
            None => Ok(()),
        }
    }

    /// Records a row to create as `pending` (`Pending`: new, or pending already).
    pub(super) fn mark_pending(&mut self, row: NewRow<'_>) -> Result<(), JournalError> {
        self.apply(&[(row.key, Transition::Pending { row_ref: row.row_ref, payload_hash: row.payload_hash })])
    }

    /// Opens a row again because its source row changed (`Reopen`: its portal ID is kept).
    pub(super) fn reopen(&mut self, row: NewRow<'_>) -> Result<(), JournalError> {
        self.apply(&[(row.key, Transition::Reopen { row_ref: row.row_ref, payload_hash: row.payload_hash })])
    }

    /// Records the rows of one request `sent`, before it leaves.
    pub(super) fn mark_sent(&mut self, keys: &[&str]) -> Result<(), JournalError> {
        let changes: Vec<(&str, Transition<'_>)> = keys.iter().map(|k| (*k, Transition::Sent)).collect();
        self.apply(&changes)
    }

    /// Records what happened to sent rows (or to rows a lookup decided), in one transaction.
    pub(super) fn record_outcomes(&mut self, outcomes: &[(&str, Outcome)]) -> Result<(), JournalError> {
        let changes: Vec<(&str, Transition<'_>)> =
            outcomes.iter().map(|(k, o)| (*k, o.transition())).collect();
        self.apply(&changes)
    }

    /// For `status`: how many rows the step's source holds, so its ETA counts unread rows too.
    pub(super) fn set_source_rows(&mut self, step_name: &str, rows: u64) -> Result<(), JournalError> {
        match self.writer() {
            Some((j, _)) => j.set_meta(&crate::journal::keys::source_rows_meta(step_name), &rows.to_string()),
            None => Ok(()),
        }
    }

    /// Records a row as rejected with `code`/`text` in one transaction: reopened first if the
    /// journal holds it (`in_journal`), otherwise recorded pending first.
    pub(super) fn reject(
        &mut self,
        row: NewRow<'_>,
        code: &str,
        text: &str,
        in_journal: bool,
    ) -> Result<(), JournalError> {
        let (row_ref, payload_hash) = (row.row_ref, row.payload_hash);
        let enter = if in_journal {
            Transition::Reopen { row_ref, payload_hash }
        } else {
            Transition::Pending { row_ref, payload_hash }
        };
        self.apply(&[(row.key, enter), (row.key, Transition::Rejected { code, text })])
    }

    /// Records a row as done with the item `id` found in the portal (or kept from an earlier
    /// run), with the hashes of the fields it now holds: one transaction, whether or not the
    /// journal held the row.
    pub(super) fn record_existing(
        &mut self,
        row: NewRow<'_>,
        id: u64,
        fields: &FieldHashes,
    ) -> Result<(), JournalError> {
        let (row_ref, payload_hash) = (row.row_ref, row.payload_hash);
        self.apply(&[(row.key, Transition::FoundExisting { row_ref, payload_hash, id, fields })])
    }

    /// Records a row found in the portal as the item `id`, about to be updated: `pending` with
    /// the ID and the `baseline` the same update is computed from again, in one transaction (a
    /// crash before or after the update resends the update, and never creates the row).
    pub(super) fn record_to_update(
        &mut self,
        row: NewRow<'_>,
        id: u64,
        baseline: &FieldHashes,
    ) -> Result<(), JournalError> {
        let (row_ref, payload_hash) = (row.row_ref, row.payload_hash);
        self.apply(&[(row.key, Transition::FoundToUpdate { row_ref, payload_hash, id, baseline })])
    }
}
