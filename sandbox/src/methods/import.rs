//! `crm.item.import` and `crm.item.batchImport` (issue 19), per
//! `api-reference/crm/universal/import/{index,crm-item-import,crm-item-batch-import}.md`: an
//! item created with `crm.item.add`'s validation and defaults ([`item::create`]), but keeping
//! the original `createdTime`/`updatedTime`/`movedTime` and `createdBy`/`updatedBy`/`movedBy`,
//! running no automation (nothing is added to `history.automation_runs`) and checking no
//! duplicates. The answer is `{"item": {"id": N}}`; `batchImport` takes at most 20 items and
//! answers each on its own in `items` (`{"item": {"id"}}` or `{"error", "error_description"}`).
//!
//! Owns the import rules only (permissions, the date rules, the order rule); the item
//! validation is `methods::item`'s and must not be copied here.

use chrono::{DateTime, NaiveDateTime};
use serde_json::{Map, Value, json};

use super::item::{create, entity_type_id, fields_param, not_valid, original_names};
use super::{Call, MethodError, MethodResult, Output, as_text, as_u64, filter, param, php_array, rights};
use crate::schema::EntitySchema;

/// The fields an import may set that an add may not (the import overview's table).
const TIME_FIELDS: [&str; 3] = ["createdTime", "updatedTime", "movedTime"];
const AUTHOR_FIELDS: [&str; 3] = ["createdBy", "updatedBy", "movedBy"];

/// At most this many items per `crm.item.batchImport` (its table: `MAX_IMPORT_BATCH_SIZE_EXCEEDED`).
pub(crate) const MAX_BATCH_IMPORT: usize = 20;

/// `crm.item.import`.
pub(crate) fn import(c: &mut Call) -> MethodResult {
    entity_type_id(c)?;
    check_permission(c)?;
    let raw = fields_param(c)?;
    let id = import_one(c, raw)?;
    Ok(Output::new(json!({ "item": { "id": id } })))
}

/// `crm.item.batchImport`: the items are imported one after the other, so the order rule sees
/// the items imported before them in the same call. A missing `data` is the engine binder's
/// `100` (as `fields` is for `crm.item.add`); an element that is not an object is that item's
/// `100` "Could not find value for parameter {fields}" (the page is silent; the binder's error
/// for the item's missing fields).
pub(crate) fn batch_import(c: &mut Call) -> MethodResult {
    entity_type_id(c)?;
    check_permission(c)?;
    let data: Vec<Value> = match param(c.params, "data") {
        None => return Err(MethodError::bad("100", "Could not find value for parameter {data}")),
        Some(v) => match php_array(v) {
            Some(list) => list.into_iter().cloned().collect(),
            None => {
                return Err(MethodError::bad(
                    "100",
                    format!(
                        "Invalid value {} to match with parameter {{data}}. Should be value of type array",
                        as_text(v).unwrap_or_default()
                    ),
                ));
            }
        },
    };
    if data.len() > MAX_BATCH_IMPORT {
        return Err(MethodError::bad(
            "MAX_IMPORT_BATCH_SIZE_EXCEEDED",
            "You cannot import more than 20 items",
        ));
    }
    let mut out = Vec::with_capacity(data.len());
    for element in data {
        let answer = match element {
            Value::Object(fields) => import_one(c, fields),
            _ => Err(MethodError::bad("100", "Could not find value for parameter {fields}")),
        };
        out.push(match answer {
            Ok(id) => json!({ "item": { "id": id } }),
            Err(e) => e.body(),
        });
    }
    Ok(Output::new(json!({ "items": out })))
}

/// The "import" permission (`SandboxConfig::history.import_denied`): the tables' `ACCESS_DENIED`.
fn check_permission(c: &Call) -> Result<(), MethodError> {
    if c.history.import_denied { Err(rights::access_denied("crm.item.import")) } else { Ok(()) }
}

/// A date-time as the portal reads it (RFC 3339 or `YYYY-MM-DD hh:mm:ss`, UTC).
fn parse(v: &Value) -> Option<NaiveDateTime> {
    v.as_str().and_then(filter::parse_datetime)
}

fn stored(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// One item: the import rules, then [`item::create`], then the original dates and authors.
///
/// The rules (the import overview, "How to Preserve Item History"):
/// - only an administrator may send the six fields (`HistoryConfig::not_admin`): else the
///   first one sent is `CRM_FIELD_ERROR_VALUE_NOT_VALID`;
/// - `createdTime` and `updatedTime` not later than now; `updatedTime` not before
///   `createdTime`; `movedTime` between them; a value that is no date-time is not valid;
/// - items in ascending `createdTime`: none created before the type's newest item (equal is
///   allowed: "you cannot import an item with a creation date earlier than already created
///   items"). The page gives no error text for this rule: the sandbox answers the tables'
///   one error for these fields, `CRM_FIELD_ERROR_VALUE_NOT_VALID` `Invalid value for field
///   "Created on" (createdTime)`;
/// - `createdBy`/`updatedBy`/`movedBy` must be users of the portal (like every user field of
///   `crm.item.add`, unless `--accept-dangling-refs`).
///
/// Where the pages are silent: an unsent `updatedTime` is the `createdTime` sent (the item was
/// not changed since), an unsent `movedTime` the `createdTime` too, an unsent `updatedBy` or
/// `movedBy` the `createdBy` sent; with no `createdTime` the item is created now, as by
/// `crm.item.add`. `movedBy`/`movedTime` exist only where the type has them (deals and smart
/// processes); elsewhere they are unknown fields, ignored like any other.
fn import_one(c: &mut Call, mut raw: Map<String, Value>) -> Result<u64, MethodError> {
    let etid = entity_type_id(c)?;
    let original = original_names(c);
    let schema: &EntitySchema = &c.state.meta.schemas[&etid];
    let mut sent: Map<String, Value> = Map::new();
    for name in TIME_FIELDS.iter().chain(AUTHOR_FIELDS.iter()) {
        if let Some(v) = raw.remove(*name)
            && schema.by_name(name).is_some()
            && !v.is_null()
            && v != json!("")
        {
            sent.insert((*name).to_string(), v);
        }
    }
    let field = |name: &str| schema.by_name(name).expect("only the type's own fields are kept");
    let bad = |name: &str| not_valid(field(name), original);
    if c.history.not_admin
        && let Some(name) = sent.keys().next()
    {
        return Err(bad(name));
    }
    let now =
        DateTime::from_timestamp(c.now_unix.floor() as i64, 0).map(|d| d.naive_utc()).unwrap_or_default();
    let time = |name: &str| -> Result<Option<NaiveDateTime>, MethodError> {
        sent.get(name).map(|v| parse(v).ok_or_else(|| bad(name))).transpose()
    };
    let (created_sent, updated_sent, moved_sent) =
        (time("createdTime")?, time("updatedTime")?, time("movedTime")?);
    let created = created_sent.unwrap_or(now);
    if created > now {
        return Err(bad("createdTime"));
    }
    let updated = updated_sent.unwrap_or(created);
    if updated > now || updated < created {
        return Err(bad("updatedTime"));
    }
    let moved = moved_sent.unwrap_or(created);
    if moved < created || moved > updated {
        return Err(bad("movedTime"));
    }
    let newest = c
        .state
        .items
        .get(&etid)
        .into_iter()
        .flat_map(|m| m.values())
        .filter_map(|i| i.fields.get("createdTime").and_then(parse))
        .max();
    if newest.is_some_and(|n| created < n) {
        return Err(bad("createdTime"));
    }
    let mut authors: Vec<(&str, u64)> = Vec::new();
    for name in AUTHOR_FIELDS {
        if let Some(v) = sent.get(name) {
            let id = as_u64(v).filter(|id| *id > 0).ok_or_else(|| bad(name))?;
            if !c.rules.accept_dangling_refs && !c.state.users.contains_key(&id) {
                return Err(bad(name));
            }
            authors.push((name, id));
        }
    }
    let author = |name: &str| authors.iter().find(|(n, _)| *n == name).map(|(_, id)| *id);
    let created_by = author("createdBy");
    let updated_by = author("updatedBy").or(created_by);
    let moved_by = author("movedBy").or(created_by);
    let (etid, id) = create(c, &raw)?;
    let has = |name: &str| c.state.meta.schemas[&etid].by_name(name).is_some();
    let (has_moved, has_activity) = (has("movedTime"), has("lastActivityTime"));
    let item = c.state.items.get_mut(&etid).and_then(|m| m.get_mut(&id)).expect("create() stored it");
    let f = &mut item.fields;
    if created_sent.is_some() || updated_sent.is_some() || moved_sent.is_some() {
        f.insert("createdTime".into(), json!(stored(created)));
        f.insert("updatedTime".into(), json!(stored(updated)));
        if has_activity {
            f.insert("lastActivityTime".into(), json!(stored(created)));
        }
        if has_moved && f.contains_key("movedTime") {
            f.insert("movedTime".into(), json!(stored(moved)));
        }
    }
    if let Some(by) = created_by {
        f.insert("createdBy".into(), json!(by));
        if has_activity {
            f.insert("lastActivityBy".into(), json!(by));
        }
    }
    if let Some(by) = updated_by {
        f.insert("updatedBy".into(), json!(by));
    }
    if let Some(by) = moved_by
        && has_moved
        && f.contains_key("movedBy")
    {
        f.insert("movedBy".into(), json!(by));
    }
    c.state.touch_item(etid, id);
    Ok(id)
}
