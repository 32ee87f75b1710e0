//! What the journal keeps of a row's fields: a salted hash per field and per multifield
//! (`fm`) value, never the values themselves (names, phones, the base64 of files).
//!
//! Owns: the hashing and what makes two multifield values "the same" (type, plus the value
//! normalized: e-mails lower-cased, phones reduced to digits and `+`), which the upsert's
//! comparison shares. Enough to tell which fields changed since the last run and which `fm`
//! values were already sent; nothing that could rebuild a row. The salt is random per journal
//! (stored in it), so equal values in two journals hash differently; a short value (a phone
//! number) can still be confirmed by someone who has the journal and guesses it, which is why
//! the file stays readable by its owner only.
//! Must not: do SQL (the parent module stores the JSON this type serializes to).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Fields that carry the row's key into the portal: never part of an update, never hashed.
pub const KEY_FIELDS: &[&str] = &["originatorId", "originId", "xmlId"];

/// Hashes of the fields last confirmed in the portal for one row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldHashes {
    /// Field name -> hash of its value (key fields and `fm` excluded).
    #[serde(rename = "f", default)]
    pub fields: BTreeMap<String, String>,
    /// Hashes of the normalized (type, value) pairs of `fm`.
    #[serde(rename = "m", default)]
    pub fm: BTreeSet<String>,
}

impl FieldHashes {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("maps of strings always serialize")
    }

    pub fn from_json(text: &str) -> Option<FieldHashes> {
        serde_json::from_str(text).ok()
    }
}

/// Hashes values with one journal's salt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldHasher {
    salt: Vec<u8>,
}

impl FieldHasher {
    pub fn new(salt: Vec<u8>) -> FieldHasher {
        FieldHasher { salt }
    }

    fn digest(&self, parts: &[&[u8]]) -> String {
        let mut h = Sha256::new();
        h.update(&self.salt);
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        // 128 bits: a false "unchanged" needs a collision, at odds of 2^-128.
        hex::encode(&h.finalize()[..16])
    }

    /// The hash of field `name` holding `value` (the value as serialized JSON).
    pub fn field(&self, name: &str, value: &Value) -> String {
        self.digest(&[b"field", name.as_bytes(), value.to_string().as_bytes()])
    }

    /// The hash of one multifield value, by type and normalized value.
    pub fn fm(&self, type_id: &str, value: &str) -> String {
        let t = type_id.to_uppercase();
        self.digest(&[b"fm", t.as_bytes(), normalize_fm(&t, value).as_bytes()])
    }

    /// The hashes of a field object as sent (`fields` of an add, or a user's params).
    pub fn hashes(&self, fields: &Map<String, Value>) -> FieldHashes {
        let mut out = FieldHashes::default();
        for (k, v) in fields {
            if k == "fm" {
                out.fm.extend(fm_pairs(Some(v)).iter().map(|(t, val)| self.fm(t, val)));
            } else if !KEY_FIELDS.contains(&k.as_str()) {
                out.fields.insert(k.clone(), self.field(k, v));
            }
        }
        out
    }
}

/// (TYPE, value) pairs of an `fm` array, as sent on add (`typeId`/`value`) or as the portal
/// lists them (`TYPE_ID`/`VALUE` too); values not normalized.
pub fn fm_pairs(fm: Option<&Value>) -> Vec<(String, String)> {
    fm.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| {
            let t = v.get("typeId").or_else(|| v.get("TYPE_ID")).and_then(Value::as_str)?;
            let val = v.get("value").or_else(|| v.get("VALUE")).and_then(Value::as_str)?;
            Some((t.to_uppercase(), val.to_string()))
        })
        .collect()
}

/// When two multifield values are the same: e-mails by lower-cased text, phones by their
/// digits and `+`, anything else by trimmed text.
pub fn normalize_fm(type_id: &str, value: &str) -> String {
    match type_id.to_uppercase().as_str() {
        "EMAIL" => value.trim().to_lowercase(),
        "PHONE" => value.chars().filter(|c| c.is_ascii_digit() || *c == '+').collect(),
        _ => value.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hashes_hide_the_values_and_skip_key_fields() {
        let h = FieldHasher::new(b"salt".to_vec());
        let fields =
            json!({"name": "Zebediah", "originId": "C1", "fm": [{"typeId": "PHONE", "value": "+7 916 555"}]});
        let hashes = h.hashes(fields.as_object().expect("object"));
        let text = hashes.to_json();
        assert!(!text.contains("Zebediah") && !text.contains("916") && !text.contains("C1"), "{text}");
        assert_eq!(hashes.fields.keys().collect::<Vec<_>>(), ["name"]);
        assert!(hashes.fm.contains(&h.fm("phone", "+7916555")), "the same phone, written differently");
        assert_eq!(FieldHashes::from_json(&text), Some(hashes));
    }

    #[test]
    fn another_salt_gives_other_hashes() {
        let v = json!("Ann");
        assert_ne!(
            FieldHasher::new(b"a".to_vec()).field("name", &v),
            FieldHasher::new(b"b".to_vec()).field("name", &v)
        );
        // The name is part of the hash: the same value in two fields differs.
        let h = FieldHasher::new(Vec::new());
        assert_ne!(h.field("name", &v), h.field("lastName", &v));
    }
}
