//! Smart processes (`crm.type.add/update/get/getByEntityTypeId/list/delete`) and digital
//! workplaces (`crm.automatedsolution.add/list/get`), §6.
//!
//! `crm.type.add` takes an optional `entityTypeId` that must be unique and even and ≥ 1030, or
//! in 128–192 (`INVALID_ARG_VALUE` otherwise), creates the type's schema (its custom fields
//! named `ufCrm{id}_…`), a default pipeline and its stages; the answer carries both `id` and
//! `entityTypeId`.

use serde_json::{Map, Value, json};

use super::{Call, MethodError, MethodResult, Output, as_text, as_u64, object, param, php_array};
use crate::sandbox::clock::iso;
use crate::sandbox::schema;
use crate::sandbox::state::{Solution, SpaType};

const FLAGS: [&str; 14] = [
    "isCategoriesEnabled",
    "isStagesEnabled",
    "isClientEnabled",
    "isSourceEnabled",
    "isBeginCloseDatesEnabled",
    "isLinkWithProductsEnabled",
    "isObserversEnabled",
    "isMycompanyEnabled",
    "isAutomationEnabled",
    "isBizProcEnabled",
    "isDocumentsEnabled",
    "isRecyclebinEnabled",
    "isSetOpenPermissions",
    "isUseInUserfieldEnabled",
];

fn valid_entity_type_id(id: u64) -> bool {
    (128..=192).contains(&id) || (id >= 1030 && id.is_multiple_of(2))
}

fn type_not_found() -> MethodError {
    MethodError::bad("NOT_FOUND", "Smart process not found")
}

fn yn(v: &Value) -> Value {
    json!(if super::is_yes(Some(v)) { "Y" } else { "N" })
}

/// `crm.type.add`.
pub(crate) fn type_add(c: &mut Call) -> MethodResult {
    let fields = object(param(c.params, "fields"));
    let title = fields.get("title").and_then(as_text).unwrap_or_default();
    if title.trim().is_empty() {
        return Err(MethodError::bad("INVALID_ARG_VALUE", "Field \"title\" is required"));
    }
    let used = |id: u64, c: &Call| c.state.meta.schemas.contains_key(&id);
    let entity_type_id = match fields.get("entityTypeId").and_then(as_u64) {
        Some(id) => {
            if !valid_entity_type_id(id) || used(id, c) {
                return Err(MethodError::bad(
                    "INVALID_ARG_VALUE",
                    format!(
                        "entityTypeId {id} is not valid: it must be unique and even and at least 1030, or between 128 and 192"
                    ),
                ));
            }
            id
        }
        None => (1030..).step_by(2).find(|id| !used(*id, c)).expect("an unused even id exists"),
    };
    c.state.counters.spa_type += 1;
    let id = c.state.counters.spa_type;
    let mut stored = Map::new();
    stored.insert("id".into(), json!(id));
    stored.insert("entityTypeId".into(), json!(entity_type_id));
    stored.insert("title".into(), json!(title));
    stored.insert("code".into(), fields.get("code").cloned().unwrap_or(Value::Null));
    for flag in FLAGS {
        stored.insert(flag.into(), fields.get(flag).map_or(json!("N"), yn));
    }
    stored.insert(
        "relations".into(),
        fields.get("relations").cloned().unwrap_or(json!({"parent": [], "child": []})),
    );
    stored.insert("linkedUserFields".into(), fields.get("linkedUserFields").cloned().unwrap_or(Value::Null));
    stored.insert("customSectionId".into(), Value::Null);
    stored.insert("createdBy".into(), json!(c.user_id));
    stored.insert("createdTime".into(), json!(iso(c.now_unix)));
    stored.insert("updatedTime".into(), json!(iso(c.now_unix)));
    let category = c.state.add_category(entity_type_id, "General", true);
    let sch =
        schema::build(entity_type_id, &title, Some(id), category, c.schema_file, &mut c.state.counters.uf);
    c.state.meta.schemas.insert(entity_type_id, sch);
    c.state.counters.next_item_id.insert(entity_type_id, 1);
    c.state.meta.types.insert(id, SpaType { id, entity_type_id, fields: stored.clone() });
    c.state.touch_meta();
    Ok(Output::new(json!({ "type": stored })))
}

fn type_id_param(c: &Call) -> Result<u64, MethodError> {
    let id = param(c.params, "id").and_then(as_u64).ok_or_else(type_not_found)?;
    if c.state.meta.types.contains_key(&id) { Ok(id) } else { Err(type_not_found()) }
}

/// `crm.type.update`: title and flags.
pub(crate) fn type_update(c: &mut Call) -> MethodResult {
    let id = type_id_param(c)?;
    let fields = object(param(c.params, "fields"));
    let t = c.state.meta.types.get_mut(&id).expect("checked above");
    for (k, v) in &fields {
        match k.as_str() {
            "title" => {
                t.fields.insert(k.clone(), json!(as_text(v).unwrap_or_default()));
            }
            "relations" | "linkedUserFields" | "code" => {
                t.fields.insert(k.clone(), v.clone());
            }
            k if FLAGS.contains(&k) => {
                t.fields.insert(k.to_string(), yn(v));
            }
            _ => {}
        }
    }
    t.fields.insert("updatedTime".into(), json!(iso(c.now_unix)));
    let out = t.fields.clone();
    if let Some(title) = out.get("title").and_then(Value::as_str) {
        let etid = t.entity_type_id;
        if let Some(s) = c.state.meta.schemas.get_mut(&etid) {
            s.title = title.to_string();
        }
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

/// `crm.automatedsolution.add`: linking a type moves it out of any other workplace.
pub(crate) fn solution_add(c: &mut Call) -> MethodResult {
    let fields = object(param(c.params, "fields"));
    let title = fields.get("title").and_then(as_text).unwrap_or_default();
    if title.trim().is_empty() {
        return Err(MethodError::bad("INVALID_ARG_VALUE", "Field \"title\" is required"));
    }
    let mut type_ids = Vec::new();
    for v in fields.get("typeIds").and_then(php_array).unwrap_or_default() {
        let id = as_u64(v).filter(|id| c.state.meta.types.contains_key(id)).ok_or_else(type_not_found)?;
        type_ids.push(id);
    }
    for s in c.state.meta.solutions.values_mut() {
        s.type_ids.retain(|t| !type_ids.contains(t));
    }
    c.state.counters.solution += 1;
    let id = c.state.counters.solution;
    for t in &type_ids {
        if let Some(ty) = c.state.meta.types.get_mut(t) {
            ty.fields.insert("customSectionId".into(), json!(id));
        }
    }
    let s = Solution { id, title, type_ids };
    let out = solution_json(&s);
    c.state.meta.solutions.insert(id, s);
    c.state.touch_meta();
    Ok(Output::new(json!({ "automatedSolution": out })))
}

/// `crm.automatedsolution.get`.
pub(crate) fn solution_get(c: &mut Call) -> MethodResult {
    let id = param(c.params, "id").and_then(as_u64).unwrap_or(0);
    let s = c
        .state
        .meta
        .solutions
        .get(&id)
        .ok_or_else(|| MethodError::bad("NOT_FOUND", "Automated solution not found"))?;
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
