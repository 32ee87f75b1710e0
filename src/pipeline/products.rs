//! Product rows (issue 20, `entity = "product_rows"`): the rows of one parent, in any order in
//! the source, grouped and sent as ONE `crm.item.productrow.set` once the source has been read.
//!
//! Owns: [`ProductSets`], a staging store of the step's mapped rows keyed by their parent, and
//! the decision per parent. The journal's unit is the PARENT: its key is the parent's key, its
//! payload hash the hash of the whole ordered set, its portal ID the parent's. So a re-run
//! sends a parent's set again only when one of its rows changed (even in create mode: `set`
//! replaces the parent's rows, the `crm-item-productrow-set.md` page), and a set whose outcome
//! is unknown is simply sent again (it is idempotent: `reconcile`). A parent not done makes its
//! rows wait (`pending`, as other attached rows); a parent with a row the mapping or the run
//! refused is not sent at all (a set without that row would delete it from the portal): the
//! parent is rejected, naming the row, and sent once the row is fixed. A row without a parent
//! key is rejected under its own key (the usual path).
//!
//! The store is a private temporary SQLite database, as `order`'s (the customer's data never
//! goes into the journal, and memory stays flat); a crash loses nothing (nothing was journaled
//! before the drain, and the next run reads the source again). The sets are only sent when the
//! source was read whole (a parent's rows cut off would be replaced by fewer).
//! Must not: build payloads (`payload::products`) nor send outside the step's dispatcher.

use rusqlite::{Connection, params};
use serde_json::{Map, Value};

use super::admit::{self, Admit, Row, Rules};
use super::core::{Core, Item, Ready, Unknowns};
use super::matching::DupState;
use super::prepare::Prepared;
use super::rows::{Admission, code_of};
use super::send::Landing;
use super::stop::Stop;
use crate::journal::{self, JournalError, NewRow, RowState};
use crate::mapping::Problem;
use crate::payload::products;
use crate::portal::Dispatcher;

/// Parents read back from the store at a time.
const CHUNK: i64 = 500;

/// Rows kept in memory before they are written to the store (one transaction).
const FLUSH_AT: usize = 256;

/// Parents waiting for their own parent named one by one in the step's notes.
const MAX_WAITING_NAMED: u64 = 10;

/// One staged source row.
enum Staged {
    /// Mapped and resolved: its parent's type and ID, and the row as it goes into the set.
    Row { owner_type: String, owner_id: u64, row: Map<String, Value> },
    /// Refused by the mapping or by a lookup: the code and text.
    Refused { code: String, text: String },
    /// Its parent is not done: the text saying so.
    Waiting { text: String },
}

/// The mapped rows of a product-rows step, by parent, until the source has been read.
pub(super) struct ProductSets {
    db: Connection,
    seq: i64,
    buffered: Vec<(String, i64, String, Staged)>,
}

impl ProductSets {
    pub(super) fn new() -> Result<ProductSets, JournalError> {
        let db = Connection::open("")?;
        db.execute_batch(
            "CREATE TABLE staged (parent TEXT NOT NULL, seq INTEGER NOT NULL, row_ref TEXT NOT NULL,
                                  kind INTEGER NOT NULL, a TEXT NOT NULL, b TEXT NOT NULL,
                                  owner_id INTEGER NOT NULL, PRIMARY KEY (parent, seq)) WITHOUT ROWID;",
        )?;
        Ok(ProductSets { db, seq: 0, buffered: Vec::new() })
    }

    fn push(&mut self, parent: String, row_ref: String, staged: Staged) -> Result<(), JournalError> {
        self.buffered.push((parent, self.seq, row_ref, staged));
        self.seq += 1;
        if self.buffered.len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        if self.buffered.is_empty() {
            return Ok(());
        }
        let tx = self.db.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO staged (parent, seq, row_ref, kind, a, b, owner_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (parent, seq, row_ref, staged) in self.buffered.drain(..) {
                let (kind, a, b, id) = match staged {
                    Staged::Row { owner_type, owner_id, row } => {
                        (0, owner_type, Value::Object(row).to_string(), owner_id as i64)
                    }
                    Staged::Refused { code, text } => (1, code, text, 0),
                    Staged::Waiting { text } => (2, String::new(), text, 0),
                };
                insert.execute(params![parent, seq, row_ref, kind, a, b, id])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The next parents in key order after `after` (empty: every parent was read back).
    fn parents_after(&self, after: Option<&str>) -> Result<Vec<String>, JournalError> {
        let mut stmt = self.db.prepare_cached(
            "SELECT DISTINCT parent FROM staged WHERE ?1 IS NULL OR parent > ?1 ORDER BY parent LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after, CHUNK], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The rows of `parent`, in source order: (row_ref, staged).
    fn rows_of(&self, parent: &str) -> Result<Vec<(String, Staged)>, JournalError> {
        let mut stmt = self.db.prepare_cached(
            "SELECT row_ref, kind, a, b, owner_id FROM staged WHERE parent = ?1 ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![parent], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (row_ref, kind, a, b, id) = row?;
            let staged = match kind {
                // Written by `flush` from a JSON object: a row that does not read back is a bug.
                0 => Staged::Row {
                    owner_type: a,
                    owner_id: id as u64,
                    row: serde_json::from_str(&b).expect("a staged row reads back"),
                },
                1 => Staged::Refused { code: a, text: b },
                _ => Staged::Waiting { text: b },
            };
            out.push((row_ref, staged));
        }
        Ok(out)
    }
}

/// Takes one source row of a product-rows step in: staged under its parent's key (a row
/// without one is rejected under its own key, as any row the mapping refuses). Returns what
/// the usual path made ready (nothing, for product rows).
pub(super) async fn take(
    sets: &mut ProductSets,
    core: &mut Core<'_>,
    admission: &mut Admission,
    dups: &mut DupState,
    p: Prepared,
) -> Result<Vec<Ready>, Stop> {
    let column = core.plan.target.parent.as_ref().map(|p| p.column);
    let parent = column.map(|c| p.record.cell(c).trim().to_string()).unwrap_or_default();
    if parent.is_empty() {
        return admission.admit(core, dups, p).await;
    }
    let key = journal::keys::row_key(&parent, 0, false);
    admission.saw(&key);
    let row_ref = p.record.row.to_string();
    let staged = match p.outcome {
        Err(issues) => {
            Staged::Refused { code: code_of(&issues).into(), text: crate::mapping::describe(&issues) }
        }
        Ok(draft) => {
            let portal = core.portal();
            match admission.resolver.resolve(draft, &core.ledger, portal).await? {
                Ok(cmd) => {
                    let (owner_type, owner_id, row) = products::parts_of(&cmd);
                    Staged::Row { owner_type, owner_id: owner_id.unwrap_or(0), row }
                }
                Err((Problem::ParentPending, text)) => Staged::Waiting { text },
                Err((problem, text)) => Staged::Refused { code: problem.as_str().into(), text },
            }
        }
    };
    sets.push(key, row_ref, staged)?;
    Ok(Vec::new())
}

/// Once the source has been read: every parent's set decided and, when it is new or changed,
/// sent through the step's dispatcher.
pub(super) async fn send_sets(
    mut sets: ProductSets,
    core: &mut Core<'_>,
    unknowns: &mut Unknowns,
    sender: &mut Dispatcher<Item>,
) -> Result<(), Stop> {
    sets.flush()?;
    let mut after: Option<String> = None;
    loop {
        let parents = sets.parents_after(after.as_deref())?;
        let Some(last) = parents.last().cloned() else { return Ok(()) };
        for parent in parents {
            if core.reads.portal().shutdown().is_stopped() {
                return Err(Stop::Interrupted);
            }
            let rows = sets.rows_of(&parent)?;
            if let Some(ready) = decide(core, &parent, rows)? {
                Landing { core, unknowns }.send(sender, vec![ready]).await?;
            }
        }
        after = Some(last);
    }
}

/// The fate of one parent's rows: its set to send, or what the journal and report say instead.
fn decide(core: &mut Core<'_>, key: &str, rows: Vec<(String, Staged)>) -> Result<Option<Ready>, Stop> {
    let row_ref = rows.first().map(|(r, _)| r.clone()).unwrap_or_default();
    let known = core.ledger.row_state(key)?;
    // Left `sent`/`unknown` by an earlier run that reconciliation could not settle: never here
    // (a set is always sent again: `reconcile`), but never sent over a row in flight either.
    if admit::awaits_outcome(known.as_ref()) {
        return Ok(None);
    }
    if let Some((at, Staged::Waiting { text })) =
        rows.iter().find(|(_, s)| matches!(s, Staged::Waiting { .. }))
    {
        core.report.waiting_for_parent += 1;
        if core.report.waiting_for_parent <= MAX_WAITING_NAMED {
            core.report.notes.push(format!("{at}: {text}"));
        }
        if !core.writing() {
            core.report.pending += 1;
        } else if known.as_ref().is_none_or(|k| matches!(k.state, RowState::Pending | RowState::Undone)) {
            core.ledger.mark_pending(NewRow { key, row_ref: &row_ref, payload_hash: "parent_pending" })?;
        }
        return Ok(None);
    }
    let refused: Vec<(&String, &String, &String)> = rows
        .iter()
        .filter_map(|(at, s)| match s {
            Staged::Refused { code, text } => Some((at, code, text)),
            _ => None,
        })
        .collect();
    if let Some((at, code, text)) = refused.first() {
        let more = match refused.len() {
            1 => String::new(),
            n => format!(" (and {} more of its rows)", n - 1),
        };
        let text = format!(
            "the product rows of `{}` are not sent: {at}: {text}{more}; fix the row and run again",
            journal::keys::shown(key)
        );
        let hash = refused_hash(&refused);
        let rules = Rules {
            mode: core.plan.target.mode,
            entity: core.plan.target.entity,
            on_existing: core.plan.target.on_existing,
            hasher: &core.hasher,
        };
        // The refused row's own code (every code is one of the mapping's problems).
        let code = Problem::ALL.iter().map(|p| p.as_str()).find(|c| c == code).unwrap_or("invalid");
        match admit::decide(known.as_ref(), Row::Invalid { cells: &hash, code, text: &text }, rules) {
            Admit::Unchanged(state) => core.report.finished_before(state),
            Admit::Reject { code, text, in_journal } => {
                core.reject(key, &row_ref, &hash, code, &text, in_journal)?;
            }
            Admit::Keep(_) => {
                core.report.skipped += 1;
                core.report.notes.push(format!(
                    "{at}: the product rows of `{}` were imported before and a row is refused now; \
                     the portal keeps the rows it has ({})",
                    journal::keys::shown(key),
                    text
                ));
            }
            _ => {}
        }
        return Ok(None);
    }
    let mut owner: Option<(String, u64)> = None;
    let mut set_rows = Vec::with_capacity(rows.len());
    for (_, staged) in rows {
        if let Staged::Row { owner_type, owner_id, row } = staged {
            owner.get_or_insert((owner_type, owner_id));
            set_rows.push(row);
        }
    }
    let Some((owner_type, owner_id)) = owner else { return Ok(None) };
    let cmd = products::set_of(&owner_type, owner_id, set_rows);
    let hash = journal::payload_hash(&cmd);
    let known = known.filter(|k| k.state != RowState::Undone);
    if let Some(k) = known.as_ref().filter(|k| k.state.is_final() && k.payload_hash == hash) {
        core.report.finished_before(k.state);
        return Ok(None);
    }
    if core.writing()
        && known.as_ref().is_some_and(|k| matches!(k.state, RowState::Done | RowState::Rejected))
    {
        // Changed since it was sent (or refused before): the set replaces the parent's rows.
        core.reopen(key, &row_ref, &hash)?;
    }
    core.create(key.to_string(), &row_ref, &hash, cmd)
}

/// The "payload hash" of a parent held back by refused rows: their references and texts, so a
/// fixed row is tried again.
fn refused_hash(refused: &[(&String, &String, &String)]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (at, code, text) in refused {
        for part in [at.as_str(), code.as_str(), text.as_str()] {
            h.update(part.as_bytes());
            h.update([0x1f]);
        }
    }
    format!("cells:{}", hex::encode(h.finalize()))
}
