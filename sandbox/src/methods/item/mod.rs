//! `crm.item.add/update/get/list/delete/fields`: the universal CRM item methods, validated like
//! the portal (§3.2–3.6): unknown `entityTypeId` -> `NOT_FOUND`; a multiple field given a scalar
//! -> `100`; bad files, enumeration values, dates, numbers -> `CRM_FIELD_ERROR_VALUE_NOT_VALID`;
//! missing required fields, static or of the item's stage (`crate::strict`), ->
//! `CRM_FIELD_ERROR_REQUIRED` naming the first by its title; `fields` missing -> `100`; an ID
//! pointing at no user or item -> `CRM_FIELD_ERROR_VALUE_NOT_VALID`; unknown fields ignored.
//! Empty fields get the page's defaults (`defaults`).
//! `fm` is a list on add and an `n0`/id-keyed object on update.
//!
//! Values the portal looks up are checked against the portal's data, each refusal HTTP 400
//! `CRM_FIELD_ERROR_VALUE_NOT_VALID` naming the field: `categoryId` must be a pipeline of the
//! entity type; `stageId` a stage of the item's pipeline (the one sent, else the item's, else
//! the default); every other `crm_status` field (`sourceId`, `typeId`, `industry`,
//! `employees`, `honorific`) a `STATUS_ID` of its directory (`statusType`); `currencyId` a
//! currency of the portal; list fields an item ID. Moving an item to another pipeline without
//! a stage puts it on the new pipeline's first stage.
//!
//! A smart process's switched-off features ([`schema::FLAG_FIELDS`]) hide their fields: absent
//! from `crm.item.fields`, dropped silently on add/update, null when read.

mod checks;
mod convert;
mod defaults;

use checks::check_values;
pub use convert::FM_TYPES;
use convert::{convert, is_blank};

use serde_json::{Map, Value, json};

use super::filter::{self, Kind};
use super::{Call, MethodError, MethodResult, Output, as_text, as_u64, is_yes, param, php_array};
use crate::clock::iso;
use crate::schema::{self, EntitySchema, FieldDef};
use crate::state::{Item, Meta, State};

/// The `crm.item.add` page's "not found" for an unknown `entityTypeId`.
fn not_found_type() -> MethodError {
    MethodError::bad("NOT_FOUND", "SPA not found")
}

/// The fields a smart process's switched-off flags hide (none for built-in types).
pub(crate) fn disabled_fields(state: &State, entity_type_id: u64) -> Vec<&'static str> {
    schema::FLAG_FIELDS
        .iter()
        .filter(|(flag, _)| !state.flag(entity_type_id, flag))
        .flat_map(|(_, fields)| fields.iter().copied())
        .collect()
}

fn not_found_item() -> MethodError {
    MethodError::bad("NOT_FOUND", "Item not found")
}

pub(super) fn not_valid(field: &FieldDef, original: bool) -> MethodError {
    MethodError::bad(
        "CRM_FIELD_ERROR_VALUE_NOT_VALID",
        format!("Invalid value for field \"{}\" ({})", field.title, field.api_name(original)),
    )
}

pub(super) fn entity_type_id(c: &Call) -> Result<u64, MethodError> {
    let etid = param(c.params, "entityTypeId").and_then(as_u64).ok_or_else(not_found_type)?;
    if c.state.meta.schemas.contains_key(&etid) { Ok(etid) } else { Err(not_found_type()) }
}

pub(super) fn original_names(c: &Call) -> bool {
    is_yes(param(c.params, "useOriginalUfNames"))
}

/// The filter/order kind of a field type.
pub(crate) fn kind_of(field_type: &str) -> Kind {
    match field_type {
        "integer" | "double" | "user" | "employee" | "crm_category" | "crm_company" | "crm_contact"
        | "crm_lead" | "crm_deal" | "crm_quote" | "crm_entity" | "location" => Kind::Number,
        "boolean" => Kind::Bool,
        "date" | "datetime" => Kind::Date,
        _ => Kind::Text,
    }
}

/// An item as the API shows it: `id`, every schema field (null / [] when unset) but
/// [`schema::DESCRIBED_ONLY`], `entityTypeId`.
pub(crate) fn render(schema: &EntitySchema, item: &Item, original: bool, select: Option<&[String]>) -> Value {
    render_with(schema, item, original, select, &[])
}

/// [`render`] with the fields switched off by a flag read as null.
fn render_with(
    schema: &EntitySchema,
    item: &Item,
    original: bool,
    select: Option<&[String]>,
    disabled: &[&str],
) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(item.id));
    let all = select.is_none_or(|s| s.iter().any(|n| n == "*"));
    for f in &schema.fields {
        if f.name == "id" || schema::DESCRIBED_ONLY.contains(&f.name.as_str()) {
            continue;
        }
        let name = f.api_name(original);
        if !all && !select.is_some_and(|s| s.iter().any(|n| n == name)) {
            continue;
        }
        let v = match item.fields.get(&f.name) {
            _ if disabled.contains(&f.name.as_str()) => Value::Null,
            Some(v) => v.clone(),
            None if f.multiple => json!([]),
            None => Value::Null,
        };
        out.insert(name.to_string(), v);
    }
    out.insert("entityTypeId".into(), json!(schema.entity_type_id));
    Value::Object(out)
}

/// [`render`] written straight to JSON text `{"item":{…}}` (the batch fast path).
fn render_raw(schema: &EntitySchema, item: &Item, original: bool, disabled: &[&str]) -> String {
    use std::io::Write;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let _ = write!(buf, "{{\"item\":{{\"id\":{}", item.id);
    for f in &schema.fields {
        if f.name == "id" || schema::DESCRIBED_ONLY.contains(&f.name.as_str()) {
            continue;
        }
        buf.push(b',');
        let _ = serde_json::to_writer(&mut buf, f.api_name(original));
        buf.push(b':');
        match item.fields.get(&f.name) {
            _ if disabled.contains(&f.name.as_str()) => buf.extend_from_slice(b"null"),
            Some(v) => {
                let _ = serde_json::to_writer(&mut buf, v);
            }
            None if f.multiple => buf.extend_from_slice(b"[]"),
            None => buf.extend_from_slice(b"null"),
        }
    }
    let _ = write!(buf, ",\"entityTypeId\":{}}}}}", schema.entity_type_id);
    String::from_utf8(buf).expect("serde_json writes UTF-8")
}

fn item_output(c: &Call, schema: &EntitySchema, item: &Item, original: bool, disabled: &[&str]) -> Output {
    if c.raw_ok {
        Output::raw(render_raw(schema, item, original, disabled))
    } else {
        Output::new(json!({ "item": render_with(schema, item, original, None, disabled) }))
    }
}

/// `fields`, required by `crm.item.add` and `crm.item.update` (both pages mark it `*`). The
/// pages do not document the refusal; the methods are the core's engine controllers, whose
/// parameter binder answers a missing parameter with HTTP 400 `100` "Could not find value for
/// parameter {fields}" and a value that is not an array with `100` "Invalid value {value} to
/// match with parameter {fields}. Should be value of type array" (the same binder's errors as
/// documented on `crm-item-update`'s sibling pages, e.g. `tasks-api-scrum-sprint-add.md`, and for
/// `{id}` in `tutorials/crm/crm-status-uf-industry`). An empty object passes the binder (an
/// empty PHP array is an array), as on the portal: the item gets its defaults.
pub(super) fn fields_param(c: &Call) -> Result<Map<String, Value>, MethodError> {
    match param(c.params, "fields") {
        Some(Value::Object(o)) => Ok(o.clone()),
        // A JSON list is a PHP array too: its keys 0, 1, ... name no field (ignored).
        Some(Value::Array(_)) => Ok(Map::new()),
        None => Err(MethodError::bad("100", "Could not find value for parameter {fields}")),
        Some(other) => Err(MethodError::bad(
            "100",
            format!(
                "Invalid value {} to match with parameter {{fields}}. Should be value of type array",
                as_text(other).unwrap_or_default()
            ),
        )),
    }
}

/// `crm.item.add`: every item it creates runs the portal's automation rules (counted in
/// `history.automation_runs`, issue 19).
pub(crate) fn add(c: &mut Call) -> MethodResult {
    entity_type_id(c)?;
    let raw = fields_param(c)?;
    let (etid, id) = create(c, &raw)?;
    c.state.history.automation_runs += 1;
    let original = original_names(c);
    let disabled = disabled_fields(c.state, etid);
    let schema = &c.state.meta.schemas[&etid];
    let item = &c.state.items[&etid][&id];
    Ok(item_output(c, schema, item, original, &disabled))
}

/// Creates an item from `raw` with `crm.item.add`'s validation and defaults; returns
/// (entityTypeId, id). Shared by `crm.item.add` and the import methods (`methods::import`),
/// which run no automation and then put the original dates and authors on the stored item.
pub(crate) fn create(c: &mut Call, raw: &Map<String, Value>) -> Result<(u64, u64), MethodError> {
    let etid = entity_type_id(c)?;
    c.plan.check_item(etid, false)?;
    let original = original_names(c);
    let user = c.user_id;
    let now = iso(c.now_unix);
    let default_category = c.state.default_category(etid);
    let disabled = disabled_fields(c.state, etid);
    let (rules, file) = (c.rules, c.schema_file);
    let State { meta, counters, items, users, dirty, .. } = &mut *c.state;
    let schema = meta.schemas.get(&etid).ok_or_else(not_found_type)?;
    let mut values = convert(schema, raw, None, counters, original, &disabled)?;
    check_values(meta, schema, &mut values, None, default_category, original)?;
    if !rules.accept_dangling_refs {
        checks::check_references(items, users, schema, &values, original)?;
    }
    let cx = defaults::Context { user, now_unix: c.now_unix, default_category, disabled: &disabled };
    defaults::apply(meta, items.get(&4), schema, &mut values, &cx);
    checks::check_required(schema, rules, file, &values, None, &disabled)?;
    let next = counters.next_item_id.entry(etid).or_insert(1);
    let id = *next;
    *next += 1;
    if schema.by_name("title").is_some() && !disabled.contains(&"title") && is_blank(values.get("title")) {
        values.insert("title".into(), json!(format!("{} #{id}", schema.title)));
    }
    values.insert("updatedBy".into(), json!(user));
    values.insert("createdTime".into(), json!(now));
    values.insert("updatedTime".into(), json!(now));
    // The deal answer of the crm.item.add page and the lead answer of crm.item.get show a new
    // item's last activity as its creator and creation time (`lastActivityBy: 1`,
    // `lastActivityTime` = `createdTime`); the sandbox has no timeline to move it later.
    for (field, value) in [("lastActivityBy", json!(user)), ("lastActivityTime", json!(now))] {
        if schema.by_name(field).is_some() {
            values.insert(field.into(), value);
        }
    }
    stage_moved(meta, schema, &mut values, user, &now);
    let item = Item { id, fields: values };
    items.entry(etid).or_default().insert(id, item);
    dirty.items.insert((etid, id));
    dirty.any = true;
    Ok((etid, id))
}

/// After a stage is set: `stageSemanticId` (`P` in progress, `S` success, `F` failure),
/// `movedBy` and `movedTime`, for the entities whose schema has them (`stageSemanticId`: deals;
/// `movedBy`/`movedTime`: deals and the dynamic types, whose `crm.item.fields` lists them).
fn stage_moved(meta: &Meta, schema: &EntitySchema, values: &mut Map<String, Value>, user: u64, now: &str) {
    let Some(stage) = values.get("stageId").and_then(Value::as_str) else { return };
    if schema.by_name("stageSemanticId").is_some() {
        let semantic = meta
            .statuses
            .iter()
            .find(|s| s.status_id == stage && s.category_id.is_some())
            .and_then(|s| s.semantics.clone())
            .unwrap_or_else(|| "P".into());
        values.insert("stageSemanticId".into(), json!(semantic));
    }
    if schema.by_name("movedBy").is_some() {
        values.insert("movedBy".into(), json!(user));
        values.insert("movedTime".into(), json!(now));
    }
}

fn item_id(c: &Call) -> Result<u64, MethodError> {
    param(c.params, "id").and_then(as_u64).ok_or_else(not_found_item)
}

/// `crm.item.update`. Without `id`: the engine binder's HTTP 400 `100` "Could not find value for
/// parameter {id}" (`tutorials/crm/crm-status-uf-industry`'s error table, for this method).
pub(crate) fn update(c: &mut Call) -> MethodResult {
    let etid = entity_type_id(c)?;
    c.plan.check_item(etid, true)?;
    if param(c.params, "id").is_none() {
        return Err(MethodError::bad("100", "Could not find value for parameter {id}"));
    }
    let id = item_id(c)?;
    let original = original_names(c);
    let raw = fields_param(c)?;
    let user = c.user_id;
    let now = iso(c.now_unix);
    let raw_ok = c.raw_ok;
    let default_category = c.state.default_category(etid);
    let disabled = disabled_fields(c.state, etid);
    let (rules, file) = (c.rules, c.schema_file);
    let State { meta, counters, items, users, dirty, .. } = &mut *c.state;
    let schema = meta.schemas.get(&etid).ok_or_else(not_found_type)?;
    let existing = items.get(&etid).and_then(|m| m.get(&id)).ok_or_else(not_found_item)?;
    let mut values = convert(schema, &raw, Some(&existing.fields), counters, original, &disabled)?;
    check_values(meta, schema, &mut values, Some(&existing.fields), default_category, original)?;
    if !rules.accept_dangling_refs {
        checks::check_references(items, users, schema, &values, original)?;
    }
    checks::check_required(schema, rules, file, &values, Some(&existing.fields), &disabled)?;
    let item = items.get_mut(&etid).and_then(|m| m.get_mut(&id)).ok_or_else(not_found_item)?;
    let changed = values.iter().any(|(k, v)| item.fields.get(k) != Some(v));
    if changed {
        let old_stage = item.fields.get("stageId").cloned();
        let new_stage = values.get("stageId").cloned();
        if let (Some(old), Some(new)) = (old_stage, new_stage)
            && old != new
        {
            if schema.by_name("previousStageId").is_some() {
                values.insert("previousStageId".into(), old);
            }
            stage_moved(meta, schema, &mut values, user, &now);
        }
        for (k, v) in values {
            item.fields.insert(k, v);
        }
        item.fields.insert("updatedBy".into(), json!(user));
        item.fields.insert("updatedTime".into(), json!(now));
        dirty.items.insert((etid, id));
        dirty.any = true;
    }
    Ok(if raw_ok {
        Output::raw(render_raw(schema, item, original, &disabled))
    } else {
        Output::new(json!({ "item": render_with(schema, item, original, None, &disabled) }))
    })
}

/// `crm.item.get`.
pub(crate) fn get(c: &mut Call) -> MethodResult {
    let etid = entity_type_id(c)?;
    let id = item_id(c)?;
    let original = original_names(c);
    let disabled = disabled_fields(c.state, etid);
    let schema = &c.state.meta.schemas[&etid];
    let item = c.state.items.get(&etid).and_then(|m| m.get(&id)).ok_or_else(not_found_item)?;
    Ok(item_output(c, schema, item, original, &disabled))
}

/// `crm.item.delete`. The item's timeline comments and activities go with it (issue 21), as
/// on a portal, where deleting an item deletes its timeline and the activities bound to it
/// (`universal/crm-item-delete.md` says only that the item is deleted; the sandbox's
/// activities have one binding each, their owner).
pub(crate) fn delete(c: &mut Call) -> MethodResult {
    let etid = entity_type_id(c)?;
    let id = item_id(c)?;
    let removed = c.state.items.get_mut(&etid).and_then(|m| m.remove(&id));
    if removed.is_none() {
        return Err(not_found_item());
    }
    c.state.history.remove_owner(etid, id);
    c.state.touch_item(etid, id);
    Ok(Output::new(json!([])))
}

/// `crm.item.fields`.
pub(crate) fn fields(c: &mut Call) -> MethodResult {
    let etid = entity_type_id(c)?;
    let original = original_names(c);
    let disabled = disabled_fields(c.state, etid);
    let schema = &c.state.meta.schemas[&etid];
    let mut out = Map::new();
    for f in schema.fields.iter().filter(|f| !disabled.contains(&f.name.as_str())) {
        out.insert(f.api_name(original).to_string(), f.describe());
    }
    Ok(Output::new(json!({ "fields": out })))
}

/// How `crm.item.list` resolves a filter or order field: `id`, or a schema field that is not a
/// multifield or a file (the list cannot filter on those), with the kind its values compare as.
pub(crate) fn resolver(
    schema: &EntitySchema,
    original: bool,
) -> impl Fn(&str) -> Option<(String, Kind)> + '_ {
    move |name: &str| {
        if name == "id" || name == "ID" {
            return Some(("id".into(), Kind::Number));
        }
        schema
            .find(name, original)
            .filter(|f| f.field_type != "crm_multifield" && f.field_type != "file")
            .map(|f| (f.name.clone(), kind_of(&f.field_type)))
    }
}

/// `crm.item.list`: `select`, `filter`, `order`, `start` (pages of 50, `start=-1`).
pub(crate) fn list(c: &mut Call) -> MethodResult {
    let etid = entity_type_id(c)?;
    let original = original_names(c);
    let disabled = disabled_fields(c.state, etid);
    let schema = &c.state.meta.schemas[&etid];
    let resolve = resolver(schema, original);
    let cond = match param(c.params, "filter") {
        Some(f) => filter::compile(f, &resolve).map_err(|name| {
            MethodError::bad("INVALID_ARG_VALUE", format!("field \"{name}\" is not allowed in filter"))
        })?,
        None => filter::Cond::Group { or: false, conds: Vec::new() },
    };
    let select: Option<Vec<String>> = param(c.params, "select")
        .and_then(php_array)
        .map(|v| v.into_iter().filter_map(as_text).collect::<Vec<_>>());
    let select = select.filter(|s| !s.is_empty());
    let mut order: Vec<(String, Kind, bool)> = Vec::new();
    if let Some(Value::Object(o)) = param(c.params, "order") {
        for (k, dir) in o {
            if let Some((field, kind)) = resolve(k) {
                let desc = dir.as_str().is_some_and(|d| d.eq_ignore_ascii_case("DESC"));
                order.push((field, kind, desc));
            }
        }
    }
    let (start, count) = super::start_param(c.params);
    let empty = std::collections::BTreeMap::new();
    let store = c.state.items.get(&etid).unwrap_or(&empty);
    let get_field = |item: &Item, k: &str| -> Option<Value> {
        if k == "id" { Some(json!(item.id)) } else { item.fields.get(k).cloned() }
    };
    let mut matched: Vec<&Item> =
        store.values().filter(|item| filter::eval(&cond, &|k| get_field(item, k))).collect();
    if !order.is_empty() {
        matched.sort_by(|a, b| {
            for (field, kind, desc) in &order {
                let va = get_field(a, field).unwrap_or(Value::Null);
                let vb = get_field(b, field).unwrap_or(Value::Null);
                let (va, vb) = (first(&va), first(&vb));
                let o = filter::compare(*kind, va, vb);
                let o = if *desc { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            a.id.cmp(&b.id)
        });
    }
    let (page, total, next) = super::page(&matched, start, count);
    // `fm` comes back only with '*'.
    let rendered: Vec<Value> = page
        .iter()
        .map(|item| {
            let mut v = render_with(schema, item, original, select.as_deref(), &disabled);
            let star = select.as_ref().is_none_or(|s| s.iter().any(|n| n == "*"));
            if !star && let Some(o) = v.as_object_mut() {
                o.remove("fm");
            }
            v
        })
        .collect();
    Ok(Output::list(json!({ "items": rendered }), total, next))
}

fn first(v: &Value) -> &Value {
    match v {
        Value::Array(a) => a.first().unwrap_or(&Value::Null),
        other => other,
    }
}
