//! Reading the portal's answers: the one parser of the IDs (and counts: `total`, `next`) the
//! portal writes either as JSON numbers or as strings (`"id": 42` in `crm.item.*`, `"ID": "42"`
//! in `user.get` and the older methods, `"total": "120"` on some portals).
//!
//! The rule, for every caller: a non-negative integer JSON number, or a string of ASCII digits
//! with surrounding whitespace ignored (`" 42 "` is 42). Anything else is no ID: an empty or
//! blank string, a sign (`"+5"`, `"-1"`), a fraction (`4.0`, `"4.0"`), a number that does not
//! fit in a `u64`, `null`, booleans, lists and maps. Must not guess further (no `"#42"`).

use serde_json::Value;

/// The ID (or count) `v` holds, by the rule above.
pub fn id(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            s.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_are_numbers_or_digit_strings() {
        let cases = [
            (json!(42), Some(42)),
            (json!(0), Some(0)),
            (json!(u64::MAX), Some(u64::MAX)),
            (json!("42"), Some(42)),
            (json!("007"), Some(7)),
            (json!(" 42 "), Some(42)),
            (json!("\t42\n"), Some(42)),
            (json!(""), None),
            (json!("  "), None),
            (json!("+5"), None),
            (json!("-1"), None),
            (json!(-1), None),
            (json!(4.0), None),
            (json!("4.0"), None),
            (json!("4 2"), None),
            (json!("42a"), None),
            (json!("18446744073709551616"), None),
            (json!(null), None),
            (json!(true), None),
            (json!([42]), None),
            (json!({"id": 42}), None),
        ];
        for (value, want) in cases {
            assert_eq!(id(&value), want, "{value}");
        }
    }
}
