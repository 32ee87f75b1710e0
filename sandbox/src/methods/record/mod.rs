//! The methods of the whole record (issue 20): `crm.item.productrow.*` ([`productrow`]),
//! `crm.product.list` ([`product`]), `crm.requisite.*` with presets and bank details
//! ([`requisite`], [`bankdetail`]) and `crm.address.*` ([`address`]), each as its page in
//! `bitrix24/b24restdocs` documents it.
//!
//! Owns the requests and answers of those methods and the list reading they share
//! ([`list_of`]); the data is `crate::record::Records` (`State::records`). It must not change
//! CRM items: it only reads whether an owner exists.

pub(crate) mod address;
pub(crate) mod bankdetail;
pub(crate) mod product;
pub(crate) mod productrow;
pub(crate) mod requisite;

use serde_json::{Map, Value};

use super::filter::{self, Kind};
use super::{Call, MethodError, MethodResult, Output, param, php_array, start_param};
use crate::state::State;

/// Whether CRM item `id` of `entity_type_id` exists.
pub(crate) fn item_exists(state: &State, entity_type_id: u64, id: u64) -> bool {
    state.items.get(&entity_type_id).is_some_and(|m| m.contains_key(&id))
}

/// Drops the records whose owner is gone (the cascades, `crate::record`), before any work.
pub(crate) fn purge(c: &mut Call) {
    let items = &c.state.items;
    let exists = |etid: u64, id: u64| items.get(&etid).is_some_and(|m| m.contains_key(&id));
    c.state.records.purge_orphans(&exists);
}

/// The legacy requisite and address methods' errors: HTTP 400, an empty `error`, the text
/// (their pages' tables: "Code: Empty string").
pub(crate) fn legacy(description: impl Into<String>) -> MethodError {
    MethodError::bad("", description)
}

/// A record's value as the legacy methods show it: numbers and text as text, null as null.
pub(crate) fn as_shown(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::String(s) => Value::String(s.clone()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(if *b { "Y".into() } else { "N".into() }),
        other => other.clone(),
    }
}

/// The `fields` parameter as an object (empty when absent or not an object).
pub(crate) fn fields_param(params: &Value) -> Map<String, Value> {
    super::object(param(params, "fields"))
}

/// The names `select` asks for (`None`: every field; an empty list or `*` selects all).
pub(crate) fn select_of(params: &Value) -> Option<Vec<String>> {
    let names: Vec<String> = param(params, "select")
        .and_then(php_array)
        .map(|a| a.into_iter().filter_map(super::as_text).collect())
        .unwrap_or_default();
    (!names.is_empty() && !names.iter().any(|n| n == "*")).then_some(names)
}

/// Shows one record of a list, with the `select`ed names (`None`: every field).
pub(crate) type Render = dyn Fn(&Map<String, Value>, Option<&[String]>) -> Value;

/// Reads a list: `filter` (the portal's prefix operators; a key naming no field of the record
/// is ignored, as the legacy `CCrm...::GetList` lists do), `order` (by any field, `ASC` /
/// `DESC`, then by `key`), `select`, `start` (pages of 50, `total`, `next`).
/// `kind` is the comparison kind of a field (text when `None`); `render` shows one record.
pub(crate) fn list_of(
    c: &Call,
    records: Vec<&Map<String, Value>>,
    key: &str,
    kind: &dyn Fn(&str) -> Kind,
    render: &Render,
) -> MethodResult {
    let known = |name: &str| records.first().is_none_or(|r| r.contains_key(name)) || name == key;
    let mut kept = Map::new();
    if let Some(Value::Object(f)) = param(c.params, "filter") {
        for (k, v) in f {
            let name = k.trim_start_matches(['=', '!', '<', '>', '%', '@']);
            if known(name) || name.starts_with("UF_") {
                kept.insert(k.clone(), v.clone());
            }
        }
    }
    let resolve = |name: &str| Some((name.to_string(), kind(name)));
    let cond = filter::compile(&Value::Object(kept), &resolve)
        .unwrap_or(filter::Cond::Group { or: false, conds: Vec::new() });
    let mut hits: Vec<&Map<String, Value>> =
        records.into_iter().filter(|r| filter::eval(&cond, &|k| r.get(k).cloned())).collect();
    let order: Vec<(String, bool)> = match param(c.params, "order") {
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, d)| (k.clone(), super::as_text(d).is_some_and(|d| d.eq_ignore_ascii_case("DESC"))))
            .collect(),
        _ => Vec::new(),
    };
    hits.sort_by(|a, b| {
        for (field, desc) in &order {
            let (va, vb) =
                (a.get(field).cloned().unwrap_or(Value::Null), b.get(field).cloned().unwrap_or(Value::Null));
            let o = filter::compare(kind(field), &va, &vb);
            if o != std::cmp::Ordering::Equal {
                return if *desc { o.reverse() } else { o };
            }
        }
        filter::compare(
            Kind::Number,
            &a.get(key).cloned().unwrap_or(Value::Null),
            &b.get(key).cloned().unwrap_or(Value::Null),
        )
    });
    let select = select_of(c.params);
    let shown: Vec<Value> = hits.iter().map(|r| render(r, select.as_deref())).collect();
    let (start, count) = start_param(c.params);
    let (page, total, next) = super::page(&shown, start, count);
    Ok(Output::list(Value::Array(page), total, next))
}

/// One of the `*.fields.json` descriptions copied from the pages (`crm.*.fields` answers).
pub(crate) fn described(json: &str) -> Value {
    serde_json::from_str(json).expect("the fields description is JSON (copied from its page)")
}
