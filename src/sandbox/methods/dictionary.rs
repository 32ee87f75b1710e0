//! Directories: `crm.status.list` (stages, sources, types…; filter/order on status fields,
//! pages of 50) and `crm.category.list/add` (pipelines; the deals' general pipeline is id 0).

use serde_json::{Value, json};

use super::filter::{self, Kind};
use super::{Call, MethodError, MethodResult, Output, as_text, as_u64, object, param};
use crate::sandbox::state::Category;

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

fn entity_type(c: &Call) -> Result<u64, MethodError> {
    let etid = param(c.params, "entityTypeId").and_then(as_u64).unwrap_or(0);
    if c.state.meta.schemas.contains_key(&etid) {
        Ok(etid)
    } else {
        Err(MethodError::bad("NOT_FOUND", "Smart process not found"))
    }
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
    let cat = c.state.meta.categories.iter().find(|cat| cat.id == id).expect("just added");
    Ok(Output::new(json!({ "category": category_json(cat) })))
}
