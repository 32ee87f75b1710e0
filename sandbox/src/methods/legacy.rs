//! The legacy list methods other clients still call: `crm.lead.list`, `crm.deal.list`,
//! `crm.contact.list`, `crm.company.list` (read-only), over the same items `crm.item.*` holds,
//! with their pages' `select` / `filter` / `order` / `start` and answer shape
//! (`api-reference/crm/deals/crm-deal-list.md` and its siblings for leads, contacts and
//! companies): `result` a list of rows keyed by upper-case field names (`ID`, `TITLE`,
//! `STAGE_ID`, `DATE_CREATE`), every value as text (`"ID": "37"`, `"OPPORTUNITY": "19999.99"`),
//! `total`, and `next` when more than 50 match.
//!
//! Owns the legacy names of the item fields and the legacy answer; it must not write items or
//! decide anything about them (`item` does), nor have rules of its own the pages do not give.
//!
//! What the pages give, and what the sandbox chose where they are silent:
//! - `filter` / `order` that are not objects: HTTP 400, empty code, "Parameter 'filter' must be
//!   array." / "Parameter 'order' must be array." (the pages' tables). A JSON list counts as
//!   an array (PHP sees one), so `[]` is an empty filter.
//! - `select`: by default `*` + `UF_*`; `*` is every system field that is not multiple, `UF_*`
//!   every custom field that is not multiple (the pages' wording); the multifields `PHONE`,
//!   `EMAIL`, `WEB`, `IM` (leads, contacts, companies) only when named, as lists of
//!   `{ID, VALUE_TYPE, VALUE, TYPE_ID}`. `ID` is always in a row: the legacy list proxies add it
//!   to every selection, since paging needs it (silent on the pages; their examples select it).
//!   Names are matched exactly (upper case), as the legacy core does; a name it does not know
//!   selects nothing.
//! - Unknown filter or order fields are ignored, and a direction other than `DESC` sorts
//!   ascending: the pages document no error for them, and the legacy core's SQL builder skips
//!   keys it has no column for (a known trap: a misspelled filter key returns every item). The
//!   strict checks of `crm.item.list` ([`super::list_check`]) are that method's page, not these.
//! - The multiple links `CONTACT_IDS` / `COMPANY_IDS` and observers are neither selected nor
//!   filtered ("The method does not support the field `CONTACT_IDS`"); use `crm.item.list`.
//! - Default order: `ID` ascending, and `ID` breaks ties of every order.

use serde_json::{Map, Value, json};

use super::filter::{self, Kind};
use super::item::kind_of;
use super::{Call, MethodError, MethodResult, Output, as_text, param, php_array};
use crate::schema::{EntitySchema, FieldDef};
use crate::state::Item;

/// The multifield kinds a legacy row shows under their own names.
const MULTIFIELDS: [&str; 4] = ["PHONE", "EMAIL", "WEB", "IM"];

/// Item fields the legacy lists do not have: multiple links (the pages: not supported) and the
/// deal's computed read-only keys of `crm.item.*` that `crm.deal.fields` does not list.
const NOT_LEGACY: [&str; 15] = [
    "contactIds",
    "companyIds",
    "observers",
    "fm",
    "productId",
    "eventDate",
    "eventId",
    "eventDescription",
    "searchContent",
    "orderStage",
    "isWork",
    "isWon",
    "isLose",
    "receivedAmount",
    "lostAmount",
];

/// The legacy (upper-case) name of an item field: the `crm.{entity}.fields` name, which is the
/// item field's upper name except where the legacy tables named it otherwise.
fn legacy_name(entity_type_id: u64, f: &FieldDef) -> Option<String> {
    if NOT_LEGACY.contains(&f.name.as_str()) || f.name.ends_with("Short") || f.name == "hasProducts" {
        return None;
    }
    Some(
        match (entity_type_id, f.name.as_str()) {
            (1, "stageId") => "STATUS_ID",
            (1, "stageSemanticId") => "STATUS_SEMANTIC_ID",
            (_, "createdTime") => "DATE_CREATE",
            (_, "updatedTime") => "DATE_MODIFY",
            (_, "createdBy") => "CREATED_BY_ID",
            (_, "updatedBy") => "MODIFY_BY_ID",
            (_, "movedBy") => "MOVED_BY_ID",
            _ => return Some(f.upper_name.clone()),
        }
        .to_string(),
    )
}

/// One legacy column: its name, the item field behind it, and how it filters and sorts.
struct Column<'s> {
    name: String,
    field: &'s FieldDef,
}

fn columns(schema: &EntitySchema) -> Vec<Column<'_>> {
    schema
        .fields
        .iter()
        .filter_map(|f| legacy_name(schema.entity_type_id, f).map(|name| Column { name, field: f }))
        .collect()
}

fn must_be_array(c: &Call, name: &str) -> Result<Option<Value>, MethodError> {
    match param(c.params, name) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ (Value::Object(_) | Value::Array(_))) => Ok(Some(v.clone())),
        Some(_) => Err(MethodError::bad("", format!("Parameter '{name}' must be array."))),
    }
}

/// A stored value as a legacy row shows it: numbers as text (money with two decimals), lists
/// element by element, null as null.
fn legacy_value(f: &FieldDef, v: &Value) -> Value {
    match v {
        Value::Number(n) if f.field_type == "double" && !f.dynamic => {
            json!(format!("{:.2}", n.as_f64().unwrap_or_default()))
        }
        Value::Number(n) => json!(n.to_string()),
        Value::Bool(b) => json!(if *b { "Y" } else { "N" }),
        Value::Array(a) => Value::Array(a.iter().map(|x| legacy_value(f, x)).collect()),
        other => other.clone(),
    }
}

/// The multifield values of `kind` (`PHONE`, …) of an item, as a legacy row lists them.
fn multifield(item: &Item, kind: &str) -> Vec<Value> {
    let Some(Value::Array(fm)) = item.fields.get("fm") else { return Vec::new() };
    fm.iter()
        .filter(|m| m["typeId"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(kind)))
        .map(|m| {
            json!({
                "ID": as_text(&m["id"]).unwrap_or_default(),
                "VALUE_TYPE": m["valueType"],
                "VALUE": m["value"],
                "TYPE_ID": kind,
            })
        })
        .collect()
}

/// What a legacy row holds: which columns, and which multifields.
struct Selection {
    system: bool,
    custom: bool,
    named: Vec<String>,
}

impl Selection {
    fn from(select: Option<Value>) -> Self {
        let named: Vec<String> = select
            .as_ref()
            .and_then(php_array)
            .map(|v| v.into_iter().filter_map(as_text).collect())
            .unwrap_or_default();
        if named.is_empty() {
            return Selection { system: true, custom: true, named };
        }
        Selection { system: named.iter().any(|n| n == "*"), custom: named.iter().any(|n| n == "UF_*"), named }
    }

    fn wants(&self, col: &Column) -> bool {
        if col.name == "ID" || self.named.contains(&col.name) {
            return true;
        }
        !col.field.multiple && if col.field.dynamic { self.custom } else { self.system }
    }
}

/// `crm.{lead,deal,contact,company}.list`.
pub(crate) fn list(c: &mut Call) -> MethodResult {
    let etid = super::userfield_entity(c.method).expect("routed for lead, deal, contact, company only");
    let order = must_be_array(c, "order")?;
    let filter = must_be_array(c, "filter")?;
    let selection = Selection::from(param(c.params, "select").cloned());
    let schema = &c.state.meta.schemas[&etid];
    let cols = columns(schema);
    let has_fm = schema.has_fm;
    let resolve = |name: &str| -> Option<(String, Kind)> {
        if has_fm && MULTIFIELDS.contains(&name) {
            return Some((format!("fm:{name}"), Kind::Text));
        }
        let col = cols.iter().find(|col| col.name == name)?;
        if col.field.field_type == "file" {
            return None;
        }
        Some((col.field.name.clone(), kind_of(&col.field.field_type)))
    };
    // Unknown keys are dropped first (the legacy core skips them), then the rest is compiled.
    let known = filter.as_ref().map(|f| known_keys(f, &resolve)).unwrap_or(Value::Null);
    let cond =
        filter::compile(&known, &resolve).unwrap_or(filter::Cond::Group { or: false, conds: Vec::new() });
    let get = |item: &Item, key: &str| -> Option<Value> {
        if key == "id" {
            return Some(json!(item.id));
        }
        if let Some(kind) = key.strip_prefix("fm:") {
            return Some(Value::Array(
                multifield(item, kind).into_iter().map(|m| m["VALUE"].clone()).collect(),
            ));
        }
        item.fields.get(key).cloned()
    };
    let empty = std::collections::BTreeMap::new();
    let store = c.state.items.get(&etid).unwrap_or(&empty);
    let mut matched: Vec<&Item> =
        store.values().filter(|item| filter::eval(&cond, &|k| get(item, k))).collect();
    let sort: Vec<(String, Kind, bool)> = match &order {
        Some(Value::Object(o)) => o
            .iter()
            .filter_map(|(k, dir)| {
                let (field, kind) = resolve(k).filter(|(f, _)| !f.starts_with("fm:"))?;
                let desc = as_text(dir).is_some_and(|d| d.eq_ignore_ascii_case("DESC"));
                Some((field, kind, desc))
            })
            .collect(),
        _ => Vec::new(),
    };
    matched.sort_by(|a, b| {
        for (field, kind, desc) in &sort {
            let (va, vb) = (get(a, field).unwrap_or(Value::Null), get(b, field).unwrap_or(Value::Null));
            let o = filter::compare(*kind, &va, &vb);
            let o = if *desc { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        a.id.cmp(&b.id)
    });
    let (start, count) = super::start_param(c.params);
    let (page, total, next) = super::page(&matched, start, count);
    let rows: Vec<Value> = page.iter().map(|item| row(item, &cols, &selection, has_fm)).collect();
    Ok(Output::list(Value::Array(rows), total, next))
}

/// The filter without the keys no column resolves (nested groups kept, their keys dropped
/// the same way).
fn known_keys(filter: &Value, resolve: &dyn Fn(&str) -> Option<(String, Kind)>) -> Value {
    let Some(obj) = filter.as_object() else { return Value::Null };
    let mut out = Map::new();
    for (key, value) in obj {
        if key.eq_ignore_ascii_case("logic") {
            out.insert(key.clone(), value.clone());
            continue;
        }
        let name = key.trim_start_matches(['!', '=', '%', '>', '<', '@']);
        if resolve(name).is_some() {
            out.insert(key.clone(), value.clone());
        } else if value.is_object() {
            out.insert(key.clone(), known_keys(value, resolve));
        }
    }
    Value::Object(out)
}

fn row(item: &Item, cols: &[Column], selection: &Selection, has_fm: bool) -> Value {
    let mut out = Map::new();
    for col in cols.iter().filter(|col| selection.wants(col)) {
        let v = if col.field.name == "id" {
            json!(item.id.to_string())
        } else {
            match item.fields.get(&col.field.name) {
                Some(v) => legacy_value(col.field, v),
                None if col.field.multiple => json!([]),
                None => Value::Null,
            }
        };
        out.insert(col.name.clone(), v);
    }
    if has_fm {
        for kind in MULTIFIELDS.iter().filter(|k| selection.named.iter().any(|n| n == *k)) {
            out.insert((*kind).to_string(), Value::Array(multifield(item, kind)));
        }
    }
    Value::Object(out)
}
