//! The catalogue products a product row's `productId = { column, product = "xmlId" | "name" }`
//! names (issue 20): read once per step with `crm.product.list`
//! (`api-reference/crm/outdated/products/crm-product-list.md`: `select` `ID`, `NAME`,
//! `XML_ID`, pages of 50 by `start`), then each value found by the field it names exactly, a
//! name then ignoring case and surrounding space. A value the catalogue lacks rejects the row,
//! as an unknown label does (`unknown_label`, naming a few of the catalogue's values).
//!
//! Must not write anything, nor read the catalogue more than once a step.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::portal::Portal;
use super::stop::Stop;
use crate::bitrix::{Method, json as bjson};
use crate::mapping::Problem;
use crate::mapping::products::ProductBy;

/// Products per `crm.product.list` page (the legacy lists' page).
const PAGE: usize = 50;

/// Values shown when a product is not found.
const SHOWN: usize = 5;

/// The catalogue: by `XML_ID`, by `NAME` (as given and folded).
#[derive(Debug, Default)]
pub struct Catalogue {
    by_xml: HashMap<String, u64>,
    by_name: HashMap<String, u64>,
    by_folded: HashMap<String, u64>,
}

fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}

impl Catalogue {
    /// Every product of the portal; `Err` the read failed.
    pub(super) async fn read(portal: Portal<'_>) -> Result<Result<Catalogue, String>, Stop> {
        let mut out = Catalogue::default();
        let mut start = 0;
        loop {
            let params = json!({"select": ["ID", "NAME", "XML_ID"], "order": {"ID": "ASC"}, "start": start});
            let page = match portal.read_many(Method::CrmProductList, vec![params]).await?.pop() {
                Some(Ok(v)) => v,
                Some(Err(e)) => return Ok(Err(e)),
                None => return Ok(Err("no answer".into())),
            };
            let rows = page.as_array().cloned().unwrap_or_default();
            for p in &rows {
                let Some(id) = p.get("ID").and_then(bjson::id) else { continue };
                if let Some(xml) = p.get("XML_ID").and_then(Value::as_str).filter(|x| !x.is_empty()) {
                    out.by_xml.entry(xml.to_string()).or_insert(id);
                }
                if let Some(name) = p.get("NAME").and_then(Value::as_str) {
                    out.by_name.entry(name.to_string()).or_insert(id);
                    out.by_folded.entry(fold(name)).or_insert(id);
                }
            }
            if rows.len() < PAGE {
                return Ok(Ok(out));
            }
            start += rows.len();
        }
    }

    /// The portal's catalogue for `validate --online` (the run's own read, the same rules).
    pub async fn read_for_validate(reads: &crate::portal::Reads) -> Result<Catalogue, String> {
        match Catalogue::read(Portal::new(reads)).await {
            Ok(Ok(c)) => Ok(c),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the portal could not be read".into()),
        }
    }

    /// The ID of the product `value` names, or the row's rejection.
    pub fn find(&self, by: ProductBy, value: &str) -> Result<u64, (Problem, String)> {
        let found = match by {
            ProductBy::XmlId => self.by_xml.get(value).or_else(|| self.by_xml.get(value.trim())),
            ProductBy::Name => self.by_name.get(value).or_else(|| self.by_folded.get(&fold(value))),
        };
        found.copied().ok_or_else(|| {
            let known = match by {
                ProductBy::XmlId => &self.by_xml,
                ProductBy::Name => &self.by_name,
            };
            let mut some: Vec<&String> = known.keys().collect();
            some.sort();
            let shown: Vec<String> = some.iter().take(SHOWN).map(|k| format!("\"{k}\"")).collect();
            let more = if some.len() > SHOWN { format!(", … {} in all", some.len()) } else { String::new() };
            (
                Problem::UnknownLabel,
                format!(
                    "field `productId`: the catalogue has no product with {} \"{value}\" (its products: {}{more})",
                    by.field(),
                    if shown.is_empty() { "none".to_string() } else { shown.join(", ") }
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_is_found_by_its_xml_id_or_its_name_and_an_unknown_one_is_named() {
        let mut c = Catalogue::default();
        c.by_xml.insert("SKU-1".into(), 7);
        c.by_name.insert("Valve DN20".into(), 8);
        c.by_folded.insert(fold("Valve DN20"), 8);
        assert_eq!(c.find(ProductBy::XmlId, "SKU-1"), Ok(7));
        assert_eq!(c.find(ProductBy::Name, " valve dn20 "), Ok(8));
        let (code, text) = c.find(ProductBy::XmlId, "SKU-2").expect_err("unknown");
        assert_eq!(code, Problem::UnknownLabel);
        assert!(text.contains("XML_ID \"SKU-2\"") && text.contains("\"SKU-1\""), "{text}");
    }
}
