//! Payloads of the whole record's attached kinds (issue 20): a requisite
//! (`crm.requisite.add`/`.update`), a bank detail (`crm.requisite.bankdetail.add`/`.update`)
//! and an address (`crm.address.add`/`.update`), each as its page in `bitrix24/b24restdocs`
//! (`api-reference/crm/requisites/`) documents the parameters.
//!
//! Owns: the `fields` object of each (the owner from the parent, the preset, the key), the
//! `XML_ID` a row key becomes ([`record_xml_id`]), the ID a journal keeps for an address (it
//! has none of its own: its requisite's), and the update that replaces an add refused because
//! the address exists ([`address_update_of`]). Must not do I/O, nor decide which rows are sent.

use serde_json::{Map, Value, json};

use super::{Command, Method};
use crate::bitrix::json as bjson;
use crate::mapping::{Entity, TargetPlan};

/// The longest `XML_ID` kept as the row key itself; a longer key is sent as its hash.
pub const XML_ID_MAX: usize = 45;

/// `ENTITY_TYPE_ID` of an address's owner when it is a requisite (the `crm.address.add` page:
/// "8 — requisite").
pub const ADDRESS_OF_REQUISITE: u64 = 8;

/// The `XML_ID` of a requisite or bank detail of row `key`: the key itself, or — past
/// [`XML_ID_MAX`] characters — the first 45 hex digits of its SHA-256 (the same every run, so
/// it is found again by `crm.requisite.list`).
pub fn record_xml_id(key: &str) -> String {
    if key.chars().count() <= XML_ID_MAX {
        return key.to_string();
    }
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    digest[..XML_ID_MAX].to_string()
}

/// The add command of a requisite, bank detail or address row (`None` for other kinds).
pub(super) fn add_of(target: &TargetPlan, key: &str, mut fields: Map<String, Value>) -> Option<Command> {
    let method = match target.entity {
        Entity::Requisite => {
            if let Some(Entity::Crm(etid)) = target.parent.as_ref().and_then(|p| p.entity) {
                fields.insert("ENTITY_TYPE_ID".into(), Value::from(etid));
            }
            fields.insert("PRESET_ID".into(), Value::from(target.preset.as_ref().map_or(0, |p| p.id)));
            fields.insert("XML_ID".into(), Value::String(record_xml_id(key)));
            Method::CrmRequisiteAdd
        }
        Entity::BankDetail => {
            fields.insert("XML_ID".into(), Value::String(record_xml_id(key)));
            Method::CrmRequisiteBankdetailAdd
        }
        Entity::Address => {
            fields.insert("ENTITY_TYPE_ID".into(), Value::from(ADDRESS_OF_REQUISITE));
            Method::CrmAddressAdd
        }
        _ => return None,
    };
    Some(Command { method, params: json!({ "fields": Value::Object(fields) }) })
}

/// The update of a record of this kind: `{id, fields}` for requisites and bank details;
/// an address is named by its key inside `fields` (its `TYPE_ID`, and `id`: its requisite).
pub(super) fn update_of(entity: Entity, id: u64, mut fields: Map<String, Value>) -> Option<Command> {
    let method = match entity {
        Entity::Requisite => Method::CrmRequisiteUpdate,
        Entity::BankDetail => Method::CrmRequisiteBankdetailUpdate,
        Entity::Address => {
            fields.insert("ENTITY_TYPE_ID".into(), Value::from(ADDRESS_OF_REQUISITE));
            fields.insert("ENTITY_ID".into(), Value::from(id));
            return Some(Command { method: Method::CrmAddressUpdate, params: json!({ "fields": fields }) });
        }
        _ => return None,
    };
    Some(Command { method, params: json!({ "id": id, "fields": Value::Object(fields) }) })
}

/// Whether the method is one of the record kinds' writes (their fields are in `fields`).
pub(super) fn carries_fields(method: Method) -> bool {
    matches!(
        method,
        Method::CrmRequisiteAdd
            | Method::CrmRequisiteUpdate
            | Method::CrmRequisiteBankdetailAdd
            | Method::CrmRequisiteBankdetailUpdate
            | Method::CrmAddressAdd
            | Method::CrmAddressUpdate
    )
}

/// The ID a record write's answer gives: the new ID (requisite and bank detail adds answer
/// it), the one named (their updates answer `true`), an address's requisite (its add and
/// update answer `true`: an address has no ID of its own, the journal keeps its owner's).
/// `None`: not one of these methods, or an answer without it.
pub fn created_id(cmd: &Command, result: &Value) -> Option<Option<u64>> {
    let ok = result == &Value::Bool(true) || bjson::id(result).is_some();
    Some(match cmd.method {
        Method::CrmRequisiteAdd | Method::CrmRequisiteBankdetailAdd => bjson::id(result),
        Method::CrmRequisiteUpdate | Method::CrmRequisiteBankdetailUpdate => {
            ok.then(|| cmd.params.get("id").and_then(bjson::id)).flatten()
        }
        Method::CrmAddressAdd | Method::CrmAddressUpdate => {
            ok.then(|| cmd.params.get("fields")?.get("ENTITY_ID").and_then(bjson::id)).flatten()
        }
        _ => return None,
    })
}

/// The portal's text refusing an add of an address whose type and owner already have one (the
/// `crm.address.add` page's table: "An address of this type already exists").
pub fn is_address_exists(cmd: &Command, description: &str) -> bool {
    cmd.method == Method::CrmAddressAdd && description.to_ascii_lowercase().contains("typeaddress exists")
}

/// The `crm.address.update` that writes what the add `cmd` carried onto the address that
/// exists (adding an address that exists is an update).
pub fn address_update_of(cmd: &Command) -> Option<Command> {
    (cmd.method == Method::CrmAddressAdd)
        .then(|| Command { method: Method::CrmAddressUpdate, params: cmd.params.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_key_is_its_own_xml_id_and_a_long_one_its_hash() {
        assert_eq!(record_xml_id("REQ-1"), "REQ-1");
        let long = "k".repeat(46);
        let xml = record_xml_id(&long);
        assert_eq!(xml.len(), XML_ID_MAX);
        assert_eq!(xml, record_xml_id(&long), "the same every run");
        assert_ne!(xml, record_xml_id(&"k".repeat(47)));
        assert_eq!(record_xml_id(&"я".repeat(45)), "я".repeat(45), "characters, not bytes");
    }

    #[test]
    fn a_requisite_carries_its_owners_type_its_preset_and_its_key() {
        use crate::mapping::{CreateMethod, Mode, OnExisting, ParentPlan, PresetPlan};
        let target = |parent: u32| TargetPlan {
            entity: Entity::Requisite,
            origin: "o".into(),
            use_original_uf_names: false,
            mode: Mode::Create,
            on_existing: OnExisting::Use,
            method: CreateMethod::Add,
            smart_process: None,
            provision: Default::default(),
            parent: Some(ParentPlan {
                step: "p".into(),
                column: 0,
                label: "P".into(),
                entity: Some(Entity::Crm(parent)),
            }),
            preset: Some(PresetPlan { name: "Individual".into(), id: 3 }),
        };
        let fields: Map<String, Value> = serde_json::from_value(json!({"RQ_INN": "1"})).unwrap();
        let on_contact = add_of(&target(3), "R1", fields.clone()).expect("a requisite");
        assert_eq!(on_contact.method, Method::CrmRequisiteAdd);
        assert_eq!(
            on_contact.params,
            json!({"fields": {"RQ_INN": "1", "ENTITY_TYPE_ID": 3, "PRESET_ID": 3, "XML_ID": "R1"}})
        );
        let on_company = add_of(&target(4), &"r".repeat(60), fields).expect("a requisite");
        assert_eq!(on_company.params["fields"]["ENTITY_TYPE_ID"], 4);
        assert_eq!(on_company.params["fields"]["XML_ID"].as_str().map(str::len), Some(XML_ID_MAX));
        let update = update_of(Entity::Requisite, 9, Map::new()).expect("update");
        assert_eq!(
            (update.method, update.params),
            (Method::CrmRequisiteUpdate, json!({"id": 9, "fields": {}}))
        );
    }

    #[test]
    fn an_address_answer_true_is_its_requisites_id() {
        let cmd = Command {
            method: Method::CrmAddressAdd,
            params: json!({"fields": {"TYPE_ID": 6, "ENTITY_TYPE_ID": 8, "ENTITY_ID": 12}}),
        };
        assert_eq!(created_id(&cmd, &json!(true)), Some(Some(12)));
        assert_eq!(created_id(&cmd, &json!(false)), Some(None));
        let update = address_update_of(&cmd).expect("update");
        assert_eq!(update.method, Method::CrmAddressUpdate);
        assert_eq!(update.params, cmd.params);
        assert!(is_address_exists(&cmd, "TypeAddress exists."));
        assert!(!is_address_exists(&update, "TypeAddress exists."));
    }
}
