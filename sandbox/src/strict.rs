//! How strict `crm.item.add` / `crm.item.update` are beyond what the built-in schema says: the
//! required fields that depend on the stage (the `crm.item.add` page: "required fields dependent
//! on stages are validated"; which fields a stage requires is each portal's own setting, so the
//! sandbox is told) and whether references to records that do not exist are refused.
//!
//! Owns the configuration ([`ItemRules`], one field of [`crate::SandboxConfig`]) and the
//! `ENTITY[:STAGE]=FIELD,FIELD` syntax of the `b24import sandbox --require` flag. It checks
//! nothing itself: `methods::item` applies the rules. The schema file's `[[entity.require]]`
//! tables (`schema::EntitySpec::require`) say the same thing per entity and are applied
//! alongside these.

use std::str::FromStr;

/// The item rules of one sandbox portal. The default is as strict as a portal can be told to
/// be: no stage-dependent requirement (a fresh portal has none) and references to records that
/// do not exist refused.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemRules {
    /// Fields required on a stage (or on every stage), per entity type.
    pub stage_required: Vec<StageRequirement>,
    /// Store an ID that points at nothing (a user, company, contact, lead, deal, quote or parent
    /// item that does not exist) instead of refusing it with `CRM_FIELD_ERROR_VALUE_NOT_VALID`,
    /// as portals do whose data was loaded around the API (`--accept-dangling-refs`).
    pub accept_dangling_refs: bool,
}

/// "Items of `entity_type_id` on stage `stage` must have `fields` filled."
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRequirement {
    /// The entity type (1 lead, 2 deal, 3 contact, 4 company, 7 quote, 31 invoice, or a smart
    /// process's entityTypeId).
    pub entity_type_id: u64,
    /// The stage: a full `STATUS_ID` (`C3:WON`, `DT1032_7:SUCCESS`) or the code after the
    /// pipeline prefix (`WON` matches `WON`, `C3:WON`, ...); `None`: every item, whatever its
    /// stage (entities without stages included).
    pub stage: Option<String>,
    /// Field names as `crm.item.fields` gives them (camelCase or `UF_CRM_...`).
    pub fields: Vec<String>,
}

impl StageRequirement {
    /// Whether the requirement applies to an item on `stage` (`None`: the entity has no stage).
    pub fn applies_to(&self, stage: Option<&str>) -> bool {
        match (&self.stage, stage) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(want), Some(have)) => {
                have == want || have.rsplit_once(':').is_some_and(|(_, code)| code == want)
            }
        }
    }
}

/// The entity names `--require` takes, with their entityTypeId.
pub const ENTITY_NAMES: [(&str, u64); 6] =
    [("lead", 1), ("deal", 2), ("contact", 3), ("company", 4), ("quote", 7), ("invoice", 31)];

/// Why a `--require` value is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// No `=` between the entity and the fields.
    #[error("expected ENTITY[:STAGE]=FIELD[,FIELD...], e.g. deal:WON=opportunity,closedate; got `{0}`")]
    Syntax(String),
    /// The entity is neither a name of [`ENTITY_NAMES`] nor a number.
    #[error("unknown entity `{0}` (lead, deal, contact, company, quote, invoice or an entityTypeId)")]
    Entity(String),
    /// Nothing after `=`.
    #[error("no fields after `=` in `{0}`")]
    NoFields(String),
}

impl FromStr for StageRequirement {
    type Err = RuleError;

    /// `deal:WON=opportunity,closedate`, `contact=lastName`, `1032:DT1032_7:SUCCESS=ufCrm5_1`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (target, fields) = s.split_once('=').ok_or_else(|| RuleError::Syntax(s.to_string()))?;
        let (entity, stage) = match target.split_once(':') {
            Some((e, st)) => (e.trim(), Some(st.trim().to_string()).filter(|st| !st.is_empty())),
            None => (target.trim(), None),
        };
        let lower = entity.to_ascii_lowercase();
        let entity_type_id = ENTITY_NAMES
            .iter()
            .find(|(n, _)| *n == lower)
            .map(|(_, id)| *id)
            .or_else(|| entity.parse().ok())
            .ok_or_else(|| RuleError::Entity(entity.to_string()))?;
        let fields: Vec<String> =
            fields.split(',').map(str::trim).filter(|f| !f.is_empty()).map(str::to_string).collect();
        if fields.is_empty() {
            return Err(RuleError::NoFields(s.to_string()));
        }
        Ok(StageRequirement { entity_type_id, stage, fields })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_require_flag_names_entity_stage_and_fields() {
        let r: StageRequirement = "deal:WON=opportunity, closedate".parse().expect("valid");
        assert_eq!(r.entity_type_id, 2);
        assert_eq!(r.stage.as_deref(), Some("WON"));
        assert_eq!(r.fields, ["opportunity", "closedate"]);
        assert!(r.applies_to(Some("WON")) && r.applies_to(Some("C3:WON")));
        assert!(!r.applies_to(Some("NEW")) && !r.applies_to(None));
        let any: StageRequirement = "Contact=lastName".parse().expect("valid");
        assert_eq!((any.entity_type_id, any.stage.as_deref()), (3, None));
        assert!(any.applies_to(None));
        let spa: StageRequirement = "1032:DT1032_7:SUCCESS=title".parse().expect("valid");
        assert_eq!((spa.entity_type_id, spa.stage.as_deref()), (1032, Some("DT1032_7:SUCCESS")));
        assert!(spa.applies_to(Some("DT1032_7:SUCCESS")));
        assert!(matches!("deal:WON".parse::<StageRequirement>(), Err(RuleError::Syntax(_))));
        assert!(matches!("order=x".parse::<StageRequirement>(), Err(RuleError::Entity(_))));
        assert!(matches!("deal=".parse::<StageRequirement>(), Err(RuleError::NoFields(_))));
    }
}
