//! A phone or e-mail as the portal's duplicate search (`crm.duplicate.findbycomm`) compares it.
//!
//! Owns: [`Comm`] (a value's type, its compared form and the spelling the row gave), the
//! portal's rule for both (written down at [`phone_key`] and [`email_key`]) and the `fm`
//! additions of a `merge` / `update`, which compare by the same rule so that the value that
//! matched is never added again in another spelling. Pure. The sandbox has its own copy of the
//! rule, written from the portal's page and core, not from this file.

use std::hash::{Hash, Hasher};

use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

use crate::journal::field_hashes::fm_pairs;

/// One phone or e-mail of a row, as the check compares it. Two `Comm`s are the same value when
/// their type and compared form are: the spelling is what is sent and shown in messages.
#[derive(Debug, Clone)]
pub(super) struct Comm {
    pub(super) kind: &'static str,
    /// The compared form ([`phone_key`], [`email_key`]).
    pub(super) value: String,
    /// As the row wrote it (what the check sends: the portal normalises it itself).
    pub(super) spelling: String,
}

impl Comm {
    /// A value whose spelling is its compared form (tests, values read back).
    #[cfg(test)]
    pub(super) fn new(kind: &'static str, value: &str) -> Comm {
        Comm { kind, value: value.to_string(), spelling: value.to_string() }
    }
}

impl PartialEq for Comm {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.value == other.value
    }
}

impl Eq for Comm {}

impl Hash for Comm {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.kind.hash(state);
        self.value.hash(state);
    }
}

impl PartialOrd for Comm {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Comm {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.kind, &self.value).cmp(&(other.kind, &other.value))
    }
}

impl std::fmt::Display for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.value)
    }
}

/// A phone number as the portal's duplicate search compares it (both the stored phones and the
/// asked values go through it).
///
/// The rule, from the method's page (`crm-duplicate-find-by-comm.md`: the extension is not
/// considered) and the portal core's communication duplicate criterion, which uses the main
/// module's `NormalizePhone` (docs/portal-protocol.md §3.7):
/// 1. the extension is cut: from the first `ext`, `доб`, `#`, `x`, `,` or `;` on;
/// 2. only the digits are kept (`+`, spaces, brackets, dashes and dots go);
/// 3. with 10 or more digits, the first prefix rule that fits: `80`, `81`, `82` are kept; a
///    leading `00` is dropped; a leading `011` is dropped; a leading `8` becomes `7`; a single
///    leading `0` is dropped.
///
/// So `8 916 555 07 07`, `+7 (916) 555-07-07` and `79165550707` are one number.
pub(super) fn phone_key(value: &str) -> String {
    let lower = value.to_lowercase();
    let end =
        ["ext", "доб", "#", ",", ";", "x"].iter().filter_map(|m| lower.find(m)).min().unwrap_or(lower.len());
    let digits: String = lower[..end].chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 10 || digits.starts_with("80") || digits.starts_with("81") || digits.starts_with("82") {
        return digits;
    }
    for drop in ["00", "011"] {
        if let Some(rest) = digits.strip_prefix(drop) {
            return rest.to_string();
        }
    }
    if let Some(rest) = digits.strip_prefix('8') {
        return format!("7{rest}");
    }
    match digits.strip_prefix('0') {
        Some(rest) => rest.to_string(),
        None => digits,
    }
}

/// An e-mail as the duplicate search compares it: trimmed, Unicode NFC, lower case.
pub(super) fn email_key(value: &str) -> String {
    value.trim().nfc().collect::<String>().to_lowercase()
}

/// `value` of fm type `kind` as the check compares it; `None` for other types and empty values.
pub(super) fn comm(kind: &str, value: &str) -> Option<Comm> {
    let (kind, key) = match kind.to_ascii_uppercase().as_str() {
        "EMAIL" => ("EMAIL", email_key(value)),
        "PHONE" => ("PHONE", phone_key(value)),
        _ => return None,
    };
    (!key.is_empty()).then(|| Comm { kind, value: key, spelling: value.trim().to_string() })
}

/// The values of a row's `fm` of the types `by`, each once, in the row's order.
pub(super) fn comms_of(fields: &Map<String, Value>, by: &[&'static str]) -> Vec<Comm> {
    let mut out: Vec<Comm> = Vec::new();
    for (t, v) in fm_pairs(fields.get("fm")) {
        if let Some(c) = comm(&t, &v).filter(|c| by.contains(&c.kind))
            && !out.contains(&c)
        {
            out.push(c);
        }
    }
    out
}

/// How two `fm` values of one type are the same: phones and e-mails by the portal's rule,
/// anything else by its trimmed text.
fn fm_key(kind: &str, value: &str) -> (String, String) {
    let kind = kind.to_ascii_uppercase();
    let key = comm(&kind, value).map_or_else(|| value.trim().nfc().collect(), |c| c.value);
    (kind, key)
}

/// The `fm` update object adding the values of `new` (a row's `fm` list) that `old` (an item's
/// `fm` as the portal lists it) does not hold by the portal's rule, each once; `None` if none.
pub(super) fn fm_additions(new: Option<&Value>, old: Option<&Value>) -> Option<Value> {
    let mut have: std::collections::HashSet<(String, String)> =
        fm_pairs(old).iter().map(|(t, v)| fm_key(t, v)).collect();
    fm_additions_by(new, |t, val| !have.insert(fm_key(t, val)))
}

/// The `fm` update object adding the values of `new` (a row's `fm` list) for which `sent` says
/// no (by type and normalized value), in order, or `None`. `sent` may remember what it was asked
/// (so a value the row holds twice is added once).
pub(super) fn fm_additions_by(
    new: Option<&Value>,
    mut sent: impl FnMut(&str, &str) -> bool,
) -> Option<Value> {
    let mut out = Map::new();
    for v in new.and_then(Value::as_array).into_iter().flatten() {
        let (Some(t), Some(val)) =
            (v.get("typeId").and_then(Value::as_str), v.get("value").and_then(Value::as_str))
        else {
            continue;
        };
        if sent(t, val) {
            continue;
        }
        out.insert(format!("n{}", out.len()), v.clone());
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    use rstest::rstest;
    use serde_json::json;

    #[rstest]
    #[case("PHONE", "+7 (916) 123-45-67", Some("79161234567"))]
    #[case("PHONE", "8 916 555 07 07", Some("79165550707"))]
    #[case("PHONE", "79165550707", Some("79165550707"))]
    #[case("PHONE", "+7 (916) 555-07-07", Some("79165550707"))]
    #[case("PHONE", "00 44 20 7946 0000", Some("442079460000"))]
    #[case("PHONE", "011 1 212 555 0100", Some("12125550100"))]
    #[case("PHONE", "020 7946 0000", Some("2079460000"))]
    #[case("PHONE", "8 800 555-35-35", Some("78005553535"))]
    #[case("PHONE", "8 (10) 49 30 123", Some("8104930123"))]
    #[case("phone", "+1 555 010 0000 ext. 12", Some("15550100000"))]
    #[case("PHONE", "8 800 доб. 5", Some("8800"))]
    #[case("EMAIL", "  Ann@Example.COM ", Some("ann@example.com"))]
    #[case("EMAIL", "Cafe\u{301}@x.ru", Some("caf\u{e9}@x.ru"))]
    #[case("WEB", "example.com", None)]
    #[case("PHONE", "ext 5", None)]
    fn values_are_compared_as_the_portal_compares_them(
        #[case] kind: &str,
        #[case] value: &str,
        #[case] expected: Option<&str>,
    ) {
        assert_eq!(comm(kind, value).map(|c| c.value), expected.map(str::to_string));
    }

    #[test]
    fn a_row_gives_its_values_of_the_duplicate_by_types_once() {
        let fields = json!({"fm": [
            {"typeId": "EMAIL", "valueType": "WORK", "value": "a@b.ru"},
            {"typeId": "EMAIL", "valueType": "HOME", "value": "A@B.RU"},
            {"typeId": "PHONE", "valueType": "WORK", "value": "+7 916 555 07 07"},
            {"typeId": "PHONE", "valueType": "HOME", "value": "8 (916) 555-07-07"},
            {"typeId": "WEB", "valueType": "WORK", "value": "x.ru"}
        ]});
        let fields = fields.as_object().expect("object");
        assert_eq!(comms_of(fields, &["EMAIL"]), vec![Comm::new("EMAIL", "a@b.ru")]);
        let both = comms_of(fields, &["EMAIL", "PHONE"]);
        assert_eq!(both, vec![Comm::new("EMAIL", "a@b.ru"), Comm::new("PHONE", "79165550707")]);
        assert_eq!(both[1].spelling, "+7 916 555 07 07", "the row's own spelling is what is sent");
    }

    // Bug pinned: merge added `8 916 555 07 07` to an item holding `+7 (916) 555-07-07`, the very
    // phone that matched it, because additions compared digits only.
    #[test]
    fn the_value_that_matched_is_never_added_again_in_another_spelling() {
        let item = json!([{"id": 1, "typeId": "PHONE", "value": "+7 (916) 555-07-07"},
                          {"id": 2, "typeId": "EMAIL", "value": "Ann@X.ru"}]);
        let row = json!([{"typeId": "PHONE", "valueType": "WORK", "value": "8 916 555 07 07"},
                         {"typeId": "EMAIL", "valueType": "WORK", "value": " ann@x.RU"},
                         {"typeId": "PHONE", "valueType": "WORK", "value": "+7 916 000 00 01"},
                         {"typeId": "PHONE", "valueType": "HOME", "value": "8 916 000 00 01"}]);
        assert_eq!(
            fm_additions(Some(&row), Some(&item)),
            Some(json!({"n0": {"typeId": "PHONE", "valueType": "WORK", "value": "+7 916 000 00 01"}}))
        );
        assert_eq!(fm_additions(Some(&json!([])), Some(&item)), None);
    }
}
