//! PHP-style query strings (`fields[title]=x&fields[fm][0][value]=y&cmd[r1]=...`), parsed the
//! way PHP's `parse_str` does, into an order-preserving tree and then into JSON.
//!
//! Owns only the text-to-tree conversion. It does not know any method: a PHP array whose keys
//! are exactly `0..n-1` in order becomes a JSON list, every other array an object, which is
//! what `json_encode` does on the portal.

use serde_json::{Map, Value};

/// One node of a parsed query string: a leaf string or an ordered PHP array.
#[derive(Debug, Clone, PartialEq)]
pub enum PhpValue {
    /// A scalar value, always a string in a query string.
    Str(String),
    /// A PHP array: keys in insertion order (a later duplicate key replaces the value in place).
    Map(Vec<(String, PhpValue)>),
}

impl PhpValue {
    /// The entries of a PHP array in order (empty for a scalar).
    pub fn entries(&self) -> &[(String, PhpValue)] {
        match self {
            PhpValue::Map(entries) => entries,
            PhpValue::Str(_) => &[],
        }
    }

    /// Looks up a key of a PHP array.
    pub fn get(&self, key: &str) -> Option<&PhpValue> {
        self.entries().iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Converts to JSON the way `json_encode` would.
    pub fn to_json(&self) -> Value {
        match self {
            PhpValue::Str(s) => Value::String(s.clone()),
            PhpValue::Map(entries) => {
                if is_list(entries.iter().map(|(k, _)| k.as_str())) {
                    Value::Array(entries.iter().map(|(_, v)| v.to_json()).collect())
                } else {
                    let mut map = Map::new();
                    for (k, v) in entries {
                        map.insert(k.clone(), v.to_json());
                    }
                    Value::Object(map)
                }
            }
        }
    }
}

/// True when the keys are exactly `"0"`, `"1"`, … in order: PHP encodes such an array as a list.
pub fn is_list<'a>(keys: impl Iterator<Item = &'a str>) -> bool {
    keys.enumerate().all(|(i, k)| k.parse::<usize>().ok() == Some(i))
}

/// Parses a query string (`a=1&b[c]=2`) into a PHP array.
pub fn parse(query: &str) -> PhpValue {
    let mut root = PhpValue::Map(Vec::new());
    for pair in query.split('&') {
        if pair.is_empty() {
            continue;
        }
        let (raw_key, raw_value) = match pair.split_once('=') {
            Some((k, v)) => (k, v),
            None => (pair, ""),
        };
        let key = decode(raw_key);
        let value = decode(raw_value);
        let path = split_key(&key);
        if path.is_empty() {
            continue;
        }
        insert(&mut root, &path, PhpValue::Str(value));
    }
    root
}

/// Parses a query string straight to JSON.
pub fn parse_json(query: &str) -> Value {
    parse(query).to_json()
}

/// Percent-decoding with `+` as a space, like PHP's `urldecode`.
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// One step of a key path: a named key or `[]` (append).
#[derive(Debug, PartialEq)]
enum Seg {
    Key(String),
    Append,
}

/// Splits `fields[fm][0][value]` into its steps. PHP turns `.` and ` ` of the base name into
/// `_`, and an unclosed `[` keeps the rest as part of the base name.
fn split_key(key: &str) -> Vec<Seg> {
    let (base, mut rest) = match key.find('[') {
        Some(pos) if key[pos..].contains(']') => (&key[..pos], &key[pos..]),
        _ => (key, ""),
    };
    let base: String = base.chars().map(|c| if c == '.' || c == ' ' { '_' } else { c }).collect();
    if base.is_empty() {
        return Vec::new();
    }
    let mut path = vec![Seg::Key(base)];
    while let Some(stripped) = rest.strip_prefix('[') {
        let Some(end) = stripped.find(']') else { break };
        let seg = &stripped[..end];
        path.push(if seg.is_empty() { Seg::Append } else { Seg::Key(seg.to_string()) });
        rest = &stripped[end + 1..];
    }
    path
}

fn insert(node: &mut PhpValue, path: &[Seg], value: PhpValue) {
    if !matches!(node, PhpValue::Map(_)) {
        *node = PhpValue::Map(Vec::new());
    }
    let PhpValue::Map(entries) = node else { unreachable!("made a map just above") };
    let key = match &path[0] {
        Seg::Key(k) => k.clone(),
        Seg::Append => {
            let next = entries.iter().filter_map(|(k, _)| k.parse::<i64>().ok()).max().map_or(0, |m| m + 1);
            next.to_string()
        }
    };
    let idx = match entries.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            entries.push((key, PhpValue::Map(Vec::new())));
            entries.len() - 1
        }
    };
    if path.len() == 1 {
        entries[idx].1 = value;
    } else {
        insert(&mut entries[idx].1, &path[1..], value);
    }
}

/// Encodes JSON as a PHP-style query string (the inverse of [`parse_json`]); used to build
/// `batch` command strings in tests and benches.
pub fn encode(value: &Value) -> String {
    let mut out = Vec::new();
    if let Value::Object(map) = value {
        for (k, v) in map {
            encode_into(&mut out, &urlencode(k), v);
        }
    }
    out.join("&")
}

fn encode_into(out: &mut Vec<String>, prefix: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push(format!("{prefix}={}", if *b { "1" } else { "0" })),
        Value::Number(n) => out.push(format!("{prefix}={n}")),
        Value::String(s) => out.push(format!("{prefix}={}", urlencode(s))),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                encode_into(out, &format!("{prefix}%5B{i}%5D"), v);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                encode_into(out, &format!("{prefix}%5B{}%5D", urlencode(k)), v);
            }
        }
    }
}

/// Percent-encodes everything except unreserved characters.
pub fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_keys_become_objects_and_sequential_keys_lists() {
        let v = parse_json(
            "entityTypeId=3&fields[title]=A+b%26c&fields[fm][0][typeId]=PHONE&fields[fm][0][value]=1&fields[ufCrm_1][]=x&fields[ufCrm_1][]=y",
        );
        assert_eq!(
            v,
            json!({"entityTypeId":"3","fields":{"title":"A b&c","fm":[{"typeId":"PHONE","value":"1"}],"ufCrm_1":["x","y"]}})
        );
    }

    #[test]
    fn keys_keep_their_order_and_non_sequential_keys_stay_objects() {
        let v = parse("cmd[z]=1&cmd[a]=2&fm[n0][value]=3");
        let keys: Vec<_> = v.get("cmd").expect("cmd").entries().iter().map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, ["z", "a"]);
        assert_eq!(v.to_json()["fm"], json!({"n0":{"value":"3"}}));
    }

    #[test]
    fn encode_round_trips() {
        let v = json!({"fields":{"title":"a&b=c","list":["1","2"],"o":{"k":"v"}},"id":"5"});
        assert_eq!(parse_json(&encode(&v)), v);
    }

    #[test]
    fn broken_percent_escapes_are_kept() {
        assert_eq!(decode("a%2"), "a%2");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%41"), "A");
    }
}
