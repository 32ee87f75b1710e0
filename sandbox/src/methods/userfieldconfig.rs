//! Custom fields of any entity through `userfieldconfig.add/list/get/update` (§6); the field
//! store and the `LIST` rules are `userfield`'s.
//!
//! `userfieldconfig.update` (its page): `moduleId` `crm`, `id`, `field` with camelCase keys;
//! `enum` changes the items only when `field.userTypeId` is `enumeration`; the answer is
//! `{field}` as `userfieldconfig.get` shows it; a field it cannot change (unknown id) is `""`
//! "You cannot change the settings of the user field". Unlike `LIST`, `enum` is the **whole**
//! list (the portal's core, `../shared/bitrix24.md` §6 **[core]**): an item it leaves out is
//! deleted, and so is an item sent as `{id}` alone (no value) or with `del = Y`; an item sent
//! with its `id` and `value` stays (its `xmlId` the one sent, or the value's hash when none is);
//! an entry without `id` is a new item.
//!
//! `userfieldconfig.list` returns no `enum` (its page's `select` has none; the items are read
//! with `userfieldconfig.get`).

use serde_json::{Map, Value, json};

use super::userfield::{
    NewField, add_field, apply_list, lang_json, legacy, locate_uf, merge_settings, value_hash, yn,
};
use super::{
    Call, MethodError, MethodResult, Output, as_i64, as_text, as_u64, is_yes, object, param, php_array,
};
use crate::schema::{EnumItem, FieldDef, LABEL_KINDS, LANGUAGES};
use crate::state::State;

/// The row `userfieldconfig.*` returns (camelCase, ids and sorts as strings, labels per
/// language), as the `userfieldconfig.get/update` pages show it.
fn config_row(f: &FieldDef) -> Value {
    let mut row = config_row_without_enum(f);
    if f.field_type == "enumeration" {
        let uf_id = f.uf.as_ref().map(|u| u.id).unwrap_or_default();
        row["enum"] = Value::Array(
            f.items
                .iter()
                .map(|i| {
                    json!({"id": i.id.to_string(), "userFieldId": uf_id.to_string(), "value": i.value, "def": yn(i.def), "sort": i.sort.to_string(), "xmlId": i.xml_id})
                })
                .collect(),
        );
    }
    row
}

/// The row of `userfieldconfig.list`: as `get` shows it, without `enum`.
fn config_row_without_enum(f: &FieldDef) -> Value {
    let uf = f.uf.as_ref().expect("only custom fields are listed");
    let mut row = json!({
        "id": uf.id.to_string(),
        "entityId": uf.entity_id,
        "fieldName": f.upper_name,
        "userTypeId": f.field_type,
        "xmlId": uf.xml_id,
        "sort": uf.sort.to_string(),
        "multiple": yn(f.multiple),
        "mandatory": yn(f.required),
        "showFilter": yn(uf.show_filter),
        "showInList": yn(uf.show_in_list),
        "editInList": yn(uf.edit_in_list),
        "isSearchable": yn(uf.is_searchable),
        "settings": uf.settings,
        "languageId": Value::Object(LANGUAGES.iter().map(|l| ((*l).to_string(), json!(l))).collect()),
    });
    for (kind, key) in LABEL_KINDS.iter().zip([
        "editFormLabel",
        "listColumnLabel",
        "listFilterLabel",
        "errorMessage",
        "helpMessage",
    ]) {
        row[key] = lang_json(&uf.label_map(kind));
    }
    row
}

/// `userfieldconfig.update`'s `enum` as the whole list (module docs): the items it names with
/// an `id` and a `value` stay (changed as sent), every other item goes, entries without `id`
/// are added.
fn whole_list(
    items: &[EnumItem],
    entries: &[Value],
    next_enum: &mut u64,
    multiple: bool,
) -> Result<Vec<EnumItem>, MethodError> {
    let get = |o: &Map<String, Value>, k: &str| o.get(k).cloned();
    let mut kept: Vec<EnumItem> = Vec::new();
    let mut new: Vec<&Value> = Vec::new();
    let mut changes: Vec<Value> = Vec::new();
    for e in entries {
        let Some(o) = e.as_object() else { continue };
        match get(o, "ID").as_ref().and_then(as_u64) {
            None => new.push(e),
            Some(id) => {
                let value = get(o, "VALUE").as_ref().and_then(as_text).filter(|v| !v.trim().is_empty());
                let Some(item) = items.iter().find(|i| i.id == id) else { continue };
                if value.is_none() || is_yes(o.get("DEL")) || kept.iter().any(|k| k.id == id) {
                    continue;
                }
                let mut change = o.clone();
                if get(o, "XML_ID").as_ref().and_then(as_text).is_none_or(|x| x.is_empty()) {
                    change.insert("XML_ID".into(), json!(value_hash(value.as_deref().unwrap_or_default())));
                }
                kept.push(item.clone());
                changes.push(Value::Object(change));
            }
        }
    }
    let mut list: Vec<&Value> = changes.iter().collect();
    list.extend(new);
    apply_list(&mut kept, &list, next_enum, multiple)?;
    Ok(kept)
}

fn entity_from_uf_entity_id(state: &State, entity_id: &str) -> Option<u64> {
    Some(match entity_id {
        "CRM_LEAD" => 1,
        "CRM_DEAL" => 2,
        "CRM_CONTACT" => 3,
        "CRM_COMPANY" => 4,
        "CRM_QUOTE" => 7,
        "CRM_SMART_INVOICE" => 31,
        other => {
            let type_id: u64 = other.strip_prefix("CRM_")?.parse().ok()?;
            state.meta.types.get(&type_id)?.entity_type_id
        }
    })
}

fn module_id(c: &Call) -> Result<(), MethodError> {
    match param(c.params, "moduleId").and_then(as_text) {
        Some(m) if m == "crm" => Ok(()),
        // The pages' error tables (userfieldconfig-get/list/update.md): a module whose user
        // fields have no access settings, with an empty code.
        Some(_) => Err(legacy("No settings for UserFieldAccess")),
        None => Err(MethodError::bad("ERROR_ARGUMENT", "Parameter moduleId is required")),
    }
}

/// `enum` entries of `userfieldconfig.*` (camelCase) as `LIST` entries.
fn enum_as_list(entries: Vec<&Value>) -> Vec<Value> {
    entries
        .into_iter()
        .map(|e| {
            let o = e.as_object().cloned().unwrap_or_default();
            let mut out = Map::new();
            for (from, to) in [
                ("id", "ID"),
                ("value", "VALUE"),
                ("def", "DEF"),
                ("sort", "SORT"),
                ("xmlId", "XML_ID"),
                ("del", "DEL"),
            ] {
                if let Some(v) = o.get(from) {
                    out.insert(to.into(), v.clone());
                }
            }
            Value::Object(out)
        })
        .collect()
}

/// The camelCase label keys of `userfieldconfig.*` and the kinds they set.
const CONFIG_LABELS: [(&str, &str); 5] = [
    ("editFormLabel", "EDIT_FORM_LABEL"),
    ("listColumnLabel", "LIST_COLUMN_LABEL"),
    ("listFilterLabel", "LIST_FILTER_LABEL"),
    ("errorMessage", "ERROR_MESSAGE"),
    ("helpMessage", "HELP_MESSAGE"),
];

/// `userfieldconfig.add` (`api-reference/crm/universal/userfieldconfig/userfieldconfig-add.md`):
/// `field.entityId` is `CRM_LEAD`…, or `CRM_{id}` with an SPA's type id. Every refusal is
/// HTTP 400 with an empty `error` code, as the page's table lists them:
/// - `field.fieldName` missing: "The 'FIELD_NAME' field is not found";
/// - `field.userTypeId` missing: "The 'USER_TYPE_ID' field is not found";
/// - a name that does not start with the entity's prefix: "You cannot create custom fields".
///   The page gives the prefix as `UF_{entityId}_`: `UF_CRM_7_` for `CRM_7`, and
///   `UF_CRM_SMART_INVOICE_` for invoices (the other types built on the same dynamic-type
///   factory). For lead, deal, contact, company and quote the portal names custom fields
///   `UF_CRM_…` whatever the entity (the `crm.{entity}.userfield.add` pages prefix `UF_CRM_`),
///   so their prefix is `UF_CRM_`. An `entityId` the CRM does not know fails the same access
///   check (the portal's CRM user-field access answers "cannot create" for it) and gets the
///   same text;
/// - a name in use for the entity: "Field … already exists", and the core's other name and type
///   checks (characters, length, an unknown type), whose texts the page leaves open.
pub(crate) fn config_add(c: &mut Call) -> MethodResult {
    module_id(c)?;
    let field = object(param(c.params, "field"));
    let text = |k: &str| field.get(k).and_then(as_text).filter(|v| !v.trim().is_empty());
    let Some(upper) = text("fieldName") else {
        return Err(legacy("The 'FIELD_NAME' field is not found"));
    };
    let Some(user_type) = text("userTypeId") else {
        return Err(legacy("The 'USER_TYPE_ID' field is not found"));
    };
    let entity_id = text("entityId").unwrap_or_default();
    let etid = entity_from_uf_entity_id(c.state, &entity_id).ok_or_else(cannot_create)?;
    if !upper.starts_with(&name_prefix(&entity_id)) {
        return Err(cannot_create());
    }
    let list = enum_as_list(field.get("enum").and_then(php_array).unwrap_or_default());
    let labels =
        CONFIG_LABELS.iter().filter_map(|(key, kind)| field.get(*key).map(|v| (*kind, v.clone()))).collect();
    let nf = NewField {
        entity_type_id: etid,
        entity_id,
        upper: upper.clone(),
        user_type,
        multiple: is_yes(field.get("multiple")),
        mandatory: is_yes(field.get("mandatory")),
        show_filter: is_yes(field.get("showFilter")),
        labels,
        xml_id: field.get("xmlId").and_then(as_text).unwrap_or_default(),
        sort: field.get("sort").and_then(as_i64).unwrap_or(100),
        settings: field.get("settings").cloned().filter(Value::is_object).unwrap_or(json!({})),
        list: list.iter().collect(),
    };
    // The core's checks answer through the same controller: an empty code (the page's table).
    let id = add_field(c.state, nf).map_err(|e| legacy(e.description))?;
    let (owner, pos) = locate_uf(c.state, id).expect("just added");
    Ok(Output::new(json!({ "field": config_row(&c.state.meta.schemas[&owner].fields[pos]) })))
}

/// The page's "You cannot create custom fields" (the access check of a new field).
fn cannot_create() -> MethodError {
    legacy("You cannot create custom fields")
}

/// The prefix a new field's name must have on `entity_id` (see [`config_add`]).
fn name_prefix(entity_id: &str) -> String {
    match entity_id {
        "CRM_LEAD" | "CRM_DEAL" | "CRM_CONTACT" | "CRM_COMPANY" | "CRM_QUOTE" => "UF_CRM_".to_string(),
        other => format!("UF_{other}_"),
    }
}

fn config_denied() -> MethodError {
    legacy("You cannot change the settings of the user field")
}

/// `userfieldconfig.get`: `{field}`; an unknown id is the page's empty-code refusal "You do not
/// have permission to view user field settings" (the page: also for a field deleted or not
/// available in the module's context).
pub(crate) fn config_get(c: &mut Call) -> MethodResult {
    module_id(c)?;
    let id = param(c.params, "id").and_then(as_u64).unwrap_or(0);
    let (owner, pos) = locate_uf(c.state, id)
        .ok_or_else(|| legacy("You do not have permission to view user field settings"))?;
    Ok(Output::new(json!({ "field": config_row(&c.state.meta.schemas[&owner].fields[pos]) })))
}

/// `userfieldconfig.update`: see the module documentation; answers `{field}` as `get` does.
pub(crate) fn config_update(c: &mut Call) -> MethodResult {
    module_id(c)?;
    let id = param(c.params, "id").and_then(as_u64).unwrap_or(0);
    let (owner, pos) = locate_uf(c.state, id).ok_or_else(config_denied)?;
    let sent = object(param(c.params, "field"));
    let state = &mut *c.state;
    let mut next_enum = state.counters.enum_item;
    let field = &mut state.meta.schemas.get_mut(&owner).expect("located").fields[pos];
    let user_type = field.field_type.clone();
    let multiple = field.multiple;
    let uf = field.uf.as_mut().expect("located by uf id");
    for (key, kind) in CONFIG_LABELS {
        if let Some(v) = sent.get(key) {
            uf.set_label(kind, v);
        }
    }
    if let Some(v) = sent.get("sort").and_then(as_i64).filter(|s| *s > 0) {
        uf.sort = v;
    }
    if let Some(v) = sent.get("xmlId").and_then(as_text) {
        uf.xml_id = v;
    }
    if let Some(v) = sent.get("showFilter") {
        uf.show_filter = is_yes(Some(v));
    }
    if let Some(v) = sent.get("isSearchable") {
        uf.is_searchable = is_yes(Some(v));
    }
    if let Some(v) = sent.get("settings") {
        uf.settings = merge_settings(&uf.settings, v, &user_type);
    }
    if !uf.label.is_empty() {
        field.title = uf.label.clone();
    }
    if let Some(v) = sent.get("mandatory") {
        field.required = is_yes(Some(v));
    }
    let enum_allowed = sent.get("userTypeId").and_then(as_text).as_deref() == Some("enumeration");
    if user_type == "enumeration"
        && enum_allowed
        && let Some(entries) = sent.get("enum").and_then(php_array)
    {
        let list = enum_as_list(entries);
        field.items = whole_list(&field.items, &list, &mut next_enum, multiple)?;
    }
    let out = config_row(field);
    state.counters.enum_item = next_enum;
    state.touch_meta();
    Ok(Output::new(json!({ "field": out })))
}

/// `userfieldconfig.list`: `filter` on the camelCase row fields.
pub(crate) fn config_list(c: &mut Call) -> MethodResult {
    module_id(c)?;
    let filter = object(param(c.params, "filter"));
    let rows: Vec<Value> = c
        .state
        .meta
        .schemas
        .values()
        .flat_map(|s| s.fields.iter().filter(|f| f.uf.is_some()).map(config_row_without_enum))
        .filter(|r| {
            filter.iter().all(|(k, want)| {
                let have = r.get(k).and_then(as_text).unwrap_or_default();
                as_text(want).is_some_and(|w| w.eq_ignore_ascii_case(&have))
            })
        })
        .collect();
    let (start, count) = super::start_param(c.params);
    let (page, total, next) = super::page(&rows, start, count);
    Ok(Output::list(json!({ "fields": page }), total, next))
}
