//! Carrying out the per-row decision: what `admit` decided for a prepared row, done.
//!
//! Owns: the journal records of a row that is skipped, rejected, reopened or created, the
//! queue of upsert/update rows waiting for a portal lookup by key, and the commands handed
//! back to the step for sending. Must not send anything itself (that is `send`).

use serde_json::Value;

use super::admit::{self, Admit, Found, Keep, Row, Rules};
use super::prepare::Prepared;
use super::run::journal_key;
use super::send::Ready;
use super::step::key_hash;
use super::step::{StepRunner, Stop, Unseen};
use super::upsert;
use crate::journal::{self, JournalError, NewRow};
use crate::mapping::{Entity, RowIssue};
use crate::payload::{self, Command};

impl StepRunner<'_> {
    /// Decides what to do with one prepared row: skip, reject, or send (returned; rows of an
    /// upsert with no journal record wait in `unseen` for a portal lookup instead).
    pub(super) async fn admit(&mut self, p: Prepared) -> Result<Vec<Ready>, Stop> {
        let row_ref = p.record.row.to_string();
        let mut journal_key = journal_key(&p);
        let mut known = self.ledger.row_state(&journal_key)?;
        // A composite key with `|` or `\` in a cell: a journal of a version before key escaping
        // holds the row under the plain join. Keep using that record, never create it again.
        if known.is_none()
            && self.plan.key_columns.len() > 1
            && let Some(old) = journal::keys::with_source_key(&journal_key, crate::mapping::unescaped_key)
            && let Some(k) = self.ledger.row_state(&old)?
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
                let decision = admit::decide(known.as_ref(), row, self.rules());
                return self.carry_out(decision, key, &row_ref, &cells, None);
            }
            Ok(draft) => draft,
        };
        if admit::awaits_outcome(known.as_ref()) {
            return Ok(Vec::new()); // left unknown by reconciliation (no key to look it up): never resent
        }
        let portal = self.portal();
        let cmd = match self.resolver.resolve(draft, &self.ledger, portal).await? {
            Ok(cmd) => cmd,
            Err((problem, text)) => {
                let cells = cells_hash(&p.record);
                let row = Row::Unresolved { cells: &cells, code: problem.as_str(), text: &text };
                let decision = admit::decide(known.as_ref(), row, self.rules());
                return self.carry_out(decision, key, &row_ref, &cells, None);
            }
        };
        let hash = journal::payload_hash(&cmd);
        let decision = admit::decide(known.as_ref(), Row::Ready { hash: &hash, cmd: &cmd }, self.rules());
        self.carry_out(decision, key, &row_ref, &hash, Some(cmd))
    }

    /// The step's rules for [`admit::decide`].
    fn rules(&self) -> Rules<'_> {
        let target = &self.plan.target;
        Rules {
            mode: target.mode,
            entity: target.entity,
            on_existing: target.on_existing,
            hasher: &self.hasher,
        }
    }

    /// Does what [`admit::decide`] decided for the row `key` (payload hash `hash`); `cmd` is its
    /// command when it has one.
    fn carry_out(
        &mut self,
        decision: Admit,
        key: String,
        row_ref: &str,
        hash: &str,
        cmd: Option<Command>,
    ) -> Result<Vec<Ready>, Stop> {
        match (decision, cmd) {
            (Admit::Unchanged(state), _) => self.report.finished_before(state),
            (Admit::Keep(why), _) => {
                self.report.skipped += 1;
                if why == Keep::ChangedInCreateMode {
                    self.report.changed_not_updated += 1;
                }
            }
            (Admit::Leave(_), _) => {}
            (Admit::Reject { code, text, in_journal }, _) => {
                self.reject(&key, row_ref, hash, code, &text, in_journal)?;
            }
            (Admit::Record { id }, Some(cmd)) => {
                self.report.skipped += 1;
                self.set_fields_and_hash(&key, row_ref, hash, upsert::fields_of(&cmd), id)?;
            }
            (Admit::Update { id, fields }, Some(cmd)) => {
                if !self.writing() {
                    self.report.would_send += 1;
                    return Ok(Vec::new());
                }
                self.reopen(&key, row_ref, hash)?;
                let update = payload::update_command(&self.plan.target, id, fields);
                let fields = Some(self.hasher.hashes(upsert::fields_of(&cmd)));
                return Ok(vec![Ready { key, cmd: update, fields }]);
            }
            (Admit::Create { reopen }, Some(cmd)) => {
                if reopen {
                    self.reopen(&key, row_ref, hash)?;
                }
                return self.create_checked(key, row_ref, hash, cmd);
            }
            (Admit::LookUpFirst { reopen }, Some(cmd)) => {
                if reopen {
                    self.reopen(&key, row_ref, hash)?;
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

    /// A row to create: recorded `pending` and returned for sending (counted only, in a dry run).
    pub(super) fn create(
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
        let fields = Some(self.hasher.hashes(upsert::fields_of(&cmd)));
        Ok(Some(Ready { key, cmd, fields }))
    }

    /// Looks the waiting upsert rows up by their external key: found items are updated with
    /// every mapped field (the journal has no record of what they hold), absent ones created
    /// (`upsert`) or rejected (`update`).
    pub(super) async fn flush_unseen(&mut self) -> Result<Vec<Ready>, Stop> {
        if self.unseen.is_empty() {
            return Ok(Vec::new());
        }
        let rows = std::mem::take(&mut self.unseen);
        // The portal holds a row's source key (a journal key is its text, `\#7` for `#7`).
        let keys: Vec<String> = rows.iter().map(|r| journal::keys::shown(&r.key)).collect();
        let found = match self.portal().find_items(&self.plan.target, &keys, true).await? {
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
                journal::keys::shown(&row.key).to_lowercase()
            } else {
                journal::keys::shown(&row.key)
            };
            let item = found.get(&lookup_key).map(|(id, item)| (*id, item));
            let new_row = NewRow { key: &row.key, row_ref: &row.row_ref, payload_hash: &row.hash };
            match admit::after_lookup(item, &row.cmd, self.rules()) {
                Found::Reject { code, text } => {
                    self.reject(&row.key, &row.row_ref, &row.hash, code, text, false)?;
                }
                Found::Existing { .. } | Found::Update { .. } if !self.writing() => {
                    self.report.would_send += 1;
                }
                Found::Existing { id } => {
                    let hashes = self.hasher.hashes(upsert::fields_of(&row.cmd));
                    self.ledger.record_existing(new_row, id, &hashes)?;
                    self.report.existing += 1;
                }
                Found::Update { id, fields } => {
                    // The found ID is durable before the update goes out (one transaction).
                    let base = upsert::baseline_for_update(upsert::fields_of(&row.cmd), &fields);
                    self.ledger.record_to_update(new_row, id, &self.hasher.hashes(&base))?;
                    let update = payload::update_command(&self.plan.target, id, fields);
                    let hashes = self.hasher.hashes(upsert::fields_of(&row.cmd));
                    ready.push(Ready { key: row.key, cmd: update, fields: Some(hashes) });
                }
                Found::Create => {
                    ready.extend(self.create_checked(row.key, &row.row_ref, &row.hash, row.cmd)?)
                }
            }
        }
        Ok(ready)
    }

    pub(super) fn reopen(&mut self, key: &str, row_ref: &str, hash: &str) -> Result<(), JournalError> {
        self.ledger.reopen(NewRow { key, row_ref, payload_hash: hash })
    }

    /// A done row whose payload changed only in ways that need no request (e.g. an update of a
    /// user): remember the new payload so it is not looked at again.
    pub(super) fn set_fields_and_hash(
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
        )
    }

    pub(super) fn reject(
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
