//! Duplicate control against what the portal already holds (`on_duplicate`): the pure part.
//!
//! Before a row is created, its phones and e-mails (the `[[fm]]` types of `duplicate_by`) are
//! asked with `crm.duplicate.findbycomm`: 20 values a call, 50 calls a `batch`, so one request
//! checks up to 1,000 values. The method answers IDs per call, not per value, so the items it
//! names are read (`crm.item.list` by `@id`, 50 a call, 50 calls a batch) and each value is
//! attributed to the items that hold it. This file owns: the queue that packs a row's values
//! (compared as `comm` says the portal compares them) into full requests, the attribution, the
//! per-row decision (a table, below) and the fields a `merge` or `update` sends. Pure: no I/O, no journal, no counters; the step
//! (`matching`) asks and carries the answers out.
//!
//! | existing items of the step's type holding one of the row's values | a row of this run holds one | decision |
//! |---|---|---|
//! | any, `on_duplicate = "create"` | any | create (no check is made at all) |
//! | none | no | create |
//! | none | yes | `skip`: that row's item once it has its ID; `merge` / `update`: `duplicate_in_source` (a duplicate within the source) |
//! | one | any | the mode: `skip` records it as that item, `merge` / `update` update it (the first row matching it only; later ones: `duplicate_in_source`) |
//! | several, `on_ambiguous = "reject"` | any | rejected, the text lists the IDs and values |
//! | several, `on_ambiguous = "first"` | any | the mode, with the lowest ID |
//! | several, `on_ambiguous = "skip"` | any | not sent, not recorded (checked again next run), counted as skipped-ambiguous: the run exits 1 |
//!
//! Decisions the issue leaves open, written down here:
//! - A match in the portal wins over a match within the source.
//! - Phones and e-mails compare by the portal's rule (`comm`: the core's phone normalisation,
//!   e-mails trimmed, NFC, lower case); other fm types are never matched.
//! - A value is credited only with a match it produced: an item the check names for a call of
//!   several values but that holds none of them by that rule (a portal that normalises
//!   otherwise) sends the call's values back to be asked one by one, and a call of one value
//!   gets what the portal named for it. A row whose values cannot be asked stays unchecked
//!   (not created, not recorded: checked again next run).
//! - With `merge` / `update`, one source row decides an item: the first row matching it; a
//!   later row matching the same item (in the portal, or a row of this run) is rejected as
//!   `duplicate_in_source` naming that row (`matching` keeps who came first). `skip` links
//!   every such row to the item (nothing is written).
//! - `merge` fills a field the item has as missing, `null`, `""`, `[]` or `{}`; phones and
//!   e-mails the item lacks by the portal's rule are added (the one that matched never again
//!   in another spelling); key fields (`originatorId`, `originId`, `xmlId`) of an existing item
//!   are never written (it keeps its own origin).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde::Serialize;
use serde_json::{Map, Value, json};

pub(super) use super::comm::{Comm, comms_of};
use super::comm::{comm, fm_additions};
use crate::journal::field_hashes::fm_pairs;
use crate::mapping::{DuplicateRule, OnAmbiguous, OnDuplicate};
use crate::payload::{Command, Method};

/// Values per `crm.duplicate.findbycomm` call (the method's limit).
pub(super) const VALUES_PER_CALL: usize = 20;

/// Calls per request (the `batch` limit): 1,000 values or 2,500 items read per request.
pub(super) const CALLS_PER_REQUEST: usize = 50;

/// Items per `crm.item.list` read (one page).
pub(super) const IDS_PER_READ: usize = 50;

/// Rows waiting for their check before the items found so far are read and partly filled
/// calls are sent anyway (rows wait for full requests; a rare value type must not hold the
/// whole file back). Bounds the memory of the check (a row keeps its command).
pub(super) const MAX_WAITING_ROWS: usize = 5_000;

/// Items named by the checks before they are read: one full read request.
pub(super) const IDS_PER_READ_REQUEST: usize = IDS_PER_READ * CALLS_PER_REQUEST;

/// Lines of "which value matched which item" kept in the report.
pub(super) const MAX_MATCH_LINES: usize = 1_000;

/// The code of a row rejected because several existing items match it.
pub(super) const AMBIGUOUS_CODE: &str = "duplicate_ambiguous";

/// The duplicate control's figures for one step (the `duplicates` object of `--report`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct DuplicateFigures {
    /// Rows to create that were checked against the portal first.
    pub rows_checked: u64,
    /// Phone/e-mail values asked (`crm.duplicate.findbycomm`, 20 a call).
    pub values_checked: u64,
    /// Requests made for the checks, and for reading the items they found.
    pub check_requests: u64,
    pub read_requests: u64,
    /// Rows that matched one existing item (or the first of several), by what was (or, in a
    /// dry run, would be) done: recorded as that item, merged into it, updated.
    pub skipped: u64,
    pub merged: u64,
    pub updated: u64,
    /// Rows that matched several existing items (rejected, the first used, or skipped).
    pub ambiguous: u64,
    /// Rows whose phone or e-mail a row of this run already has (a duplicate within the source).
    pub in_source: u64,
    /// Which value matched which item, one line per row (the first 1,000).
    pub matches: Vec<String>,
}

impl DuplicateFigures {
    /// Rows that matched something, existing or within the source.
    pub fn matched(&self) -> u64 {
        self.skipped + self.merged + self.updated + self.ambiguous + self.in_source
    }

    /// A one-line summary (`None` when nothing was checked).
    pub fn summary(&self) -> Option<String> {
        (self.rows_checked > 0).then(|| {
            format!(
                "duplicate check: {} row(s) checked ({} values in {} request(s), {} item read request(s)); \
                 matched existing items: {} skipped, {} merged, {} updated, {} ambiguous; {} duplicate(s) \
                 within the source",
                self.rows_checked,
                self.values_checked,
                self.check_requests,
                self.read_requests,
                self.skipped,
                self.merged,
                self.updated,
                self.ambiguous,
                self.in_source
            )
        })
    }

    /// Counts one row handled as the existing item by `how`.
    pub(super) fn count(&mut self, how: OnDuplicate) {
        match how {
            OnDuplicate::Skip => self.skipped += 1,
            OnDuplicate::Merge => self.merged += 1,
            OnDuplicate::Update => self.updated += 1,
            OnDuplicate::Create => {}
        }
    }

    /// Keeps a line of the report (the first [`MAX_MATCH_LINES`]).
    pub(super) fn line(&mut self, text: String) {
        if self.matches.len() < MAX_MATCH_LINES {
            self.matches.push(text);
        }
    }
}

/// The `entity_type` of `crm.duplicate.findbycomm` for a CRM entity type ID.
pub(super) fn entity_type_name(entity_type_id: u32) -> Option<&'static str> {
    match entity_type_id {
        1 => Some("LEAD"),
        3 => Some("CONTACT"),
        4 => Some("COMPANY"),
        _ => None,
    }
}

/// One check call: values of one type, at most [`VALUES_PER_CALL`].
pub(super) fn check_command(call: &[Comm], entity_type: &str) -> Command {
    let kind = call.first().map_or("EMAIL", |c| c.kind);
    // The row's own spelling: the portal normalises it by its own rule.
    let values: Vec<&str> = call.iter().map(|c| c.spelling.as_str()).collect();
    Command {
        method: Method::CrmDuplicateFindByComm,
        params: json!({"type": kind, "values": values, "entity_type": entity_type}),
    }
}

/// One read of found items by ID (at most [`IDS_PER_READ`]), with their phones and e-mails.
pub(super) fn read_command(entity_type_id: u32, ids: &[u64]) -> Command {
    Command {
        method: Method::CrmItemList,
        params: json!({"entityTypeId": entity_type_id, "filter": {"@id": ids}, "select": ["*"], "start": -1}),
    }
}

/// The IDs of `entity_type` in a `crm.duplicate.findbycomm` result: a match found only among
/// other entity types does not count.
pub(super) fn ids_in(result: &Value, entity_type: &str) -> Vec<u64> {
    let mut ids: Vec<u64> = result
        .get(entity_type)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(crate::bitrix::json::id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// What the answers of a request of checks tell, once the items they named are read.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Attribution {
    /// Value -> the items that hold it (maybe none).
    pub(super) answers: HashMap<Comm, Vec<u64>>,
    /// Values of calls that named an item holding none of them by the portal's rule as this
    /// file knows it: asked again one by one, never credited with a match they may not have made.
    pub(super) again: Vec<Comm>,
}

/// Which value of each call matched which item: `ids[i]` are the items the portal named for
/// `calls[i]`, `items` those items as read. A call of one value gets every item named (the
/// portal said so of that value alone); in a call of several values, each value gets the items
/// that hold it, and a call naming an item that holds none of them goes back to be asked value
/// by value (`again`).
pub(super) fn attribute(calls: &[Vec<Comm>], ids: &[Vec<u64>], items: &HashMap<u64, Value>) -> Attribution {
    let mut out = Attribution::default();
    for (call, found) in calls.iter().zip(ids) {
        if let [alone] = call.as_slice() {
            out.answers.insert(alone.clone(), found.clone());
            continue;
        }
        let mut answers: HashMap<Comm, Vec<u64>> = call.iter().map(|c| (c.clone(), Vec::new())).collect();
        let mut explained = true;
        for id in found {
            let holds: HashSet<Comm> = items
                .get(id)
                .map(|item| fm_pairs(item.get("fm")).iter().filter_map(|(t, v)| comm(t, v)).collect())
                .unwrap_or_default();
            let held: Vec<&Comm> = call.iter().filter(|c| holds.contains(*c)).collect();
            if held.is_empty() {
                explained = false;
                break;
            }
            for c in held {
                answers.entry(c.clone()).or_default().push(*id);
            }
        }
        if explained {
            out.answers.extend(answers);
        } else {
            out.again.extend(call.iter().cloned());
        }
    }
    out
}

/// Rows waiting for the check, the values still to ask, and the answers kept until every
/// waiting row that needs them is decided. `R` is what the step keeps of a row.
pub(super) struct CheckQueue<R> {
    rows: VecDeque<(R, Vec<Comm>)>,
    /// Values to ask, per type, in the order rows gave them.
    unasked: BTreeMap<&'static str, Vec<Comm>>,
    /// Values to ask one per call (their call of several named an item it cannot explain).
    alone: Vec<Comm>,
    /// Values asked or to ask, not answered yet.
    waiting: HashSet<Comm>,
    /// Value -> the existing items holding it.
    answers: HashMap<Comm, Vec<u64>>,
}

impl<R> Default for CheckQueue<R> {
    fn default() -> Self {
        CheckQueue {
            rows: VecDeque::new(),
            unasked: BTreeMap::new(),
            alone: Vec::new(),
            waiting: HashSet::new(),
            answers: HashMap::new(),
        }
    }
}

impl<R> CheckQueue<R> {
    /// Queues a row with its values; values `known` (held by a row of this run already, whose
    /// handling covers them) or already asked are not asked again.
    pub(super) fn push(&mut self, row: R, comms: Vec<Comm>, known: impl Fn(&Comm) -> bool) {
        for c in &comms {
            if known(c) || self.waiting.contains(c) || self.answers.contains_key(c) {
                continue;
            }
            self.waiting.insert(c.clone());
            self.unasked.entry(c.kind).or_default().push(c.clone());
        }
        self.rows.push_back((row, comms));
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Whether a request's worth of full calls is waiting, or too many rows are.
    pub(super) fn ready(&self) -> bool {
        self.full_calls() >= CALLS_PER_REQUEST || self.rows.len() >= MAX_WAITING_ROWS
    }

    fn full_calls(&self) -> usize {
        self.unasked.values().map(|v| v.len() / VALUES_PER_CALL).sum()
    }

    /// Whether too many rows wait.
    pub(super) fn crowded(&self) -> bool {
        self.rows.len() >= MAX_WAITING_ROWS
    }

    /// The calls of the next request: values asked again alone first (whenever there are
    /// any: their rows wait), then full calls, then (when `force`) partly filled ones; empty
    /// when there is nothing to ask again, not a full request and no force.
    pub(super) fn next_calls(&mut self, force: bool) -> Vec<Vec<Comm>> {
        if !force && self.alone.is_empty() && self.full_calls() < CALLS_PER_REQUEST {
            return Vec::new();
        }
        let n = self.alone.len().min(CALLS_PER_REQUEST);
        let mut calls: Vec<Vec<Comm>> = self.alone.drain(..n).map(|c| vec![c]).collect();
        if !force && self.full_calls() < CALLS_PER_REQUEST {
            return calls;
        }
        for values in self.unasked.values_mut() {
            while values.len() >= VALUES_PER_CALL && calls.len() < CALLS_PER_REQUEST {
                calls.push(values.drain(..VALUES_PER_CALL).collect());
            }
        }
        if force {
            for values in self.unasked.values_mut() {
                if !values.is_empty() && calls.len() < CALLS_PER_REQUEST {
                    calls.push(std::mem::take(values));
                }
            }
        }
        calls
    }

    /// Records the answers of a request.
    pub(super) fn answer(&mut self, answers: HashMap<Comm, Vec<u64>>) {
        for (c, ids) in answers {
            self.waiting.remove(&c);
            self.answers.insert(c, ids);
        }
    }

    /// Values whose call could not be attributed: asked again, one value a call (they stay
    /// unanswered, so their rows wait).
    pub(super) fn ask_alone(&mut self, values: Vec<Comm>) {
        self.alone.extend(values);
    }

    /// The rows at the front whose values are all answered, in order, each with the existing
    /// items holding its values (by ID, each with the values it holds); answers no waiting row
    /// needs any more are dropped.
    #[allow(clippy::type_complexity)]
    pub(super) fn decidable(&mut self) -> Vec<(R, Vec<Comm>, Vec<(u64, Vec<Comm>)>)> {
        let mut out = Vec::new();
        while let Some((_, comms)) = self.rows.front() {
            if comms.iter().any(|c| self.waiting.contains(c)) {
                break;
            }
            let Some((row, comms)) = self.rows.pop_front() else { break };
            let mut by_id: BTreeMap<u64, Vec<Comm>> = BTreeMap::new();
            for c in &comms {
                for id in self.answers.get(c).into_iter().flatten() {
                    by_id.entry(*id).or_default().push(c.clone());
                }
            }
            out.push((row, comms, by_id.into_iter().collect()));
        }
        if !out.is_empty() {
            let needed: HashSet<&Comm> = self.rows.iter().flat_map(|(_, c)| c).collect();
            self.answers.retain(|c, _| needed.contains(c));
        }
        out
    }

    /// Every waiting row, dropped (its check failed): the rows, for the report.
    pub(super) fn drain(&mut self) -> Vec<R> {
        self.unasked.clear();
        self.alone.clear();
        self.waiting.clear();
        self.answers.clear();
        self.rows.drain(..).map(|(r, _)| r).collect()
    }

    /// IDs any kept answer names (items still needed for a merge or update).
    pub(super) fn named_ids(&self) -> HashSet<u64> {
        self.answers.values().flatten().copied().collect()
    }
}

/// What the check found for one row.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Found {
    /// Existing items of the step's type holding one of its values: ID and those values, by ID.
    pub(super) portal: Vec<(u64, Vec<Comm>)>,
    /// A row of this run holding one of its values: that row's key and the value.
    pub(super) in_source: Option<(String, Comm)>,
}

/// What to do with a row to create, once checked.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Verdict {
    /// Nothing matches: created.
    Create,
    /// The existing item `id`: handled by `how` (skip, merge or update).
    Existing { id: u64, how: OnDuplicate },
    /// Several items match and `on_ambiguous = "reject"`: rejected with `text`.
    Reject { text: String },
    /// Several items match and `on_ambiguous = "skip"`: not sent, not recorded.
    Pass { text: String },
    /// A row of this run (`first_key`) has one of its values: handled by `how` with that
    /// row's item once it has one.
    AfterFirst { first_key: String, how: OnDuplicate },
}

/// The decision for one checked row (the table of the module).
pub(super) fn decide(found: &Found, rule: &DuplicateRule, entity: &str) -> Verdict {
    let how = rule.on_duplicate;
    if how == OnDuplicate::Create {
        return Verdict::Create;
    }
    match found.portal.as_slice() {
        [] => match &found.in_source {
            Some((first_key, _)) => Verdict::AfterFirst { first_key: first_key.clone(), how },
            None => Verdict::Create,
        },
        [(id, _)] => Verdict::Existing { id: *id, how },
        several => {
            let ids: Vec<String> = several.iter().map(|(id, _)| id.to_string()).collect();
            let what = format!(
                "{} existing {entity} items (IDs {}) hold this row's phones/e-mails: {}",
                several.len(),
                ids.join(", "),
                matched_text(several, entity)
            );
            match rule.on_ambiguous {
                OnAmbiguous::First => Verdict::Existing { id: several[0].0, how },
                OnAmbiguous::Skip => {
                    Verdict::Pass { text: format!("{what}; skipped (on_ambiguous = \"skip\")") }
                }
                OnAmbiguous::Reject => Verdict::Reject {
                    text: format!(
                        "{what}; on_ambiguous = \"reject\": merge them in the portal, or set on_ambiguous = \
                         \"first\" (the lowest ID) or \"skip\""
                    ),
                },
            }
        }
    }
}

/// "EMAIL a@b.ru -> contact 12; PHONE 79161234567 -> contact 12": which value matched which item.
pub(super) fn matched_text(portal: &[(u64, Vec<Comm>)], entity: &str) -> String {
    let mut by_value: BTreeMap<&Comm, Vec<String>> = BTreeMap::new();
    for (id, comms) in portal {
        for c in comms {
            by_value.entry(c).or_default().push(id.to_string());
        }
    }
    by_value
        .into_iter()
        .map(|(c, ids)| format!("{c} -> {entity} {}", ids.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether a field as the portal lists it is empty (what `merge` fills).
fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

/// The update a row sends to the existing `item` it matched: `skip` none; `merge` only the
/// fields the item has empty; `update` every mapped field. Both add the phones/e-mails the
/// item lacks and never write key fields. Empty: nothing to send.
pub(super) fn fields_for(how: OnDuplicate, new: &Map<String, Value>, item: &Value) -> Map<String, Value> {
    match how {
        OnDuplicate::Skip | OnDuplicate::Create => Map::new(),
        OnDuplicate::Update | OnDuplicate::Merge => {
            let fill = |k: &str| how == OnDuplicate::Update || is_empty(item.get(k));
            let mut out: Map<String, Value> = new
                .iter()
                .filter(|(k, _)| *k != "fm" && !super::upsert::never_updated(k) && fill(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if let Some(fm) = fm_additions(new.get("fm"), item.get("fm")) {
                out.insert("fm".into(), fm);
            }
            out
        }
    }
}

#[cfg(test)]
mod tests;
