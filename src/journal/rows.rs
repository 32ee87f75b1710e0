//! A row's life in the journal: its states, the typed [`Transition`]s between them, and
//! [`Journal::apply`], which makes a batch of them in one transaction and refuses any that the
//! row's state does not allow.
//!
//! The allowed transitions (`absent`: the journal has no such row; every other transition is
//! refused with [`JournalError::NotAllowed`] or, for an absent row, [`JournalError::UnknownRow`],
//! and the whole batch changes nothing):
//!
//! ```text
//!            Pending, FoundToUpdate            Sent
//!   absent ─────────────────────────> pending ─────> sent ──Done──> done ──Confirmed──> done
//!                                     ▲ ▲ ▲           │ │            ▲
//!                                     │ │ └──NotRun───┘ │ Unknown    │
//!                                     │ │               ▼            │
//!                                     │ └───NotRun─── unknown ──Done─┘
//!              Reopen (source changed)│
//!         pending, done, rejected ────┘    pending, sent ──Rejected──> rejected
//!                                    absent, any state ──FoundExisting──> done
//! ```
//!
//! | transition | allowed from | to |
//! |---|---|---|
//! | `Pending` | absent, `pending` | `pending` |
//! | `Reopen` | `pending`, `done`, `rejected` | `pending` |
//! | `Sent` | `pending` | `sent` |
//! | `Done` | `sent`, `unknown` | `done` |
//! | `Rejected` | `pending`, `sent` | `rejected` |
//! | `Unknown` | `sent` | `unknown` |
//! | `NotRun` | `sent`, `unknown` | `pending` |
//! | `FoundExisting` | any, and absent | `done` |
//! | `FoundToUpdate` | absent, `pending` | `pending` |
//! | `Confirmed` | `done` | `done` |
//! | `Undoing` (issue 21) | `done` | `undoing` |
//! | `Undone` (issue 21) | `undoing` | `undone` (the portal ID moved to `undone_id`) |
//! | `Restored` (issue 21) | `undoing` | `done` |
//!
//! An `undone` row is a new row again: `Pending`, `Reopen` and `FoundToUpdate` are allowed
//! from it too. A `Done` of a create on a row without a portal ID records the journal's current
//! run (`created_run`): what `undo` deletes.
//!
//! So nothing that may have reached the portal (`sent`, `unknown`) is sent again or reopened
//! before a lookup decides it (`Done` or `FoundExisting` when found, `NotRun` when absent), a
//! final row is never sent, and a portal ID once known is kept by every later transition (only
//! `Done` and the `Found*` set one), so an update never becomes a create.
//!
//! Owns: the row state machine and its SQL. Must not: decide what a row needs (the run's
//! `admit` does), nor read rows for reports (`read`).

use std::fmt;
use std::str::FromStr;

use rusqlite::{OptionalExtension, Transaction, params};

use super::{FieldHashes, Journal, JournalError, StepId, now_ms};

/// A row's state in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowState {
    /// Prepared, not sent yet: safe to send.
    Pending,
    /// In a request whose answer was not recorded (a crash): needs reconciliation.
    Sent,
    /// Created or matched in the portal; the portal ID is known. Final.
    Done,
    /// Refused by the portal or by the mapping, with a code and text. Final.
    Rejected,
    /// The request's fate is unknown (timeout, dropped connection, 5xx): needs reconciliation.
    Unknown,
    // Issue 21 (undo): a created row's delete, and its end.
    /// Created, and its delete was sent (`undo`): checked in the portal (gone or not) before
    /// anything else; the portal ID is kept until it is known gone.
    Undoing,
    /// Created, then deleted by `undo` (or found gone): a later run creates it again.
    Undone,
}

impl RowState {
    pub const ALL: [RowState; 7] = [
        RowState::Pending,
        RowState::Sent,
        RowState::Done,
        RowState::Rejected,
        RowState::Unknown,
        RowState::Undoing,
        RowState::Undone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Pending => "pending",
            RowState::Sent => "sent",
            RowState::Done => "done",
            RowState::Rejected => "rejected",
            RowState::Unknown => "unknown",
            RowState::Undoing => "undoing",
            RowState::Undone => "undone",
        }
    }

    /// `done` and `rejected` are never sent again (only reopened when the source row changed).
    pub fn is_final(self) -> bool {
        matches!(self, RowState::Done | RowState::Rejected)
    }

    /// `sent` and `unknown` may have reached the portal: look them up before resending.
    pub fn needs_reconciliation(self) -> bool {
        matches!(self, RowState::Sent | RowState::Unknown)
    }
}

impl fmt::Display for RowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RowState {
    type Err = JournalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RowState::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| JournalError::BadState(s.into()))
    }
}

/// A row entering the journal, or entering it again: its key (the text of a
/// [`super::RowKey`]), where the user finds it and the hash of its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRow<'a> {
    pub key: &'a str,
    /// Where the user finds the row (`contacts.csv:42`).
    pub row_ref: &'a str,
    /// Hash of the command payload (detects a row that changed between runs).
    pub payload_hash: &'a str,
}

/// What happened to a sent row, as the run learns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The row exists in the portal as `id`; `existing` when it was found rather than created.
    Done { id: u64, existing: bool },
    /// The portal (or the mapping) refused it.
    Rejected { code: String, text: String },
    /// The request may or may not have run.
    Unknown { reason: String },
    /// Known not to have run (halted batch, limit, or looked up and absent): back to `pending`.
    Retry,
}

impl Outcome {
    /// The transition this outcome makes.
    pub fn transition(&self) -> Transition<'_> {
        match self {
            Outcome::Done { id, existing } => Transition::Done { id: *id, existing: *existing },
            Outcome::Rejected { code, text } => Transition::Rejected { code, text },
            Outcome::Unknown { reason } => Transition::Unknown { reason },
            Outcome::Retry => Transition::NotRun,
        }
    }
}

/// One change of one row's state (the table in the module doc says from which states).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition<'a> {
    /// Recorded `pending` before it is sent (a pending row gets the new reference and hash,
    /// and keeps its portal ID).
    Pending { row_ref: &'a str, payload_hash: &'a str },
    /// Opened again because its source row changed: `pending` with the new reference and hash,
    /// the error cleared, the portal ID kept (a done row is then updated, not created).
    Reopen { row_ref: &'a str, payload_hash: &'a str },
    /// In a request about to leave (attempts + 1).
    Sent,
    /// The portal holds it as `id`; `existing` when it was found or updated, not created.
    Done { id: u64, existing: bool },
    /// Refused, by the portal or by the run before it was sent.
    Rejected { code: &'a str, text: &'a str },
    /// Its request may or may not have run.
    Unknown { reason: &'a str },
    /// Known not to have run (the answer says so, or a lookup by key found it absent):
    /// `pending` again, keeping its portal ID.
    NotRun,
    /// Found in the portal as `id`, holding what the row says: `done` (existing), with the
    /// hashes of the fields it holds. From any state: a lookup decides a row in flight too.
    FoundExisting { row_ref: &'a str, payload_hash: &'a str, id: u64, fields: &'a FieldHashes },
    /// Found in the portal as `id`, an update of it about to be sent: `pending` with the ID and
    /// the `baseline` the same update is computed from again (a crash before or after the
    /// update resends the update, never a create).
    FoundToUpdate { row_ref: &'a str, payload_hash: &'a str, id: u64, baseline: &'a FieldHashes },
    /// The hashes of the fields a done row now holds in the portal.
    Confirmed { fields: &'a FieldHashes },
    // Issue 21 (undo).
    /// A created row's delete about to leave: `undoing` (its portal ID kept).
    Undoing,
    /// Its item is gone (deleted now, or found gone): `undone`, the portal ID moved to
    /// `undone_id`, so that a later run creates the row again.
    Undone,
    /// Its delete did not run, was refused, or the item was found still there: `done` again.
    Restored,
}

impl Transition<'_> {
    /// The transition's name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Transition::Pending { .. } => "Pending",
            Transition::Reopen { .. } => "Reopen",
            Transition::Sent => "Sent",
            Transition::Done { .. } => "Done",
            Transition::Rejected { .. } => "Rejected",
            Transition::Unknown { .. } => "Unknown",
            Transition::NotRun => "NotRun",
            Transition::FoundExisting { .. } => "FoundExisting",
            Transition::FoundToUpdate { .. } => "FoundToUpdate",
            Transition::Confirmed { .. } => "Confirmed",
            Transition::Undoing => "Undoing",
            Transition::Undone => "Undone",
            Transition::Restored => "Restored",
        }
    }

    /// Whether a row in state `from` (`None`: not in the journal) may make this transition:
    /// the table of the module doc.
    pub fn allowed_from(&self, from: Option<RowState>) -> bool {
        use RowState::{Done, Pending, Rejected, Sent, Undoing, Undone, Unknown};
        match self {
            // An undone row enters again as a new one (issue 21).
            Transition::Pending { .. } => matches!(from, None | Some(Pending | Undone)),
            Transition::Reopen { .. } => matches!(from, Some(Pending | Done | Rejected | Undone)),
            Transition::Sent => matches!(from, Some(Pending)),
            Transition::Done { .. } => matches!(from, Some(Sent | Unknown)),
            Transition::Rejected { .. } => matches!(from, Some(Pending | Sent)),
            Transition::Unknown { .. } => matches!(from, Some(Sent)),
            Transition::NotRun => matches!(from, Some(Sent | Unknown)),
            // Found by a lookup: whatever the journal held, the portal has decided it.
            Transition::FoundExisting { .. } => true,
            Transition::FoundToUpdate { .. } => matches!(from, None | Some(Pending | Undone)),
            Transition::Confirmed { .. } => matches!(from, Some(Done)),
            Transition::Undoing => matches!(from, Some(Done)),
            Transition::Undone | Transition::Restored => matches!(from, Some(Undoing)),
        }
    }

    /// The state the row is in afterwards.
    pub fn to(&self) -> RowState {
        match self {
            Transition::Pending { .. }
            | Transition::Reopen { .. }
            | Transition::NotRun
            | Transition::FoundToUpdate { .. } => RowState::Pending,
            Transition::Sent => RowState::Sent,
            Transition::Done { .. }
            | Transition::FoundExisting { .. }
            | Transition::Confirmed { .. }
            | Transition::Restored => RowState::Done,
            Transition::Undoing => RowState::Undoing,
            Transition::Undone => RowState::Undone,
            Transition::Rejected { .. } => RowState::Rejected,
            Transition::Unknown { .. } => RowState::Unknown,
        }
    }
}

impl Journal {
    /// Applies `changes` to rows of `step` (each keyed by the text of its [`super::RowKey`]),
    /// in order and in one transaction: all of them, or, when one is not allowed from its row's
    /// state at that point (the module doc's table), none ([`JournalError::NotAllowed`], or
    /// [`JournalError::UnknownRow`] for a row the journal does not hold). A row may appear more
    /// than once (`Reopen` then `Rejected`: one change of the row, made at once).
    pub fn apply(&mut self, step: StepId, changes: &[(&str, Transition<'_>)]) -> Result<(), JournalError> {
        let now = now_ms();
        let tx = self.conn.transaction()?;
        for (key, change) in changes {
            let from = state_of(&tx, step, key)?;
            if !change.allowed_from(from) {
                let key = super::keys::shown(key);
                return Err(match from {
                    None => JournalError::UnknownRow { step: step.0, key },
                    Some(state) => {
                        JournalError::NotAllowed { step: step.0, key, state, transition: change.name() }
                    }
                });
            }
            write(&tx, step, key, change, now, self.current_run.map_or(0, |r| r.0))?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// The state of the row `key`, if the journal holds it.
fn state_of(tx: &Transaction<'_>, step: StepId, key: &str) -> Result<Option<RowState>, JournalError> {
    let state: Option<String> = tx
        .prepare_cached("SELECT state FROM rows WHERE step_id = ?1 AND row_key = ?2")?
        .query_row(params![step.0, key], |r| r.get(0))
        .optional()?;
    state.map(|s| s.parse()).transpose()
}

/// Writes one allowed transition.
fn write(
    tx: &Transaction<'_>,
    step: StepId,
    key: &str,
    change: &Transition<'_>,
    now: i64,
    run: i64,
) -> Result<(), JournalError> {
    let s = step.0;
    match *change {
        Transition::Pending { row_ref, payload_hash } => tx
            .prepare_cached(
                "INSERT INTO rows (step_id, row_key, row_ref, payload_hash, state, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)
                 ON CONFLICT(step_id, row_key) DO UPDATE SET row_ref = excluded.row_ref,
                     payload_hash = excluded.payload_hash, state = 'pending', updated_at = excluded.updated_at",
            )?
            .execute(params![s, key, row_ref, payload_hash, now])?,
        Transition::Reopen { row_ref, payload_hash } => tx
            .prepare_cached(
                "UPDATE rows SET state = 'pending', row_ref = ?3, payload_hash = ?4, error_code = NULL,
                     error_text = NULL, updated_at = ?5
                 WHERE step_id = ?1 AND row_key = ?2",
            )?
            .execute(params![s, key, row_ref, payload_hash, now])?,
        Transition::Sent => tx
            .prepare_cached(
                "UPDATE rows SET state = 'sent', attempts = attempts + 1, updated_at = ?3
                 WHERE step_id = ?1 AND row_key = ?2",
            )?
            .execute(params![s, key, now])?,
        // A create that lands on a row without a portal ID is b24import's creation: the run is
        // recorded (`created_run`, what `undo` deletes); an update or a row found keeps it as it was.
        Transition::Done { id, existing } => tx
            .prepare_cached(
                "UPDATE rows SET state = 'done', portal_id = ?3, existing = ?4, error_code = NULL,
                     error_text = NULL, updated_at = ?5,
                     created_run = CASE WHEN ?4 = 0 AND portal_id IS NULL THEN ?6 ELSE created_run END
                 WHERE step_id = ?1 AND row_key = ?2",
            )?
            .execute(params![s, key, id as i64, existing, now, run])?,
        Transition::Rejected { code, text } => tx
            .prepare_cached(
                "UPDATE rows SET state = 'rejected', error_code = ?3, error_text = ?4, updated_at = ?5
                 WHERE step_id = ?1 AND row_key = ?2",
            )?
            .execute(params![s, key, code, text, now])?,
        Transition::Unknown { reason } => tx
            .prepare_cached(
                "UPDATE rows SET state = 'unknown', error_code = NULL, error_text = ?3, updated_at = ?4
                 WHERE step_id = ?1 AND row_key = ?2",
            )?
            .execute(params![s, key, reason, now])?,
        Transition::NotRun => tx
            .prepare_cached(
                "UPDATE rows SET state = 'pending', error_code = NULL, error_text = NULL, updated_at = ?3
                 WHERE step_id = ?1 AND row_key = ?2",
            )?
            .execute(params![s, key, now])?,
        Transition::FoundExisting { row_ref, payload_hash, id, fields: hashes }
        | Transition::FoundToUpdate { row_ref, payload_hash, id, baseline: hashes } => tx
            .prepare_cached(
                "INSERT INTO rows (step_id, row_key, row_ref, payload_hash, state, portal_id, existing,
                     field_hashes, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, ?8)
                 ON CONFLICT(step_id, row_key) DO UPDATE SET row_ref = excluded.row_ref,
                     payload_hash = excluded.payload_hash, state = excluded.state,
                     portal_id = excluded.portal_id, existing = 1, field_hashes = excluded.field_hashes,
                     error_code = NULL, error_text = NULL, updated_at = excluded.updated_at",
            )?
            .execute(params![
                s,
                key,
                row_ref,
                payload_hash,
                change.to().as_str(),
                id as i64,
                hashes.to_json(),
                now
            ])?,
        Transition::Confirmed { fields } => tx
            .prepare_cached("UPDATE rows SET field_hashes = ?3 WHERE step_id = ?1 AND row_key = ?2")?
            .execute(params![s, key, fields.to_json()])?,
        Transition::Undoing | Transition::Undone | Transition::Restored => {
            super::undo::write(tx, step, key, change, now)?
        }
    };
    Ok(())
}
