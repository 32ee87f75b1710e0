//! The values of `crm.item.add` / `update` converted to their stored form, field type by field
//! type: multifields (`fm`: a list on add, an `n0`/id-keyed object on update), files (`[name,
//! base64]`, `{"id": N}` keeps one), money (`300|USD`), dates, numbers, booleans, list items. A value
//! of the wrong shape is the page's `CRM_FIELD_ERROR_VALUE_NOT_VALID`, a scalar sent to a multiple
//! field its `100`. Owns conversion only: what the values point at is `checks`'s job.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::not_valid;
use crate::methods::filter;
use crate::methods::{MethodError, as_i64, as_text, as_u64, php_array};
use crate::schema::{self, EntitySchema, FieldDef};
use crate::state::Counters;

/// The multifield kinds (`fm[].typeId`) and the value types each accepts: the sandbox's own copy
/// of the portal's list.
pub const FM_TYPES: [(&str, &[&str]); 5] = [
    ("PHONE", &["WORK", "MOBILE", "FAX", "HOME", "PAGER", "MAILING", "OTHER"]),
    ("EMAIL", &["WORK", "HOME", "MAILING", "OTHER"]),
    ("WEB", &["WORK", "HOME", "VK", "LIVEJOURNAL", "TWITTER", "FACEBOOK", "INSTAGRAM", "OTHER"]),
    (
        "IM",
        &[
            "TELEGRAM",
            "VK",
            "SKYPE",
            "VIBER",
            "BITRIX24",
            "OPENLINE",
            "IMOL",
            "ICQ",
            "MSN",
            "JABBER",
            "FACEBOOK",
            "INSTAGRAM",
            "OTHER",
        ],
    ),
    ("LINK", &["USER", "OTHER"]),
];

/// Converts one `fm` entry to its stored form (None = skip: empty value).
fn fm_entry(
    raw: &Value,
    id: Option<u64>,
    counters: &mut Counters,
    field: &FieldDef,
    original: bool,
) -> Result<Option<Value>, MethodError> {
    let Some(obj) = raw.as_object() else { return Ok(None) };
    let get = |k: &str| {
        obj.get(k).or_else(|| obj.iter().find(|(key, _)| key.eq_ignore_ascii_case(k)).map(|(_, v)| v))
    };
    let value = get("value").and_then(as_text).unwrap_or_default();
    if value.is_empty() {
        return Ok(None);
    }
    let type_id = get("typeId").and_then(as_text).unwrap_or_default().to_ascii_uppercase();
    let Some((_, value_types)) = FM_TYPES.iter().find(|(t, _)| *t == type_id) else {
        return Err(not_valid(field, original));
    };
    let value_type = get("valueType").and_then(as_text).unwrap_or_else(|| "WORK".into()).to_ascii_uppercase();
    let value_type = if value_type.is_empty() { "WORK".to_string() } else { value_type };
    if !value_types.contains(&value_type.as_str()) && value_type != "WORK" {
        return Err(not_valid(field, original));
    }
    let id = id.unwrap_or_else(|| {
        counters.fm += 1;
        counters.fm
    });
    Ok(Some(json!({"id": id, "typeId": type_id, "valueType": value_type, "value": value})))
}

/// `fm` on add (a list; a string is silently ignored) or update (`n0`/id-keyed object; a list
/// appends).
fn apply_fm(
    raw: &Value,
    existing: Option<&Value>,
    counters: &mut Counters,
    field: &FieldDef,
    original: bool,
) -> Result<Option<Value>, MethodError> {
    let mut list: Vec<Value> = existing.and_then(Value::as_array).cloned().unwrap_or_default();
    match raw {
        Value::Array(entries) => {
            for e in entries {
                if let Some(v) = fm_entry(e, None, counters, field, original)? {
                    list.push(v);
                }
            }
        }
        Value::Object(map) => {
            for (key, e) in map {
                match key.parse::<u64>() {
                    Ok(id) => {
                        let Some(pos) = list.iter().position(|v| v["id"].as_u64() == Some(id)) else {
                            continue;
                        };
                        let mut merged = list[pos].as_object().cloned().unwrap_or_default();
                        if let Some(obj) = e.as_object() {
                            for (k, v) in obj {
                                merged.insert(k.clone(), v.clone());
                            }
                        }
                        match fm_entry(&Value::Object(merged), Some(id), counters, field, original)? {
                            Some(v) => list[pos] = v,
                            None => {
                                list.remove(pos);
                            }
                        }
                    }
                    Err(_) => {
                        if let Some(v) = fm_entry(e, None, counters, field, original)? {
                            list.push(v);
                        }
                    }
                }
            }
        }
        _ => return Ok(None),
    }
    Ok(Some(Value::Array(list)))
}

fn valid_base64(s: &str) -> bool {
    let s: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    !s.is_empty()
        && (base64::engine::general_purpose::STANDARD.decode(&s).is_ok()
            || base64::engine::general_purpose::STANDARD_NO_PAD.decode(&s).is_ok())
}

/// One file value: `[name, base64]` (new file) or `{"id": N}` (keep an existing one).
fn file_value(
    raw: &Value,
    existing: &[Value],
    counters: &mut Counters,
    field: &FieldDef,
    original: bool,
) -> Result<Value, MethodError> {
    if let Some(obj) = raw.as_object()
        && let Some(id) = obj.get("id").and_then(as_u64)
    {
        return existing
            .iter()
            .find(|f| f["id"].as_u64() == Some(id))
            .cloned()
            .ok_or_else(|| not_valid(field, original));
    }
    let parts = php_array(raw).ok_or_else(|| not_valid(field, original))?;
    let (Some(name), Some(data)) =
        (parts.first().and_then(|v| v.as_str()), parts.get(1).and_then(|v| v.as_str()))
    else {
        return Err(not_valid(field, original));
    };
    if name.trim().is_empty() || !valid_base64(data) {
        return Err(not_valid(field, original));
    }
    counters.file += 1;
    let id = counters.file;
    Ok(json!({
        "id": id,
        "url": format!("/bitrix/components/bitrix/crm.controller.item.file/{id}/{}", crate::phpquery::urlencode(name)),
        "urlMachine": format!("/rest/crm.controller.item.getFile?fileId={id}"),
    }))
}

fn money(raw: &Value, field: &FieldDef, original: bool) -> Result<Value, MethodError> {
    let text = as_text(raw).ok_or_else(|| not_valid(field, original))?;
    let (amount, currency) = match text.split_once('|') {
        Some((a, c)) => (a.trim().to_string(), c.trim().to_string()),
        None if text.trim().chars().all(|c| c.is_ascii_alphabetic()) => (String::new(), text.clone()),
        None => (text.trim().to_string(), "USD".to_string()),
    };
    if amount.is_empty() {
        return Ok(Value::Null);
    }
    if amount.parse::<f64>().is_err() {
        return Err(not_valid(field, original));
    }
    Ok(Value::String(format!("{amount}|{currency}")))
}

/// Converts one scalar of a field to its stored form (`Null` clears).
fn scalar(
    field: &FieldDef,
    raw: &Value,
    existing: &[Value],
    counters: &mut Counters,
    original: bool,
) -> Result<Value, MethodError> {
    if raw.is_null() || raw.as_str() == Some("") {
        return Ok(Value::Null);
    }
    let bad = || not_valid(field, original);
    Ok(match field.field_type.as_str() {
        "integer" | "user" | "employee" | "crm_category" | "crm_company" | "crm_contact" | "crm_lead"
        | "crm_deal" | "crm_quote" | "crm_entity" | "location" => json!(as_i64(raw).ok_or_else(bad)?),
        "double" => match raw {
            Value::Number(n) => json!(n.as_f64().ok_or_else(bad)?),
            Value::String(s) => json!(s.trim().replace(',', ".").parse::<f64>().map_err(|_| bad())?),
            _ => return Err(bad()),
        },
        "boolean" => match as_text(raw).map(|s| s.to_ascii_uppercase()).as_deref() {
            Some("Y" | "1" | "TRUE") => json!("Y"),
            Some("N" | "0" | "FALSE") => json!("N"),
            _ => return Err(bad()),
        },
        "date" => {
            let d = raw.as_str().and_then(filter::parse_date).ok_or_else(bad)?;
            json!(d.format("%Y-%m-%dT00:00:00+00:00").to_string())
        }
        "datetime" => json!(raw.as_str().and_then(filter::normalise_datetime).ok_or_else(bad)?),
        "enumeration" => {
            let id = as_u64(raw).ok_or_else(bad)?;
            if !field.items.iter().any(|i| i.id == id) {
                return Err(bad());
            }
            json!(id)
        }
        "file" => file_value(raw, existing, counters, field, original)?,
        "money" => money(raw, field, original)?,
        _ => json!(as_text(raw).ok_or_else(bad)?),
    })
}

/// Converts the `fields` of add/update into stored values. `existing` is the item being updated.
pub(super) fn convert(
    schema: &EntitySchema,
    raw_fields: &Map<String, Value>,
    existing: Option<&Map<String, Value>>,
    counters: &mut Counters,
    original: bool,
    disabled: &[&str],
) -> Result<Map<String, Value>, MethodError> {
    let mut out = Map::new();
    for (name, raw) in raw_fields {
        let Some(field) = schema.find(name, original) else { continue };
        if field.read_only
            || schema::DESCRIBED_ONLY.contains(&field.name.as_str())
            || (field.immutable && existing.is_some())
            || disabled.contains(&field.name.as_str())
        {
            continue;
        }
        let old = existing.and_then(|e| e.get(&field.name));
        if field.field_type == "crm_multifield" {
            if let Some(v) = apply_fm(raw, old, counters, field, original)? {
                out.insert(field.name.clone(), v);
            }
            continue;
        }
        let old_files: Vec<Value> = match old {
            Some(Value::Array(a)) => a.clone(),
            Some(v @ Value::Object(_)) => vec![v.clone()],
            _ => Vec::new(),
        };
        // The contact's system `photo` cannot be set through crm.item.update: "both the
        // `["photo.jpg", "Base64"]` array and the `{"fileData": [...]}` object return an error"
        // (tutorials/crm/how-to-edit-crm-objects/how-to-make-contact-edit-card.md; the error is
        // not named there: the page's value error is the answer here). Clearing it is no setting.
        if existing.is_some()
            && schema.entity_type_id == 3
            && field.name == "photo"
            && !(raw.is_null() || raw.as_str() == Some(""))
        {
            return Err(not_valid(field, original));
        }
        if field.field_type == "file"
            && let Some(obj) = raw.as_object()
            && obj.contains_key("fileData")
        {
            // The legacy `fileData` form "succeeds" through crm.item.* but leaves the field empty.
            out.insert(field.name.clone(), if field.multiple { json!([]) } else { Value::Null });
            continue;
        }
        if field.multiple {
            if raw.is_null() || raw.as_str() == Some("") {
                out.insert(field.name.clone(), json!([]));
                continue;
            }
            let Some(elements) = php_array(raw) else {
                return Err(MethodError::bad(
                    "100",
                    format!("Expected iterable value for multiple field, but got {} instead", php_type(raw)),
                ));
            };
            if elements.is_empty() && field.field_type == "enumeration" && old.is_some() {
                // Sending [] to a multiple list field "succeeds" but keeps the old values.
                continue;
            }
            if field.field_type == "file" && elements.first().is_some_and(|e| e.is_string()) {
                return Err(not_valid(field, original));
            }
            let mut values = Vec::with_capacity(elements.len());
            for e in elements {
                let v = scalar(field, e, &old_files, counters, original)?;
                if !v.is_null() {
                    values.push(v);
                }
            }
            out.insert(field.name.clone(), Value::Array(values));
        } else {
            let v = scalar(field, raw, &old_files, counters, original)?;
            out.insert(field.name.clone(), v);
        }
    }
    Ok(out)
}

pub(super) fn is_blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// The PHP type name of a scalar sent to a multiple field, for the `100` "Expected iterable
/// value for multiple field, but got `type` instead" of the `crm-item-add` / `crm-item-update`
/// pages. The pages show only the placeholder (`type`) and say "a value of type `type`"; the
/// sandbox reads it as PHP's `gettype()` of the decoded request value, the names PHP itself
/// gives its scalar types: `string`, `integer`, `double`, `boolean` (not `get_debug_type`'s
/// `int`/`float`/`bool`). A form-encoded value is always a string, as in PHP. Null and arrays never get here (null
/// clears the field, an array or object is iterable).
fn php_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "double",
        Value::Bool(_) => "boolean",
        Value::Null => "NULL",
        Value::Array(_) | Value::Object(_) => "array",
    }
}
