//! Reading rows back: one row's record, the rows of a state, counts, IDs and the pace of a
//! run, for the run itself (resume, reconciliation) and for `status`, `rejects` and `ids`.
//!
//! Keys come in and go out as the text of a [`RowKey`] whatever the file's schema: a journal
//! older than schema 4 (read as it is, never migrated, by a reader) stores them in the old
//! form, converted here on the way in and out. Owns: these queries. Must not: change anything.

use rusqlite::{OptionalExtension, params};

use super::keys::RowKey;
use super::{FieldHashes, Journal, JournalError, RowState, StepId};

/// The row query with `$hashes` as its last column, then `$rest`.
macro_rules! row_query {
    ($hashes:literal, $rest:literal) => {
        concat!(
            "SELECT row_key, row_ref, payload_hash, state, portal_id, error_code, error_text, attempts, \
             existing, created_at, updated_at, ",
            $hashes,
            " FROM rows ",
            $rest
        )
    };
}

/// The first schema whose keys are [`RowKey::encode`]d (older ones: [`RowKey::from_legacy`]).
const FIRST_TYPED_KEYS: i64 = 4;

/// A row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowStatus {
    /// The text of the row's [`RowKey`] (`RowKey::decode` gives the key, `keys::shown` the form
    /// users see).
    pub key: String,
    pub row_ref: String,
    pub payload_hash: String,
    pub state: RowState,
    pub portal_id: Option<u64>,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    pub attempts: u32,
    pub existing: bool,
    /// Unix ms.
    pub created_at: i64,
    pub updated_at: i64,
    /// Hashes of the fields last confirmed in the portal, for upserts (none for a row found in
    /// the portal without a record, or read from a journal older than schema 3).
    pub field_hashes: Option<FieldHashes>,
}

impl RowStatus {
    /// The row's key.
    pub fn row_key(&self) -> RowKey {
        RowKey::decode(&self.key)
    }
}

/// Row counts of one step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: u64,
    pub sent: u64,
    pub done: u64,
    pub rejected: u64,
    pub unknown: u64,
    /// `done` rows the run created.
    pub created: u64,
    /// `done` rows that already existed in the portal (matched or updated).
    pub updated: u64,
    /// Created, then deleted by `undo` (issue 21).
    pub undone: u64,
    /// A delete of `undo` sent, its outcome not yet known (issue 21).
    pub undoing: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.pending + self.sent + self.done + self.rejected + self.unknown + self.undone + self.undoing
    }
}

impl Journal {
    /// The stored state of one row (`key`: the text of its [`RowKey`]), if the journal has it.
    pub fn row_state(&self, step: StepId, key: &str) -> Result<Option<RowStatus>, JournalError> {
        let sql = if self.version >= 3 {
            row_query!("field_hashes", "WHERE step_id = ?1 AND row_key = ?2")
        } else {
            row_query!("NULL", "WHERE step_id = ?1 AND row_key = ?2")
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let row = stmt.query_row(params![step.0, self.stored_key(key)], read_row).optional()?;
        row.transpose().map(|r| r.map(|r| self.typed(r)))
    }

    /// Row counts of `step` by state, and created/updated among the done ones.
    pub fn counts(&self, step: StepId) -> Result<Counts, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT state, existing, COUNT(*) FROM rows WHERE step_id = ?1 GROUP BY state, existing",
        )?;
        let mut counts = Counts::default();
        let mut rows = stmt.query(params![step.0])?;
        while let Some(r) = rows.next()? {
            let state: String = r.get(0)?;
            let existing: bool = r.get(1)?;
            let n: i64 = r.get(2)?;
            let n = n as u64;
            match state.parse::<RowState>()? {
                RowState::Pending => counts.pending += n,
                RowState::Sent => counts.sent += n,
                RowState::Rejected => counts.rejected += n,
                RowState::Unknown => counts.unknown += n,
                RowState::Undone => counts.undone += n,
                RowState::Undoing => counts.undoing += n,
                RowState::Done => {
                    counts.done += n;
                    if existing {
                        counts.updated += n;
                    } else {
                        counts.created += n;
                    }
                }
            }
        }
        Ok(counts)
    }

    /// Rows of `step` in `state`, in key order.
    pub fn rows_in_state(&self, step: StepId, state: RowState) -> Result<Vec<RowStatus>, JournalError> {
        let sql = if self.version >= 3 {
            row_query!("field_hashes", "WHERE step_id = ?1 AND state = ?2 ORDER BY row_key")
        } else {
            row_query!("NULL", "WHERE step_id = ?1 AND state = ?2 ORDER BY row_key")
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![step.0, state.as_str()], read_row)?;
        rows.map(|r| r?.map(|r| self.typed(r))).collect()
    }

    /// Rows `sent` or `unknown`: they may have reached the portal and must be looked up first.
    pub fn rows_to_reconcile(&self, step: StepId) -> Result<Vec<RowStatus>, JournalError> {
        let mut out = self.rows_in_state(step, RowState::Sent)?;
        out.extend(self.rows_in_state(step, RowState::Unknown)?);
        Ok(out)
    }

    /// The rejected rows of `step` (for `rejects`).
    pub fn rejected_rows(&self, step: StepId) -> Result<Vec<RowStatus>, JournalError> {
        self.rows_in_state(step, RowState::Rejected)
    }

    /// Key (the text of its [`RowKey`]) -> portal ID for every done row of `step` (for `ids`),
    /// in the order of the stored keys.
    pub fn ids(&self, step: StepId) -> Result<Vec<(String, u64)>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT row_key, portal_id, row_ref FROM rows
             WHERE step_id = ?1 AND state = 'done' AND portal_id IS NOT NULL ORDER BY row_key",
        )?;
        let rows = stmt.query_map(params![step.0], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64, r.get::<_, String>(2)?))
        })?;
        rows.map(|r| {
            let (key, id, row_ref) = r?;
            Ok((self.key_text(key, &row_ref), id))
        })
        .collect()
    }

    /// The most recent error recorded for `step` (for `status`).
    pub fn last_error(&self, step: StepId) -> Result<Option<(String, String)>, JournalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT COALESCE(error_code, ''), error_text FROM rows
                 WHERE step_id = ?1 AND error_text IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
                params![step.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// How many rows of `step` became `done` or `rejected` at or after `since` (unix ms): the
    /// pace of a run, for `status`'s ETA.
    pub fn finished_since(&self, step: StepId, since: i64) -> Result<u64, JournalError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM rows
             WHERE step_id = ?1 AND state IN ('done', 'rejected') AND updated_at >= ?2",
            params![step.0, since],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// The text this file stores for the key whose text is `key`.
    fn stored_key(&self, key: &str) -> String {
        if self.version >= FIRST_TYPED_KEYS { key.to_string() } else { RowKey::decode(key).legacy_text() }
    }

    /// The key text of a stored key (`row_ref`: where the row was last seen, which tells the old
    /// forms apart).
    pub(super) fn key_text(&self, stored: String, row_ref: &str) -> String {
        if self.version >= FIRST_TYPED_KEYS { stored } else { RowKey::from_legacy(&stored, row_ref).encode() }
    }

    /// A row read from this file, its key as the text of its [`RowKey`].
    fn typed(&self, mut row: RowStatus) -> RowStatus {
        row.key = self.key_text(std::mem::take(&mut row.key), &row.row_ref);
        row
    }
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<RowStatus, JournalError>> {
    let state: String = r.get(3)?;
    let state = match state.parse() {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(RowStatus {
        key: r.get(0)?,
        row_ref: r.get(1)?,
        payload_hash: r.get(2)?,
        state,
        portal_id: r.get::<_, Option<i64>>(4)?.map(|id| id as u64),
        error_code: r.get(5)?,
        error_text: r.get(6)?,
        attempts: r.get(7)?,
        existing: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        field_hashes: r.get::<_, Option<String>>(11)?.and_then(|t| FieldHashes::from_json(&t)),
    }))
}
