//! The sandbox's Bitrix24 facts and the product's agree: the same built-in entity types, every
//! system field the sandbox accepts is one the product knows (with a value type that fits the
//! portal's field type), the same entities carry multifields and external keys, every
//! multifield value type the product lets through is one the sandbox accepts, and every user
//! field the sandbox lists for `user.add` is known to the product.
//!
//! The two copies stay separate on purpose: the sandbox checks the client independently, so a
//! wrong fact in the product must not silently become a wrong fact in the sandbox. This test
//! only notices when they drift apart; which side is right is decided against
//! `docs/portal-protocol.md`. Test-only: the sandbox never reads the product's facts (it is a
//! package that does not depend on the importer), so this test lives on the importer's side and
//! reads the sandbox's facts through its public API.

use std::collections::BTreeSet;

use b24import::bitrix;
use b24import::mapping::ValueType;
use b24import::mapping::entity::{self, Entity, KeyField};
use b24import::sandbox::schema::{self, BUILTIN_TYPE_IDS, FieldDef};

/// The portal's field type (as `crm.item.fields` reports it) -> the product's value type.
fn product_type_of(portal_type: &str) -> Option<ValueType> {
    Some(match portal_type {
        "string" | "text" | "crm_status" | "crm_currency" | "url" => ValueType::String,
        "integer" | "user" | "employee" | "crm_company" | "crm_contact" | "crm_category" | "crm_lead"
        | "crm_deal" | "crm_quote" | "location" => ValueType::Int,
        "double" => ValueType::Number,
        "boolean" => ValueType::Bool,
        "date" => ValueType::Date,
        "datetime" => ValueType::Datetime,
        "file" => ValueType::File,
        "money" => ValueType::Money,
        _ => return None,
    })
}

/// The sandbox's default schema of a built-in type.
fn sandbox_schema(entity_type_id: u64) -> schema::EntitySchema {
    let mut next_uf_id = 0;
    schema::build(entity_type_id, "t", None, 0, None, &mut next_uf_id)
}

/// The system fields a client may write (not `id`, not read-only, not custom, not `fm`).
fn writable_system_fields(schema: &schema::EntitySchema) -> impl Iterator<Item = &FieldDef> {
    schema.fields.iter().filter(|f| !f.read_only && !f.dynamic && f.name != "fm")
}

fn entity(id: u64) -> Entity {
    Entity::Crm(u32::try_from(id).expect("built-in ids are small"))
}

#[test]
fn both_know_the_same_built_in_entity_types() {
    let sandbox: BTreeSet<u64> = BUILTIN_TYPE_IDS.into_iter().collect();
    let product: BTreeSet<u64> = bitrix::entity::BUILTIN_TYPE_IDS.into_iter().map(u64::from).collect();
    assert_eq!(sandbox, product);
    // Users and the records attached to items (comments, activities, requisites, bank details,
    // addresses) are no CRM types.
    let not_an_item = |n: &str| Entity::from_name(n).is_some_and(|e| e == Entity::User || e.is_attached());
    for name in entity::ENTITY_NAMES.iter().filter(|n| !not_an_item(n)) {
        let Some(Entity::Crm(id)) = Entity::from_name(name) else { panic!("`{name}` is a CRM entity") };
        assert!(sandbox.contains(&u64::from(id)), "`{name}` ({id}) is not a sandbox type");
    }
}

#[test]
fn every_system_field_the_sandbox_accepts_is_known_to_the_product_with_a_fitting_type() {
    let mut problems = Vec::new();
    for id in BUILTIN_TYPE_IDS {
        let schema = sandbox_schema(id);
        let entity = entity(id);
        for field in writable_system_fields(&schema) {
            let want = product_type_of(&field.field_type);
            match entity.known_type(&field.name) {
                None => {
                    problems.push(format!("{}: `{}` is unknown to the product", entity.name(), field.name))
                }
                Some(got) if Some(got) != want => problems.push(format!(
                    "{}: `{}` is {} in the sandbox but {got:?} in the product",
                    entity.name(),
                    field.name,
                    field.field_type
                )),
                Some(_) => {}
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_same_entities_carry_multifields_and_external_keys() {
    for id in BUILTIN_TYPE_IDS {
        let schema = sandbox_schema(id);
        let entity = entity(id);
        assert_eq!(schema.has_fm, entity.has_multifields(), "{}: fm", entity.name());
        for key in entity.key_field().field_names() {
            assert!(
                schema.by_name(key).is_some(),
                "{}: key field `{key}` missing in the sandbox",
                entity.name()
            );
        }
        for key in [KeyField::Origin, KeyField::XmlId].iter().flat_map(|k| k.field_names()) {
            if !entity.key_field().field_names().contains(key) && entity.known_type(key).is_none() {
                assert!(schema.by_name(key).is_none(), "{}: the sandbox has `{key}`", entity.name());
            }
        }
    }
}

#[test]
fn every_user_field_the_sandbox_lists_for_user_add_is_known_to_the_product() {
    // Listed by `user.fields` but set by the portal, not taken by `user.add` (its method page).
    let portal_set = [
        "ID",
        "ACTIVE",
        "TITLE",
        "LAST_LOGIN",
        "DATE_REGISTER",
        "TIME_ZONE",
        "IS_ONLINE",
        "TIME_ZONE_OFFSET",
        "USER_TYPE",
    ];
    let unknown: Vec<&str> = b24import::sandbox::USER_FIELDS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !portal_set.contains(name) && Entity::User.known_type(name).is_none())
        .collect();
    assert!(unknown.is_empty(), "user fields unknown to the product: {unknown:?}");
    assert_eq!(Entity::User.key_field().field_names(), ["EMAIL"]);
}

#[test]
fn every_multifield_value_the_product_lets_through_is_one_the_sandbox_accepts() {
    let mut problems = Vec::new();
    for (kind, value_types) in bitrix::entity::FM_TYPES {
        let Some((_, sandbox_types)) = b24import::sandbox::FM_TYPES.iter().find(|(t, _)| t == kind) else {
            problems.push(format!("fm type {kind} is unknown to the sandbox"));
            continue;
        };
        for value_type in *value_types {
            if !sandbox_types.contains(value_type) {
                problems.push(format!("fm {kind} {value_type} is refused by the sandbox"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The writable fields of a record kind as the sandbox's copy of its fields page has them
/// (`isReadOnly` left out, and those the import sets itself).
fn sandbox_record_fields(json: &str) -> BTreeSet<String> {
    let fields: serde_json::Value = serde_json::from_str(json).expect("json");
    fields
        .as_object()
        .expect("object")
        .iter()
        .filter(|(_, f)| f["isReadOnly"] != true)
        .map(|(name, _)| name.clone())
        .filter(|n| !b24import::mapping::record::SET_BY_THE_IMPORT.contains(&n.as_str()))
        .filter(|n| !matches!(n.as_str(), "ORIGINATOR_ID" | "LOC_ADDR_ID"))
        .collect()
}

// Issue 20: the fields a requisite, bank detail or address step may map are the writable
// fields of the sandbox's copies of their fields pages (`ORIGINATOR_ID` and `LOC_ADDR_ID` are
// the portal's own bookkeeping, not offered).
#[test]
fn both_know_the_same_requisite_bank_detail_and_address_fields() {
    for (entity, json) in [
        (Entity::Requisite, include_str!("../../sandbox/src/methods/record/requisite.fields.json")),
        (Entity::BankDetail, include_str!("../../sandbox/src/methods/record/bankdetail.fields.json")),
        (Entity::Address, include_str!("../../sandbox/src/methods/record/address.fields.json")),
    ] {
        let product: BTreeSet<String> = entity.known_fields().map(|(n, _)| n.to_string()).collect();
        assert_eq!(product, sandbox_record_fields(json), "{}", entity.name());
    }
}
