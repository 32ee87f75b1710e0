//! Undo's journal bracket of the send loop (issue 21): what each delete's fate becomes in the
//! journal and the undo report.
//!
//! Owns: [`UndoLanding`], the exactly-once bracket of a delete: a request's rows go `undoing`
//! in one transaction before it leaves, and after its answer lands: deleted, or refused as
//! "not found" (already gone: deleted by hand) -> `undone`; refused otherwise, not run, split,
//! given up -> `done` again (what did not run is sent again by the dispatcher); unknown ->
//! left `undoing` for the check by ID. Must not decide which rows are undone (`undo`), nor
//! when a request leaves or goes again (the [`Dispatcher`](crate::portal::Dispatcher)).

use super::stop::Stop;
use super::undo::{UndoFailure, UndoKind, UndoStepReport};
use crate::journal::undo::UndoRow;
use crate::journal::{Journal, StepId, Transition};
use crate::portal::dispatch::Fate;
use crate::portal::{Bracket, Landed};

/// A row whose item is deleted: its journal key and the item's ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UndoTarget {
    pub(super) key: String,
    pub(super) id: u64,
}

impl UndoTarget {
    pub(super) fn of(row: &UndoRow) -> UndoTarget {
        UndoTarget { key: row.key.clone(), id: row.portal_id }
    }
}

/// A step's bracket of undo's send loop.
pub(super) struct UndoLanding<'s> {
    pub(super) journal: &'s mut Journal,
    pub(super) step: StepId,
    pub(super) kind: UndoKind,
    pub(super) report: &'s mut UndoStepReport,
    /// Rows whose delete's outcome is unknown (left `undoing`), to be checked by ID.
    pub(super) unknown: Vec<UndoTarget>,
}

impl Bracket<UndoTarget> for UndoLanding<'_> {
    type Stop = Stop;

    fn sent(&mut self, items: &[&UndoTarget]) -> Result<(), Stop> {
        let changes: Vec<(&str, Transition<'_>)> =
            items.iter().map(|t| (t.key.as_str(), Transition::Undoing)).collect();
        self.journal.apply(self.step, &changes)?;
        Ok(())
    }

    async fn landed(&mut self, rows: Vec<Landed<'_, UndoTarget>>) -> Result<(), Stop> {
        let mut changes: Vec<(&str, Transition<'_>)> = Vec::with_capacity(rows.len());
        for Landed { item, fate, .. } in rows {
            let key = item.key.as_str();
            let change = match fate {
                Fate::Done { .. } => {
                    self.report.deleted += 1;
                    Transition::Undone
                }
                Fate::Refused { code, description } if self.kind.gone_by_refusal(&code, &description) => {
                    self.report.already_gone += 1;
                    Transition::Undone
                }
                Fate::Refused { code, description } => {
                    self.report.failed.push(UndoFailure {
                        key: item_shown(key),
                        id: item.id,
                        code,
                        text: description,
                    });
                    Transition::Restored
                }
                Fate::TooLarge { bytes } => {
                    self.report.failed.push(UndoFailure {
                        key: item_shown(key),
                        id: item.id,
                        code: "too_large".into(),
                        text: format!("the delete's request was refused as too large ({bytes} bytes)"),
                    });
                    Transition::Restored
                }
                Fate::GaveUp => {
                    self.report.failed.push(UndoFailure {
                        key: item_shown(key),
                        id: item.id,
                        code: "limits".into(),
                        text: "refused by limits too often; run undo again".into(),
                    });
                    Transition::Restored
                }
                // Not run: `done` again (the dispatcher sends it again, `undoing` once more).
                // (A group fate is an import command's, never a delete's.)
                Fate::NotRun | Fate::Stopped | Fate::Split | Fate::Group(_) => Transition::Restored,
                Fate::Unknown { reason } => {
                    tracing::debug!(row = key, reason, "a delete's outcome is unknown; it is checked by ID");
                    self.unknown.push(item.clone());
                    continue;
                }
                // Abandoned on the wire: the row stays `undoing`, checked by the next undo.
                Fate::Abandoned => continue,
            };
            changes.push((key, change));
        }
        self.journal.apply(self.step, &changes)?;
        Ok(())
    }

    fn abandons(stop: &Stop) -> bool {
        matches!(stop, Stop::Journal(_))
    }
}

/// A row's key as users see it.
fn item_shown(key: &str) -> String {
    crate::journal::keys::shown(key)
}
