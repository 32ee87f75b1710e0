//! The whole record beyond the CRM items (issue 20): product rows, the catalogue products they
//! point at, requisite presets, requisites, bank details and addresses.
//!
//! Owns that data, its id counters, the portal's default presets, the `[[products]]` seed of the
//! schema file ([`ProductSpec`]) and the cascades ([`Records::purge_orphans`]). It does not
//! validate requests or word answers (that is `methods::record`), and it does no I/O. It is
//! not persisted by `--state` (kept in memory only).
//!
//! Cascades (the pages `api-reference/crm/requisites/universal/crm-requisite-delete.md`: "deletes
//! a requisite and all associated objects (links to other entities, addresses, bank details)";
//! deleting a company or contact deletes its requisites on a portal, the core's
//! `EntityRequisite::deleteByEntity` called from the entity's delete; deleting a deal, lead,
//! quote, invoice or smart-process item deletes its product rows, the core's
//! `ProductRowTable` rows go with their owner): the data here is tied to items the item methods
//! own, so rather than hooking every delete path, each record method first drops what lost its
//! owner ([`Records::purge_orphans`]). Item ids are never reused, so a row whose owner is gone
//! can never be reached again: the result is the same as a cascade at the moment of deletion.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

/// `[[products]]` of the schema file: one catalogue product, for `crm.product.list` and for the
/// names and units of product rows that point at it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    /// The product's ID (default: the next free one, from 1).
    pub id: Option<u64>,
    /// `NAME`.
    pub name: String,
    /// `XML_ID` (the external key lookups use).
    pub xml_id: Option<String>,
    /// `PRICE`.
    pub price: Option<f64>,
    /// `CURRENCY_ID` (default `RUB`, the base currency of a fresh portal).
    pub currency: Option<String>,
    /// The unit of measure's code (`796` pieces by default, the catalogue's default unit).
    pub measure_code: Option<u64>,
}

/// The catalogue's units of measure of a fresh portal: (code, short name).
pub const MEASURES: [(u64, &str); 6] =
    [(6, "m"), (112, "l"), (163, "g"), (166, "kg"), (356, "h"), (796, "pcs")];

/// The short name of a unit of measure code (`None` for a code the catalogue has not).
pub fn measure_name(code: u64) -> Option<&'static str> {
    MEASURES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// An address's key: (TYPE_ID, ENTITY_TYPE_ID, ENTITY_ID).
pub type AddressKey = (u64, u64, u64);

/// Last ids given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordCounters {
    /// Product rows.
    pub product_row: u64,
    /// Catalogue products.
    pub product: u64,
    /// Presets.
    pub preset: u64,
    /// Requisites.
    pub requisite: u64,
    /// Bank details.
    pub bank_detail: u64,
    /// Location addresses (`LOC_ADDR_ID`).
    pub location: u64,
}

/// The store. Every record is kept as the API shows it (camelCase for product rows, upper case
/// for the rest), numbers as JSON numbers; the methods render them.
#[derive(Debug, Clone, PartialEq)]
pub struct Records {
    /// Product rows by id (`ownerType`, `ownerId` among their fields).
    pub product_rows: BTreeMap<u64, Map<String, Value>>,
    /// Catalogue products by ID.
    pub products: BTreeMap<u64, Map<String, Value>>,
    /// Requisite presets by ID.
    pub presets: BTreeMap<u64, Map<String, Value>>,
    /// Requisites by ID.
    pub requisites: BTreeMap<u64, Map<String, Value>>,
    /// Bank details by ID.
    pub bank_details: BTreeMap<u64, Map<String, Value>>,
    /// Addresses by key.
    pub addresses: BTreeMap<AddressKey, Map<String, Value>>,
    /// Id counters.
    pub counters: RecordCounters,
}

/// The default presets of a portal: (ID, NAME, XML_ID, SORT). The IDs and English names are
/// those of `api-reference/crm/requisites/presets/crm-requisite-preset-list.md`'s answer (1
/// Organization, 2 Sole Proprietorship, 3 Individual, for `COUNTRY_ID` 1); its fourth,
/// "Organization (additional)", is a template a user added and is left out. The XML_IDs are the
/// `#CRM_REQUISITE_PRESET_DEF_...` codes the page reserves for the default templates (the
/// core's `EntityPreset` names them `..._RU_COMPANY#`, `..._RU_INDIVIDUAL#`, `..._RU_PERSON#`).
/// A Russian-language portal shows "Организация", "ИП", "Физ. лицо" for the same three; the
/// sandbox answers in English, as the pages do (issue 20's mapping example says
/// `preset = "Organization"`).
pub const DEFAULT_PRESETS: [(u64, &str, &str, u64); 3] = [
    (1, "Organization", "#CRM_REQUISITE_PRESET_DEF_RU_COMPANY#", 500),
    (2, "Sole Proprietorship", "#CRM_REQUISITE_PRESET_DEF_RU_INDIVIDUAL#", 510),
    (3, "Individual", "#CRM_REQUISITE_PRESET_DEF_RU_PERSON#", 520),
];

impl Default for Records {
    fn default() -> Self {
        let mut r = Records {
            product_rows: BTreeMap::new(),
            products: BTreeMap::new(),
            presets: BTreeMap::new(),
            requisites: BTreeMap::new(),
            bank_details: BTreeMap::new(),
            addresses: BTreeMap::new(),
            counters: RecordCounters::default(),
        };
        for (id, name, xml_id, sort) in DEFAULT_PRESETS {
            let preset = json!({
                "ID": id, "ENTITY_TYPE_ID": 8, "COUNTRY_ID": 1, "DATE_CREATE": "2024-01-01T00:00:00+00:00",
                "DATE_MODIFY": "", "CREATED_BY_ID": 1, "MODIFY_BY_ID": null, "NAME": name,
                "XML_ID": xml_id, "ACTIVE": "Y", "SORT": sort,
            });
            r.presets.insert(id, preset.as_object().cloned().unwrap_or_default());
            r.counters.preset = id;
        }
        r
    }
}

impl Records {
    /// Adds the schema file's `[[products]]` to the catalogue.
    pub fn seed_products(&mut self, products: &[ProductSpec], now: &str) {
        for p in products {
            let id = p.id.unwrap_or(self.counters.product + 1);
            self.counters.product = self.counters.product.max(id);
            let product = json!({
                "ID": id, "CATALOG_ID": 1, "PRICE": p.price, "CURRENCY_ID": p.currency.as_deref().unwrap_or("RUB"),
                "NAME": p.name, "CODE": null, "DESCRIPTION": null, "DESCRIPTION_TYPE": "text", "ACTIVE": "Y",
                "SECTION_ID": null, "SORT": 100, "VAT_ID": null, "VAT_INCLUDED": "N",
                "MEASURE": p.measure_code.unwrap_or(796), "XML_ID": p.xml_id.clone().unwrap_or_else(|| id.to_string()),
                "PREVIEW_PICTURE": null, "DETAIL_PICTURE": null, "DATE_CREATE": now, "TIMESTAMP_X": now,
                "MODIFIED_BY": 1, "CREATED_BY": 1,
            });
            self.products.insert(id, product.as_object().cloned().unwrap_or_default());
        }
    }

    /// Drops what lost its owner: product rows of items that are gone, requisites of companies
    /// and contacts that are gone, then bank details and addresses of requisites (or leads)
    /// that are gone. `exists(entity_type_id, id)` answers whether a CRM item exists.
    pub fn purge_orphans(&mut self, exists: &dyn Fn(u64, u64) -> bool) {
        let num = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
        self.product_rows.retain(|_, r| {
            let etid = r.get("_entityTypeId").and_then(Value::as_u64).unwrap_or(0);
            exists(etid, num(r, "ownerId"))
        });
        self.requisites.retain(|_, r| exists(num(r, "ENTITY_TYPE_ID"), num(r, "ENTITY_ID")));
        let requisites = &self.requisites;
        self.bank_details.retain(|_, b| requisites.contains_key(&num(b, "ENTITY_ID")));
        self.addresses.retain(|(_, etid, id), _| match etid {
            8 => requisites.contains_key(id),
            other => exists(*other, *id),
        });
    }

    /// Deletes a requisite with its bank details and addresses (`crm.requisite.delete`'s page).
    pub fn delete_requisite(&mut self, id: u64) -> bool {
        let found = self.requisites.remove(&id).is_some();
        self.bank_details.retain(|_, b| b.get("ENTITY_ID").and_then(Value::as_u64) != Some(id));
        self.addresses.retain(|(_, etid, eid), _| !(*etid == 8 && *eid == id));
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requisite_goes_with_its_bank_details_and_addresses() {
        let mut r = Records::default();
        r.requisites.insert(1, json!({"ENTITY_TYPE_ID": 4, "ENTITY_ID": 7}).as_object().cloned().unwrap());
        r.bank_details.insert(5, json!({"ENTITY_ID": 1}).as_object().cloned().unwrap());
        r.addresses.insert((1, 8, 1), Map::new());
        r.addresses.insert((1, 1, 3), Map::new());
        assert!(r.delete_requisite(1));
        assert!(r.bank_details.is_empty());
        assert_eq!(r.addresses.len(), 1);
        r.purge_orphans(&|_, _| false);
        assert!(r.addresses.is_empty());
        assert_eq!(r.presets.len(), 3);
    }
}
