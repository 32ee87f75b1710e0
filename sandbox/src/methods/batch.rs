//! The pure parts of `batch` (§1): reading `cmd` in its given order (map or list, JSON or
//! PHP-style form), splitting `method?query`, resolving `$result[id][field]…` references the
//! way the portal does, and encoding result sections like PHP's `json_encode` (an empty section
//! is `[]`, keys `0..n-1` a list). Running the commands (limits, billing) is the server's job.

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::phpquery::{self, PhpValue};

/// At most this many commands per batch.
pub(crate) const MAX_COMMANDS: usize = 50;

/// `cmd` in its given order: (command id, `method?query`).
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Commands(pub Vec<(String, String)>);

impl<'de> Deserialize<'de> for Commands {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Commands;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map or list of command strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Commands, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, command_text(&v)));
                }
                Ok(Commands(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Commands, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element::<Value>()? {
                    out.push((out.len().to_string(), command_text(&v)));
                }
                Ok(Commands(out))
            }
            fn visit_unit<E>(self) -> Result<Commands, E> {
                Ok(Commands::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<Commands, E> {
                Ok(Commands::default())
            }
        }
        d.deserialize_any(V)
    }
}

fn command_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[derive(Deserialize)]
struct CmdOnly {
    #[serde(default)]
    cmd: Option<Commands>,
}

/// The ordered `cmd` of a JSON body (None when the body has none or is not JSON).
pub(crate) fn commands_from_json(body: &[u8]) -> Option<Commands> {
    serde_json::from_slice::<CmdOnly>(body).ok()?.cmd
}

/// The ordered `cmd` of a PHP-style query or form body.
pub(crate) fn commands_from_php(parsed: &PhpValue) -> Option<Commands> {
    let cmd = parsed.get("cmd")?;
    Some(Commands(
        cmd.entries()
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    PhpValue::Str(s) => s.clone(),
                    other => other.to_json().to_string(),
                };
                (k.clone(), text)
            })
            .collect(),
    ))
}

/// `crm.item.add?entityTypeId=3&…` -> (`crm.item.add`, query).
pub(crate) fn split_command(text: &str) -> (String, &str) {
    let (method, query) = text.split_once('?').unwrap_or((text, ""));
    let method = method.trim().trim_start_matches('/').to_ascii_lowercase();
    let method = method.strip_suffix(".json").map(str::to_string).unwrap_or(method);
    (method, query)
}

/// One entry of a result section: a JSON value, or JSON text already written (the fast path
/// of batches without `$result` references, where nothing needs to look inside a result).
#[derive(Debug)]
pub(crate) enum Entry {
    Value(Value),
    Raw(String),
}

impl Entry {
    fn write(&self, buf: &mut Vec<u8>) {
        match self {
            Entry::Value(v) => serde_json::to_writer(&mut *buf, v).expect("writing to a Vec cannot fail"),
            Entry::Raw(s) => buf.extend_from_slice(s.as_bytes()),
        }
    }
}

/// The five result sections, each in command order.
#[derive(Debug, Default)]
pub(crate) struct Sections {
    pub result: Vec<(String, Entry)>,
    pub result_error: Vec<(String, Entry)>,
    pub result_total: Vec<(String, Entry)>,
    pub result_next: Vec<(String, Entry)>,
    pub result_time: Vec<(String, Entry)>,
}

impl Sections {
    fn section(&self, name: &str) -> Option<&[(String, Entry)]> {
        Some(match name {
            "result" => &self.result,
            "result_error" => &self.result_error,
            "result_total" => &self.result_total,
            "result_next" => &self.result_next,
            "result_time" => &self.result_time,
            _ => return None,
        })
    }

    /// Writes the `result` object of a batch answer as JSON.
    pub fn write_json(&self, buf: &mut Vec<u8>) {
        let sections: [(&str, &[(String, Entry)]); 5] = [
            ("result", &self.result),
            ("result_error", &self.result_error),
            ("result_total", &self.result_total),
            ("result_next", &self.result_next),
            ("result_time", &self.result_time),
        ];
        buf.push(b'{');
        for (i, (name, entries)) in sections.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            buf.extend_from_slice(format!("\"{name}\":").as_bytes());
            write_section(buf, entries);
        }
        buf.push(b'}');
    }

    /// The `result` object of a batch answer as a JSON value.
    #[cfg(test)]
    pub fn to_json(&self) -> Value {
        let mut buf = Vec::new();
        self.write_json(&mut buf);
        serde_json::from_slice(&buf).expect("valid JSON")
    }
}

/// Writes a section as PHP encodes it: `[]` when empty, a list for keys `0..n-1`, else an object.
fn write_section(buf: &mut Vec<u8>, entries: &[(String, Entry)]) {
    let list = phpquery::is_list(entries.iter().map(|(k, _)| k.as_str()));
    buf.push(if list { b'[' } else { b'{' });
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            buf.push(b',');
        }
        if !list {
            serde_json::to_writer(&mut *buf, k).expect("writing to a Vec cannot fail");
            buf.push(b':');
        }
        v.write(buf);
    }
    buf.push(if list { b']' } else { b'}' });
}

/// A section as PHP encodes it: `[]` when empty, a list for keys `0..n-1`, else an object.
#[cfg(test)]
pub(crate) fn php_section(entries: &[(String, Value)]) -> Value {
    use serde_json::Map;
    if phpquery::is_list(entries.iter().map(|(k, _)| k.as_str())) {
        return Value::Array(entries.iter().map(|(_, v)| v.clone()).collect());
    }
    let mut map = Map::new();
    for (k, v) in entries {
        map.insert(k.clone(), v.clone());
    }
    Value::Object(map)
}

/// Parses one reference starting at `$` in `s`: (section, path, length in bytes).
fn parse_ref(s: &str) -> Option<(&str, Vec<&str>, usize)> {
    let rest = s.strip_prefix('$')?;
    let name_len = rest.find('[')?;
    let name = &rest[..name_len];
    if !matches!(name, "result" | "result_error" | "result_total" | "result_next" | "result_time") {
        return None;
    }
    let mut path = Vec::new();
    let mut pos = 1 + name_len;
    while s[pos..].starts_with('[') {
        let end = s[pos..].find(']')?;
        path.push(&s[pos + 1..pos + end]);
        pos += end + 1;
    }
    if path.is_empty() { None } else { Some((name, path, pos)) }
}

fn lookup<'a>(sections: &'a Sections, name: &str, path: &[&str]) -> Option<&'a Value> {
    let section = sections.section(name)?;
    let Entry::Value(first) = &section.iter().find(|(k, _)| k == path[0])?.1 else { return None };
    let mut v: &Value = first;
    for seg in &path[1..] {
        v = match v {
            Value::Object(o) => o.get(*seg)?,
            Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Replaces `$result[...]` references in every string of `params`. A string that is exactly
/// one resolvable reference takes the referenced value (which may be an array); references
/// inside longer text become text; unresolvable ones stay as they are, like on the portal.
pub(crate) fn resolve_refs(params: &mut Value, sections: &Sections) {
    match params {
        Value::String(s) if s.contains("$result") => {
            if let Some((name, path, len)) = parse_ref(s)
                && len == s.len()
            {
                if let Some(v) = lookup(sections, name, &path) {
                    *params = v.clone();
                }
                return;
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(pos) = rest.find('$') {
                out.push_str(&rest[..pos]);
                let tail = &rest[pos..];
                match parse_ref(tail).and_then(|(n, p, len)| lookup(sections, n, &p).map(|v| (v, len))) {
                    Some((v, len)) => {
                        match v {
                            Value::String(t) => out.push_str(t),
                            Value::Null => {}
                            other => out.push_str(&other.to_string()),
                        }
                        rest = &tail[len..];
                    }
                    None => {
                        out.push('$');
                        rest = &tail[1..];
                    }
                }
            }
            out.push_str(rest);
            *s = out;
        }
        Value::Array(a) => a.iter_mut().for_each(|v| resolve_refs(v, sections)),
        Value::Object(o) => o.values_mut().for_each(|v| resolve_refs(v, sections)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn commands_keep_their_order_from_json_maps_and_lists() {
        let c = commands_from_json(br#"{"halt":0,"cmd":{"z":"a?x=1","a":"b"}}"#).expect("cmd");
        assert_eq!(c.0, vec![("z".into(), "a?x=1".into()), ("a".into(), "b".into())]);
        let c = commands_from_json(br#"{"cmd":["a","b"]}"#).expect("cmd");
        assert_eq!(c.0[1], ("1".into(), "b".into()));
    }

    #[test]
    fn empty_sections_are_lists_and_numeric_keys_too() {
        assert_eq!(php_section(&[]), json!([]));
        assert_eq!(php_section(&[("0".into(), json!(1)), ("1".into(), json!(2))]), json!([1, 2]));
        assert_eq!(php_section(&[("1".into(), json!(2))]), json!({"1": 2}));
        let s = Sections {
            result: vec![("a".into(), Entry::Raw("{\"x\":1}".into())), ("b".into(), Entry::Value(json!(2)))],
            result_next: vec![("0".into(), Entry::Value(json!(50)))],
            ..Sections::default()
        };
        assert_eq!(
            s.to_json(),
            json!({"result": {"a": {"x": 1}, "b": 2}, "result_error": [], "result_total": [], "result_next": [50], "result_time": []})
        );
    }

    #[test]
    fn references_resolve_like_the_portal() {
        let sections = Sections {
            result: vec![("c1".into(), Entry::Value(json!({"item": {"id": 7, "ids": [1, 2]}})))],
            ..Sections::default()
        };
        let mut p = json!({"id": "$result[c1][item][id]", "t": "x-$result[c1][item][id]-y", "l": "$result[c1][item][ids]", "bad": "$result[zz][item]"});
        resolve_refs(&mut p, &sections);
        assert_eq!(p, json!({"id": 7, "t": "x-7-y", "l": [1, 2], "bad": "$result[zz][item]"}));
    }

    #[test]
    fn commands_split_into_lowercase_method_and_query() {
        assert_eq!(split_command("CRM.Item.Add.json?a=1"), ("crm.item.add".to_string(), "a=1"));
        assert_eq!(split_command("profile"), ("profile".to_string(), ""));
    }
}
