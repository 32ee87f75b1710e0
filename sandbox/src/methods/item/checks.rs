//! What `crm.item.add` / `update` check against the portal's data once the values are converted:
//! pipelines, stages, directory codes and currencies (`check_values`), required fields, static
//! and stage-dependent (`check_required`), and references to users and items that must exist
//! (`check_references`). Reads the state, never changes it (but for the stage a pipeline move
//! puts in the values).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use super::not_valid;
use crate::methods::{MethodError, as_text, as_u64};
use crate::schema::{self, EntitySchema, FieldDef, SchemaFile};
use crate::state::{Item, Meta, User};
use crate::strict::ItemRules;

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

/// The page's required-field error (`crm-item-batch-import.md`'s answer: HTTP 400
/// `CRM_FIELD_ERROR_REQUIRED`, `The "Name" field is required`, the field's title).
///
/// The pages are silent on an item missing several fields at once; the portal's REST layer
/// answers the first error its operation collected, and the operation checks the fields in
/// the entity's field order, so the first missing field in `crm.item.fields` order is named.
fn required_error(schema: &EntitySchema, name: &str) -> MethodError {
    let title = schema.by_name(name).map_or(name, |f| f.title.as_str());
    MethodError::bad("CRM_FIELD_ERROR_REQUIRED", format!("The \"{title}\" field is required"))
}

/// The stored name of a field a rule names (camelCase or `UF_CRM_...`).
fn stored_name(schema: &EntitySchema, name: &str) -> String {
    schema
        .find(name, false)
        .or_else(|| schema.find(name, true))
        .map_or_else(|| name.to_string(), |f| f.name.clone())
}

/// The fields required of an item of `schema` on `stage`: the schema's static `required` ones,
/// then those of every stage requirement that applies (`rules` and the schema file's
/// `[[entity.require]]`), in field order, without repeats.
fn required_fields(
    schema: &EntitySchema,
    rules: &ItemRules,
    file: Option<&SchemaFile>,
    stage: Option<&str>,
) -> Vec<String> {
    let mut named: Vec<String> =
        schema.fields.iter().filter(|f| f.required && !f.read_only).map(|f| f.name.clone()).collect();
    let from_file = file.into_iter().flat_map(SchemaFile::stage_requirements);
    for req in rules.stage_required.iter().cloned().chain(from_file) {
        if req.entity_type_id == schema.entity_type_id && req.applies_to(stage) {
            named.extend(req.fields.iter().map(|f| stored_name(schema, f)));
        }
    }
    let pos = |n: &String| schema.fields.iter().position(|f| &f.name == n).unwrap_or(usize::MAX);
    named.sort_by_key(pos);
    named.dedup();
    named
}

/// Required fields, static and stage-dependent (the `crm.item.add` page: "required fields are
/// validated", "required fields dependent on stages are validated").
///
/// On add (`existing` is `None`) every required field of the item's stage (after defaults) must
/// be filled. On update the pages are silent; the portal's core re-checks the requirements of the
/// stage only when the stage changes (`../bitrix24.md` §3.5, "Required fields are re-checked only
/// when the stage changes"), so: when the stage changes, every field the new stage requires must
/// be filled in the item as it will be saved; otherwise only a required field the update clears
/// is refused. `values` are the converted fields; `disabled` fields are never required (a switched
/// off smart-process feature has no field to fill).
pub(super) fn check_required(
    schema: &EntitySchema,
    rules: &ItemRules,
    file: Option<&SchemaFile>,
    values: &Map<String, Value>,
    existing: Option<&Map<String, Value>>,
    disabled: &[&str],
) -> Result<(), MethodError> {
    let merged = |k: &str| values.get(k).or_else(|| existing.and_then(|e| e.get(k)));
    let stage = merged("stageId").and_then(Value::as_str);
    let stage_changed =
        existing.is_none_or(|e| values.get("stageId").is_some_and(|s| e.get("stageId") != Some(s)));
    for name in required_fields(schema, rules, file, stage) {
        if disabled.contains(&name.as_str()) {
            continue;
        }
        let missing = if stage_changed {
            super::is_blank(merged(&name))
        } else {
            values.contains_key(&name) && super::is_blank(values.get(&name))
        };
        if missing {
            return Err(required_error(schema, &name));
        }
    }
    Ok(())
}

/// The entity type a system link field points at (`companyId` -> 4, `parentId1220` -> 1220);
/// `None` for a user field (see [`check_references`]) and for fields that are not links.
fn link_target(field: &FieldDef) -> Option<u64> {
    match field.field_type.as_str() {
        "crm_lead" => Some(1),
        "crm_deal" => Some(2),
        "crm_contact" => Some(3),
        "crm_company" => Some(4),
        "crm_quote" => Some(7),
        "crm_entity" if field.is_parent_link() => field.name.strip_prefix("parentId")?.parse().ok(),
        _ => None,
    }
}

/// References that point at nothing: every system field the `crm.item.add` page documents as a
/// link (`user`: `assignedById`, `observers`; `crm_company`: `companyId`, `companyIds`,
/// `mycompanyId`; `crm_contact`: `contactId`, `contactIds`; `crm_lead` `leadId`; `crm_deal`
/// `dealId`; `crm_quote` `quoteId`; `crm_entity`: `parentId{N}`) must name an existing user or
/// item, else HTTP 400 `CRM_FIELD_ERROR_VALUE_NOT_VALID` naming the field (the page's error for
/// "incorrect value for field").
///
/// The page documents each of these as the identifier *of* an existing record ("Identifier of
/// the company linked to the entity") without naming the refusal; the portal's core checks
/// links it can resolve, and its answer for a value it refuses is the page's value error, so
/// that is the answer here. `0` is "no link" (what the core stores for an empty link). Custom
/// fields are not checked (their links are `CO_3`-style strings the core does not resolve on
/// write). With [`ItemRules::accept_dangling_refs`] nothing here is checked.
pub(super) fn check_references(
    items: &HashMap<u64, BTreeMap<u64, Item>>,
    users: &BTreeMap<u64, User>,
    schema: &EntitySchema,
    values: &Map<String, Value>,
    original: bool,
) -> Result<(), MethodError> {
    for field in schema.fields.iter().filter(|f| !f.dynamic && !f.read_only) {
        let Some(v) = values.get(&field.name) else { continue };
        let ids: Vec<u64> = match v {
            Value::Array(a) => a.iter().filter_map(as_u64).collect(),
            other => as_u64(other).into_iter().collect(),
        };
        let exists = |id: u64| match (field.field_type.as_str(), link_target(field)) {
            ("user", _) => users.contains_key(&id),
            (_, Some(etid)) => items.get(&etid).is_some_and(|m| m.contains_key(&id)),
            _ => true,
        };
        if ids.into_iter().filter(|id| *id != 0).any(|id| !exists(id)) {
            return Err(not_valid(field, original));
        }
    }
    Ok(())
}
