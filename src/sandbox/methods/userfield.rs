//! Custom fields: `crm.{lead,deal,contact,company}.userfield.list/get/add/update` and
//! `userfieldconfig.add/list` (§6). A field added here appears in `crm.item.fields` at once.
//!
//! `FIELD_NAME` gets `UF_CRM_` prefixed, is upper-cased, must be `A-Z0-9_` and at most 50
//! characters (`ERROR_CORE` otherwise); booleans cannot be multiple; `LIST` items follow the
//! ID/DEL/VALUE/XML_ID/SORT semantics with `XML_ID` unique within the field.

use serde_json::{Map, Value, json};

use super::{
    Call, MethodError, MethodResult, Output, as_i64, as_text, as_u64, is_yes, object, param, php_array,
};
use crate::sandbox::schema::{self, EnumItem, FieldDef, UfMeta};
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

fn yn(b: bool) -> &'static str {
    if b { "Y" } else { "N" }
}

/// The row `crm.*.userfield.list/get` returns.
fn uf_row(f: &FieldDef) -> Value {
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
        "SHOW_IN_LIST": "Y",
        "EDIT_IN_LIST": "Y",
        "IS_SEARCHABLE": "N",
        "SETTINGS": uf.settings,
        "EDIT_FORM_LABEL": uf.label,
        "LIST_COLUMN_LABEL": uf.label,
        "LIST_FILTER_LABEL": uf.label,
    });
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

/// The row `userfieldconfig.*` returns (camelCase).
fn config_row(f: &FieldDef) -> Value {
    let uf = f.uf.as_ref().expect("only custom fields are listed");
    let mut row = json!({
        "id": uf.id,
        "moduleId": "crm",
        "entityId": uf.entity_id,
        "fieldName": f.upper_name,
        "userTypeId": f.field_type,
        "xmlId": uf.xml_id,
        "sort": uf.sort,
        "multiple": yn(f.multiple),
        "mandatory": yn(f.required),
        "showFilter": yn(uf.show_filter),
        "settings": uf.settings,
        "editFormLabel": {"en": uf.label},
    });
    if f.field_type == "enumeration" {
        row["enum"] = Value::Array(
            f.items
                .iter()
                .map(|i| json!({"id": i.id, "value": i.value, "def": yn(i.def), "sort": i.sort, "xmlId": i.xml_id}))
                .collect(),
        );
    }
    row
}

fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Applies `LIST` entries (ID/DEL/VALUE/DEF/SORT/XML_ID) to enumeration items.
fn apply_list(
    items: &mut Vec<EnumItem>,
    entries: &[&Value],
    next_enum: &mut u64,
    field_name: &str,
) -> Result<(), MethodError> {
    for e in entries {
        let Some(o) = e.as_object() else { continue };
        let get = |k: &str| o.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v);
        let id = get("ID").and_then(as_u64);
        let value = get("VALUE").and_then(as_text);
        match id {
            Some(id) => {
                let Some(pos) = items.iter().position(|i| i.id == id) else { continue };
                if is_yes(get("DEL")) {
                    items.remove(pos);
                    continue;
                }
                let it = &mut items[pos];
                if let Some(v) = value {
                    it.value = v;
                }
                if let Some(s) = get("SORT").and_then(as_i64) {
                    it.sort = s;
                }
                if let Some(d) = get("DEF") {
                    it.def = is_yes(Some(d));
                }
                if let Some(x) = get("XML_ID").and_then(as_text) {
                    it.xml_id = x;
                }
            }
            None => {
                let Some(value) = value.filter(|v| !v.trim().is_empty()) else { continue };
                *next_enum += 1;
                let xml_id = get("XML_ID")
                    .and_then(as_text)
                    .filter(|x| !x.is_empty())
                    .unwrap_or_else(|| short_hash(&format!("{field_name}:{value}:{next_enum}")));
                items.push(EnumItem {
                    id: *next_enum,
                    value,
                    def: is_yes(get("DEF")),
                    sort: get("SORT").and_then(as_i64).unwrap_or(500),
                    xml_id,
                });
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    for i in items.iter() {
        if !seen.insert(i.xml_id.as_str()) {
            return Err(core(format!("Duplicate XML_ID \"{}\" in the list of field {field_name}", i.xml_id)));
        }
    }
    Ok(())
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
    label: String,
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
    let uf = UfMeta {
        id,
        entity_id: nf.entity_id,
        xml_id: nf.xml_id,
        sort: nf.sort,
        show_filter: nf.show_filter,
        label: nf.label,
        settings: nf.settings,
    };
    let mut field = FieldDef::custom(&nf.upper, &nf.user_type, multiple, uf);
    field.required = nf.mandatory;
    if field.field_type == "enumeration" {
        apply_list(&mut field.items, &nf.list, &mut state.counters.enum_item, &nf.upper)?;
    }
    let schema = state
        .meta
        .schemas
        .get_mut(&nf.entity_type_id)
        .ok_or_else(|| MethodError::bad("NOT_FOUND", "Smart process not found"))?;
    schema.fields.push(field);
    state.touch_meta();
    Ok(id)
}

fn label_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::Object(o)) => {
            o.get("en").or_else(|| o.values().next()).and_then(as_text).unwrap_or_default()
        }
        Some(v) => as_text(v).unwrap_or_default(),
        None => String::new(),
    }
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
    let label = label_of(get("EDIT_FORM_LABEL").or_else(|| get("LABEL")));
    let nf = NewField {
        entity_type_id: etid,
        entity_id: schema::uf_entity_id(etid, None),
        upper,
        user_type,
        multiple: is_yes(get("MULTIPLE")),
        mandatory: is_yes(get("MANDATORY")),
        show_filter: get("SHOW_FILTER").is_none_or(|v| is_yes(Some(v))),
        label,
        xml_id: get("XML_ID").and_then(as_text).unwrap_or_default(),
        sort: get("SORT").and_then(as_i64).unwrap_or(100),
        settings: get("SETTINGS").cloned().unwrap_or(json!({})),
        list,
    };
    let id = add_field(c.state, nf)?;
    Ok(Output::new(json!(id)))
}

fn find_uf(state: &mut State, etid: u64, id: u64) -> Option<&mut FieldDef> {
    state.meta.schemas.get_mut(&etid)?.fields.iter_mut().find(|f| f.uf.as_ref().is_some_and(|u| u.id == id))
}

fn uf_not_found() -> MethodError {
    MethodError::bad("ERROR_NOT_FOUND", "User field not found")
}

/// `crm.{entity}.userfield.update`: labels, flags, sort, settings and `LIST` items.
pub(crate) fn crm_update(c: &mut Call) -> MethodResult {
    let etid = entity_of(c);
    let id = param(c.params, "id").and_then(as_u64).ok_or_else(uf_not_found)?;
    let fields = object(param(c.params, "fields"));
    let get = |k: &str| fields.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v);
    let state = &mut *c.state;
    let mut next_enum = state.counters.enum_item;
    let field = find_uf(state, etid, id).ok_or_else(uf_not_found)?;
    let uf = field.uf.as_mut().expect("found by uf id");
    if let Some(l) = get("EDIT_FORM_LABEL").or_else(|| get("LABEL")) {
        uf.label = label_of(Some(l));
        field.title = uf.label.clone();
    }
    if let Some(v) = get("SORT").and_then(as_i64) {
        uf.sort = v;
    }
    if let Some(v) = get("XML_ID").and_then(as_text) {
        uf.xml_id = v;
    }
    if let Some(v) = get("SHOW_FILTER") {
        uf.show_filter = is_yes(Some(v));
    }
    if let Some(v) = get("SETTINGS") {
        uf.settings = v.clone();
    }
    if let Some(v) = get("MANDATORY") {
        field.required = is_yes(Some(v));
    }
    if let Some(list) = get("LIST").and_then(php_array) {
        let mut items = field.items.clone();
        let name = field.upper_name.clone();
        apply_list(&mut items, &list, &mut next_enum, &name)?;
        field.items = items;
    }
    state.counters.enum_item = next_enum;
    state.touch_meta();
    Ok(Output::new(json!(true)))
}

/// `crm.{entity}.userfield.get`.
pub(crate) fn crm_get(c: &mut Call) -> MethodResult {
    let etid = entity_of(c);
    let id = param(c.params, "id").and_then(as_u64).ok_or_else(uf_not_found)?;
    let field = find_uf(c.state, etid, id).ok_or_else(uf_not_found)?;
    Ok(Output::new(uf_row(field)))
}

fn simple_filter(row: &Value, filter: &Map<String, Value>) -> bool {
    filter.iter().all(|(k, want)| {
        let have =
            row.get(k.to_ascii_uppercase()).or_else(|| row.get(k)).and_then(as_text).unwrap_or_default();
        as_text(want).is_some_and(|w| w.eq_ignore_ascii_case(&have))
    })
}

/// `crm.{entity}.userfield.list`: exact-match `filter`, `order` by ID/FIELD_NAME/USER_TYPE_ID/XML_ID/SORT.
pub(crate) fn crm_list(c: &mut Call) -> MethodResult {
    let etid = entity_of(c);
    let filter = object(param(c.params, "filter"));
    let schema = &c.state.meta.schemas[&etid];
    let mut rows: Vec<Value> = schema
        .fields
        .iter()
        .filter(|f| f.uf.is_some())
        .map(uf_row)
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
    let list: Vec<Value> = field
        .get("enum")
        .and_then(php_array)
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let o = e.as_object().cloned().unwrap_or_default();
            json!({
                "VALUE": o.get("value").cloned().unwrap_or(Value::Null),
                "DEF": o.get("def").cloned().unwrap_or(json!("N")),
                "SORT": o.get("sort").cloned().unwrap_or(json!(500)),
                "XML_ID": o.get("xmlId").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    let nf = NewField {
        entity_type_id: etid,
        entity_id,
        upper: upper.clone(),
        user_type: field.get("userTypeId").and_then(as_text).unwrap_or_default(),
        multiple: is_yes(field.get("multiple")),
        mandatory: is_yes(field.get("mandatory")),
        show_filter: is_yes(field.get("showFilter")),
        label: label_of(field.get("editFormLabel")),
        xml_id: field.get("xmlId").and_then(as_text).unwrap_or_default(),
        sort: field.get("sort").and_then(as_i64).unwrap_or(100),
        settings: field.get("settings").cloned().unwrap_or(json!({})),
        list: list.iter().collect(),
    };
    let id = add_field(c.state, nf)?;
    let f = find_uf(c.state, etid, id).expect("just added");
    Ok(Output::new(json!({ "field": config_row(f) })))
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
        .flat_map(|s| s.fields.iter().filter(|f| f.uf.is_some()).map(config_row))
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
