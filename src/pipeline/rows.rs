//! Carrying out the per-row decision: what `admit` decided for a prepared row, done.
//!
//! Owns: [`Admission`], the step's part that takes each source row in: its lookups
//! ([`Resolver`]), the queue of upsert/update rows waiting for a portal lookup by key, the keys
//! the source holds (to list rows it no longer has), and the journal records of a row that is
//! skipped, rejected, reopened or created (through [`Core`]). Rows to create go to the
//! duplicate check ([`DupState`]) first. Must not send anything itself: it hands the commands
//! back to the step.

use std::collections::HashSet;

use super::admit::{self, Admit, Found, Keep, Row, Rules};
use super::attached::Communications;
use super::core::{Core, Ready, Unseen};
use super::job::journal_key;
use super::matching::DupState;
use super::prepare::Prepared;
use super::resolve::Resolver;
use super::stop::Stop;
use super::upsert;
use crate::journal::{self, JournalError, NewRow};
use crate::mapping::{Entity, Problem, RowIssue};
use crate::payload::{self, Command};

/// Keys of rows that disappeared from the source listed in the report (the count is exact).
pub(super) const MAX_MISSING_KEYS: usize = 10_000;

/// Rows waiting for their parent named one by one in the step's notes.
const MAX_WAITING_NAMED: u64 = 10;

/// A row being admitted: its journal key, how it is shown, and its payload (or cells) hash.
struct Admitted<'r> {
    key: String,
    row_ref: &'r str,
    hash: &'r str,
}

/// The step's part that takes source rows in.
pub(super) struct Admission {
    /// Lookups and user IDs found so far.
    pub(super) resolver: Resolver,
    /// Upsert/update rows waiting for a portal lookup of their keys.
    pub(super) unseen: Vec<Unseen>,
    /// Hashes of the keys this run's source holds (to report rows that disappeared).
    seen: HashSet<u64>,
    /// Activities: the parents' phones and e-mails (read once per parent).
    comms: Communications,
    /// Comments: the portal IDs this step holds (a comment is matched by text once only).
    comment_ids: Option<HashSet<u64>>,
}

impl Admission {
    pub(super) fn new(resolver: Resolver) -> Admission {
        Admission {
            resolver,
            unseen: Vec::new(),
            seen: HashSet::new(),
            comms: Communications::default(),
            comment_ids: None,
        }
    }

    /// Counts the journal key `key` as one the source holds (product rows: their parent's key).
    pub(super) fn saw(&mut self, key: &str) {
        self.seen.insert(key_hash(key));
    }

    /// Lists the done rows of this step whose keys the source no longer has (never deleted).
    pub(super) fn report_missing(&self, core: &mut Core<'_>) -> Result<(), JournalError> {
        for (key, _) in core.ledger.done_ids()? {
            if !self.seen.contains(&key_hash(&key)) {
                core.report.missing += 1;
                if core.report.missing_keys.len() < MAX_MISSING_KEYS {
                    core.report.missing_keys.push(journal::keys::shown(&key));
                }
            }
        }
        Ok(())
    }

    /// Decides what to do with one prepared row: skip, reject, or send (returned; rows of an
    /// upsert with no journal record wait in `unseen` for a portal lookup instead).
    pub(super) async fn admit(
        &mut self,
        core: &mut Core<'_>,
        dups: &mut DupState,
        p: Prepared,
    ) -> Result<Vec<Ready>, Stop> {
        let row_ref = p.record.row.to_string();
        let mut journal_key = journal_key(&p);
        let mut known = core.ledger.row_state(&journal_key)?;
        // A composite key with `|` or `\` in a cell: a journal of a version before key escaping
        // holds the row under the plain join. Keep using that record, never create it again.
        if known.is_none()
            && core.plan.key_columns.len() > 1
            && let Some(old) = journal::keys::with_source_key(&journal_key, crate::mapping::unescaped_key)
            && let Some(k) = core.ledger.row_state(&old)?
        {
            journal_key = old;
            known = Some(k);
        }
        self.seen.insert(key_hash(&journal_key));
        let key = journal_key;
        let draft = match p.outcome {
            Err(issues) => {
                let cells = cells_hash(&p.record);
                let text = crate::mapping::describe(&issues);
                let row = Row::Invalid { cells: &cells, code: code_of(&issues), text: &text };
                return self.refused(
                    core,
                    dups,
                    known.as_ref(),
                    row,
                    Admitted { key, row_ref: &row_ref, hash: &cells },
                );
            }
            Ok(draft) => draft,
        };
        // Left unknown by reconciliation (no key to look it up): never resent. A comment is found
        // by its text and author once its parent is known (below).
        let comment = core.plan.target.entity == Entity::Comment;
        if admit::awaits_outcome(known.as_ref()) && !comment {
            return Ok(Vec::new());
        }
        let portal = core.portal();
        let cmd = match self.resolver.resolve(draft, &core.ledger, portal).await? {
            Ok(cmd) => cmd,
            Err((Problem::ParentPending, text)) if !admit::is_done(known.as_ref()) => {
                let cells = cells_hash(&p.record);
                return self.wait_for_parent(core, Admitted { key, row_ref: &row_ref, hash: &cells }, text);
            }
            Err((problem, text)) => {
                let cells = cells_hash(&p.record);
                let row = Row::Unresolved { cells: &cells, code: problem.as_str(), text: &text };
                return self.refused(
                    core,
                    dups,
                    known.as_ref(),
                    row,
                    Admitted { key, row_ref: &row_ref, hash: &cells },
                );
            }
        };
        if admit::awaits_outcome(known.as_ref()) {
            // A comment an earlier run left `sent`/`unknown`: found -> done; absent -> sent.
            match self.comment_left_over(core, &key, &cmd).await? {
                Some(state) => known = state,
                None => return Ok(Vec::new()),
            }
        }
        let hash = journal::payload_hash(&cmd);
        let decision =
            admit::decide(known.as_ref(), Row::Ready { hash: &hash, cmd: &cmd }, Self::rules(core));
        let mut cmd = cmd;
        if let Some(known) = known.as_ref().filter(|k| k.state == journal::RowState::Done)
            && core.writing()
            && let Some(id) = known.portal_id
            && known.field_hashes.as_ref().is_none_or(|f| f.fields.contains_key(payload::COMPLETE_AFTER))
        {
            // An e-mail added but not yet marked completed (a run stopped in between).
            core.owe_followup(&key, &cmd, id);
            // An address found existing whose update did not land yet (issue 20).
            if known.field_hashes.is_none()
                && let Some(update) = payload::record::address_update_of(&cmd)
            {
                core.owe_address_update(&key, update);
            }
        }
        if core.plan.target.entity == Entity::Activity
            && matches!(decision, Admit::Create { .. } | Admit::LookUpFirst { .. })
        {
            // Filled after the hash: a parent's new phone does not make the row "changed".
            self.comms.fill(core, &mut cmd).await?;
        }
        self.carry_out(core, dups, decision, Admitted { key, row_ref: &row_ref, hash: &hash }, Some(cmd))
    }

    /// A comment an earlier run left `sent`/`unknown`, looked up by its text and author among
    /// its parent's comments: found -> recorded done (`None`: nothing more to do); absent ->
    /// pending again (`Some`: its state now, to be sent); the lookup failed -> it stays (`None`).
    async fn comment_left_over(
        &mut self,
        core: &mut Core<'_>,
        key: &str,
        cmd: &Command,
    ) -> Result<Option<Option<journal::RowStatus>>, Stop> {
        if self.comment_ids.is_none() {
            let own = core.ledger.ids_of_step(&core.plan.name)?;
            self.comment_ids = Some(own.into_values().collect());
        }
        let taken = self.comment_ids.as_ref().expect("filled above");
        match super::attached::find_comment(core, cmd, taken).await? {
            Ok(Some(id)) => {
                core.ledger.record_outcomes(&[(key, journal::Outcome::Done { id, existing: false })])?;
                core.report.reconciled_found += 1;
                if let Some(ids) = self.comment_ids.as_mut() {
                    ids.insert(id);
                }
                Ok(None)
            }
            Ok(None) => {
                core.ledger.record_outcomes(&[(key, journal::Outcome::Retry)])?;
                core.report.reconciled_absent += 1;
                Ok(Some(core.ledger.row_state(key)?))
            }
            Err(e) => {
                core.report.notes.push(format!(
                    "could not look up comment {} left by an earlier run ({e}); it stays unknown",
                    journal::keys::shown(key)
                ));
                Ok(None)
            }
        }
    }

    /// A row the mapping or the run's lookups refused (`row`, hashed by its cells): decided and
    /// carried out like any other (a row that was done stays done).
    fn refused(
        &mut self,
        core: &mut Core<'_>,
        dups: &mut DupState,
        known: Option<&crate::journal::RowStatus>,
        row: Row<'_>,
        at: Admitted<'_>,
    ) -> Result<Vec<Ready>, Stop> {
        let decision = admit::decide(known, row, Self::rules(core));
        self.carry_out(core, dups, decision, at, None)
    }

    /// An attached record whose parent is not done: `pending` in the journal (tried again on
    /// the next run), counted, the first few named in a note.
    fn wait_for_parent(
        &mut self,
        core: &mut Core<'_>,
        row: Admitted<'_>,
        why: String,
    ) -> Result<Vec<Ready>, Stop> {
        core.report.waiting_for_parent += 1;
        if core.report.waiting_for_parent <= MAX_WAITING_NAMED {
            core.report.notes.push(format!("{}: {why}", row.row_ref));
        }
        if core.writing() {
            core.ledger.mark_pending(NewRow {
                key: &row.key,
                row_ref: row.row_ref,
                payload_hash: row.hash,
            })?;
        } else {
            core.report.pending += 1;
        }
        Ok(Vec::new())
    }

    /// The step's rules for [`admit::decide`].
    fn rules<'c>(core: &'c Core<'_>) -> Rules<'c> {
        let target = &core.plan.target;
        Rules {
            mode: target.mode,
            entity: target.entity,
            on_existing: target.on_existing,
            hasher: &core.hasher,
        }
    }

    /// Does what [`admit::decide`] decided for the row `key` (payload hash `hash`); `cmd` is its
    /// command when it has one.
    fn carry_out(
        &mut self,
        core: &mut Core<'_>,
        dups: &mut DupState,
        decision: Admit,
        row: Admitted<'_>,
        cmd: Option<Command>,
    ) -> Result<Vec<Ready>, Stop> {
        let Admitted { key, row_ref, hash } = row;
        match (decision, cmd) {
            (Admit::Unchanged(state), _) => core.report.finished_before(state),
            (Admit::Keep(why), _) => {
                core.report.skipped += 1;
                if why == Keep::ChangedInCreateMode {
                    core.report.changed_not_updated += 1;
                }
            }
            (Admit::Leave(_), _) => {}
            (Admit::Reject { code, text, in_journal }, _) => {
                core.reject(&key, row_ref, hash, code, &text, in_journal)?;
            }
            (Admit::Record { id }, Some(cmd)) => {
                core.report.skipped += 1;
                core.set_fields_and_hash(&key, row_ref, hash, upsert::fields_of(&cmd), id)?;
            }
            (Admit::Update { id, fields }, Some(cmd)) => {
                if !core.writing() {
                    core.report.would_send += 1;
                    return Ok(Vec::new());
                }
                core.reopen(&key, row_ref, hash)?;
                let update = payload::update_command(&core.plan.target, id, fields);
                let fields = Some(core.hasher.hashes(upsert::fields_of(&cmd)));
                return Ok(vec![Ready { key, cmd: update, fields }]);
            }
            (Admit::Create { reopen }, Some(cmd)) => {
                if reopen {
                    core.reopen(&key, row_ref, hash)?;
                }
                return dups.create_checked(core, key, row_ref, hash, cmd);
            }
            (Admit::LookUpFirst { reopen }, Some(cmd)) => {
                if reopen {
                    core.reopen(&key, row_ref, hash)?;
                }
                self.unseen.push(Unseen { key, row_ref: row_ref.to_string(), hash: hash.to_string(), cmd });
            }
            // Only a row with a command is created or updated (`decide` says so for ready rows only).
            (
                Admit::Record { .. }
                | Admit::Update { .. }
                | Admit::Create { .. }
                | Admit::LookUpFirst { .. },
                None,
            ) => {}
        }
        Ok(Vec::new())
    }

    /// Looks the waiting upsert rows up by their external key: found items are updated with
    /// every mapped field (the journal has no record of what they hold), absent ones created
    /// (`upsert`) or rejected (`update`).
    pub(super) async fn flush_unseen(
        &mut self,
        core: &mut Core<'_>,
        dups: &mut DupState,
    ) -> Result<Vec<Ready>, Stop> {
        if self.unseen.is_empty() {
            return Ok(Vec::new());
        }
        let rows = std::mem::take(&mut self.unseen);
        // The portal holds a row's source key (a journal key is its text, `\#7` for `#7`).
        let keys: Vec<String> = rows.iter().map(|r| journal::keys::shown(&r.key)).collect();
        let found = match core.portal().find_items(&core.plan.target, &keys, true).await? {
            Ok(found) => found,
            Err(e) => {
                // Unsure whether they exist: never create blindly. They stay out of the journal
                // and the next run tries again.
                core.report
                    .notes
                    .push(format!("could not look up {} new row(s) ({e}); run again", rows.len()));
                core.report.pending += rows.len() as u64;
                return Ok(Vec::new());
            }
        };
        let mut ready = Vec::new();
        for row in rows {
            let lookup_key = if core.plan.target.entity == Entity::User {
                journal::keys::shown(&row.key).to_lowercase()
            } else {
                journal::keys::shown(&row.key)
            };
            let item = found.get(&lookup_key).map(|(id, item)| (*id, item));
            let new_row = NewRow { key: &row.key, row_ref: &row.row_ref, payload_hash: &row.hash };
            match admit::after_lookup(item, &row.cmd, Self::rules(core)) {
                Found::Reject { code, text } => {
                    core.reject(&row.key, &row.row_ref, &row.hash, code, text, false)?;
                }
                Found::Existing { .. } | Found::Update { .. } if !core.writing() => {
                    core.report.would_send += 1;
                }
                Found::Existing { id } => {
                    let hashes = core.hasher.hashes(upsert::fields_of(&row.cmd));
                    core.ledger.record_existing(new_row, id, &hashes)?;
                    core.report.existing += 1;
                }
                Found::Update { id, fields } => {
                    // The found ID is durable before the update goes out (one transaction).
                    let base = upsert::baseline_for_update(upsert::fields_of(&row.cmd), &fields);
                    core.ledger.record_to_update(new_row, id, &core.hasher.hashes(&base))?;
                    let update = payload::update_command(&core.plan.target, id, fields);
                    let hashes = core.hasher.hashes(upsert::fields_of(&row.cmd));
                    ready.push(Ready { key: row.key, cmd: update, fields: Some(hashes) });
                }
                Found::Create => {
                    ready.extend(dups.create_checked(core, row.key, &row.row_ref, &row.hash, row.cmd)?)
                }
            }
        }
        Ok(ready)
    }
}

/// The "payload hash" of a row the mapping refused: its cells, so a fixed row is tried again.
pub(super) fn cells_hash(record: &crate::source::Record) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for cell in record.cells.iter() {
        h.update(cell.as_bytes());
        h.update([0x1f]);
    }
    format!("cells:{}", hex::encode(h.finalize()))
}

/// The code recorded for a row the mapping refused: its first problem's kind.
pub(super) fn code_of(issues: &[RowIssue]) -> &'static str {
    issues.first().map_or("invalid", |i| i.code.as_str())
}

/// A 64-bit hash of a row key (the set of keys a source holds, at 8 bytes a key).
pub(super) fn key_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}
