//! Duplicate control against what the portal already holds (`on_duplicate`): the pure part.
//!
//! Before a row is created, its phones and e-mails (the `[[fm]]` types of `duplicate_by`) are
//! asked with `crm.duplicate.findbycomm`: 20 values a call, 50 calls a `batch`, so one request
//! checks up to 1,000 values. The method answers IDs per call, not per value, so the items it
//! names are read (`crm.item.list` by `@id`, 50 a call, 50 calls a batch) and each value is
//! attributed to the items that hold it. This file owns: normalizing a row's values, the queue
//! that packs them into full requests, the attribution, the per-row decision (a table, below)
//! and the fields a `merge` or `update` sends. Pure: no I/O, no journal, no counters; the step
//! (`matching`) asks and carries the answers out.
//!
//! | existing items of the step's type holding one of the row's values | a row of this run holds one | decision |
//! |---|---|---|
//! | any, `on_duplicate = "create"` | any | create (no check is made at all) |
//! | none | no | create |
//! | none | yes | handled by the mode once that row has its ID (a duplicate within the source) |
//! | one | any | the mode: `skip` records it as that item, `merge` / `update` update it |
//! | several, `on_ambiguous = "reject"` | any | rejected, the text lists the IDs and values |
//! | several, `on_ambiguous = "first"` | any | the mode, with the lowest ID |
//! | several, `on_ambiguous = "skip"` | any | not sent, not recorded (checked again next run) |
//!
//! Decisions the issue leaves open, written down here:
//! - A match in the portal wins over a match within the source.
//! - Phones compare by their digits before any extension marker (`ext`, `доб`, `#`, `x`, `,`,
//!   `;`), e-mails by their trimmed, lower-cased text; other fm types are never matched.
//! - An item the check names but whose phones/e-mails hold none of the call's values by these
//!   rules (the portal normalizes differently) is attributed to every value of that call:
//!   a row then rather turns ambiguous than is created twice.
//! - `merge` fills a field the item has as missing, `null`, `""`, `[]` or `{}`; phones and
//!   e-mails the item lacks are added; key fields (`originatorId`, `originId`, `xmlId`) of an
//!   existing item are never written (it keeps its own origin).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::upsert;
use crate::journal::field_hashes::{KEY_FIELDS, fm_pairs};
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

/// One phone or e-mail as the check compares it: an e-mail trimmed and lower-cased, a phone
/// its digits before any extension.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct Comm {
    pub(super) kind: &'static str,
    pub(super) value: String,
}

impl std::fmt::Display for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.value)
    }
}

/// `value` of fm type `kind` as the check compares it; `None` for other types and empty values.
pub(super) fn comm(kind: &str, value: &str) -> Option<Comm> {
    let (kind, value) = match kind.to_ascii_uppercase().as_str() {
        "EMAIL" => ("EMAIL", value.trim().to_lowercase()),
        "PHONE" => {
            let lower = value.to_lowercase();
            let cut = ["ext", "доб", "#", ",", ";", "x"]
                .iter()
                .filter_map(|m| lower.find(m))
                .min()
                .unwrap_or(lower.len());
            ("PHONE", lower[..cut].chars().filter(char::is_ascii_digit).collect())
        }
        _ => return None,
    };
    (!value.is_empty()).then_some(Comm { kind, value })
}

/// The values of a row's `fm` of the types `by`, each once, in the row's order.
pub(super) fn comms_of(fields: &Map<String, Value>, by: &[&'static str]) -> Vec<Comm> {
    let mut out: Vec<Comm> = Vec::new();
    for (t, v) in fm_pairs(fields.get("fm")) {
        if let Some(c) = comm(&t, &v).filter(|c| by.contains(&c.kind))
            && !out.contains(&c)
        {
            out.push(c);
        }
    }
    out
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
    let values: Vec<&str> = call.iter().map(|c| c.value.as_str()).collect();
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
        .filter_map(|v| super::portal::id_of(Some(v)))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Which value of each call matched which item: `ids[i]` are the items the portal named for
/// `calls[i]`, `items` those items as read. Every asked value gets an entry (maybe empty).
pub(super) fn attribute(
    calls: &[Vec<Comm>],
    ids: &[Vec<u64>],
    items: &HashMap<u64, Value>,
) -> HashMap<Comm, Vec<u64>> {
    let mut out: HashMap<Comm, Vec<u64>> = HashMap::new();
    for (call, found) in calls.iter().zip(ids) {
        for c in call {
            out.entry(c.clone()).or_default();
        }
        for id in found {
            let holds: HashSet<Comm> = items
                .get(id)
                .map(|item| fm_pairs(item.get("fm")).iter().filter_map(|(t, v)| comm(t, v)).collect())
                .unwrap_or_default();
            let held: Vec<&Comm> = call.iter().filter(|c| holds.contains(*c)).collect();
            // The portal named it for this call: if no value is recognisably its own, every
            // value of the call may be (rather ambiguous than created twice).
            let to: Vec<&Comm> = if held.is_empty() { call.iter().collect() } else { held };
            for c in to {
                let v = out.entry(c.clone()).or_default();
                if !v.contains(id) {
                    v.push(*id);
                }
            }
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

    /// The calls of the next request: full calls first, then (when `force`) partly filled
    /// ones; empty when there is not a full request and no force.
    pub(super) fn next_calls(&mut self, force: bool) -> Vec<Vec<Comm>> {
        if !force && self.full_calls() < CALLS_PER_REQUEST {
            return Vec::new();
        }
        let mut calls = Vec::new();
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
        OnDuplicate::Update => upsert::all_fields_for_found_item(new, item),
        OnDuplicate::Merge => {
            let mut out: Map<String, Value> = new
                .iter()
                .filter(|(k, _)| *k != "fm" && !KEY_FIELDS.contains(&k.as_str()) && is_empty(item.get(*k)))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if let Some(fm) = upsert::fm_additions(new.get("fm"), item.get("fm")) {
                out.insert("fm".into(), fm);
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rstest::rstest;

    fn c(kind: &'static str, value: &str) -> Comm {
        Comm { kind, value: value.into() }
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    fn rule(how: OnDuplicate, ambiguous: OnAmbiguous) -> DuplicateRule {
        DuplicateRule { on_duplicate: how, by: vec!["EMAIL", "PHONE"], on_ambiguous: ambiguous }
    }

    #[rstest]
    #[case("PHONE", "+7 (916) 123-45-67", Some(c("PHONE", "79161234567")))]
    #[case("phone", "+1 555 010 0000 ext. 12", Some(c("PHONE", "15550100000")))]
    #[case("PHONE", "8 800 доб. 5", Some(c("PHONE", "8800")))]
    #[case("EMAIL", "  Ann@Example.COM ", Some(c("EMAIL", "ann@example.com")))]
    #[case("WEB", "example.com", None)]
    #[case("PHONE", "ext 5", None)]
    fn values_are_compared_as_the_portal_compares_them(
        #[case] kind: &str,
        #[case] value: &str,
        #[case] expected: Option<Comm>,
    ) {
        assert_eq!(comm(kind, value), expected);
    }

    #[test]
    fn a_row_gives_its_values_of_the_duplicate_by_types_once() {
        let fields = obj(json!({"fm": [
            {"typeId": "EMAIL", "valueType": "WORK", "value": "a@b.ru"},
            {"typeId": "EMAIL", "valueType": "HOME", "value": "A@B.RU"},
            {"typeId": "PHONE", "valueType": "WORK", "value": "+7916"},
            {"typeId": "WEB", "valueType": "WORK", "value": "x.ru"}
        ]}));
        assert_eq!(comms_of(&fields, &["EMAIL"]), vec![c("EMAIL", "a@b.ru")]);
        assert_eq!(comms_of(&fields, &["EMAIL", "PHONE"]), vec![c("EMAIL", "a@b.ru"), c("PHONE", "7916")]);
    }

    #[test]
    fn a_match_among_other_entity_types_does_not_count() {
        let answer = json!({"LEAD": [4], "CONTACT": ["9", 7, 7], "COMPANY": [1]});
        assert_eq!(ids_in(&answer, "CONTACT"), vec![7, 9]);
        assert_eq!(ids_in(&json!({"LEAD": [4]}), "CONTACT"), Vec::<u64>::new());
        assert_eq!(ids_in(&json!([]), "CONTACT"), Vec::<u64>::new());
    }

    #[test]
    fn a_full_request_carries_fifty_calls_of_twenty_values() {
        let mut q: CheckQueue<usize> = CheckQueue::default();
        for i in 0..999 {
            q.push(i, vec![c("EMAIL", &format!("e{i}@x")), c("PHONE", &format!("{i}"))], |_| false);
        }
        // 999 + 999 values: 98 full calls; one request takes 50 of them.
        assert!(q.ready());
        let calls = q.next_calls(false);
        assert_eq!(calls.len(), CALLS_PER_REQUEST);
        assert!(calls.iter().all(|call| call.len() == VALUES_PER_CALL));
        assert!(calls.iter().all(|call| call.iter().all(|v| v.kind == call[0].kind)));
        assert!(q.next_calls(false).is_empty(), "48 full calls left: not a full request yet");
        let rest = q.next_calls(true);
        assert_eq!(rest.iter().map(Vec::len).sum::<usize>(), 999 * 2 - 1000);
    }

    #[test]
    fn values_already_asked_or_known_in_this_run_are_not_asked_again() {
        let mut q: CheckQueue<&str> = CheckQueue::default();
        q.push("A", vec![c("EMAIL", "a@x"), c("PHONE", "1")], |_| false);
        q.push("B", vec![c("EMAIL", "a@x"), c("PHONE", "2")], |v| v.value == "2");
        let calls = q.next_calls(true);
        let asked: Vec<&Comm> = calls.iter().flatten().collect();
        assert_eq!(asked, vec![&c("EMAIL", "a@x"), &c("PHONE", "1")]);
        assert!(q.decidable().is_empty(), "nothing answered yet");
        q.answer(HashMap::from([(c("EMAIL", "a@x"), vec![7]), (c("PHONE", "1"), vec![])]));
        let rows = q.decidable();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].2, vec![(7, vec![c("EMAIL", "a@x")])]);
        assert!(q.is_empty());
    }

    #[test]
    fn each_value_is_attributed_to_the_items_that_hold_it() {
        let calls = vec![vec![c("EMAIL", "a@x"), c("EMAIL", "b@x"), c("EMAIL", "z@x")]];
        let items = HashMap::from([
            (5, json!({"fm": [{"typeId": "EMAIL", "value": "A@x"}]})),
            (6, json!({"fm": [{"typeId": "EMAIL", "value": "b@X"}, {"typeId": "EMAIL", "value": "a@x"}]})),
        ]);
        let got = attribute(&calls, &[vec![5, 6]], &items);
        assert_eq!(got[&c("EMAIL", "a@x")], vec![5, 6]);
        assert_eq!(got[&c("EMAIL", "b@x")], vec![6]);
        assert_eq!(got[&c("EMAIL", "z@x")], Vec::<u64>::new());
        // An item the portal named that holds none of the values: every value of the call.
        let got = attribute(&calls, &[vec![9]], &HashMap::new());
        assert!(got.values().all(|ids| ids == &vec![9]));
    }

    fn found(portal: &[u64], in_source: Option<&str>) -> Found {
        Found {
            portal: portal.iter().map(|id| (*id, vec![c("EMAIL", &format!("{id}@x"))])).collect(),
            in_source: in_source.map(|k| (k.to_string(), c("PHONE", "1"))),
        }
    }

    use OnAmbiguous as A;
    use OnDuplicate as D;

    #[rstest]
    // portal IDs   in the source   on_duplicate  on_ambiguous -> verdict
    #[case(&[7],    None,          D::Create, A::Reject, Verdict::Create)]
    #[case(&[],     None,          D::Skip,   A::Reject, Verdict::Create)]
    #[case(&[7],    None,          D::Skip,   A::Reject, Verdict::Existing { id: 7, how: D::Skip })]
    #[case(&[7],    None,          D::Merge,  A::Reject, Verdict::Existing { id: 7, how: D::Merge })]
    #[case(&[7],    None,          D::Update, A::Reject, Verdict::Existing { id: 7, how: D::Update })]
    #[case(&[7],    Some("C-1"),   D::Skip,   A::Reject, Verdict::Existing { id: 7, how: D::Skip })]
    #[case(&[],     Some("C-1"),   D::Merge,  A::Reject, Verdict::AfterFirst { first_key: "C-1".into(), how: D::Merge })]
    #[case(&[3, 7], None,          D::Update, A::First,  Verdict::Existing { id: 3, how: D::Update })]
    fn a_checked_row_is_decided_by_its_matches_and_the_modes(
        #[case] portal: &[u64],
        #[case] in_source: Option<&str>,
        #[case] how: OnDuplicate,
        #[case] ambiguous: OnAmbiguous,
        #[case] expected: Verdict,
    ) {
        assert_eq!(decide(&found(portal, in_source), &rule(how, ambiguous), "contact"), expected);
    }

    #[test]
    fn several_matches_are_rejected_or_skipped_naming_each_value_and_id() {
        let f = found(&[3, 7], None);
        let Verdict::Reject { text } = decide(&f, &rule(D::Skip, A::Reject), "contact") else {
            panic!("rejected")
        };
        assert!(text.contains("IDs 3, 7"), "{text}");
        assert!(text.contains("EMAIL 3@x -> contact 3; EMAIL 7@x -> contact 7"), "{text}");
        assert!(matches!(decide(&f, &rule(D::Skip, A::Skip), "contact"), Verdict::Pass { .. }));
    }

    #[test]
    fn merge_fills_only_empty_fields_and_adds_missing_phones() {
        let new =
            obj(json!({"name": "Ann", "lastName": "Lee", "post": "CEO", "comments": "x", "originId": "C1",
            "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+7916"},
                   {"typeId": "EMAIL", "valueType": "WORK", "value": "a@x"}]}));
        let item = json!({"id": 7, "name": "Anna", "lastName": "", "post": null, "originId": "theirs",
            "fm": [{"id": 1, "typeId": "EMAIL", "valueType": "WORK", "value": "A@x"}]});
        assert_eq!(
            fields_for(D::Merge, &new, &item),
            obj(json!({"lastName": "Lee", "post": "CEO", "comments": "x",
                "fm": {"n0": {"typeId": "PHONE", "valueType": "WORK", "value": "+7916"}}}))
        );
        let update = fields_for(D::Update, &new, &item);
        assert_eq!(update.get("name"), Some(&json!("Ann")));
        assert!(!update.contains_key("originId"), "an existing item keeps its own key");
        assert!(fields_for(D::Skip, &new, &item).is_empty());
    }
}
