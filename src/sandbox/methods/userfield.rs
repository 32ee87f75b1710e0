//! Custom fields: `crm.{lead,deal,contact,company}.userfield.list/get/add/update` and
//! `userfieldconfig.add/list/get/update` (§6). A field added here appears in `crm.item.fields`
//! at once.
//!
//! `FIELD_NAME` gets `UF_CRM_` prefixed, is upper-cased, must be `A-Z0-9_` and at most 50
//! characters (`ERROR_CORE` otherwise); booleans cannot be multiple; `LIST` items follow the
//! ID/DEL/VALUE/XML_ID/SORT semantics with `XML_ID` unique within the field.
//!
//! `crm.{entity}.userfield.update` follows its page (`crm.contact.userfield.update`):
//! - `fields` missing or not an object: `""` "Parameter 'fields' must be array"; `id` missing
//!   or not a positive number: `""` "ID is not defined or invalid"; an id of no field:
//!   `ERROR_NOT_FOUND`; a field of another entity: `""` "Access denied." (all HTTP 400);
//! - only the documented keys change (`MANDATORY`, `SHOW_FILTER`, `XML_ID`, `SETTINGS`, `LIST`,
//!   `SORT`, `SHOW_IN_LIST`, `EDIT_IN_LIST`, `IS_SEARCHABLE` and the five labels), others are
//!   ignored;
//! - `SETTINGS` is merged key by key, and only the keys the page lists for the field's type
//!   change: `ROWS` is clamped to 1..=50, an invalid `PRECISION` becomes 2, a boolean's
//!   `DEFAULT_VALUE` becomes 0/1, an invalid date default becomes `{VALUE:'', TYPE:'NONE'}`,
//!   a `LIST_HEIGHT` below 1 becomes 1, an unknown `DISPLAY` is ignored;
//! - `SORT` must be greater than zero: any other value is ignored (the old one stays);
//! - labels are kept per language (a string sets every language, a map sets the languages it
//!   names and `''` for the others) and overwrite the old value whole;
//! - `LIST`: an entry without `ID` adds an item (an empty `VALUE` adds nothing; `XML_ID`
//!   defaults to a hash of the value), an entry with `ID` changes only that item, or deletes
//!   it with `DEL = Y`; items not named stay as they are; a duplicate `XML_ID` is `ERROR_CORE`
//!   "List item with value XML_ID=… already exists"; on a single-value field the first
//!   `DEF = Y` wins.
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

use super::{
    Call, MethodError, MethodResult, Output, as_i64, as_text, as_u64, is_yes, object, param, php_array,
};
use crate::sandbox::schema::{self, EnumItem, FieldDef, LABEL_KINDS, LANGUAGES, UfMeta};
use crate::sandbox::state::State;

const TYPES: [&str; 16] = [
    "string",
    "integer",
    "double",
    "boolean",
    "datetime",
    "date",
    "money",
    "url",
    "address",
    "enumeration",
    "file",
    "employee",
    "crm_status",
    "iblock_section",
    "iblock_element",
    "crm",
];

fn core(description: impl Into<String>) -> MethodError {
    MethodError::bad("ERROR_CORE", description)
}

fn legacy(description: impl Into<String>) -> MethodError {
    MethodError::bad("", description)
}

fn yn(b: bool) -> &'static str {
    if b { "Y" } else { "N" }
}

fn lang_json(m: &std::collections::BTreeMap<String, String>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
}

/// The row `crm.*.userfield.list/get` returns: labels as text in `lang` (list), or as
/// per-language maps when `lang` is `None` (get).
fn uf_row(f: &FieldDef, lang: Option<&str>) -> Value {
    let uf = f.uf.as_ref().expect("only custom fields are listed");
    let mut row = json!({
        "ID": uf.id.to_string(),
        "ENTITY_ID": uf.entity_id,
        "FIELD_NAME": f.upper_name,
        "USER_TYPE_ID": f.field_type,
        "XML_ID": uf.xml_id,
        "SORT": uf.sort.to_string(),
        "MULTIPLE": yn(f.multiple),
        "MANDATORY": yn(f.required),
        "SHOW_FILTER": yn(uf.show_filter),
        "SHOW_IN_LIST": yn(uf.show_in_list),
        "EDIT_IN_LIST": yn(uf.edit_in_list),
        "IS_SEARCHABLE": yn(uf.is_searchable),
        "SETTINGS": uf.settings,
    });
    for kind in LABEL_KINDS {
        row[kind] = match lang {
            Some(l) => json!(uf.label_in(kind, l)),
            None => lang_json(&uf.label_map(kind)),
        };
    }
    if f.field_type == "enumeration" {
        row["LIST"] = Value::Array(
            f.items
                .iter()
                .map(|i| {
                    json!({"ID": i.id.to_string(), "SORT": i.sort.to_string(), "VALUE": i.value, "DEF": yn(i.def), "XML_ID": i.xml_id})
                })
                .collect(),
        );
    }
    row
}

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

/// The `XML_ID` a list item gets when none is sent: a hash of its value (the portal uses the
/// value's md5), so the same value twice collides.
fn value_hash(value: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(value.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Applies `LIST` entries (ID/DEL/VALUE/DEF/SORT/XML_ID; keys in any case) to enumeration
/// items: without `ID` an item is added, with `ID` only that item changes (or goes, `DEL=Y`).
fn apply_list(
    items: &mut Vec<EnumItem>,
    entries: &[&Value],
    next_enum: &mut u64,
    multiple: bool,
) -> Result<(), MethodError> {
    let mut def_taken = false;
    for e in entries {
        let Some(o) = e.as_object() else { continue };
        let get = |k: &str| o.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v);
        let id = get("ID").and_then(as_u64);
        let value = get("VALUE").and_then(as_text);
        let sort = get("SORT").and_then(as_i64).filter(|s| *s >= 0);
        let def = get("DEF").map(|d| is_yes(Some(d)));
        let wants_def = def == Some(true) && (multiple || !def_taken);
        let pos = match id {
            Some(id) => {
                let Some(pos) = items.iter().position(|i| i.id == id) else { continue };
                if is_yes(get("DEL")) {
                    items.remove(pos);
                    continue;
                }
                let it = &mut items[pos];
                if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
                    it.value = v;
                }
                if let Some(s) = sort {
                    it.sort = s;
                }
                if def == Some(false) {
                    it.def = false;
                }
                if let Some(x) = get("XML_ID").and_then(as_text).filter(|x| !x.is_empty()) {
                    it.xml_id = x;
                }
                pos
            }
            None => {
                let Some(value) = value.filter(|v| !v.trim().is_empty()) else { continue };
                *next_enum += 1;
                let xml_id = get("XML_ID")
                    .and_then(as_text)
                    .filter(|x| !x.is_empty())
                    .unwrap_or_else(|| value_hash(&value));
                items.push(EnumItem { id: *next_enum, value, def: false, sort: sort.unwrap_or(500), xml_id });
                items.len() - 1
            }
        };
        if wants_def {
            def_taken = true;
            if !multiple {
                items.iter_mut().for_each(|i| i.def = false);
            }
            items[pos].def = true;
        }
    }
    let mut seen = std::collections::HashSet::new();
    for i in items.iter() {
        if !seen.insert(i.xml_id.as_str()) {
            return Err(core(format!("List item with value XML_ID={} already exists", i.xml_id)));
        }
    }
    Ok(())
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

/// The `SETTINGS` keys `crm.contact.userfield.update` can change, per field type (its page).
fn settable(user_type: &str) -> &'static [&'static str] {
    match user_type {
        "string" => &["DEFAULT_VALUE", "ROWS"],
        "integer" => &["DEFAULT_VALUE"],
        "double" => &["DEFAULT_VALUE", "PRECISION"],
        "boolean" => &["DEFAULT_VALUE", "DISPLAY"],
        "date" | "datetime" => &["DEFAULT_VALUE"],
        "enumeration" => &["DISPLAY", "LIST_HEIGHT"],
        "iblock_section" | "iblock_element" => {
            &["IBLOCK_TYPE_ID", "IBLOCK_ID", "DEFAULT_VALUE", "DISPLAY", "LIST_HEIGHT", "ACTIVE_FILTER"]
        }
        "crm_status" => &["ENTITY_TYPE"],
        "crm" => &["LEAD", "CONTACT", "COMPANY", "DEAL"],
        _ => &[],
    }
}

/// One settings value as the page normalizes it (`None`: ignored, the old value stays).
fn setting_value(user_type: &str, key: &str, v: &Value) -> Option<Value> {
    Some(match (user_type, key) {
        ("string", "ROWS") => json!(as_i64(v).unwrap_or(1).clamp(1, 50)),
        ("double", "PRECISION") => json!(as_i64(v).filter(|p| *p >= 0).unwrap_or(2)),
        ("boolean", "DEFAULT_VALUE") => json!(i64::from(as_i64(v).unwrap_or(0) >= 1)),
        ("boolean", "DISPLAY") => {
            let d = as_text(v)?.to_ascii_uppercase();
            ["CHECKBOX", "RADIO", "DROPDOWN"].contains(&d.as_str()).then(|| json!(d))?
        }
        ("date" | "datetime", "DEFAULT_VALUE") => {
            let ty = v.get("TYPE").and_then(as_text).map(|t| t.to_ascii_uppercase());
            match ty.as_deref() {
                Some(t @ ("NONE" | "NOW" | "FIXED")) => {
                    json!({"VALUE": v.get("VALUE").and_then(as_text).unwrap_or_default(), "TYPE": t})
                }
                _ => json!({"VALUE": "", "TYPE": "NONE"}),
            }
        }
        (_, "DISPLAY") => {
            let d = as_text(v)?.to_ascii_uppercase();
            ["LIST", "UI", "CHECKBOX", "DIALOG"].contains(&d.as_str()).then(|| json!(d))?
        }
        (_, "LIST_HEIGHT") => json!(as_i64(v).unwrap_or(1).max(1)),
        (_, "LEAD" | "CONTACT" | "COMPANY" | "DEAL" | "ACTIVE_FILTER") => json!(yn(is_yes(Some(v)))),
        _ => v.clone(),
    })
}

/// Merges sent settings into the stored ones: only the keys [`settable`] lists change.
fn merge_settings(old: &Value, sent: &Value, user_type: &str) -> Value {
    let mut out = match old {
        Value::Object(o) => o.clone(),
        _ => Map::new(),
    };
    if let Value::Object(sent) = sent {
        for (k, v) in sent {
            let key = k.to_ascii_uppercase();
            if !settable(user_type).contains(&key.as_str()) {
                continue;
            }
            if let Some(v) = setting_value(user_type, &key, v) {
                out.insert(key, v);
            }
        }
    }
    Value::Object(out)
}

/// What a new custom field needs, whichever method adds it.
struct NewField<'a> {
    entity_type_id: u64,
    entity_id: String,
    upper: String,
    user_type: String,
    multiple: bool,
    mandatory: bool,
    show_filter: bool,
    /// Label kinds as sent (string or per-language map).
    labels: Vec<(&'static str, Value)>,
    xml_id: String,
    sort: i64,
    settings: Value,
    list: Vec<&'a Value>,
}

fn add_field(state: &mut State, nf: NewField) -> Result<u64, MethodError> {
    let mut errors = Vec::new();
    if !TYPES.contains(&nf.user_type.as_str()) {
        errors.push(format!("Unknown user type \"{}\"", nf.user_type));
    }
    if nf.upper.len() > 50 {
        errors.push(format!("Field name {} is longer than 50 characters", nf.upper));
    }
    if !nf.upper.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
        errors.push(format!("Field name {} may contain only A-Z, 0-9 and _", nf.upper));
    }
    let exists = state.meta.schemas.values().any(|s| {
        s.fields
            .iter()
            .any(|f| f.upper_name == nf.upper && f.uf.as_ref().is_some_and(|u| u.entity_id == nf.entity_id))
    });
    if exists {
        errors.push(format!("Field {} already exists", nf.upper));
    }
    if !errors.is_empty() {
        return Err(core(errors.join("; ")));
    }
    state.counters.uf += 1;
    let id = state.counters.uf;
    let multiple = nf.multiple && nf.user_type != "boolean";
    let mut uf = UfMeta::new(id, nf.entity_id, String::new());
    uf.xml_id = nf.xml_id;
    uf.sort = if nf.sort > 0 { nf.sort } else { 100 };
    uf.show_filter = nf.show_filter;
    uf.settings = nf.settings;
    for (kind, v) in &nf.labels {
        uf.set_label(kind, v);
    }
    let mut field = FieldDef::custom(&nf.upper, &nf.user_type, multiple, uf);
    field.required = nf.mandatory;
    if field.field_type == "enumeration" {
        apply_list(&mut field.items, &nf.list, &mut state.counters.enum_item, multiple)?;
    }
    let schema = state
        .meta
        .schemas
        .get_mut(&nf.entity_type_id)
        .ok_or_else(|| MethodError::bad("NOT_FOUND", "SPA not found"))?;
    schema.fields.push(field);
    state.touch_meta();
    Ok(id)
}

fn entity_of(c: &Call) -> u64 {
    // The dispatcher only routes crm.{lead,deal,contact,company}.userfield.* here.
    super::userfield_entity(c.method).unwrap_or(3)
}

/// `crm.{entity}.userfield.add`: answers the new field id.
pub(crate) fn crm_add(c: &mut Call) -> MethodResult {
    let etid = entity_of(c);
    let fields = object(param(c.params, "fields"));
    let get = |k: &str| fields.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v);
    let name = get("FIELD_NAME").and_then(as_text).unwrap_or_default().to_ascii_uppercase();
    if name.is_empty() {
        return Err(core("Field name is not set"));
    }
    let upper = if name.starts_with("UF_CRM_") { name } else { format!("UF_CRM_{name}") };
    let user_type =
        get("USER_TYPE_ID").and_then(as_text).unwrap_or_else(|| "string".into()).to_ascii_lowercase();
    let list = get("LIST").and_then(php_array).unwrap_or_default();
    let mut labels: Vec<(&'static str, Value)> =
        LABEL_KINDS.iter().filter_map(|k| get(k).map(|v| (*k, v.clone()))).collect();
    if !labels.iter().any(|(k, _)| *k == "EDIT_FORM_LABEL")
        && let Some(l) = get("LABEL")
    {
        labels.push(("EDIT_FORM_LABEL", l.clone()));
    }
    let nf = NewField {
        entity_type_id: etid,
        entity_id: schema::uf_entity_id(etid, None),
        upper,
        user_type,
        multiple: is_yes(get("MULTIPLE")),
        mandatory: is_yes(get("MANDATORY")),
        show_filter: get("SHOW_FILTER").is_none_or(|v| is_yes(Some(v))),
        labels,
        xml_id: get("XML_ID").and_then(as_text).unwrap_or_default(),
        sort: get("SORT").and_then(as_i64).unwrap_or(100),
        settings: get("SETTINGS").cloned().filter(Value::is_object).unwrap_or(json!({})),
        list,
    };
    let id = add_field(c.state, nf)?;
    Ok(Output::new(json!(id)))
}

/// Finds a user field by id in any entity: (entityTypeId, index in its schema).
fn locate_uf(state: &State, id: u64) -> Option<(u64, usize)> {
    state.meta.schemas.iter().find_map(|(etid, s)| {
        s.fields.iter().position(|f| f.uf.as_ref().is_some_and(|u| u.id == id)).map(|pos| (*etid, pos))
    })
}

/// The field `id` of entity `etid` for the per-entity methods: `ERROR_NOT_FOUND` when no field
/// has that id, `""` "Access denied." when it belongs to another entity (the page's table).
fn crm_field(c: &Call, etid: u64) -> Result<(u64, usize), MethodError> {
    let id = param(c.params, "id")
        .and_then(as_i64)
        .filter(|id| *id > 0)
        .ok_or_else(|| legacy("ID is not defined or invalid"))? as u64;
    let (owner, pos) = locate_uf(c.state, id).ok_or_else(|| {
        MethodError::bad("ERROR_NOT_FOUND", format!("The entity with ID '{id}' is not found"))
    })?;
    if owner != etid {
        return Err(legacy("Access denied."));
    }
    Ok((owner, pos))
}

/// `crm.{entity}.userfield.update`: see the module documentation for the rules.
pub(crate) fn crm_update(c: &mut Call) -> MethodResult {
    let etid = entity_of(c);
    let Some(Value::Object(fields)) = param(c.params, "fields").cloned() else {
        return Err(legacy("Parameter 'fields' must be array"));
    };
    let (owner, pos) = crm_field(c, etid)?;
    let get = |k: &str| fields.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v);
    let state = &mut *c.state;
    let mut next_enum = state.counters.enum_item;
    let field = &mut state.meta.schemas.get_mut(&owner).expect("located").fields[pos];
    let user_type = field.field_type.clone();
    let multiple = field.multiple;
    let uf = field.uf.as_mut().expect("located by uf id");
    for kind in LABEL_KINDS {
        if let Some(v) = get(kind) {
            uf.set_label(kind, v);
        }
    }
    if let Some(v) = get("SORT").and_then(as_i64).filter(|s| *s > 0) {
        uf.sort = v;
    }
    if let Some(v) = get("XML_ID").and_then(as_text) {
        uf.xml_id = v;
    }
    if let Some(v) = get("SHOW_FILTER") {
        uf.show_filter = is_yes(Some(v));
    }
    if let Some(v) = get("SHOW_IN_LIST") {
        uf.show_in_list = is_yes(Some(v));
    }
    if let Some(v) = get("EDIT_IN_LIST") {
        uf.edit_in_list = is_yes(Some(v));
    }
    if let Some(v) = get("IS_SEARCHABLE") {
        uf.is_searchable = is_yes(Some(v));
    }
    if let Some(v) = get("SETTINGS") {
        uf.settings = merge_settings(&uf.settings, v, &user_type);
    }
    let label = uf.label.clone();
    if !label.is_empty() {
        field.title = label;
    }
    if let Some(v) = get("MANDATORY") {
        field.required = is_yes(Some(v));
    }
    if user_type == "enumeration"
        && let Some(list) = get("LIST").and_then(php_array)
    {
        let mut items = field.items.clone();
        apply_list(&mut items, &list, &mut next_enum, multiple)?;
        field.items = items;
    }
    state.counters.enum_item = next_enum;
    state.touch_meta();
    Ok(Output::new(json!(true)))
}

/// `crm.{entity}.userfield.get`: labels per language.
pub(crate) fn crm_get(c: &mut Call) -> MethodResult {
    let etid = entity_of(c);
    let (owner, pos) = crm_field(c, etid)?;
    Ok(Output::new(uf_row(&c.state.meta.schemas[&owner].fields[pos], None)))
}

fn simple_filter(row: &Value, filter: &Map<String, Value>) -> bool {
    filter.iter().all(|(k, want)| {
        let have =
            row.get(k.to_ascii_uppercase()).or_else(|| row.get(k)).and_then(as_text).unwrap_or_default();
        as_text(want).is_some_and(|w| w.eq_ignore_ascii_case(&have))
    })
}

/// `crm.{entity}.userfield.list`: exact-match `filter` (`LANG` picks the labels' language,
/// `en` by default), `order` by ID/FIELD_NAME/USER_TYPE_ID/XML_ID/SORT.
pub(crate) fn crm_list(c: &mut Call) -> MethodResult {
    let etid = entity_of(c);
    let mut filter = object(param(c.params, "filter"));
    let lang_key = filter.keys().find(|k| k.eq_ignore_ascii_case("LANG")).cloned();
    let lang =
        lang_key.and_then(|k| filter.remove(&k)).and_then(|v| as_text(&v)).unwrap_or_else(|| "en".into());
    let schema = &c.state.meta.schemas[&etid];
    let mut rows: Vec<Value> = schema
        .fields
        .iter()
        .filter(|f| f.uf.is_some())
        .map(|f| uf_row(f, Some(&lang)))
        .filter(|r| simple_filter(r, &filter))
        .collect();
    let order = object(param(c.params, "order"));
    if let Some((k, dir)) = order.iter().next() {
        let key = k.to_ascii_uppercase();
        let kind = if key == "ID" || key == "SORT" {
            super::filter::Kind::Number
        } else {
            super::filter::Kind::Text
        };
        let desc = dir.as_str().is_some_and(|d| d.eq_ignore_ascii_case("DESC"));
        rows.sort_by(|a, b| {
            let o = super::filter::compare(kind, &a[key.as_str()], &b[key.as_str()]);
            if desc { o.reverse() } else { o }
        });
    }
    let total = rows.len() as u64;
    Ok(Output::list(Value::Array(rows), total, None))
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
        Some(m) => Err(MethodError::bad("ERROR_ARGUMENT", format!("Module {m} is not supported"))),
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

/// `userfieldconfig.add`: `field.entityId` is `CRM_LEAD`…, or `CRM_{id}` with an SPA's type id.
pub(crate) fn config_add(c: &mut Call) -> MethodResult {
    module_id(c)?;
    let field = object(param(c.params, "field"));
    let entity_id = field.get("entityId").and_then(as_text).unwrap_or_default();
    let etid = entity_from_uf_entity_id(c.state, &entity_id)
        .ok_or_else(|| MethodError::bad("ERROR_ARGUMENT", format!("Unknown entityId \"{entity_id}\"")))?;
    let upper = field.get("fieldName").and_then(as_text).unwrap_or_default();
    if !upper.starts_with("UF_") {
        return Err(core(format!("Field name \"{upper}\" must start with UF_")));
    }
    let list = enum_as_list(field.get("enum").and_then(php_array).unwrap_or_default());
    let labels =
        CONFIG_LABELS.iter().filter_map(|(key, kind)| field.get(*key).map(|v| (*kind, v.clone()))).collect();
    let nf = NewField {
        entity_type_id: etid,
        entity_id,
        upper: upper.clone(),
        user_type: field.get("userTypeId").and_then(as_text).unwrap_or_default(),
        multiple: is_yes(field.get("multiple")),
        mandatory: is_yes(field.get("mandatory")),
        show_filter: is_yes(field.get("showFilter")),
        labels,
        xml_id: field.get("xmlId").and_then(as_text).unwrap_or_default(),
        sort: field.get("sort").and_then(as_i64).unwrap_or(100),
        settings: field.get("settings").cloned().filter(Value::is_object).unwrap_or(json!({})),
        list: list.iter().collect(),
    };
    let id = add_field(c.state, nf)?;
    let (owner, pos) = locate_uf(c.state, id).expect("just added");
    Ok(Output::new(json!({ "field": config_row(&c.state.meta.schemas[&owner].fields[pos]) })))
}

fn config_denied() -> MethodError {
    legacy("You cannot change the settings of the user field")
}

/// `userfieldconfig.get`: `{field}`; an unknown id is an empty-code error.
pub(crate) fn config_get(c: &mut Call) -> MethodResult {
    module_id(c)?;
    let id = param(c.params, "id").and_then(as_u64).unwrap_or(0);
    let (owner, pos) = locate_uf(c.state, id).ok_or_else(|| legacy("User field not found"))?;
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
