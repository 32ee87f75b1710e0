//! `crm.address.{add,update,list,delete,fields}` (`api-reference/crm/requisites/addresses/`).
//! An address has no ID of its own: it is keyed by (`TYPE_ID`, `ENTITY_TYPE_ID`, `ENTITY_ID`).
//!
//! Rules, each from its page:
//! - `TYPE_ID` is one of the address types of `crm.enum.addresstype` (1 physical, 4 registered,
//!   6 legal, 8 mailing, 9 beneficiary, 11 shipping), else "TYPE_ID is not defined or invalid.";
//! - `ENTITY_TYPE_ID` is 8 (a requisite) or 1 (a lead), else "ENTITY_TYPE_ID is not defined or
//!   invalid.": the pages say addresses "can only be linked to Requisites ... or Leads", contacts
//!   and companies only "on some older accounts where the old address handling mode was
//!   specifically enabled by technical support"; the sandbox is a current portal, so the update
//!   and delete pages' examples (`ENTITY_TYPE_ID` 3) are refused;
//! - `ENTITY_ID` is an existing requisite or lead, else "ENTITY_ID is not defined or invalid.";
//! - add: an address of that key that exists is refused, "TypeAddress exists." (the add page's
//!   table: "An address of this type already exists for the specified parent object"; the
//!   period as in the other texts of these pages), so a client that wants "add or update" sends
//!   `crm.address.update` on that error;
//! - update and delete: an address that does not exist is "TypeAddress not found." (the delete
//!   page's example);
//! - `ANCHOR_TYPE_ID`/`ANCHOR_ID` are the requisite's owner (or the lead itself), `LOC_ADDR_ID`
//!   a new location address per address (the list page's description);
//! - add, update and delete answer `true`.
//!
//! Owns those methods; the data is `crate::record::Records`.

use serde_json::{Map, Value, json};

use super::super::filter::Kind;
use super::super::{Call, MethodError, MethodResult, Output, as_u64};
use super::{as_shown, described, fields_param, item_exists, legacy, list_of, purge};
use crate::record::AddressKey;

const FIELDS: &str = include_str!("address.fields.json");

/// The address types (`api-reference/crm/auxiliary/enum/crm-enum-address-type.md`).
pub(crate) const TYPES: [u64; 6] = [1, 4, 6, 8, 9, 11];

/// The text fields an address holds (the add page's list).
const TEXT: [&str; 8] =
    ["ADDRESS_1", "ADDRESS_2", "CITY", "POSTAL_CODE", "REGION", "PROVINCE", "COUNTRY", "COUNTRY_CODE"];

fn invalid(name: &str) -> MethodError {
    legacy(format!("{name} is not defined or invalid."))
}

/// The key of `fields`, checked: type, parent type, parent existing; plus the anchor.
fn key(c: &Call, fields: &Map<String, Value>) -> Result<(AddressKey, (u64, u64)), MethodError> {
    let get = |n: &str| fields.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).and_then(|(_, v)| as_u64(v));
    let type_id = get("TYPE_ID").filter(|t| TYPES.contains(t)).ok_or_else(|| invalid("TYPE_ID"))?;
    let etid =
        get("ENTITY_TYPE_ID").filter(|t| *t == 8 || *t == 1).ok_or_else(|| invalid("ENTITY_TYPE_ID"))?;
    let id = get("ENTITY_ID").filter(|id| *id > 0).ok_or_else(|| invalid("ENTITY_ID"))?;
    let anchor = if etid == 8 {
        let r = c.state.records.requisites.get(&id).ok_or_else(|| invalid("ENTITY_ID"))?;
        let n = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
        (n("ENTITY_TYPE_ID"), n("ENTITY_ID"))
    } else if item_exists(c.state, 1, id) {
        (1, id)
    } else {
        return Err(invalid("ENTITY_ID"));
    };
    Ok(((type_id, etid, id), anchor))
}

fn write(rec: &mut Map<String, Value>, fields: &Map<String, Value>) {
    for (k, v) in fields {
        let name = k.to_ascii_uppercase();
        if TEXT.contains(&name.as_str()) || name == "LOC_ADDR_ID" {
            rec.insert(name, v.clone());
        }
    }
}

fn render(rec: &Map<String, Value>, select: Option<&[String]>) -> Value {
    Value::Object(match select {
        None => rec.iter().map(|(k, v)| (k.clone(), as_shown(v))).collect(),
        Some(names) => {
            names.iter().map(|n| (n.clone(), rec.get(n).map(as_shown).unwrap_or(Value::Null))).collect()
        }
    })
}

/// `crm.address.add`: refuses an address whose key exists.
pub(crate) fn add(c: &mut Call) -> MethodResult {
    purge(c);
    let fields = fields_param(c.params);
    let (k, (anchor_type, anchor_id)) = key(c, &fields)?;
    if c.state.records.addresses.contains_key(&k) {
        return Err(legacy("TypeAddress exists."));
    }
    let mut rec: Map<String, Value> = TEXT.iter().map(|n| ((*n).to_string(), Value::Null)).collect();
    c.state.records.counters.location += 1;
    for (name, v) in [
        ("TYPE_ID", k.0),
        ("ENTITY_TYPE_ID", k.1),
        ("ENTITY_ID", k.2),
        ("ANCHOR_TYPE_ID", anchor_type),
        ("ANCHOR_ID", anchor_id),
        ("LOC_ADDR_ID", c.state.records.counters.location),
    ] {
        rec.insert(name.into(), json!(v));
    }
    write(&mut rec, &fields);
    c.state.records.addresses.insert(k, rec);
    Ok(Output::new(json!(true)))
}

/// `crm.address.update`: the key names the address; the other fields change.
pub(crate) fn update(c: &mut Call) -> MethodResult {
    purge(c);
    let fields = fields_param(c.params);
    let (k, _) = key(c, &fields)?;
    let rec = c.state.records.addresses.get_mut(&k).ok_or_else(|| legacy("TypeAddress not found."))?;
    write(rec, &fields);
    Ok(Output::new(json!(true)))
}

/// `crm.address.delete`.
pub(crate) fn delete(c: &mut Call) -> MethodResult {
    purge(c);
    let fields = fields_param(c.params);
    let (k, _) = key(c, &fields)?;
    c.state.records.addresses.remove(&k).ok_or_else(|| legacy("TypeAddress not found."))?;
    Ok(Output::new(json!(true)))
}

/// `crm.address.fields`.
pub(crate) fn fields(_: &mut Call) -> MethodResult {
    Ok(Output::new(described(FIELDS)))
}

fn kind(name: &str) -> Kind {
    match name {
        "TYPE_ID" | "ENTITY_TYPE_ID" | "ENTITY_ID" | "LOC_ADDR_ID" | "ANCHOR_TYPE_ID" | "ANCHOR_ID" => {
            Kind::Number
        }
        _ => Kind::Text,
    }
}

/// `crm.address.list`.
pub(crate) fn list(c: &mut Call) -> MethodResult {
    purge(c);
    let recs: Vec<&Map<String, Value>> = c.state.records.addresses.values().collect();
    list_of(c, recs, "LOC_ADDR_ID", &kind, &render)
}
