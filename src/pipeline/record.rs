//! What the whole record's attached kinds (issue 20: requisites, bank details, addresses) need
//! from a run that items do not: a requisite step's preset read by name, a record found again
//! by its `XML_ID`, and the fields the portal never lets change.
//!
//! Owns:
//! - [`bind_presets`]: `preset = "<name>"` -> `PRESET_ID`, read once per run with
//!   `crm.requisite.preset.list` (the preset list page), matched by `NAME` exactly, then
//!   ignoring case; a name the portal lacks stops the run before anything is written (exit 2),
//!   naming the portal's presets;
//! - [`find_records`]: an unknown outcome of a requisite (`crm.requisite.list`) or bank detail
//!   (`crm.requisite.bankdetail.list`) is found by its `XML_ID` (`@XML_ID`, the list pages'
//!   IN prefix). An address has no key of its own to list by: adding it again is safe (the
//!   portal refuses a second address of one type and owner, "TypeAddress exists.", and the
//!   refusal becomes an update: `send`), so an address whose outcome is unknown is sent again;
//! - [`immutable_change`]: a requisite's owner and preset (the fields page's `isImmutable`:
//!   `ENTITY_TYPE_ID`, `ENTITY_ID`, `PRESET_ID`), a bank detail's requisite and an address's
//!   type and requisite cannot change on the portal (the update drops them): a row that
//!   changes them is rejected, saying so, rather than half updated.
//!
//! Must not write anything.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::job::RunError;
use super::portal::{LOOKUP_CHUNK, Portal};
use super::prepare::Step;
use super::stop::Stop;
use crate::bitrix::{Method, json as bjson};
use crate::journal::{FieldHasher, FieldHashes};
use crate::mapping::Entity;
use crate::payload::record::record_xml_id;
use crate::portal::Reads;

/// Binds every requisite step's preset to its ID; `Err` (exit 2) names each unknown preset.
/// A dry run binds them too (its `--emit`-like counts need no ID, but a wrong name is worth
/// knowing before the real run).
pub async fn bind_presets(steps: &mut [Step], reads: &Reads) -> Result<(), RunError> {
    if !steps.iter().any(|s| s.plan.target.preset.is_some()) {
        return Ok(());
    }
    let presets = match read_presets(reads).await {
        Ok(p) => p,
        Err(e) => return Err(RunError::NotProvisioned(format!("could not read the requisite presets: {e}"))),
    };
    let mut problems = Vec::new();
    for step in steps.iter_mut() {
        let Some(name) = step.plan.target.preset.as_ref().map(|p| p.name.clone()) else { continue };
        match preset_id(&presets, &name) {
            Ok(id) => step.plan.bind_preset(id),
            Err(e) => problems.push(format!("step `{}`: {e}", step.plan.name)),
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(RunError::NotProvisioned(problems.join("\n"))) }
}

/// The portal's presets: (ID, NAME), all pages of `crm.requisite.preset.list`.
pub async fn read_presets(reads: &Reads) -> Result<Vec<(u64, String)>, String> {
    let mut out = Vec::new();
    loop {
        let params = json!({"select": ["ID", "NAME"], "order": {"ID": "ASC"}, "start": out.len()});
        let page = match reads.ask(Method::CrmRequisitePresetList, &params).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(e) => return Err(e.to_string()),
        };
        let rows = page.as_array().cloned().unwrap_or_default();
        let n = rows.len();
        out.extend(rows.iter().filter_map(|p| {
            Some((p.get("ID").and_then(bjson::id)?, p.get("NAME").and_then(Value::as_str)?.to_string()))
        }));
        if n < 50 {
            return Ok(out);
        }
    }
}

/// The ID of preset `name` (exactly, else ignoring case and surrounding space), or the text
/// naming the portal's presets.
pub fn preset_id(presets: &[(u64, String)], name: &str) -> Result<u64, String> {
    let folded = name.trim().to_lowercase();
    presets
        .iter()
        .find(|(_, n)| n == name)
        .or_else(|| presets.iter().find(|(_, n)| n.trim().to_lowercase() == folded))
        .map(|(id, _)| *id)
        .ok_or_else(|| {
            let known: Vec<String> = presets.iter().map(|(_, n)| format!("\"{n}\"")).collect();
            format!(
                "the portal has no requisite preset named \"{name}\" (its presets: {}); fix `preset` in [target]",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )
        })
}

/// Requisites or bank details by their row keys: key -> (ID, the record as listed); `Err` the
/// lookup failed (nothing may be concluded).
#[allow(clippy::type_complexity)]
pub(super) async fn find_records(
    portal: &Portal<'_>,
    entity: Entity,
    keys: &[String],
) -> Result<Result<HashMap<String, (u64, Value)>, String>, Stop> {
    let method = match entity {
        Entity::Requisite => Method::CrmRequisiteList,
        Entity::BankDetail => Method::CrmRequisiteBankdetailList,
        // Taken as absent: its add is safe (an existing one becomes an update, `send`).
        Entity::Address => return Ok(Ok(HashMap::new())),
        _ => return Ok(Err(format!("{} records have no key to look them up by", entity.name()))),
    };
    let by_xml: HashMap<String, &String> = keys.iter().map(|k| (record_xml_id(k), k)).collect();
    let params: Vec<Value> = keys
        .chunks(LOOKUP_CHUNK)
        .map(|chunk| {
            let xml: Vec<String> = chunk.iter().map(|k| record_xml_id(k)).collect();
            json!({"filter": {"@XML_ID": xml}, "select": ["ID", "XML_ID", "ENTITY_ID"], "start": 0})
        })
        .collect();
    let mut out = HashMap::new();
    for answer in portal.read_many(method, params).await? {
        let result = match answer {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        for r in result.as_array().into_iter().flatten() {
            if let (Some(xml), Some(id)) =
                (r.get("XML_ID").and_then(Value::as_str), r.get("ID").and_then(bjson::id))
                && let Some(key) = by_xml.get(xml)
            {
                out.insert((*key).clone(), (id, r.clone()));
            }
        }
    }
    Ok(Ok(out))
}

/// The changed fields of an address's update with its `TYPE_ID` (the update names the address by
/// its type and requisite: the `crm.address.update` page), taken from the row's `new` fields.
pub(super) fn with_address_key(
    entity: Entity,
    new: &serde_json::Map<String, Value>,
    mut changed: serde_json::Map<String, Value>,
) -> serde_json::Map<String, Value> {
    if entity == Entity::Address
        && !changed.is_empty()
        && let Some(type_id) = new.get("TYPE_ID")
    {
        changed.insert("TYPE_ID".into(), type_id.clone());
    }
    changed
}

/// The fields of a record kind the portal never changes after the add.
fn immutable(entity: Entity) -> &'static [&'static str] {
    match entity {
        Entity::Requisite => &["ENTITY_TYPE_ID", "ENTITY_ID", "PRESET_ID"],
        Entity::BankDetail => &["ENTITY_ID"],
        Entity::Address => &["TYPE_ID", "ENTITY_TYPE_ID", "ENTITY_ID"],
        _ => &[],
    }
}

/// The rejection text of a done row of a record kind whose new fields change what the portal
/// keeps for good (its owner, preset, type); `None` when nothing of that changed (or nothing
/// is known of what was sent).
pub(super) fn immutable_change(
    entity: Entity,
    new: &serde_json::Map<String, Value>,
    old: Option<&FieldHashes>,
    hasher: &FieldHasher,
) -> Option<String> {
    let old = old?;
    let changed: Vec<&str> = immutable(entity)
        .iter()
        .copied()
        .filter(|f| old.fields.contains_key(*f) || new.contains_key(*f))
        .filter(|f| new.get(*f).map(|v| hasher.field(f, v)).as_ref() != old.fields.get(*f))
        .collect();
    if changed.is_empty() {
        return None;
    }
    let what = match entity {
        Entity::Requisite => "a requisite's owner and preset cannot change on the portal",
        Entity::BankDetail => "a bank detail's requisite cannot change on the portal",
        _ => "an address's type and requisite cannot change on the portal",
    };
    Some(format!(
        "{what} ({} changed since it was imported): delete it in the portal to import it anew, or keep the \
         row as it was",
        changed.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preset_is_found_by_its_name_then_ignoring_case() {
        let presets = vec![(1, "Organization".to_string()), (2, "Individual entrepreneur".to_string())];
        assert_eq!(preset_id(&presets, "Organization"), Ok(1));
        assert_eq!(preset_id(&presets, " individual ENTREPRENEUR "), Ok(2));
        let e = preset_id(&presets, "Person").expect_err("unknown");
        assert!(
            e.contains("\"Person\"") && e.contains("\"Organization\", \"Individual entrepreneur\""),
            "{e}"
        );
    }

    #[test]
    fn a_changed_owner_is_named_and_an_unchanged_one_passes() {
        let hasher = FieldHasher::new(b"salt".to_vec());
        let sent: serde_json::Map<String, Value> =
            serde_json::from_value(json!({"ENTITY_TYPE_ID": 4, "ENTITY_ID": 7, "PRESET_ID": 1, "NAME": "A"}))
                .unwrap();
        let old = hasher.hashes(&sent);
        let mut new = sent.clone();
        new.insert("NAME".into(), json!("B"));
        assert_eq!(immutable_change(Entity::Requisite, &new, Some(&old), &hasher), None);
        new.insert("ENTITY_ID".into(), json!(8));
        let text = immutable_change(Entity::Requisite, &new, Some(&old), &hasher).expect("rejected");
        assert!(text.contains("owner and preset cannot change") && text.contains("ENTITY_ID"), "{text}");
        assert_eq!(immutable_change(Entity::Requisite, &new, None, &hasher), None);
    }
}
