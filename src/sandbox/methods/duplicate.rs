//! `crm.duplicate.findbycomm` (§3.7): leads, contacts and companies holding an e-mail or phone.
//!
//! At most 20 values; phones compare by digits with extensions ignored; e-mails
//! case-insensitively. Errors use their text as the code. Quirk kept: once one type has 20 or
//! more matches, the remaining types are not returned.

use serde_json::{Map, Value, json};

use super::{Call, MethodError, MethodResult, Output, as_text, param, php_array};

fn text_error(text: &str) -> MethodError {
    MethodError::bad(text, text)
}

/// Digits of a phone number before any extension marker.
fn phone_key(s: &str) -> String {
    let lower = s.to_lowercase();
    let cut =
        ["ext", "доб", "#", ",", ";", "x"].iter().filter_map(|m| lower.find(m)).min().unwrap_or(lower.len());
    lower[..cut].chars().filter(char::is_ascii_digit).collect()
}

/// `crm.duplicate.findbycomm`.
pub(crate) fn find_by_comm(c: &mut Call) -> MethodResult {
    let kind = param(c.params, "type").and_then(as_text).unwrap_or_default().to_ascii_uppercase();
    if kind != "EMAIL" && kind != "PHONE" {
        return Err(text_error("Communication type is not defined."));
    }
    let values: Vec<String> = match param(c.params, "values") {
        Some(v) => php_array(v).map_or_else(
            || as_text(v).into_iter().collect(),
            |a| a.into_iter().filter_map(as_text).collect(),
        ),
        None => Vec::new(),
    };
    if values.is_empty() {
        return Err(text_error("Communication values are not defined."));
    }
    if values.len() > 20 {
        return Err(text_error("Too many communication values. The maximum is 20."));
    }
    let entity_types: Vec<(&str, u64)> = match param(c.params, "entity_type").and_then(as_text) {
        None => vec![("LEAD", 1), ("CONTACT", 3), ("COMPANY", 4)],
        Some(t) => match t.to_ascii_uppercase().as_str() {
            "LEAD" => vec![("LEAD", 1)],
            "CONTACT" => vec![("CONTACT", 3)],
            "COMPANY" => vec![("COMPANY", 4)],
            _ => return Err(text_error("Entity type is not supported.")),
        },
    };
    let key = |s: &str| if kind == "PHONE" { phone_key(s) } else { s.trim().to_lowercase() };
    // A set: one call scans every item of a type once, whatever the number of values.
    let wanted: std::collections::HashSet<String> =
        values.iter().map(|v| key(v)).filter(|k| !k.is_empty()).collect();
    let mut out = Map::new();
    for (name, etid) in entity_types {
        let Some(items) = c.state.items.get(&etid) else { continue };
        let mut ids: Vec<u64> = items
            .values()
            .filter(|item| {
                item.fields.get("fm").and_then(Value::as_array).is_some_and(|fm| {
                    fm.iter().any(|e| {
                        e["typeId"].as_str() == Some(kind.as_str())
                            && e["value"].as_str().is_some_and(|v| wanted.contains(&key(v)))
                    })
                })
            })
            .map(|item| item.id)
            .collect();
        ids.sort_unstable();
        let stop = ids.len() >= 20;
        if !ids.is_empty() {
            out.insert(name.to_string(), json!(ids));
        }
        if stop {
            break;
        }
    }
    // An empty PHP array encodes as a list.
    Ok(Output::new(if out.is_empty() { json!([]) } else { Value::Object(out) }))
}

#[cfg(test)]
mod tests {
    use super::phone_key;

    #[test]
    fn phone_extensions_are_ignored() {
        assert_eq!(phone_key("+1 (555) 010-0000 ext. 12"), "15550100000");
        assert_eq!(phone_key("+1 555 010 0000"), "15550100000");
    }
}
