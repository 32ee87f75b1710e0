//! What `crm.item.add` / `update` check against the portal's data once the values are converted:
//! pipelines, stages, directory codes and currencies (`check_values`). Reads the state, never
//! changes it (but for the stage a pipeline move puts in the values).

use serde_json::{Map, Value, json};

use super::not_valid;
use crate::methods::{MethodError, as_text, as_u64};
use crate::schema::{self, EntitySchema};
use crate::state::Meta;

/// Checks the looked-up values of `values` (after conversion) against the portal's data; fills
/// the first stage of a new pipeline when the pipeline changes without a stage. `existing` is
/// the item being updated.
pub(super) fn check_values(
    meta: &Meta,
    schema: &EntitySchema,
    values: &mut Map<String, Value>,
    existing: Option<&Map<String, Value>>,
    default_category: u64,
    original: bool,
) -> Result<(), MethodError> {
    let etid = schema.entity_type_id;
    let bad = |name: &str| match schema.by_name(name) {
        Some(f) => not_valid(f, original),
        None => {
            MethodError::bad("CRM_FIELD_ERROR_VALUE_NOT_VALID", format!("Invalid value for field \"{name}\""))
        }
    };
    let old_category = existing.and_then(|e| e.get("categoryId")).and_then(as_u64);
    let category = match values.get("categoryId") {
        Some(Value::Null) | None => old_category.unwrap_or(default_category),
        Some(v) => {
            let id = as_u64(v).ok_or_else(|| bad("categoryId"))?;
            if !meta.categories.iter().any(|c| c.entity_type_id == etid && c.id == id) {
                return Err(bad("categoryId"));
            }
            id
        }
    };
    let has_stages = schema.by_name("stageId").is_some();
    if has_stages {
        let dir = schema::stage_status_type(etid, category);
        let in_dir = |code: &str| meta.statuses.iter().any(|s| s.entity_id == dir && s.status_id == code);
        match values.get("stageId").and_then(Value::as_str) {
            Some(code) if !in_dir(code) => return Err(bad("stageId")),
            Some(_) => {}
            None if existing.is_some() && old_category.is_some_and(|o| o != category) => {
                let first = meta.statuses.iter().filter(|s| s.entity_id == dir).min_by_key(|s| s.sort);
                if let Some(first) = first {
                    values.insert("stageId".into(), json!(first.status_id));
                }
            }
            None => {}
        }
    }
    for f in &schema.fields {
        let Some(v) = values.get(&f.name) else { continue };
        if v.is_null() || f.name == "stageId" {
            continue;
        }
        let code_ok = match (f.field_type.as_str(), &f.status_type) {
            ("crm_status", Some(dir)) => {
                let code = as_text(v).unwrap_or_default();
                meta.statuses.iter().any(|s| &s.entity_id == dir && s.status_id == code)
            }
            ("crm_currency", _) => {
                let code = as_text(v).unwrap_or_default();
                meta.currencies.contains(&code)
            }
            _ => true,
        };
        if !code_ok {
            return Err(not_valid(f, original));
        }
    }
    Ok(())
}
