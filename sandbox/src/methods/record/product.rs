//! `crm.product.list` (`api-reference/crm/outdated/products/crm-product-list.md`), read-only:
//! the catalogue products seeded by the schema file's `[[products]]` (`crate::record`), with
//! `filter` (by `NAME`, `XML_ID`, `ID`, any field of `crm-product-fields.md`), `order`,
//! `select`, `start`, fields as that page lists them.
//!
//! Owns that answer; it must not add products (the portal's `crm.product.add` is not
//! emulated: products are seed data).

use serde_json::{Map, Value};

use super::super::filter::Kind;
use super::super::{Call, MethodResult};
use super::{as_shown, list_of};

fn kind(name: &str) -> Kind {
    match name {
        "ID" | "CATALOG_ID" | "PRICE" | "SECTION_ID" | "SORT" | "VAT_ID" | "MEASURE" | "CREATED_BY"
        | "MODIFIED_BY" => Kind::Number,
        "DATE_CREATE" | "TIMESTAMP_X" => Kind::Date,
        "ACTIVE" | "VAT_INCLUDED" => Kind::Bool,
        _ => Kind::Text,
    }
}

fn render(p: &Map<String, Value>, select: Option<&[String]>) -> Value {
    Value::Object(
        p.iter()
            .filter(|(k, _)| select.is_none_or(|s| s.iter().any(|n| n == *k)))
            .map(|(k, v)| (k.clone(), as_shown(v)))
            .collect(),
    )
}

/// `crm.product.list`.
pub(crate) fn list(c: &mut Call) -> MethodResult {
    let products: Vec<&Map<String, Value>> = c.state.records.products.values().collect();
    list_of(c, products, "ID", &kind, &render)
}
