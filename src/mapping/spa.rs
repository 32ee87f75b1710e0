//! Smart-process facts the mapping and the schema comparison share: the feature flags
//! `crm.type.update` documents (`../shared/seeds/crm.type.update.txt`) and which standard fields
//! each flag switches on.
//!
//! Owns: [`FLAGS`] (what `[target.provision] flags` may name) and [`flag_for_field`]. A field
//! whose flag is off is absent from `crm.item.fields` and silently dropped by `crm.item.add`,
//! so the schema comparison names the flag instead of calling the field unknown. Pure data.

/// The `is*Enabled` flags of a smart process, as the `crm.type.update` page lists them.
pub const FLAGS: &[&str] = &[
    "isUseInUserfieldEnabled",
    "isAutomationEnabled",
    "isBeginCloseDatesEnabled",
    "isBizProcEnabled",
    "isCategoriesEnabled",
    "isClientEnabled",
    "isDocumentsEnabled",
    "isLinkWithProductsEnabled",
    "isMycompanyEnabled",
    "isObserversEnabled",
    "isRecyclebinEnabled",
    "isSourceEnabled",
    "isStagesEnabled",
];

/// The flag that must be on for a smart process to have the standard field `field`, or `None`
/// when the field does not depend on one.
///
/// From the `crm.type.update` page's flag descriptions: the Client field (contacts and
/// companies), Start/End dates, Source and source information, Observers, custom stages,
/// custom funnels (categories), Your Company details, and the link to catalog products (the
/// amount and currency are computed from products, so they follow it: a decision, the page
/// does not list the fields).
pub fn flag_for_field(field: &str) -> Option<&'static str> {
    Some(match field {
        "companyId" | "contactId" | "contactIds" => "isClientEnabled",
        "begindate" | "closedate" => "isBeginCloseDatesEnabled",
        "sourceId" | "sourceDescription" => "isSourceEnabled",
        "observers" => "isObserversEnabled",
        "stageId" => "isStagesEnabled",
        "categoryId" => "isCategoriesEnabled",
        "mycompanyId" => "isMycompanyEnabled",
        "opportunity" | "isManualOpportunity" | "currencyId" | "taxValue" => "isLinkWithProductsEnabled",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_a_field_needs_is_a_documented_flag() {
        for field in [
            "companyId",
            "begindate",
            "sourceId",
            "observers",
            "stageId",
            "categoryId",
            "mycompanyId",
            "opportunity",
        ] {
            let flag = flag_for_field(field).expect("field has a flag");
            assert!(FLAGS.contains(&flag), "{field} -> {flag}");
        }
        assert_eq!(flag_for_field("title"), None);
    }
}
