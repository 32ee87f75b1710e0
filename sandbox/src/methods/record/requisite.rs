//! `crm.requisite.{add,update,get,list,delete,fields}` (`api-reference/crm/requisites/universal/`)
//! and `crm.requisite.preset.{list,get}` (`api-reference/crm/requisites/presets/`).
//!
//! Rules, each from its page:
//! - add: `ENTITY_TYPE_ID` 3 (contact) or 4 (company), `ENTITY_ID` > 0, `PRESET_ID` a preset of
//!   the portal, else "`X` is not defined or invalid."; an owner that does not exist is "Entity
//!   not found." (the add page's table, in that order); the answer is the new ID.
//! - update: `ENTITY_TYPE_ID`, `ENTITY_ID` and `PRESET_ID` are `isImmutable` (the fields page)
//!   and are not in the update page's field list: sent values are dropped, as the core's REST
//!   proxy drops immutable fields on update (`CCrmRestProxyBase::internalizeFields`), so a
//!   requisite's owner and preset never change; the answer is `true`.
//! - `NAME` is starred on the add page but not required on the fields page, and the add
//!   page's table has no row for it: not required here.
//! - delete removes its bank details and addresses (the delete page's title and text);
//!   deleting the owner company or contact removes its requisites (`crate::record`).
//! - values are stored as sent and shown as text; `UF_CRM_*` values are stored too (the
//!   requisite user-field methods are not emulated: any `UF_CRM_` name is accepted).
//! - every error is HTTP 400 with an empty `error` (the tables' "Empty string").
//!
//! Owns those methods; the data is `crate::record::Records`.

use serde_json::{Map, Value, json};

use super::super::filter::Kind;
use super::super::{Call, MethodError, MethodResult, Output, as_u64, param};
use super::{as_shown, described, fields_param, item_exists, legacy, list_of, purge};
use crate::clock::iso;

const FIELDS: &str = include_str!("requisite.fields.json");

/// Fields that cannot be written (the fields page's `isReadOnly`).
const READ_ONLY: [&str; 5] = ["ID", "DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID"];

/// Fields that cannot change after add (the fields page's `isImmutable`).
pub(crate) const IMMUTABLE: [&str; 3] = ["ENTITY_TYPE_ID", "ENTITY_ID", "PRESET_ID"];

fn field_names() -> Vec<String> {
    described(FIELDS).as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

fn invalid(name: &str) -> MethodError {
    legacy(format!("{name} is not defined or invalid."))
}

pub(crate) fn not_found(id: u64) -> MethodError {
    legacy(format!("The Requisite with ID '{id}' is not found"))
}

/// The `id` parameter: a positive integer, else "ID is not defined or invalid.".
pub(crate) fn id_param(c: &Call) -> Result<u64, MethodError> {
    param(c.params, "id").and_then(as_u64).filter(|id| *id > 0).ok_or_else(|| invalid("ID"))
}

/// Copies the writable fields of `fields` (known names and `UF_CRM_*`) onto `rec`.
fn write(rec: &mut Map<String, Value>, fields: &Map<String, Value>, skip: &[&str]) {
    let names = field_names();
    for (k, v) in fields {
        let name = k.to_ascii_uppercase();
        if READ_ONLY.contains(&name.as_str()) || skip.contains(&name.as_str()) {
            continue;
        }
        if names.contains(&name) || name.starts_with("UF_CRM_") {
            rec.insert(name, v.clone());
        }
    }
}

fn render(rec: &Map<String, Value>, select: Option<&[String]>) -> Value {
    Value::Object(match select {
        None => rec.iter().map(|(k, v)| (k.clone(), as_shown(v))).collect(),
        Some(names) => {
            names.iter().map(|n| (n.clone(), rec.get(n).map(as_shown).unwrap_or(Value::Null))).collect()
        }
    })
}

/// `crm.requisite.add`.
pub(crate) fn add(c: &mut Call) -> MethodResult {
    purge(c);
    let fields = fields_param(c.params);
    let get = |n: &str| fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).and_then(|(_, v)| as_u64(v));
    let etid =
        get("ENTITY_TYPE_ID").filter(|t| *t == 3 || *t == 4).ok_or_else(|| invalid("ENTITY_TYPE_ID"))?;
    let owner = get("ENTITY_ID").filter(|id| *id > 0).ok_or_else(|| invalid("ENTITY_ID"))?;
    let preset = get("PRESET_ID")
        .filter(|p| c.state.records.presets.contains_key(p))
        .ok_or_else(|| invalid("PRESET_ID"))?;
    if !item_exists(c.state, etid, owner) {
        return Err(legacy("Entity not found."));
    }
    let mut rec: Map<String, Value> = field_names().into_iter().map(|n| (n, Value::Null)).collect();
    for (k, v) in [
        ("ACTIVE", json!("Y")),
        ("ADDRESS_ONLY", json!("N")),
        ("SORT", json!(500)),
        ("RQ_VAT_PAYER", json!("N")),
    ] {
        rec.insert(k.into(), v);
    }
    write(&mut rec, &fields, &[]);
    c.state.records.counters.requisite += 1;
    let id = c.state.records.counters.requisite;
    for (k, v) in [
        ("ID", json!(id)),
        ("ENTITY_TYPE_ID", json!(etid)),
        ("ENTITY_ID", json!(owner)),
        ("PRESET_ID", json!(preset)),
        ("DATE_CREATE", json!(iso(c.now_unix))),
        ("DATE_MODIFY", json!("")),
        ("CREATED_BY_ID", json!(c.user_id)),
    ] {
        rec.insert(k.into(), v);
    }
    c.state.records.requisites.insert(id, rec);
    Ok(Output::new(json!(id)))
}

/// `crm.requisite.update`: the owner and the preset are kept whatever is sent.
pub(crate) fn update(c: &mut Call) -> MethodResult {
    purge(c);
    let id = id_param(c)?;
    let fields = fields_param(c.params);
    let (now, user) = (iso(c.now_unix), c.user_id);
    let rec = c.state.records.requisites.get_mut(&id).ok_or_else(|| not_found(id))?;
    write(rec, &fields, &IMMUTABLE);
    rec.insert("DATE_MODIFY".into(), json!(now));
    rec.insert("MODIFY_BY_ID".into(), json!(user));
    Ok(Output::new(json!(true)))
}

/// `crm.requisite.get`.
pub(crate) fn get(c: &mut Call) -> MethodResult {
    purge(c);
    let id = id_param(c)?;
    let rec = c.state.records.requisites.get(&id).ok_or_else(|| not_found(id))?;
    Ok(Output::new(render(rec, None)))
}

/// `crm.requisite.delete`: with its bank details and addresses.
pub(crate) fn delete(c: &mut Call) -> MethodResult {
    purge(c);
    let id = id_param(c)?;
    if !c.state.records.delete_requisite(id) {
        return Err(not_found(id));
    }
    Ok(Output::new(json!(true)))
}

/// `crm.requisite.fields`.
pub(crate) fn fields(_: &mut Call) -> MethodResult {
    Ok(Output::new(described(FIELDS)))
}

fn kind(name: &str) -> Kind {
    match name {
        "ID" | "ENTITY_TYPE_ID" | "ENTITY_ID" | "PRESET_ID" | "SORT" | "CREATED_BY_ID" | "MODIFY_BY_ID"
        | "COUNTRY_ID" => Kind::Number,
        "DATE_CREATE" | "DATE_MODIFY" => Kind::Date,
        _ => Kind::Text,
    }
}

/// `crm.requisite.list`: filter by any field (`XML_ID`, `ENTITY_ID`, `PRESET_ID`...).
pub(crate) fn list(c: &mut Call) -> MethodResult {
    purge(c);
    let recs: Vec<&Map<String, Value>> = c.state.records.requisites.values().collect();
    list_of(c, recs, "ID", &kind, &render)
}

/// `crm.requisite.preset.list`: the portal's presets (`crate::record::DEFAULT_PRESETS`).
pub(crate) fn preset_list(c: &mut Call) -> MethodResult {
    let presets: Vec<&Map<String, Value>> = c.state.records.presets.values().collect();
    list_of(c, presets, "ID", &kind, &render)
}

/// `crm.requisite.preset.get`: an unknown ID is "The Preset with ID 'N' is not found".
pub(crate) fn preset_get(c: &mut Call) -> MethodResult {
    let id = id_param(c)?;
    let preset = c
        .state
        .records
        .presets
        .get(&id)
        .ok_or_else(|| legacy(format!("The Preset with ID '{id}' is not found")))?;
    Ok(Output::new(render(preset, None)))
}
