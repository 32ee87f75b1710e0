//! Directories: `crm.status.list/add` (stages, sources, types…; filter/order on status fields,
//! pages of 50) and `crm.category.list/add` (pipelines; the deals' general pipeline is id 0).
//!
//! `crm.status.add` follows its page: `fields.ENTITY_ID`, `STATUS_ID` and `NAME` are required;
//! a stage of a non-default pipeline gets the pipeline's prefix (`C9:`, `DT1220_30:`) added to
//! `STATUS_ID`; lead statuses, quote statuses and deal stages take only `A-Za-z0-9_-` and at
//! most 21 / 22 / 22 characters (19 for `DEAL_STAGE_{n}` with n < 10, one less per digit); the
//! answer is the new row's id. Its errors are the legacy CRM REST errors: HTTP 400 with an
//! empty `error` code and the reason as text ([inference] for the texts).

use serde_json::{Value, json};

use super::filter::{self, Kind};
use super::{Call, MethodError, MethodResult, Output, as_i64, as_text, as_u64, object, param};
use crate::state::Category;

/// `crm.status.list`.
pub(crate) fn status_list(c: &mut Call) -> MethodResult {
    let resolve = |name: &str| -> Option<(String, Kind)> {
        let upper = name.to_ascii_uppercase();
        let known = ["ID", "ENTITY_ID", "STATUS_ID", "NAME", "SORT", "SYSTEM", "CATEGORY_ID", "SEMANTICS"];
        known.contains(&upper.as_str()).then(|| {
            let kind = if matches!(upper.as_str(), "ID" | "SORT" | "CATEGORY_ID") {
                Kind::Number
            } else {
                Kind::Text
            };
            (upper, kind)
        })
    };
    let cond = match param(c.params, "filter") {
        Some(f) => filter::compile(f, &resolve).map_err(|n| {
            MethodError::bad("INVALID_ARG_VALUE", format!("field \"{n}\" is not allowed in filter"))
        })?,
        None => filter::Cond::Group { or: false, conds: Vec::new() },
    };
    let mut rows: Vec<Value> = c
        .state
        .meta
        .statuses
        .iter()
        .map(|s| s.to_json())
        .filter(|row| filter::eval(&cond, &|k| row.get(k).cloned()))
        .collect();
    let order = object(param(c.params, "order"));
    rows.sort_by(|a, b| {
        for (k, dir) in &order {
            let Some((key, kind)) = resolve(k) else { continue };
            let o = filter::compare(kind, &a[key.as_str()], &b[key.as_str()]);
            let o =
                if dir.as_str().is_some_and(|d| d.eq_ignore_ascii_case("DESC")) { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        std::cmp::Ordering::Equal
    });
    let (start, count) = super::start_param(c.params);
    let (page, total, next) = super::page(&rows, start, count);
    Ok(Output::list(Value::Array(page), total, next))
}

fn legacy(description: impl Into<String>) -> MethodError {
    MethodError::bad("", description)
}

/// The pipeline a stage directory belongs to and the prefix its codes carry:
/// `DEAL_STAGE_9` -> (9, `C9:`), `DYNAMIC_1220_STAGE_30` -> (30, `DT1220_30:`).
fn stage_directory(entity_id: &str) -> Option<(u64, String)> {
    if entity_id == "DEAL_STAGE" {
        return Some((0, String::new()));
    }
    if let Some(n) = entity_id.strip_prefix("DEAL_STAGE_").and_then(|n| n.parse::<u64>().ok()) {
        return Some((n, format!("C{n}:")));
    }
    if let Some(n) = entity_id.strip_prefix("SMART_INVOICE_STAGE_").and_then(|n| n.parse::<u64>().ok()) {
        return Some((n, format!("DT31_{n}:")));
    }
    let rest = entity_id.strip_prefix("DYNAMIC_")?;
    let (etid, cat) = rest.split_once("_STAGE_")?;
    let (etid, cat): (u64, u64) = (etid.parse().ok()?, cat.parse().ok()?);
    Some((cat, format!("DT{etid}_{cat}:")))
}

/// The `STATUS_ID` limit of a directory (the page's note for CRM 20.5.500 and later).
fn status_id_limit(entity_id: &str) -> Option<usize> {
    match entity_id {
        "STATUS" => Some(21),
        "QUOTE_STATUS" | "DEAL_STAGE" => Some(22),
        e => e
            .strip_prefix("DEAL_STAGE_")
            .and_then(|n| n.parse::<u64>().ok())
            .map(|n| 22 - (n.to_string().len() + 2)),
    }
}

/// `crm.status.add`: answers the new row's id.
pub(crate) fn status_add(c: &mut Call) -> MethodResult {
    let Some(Value::Object(fields)) = param(c.params, "fields") else {
        return Err(legacy("Parameter 'fields' must be array"));
    };
    let get = |k: &str| fields.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v);
    let text = |k: &str| get(k).and_then(as_text).map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let (Some(entity_id), Some(code), Some(name)) = (text("ENTITY_ID"), text("STATUS_ID"), text("NAME"))
    else {
        return Err(legacy("The fields ENTITY_ID, STATUS_ID and NAME are required"));
    };
    if !c.state.meta.statuses.iter().any(|s| s.entity_id == entity_id) {
        return Err(legacy(format!("Directory ENTITY_ID '{entity_id}' is not found")));
    }
    let stage = stage_directory(&entity_id);
    let prefix = stage.as_ref().map(|(_, p)| p.clone()).unwrap_or_default();
    let bare = code.strip_prefix(prefix.as_str()).filter(|_| !prefix.is_empty()).unwrap_or(&code).to_string();
    if let Some(limit) = status_id_limit(&entity_id)
        && (bare.len() > limit
            || !bare.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-'))
    {
        return Err(legacy(format!(
            "STATUS_ID '{bare}' of {entity_id} must be at most {limit} characters of A-Z, a-z, 0-9, '-' and '_'"
        )));
    }
    let status_id = format!("{prefix}{bare}");
    if c.state.meta.statuses.iter().any(|s| s.entity_id == entity_id && s.status_id == status_id) {
        return Err(legacy(format!("STATUS_ID '{status_id}' already exists in {entity_id}")));
    }
    let dir = c.state.directory(&entity_id);
    let default_sort = dir.iter().filter(|s| s.semantics.is_none()).map(|s| s.sort).max().unwrap_or(0) + 10;
    let sort = get("SORT").and_then(as_i64).unwrap_or(default_sort);
    let semantics = match text("SEMANTICS").map(|s| s.to_ascii_uppercase()).as_deref() {
        Some("S") => Some("S".to_string()),
        Some("F") => Some("F".to_string()),
        _ => None,
    };
    let category = stage.map(|(cat, _)| cat);
    let id = c.state.add_status(&entity_id, &status_id, &name, sort, category, semantics);
    Ok(Output::new(json!(id)))
}

fn category_json(cat: &Category) -> Value {
    json!({
        "id": cat.id,
        "name": cat.name,
        "sort": cat.sort,
        "entityTypeId": cat.entity_type_id,
        "isDefault": if cat.is_default { "Y" } else { "N" },
        "originId": "",
        "originatorId": "",
    })
}

/// The entity type of `crm.category.*`: unknown -> `NOT_FOUND`; leads and quotes have no
/// pipelines -> `ENTITY_TYPE_NOT_SUPPORTED` (the portal's category controller). Smart processes
/// support pipelines whatever `isCategoriesEnabled` says (that flag only shows them in the UI).
fn entity_type(c: &Call) -> Result<u64, MethodError> {
    let etid = param(c.params, "entityTypeId").and_then(as_u64).unwrap_or(0);
    if !c.state.meta.schemas.contains_key(&etid) {
        return Err(MethodError::bad("NOT_FOUND", "SPA not found"));
    }
    if matches!(etid, 1 | 7) {
        return Err(MethodError::bad(
            "ENTITY_TYPE_NOT_SUPPORTED",
            format!("Entity type {etid} does not support pipelines"),
        ));
    }
    Ok(etid)
}

/// `crm.category.list`.
pub(crate) fn category_list(c: &mut Call) -> MethodResult {
    let etid = entity_type(c)?;
    let rows: Vec<Value> =
        c.state.meta.categories.iter().filter(|cat| cat.entity_type_id == etid).map(category_json).collect();
    let (start, count) = super::start_param(c.params);
    let (page, total, next) = super::page(&rows, start, count);
    Ok(Output::list(json!({ "categories": page }), total, next))
}

/// `crm.category.add`: a new pipeline with the default stages.
pub(crate) fn category_add(c: &mut Call) -> MethodResult {
    let etid = entity_type(c)?;
    let fields = object(param(c.params, "fields"));
    let name = fields.get("name").and_then(as_text).unwrap_or_default();
    if name.trim().is_empty() {
        return Err(MethodError::bad("INVALID_ARG_VALUE", "Field \"name\" is required"));
    }
    let id = c.state.add_category(etid, &name, false);
    if let Some(sort) = fields.get("sort").and_then(as_i64).filter(|s| *s >= 0)
        && let Some(cat) = c.state.meta.categories.iter_mut().find(|cat| cat.id == id)
    {
        cat.sort = sort;
    }
    let cat = c.state.meta.categories.iter().find(|cat| cat.id == id).expect("just added");
    Ok(Output::new(json!({ "category": category_json(cat) })))
}
