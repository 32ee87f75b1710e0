//! The portal's entity tables: built-in entityTypeIds and their short codes, which entities
//! have their own custom-field methods and who owns every other entity's custom fields, the
//! names of the stage directories, and the multifield types. Facts:
//! `docs/portal-protocol.md` ("Entities and fields", §3.3).
//!
//! Owns the facts only: what a mapping may name (`entity = "contact"`, standard fields and
//! their value types) is `mapping::entity`'s. Must not do I/O.

pub const LEAD: u32 = 1;
pub const DEAL: u32 = 2;
pub const CONTACT: u32 = 3;
pub const COMPANY: u32 = 4;
pub const QUOTE: u32 = 7;
pub const INVOICE: u32 = 31;

/// Every built-in CRM entityTypeId (anything else is a smart process).
pub const BUILTIN_TYPE_IDS: [u32; 6] = [LEAD, DEAL, CONTACT, COMPANY, QUOTE, INVOICE];

/// The short code of each built-in type (`lead`, as in `crm.lead.userfield.add` and in a
/// mapping's `entity = "lead"`).
pub const TYPE_CODES: [(u32, &str); 6] = [
    (LEAD, "lead"),
    (DEAL, "deal"),
    (CONTACT, "contact"),
    (COMPANY, "company"),
    (QUOTE, "quote"),
    (INVOICE, "invoice"),
];

/// The short code of a built-in type (`None`: a smart process).
pub fn type_code(entity_type_id: u32) -> Option<&'static str> {
    TYPE_CODES.iter().find(|(id, _)| *id == entity_type_id).map(|(_, code)| *code)
}

/// The built-in type of a short code (exact, lower-case).
pub fn type_of_code(code: &str) -> Option<u32> {
    TYPE_CODES.iter().find(|(_, c)| *c == code).map(|(id, _)| *id)
}

/// A built-in CRM type (lead, deal, contact, company, quote, invoice), not a smart process.
pub fn is_builtin_type_id(id: u32) -> bool {
    BUILTIN_TYPE_IDS.contains(&id)
}

/// A smart process by entityTypeId: even and >= 1030, or 128..=192 (§6).
pub fn is_valid_spa_id(id: u32) -> bool {
    (id >= 1030 && id.is_multiple_of(2)) || (128..=192).contains(&id)
}

/// Whether the type has pipelines (`crm.category.list`): every one but leads and quotes.
pub fn has_categories(entity_type_id: u32) -> bool {
    !matches!(entity_type_id, LEAD | QUOTE)
}

/// The entities with their own custom-field methods (`crm.<code>.userfield.*`); every other
/// entity's custom fields go through `userfieldconfig.*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UfEntity {
    Lead,
    Deal,
    Contact,
    Company,
}

impl UfEntity {
    pub const ALL: [UfEntity; 4] = [UfEntity::Lead, UfEntity::Deal, UfEntity::Contact, UfEntity::Company];

    /// The entity of `entity_type_id`, when it has its own custom-field methods.
    pub fn of(entity_type_id: u32) -> Option<UfEntity> {
        Some(match entity_type_id {
            LEAD => UfEntity::Lead,
            DEAL => UfEntity::Deal,
            CONTACT => UfEntity::Contact,
            COMPANY => UfEntity::Company,
            _ => return None,
        })
    }

    /// The short code in its method names (`contact`).
    pub fn code(self) -> &'static str {
        match self {
            UfEntity::Lead => "lead",
            UfEntity::Deal => "deal",
            UfEntity::Contact => "contact",
            UfEntity::Company => "company",
        }
    }
}

/// Where an entity type's custom fields live, which decides the methods that read, create
/// and complete them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldOwner {
    /// Lead, deal, contact, company: `crm.<entity>.userfield.*`.
    Crm(UfEntity),
    /// Quotes (`CRM_QUOTE`), invoices (`CRM_SMART_INVOICE`) and smart processes
    /// (`CRM_<type id>`, the type's `id`, not its entityTypeId): `userfieldconfig.*` with this
    /// `entityId`.
    Config(String),
}

impl FieldOwner {
    /// The owner of entity type `entity_type_id`'s custom fields; `smart_process_id` gives a
    /// smart process's type `id` (`None`: a smart process the caller does not know).
    pub fn of(entity_type_id: u32, smart_process_id: impl FnOnce() -> Option<u64>) -> Option<FieldOwner> {
        if let Some(e) = UfEntity::of(entity_type_id) {
            return Some(FieldOwner::Crm(e));
        }
        Some(FieldOwner::Config(match entity_type_id {
            QUOTE => "CRM_QUOTE".into(),
            INVOICE => "CRM_SMART_INVOICE".into(),
            _ => smart_process_config_id(smart_process_id()?),
        }))
    }
}

/// The `userfieldconfig` `entityId` of the smart process whose type `id` (not entityTypeId)
/// is `type_id`: `CRM_<id>`.
pub fn smart_process_config_id(type_id: u64) -> String {
    format!("CRM_{type_id}")
}

/// The status directory of the stages of `entity_type_id` in `category` (§3.3): leads
/// `STATUS`, deals `DEAL_STAGE` / `DEAL_STAGE_{category}`, quotes `QUOTE_STATUS`, invoices
/// `SMART_INVOICE_STAGE_{category}`, smart processes `DYNAMIC_{entityTypeId}_STAGE_{category}`.
pub fn stage_directory(entity_type_id: u32, category: u64) -> String {
    match entity_type_id {
        LEAD => "STATUS".into(),
        DEAL if category == 0 => "DEAL_STAGE".into(),
        DEAL => format!("DEAL_STAGE_{category}"),
        QUOTE => "QUOTE_STATUS".into(),
        INVOICE => format!("SMART_INVOICE_STAGE_{category}"),
        id => format!("DYNAMIC_{id}_STAGE_{category}"),
    }
}

/// The prefix the portal gives the `STATUS_ID`s of a pipeline's stages, from the name of its
/// directory ([`stage_directory`]): `DYNAMIC_1032_STAGE_5` -> `DT1032_5:`, `DEAL_STAGE_3` ->
/// `C3:`, `SMART_INVOICE_STAGE_2` -> `DT31_2:`; `None` for other directories (the default deal
/// pipeline, leads, quotes and the other status lists have no prefix).
pub fn stage_prefix(directory: &str) -> Option<String> {
    if let Some(rest) = directory.strip_prefix("DYNAMIC_")
        && let Some((etid, cat)) = rest.split_once("_STAGE_")
    {
        return Some(format!("DT{etid}_{cat}:"));
    }
    if let Some(cat) = directory.strip_prefix("DEAL_STAGE_") {
        return Some(format!("C{cat}:"));
    }
    if let Some(cat) = directory.strip_prefix("SMART_INVOICE_STAGE_") {
        return Some(format!("DT{INVOICE}_{cat}:"));
    }
    None
}

/// Multifield (`fm`) types and the value types each takes (`docs/portal-protocol.md` §3.3).
/// `WEB` also takes `FACEBOOK`, which the documentation's list lacks.
pub const FM_TYPES: &[(&str, &[&str])] = &[
    ("PHONE", &["WORK", "MOBILE", "FAX", "HOME", "PAGER", "MAILING", "OTHER"]),
    ("EMAIL", &["WORK", "HOME", "MAILING", "OTHER"]),
    ("WEB", &["WORK", "HOME", "VK", "LIVEJOURNAL", "TWITTER", "FACEBOOK", "OTHER"]),
    (
        "IM",
        &[
            "TELEGRAM", "VK", "SKYPE", "VIBER", "BITRIX24", "OPENLINE", "IMOL", "ICQ", "MSN", "JABBER",
            "OTHER",
        ],
    ),
    ("LINK", &["USER", "OTHER"]),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_type_ids_are_not_smart_processes() {
        for id in BUILTIN_TYPE_IDS {
            assert!(is_builtin_type_id(id));
            assert!(!is_valid_spa_id(id), "{id}");
            assert_eq!(type_code(id).and_then(type_of_code), Some(id));
        }
        assert!(!is_builtin_type_id(5), "the legacy invoice type is not offered");
        assert!(!is_builtin_type_id(1032));
        assert_eq!(type_code(1032), None);
        assert!(!has_categories(LEAD) && !has_categories(QUOTE));
        assert!(has_categories(DEAL) && has_categories(INVOICE) && has_categories(1032));
    }

    #[test]
    fn spa_ids_follow_the_portal_rule() {
        assert!(is_valid_spa_id(1032));
        assert!(is_valid_spa_id(128));
        assert!(!is_valid_spa_id(1031));
        assert!(!is_valid_spa_id(3));
    }

    #[test]
    fn custom_fields_belong_to_their_entity_or_to_userfieldconfig() {
        let none = || None;
        assert_eq!(FieldOwner::of(CONTACT, none), Some(FieldOwner::Crm(UfEntity::Contact)));
        assert_eq!(FieldOwner::of(QUOTE, none), Some(FieldOwner::Config("CRM_QUOTE".into())));
        assert_eq!(FieldOwner::of(INVOICE, none), Some(FieldOwner::Config("CRM_SMART_INVOICE".into())));
        assert_eq!(FieldOwner::of(1032, || Some(9)), Some(FieldOwner::Config("CRM_9".into())));
        assert_eq!(FieldOwner::of(1032, none), None, "an unknown smart process has no owner yet");
        for e in UfEntity::ALL {
            assert_eq!(type_code(type_of_code(e.code()).expect("a built-in code")), Some(e.code()));
        }
    }

    #[test]
    fn stage_directories_and_their_prefixes() {
        let cases = [
            (LEAD, 0, "STATUS", None),
            (DEAL, 0, "DEAL_STAGE", None),
            (DEAL, 3, "DEAL_STAGE_3", Some("C3:")),
            (QUOTE, 0, "QUOTE_STATUS", None),
            (INVOICE, 2, "SMART_INVOICE_STAGE_2", Some("DT31_2:")),
            (1032, 5, "DYNAMIC_1032_STAGE_5", Some("DT1032_5:")),
        ];
        for (etid, category, directory, prefix) in cases {
            assert_eq!(stage_directory(etid, category), directory);
            assert_eq!(stage_prefix(directory).as_deref(), prefix, "{directory}");
        }
        assert_eq!(stage_prefix("SOURCE"), None);
    }
}
