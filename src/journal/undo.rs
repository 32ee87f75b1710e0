//! What `undo` and `run --sample` read and write of a row (issue 21): the rows a sample took; which rows b24import created (and in which
//! run), the rows whose delete is in flight, and the SQL of the three undo transitions
//! (`Undoing`, `Undone`, `Restored`, allowed from the states `rows` says).
//!
//! Owns: these queries and writes. Must not: decide what is deleted or send anything (that is
//! `pipeline::undo`), nor change the row state machine's table (that is `rows`).

use rusqlite::{Transaction, params};

use super::{Journal, JournalError, RowState, StepId, Transition};

/// The first schema whose rows record the run that created them.
const FIRST_WITH_CREATED_RUN: i64 = 6;

/// A row as `undo` sees it: done or undoing, with its item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UndoRow {
    /// The text of the row's [`RowKey`](super::RowKey).
    pub key: String,
    /// `done` or `undoing`.
    pub state: RowState,
    pub portal_id: u64,
    /// The run that created the item (0: before runs were recorded on rows); `None`: the item
    /// was not created by b24import (matched by duplicate control, found by key, updated).
    pub created_run: Option<i64>,
}

impl UndoRow {
    /// The row's key as users see it.
    pub fn shown(&self) -> String {
        super::keys::shown(&self.key)
    }

    /// Whether b24import created the item, in one of `runs` (empty: any run).
    pub fn created_in(&self, runs: &[i64]) -> bool {
        self.created_run.is_some_and(|r| runs.is_empty() || runs.contains(&r))
    }
}

impl Journal {
    /// The `done` and `undoing` rows of `step` that hold a portal ID, in key order.
    pub fn undo_rows(&self, step: StepId) -> Result<Vec<UndoRow>, JournalError> {
        // A journal older than schema 6 (read as it is by a dry run) has no `created_run`: its
        // creates are the done rows not found or matched, as migration 6 records them.
        let sql = if self.version >= FIRST_WITH_CREATED_RUN {
            "SELECT row_key, state, portal_id, created_run FROM rows
             WHERE step_id = ?1 AND state IN ('done', 'undoing') AND portal_id IS NOT NULL
             ORDER BY row_key"
        } else {
            "SELECT row_key, state, portal_id, CASE WHEN existing = 0 THEN 0 END FROM rows
             WHERE step_id = ?1 AND state = 'done' AND portal_id IS NOT NULL
             ORDER BY row_key"
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![step.0], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, state, id, created_run) = row?;
            out.push(UndoRow { key, state: state.parse()?, portal_id: id as u64, created_run });
        }
        Ok(out)
    }

    /// Rows of `step` that are `undone`.
    pub fn undone_count(&self, step: StepId) -> Result<u64, JournalError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM rows WHERE step_id = ?1 AND state = 'undone'",
            params![step.0],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    /// Remembers that the run on this connection took `keys` of `step` in its sample (the first
    /// sample run that took a row is kept).
    pub fn record_sampled(&mut self, step: StepId, keys: &[&str]) -> Result<(), JournalError> {
        let run = self.current_run.map_or(0, |r| r.0);
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO sampled (step_id, row_key, run_id) VALUES (?1, ?2, ?3)",
            )?;
            for key in keys {
                insert.execute(params![step.0, key, run])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Rows of `step` a sample run took.
    pub fn sampled_count(&self, step: StepId) -> Result<u64, JournalError> {
        let n: i64 =
            self.conn.query_row("SELECT COUNT(*) FROM sampled WHERE step_id = ?1", params![step.0], |r| {
                r.get(0)
            })?;
        Ok(n as u64)
    }

    /// Whether the journal knows run `id`.
    pub fn has_run(&self, id: i64) -> Result<bool, JournalError> {
        Ok(self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?1)", params![id], |r| r.get(0))?)
    }
}

/// Writes one undo transition (already allowed by the table of `rows`).
pub(super) fn write(
    tx: &Transaction<'_>,
    step: StepId,
    key: &str,
    change: &Transition<'_>,
    now: i64,
) -> Result<usize, JournalError> {
    let sql = match change {
        Transition::Undoing => {
            "UPDATE rows SET state = 'undoing', attempts = attempts + 1, updated_at = ?3
             WHERE step_id = ?1 AND row_key = ?2"
        }
        // The item is gone: the row is as if never sent, so a later run creates it again.
        Transition::Undone => {
            "UPDATE rows SET state = 'undone', undone_id = portal_id, portal_id = NULL, created_run = NULL,
                 existing = 0, field_hashes = NULL, error_code = NULL, error_text = NULL, updated_at = ?3
             WHERE step_id = ?1 AND row_key = ?2"
        }
        Transition::Restored => {
            "UPDATE rows SET state = 'done', updated_at = ?3 WHERE step_id = ?1 AND row_key = ?2"
        }
        _ => unreachable!("not an undo transition"),
    };
    Ok(tx.prepare_cached(sql)?.execute(params![step.0, key, now])?)
}
