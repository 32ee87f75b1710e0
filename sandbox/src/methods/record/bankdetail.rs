//! `crm.requisite.bankdetail.{add,update,get,list,delete,fields}`
//! (`api-reference/crm/requisites/bank-detail/`).
//!
//! Rules, each from its page:
//! - add: `ENTITY_ID` is the ID of an existing requisite, else "ENTITY_ID is not defined or
//!   invalid." (the add page's only documented row; the page gives no separate text for a
//!   requisite that does not exist); `COUNTRY_ID` defaults to the requisite's preset's (the
//!   fields' description: "matches the country code in the linked requisite template"); the
//!   answer is the new ID.
//! - update: `ENTITY_ID` is `isImmutable` (the fields page) and missing from the update
//!   page's list: dropped, as for requisites (`requisite.rs`); the answer is `true`.
//! - an unknown ID is "The RequisiteBankDetail with ID 'N' is not found" (the examples of the
//!   get, update and delete pages; the update page's table says "The Requisite with ID", the
//!   page disagreeing with its own example).
//! - `XML_ID` is stored and filterable (`crm.requisite.bankdetail.list`).
//!
//! Owns those methods; the data is `crate::record::Records`.

use serde_json::{Map, Value, json};

use super::super::filter::Kind;
use super::super::{Call, MethodError, MethodResult, Output, as_u64};
use super::requisite::id_param;
use super::{as_shown, described, fields_param, legacy, list_of, purge};
use crate::clock::iso;

const FIELDS: &str = include_str!("bankdetail.fields.json");

const READ_ONLY: [&str; 5] = ["ID", "DATE_CREATE", "DATE_MODIFY", "CREATED_BY_ID", "MODIFY_BY_ID"];

fn field_names() -> Vec<String> {
    described(FIELDS).as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

fn not_found(id: u64) -> MethodError {
    legacy(format!("The RequisiteBankDetail with ID '{id}' is not found"))
}

fn write(rec: &mut Map<String, Value>, fields: &Map<String, Value>, skip: &[&str]) {
    let names = field_names();
    for (k, v) in fields {
        let name = k.to_ascii_uppercase();
        if READ_ONLY.contains(&name.as_str()) || skip.contains(&name.as_str()) {
            continue;
        }
        if names.contains(&name) {
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

/// `crm.requisite.bankdetail.add`.
pub(crate) fn add(c: &mut Call) -> MethodResult {
    purge(c);
    let fields = fields_param(c.params);
    let requisite = fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("ENTITY_ID"))
        .and_then(|(_, v)| as_u64(v))
        .filter(|id| c.state.records.requisites.contains_key(id))
        .ok_or_else(|| legacy("ENTITY_ID is not defined or invalid."))?;
    let records = &c.state.records;
    let country = records.requisites[&requisite]
        .get("PRESET_ID")
        .and_then(Value::as_u64)
        .and_then(|p| records.presets.get(&p))
        .and_then(|p| p.get("COUNTRY_ID").cloned())
        .unwrap_or(json!(1));
    let mut rec: Map<String, Value> = field_names().into_iter().map(|n| (n, Value::Null)).collect();
    rec.insert("COUNTRY_ID".into(), country);
    rec.insert("ACTIVE".into(), json!("Y"));
    rec.insert("SORT".into(), json!(500));
    write(&mut rec, &fields, &[]);
    c.state.records.counters.bank_detail += 1;
    let id = c.state.records.counters.bank_detail;
    for (k, v) in [
        ("ID", json!(id)),
        ("ENTITY_ID", json!(requisite)),
        ("DATE_CREATE", json!(iso(c.now_unix))),
        ("DATE_MODIFY", json!("")),
        ("CREATED_BY_ID", json!(c.user_id)),
    ] {
        rec.insert(k.into(), v);
    }
    c.state.records.bank_details.insert(id, rec);
    Ok(Output::new(json!(id)))
}

/// `crm.requisite.bankdetail.update`: the requisite it belongs to is kept.
pub(crate) fn update(c: &mut Call) -> MethodResult {
    purge(c);
    let id = id_param(c)?;
    let fields = fields_param(c.params);
    let (now, user) = (iso(c.now_unix), c.user_id);
    let rec = c.state.records.bank_details.get_mut(&id).ok_or_else(|| not_found(id))?;
    write(rec, &fields, &["ENTITY_ID", "ENTITY_TYPE_ID"]);
    rec.insert("DATE_MODIFY".into(), json!(now));
    rec.insert("MODIFY_BY_ID".into(), json!(user));
    Ok(Output::new(json!(true)))
}

/// `crm.requisite.bankdetail.get`.
pub(crate) fn get(c: &mut Call) -> MethodResult {
    purge(c);
    let id = id_param(c)?;
    let rec = c.state.records.bank_details.get(&id).ok_or_else(|| not_found(id))?;
    Ok(Output::new(render(rec, None)))
}

/// `crm.requisite.bankdetail.delete`.
pub(crate) fn delete(c: &mut Call) -> MethodResult {
    purge(c);
    let id = id_param(c)?;
    c.state.records.bank_details.remove(&id).ok_or_else(|| not_found(id))?;
    Ok(Output::new(json!(true)))
}

/// `crm.requisite.bankdetail.fields`.
pub(crate) fn fields(_: &mut Call) -> MethodResult {
    Ok(Output::new(described(FIELDS)))
}

fn kind(name: &str) -> Kind {
    match name {
        "ID" | "ENTITY_ID" | "COUNTRY_ID" | "SORT" | "CREATED_BY_ID" | "MODIFY_BY_ID" => Kind::Number,
        "DATE_CREATE" | "DATE_MODIFY" => Kind::Date,
        _ => Kind::Text,
    }
}

/// `crm.requisite.bankdetail.list`.
pub(crate) fn list(c: &mut Call) -> MethodResult {
    purge(c);
    let recs: Vec<&Map<String, Value>> = c.state.records.bank_details.values().collect();
    list_of(c, recs, "ID", &kind, &render)
}
