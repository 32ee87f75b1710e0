//! What every part of a running step works on, and the values they hand each other.
//!
//! Owns: [`Core`] (the step's plan, its journal side, the portal's reads, its report and the
//! field hasher: the state every component of a step needs), the records of one row every
//! component makes through it (created `pending`, rejected, reopened, recorded as an existing
//! item), and the small types that pass between the components: [`Unseen`],
//! [`Ready`], [`Item`] and [`Unknowns`]. Must not: know the order of a step's work (that is
//! `step`'s) or send anything (the dispatcher's, through `send`).

use std::collections::HashMap;

use serde_json::Value;

use super::ledger::Ledger;
use super::portal::Portal;
use super::report::StepReport;
use super::stop::Stop;
use super::upsert;
use crate::journal::{FieldHasher, FieldHashes, JournalError, NewRow};
use crate::mapping::MappingPlan;
use crate::payload::Command;
use crate::portal::Reads;

/// A row with no journal record in upsert/update mode: looked up in the portal first.
pub(super) struct Unseen {
    pub(super) key: String,
    pub(super) row_ref: String,
    pub(super) hash: String,
    pub(super) cmd: Command,
}

/// A row waiting to be sent: its journal key, its command, and the hashes of its full field
/// object to store in the journal once the portal has it (for later upserts).
pub(super) struct Ready {
    pub(super) key: String,
    pub(super) cmd: Command,
    pub(super) fields: Option<FieldHashes>,
}

/// What the dispatcher carries with a row's command: its journal key and the field hashes to
/// store once the portal has it.
#[derive(Debug)]
pub(super) struct Item {
    pub(super) key: String,
    pub(super) fields: Option<FieldHashes>,
    /// A follow-up of a row already done (an imported e-mail marked completed after its add):
    /// its answer changes nothing in the journal.
    pub(super) followup: bool,
    /// An import command of several rows: the rows after the first (key, field hashes), in
    /// the order of the command's items (empty for a row's own command).
    pub(super) group: Vec<(String, Option<FieldHashes>)>,
}

/// Rows whose outcome became unknown in this run, with their commands, kept until reconciled
/// (filled by `send` as answers land, emptied by `reconcile`).
#[derive(Default)]
pub(super) struct Unknowns {
    pub(super) rows: HashMap<String, (Command, Option<FieldHashes>)>,
    /// Their lookups while the step still sends, where the step allows them (`early`).
    pub(super) early: Option<super::early::EarlyLookups>,
}

impl Unknowns {
    /// Row `key`'s outcome became unknown just now (`reason`).
    pub(super) fn insert(&mut self, key: &str, cmd: &Command, fields: &Option<FieldHashes>, reason: &str) {
        self.rows.insert(key.to_string(), (cmd.clone(), fields.clone()));
        if let Some(early) = self.early.as_mut() {
            early.lost(key, cmd, reason);
        }
    }
}

/// What every component of a step works on.
pub(super) struct Core<'a> {
    pub(super) plan: MappingPlan,
    /// The journal side of the step (writing, or a dry run's read-only view).
    pub(super) ledger: Ledger<'a>,
    /// The portal, read under the one read rule (and shared with the step's dispatcher).
    pub(super) reads: &'a Reads,
    pub(super) report: StepReport,
    /// Hashes field values as the journal stores them.
    pub(super) hasher: FieldHasher,
    /// Follow-ups of rows that are done (an e-mail activity to mark completed once added): the
    /// row's key, the command, and the field hashes to confirm once it ran; sent by the step
    /// after the answer (or the admission) that made them.
    pub(super) followups: Vec<Ready>,
    /// Times each row's follow-up was sent in this run.
    pub(super) followup_tries: HashMap<String, u32>,
}

impl<'a> Core<'a> {
    /// Whether this step writes (not a dry run).
    pub(super) fn writing(&self) -> bool {
        self.ledger.is_writing()
    }

    /// The portal, for lookups.
    pub(super) fn portal(&self) -> Portal<'a> {
        Portal::new(self.reads)
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

    /// Owes the row `key` (done as the portal's `id`) the follow-up of its command `cmd`, if
    /// it has one: an e-mail activity to mark completed ([`crate::payload::completion_of`]).
    pub(super) fn owe_followup(&mut self, key: &str, cmd: &Command, id: u64) {
        if let Some(completion) = crate::payload::completion_of(cmd, id) {
            let mut fields = self.hasher.hashes(upsert::fields_of(cmd));
            fields.fields.remove(crate::payload::COMPLETE_AFTER);
            self.followups.push(Ready { key: key.to_string(), cmd: completion, fields: Some(fields) });
        }
    }

    /// The update an address add refused as existing is owed (issue 20): sent as a follow-up,
    /// the row's field hashes confirmed when it lands.
    pub(super) fn owe_address_update(&mut self, key: &str, update: Command) {
        let fields = self.hasher.hashes(upsert::fields_of(&update));
        self.followups.push(Ready { key: key.to_string(), cmd: update, fields: Some(fields) });
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
