//! Product rows (issue 20, `entity = "product_rows"`) as a mapping sees them: the fields one
//! row of `crm.item.productrow.set` may set, from the product-row fields page
//! (`api-reference/crm/universal/product-rows/crm-item-productrow-fields.md`; the sandbox's
//! `sandbox/src/methods/record/productrow.fields.json` holds the same table), read-only ones
//! (`id`, `priceExclusive`, `priceNetto`, `priceBrutto`, `type`, `storeId`) and the owner
//! (`ownerType`, `ownerId`: from `parent`) left out.
//!
//! Must not: build payloads (that is `payload::products`'s) or read anything.

use super::spec::ValueType;

use ValueType::{Bool, Int, Number, String as Str};

/// The writable fields of one product row, with the type used when a mapping gives none.
pub(super) const PRODUCT_ROW_FIELDS: &[(&str, ValueType)] = &[
    ("productId", Int),
    ("productName", Str),
    ("price", Number),
    ("quantity", Number),
    ("discountTypeId", Int),
    ("discountRate", Number),
    ("discountSum", Number),
    ("taxRate", Number),
    ("taxIncluded", Bool),
    ("customized", Bool),
    ("measureCode", Int),
    ("measureName", Str),
    ("sort", Int),
];

/// The fields of a product row the import sets itself (from `parent`).
pub const SET_BY_THE_IMPORT: [&str; 2] = ["ownerType", "ownerId"];

/// `productId = { column, product = "xmlId" | "name" }`: how a cell names a catalogue product
/// (`crm.product.list`'s `XML_ID` or `NAME`), replaced by its ID at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductBy {
    XmlId,
    Name,
}

impl ProductBy {
    pub fn from_name(name: &str) -> Option<ProductBy> {
        match name {
            "xmlId" => Some(ProductBy::XmlId),
            "name" => Some(ProductBy::Name),
            _ => None,
        }
    }

    /// As the mapping writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ProductBy::XmlId => "xmlId",
            ProductBy::Name => "name",
        }
    }

    /// The catalogue's field (`crm-product-fields.md`).
    pub fn field(self) -> &'static str {
        match self {
            ProductBy::XmlId => "XML_ID",
            ProductBy::Name => "NAME",
        }
    }
}
