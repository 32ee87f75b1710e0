//! The per-row decision of a run: from what the journal knows of a row, what the source now
//! gives for it and the step's mode, whether the row is skipped, rejected, created, updated or
//! looked up in the portal first.
//!
//! Pure: no I/O, no journal, no portal, no counters. The step (`rows`) asks [`decide`] and
//! carries the answer out. The table, in the order the rules apply:
//!
//! | journal holds the row as | the source row | decision |
//! |---|---|---|
//! | `sent` / `unknown` | ready | leave it: never resent before a lookup finds it absent |
//! | `done` / `rejected`, same hash | any | unchanged: skipped, or still rejected |
//! | nothing / `pending` / `rejected` | invalid or a lookup that fails | reject |
//! | `done` / `sent` / `unknown` | invalid | keep what the portal has (skipped) |
//! | `done` | a lookup that fails | keep what the portal has (skipped) |
//! | `done`, mode `create` | changed | skipped, counted as changed but not updated |
//! | `rejected` with a portal ID, mode `create` | changed | keep what the portal has (skipped) |
//! | `done`, or `pending` / `rejected` with a portal ID | changed | update only the changed fields; nothing to change (or a user): record the new hash |
//! | nothing, mode `create` | ready | create |
//! | nothing, mode `upsert` | ready | look the key up first |
//! | `pending` / `rejected` without a portal ID | ready | create; modes `upsert`/`update`: look the key up first |
//!
//! The journal keeps a portal ID once known (an update that did not run, was cut off or was
//! refused keeps it), so an update never turns into a create.
//!
//! A row looked up first ([`after_lookup`]): a user found while `on_existing = "reject"` is
//! rejected; an item found is recorded as existing and updated with every mapped value (the
//! journal has no record of what it holds; phones and e-mails only where it lacks them); an
//! item not found is created, or rejected `not_found` in mode `update`.

use serde_json::{Map, Value};

use super::upsert;
use crate::journal::{FieldHasher, RowState, RowStatus};
use crate::mapping::{Entity, Mode, OnExisting};
use crate::payload::Command;

/// A source row as the decision sees it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Row<'a> {
    /// The mapping refused the row; `cells` is the hash of its cells, `code`/`text` why.
    Invalid { cells: &'a str, code: &'static str, text: &'a str },
    /// A lookup or user field of the row did not resolve.
    Unresolved { cells: &'a str, code: &'static str, text: &'a str },
    /// The command is ready (lookups resolved); `hash` is its payload hash.
    Ready { hash: &'a str, cmd: &'a Command },
}

/// The step's rules a decision depends on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules<'a> {
    pub(super) mode: Mode,
    pub(super) entity: Entity,
    /// What to do with a user that already exists.
    pub(super) on_existing: OnExisting,
    /// Hashes field values as the journal stores them (to find what changed).
    pub(super) hasher: &'a FieldHasher,
}

/// Why a row the journal has done is kept as the portal has it (counted as skipped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Keep {
    /// Done earlier; the source row is now invalid.
    InvalidNow,
    /// Imported earlier; its lookup no longer resolves.
    LookupGone,
    /// Changed in the source, but the step's mode is `create` (also counted as not updated).
    ChangedInCreateMode,
}

/// Why a row is left as the journal has it, not counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Leave {
    /// Its outcome is unknown and reconciliation could not look it up: never resent.
    OutcomeUnknown,
}

/// What to do with one row.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Admit {
    /// Finished by an earlier run and unchanged since: skipped (`done`) or still rejected.
    Unchanged(RowState),
    /// Kept as the portal has it; counted as skipped.
    Keep(Keep),
    /// Left alone; not counted.
    Leave(Leave),
    /// Rejected with `code`/`text`; `in_journal`: the journal holds the row (it is reopened).
    Reject { code: &'static str, text: String, in_journal: bool },
    /// Done, changed only in what needs no request: the new hashes are recorded (skipped).
    Record { id: u64 },
    /// Sent as an update of the item `id` carrying only `fields`.
    Update { id: u64, fields: Map<String, Value> },
    /// Created; `reopen`: the journal holds it as rejected and reopens it first.
    Create { reopen: bool },
    /// Looked up in the portal by its key first (updated if found, else created or rejected);
    /// `reopen` as for `Create`.
    LookUpFirst { reopen: bool },
}

/// Whether the row waits for a lookup of its outcome: it is left alone, and its lookups are
/// not even resolved.
pub(super) fn awaits_outcome(known: Option<&RowStatus>) -> bool {
    // Issue 21: a row whose delete an undo left in flight waits for the next undo.
    known.is_some_and(|k| k.state.needs_reconciliation() || k.state == RowState::Undoing)
}

/// Whether the journal holds the row as done.
pub(super) fn is_done(known: Option<&RowStatus>) -> bool {
    known.is_some_and(|k| k.state == crate::journal::RowState::Done)
}

/// The decision for one row. `known` is what the journal holds of it.
pub(super) fn decide(known: Option<&RowStatus>, row: Row<'_>, rules: Rules<'_>) -> Admit {
    // Issue 21: a row `undo` deleted is a new row again (its item is gone).
    let known = known.filter(|k| k.state != RowState::Undone);
    let unchanged = |hash: &str| known.filter(|k| k.state.is_final() && k.payload_hash == hash);
    let reject =
        |code, text: &str| Admit::Reject { code, text: text.to_string(), in_journal: known.is_some() };
    match row {
        Row::Invalid { cells, code, text } => {
            if let Some(k) = unchanged(cells) {
                Admit::Unchanged(k.state)
            } else if known.is_none_or(|k| matches!(k.state, RowState::Rejected | RowState::Pending)) {
                reject(code, text)
            } else {
                Admit::Keep(Keep::InvalidNow)
            }
        }
        Row::Unresolved { .. } if awaits_outcome(known) => Admit::Leave(Leave::OutcomeUnknown),
        Row::Unresolved { cells, code, text } => {
            if let Some(k) = unchanged(cells) {
                Admit::Unchanged(k.state)
            } else if known.is_some_and(|k| k.state == RowState::Done) {
                Admit::Keep(Keep::LookupGone)
            } else {
                reject(code, text)
            }
        }
        Row::Ready { .. } if awaits_outcome(known) => Admit::Leave(Leave::OutcomeUnknown),
        Row::Ready { hash, cmd } => ready(known, hash, cmd, rules),
    }
}

/// A row whose command is ready, not waiting for a lookup of its outcome.
fn ready(known: Option<&RowStatus>, hash: &str, cmd: &Command, rules: Rules<'_>) -> Admit {
    let Some(k) = known else {
        return match rules.mode {
            Mode::Create => Admit::Create { reopen: false },
            Mode::Upsert | Mode::Update => Admit::LookUpFirst { reopen: false },
        };
    };
    if k.state.is_final() && k.payload_hash == hash {
        return Admit::Unchanged(k.state);
    }
    // The item exists: a done row, or one whose update did not run, was cut off or refused (the
    // journal keeps an ID once known). An update never becomes a create.
    let item = k.portal_id.filter(|_| k.state != RowState::Sent && k.state != RowState::Unknown);
    // The whole record (issue 20): what the portal keeps for good is never "updated".
    if k.state == RowState::Done
        && let Some(text) = super::record::immutable_change(
            rules.entity,
            upsert::fields_of(cmd),
            k.field_hashes.as_ref(),
            rules.hasher,
        )
    {
        return Admit::Reject { code: crate::mapping::Problem::Immutable.as_str(), text, in_journal: true };
    }
    if k.state == RowState::Done && rules.mode == Mode::Create {
        return Admit::Keep(Keep::ChangedInCreateMode);
    }
    if let Some(id) = item {
        if k.state == RowState::Rejected && rules.mode == Mode::Create {
            // A refused update, in a step now in create mode: the item exists, it is kept.
            return Admit::Keep(Keep::ChangedInCreateMode);
        }
        // An update: of a changed row, or one a killed run left half done.
        let new = upsert::fields_of(cmd);
        let changed = match &k.field_hashes {
            Some(old) => upsert::changed_fields(new, old, rules.hasher),
            None => {
                let mut all = upsert::all_fields_for_found_item(new, &Value::Null);
                all.remove("fm"); // what the item holds is unknown: never risk a duplicate phone
                all
            }
        };
        return if changed.is_empty() || rules.entity == Entity::User {
            // Nothing to send (the portal holds what the row says): recorded done.
            Admit::Record { id }
        } else {
            Admit::Update { id, fields: super::record::with_address_key(rules.entity, new, changed) }
        };
    }
    // Pending without a portal ID, or rejected and changed since (tried again). Only a create
    // step creates it at once: an upsert or update looks its key up first (a row left pending
    // by a killed run may exist in the portal; a lookup costs a read, a create a duplicate).
    let reopen = k.state == RowState::Rejected;
    match rules.mode {
        Mode::Update | Mode::Upsert => Admit::LookUpFirst { reopen },
        Mode::Create => Admit::Create { reopen },
    }
}

/// What a row looked up in the portal by its key turns out to need.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Found {
    /// Rejected with `code`/`text` (a user that exists, or no item to update).
    Reject { code: &'static str, text: &'static str },
    /// The item `id` exists and there is nothing to send (a user, or only key fields): recorded
    /// as existing.
    Existing { id: u64 },
    /// The item `id` exists: recorded as existing, then updated with `fields`.
    Update { id: u64, fields: Map<String, Value> },
    /// Absent: created.
    Create,
}

/// The decision for a row of an upsert/update without a journal record, once the portal has
/// been asked for its key: `found` is the item's ID and the item as listed, if it exists.
pub(super) fn after_lookup(found: Option<(u64, &Value)>, cmd: &Command, rules: Rules<'_>) -> Found {
    match found {
        Some(_) if rules.entity == Entity::User && rules.on_existing == OnExisting::Reject => Found::Reject {
            code: "ERROR_ARGUMENT",
            text: "A user with this email already exists (on_existing = \"reject\")",
        },
        Some((id, item)) => {
            let changed = upsert::all_fields_for_found_item(upsert::fields_of(cmd), item);
            if rules.entity == Entity::User || changed.is_empty() {
                Found::Existing { id }
            } else {
                Found::Update { id, fields: changed }
            }
        }
        None if rules.mode == Mode::Update => Found::Reject {
            code: crate::mapping::Problem::NotFound.as_str(),
            text: "mode = \"update\": the portal has no item with this key",
        },
        None => Found::Create,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rstest::rstest;
    use serde_json::json;

    use crate::journal::FieldHashes;

    const CONTACT: Entity = Entity::Crm(3);

    fn hasher() -> FieldHasher {
        FieldHasher::new(b"admit tests".to_vec())
    }

    /// The fields last sent for a row: a name, "Ann".
    fn sent_fields() -> FieldHashes {
        hasher().hashes(&json!({"name": "Ann", "originId": "C1"}).as_object().cloned().unwrap_or_default())
    }

    /// A journal record: `state`, payload hash `hash`, portal ID `id`, fields last sent.
    fn known(state: RowState, hash: &str, id: Option<u64>) -> RowStatus {
        RowStatus {
            key: "C1".into(),
            row_ref: "contacts.csv:2".into(),
            payload_hash: hash.into(),
            state,
            portal_id: id,
            error_code: None,
            error_text: None,
            attempts: 0,
            existing: false,
            created_at: 0,
            updated_at: 0,
            field_hashes: Some(sent_fields()),
        }
    }

    fn contact(name: &str) -> Command {
        Command {
            method: crate::payload::Method::CrmItemAdd,
            params: json!({"entityTypeId": 3, "fields": {"name": name, "originId": "C1"}}),
        }
    }

    fn decide_ready(known: Option<RowStatus>, hash: &str, name: &str, mode: Mode, entity: Entity) -> Admit {
        let h = hasher();
        let cmd = contact(name);
        decide(
            known.as_ref(),
            Row::Ready { hash, cmd: &cmd },
            Rules { mode, entity, on_existing: OnExisting::Use, hasher: &h },
        )
    }

    fn update(id: u64, fields: Value) -> Admit {
        Admit::Update { id, fields: fields.as_object().cloned().unwrap_or_default() }
    }

    use Mode::{Create, Update as UpdateMode, Upsert};
    use RowState::{Done, Pending, Rejected, Sent, Unknown};

    const REJECT_NEW: Admit = Admit::Reject { code: "invalid", text: String::new(), in_journal: false };

    #[rstest]
    // journal                          hash    name    mode        entity   -> decision
    #[case(None,                        "h2", "Ann", Create,     CONTACT, Admit::Create { reopen: false })]
    #[case(None,                        "h2", "Ann", Upsert,     CONTACT, Admit::LookUpFirst { reopen: false })]
    #[case(None,                        "h2", "Ann", UpdateMode, CONTACT, Admit::LookUpFirst { reopen: false })]
    #[case(Some((Sent, None)),          "h2", "Ann", Create,     CONTACT, Admit::Leave(Leave::OutcomeUnknown))]
    #[case(Some((Unknown, None)),       "h2", "Ann", Upsert,     CONTACT, Admit::Leave(Leave::OutcomeUnknown))]
    #[case(Some((Done, Some(7))),       "h1", "Ann", Upsert,     CONTACT, Admit::Unchanged(Done))]
    #[case(Some((Rejected, None)),      "h1", "Ann", Create,     CONTACT, Admit::Unchanged(Rejected))]
    #[case(Some((Done, Some(7))),       "h2", "Bob", Create,     CONTACT, Admit::Keep(Keep::ChangedInCreateMode))]
    #[case(Some((Done, Some(7))),       "h2", "Bob", Upsert,     CONTACT, update(7, json!({"name": "Bob"})))]
    #[case(Some((Done, Some(7))),       "h2", "Bob", UpdateMode, CONTACT, update(7, json!({"name": "Bob"})))]
    #[case(Some((Done, Some(7))),       "h2", "Ann", Upsert,     CONTACT, Admit::Record { id: 7 })]
    #[case(Some((Done, Some(7))),       "h2", "Bob", Upsert,     Entity::User, Admit::Record { id: 7 })]
    #[case(Some((Pending, Some(7))),    "h2", "Bob", Create,     CONTACT, update(7, json!({"name": "Bob"})))]
    #[case(Some((Pending, Some(7))),    "h2", "Ann", Upsert,     CONTACT, Admit::Record { id: 7 })]
    #[case(Some((Pending, None)),       "h2", "Ann", Create,     CONTACT, Admit::Create { reopen: false })]
    #[case(Some((Pending, None)),       "h2", "Ann", Upsert,     CONTACT, Admit::LookUpFirst { reopen: false })]
    #[case(Some((Pending, None)),       "h2", "Ann", UpdateMode, CONTACT, Admit::LookUpFirst { reopen: false })]
    #[case(Some((Rejected, None)),      "h2", "Bob", Create,     CONTACT, Admit::Create { reopen: true })]
    #[case(Some((Rejected, None)),      "h2", "Bob", Upsert,     CONTACT, Admit::LookUpFirst { reopen: true })]
    // An update that was refused, did not run or was cut off keeps its item: updated, never created.
    #[case(Some((Rejected, Some(7))),   "h2", "Bob", Upsert,     CONTACT, update(7, json!({"name": "Bob"})))]
    #[case(Some((Rejected, Some(7))),   "h2", "Bob", UpdateMode, CONTACT, update(7, json!({"name": "Bob"})))]
    #[case(Some((Rejected, Some(7))),   "h2", "Bob", Create,     CONTACT, Admit::Keep(Keep::ChangedInCreateMode))]
    #[case(Some((Rejected, None)),      "h2", "Bob", UpdateMode, CONTACT, Admit::LookUpFirst { reopen: true })]
    fn a_ready_row_is_decided_by_its_journal_record_and_the_mode(
        #[case] journal: Option<(RowState, Option<u64>)>,
        #[case] hash: &str,
        #[case] name: &str,
        #[case] mode: Mode,
        #[case] entity: Entity,
        #[case] expected: Admit,
    ) {
        let k = journal.map(|(state, id)| known(state, "h1", id));
        assert_eq!(decide_ready(k, hash, name, mode, entity), expected);
    }

    #[rstest]
    // journal                      cells  -> decision
    #[case(None, "c2", REJECT_NEW)]
    #[case(Some((Done, Some(7))),   "c1", Admit::Unchanged(Done))]
    #[case(Some((Rejected, None)),  "c1", Admit::Unchanged(Rejected))]
    #[case(Some((Rejected, None)),  "c2", Admit::Reject { code: "invalid", text: String::new(), in_journal: true })]
    #[case(Some((Pending, None)),   "c2", Admit::Reject { code: "invalid", text: String::new(), in_journal: true })]
    #[case(Some((Done, Some(7))),   "c2", Admit::Keep(Keep::InvalidNow))]
    #[case(Some((Sent, None)),      "c2", Admit::Keep(Keep::InvalidNow))]
    #[case(Some((Unknown, None)),   "c2", Admit::Keep(Keep::InvalidNow))]
    fn an_invalid_row_is_rejected_unless_the_portal_already_has_it(
        #[case] journal: Option<(RowState, Option<u64>)>,
        #[case] cells: &str,
        #[case] expected: Admit,
    ) {
        let k = journal.map(|(state, id)| known(state, "c1", id));
        let h = hasher();
        let rules = Rules { mode: Upsert, entity: CONTACT, on_existing: OnExisting::Use, hasher: &h };
        let row = Row::Invalid { cells, code: "invalid", text: "" };
        assert_eq!(decide(k.as_ref(), row, rules), expected);
    }

    #[rstest]
    // journal                      cells  -> decision
    #[case(None,                    "c2", Admit::Reject { code: "invalid", text: String::new(), in_journal: false })]
    #[case(Some((Done, Some(7))),   "c1", Admit::Unchanged(Done))]
    #[case(Some((Rejected, None)),  "c1", Admit::Unchanged(Rejected))]
    #[case(Some((Done, Some(7))),   "c2", Admit::Keep(Keep::LookupGone))]
    #[case(Some((Rejected, None)),  "c2", Admit::Reject { code: "invalid", text: String::new(), in_journal: true })]
    #[case(Some((Pending, None)),   "c2", Admit::Reject { code: "invalid", text: String::new(), in_journal: true })]
    #[case(Some((Unknown, None)),   "c2", Admit::Leave(Leave::OutcomeUnknown))]
    fn a_row_whose_lookup_fails_is_rejected_unless_it_was_imported(
        #[case] journal: Option<(RowState, Option<u64>)>,
        #[case] cells: &str,
        #[case] expected: Admit,
    ) {
        let k = journal.map(|(state, id)| known(state, "c1", id));
        let h = hasher();
        let rules = Rules { mode: Create, entity: CONTACT, on_existing: OnExisting::Use, hasher: &h };
        let row = Row::Unresolved { cells, code: "invalid", text: "" };
        assert_eq!(decide(k.as_ref(), row, rules), expected);
    }

    #[test]
    fn a_done_row_without_field_hashes_is_updated_with_every_field_but_its_phones() {
        let mut k = known(Done, "h1", Some(7));
        k.field_hashes = None;
        let h = hasher();
        let cmd = Command {
            method: crate::payload::Method::CrmItemAdd,
            params: json!({"entityTypeId": 3, "fields": {"name": "Ann", "originId": "C1",
                "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+7916"}]}}),
        };
        let d = decide(
            Some(&k),
            Row::Ready { hash: "h2", cmd: &cmd },
            Rules { mode: Upsert, entity: CONTACT, on_existing: OnExisting::Use, hasher: &h },
        );
        assert_eq!(d, update(7, json!({"name": "Ann"})));
    }

    #[rstest]
    // in the portal             mode        entity        on_existing          -> decision
    #[case(None, Upsert, CONTACT, OnExisting::Use, Found::Create)]
    #[case(None,                 UpdateMode, CONTACT,      OnExisting::Use,     Found::Reject { code: "not_found", text: "mode = \"update\": the portal has no item with this key" })]
    // A found item that holds the row already is recorded, not updated (issue 16: a lost journal costs reads, not writes).
    #[case(Some(json!({"name": "Ann"})), Upsert, CONTACT,  OnExisting::Use,     Found::Existing { id: 7 })]
    #[case(Some(json!({"name": "Bob"})), Upsert, CONTACT,  OnExisting::Use,     update_found(json!({"name": "Ann"})))]
    #[case(Some(json!({"name": "Bob"})), UpdateMode, CONTACT, OnExisting::Use,  update_found(json!({"name": "Ann"})))]
    #[case(Some(json!(null)),    Upsert,     Entity::User, OnExisting::Use,     Found::Existing { id: 7 })]
    #[case(Some(json!(null)),    Upsert,     Entity::User, OnExisting::Reject,  Found::Reject { code: "ERROR_ARGUMENT", text: "A user with this email already exists (on_existing = \"reject\")" })]
    #[case(None, Upsert, Entity::User, OnExisting::Reject, Found::Create)]
    fn a_row_looked_up_first_is_updated_if_found_and_created_if_absent(
        #[case] item: Option<Value>,
        #[case] mode: Mode,
        #[case] entity: Entity,
        #[case] on_existing: OnExisting,
        #[case] expected: Found,
    ) {
        let h = hasher();
        let cmd = contact("Ann");
        let found = item.as_ref().map(|i| (7, i));
        assert_eq!(after_lookup(found, &cmd, Rules { mode, entity, on_existing, hasher: &h }), expected);
    }

    fn update_found(fields: Value) -> Found {
        Found::Update { id: 7, fields: fields.as_object().cloned().unwrap_or_default() }
    }
}
