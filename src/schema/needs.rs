//! Which reads a step needs: a refused read it does not need is a note
//! ([`super::Gap::UnreadNotNeeded`]), not a gap that stops it. Pure: decides from the mapping
//! and what was read.

use super::model::PortalSchema;
use crate::bitrix::Method;
use crate::bitrix::entity::UfEntity;
use crate::mapping::{Entity, MappingPlan};

/// The `FIELD_NAME` of a custom field a mapping names (either spelling).
pub(super) fn upper_of(name: &str) -> String {
    crate::mapping::names::upper(name).unwrap_or_else(|| name.to_string())
}

/// Whether `plan` needs what `method` reads (a refusal of a read it does not need is a note):
/// the currency list only for a currency field as a label list, the status list only for
/// status fields as label lists, a custom-field list only for a custom field whose list
/// provision completes (its ID), the workspace list only for `[target.provision] workspace`;
/// every other read (types, fields, pipelines) is needed.
pub(super) fn needs_read(plan: &MappingPlan, schema: &PortalSchema, method: &str) -> bool {
    let portal_kind = |name: &str| {
        schema
            .entity_type_id(plan)
            .and_then(|e| schema.entities.get(&e))
            .and_then(|e| e.field(name))
            .map(|f| f.kind.clone())
    };
    let labels = || plan.fields.iter().filter(|f| f.deferred == Some(crate::mapping::Deferred::Label));
    match Method::from_name(method) {
        Some(Method::CrmCurrencyList) => labels()
            .any(|f| f.name == "currencyId" || portal_kind(&f.name).is_some_and(|k| k == "crm_currency")),
        Some(Method::CrmStatusList) => {
            labels().any(|f| portal_kind(&f.name).is_none_or(|k| k == "crm_status"))
        }
        Some(Method::CrmAutomatedSolutionList) => plan.target.provision.workspace.is_some(),
        Some(m @ (Method::UserfieldconfigList | Method::CrmUserfieldList(_))) => {
            let own = match plan.target.entity {
                Entity::Crm(etid) => {
                    UfEntity::of(etid).map_or(Method::UserfieldconfigList, Method::CrmUserfieldList)
                }
                _ => Method::UserfieldconfigList,
            };
            m == own && plan.fields.iter().any(|f| f.add_missing_values && Entity::is_custom_field(&f.name))
        }
        _ => true,
    }
}
