//! Custom fields: `crm.{lead,deal,contact,company}.userfield.list/get/add/update` (§6), and the
//! field store `userfieldconfig` shares. A field added here appears in `crm.item.fields` at once.
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
//! The `userfieldconfig.*` methods are in `userfieldconfig`.

use serde_json::{Map, Value, json};

use super::{
    Call, MethodError, MethodResult, Output, as_i64, as_text, as_u64, is_yes, object, param, php_array,
};
use crate::schema::{self, EnumItem, FieldDef, LABEL_KINDS, UfMeta};
use crate::state::State;

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

pub(super) fn core(description: impl Into<String>) -> MethodError {
    MethodError::bad("ERROR_CORE", description)
}

pub(super) fn legacy(description: impl Into<String>) -> MethodError {
    MethodError::bad("", description)
}

pub(super) fn yn(b: bool) -> &'static str {
    if b { "Y" } else { "N" }
}

pub(super) fn lang_json(m: &std::collections::BTreeMap<String, String>) -> Value {
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

/// The `XML_ID` a list item gets when none is sent: a hash of its value (the portal uses the
/// value's md5), so the same value twice collides.
pub(super) fn value_hash(value: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(value.as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Applies `LIST` entries (ID/DEL/VALUE/DEF/SORT/XML_ID; keys in any case) to enumeration
/// items: without `ID` an item is added, with `ID` only that item changes (or goes, `DEL=Y`).
pub(super) fn apply_list(
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
pub(super) fn merge_settings(old: &Value, sent: &Value, user_type: &str) -> Value {
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
pub(super) struct NewField<'a> {
    pub(super) entity_type_id: u64,
    pub(super) entity_id: String,
    pub(super) upper: String,
    pub(super) user_type: String,
    pub(super) multiple: bool,
    pub(super) mandatory: bool,
    pub(super) show_filter: bool,
    /// Label kinds as sent (string or per-language map).
    pub(super) labels: Vec<(&'static str, Value)>,
    pub(super) xml_id: String,
    pub(super) sort: i64,
    pub(super) settings: Value,
    pub(super) list: Vec<&'a Value>,
}

pub(super) fn add_field(state: &mut State, nf: NewField) -> Result<u64, MethodError> {
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
    // The texts of the four crm.{lead,deal,contact,company}.userfield.add pages' error tables
    // (api-reference/crm/{leads,deals,contacts,companies}/userfield/*-userfield-add.md). The
    // pages are translations of one core's messages and differ in small ways (a trailing
    // period, "Invalid" / "Incorrect custom type", an empty code); one portal answers one text,
    // so the sandbox answers the one most pages give, and the replay names the pages that differ.
    let name = get("FIELD_NAME").and_then(as_text).unwrap_or_default().to_ascii_uppercase();
    if name.is_empty() {
        return Err(legacy("The 'FIELD_NAME' field is not found."));
    }
    let upper = if name.starts_with("UF_CRM_") { name } else { format!("UF_CRM_{name}") };
    let Some(user_type) = get("USER_TYPE_ID").and_then(as_text).filter(|t| !t.trim().is_empty()) else {
        return Err(legacy("The 'USER_TYPE_ID' field is not found."));
    };
    let user_type = user_type.to_ascii_lowercase();
    if upper.len() > 50 {
        return Err(core("Field name is too long (more than 50 characters)."));
    }
    if !upper.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
        return Err(core("Field name contains invalid characters. Allowed characters are: A-Z, 0-9 and _."));
    }
    if !TYPES.contains(&user_type.as_str()) {
        return Err(core("Invalid custom type specified."));
    }
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
pub(super) fn locate_uf(state: &State, id: u64) -> Option<(u64, usize)> {
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
    // The pages' error table: a `filter` or `order` that is not an object (array) is refused.
    for key in ["order", "filter"] {
        if param(c.params, key).is_some_and(|v| !(v.is_object() || v.is_array() || v.is_null())) {
            return Err(legacy(format!("Parameter '{key}' must be array")));
        }
    }
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
