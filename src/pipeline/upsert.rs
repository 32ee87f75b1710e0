//! Incremental re-runs: what changed between the fields last sent for a row and the fields the
//! source gives now, and the `crm.item.update` that carries only that change.
//!
//! Pure functions, no I/O. The journal keeps no values, only a salted hash per field and per
//! multifield value ([`FieldHashes`]); the comparison is made against those. Decisions:
//! - A field that disappeared from the row (its cell became empty) is cleared with `""`.
//! - Multifields (`fm`) are only ever added: a phone or e-mail the row has and the item has
//!   not gets an `n0`, `n1`... entry; values already on the item (by type and value) are kept
//!   untouched and nothing is deleted (a sales rep's added phone survives the nightly sync).
//!   Against an item as the portal lists it (a lost journal), values compare by the portal's
//!   rule ([`super::comm`]: a phone in another spelling is the same phone).
//! - Key fields (`originatorId`, `originId`, `xmlId`) are never part of an update.

use serde_json::{Map, Value};

use super::comm::{fm_additions, fm_additions_by};
use crate::journal::field_hashes::KEY_FIELDS;
use crate::journal::{FieldHasher, FieldHashes};
use crate::payload::Command;

/// The field object of a create command (`fields` of `crm.item.add`, the params of `user.add`),
/// borrowed: it may hold the base64 of big files, and is only read (hashed, compared).
pub fn fields_of(cmd: &Command) -> &Map<String, Value> {
    static NONE: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    crate::payload::fields_of(cmd).unwrap_or(&NONE)
}

/// Fields of `new` that differ from the fields last sent (known by their hashes `old`), plus
/// `""` for fields `old` had and `new` lacks; `fm` as an additions object. Empty when nothing
/// changed.
/// Fields an update never carries: the row's key fields (the item keeps the key it was created
/// with) and the contact's `photo`, which a portal refuses to set through `crm.item.update`
/// ("both the `["photo.jpg", "Base64"]` array and the `{"fileData": [...]}` object return an
/// error": `tutorials/crm/how-to-edit-crm-objects/how-to-make-contact-edit-card.md`; only
/// contacts have a `photo`). A changed photo is not sent: the rest of the row is, and the row is
/// not rejected for a field the portal never lets an update set.
pub(super) fn never_updated(field: &str) -> bool {
    KEY_FIELDS.contains(&field) || field == "photo"
}

pub fn changed_fields(
    new: &Map<String, Value>,
    old: &FieldHashes,
    hasher: &FieldHasher,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in new {
        if k == "fm" || never_updated(k) {
            continue;
        }
        if old.fields.get(k) != Some(&hasher.field(k, v)) {
            out.insert(k.clone(), v.clone());
        }
    }
    for k in old.fields.keys() {
        if k != "fm" && !never_updated(k) && !new.contains_key(k) {
            out.insert(k.clone(), Value::String(String::new()));
        }
    }
    if let Some(fm) = fm_additions_by(new.get("fm"), |t, val| old.fm.contains(&hasher.fm(t, val))) {
        out.insert("fm".into(), fm);
    }
    out
}

/// The fields of `new` an item found in the portal without a journal record (a lost journal)
/// needs: every value the item (`portal_item`, as listed) does not visibly hold already
/// ([`same_as_listed`]; a field the listing lacks is sent), `fm` only what the item lacks.
/// Empty: the item holds the row, nothing is sent (a lost journal costs reads, not writes).
pub fn all_fields_for_found_item(new: &Map<String, Value>, portal_item: &Value) -> Map<String, Value> {
    let mut out: Map<String, Value> = new
        .iter()
        .filter(|(k, _)| *k != "fm" && !never_updated(k))
        .filter(|(k, v)| !same_as_listed(v, portal_item.get(k.as_str())))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(fm) = fm_additions(new.get("fm"), portal_item.get("fm")) {
        out.insert("fm".into(), fm);
    }
    out
}

/// Whether the portal's listing of a field (`listed`) certainly holds the value the row sends
/// (`sent`). Conservative: when in doubt, `false` (the field is sent). The portal answers in
/// its own types: numbers and IDs may come back as strings (`"5"` for `5`), flags as `Y`/`N`
/// for `true`/`false`, a date `2026-12-06` as `2026-12-06T00:00:00+03:00`, an empty field as
/// `null` or `[]`; a multiple field compares element by element, in order.
pub fn same_as_listed(sent: &Value, listed: Option<&Value>) -> bool {
    let Some(listed) = listed else { return false };
    if sent == listed {
        return true;
    }
    match (sent, listed) {
        (Value::String(s), Value::Null) => s.is_empty(),
        (Value::Array(a), Value::Null) => a.is_empty(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_as_listed(x, Some(y)))
        }
        (Value::String(_), Value::String(_)) => same_date(sent, listed),
        (Value::Number(_) | Value::String(_), Value::Number(_) | Value::String(_)) => {
            same_number(sent, listed)
        }
        (Value::Bool(b), Value::String(f)) | (Value::String(f), Value::Bool(b)) => {
            f == if *b { "Y" } else { "N" }
        }
        _ => false,
    }
}

/// `5` and `"5"` are one number, one side a JSON number (two strings compare as text: `"007"`
/// is not `"7"`).
fn same_number(a: &Value, b: &Value) -> bool {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if !s.trim().is_empty() => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    matches!((num(a), num(b)), (Some(x), Some(y)) if x == y)
}

/// A date `YYYY-MM-DD` listed as that day at midnight (any offset: the portal stores dates in
/// its own zone), or two date-times of one instant.
fn same_date(sent: &Value, listed: &Value) -> bool {
    let (Value::String(s), Value::String(l)) = (sent, listed) else { return false };
    if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
        return l.strip_prefix(s.as_str()).is_some_and(|rest| rest.starts_with("T00:00:00"));
    }
    match (chrono::DateTime::parse_from_rfc3339(s), chrono::DateTime::parse_from_rfc3339(l)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The field object whose hashes, stored for a row about to be updated with `update`, make
/// [`changed_fields`] of `new` give that same update again: a run that dies before the
/// update's answer is recorded resends exactly it (not every field, which would undo a
/// `merge`'s rule of filling only empty fields). Fields the update carries are set apart
/// (`null`), `fm` holds only the values the update does not add.
pub fn baseline_for_update(new: &Map<String, Value>, update: &Map<String, Value>) -> Map<String, Value> {
    let mut out = new.clone();
    for k in update.keys().filter(|k| *k != "fm") {
        out.insert(k.clone(), Value::Null);
    }
    let added: Vec<&Value> =
        update.get("fm").and_then(Value::as_object).into_iter().flatten().map(|(_, v)| v).collect();
    if let Some(Value::Array(fm)) = out.get_mut("fm") {
        fm.retain(|v| !added.contains(&v));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    /// What the journal keeps of `sent`, then the comparison of `new` against it.
    fn changed(new: &Map<String, Value>, sent: &Map<String, Value>) -> Map<String, Value> {
        let hasher = FieldHasher::new(b"test salt".to_vec());
        changed_fields(new, &hasher.hashes(sent), &hasher)
    }

    #[test]
    fn unchanged_rows_change_nothing() {
        let f = obj(
            json!({"name": "Ann", "originId": "C1", "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+7916"}]}),
        );
        assert!(changed(&f, &f).is_empty());
    }

    #[test]
    fn only_changed_and_cleared_fields_are_sent() {
        let old = obj(json!({"name": "Ann", "lastName": "Lee", "post": "CEO", "originId": "C1"}));
        let new = obj(json!({"name": "Anna", "lastName": "Lee", "originId": "C1", "comments": "x"}));
        assert_eq!(changed(&new, &old), obj(json!({"name": "Anna", "comments": "x", "post": ""})));
    }

    #[test]
    fn a_changed_contact_photo_is_never_part_of_an_update() {
        let old = obj(json!({"name": "Ann", "photo": ["a.jpg", "QUFB"], "originId": "C1"}));
        let new = obj(json!({"name": "Anna", "photo": ["b.jpg", "QkJC"], "originId": "C1"}));
        assert_eq!(changed(&new, &old), obj(json!({"name": "Anna"})));
        let only_photo = obj(json!({"name": "Ann", "photo": ["b.jpg", "QkJC"], "originId": "C1"}));
        assert!(changed(&only_photo, &old).is_empty(), "nothing else changed: no update at all");
        let found = json!({"name": "Ann", "photo": null});
        assert!(all_fields_for_found_item(&only_photo, &found).is_empty());
    }

    #[test]
    fn new_phones_are_added_with_n_keys_and_existing_ones_kept() {
        let old = obj(json!({"fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+79161234567"}]}));
        let new = obj(json!({"fm": [
            {"typeId": "PHONE", "valueType": "WORK", "value": "+79161234567"},
            {"typeId": "EMAIL", "valueType": "WORK", "value": "a@b.ru"}
        ]}));
        assert_eq!(
            changed(&new, &old),
            obj(json!({"fm": {"n0": {"typeId": "EMAIL", "valueType": "WORK", "value": "a@b.ru"}}}))
        );
    }

    #[test]
    fn portal_fm_with_ids_counts_as_present() {
        let portal =
            json!({"fm": [{"id": 7, "typeId": "PHONE", "valueType": "WORK", "value": "+7 916 123-45-67"}]});
        let new = obj(
            json!({"name": "A", "originId": "K", "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+79161234567"}]}),
        );
        assert_eq!(all_fields_for_found_item(&new, &portal), obj(json!({"name": "A"})));
    }

    #[test]
    fn a_found_item_holding_the_row_needs_no_update() {
        // Regression (issue 16): with a lost journal every found item was updated again.
        let portal = json!({"name": "Ann", "typeId": "3", "opened": "Y", "birthdate": "1990-05-01T00:00:00+03:00",
            "ids": ["4", "5"], "post": null, "fm": [{"id": 7, "typeId": "PHONE", "valueType": "WORK", "value": "+79161234567"}]});
        let new = obj(json!({"name": "Ann", "typeId": 3, "opened": true, "birthdate": "1990-05-01",
            "ids": [4, 5], "post": "", "originId": "K",
            "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+79161234567"}]}));
        assert_eq!(all_fields_for_found_item(&new, &portal), Map::new());
    }

    #[test]
    fn a_found_item_gets_what_differs_or_is_in_doubt() {
        let portal = json!({"name": "Ann", "typeId": "3", "opened": "N", "birthdate": "1990-05-02T00:00:00+03:00",
            "ids": ["5", "4"], "comments": "x", "post": "7"});
        let new = obj(json!({"name": "Anna", "typeId": "03x", "opened": true, "birthdate": "1990-05-01",
            "ids": [4, 5], "comments": {"a": 1}, "lastName": "Lee", "post": "007"}));
        let out = all_fields_for_found_item(&new, &portal);
        let keys: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(keys, ["birthdate", "comments", "ids", "lastName", "name", "opened", "post", "typeId"]);
    }

    #[test]
    fn the_baseline_of_an_update_gives_the_same_update_again() {
        let hasher = FieldHasher::new(b"test salt".to_vec());
        let new = obj(json!({"name": "Ann", "post": "CEO", "originId": "C1", "fm": [
            {"typeId": "PHONE", "valueType": "WORK", "value": "+79161234567"},
            {"typeId": "EMAIL", "valueType": "WORK", "value": "a@b.ru"}]}));
        let update = obj(
            json!({"post": "CEO", "fm": {"n0": {"typeId": "EMAIL", "valueType": "WORK", "value": "a@b.ru"}}}),
        );
        let base = hasher.hashes(&baseline_for_update(&new, &update));
        assert_eq!(changed_fields(&new, &base, &hasher), update);
    }
}
