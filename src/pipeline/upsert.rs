//! Incremental re-runs: what changed between the fields last sent for a row and the fields the
//! source gives now, and the `crm.item.update` that carries only that change.
//!
//! Pure functions, no I/O. The journal keeps no values, only a salted hash per field and per
//! multifield value ([`FieldHashes`]); the comparison is made against those. Decisions:
//! - A field that disappeared from the row (its cell became empty) is cleared with `""`.
//! - Multifields (`fm`) are only ever added: a phone or e-mail the row has and the item has
//!   not gets an `n0`, `n1`... entry; values already on the item (by type and value) are kept
//!   untouched and nothing is deleted (a sales rep's added phone survives the nightly sync).
//! - Key fields (`originatorId`, `originId`, `xmlId`) are never part of an update.

use serde_json::{Map, Value};

use crate::journal::field_hashes::{KEY_FIELDS, fm_pairs, normalize_fm};
use crate::journal::{FieldHasher, FieldHashes};
use crate::payload::Command;

/// The field object of a create command (`fields` of `crm.item.add`, the params of `user.add`),
/// borrowed: it may hold the base64 of big files, and is only read (hashed, compared).
pub fn fields_of(cmd: &Command) -> &Map<String, Value> {
    static NONE: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);
    let fields = if cmd.method == crate::payload::Method::UserAdd {
        Some(&cmd.params)
    } else {
        cmd.params.get("fields")
    };
    fields.and_then(Value::as_object).unwrap_or(&NONE)
}

/// The `fm` update object adding the values of `new` for which `sent` says no (by type and
/// normalized value), or `None`.
fn fm_additions_by(new: Option<&Value>, sent: impl Fn(&str, &str) -> bool) -> Option<Value> {
    let mut out = Map::new();
    for v in new.and_then(Value::as_array).into_iter().flatten() {
        let (Some(t), Some(val)) =
            (v.get("typeId").and_then(Value::as_str), v.get("value").and_then(Value::as_str))
        else {
            continue;
        };
        if sent(t, val) {
            continue;
        }
        out.insert(format!("n{}", out.len()), v.clone());
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// The `fm` update object adding the values of `new` that `old` (an item as the portal lists
/// it) lacks, or `None`.
pub fn fm_additions(new: Option<&Value>, old: Option<&Value>) -> Option<Value> {
    let have: Vec<(String, String)> =
        fm_pairs(old).into_iter().map(|(t, v)| (t.clone(), normalize_fm(&t, &v))).collect();
    fm_additions_by(new, |t, val| {
        have.iter().any(|(ht, hv)| *ht == t.to_uppercase() && *hv == normalize_fm(t, val))
    })
}

/// Fields of `new` that differ from the fields last sent (known by their hashes `old`), plus
/// `""` for fields `old` had and `new` lacks; `fm` as an additions object. Empty when nothing
/// changed.
pub fn changed_fields(
    new: &Map<String, Value>,
    old: &FieldHashes,
    hasher: &FieldHasher,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in new {
        if k == "fm" || KEY_FIELDS.contains(&k.as_str()) {
            continue;
        }
        if old.fields.get(k) != Some(&hasher.field(k, v)) {
            out.insert(k.clone(), v.clone());
        }
    }
    for k in old.fields.keys() {
        if k != "fm" && !KEY_FIELDS.contains(&k.as_str()) && !new.contains_key(k) {
            out.insert(k.clone(), Value::String(String::new()));
        }
    }
    if let Some(fm) = fm_additions_by(new.get("fm"), |t, val| old.fm.contains(&hasher.fm(t, val))) {
        out.insert("fm".into(), fm);
    }
    out
}

/// Every field of `new` for an item found in the portal without a journal record (a lost
/// journal): all values are sent, `fm` only adds what the item (`portal_item`) lacks.
pub fn all_fields_for_found_item(new: &Map<String, Value>, portal_item: &Value) -> Map<String, Value> {
    let mut out: Map<String, Value> = new
        .iter()
        .filter(|(k, _)| *k != "fm" && !KEY_FIELDS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(fm) = fm_additions(new.get("fm"), portal_item.get("fm")) {
        out.insert("fm".into(), fm);
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
}
