//! Directories: `crm.status.list/add` (stages, sources, types…; filter/order on status fields,
//! pages of 50) and `crm.category.list/add` (pipelines; the deals' general pipeline is id 0).
//!
//! `crm.status.add` follows its page (`api-reference/crm/status/crm-status-add.md`):
//! `fields.ENTITY_ID`, `STATUS_ID` and `NAME` are required; a stage of a non-default pipeline
//! gets the pipeline's prefix (`C9:`, `DT1220_30:`) added to `STATUS_ID`; lead statuses, quote
//! statuses and deal stages take only `A-Za-z0-9_-` and at most 21 / 22 / 22 characters (19
//! for `DEAL_STAGE_{n}` with n < 10, one less per digit), other directories at most 50 of any;
//! `SORT` defaults to 10; no stage after the final one; the answer is the new row's id. Its
//! errors are the texts of the page's table, HTTP 400 with an empty `error` code except a
//! duplicate (`ERROR_CORE`): see [`status_add`].

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

/// `crm.status.add` (`api-reference/crm/status/crm-status-add.md`): answers the new row's id.
///
/// The checks run in the order the page's error table implies, each HTTP 400:
/// 1. `fields` not an object: `""` "Parameter 'fields' must be array.";
/// 2. `ENTITY_ID` / `STATUS_ID` missing: `""` "The field ENTITY_ID is required." and/or "The
///    field STATUS_ID is required." (both in one answer when both are missing; the page does
///    not say how they are joined: a space, as the legacy CRM REST joins its error list);
/// 3. an unknown directory: `""` "Specified entity type is not supported.";
/// 4. `NAME` missing: `""` "The field Title is required.";
/// 5. the `STATUS_ID` restrictions of the page's "Field Features" (checked here with an empty
///    code; the page lists no code for them, so they read as its "Error on creating status.");
/// 6. a duplicate `STATUS_ID` in the directory: `ERROR_CORE` "The specified status ID already
///    exists.";
/// 7. a stage after the final one: `""` "Cannot create more stages after the final stage
///    because the final successful stage already exists. Try using sort order values less
///    than that of the final stage." The page documents it for the `DEAL_STAGE` directory
///    (the default deal pipeline) only, and its own request example adds a stage at `SORT` 70
///    to `DEAL_STAGE_1`, after that pipeline's `WON` (60), with success: so the sandbox refuses
///    it in `DEAL_STAGE` alone, as the page says. A failure stage (`SEMANTICS` = `F`) may be
///    placed after the success stage: that is where failure stages go.
///
/// `SORT` defaults to 10 (the page's "Default is 10"), not to the end of the directory.
pub(crate) fn status_add(c: &mut Call) -> MethodResult {
    let Some(Value::Object(fields)) = param(c.params, "fields") else {
        return Err(legacy("Parameter 'fields' must be array."));
    };
    let get = |k: &str| fields.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v);
    let text = |k: &str| get(k).and_then(as_text).map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
    let (entity_id, code) = match (text("ENTITY_ID"), text("STATUS_ID")) {
        (Some(e), Some(s)) => (e, s),
        (e, s) => {
            let mut missing = Vec::new();
            if e.is_none() {
                missing.push("The field ENTITY_ID is required.");
            }
            if s.is_none() {
                missing.push("The field STATUS_ID is required.");
            }
            return Err(legacy(missing.join(" ")));
        }
    };
    if !c.state.meta.statuses.iter().any(|s| s.entity_id == entity_id) {
        return Err(legacy("Specified entity type is not supported."));
    }
    let Some(name) = text("NAME") else {
        return Err(legacy("The field Title is required."));
    };
    let stage = stage_directory(&entity_id);
    let prefix = stage.as_ref().map(|(_, p)| p.clone()).unwrap_or_default();
    let bare = code.strip_prefix(prefix.as_str()).filter(|_| !prefix.is_empty()).unwrap_or(&code).to_string();
    let valid = match status_id_limit(&entity_id) {
        Some(limit) => {
            bare.len() <= limit && bare.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
        }
        None => bare.chars().count() <= 50,
    };
    if !valid {
        return Err(legacy("Error on creating status."));
    }
    let status_id = format!("{prefix}{bare}");
    if c.state.meta.statuses.iter().any(|s| s.entity_id == entity_id && s.status_id == status_id) {
        return Err(MethodError::bad("ERROR_CORE", "The specified status ID already exists."));
    }
    let sort = get("SORT").and_then(as_i64).unwrap_or(DEFAULT_SORT);
    let semantics = match text("SEMANTICS").map(|s| s.to_ascii_uppercase()).as_deref() {
        Some("S") => Some("S".to_string()),
        Some("F") => Some("F".to_string()),
        _ => None,
    };
    let success = c.state.directory(&entity_id).into_iter().find(|s| s.semantics.as_deref() == Some("S"));
    if entity_id == "DEAL_STAGE"
        && semantics.as_deref() != Some("F")
        && success.is_some_and(|won| sort > won.sort)
    {
        return Err(legacy(AFTER_FINAL));
    }
    let category = stage.map(|(cat, _)| cat);
    let id = c.state.add_status(&entity_id, &status_id, &name, sort, category, semantics);
    Ok(Output::new(json!(id)))
}

/// `crm.status.add`'s `SORT` when none is sent (its page: "Default is 10").
const DEFAULT_SORT: i64 = 10;

/// The page's refusal of a stage sorted after the final (success) stage.
const AFTER_FINAL: &str = "Cannot create more stages after the final stage because the final successful stage already exists. Try using sort order values less than that of the final stage.";

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
    // The page's error table (crm-category-add.md), its codes as given (`0`): `name` is
    // required; contacts and companies have one default pipeline, which a new one cannot replace.
    let name = fields.get("name").and_then(as_text).unwrap_or_default();
    if name.trim().is_empty() {
        return Err(MethodError::bad("0", "Field 'NAME' is required"));
    }
    if matches!(etid, 3 | 4)
        && fields.get("isDefault").and_then(as_text).is_some_and(|v| v.eq_ignore_ascii_case("Y"))
    {
        return Err(MethodError::bad("0", "Default client category does not support updating default state"));
    }
    let id = c.state.add_category(etid, &name, false);
    if let Some(sort) = fields.get("sort").and_then(as_i64).filter(|s| *s >= 0)
        && let Some(cat) =
            c.state.meta.categories.iter_mut().find(|cat| cat.entity_type_id == etid && cat.id == id)
    {
        cat.sort = sort;
    }
    let cat = c
        .state
        .meta
        .categories
        .iter()
        .find(|cat| cat.entity_type_id == etid && cat.id == id)
        .expect("just added");
    Ok(Output::new(json!({ "category": category_json(cat) })))
}
