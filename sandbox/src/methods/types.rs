//! Smart processes (`crm.type.add/update/get/getByEntityTypeId/list/delete`) and digital
//! workplaces (`crm.automatedsolution.add/update/list/get`), §6 and the method pages
//! `crm.type.update` / `crm.automatedsolution.add`.
//!
//! `crm.type.add` takes an optional `entityTypeId` that must be unique and even and ≥ 1030, or
//! in 128–192 (`INVALID_ARG_VALUE` otherwise), creates the type's schema (its custom fields
//! named `ufCrm{id}_…`), a default pipeline and its stages; the answer carries both `id` and
//! `entityTypeId`.

use serde_json::{Map, Value, json};

use super::{Call, MethodError, MethodResult, Output, as_text, as_u64, object, param, php_array};
use crate::clock::iso;
use crate::schema;
use crate::state::{Solution, SpaType};

/// The feature flags of a type, in the order the `crm.type.update` page's answer lists them.
pub(super) const FLAGS: [&str; 16] = [
    "isCategoriesEnabled",
    "isStagesEnabled",
    "isBeginCloseDatesEnabled",
    "isClientEnabled",
    "isUseInUserfieldEnabled",
    "isLinkWithProductsEnabled",
    "isMycompanyEnabled",
    "isDocumentsEnabled",
    "isSourceEnabled",
    "isObserversEnabled",
    "isRecyclebinEnabled",
    "isAutomationEnabled",
    "isBizProcEnabled",
    "isSetOpenPermissions",
    "isPaymentsEnabled",
    "isCountersEnabled",
];

/// The user fields a type can be shown in (`linkedUserFields`), as the page's answer lists them.
const LINKED_USER_FIELDS: [&str; 3] =
    ["CALENDAR_EVENT|UF_CRM_CAL_EVENT", "TASKS_TASK|UF_CRM_TASK", "TASKS_TASK_TEMPLATE|UF_CRM_TASK"];

fn valid_entity_type_id(id: u64) -> bool {
    (128..=192).contains(&id) || (id >= 1030 && id.is_multiple_of(2))
}

/// `crm.type.update`'s documented "not found": HTTP 400 with the code `0` (sent as the string
/// `"0"`: the sandbox's error codes are strings, and clients compare them as text).
fn type_not_found() -> MethodError {
    MethodError::bad("0", "SPA not found")
}

fn yn(v: &Value) -> Value {
    json!(if super::is_yes(Some(v)) { "Y" } else { "N" })
}

/// `relations` as the page's answer shows them: both sides present, every entry
/// `{entityTypeId, isChildrenListEnabled: Y/N, isPredefined: Y/N}`. The request's entries take
/// `"true"`/`"false"` (Y/N is read too); predefined entries of `old` are kept whatever is sent
/// ("you cannot change the settings of predefined links"), everything else is replaced.
fn normalize_relations(sent: Option<&Value>, old: Option<&Value>) -> Value {
    let mut out = Map::new();
    for side in ["parent", "child"] {
        let mut entries: Vec<Value> = old
            .and_then(|o| o.get(side))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter(|e| e["isPredefined"] == "Y").cloned().collect())
            .unwrap_or_default();
        for e in sent.and_then(|s| s.get(side)).and_then(php_array).unwrap_or_default() {
            let Some(etid) = e.get("entityTypeId").and_then(as_u64) else { continue };
            if entries.iter().any(|x| x["entityTypeId"].as_u64() == Some(etid)) {
                continue;
            }
            entries.push(json!({
                "entityTypeId": etid,
                "isChildrenListEnabled": yn(e.get("isChildrenListEnabled").unwrap_or(&Value::Null)),
                "isPredefined": "N",
            }));
        }
        out.insert(side.into(), Value::Array(entries));
    }
    Value::Object(out)
}

/// `linkedUserFields` as the answer shows them: every known key, `Y`/`N`; the request's
/// `"true"`/`"false"` change only the keys sent.
fn normalize_linked(sent: Option<&Value>, old: Option<&Value>) -> Value {
    let mut out = Map::new();
    for key in LINKED_USER_FIELDS {
        let v = sent
            .and_then(|s| s.get(key))
            .map(yn)
            .or_else(|| old.and_then(|o| o.get(key)).cloned())
            .unwrap_or(json!("N"));
        out.insert(key.into(), v);
    }
    Value::Object(out)
}

/// `isExternal = true` needs a workplace (`customSectionId`): the page's error `0`.
fn check_external(fields: &Map<String, Value>, old_section: Option<&Value>) -> Result<(), MethodError> {
    if super::is_yes(fields.get("isExternal")) {
        let section = fields.get("customSectionId").and_then(as_u64).or_else(|| old_section.and_then(as_u64));
        if section.is_none_or(|s| s == 0) {
            return Err(MethodError::bad("0", "Select a workplace where the SPA will be located"));
        }
    }
    Ok(())
}

/// `crm.type.add`: every documented key of the answer, flags `N` unless sent.
pub(crate) fn type_add(c: &mut Call) -> MethodResult {
    // The page's error table (crm-type-add.md): `fields` is required (the engine's `100` for a
    // missing parameter); an entityTypeId outside the allowed ranges or taken is
    // "entityTypeId is out of allowed range".
    if param(c.params, "fields").is_none() {
        return Err(MethodError::bad("100", "Could not find value for parameter {fields}"));
    }
    // The plan's limit (`crate::plan`) before the fields' own checks, as the controller does.
    c.plan.check_type_add(c.state.meta.types.len())?;
    let fields = object(param(c.params, "fields"));
    let title = fields.get("title").and_then(as_text).unwrap_or_default();
    if title.trim().is_empty() {
        return Err(MethodError::bad("INVALID_ARG_VALUE", "Field \"title\" is required"));
    }
    check_external(&fields, None)?;
    let used = |id: u64, c: &Call| c.state.meta.schemas.contains_key(&id);
    let entity_type_id = match fields.get("entityTypeId").and_then(as_u64) {
        Some(id) => {
            if !valid_entity_type_id(id) || used(id, c) {
                return Err(MethodError::bad("INVALID_ARG_VALUE", "entityTypeId is out of allowed range"));
            }
            id
        }
        None => (1030..).step_by(2).find(|id| !used(*id, c)).expect("an unused even id exists"),
    };
    c.state.counters.spa_type += 1;
    let id = c.state.counters.spa_type;
    let now = json!(iso(c.now_unix));
    let mut stored = Map::new();
    stored.insert("id".into(), json!(id));
    stored.insert("title".into(), json!(title));
    stored.insert("code".into(), json!(fields.get("code").and_then(as_text).unwrap_or_default()));
    stored.insert("createdBy".into(), json!(c.user_id));
    stored.insert("entityTypeId".into(), json!(entity_type_id));
    stored.insert("customSectionId".into(), Value::Null);
    for flag in FLAGS {
        stored.insert(flag.into(), fields.get(flag).map_or(json!("N"), yn));
    }
    stored.insert("createdTime".into(), now.clone());
    stored.insert("updatedTime".into(), now);
    stored.insert("updatedBy".into(), json!(c.user_id));
    stored.insert("relations".into(), normalize_relations(fields.get("relations"), None));
    stored.insert("linkedUserFields".into(), normalize_linked(fields.get("linkedUserFields"), None));
    stored.insert("customSections".into(), json!([]));
    let category = c.state.add_category(entity_type_id, "General", true);
    let sch =
        schema::build(entity_type_id, &title, Some(id), category, c.schema_file, &mut c.state.counters.uf);
    c.state.meta.schemas.insert(entity_type_id, sch);
    c.state.counters.next_item_id.insert(entity_type_id, 1);
    c.state.meta.types.insert(id, SpaType { id, entity_type_id, fields: stored.clone() });
    c.state.sync_parent_fields();
    c.state.touch_meta();
    Ok(Output::new(json!({ "type": stored })))
}

fn type_id_param(c: &Call) -> Result<u64, MethodError> {
    let id = param(c.params, "id").and_then(as_u64).ok_or_else(type_not_found)?;
    if c.state.meta.types.contains_key(&id) { Ok(id) } else { Err(type_not_found()) }
}

/// `crm.type.update`: only the keys sent change (flags read as Y/N, `"true"`/`"false"` or
/// booleans); `relations` is replaced whole (predefined links kept); the answer is the whole
/// normalized type, as `crm.type.get` shows it.
pub(crate) fn type_update(c: &mut Call) -> MethodResult {
    let id = type_id_param(c)?;
    c.plan.check_type_update()?;
    let fields = object(param(c.params, "fields"));
    let t = c.state.meta.types.get_mut(&id).expect("checked above");
    check_external(&fields, t.fields.get("customSectionId"))?;
    for (k, v) in &fields {
        match k.as_str() {
            "title" => {
                if let Some(title) = as_text(v).filter(|t| !t.trim().is_empty()) {
                    t.fields.insert(k.clone(), json!(title));
                }
            }
            "code" => {
                t.fields.insert(k.clone(), json!(as_text(v).unwrap_or_default()));
            }
            "relations" => {
                let r = normalize_relations(Some(v), t.fields.get("relations"));
                t.fields.insert(k.clone(), r);
            }
            "linkedUserFields" => {
                let l = normalize_linked(Some(v), t.fields.get("linkedUserFields"));
                t.fields.insert(k.clone(), l);
            }
            k if FLAGS.contains(&k) => {
                t.fields.insert(k.to_string(), yn(v));
            }
            _ => {}
        }
    }
    t.fields.insert("updatedTime".into(), json!(iso(c.now_unix)));
    t.fields.insert("updatedBy".into(), json!(c.user_id));
    let out = t.fields.clone();
    if let Some(title) = out.get("title").and_then(Value::as_str) {
        let etid = t.entity_type_id;
        if let Some(s) = c.state.meta.schemas.get_mut(&etid) {
            s.title = title.to_string();
        }
    }
    if fields.contains_key("relations") {
        c.state.sync_parent_fields();
    }
    c.state.touch_meta();
    Ok(Output::new(json!({ "type": out })))
}

/// `crm.type.get`.
pub(crate) fn type_get(c: &mut Call) -> MethodResult {
    let id = type_id_param(c)?;
    Ok(Output::new(json!({ "type": c.state.meta.types[&id].fields })))
}

/// `crm.type.getByEntityTypeId`.
pub(crate) fn type_get_by_entity_type_id(c: &mut Call) -> MethodResult {
    let etid = param(c.params, "entityTypeId").and_then(as_u64).ok_or_else(type_not_found)?;
    let t = c.state.meta.types.values().find(|t| t.entity_type_id == etid).ok_or_else(type_not_found)?;
    Ok(Output::new(json!({ "type": t.fields })))
}

/// `crm.type.delete`: only an empty type can go.
pub(crate) fn type_delete(c: &mut Call) -> MethodResult {
    let id = type_id_param(c)?;
    let etid = c.state.meta.types[&id].entity_type_id;
    if c.state.items.get(&etid).is_some_and(|m| !m.is_empty()) {
        return Err(MethodError::bad("ERROR_CORE", "The smart process has items and cannot be deleted"));
    }
    c.state.meta.types.remove(&id);
    c.state.meta.schemas.remove(&etid);
    c.state.meta.categories.retain(|cat| cat.entity_type_id != etid);
    for s in c.state.meta.solutions.values_mut() {
        s.type_ids.retain(|t| *t != id);
    }
    c.state.sync_parent_fields();
    c.state.touch_meta();
    Ok(Output::new(Value::Null))
}

fn matches_simple(row: &Value, filter: &Map<String, Value>) -> bool {
    filter.iter().all(|(k, want)| {
        let want: Vec<String> = match want {
            Value::Array(a) => a.iter().filter_map(as_text).collect(),
            v => as_text(v).into_iter().collect(),
        };
        let key = k.trim_start_matches(['=', '@']);
        let have = row.get(key).and_then(as_text).unwrap_or_default();
        want.iter().any(|w| w.eq_ignore_ascii_case(&have))
    })
}

fn order_rows(rows: &mut [Value], order: &Map<String, Value>) {
    if let Some((k, dir)) = order.iter().next() {
        let desc = dir.as_str().is_some_and(|d| d.eq_ignore_ascii_case("DESC"));
        rows.sort_by(|a, b| {
            let o = super::filter::compare(super::filter::Kind::Number, &a[k.as_str()], &b[k.as_str()]);
            if desc { o.reverse() } else { o }
        });
    }
}

/// `crm.type.list`.
pub(crate) fn type_list(c: &mut Call) -> MethodResult {
    let filter = object(param(c.params, "filter"));
    let mut rows: Vec<Value> = c
        .state
        .meta
        .types
        .values()
        .map(|t| Value::Object(t.fields.clone()))
        .filter(|r| matches_simple(r, &filter))
        .collect();
    order_rows(&mut rows, &object(param(c.params, "order")));
    let (start, count) = super::start_param(c.params);
    let (page, total, next) = super::page(&rows, start, count);
    Ok(Output::list(json!({ "types": page }), total, next))
}

fn solution_json(s: &Solution) -> Value {
    json!({"id": s.id, "title": s.title, "typeIds": s.type_ids})
}

fn solution_not_found() -> MethodError {
    MethodError::bad("NOT_FOUND", "Digital workplace with such id not found")
}

/// The `typeIds` of a request: each must be an existing type id.
fn type_ids(c: &Call, fields: &Map<String, Value>) -> Result<Vec<u64>, MethodError> {
    let mut out = Vec::new();
    for v in fields.get("typeIds").and_then(php_array).unwrap_or_default() {
        let id = as_u64(v).filter(|id| c.state.meta.types.contains_key(id)).ok_or_else(type_not_found)?;
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

/// Links `type_ids` to workplace `id` (and only to it) and sets each type's `customSectionId`.
fn link_types(c: &mut Call, id: u64, type_ids: &[u64]) {
    for s in c.state.meta.solutions.values_mut() {
        if s.id != id {
            s.type_ids.retain(|t| !type_ids.contains(t));
        }
    }
    for ty in c.state.meta.types.values_mut() {
        let here = type_ids.contains(&ty.id);
        let was_here = ty.fields.get("customSectionId").and_then(as_u64) == Some(id);
        if here {
            ty.fields.insert("customSectionId".into(), json!(id));
        } else if was_here {
            ty.fields.insert("customSectionId".into(), Value::Null);
        }
    }
}

/// `crm.automatedsolution.add`: linking a type moves it out of any other workplace. A missing
/// title is the page's `BX_EMPTY_REQUIRED`.
pub(crate) fn solution_add(c: &mut Call) -> MethodResult {
    let fields = object(param(c.params, "fields"));
    let title = fields.get("title").and_then(as_text).unwrap_or_default();
    if title.trim().is_empty() {
        return Err(MethodError::bad("BX_EMPTY_REQUIRED", "The required field 'Title' is not filled"));
    }
    c.plan.check_solution_add(c.state.meta.solutions.len())?;
    let type_ids = type_ids(c, &fields)?;
    c.state.counters.solution += 1;
    let id = c.state.counters.solution;
    c.state.meta.solutions.insert(id, Solution { id, title, type_ids: Vec::new() });
    link_types(c, id, &type_ids);
    let s = c.state.meta.solutions.get_mut(&id).expect("just added");
    s.type_ids = type_ids;
    let out = solution_json(s);
    c.state.touch_meta();
    Ok(Output::new(json!({ "automatedSolution": out })))
}

/// `crm.automatedsolution.update`: `title` and/or `typeIds` (the whole set: omitted keys stay,
/// `[]` unlinks every type). A missing `fields` or an empty title is `BX_EMPTY_REQUIRED`.
pub(crate) fn solution_update(c: &mut Call) -> MethodResult {
    let id = param(c.params, "id").and_then(as_u64).unwrap_or(0);
    if !c.state.meta.solutions.contains_key(&id) {
        return Err(solution_not_found());
    }
    let empty = || MethodError::bad("BX_EMPTY_REQUIRED", "Required field is not filled");
    let Some(Value::Object(fields)) = param(c.params, "fields").cloned() else { return Err(empty()) };
    let title = match fields.get("title") {
        Some(v) => Some(as_text(v).filter(|t| !t.trim().is_empty()).ok_or_else(empty)?),
        None => None,
    };
    let new_types = if fields.contains_key("typeIds") { Some(type_ids(c, &fields)?) } else { None };
    if let Some(types) = &new_types {
        link_types(c, id, types);
    }
    let s = c.state.meta.solutions.get_mut(&id).expect("checked above");
    if let Some(t) = title {
        s.title = t;
    }
    if let Some(types) = new_types {
        s.type_ids = types;
    }
    let out = solution_json(s);
    c.state.touch_meta();
    Ok(Output::new(json!({ "automatedSolution": out })))
}

/// `crm.automatedsolution.get`.
pub(crate) fn solution_get(c: &mut Call) -> MethodResult {
    let id = param(c.params, "id").and_then(as_u64).unwrap_or(0);
    let s = c.state.meta.solutions.get(&id).ok_or_else(solution_not_found)?;
    Ok(Output::new(json!({ "automatedSolution": solution_json(s) })))
}

/// `crm.automatedsolution.list`: filter and order on `id` and `title`, pages of 50.
pub(crate) fn solution_list(c: &mut Call) -> MethodResult {
    let filter = object(param(c.params, "filter"));
    let mut rows: Vec<Value> =
        c.state.meta.solutions.values().map(solution_json).filter(|r| matches_simple(r, &filter)).collect();
    order_rows(&mut rows, &object(param(c.params, "order")));
    let (start, count) = super::start_param(c.params);
    let (page, total, next) = super::page(&rows, start, count);
    Ok(Output::list(json!({ "automatedSolutions": page }), total, next))
}

#[cfg(test)]
mod tests {
    use super::valid_entity_type_id;

    #[test]
    fn entity_type_ids_follow_the_documented_ranges() {
        assert!(valid_entity_type_id(128) && valid_entity_type_id(192) && valid_entity_type_id(1030));
        assert!(!valid_entity_type_id(193) && !valid_entity_type_id(1031) && !valid_entity_type_id(1000));
    }
}
