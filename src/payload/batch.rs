//! Encoding one command as a `batch` `cmd` value: `method?PHP-style-query`
//! (`fields[fm][0][typeId]=PHONE`), and its size for packing batches by count and bytes.
//!
//! Decisions (`docs/portal-protocol.md` §1.1): values are percent-encoded (everything but
//! RFC 3986 unreserved characters), so `&`, `=`, `+`, `[` inside values never break the query;
//! key brackets stay literal. Nothing is dropped silently: `null`, `[]` and `{}` are sent as an
//! empty string (`fields[x]=`), which the portal reads as "clear this field"; booleans are sent
//! as `1`/`0` as PHP's `http_build_query` does.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use super::{Command, Method};

/// Everything except `A-Z a-z 0-9 - _ . ~` is encoded.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// `method?query` for the `cmd` map of a `batch` call.
pub fn encode_command(cmd: &Command) -> String {
    encode_call(cmd.method, &super::wire_form(cmd).params)
}

/// `method?query` for any method (the read methods of `schema` too), encoded as
/// [`encode_command`] encodes a write.
pub fn encode_call(method: Method, params: &Value) -> String {
    let mut out = String::with_capacity(64);
    out.push_str(method.as_str());
    out.push('?');
    let mut first = true;
    match params {
        Value::Object(map) => {
            for (k, v) in map {
                encode_pair(&mut out, &mut first, &encode_key(k), v);
            }
        }
        other => encode_pair(&mut out, &mut first, "params", other),
    }
    out
}

/// The bytes this command adds to a batch request body: its JSON-escaped `cmd` string plus
/// the key (`"r000001":`) and separators.
pub fn encoded_len(cmd_string: &str, key: &str) -> usize {
    // Percent-encoding leaves only ASCII with nothing JSON must escape, so the string is
    // copied as is: quotes, colon and comma add 4 bytes, the key's quotes 2.
    cmd_string.len() + key.len() + 6
}

fn encode_key(k: &str) -> String {
    utf8_percent_encode(k, VALUE).to_string()
}

fn encode_pair(out: &mut String, first: &mut bool, key: &str, value: &Value) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (k, v) in map {
                encode_pair(out, first, &format!("{key}[{}]", encode_key(k)), v);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                encode_pair(out, first, &format!("{key}[{i}]"), v);
            }
        }
        scalar => {
            if !*first {
                out.push('&');
            }
            *first = false;
            out.push_str(key);
            out.push('=');
            match scalar {
                Value::String(s) => out.extend(utf8_percent_encode(s, VALUE)),
                Value::Number(n) => out.push_str(&n.to_string()),
                Value::Bool(b) => out.push(if *b { '1' } else { '0' }),
                // null, [] and {}: an explicit empty value (clears the field), never dropped.
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cmd(params: Value) -> Command {
        Command { method: crate::payload::Method::CrmItemAdd, params }
    }

    #[test]
    fn nested_fields_use_php_brackets() {
        let c = cmd(
            json!({"entityTypeId": 3, "fields": {"name": "Ann", "fm": [{"typeId": "PHONE", "value": "+7 999"}]}}),
        );
        assert_eq!(
            encode_command(&c),
            "crm.item.add?entityTypeId=3&fields[fm][0][typeId]=PHONE&fields[fm][0][value]=%2B7%20999&fields[name]=Ann"
        );
    }

    #[test]
    fn ampersands_and_unicode_in_values_are_encoded() {
        let c = cmd(json!({"fields": {"title": "A&B=C Иван"}}));
        assert_eq!(encode_command(&c), "crm.item.add?fields[title]=A%26B%3DC%20%D0%98%D0%B2%D0%B0%D0%BD");
    }

    #[test]
    fn null_and_empty_arrays_are_sent_as_empty_values_not_dropped() {
        let c = cmd(json!({"fields": {"a": null, "b": [], "c": {}, "d": true, "e": false}}));
        assert_eq!(
            encode_command(&c),
            "crm.item.add?fields[a]=&fields[b]=&fields[c]=&fields[d]=1&fields[e]=0"
        );
    }

    #[test]
    fn file_pairs_encode_as_indexed_arrays() {
        let c = cmd(json!({"fields": {"ufCrm_1": ["a.pdf", "QUJD+/=="]}}));
        assert_eq!(
            encode_command(&c),
            "crm.item.add?fields[ufCrm_1][0]=a.pdf&fields[ufCrm_1][1]=QUJD%2B%2F%3D%3D"
        );
    }

    #[test]
    fn encoded_len_matches_the_json_the_batch_body_carries() {
        let s = encode_command(&cmd(json!({"fields": {"title": "x\"y"}})));
        let body = serde_json::to_string(&json!({"r000001": s})).expect("serializable");
        // `{` and `}` of the object are the batch's, not the command's.
        assert_eq!(encoded_len(&s, "r000001"), body.len() - 2 + 1);
    }
}
