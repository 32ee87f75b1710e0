//! Target entities as a mapping names them, and the system fields the portal knows for each.
//!
//! Owns: `entity = "contact"` -> [`Entity`] (the type ids and short codes themselves are
//! [`crate::bitrix::entity`]'s, re-exported here with the multifield types), which entities
//! have multifields and which external-key fields, and the standard field names with their
//! value types (used to catch typos such as `lastname`, since the portal silently ignores
//! unknown fields, and to give well-known fields a sensible default type). Facts:
//! `docs/portal-protocol.md` ("Entities and fields"). Must not hold a portal fact of its own
//! beyond these fields (method names, custom-field owners and stage directories are
//! `bitrix`'s). The sandbox keeps its own copy on purpose (it must check the client
//! independently); `tests/sandbox/facts_agree.rs` asserts that the two agree.

use super::spec::ValueType;
use crate::bitrix::entity as bitrix;

/// Where a step's rows go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// A CRM item (`crm.item.add`) of this entityTypeId.
    Crm(u32),
    /// A portal user (`user.add`).
    User,
    /// A timeline comment of a parent item (`crm.timeline.comment.add`, issue 19).
    Comment,
    /// An activity (call, meeting, e-mail) of a parent item (`crm.activity.add`, issue 19).
    Activity,
    /// A requisite of a parent company or contact (`crm.requisite.add`, issue 20).
    Requisite,
    /// A bank detail of a parent requisite (`crm.requisite.bankdetail.add`, issue 20).
    BankDetail,
    /// An address of a parent requisite (`crm.address.add`, issue 20): no ID of its own.
    Address,
    /// The product rows of a parent deal, lead, quote, invoice or smart-process item
    /// (`crm.item.productrow.set`: all rows of one parent at once, issue 20).
    ProductRows,
}

pub use crate::bitrix::entity::{BUILTIN_TYPE_IDS, COMPANY, CONTACT, DEAL, FM_TYPES, INVOICE, LEAD, QUOTE};

/// The names accepted in `entity = "..."`.
pub const ENTITY_NAMES: &[&str] = &[
    "lead",
    "deal",
    "contact",
    "company",
    "quote",
    "invoice",
    "user",
    "comment",
    "activity",
    "requisite",
    "bank_detail",
    "address",
    "product_rows",
];

impl Entity {
    pub fn from_name(name: &str) -> Option<Entity> {
        match name.to_ascii_lowercase().as_str() {
            "user" => Some(Entity::User),
            "comment" => Some(Entity::Comment),
            "activity" => Some(Entity::Activity),
            "requisite" => Some(Entity::Requisite),
            "bank_detail" => Some(Entity::BankDetail),
            "address" => Some(Entity::Address),
            "product_rows" => Some(Entity::ProductRows),
            code => bitrix::type_of_code(code).map(Entity::Crm),
        }
    }

    /// A built-in CRM type (lead, deal, contact, company, quote, invoice), not a smart process.
    pub fn is_builtin_type_id(id: u32) -> bool {
        bitrix::is_builtin_type_id(id)
    }

    /// A smart process by entityTypeId: even and >= 1030, or 128..=192 (§6).
    pub fn is_valid_spa_id(id: u32) -> bool {
        bitrix::is_valid_spa_id(id)
    }

    pub fn name(self) -> String {
        match self {
            Entity::Crm(id) => {
                bitrix::type_code(id).map_or_else(|| format!("smart process {id}"), String::from)
            }
            Entity::User => "user".into(),
            Entity::Comment => "comment".into(),
            Entity::Activity => "activity".into(),
            Entity::Requisite => "requisite".into(),
            Entity::BankDetail => "bank_detail".into(),
            Entity::Address => "address".into(),
            Entity::ProductRows => "product_rows".into(),
        }
    }

    /// A record attached to a parent item (`parent = { step, column }`), not an item itself.
    pub fn is_attached(self) -> bool {
        matches!(
            self,
            Entity::Comment
                | Entity::Activity
                | Entity::Requisite
                | Entity::BankDetail
                | Entity::Address
                | Entity::ProductRows
        )
    }

    /// A requisite, bank detail or address (issue 20): the legacy methods' upper-case fields.
    pub fn is_requisite_kind(self) -> bool {
        matches!(self, Entity::Requisite | Entity::BankDetail | Entity::Address)
    }

    /// Whether a step of this kind may hang on a step of `parent`: comments and activities on
    /// any CRM item, a requisite on a company or contact (the `crm.requisite.add` page:
    /// `ENTITY_TYPE_ID` 3 or 4), bank details and addresses on a requisite (their add pages).
    pub fn takes_parent(self, parent: Entity) -> bool {
        match self {
            Entity::Comment | Entity::Activity => matches!(parent, Entity::Crm(_)),
            Entity::Requisite => matches!(parent, Entity::Crm(CONTACT | COMPANY)),
            Entity::BankDetail | Entity::Address => parent == Entity::Requisite,
            // The product-row pages' `ownerType`: leads, deals, quotes, smart invoices and smart
            // processes (`api-reference/crm/data-types.md#object_type`), never contacts or companies.
            Entity::ProductRows => matches!(parent, Entity::Crm(id) if id != CONTACT && id != COMPANY),
            Entity::Crm(_) | Entity::User => false,
        }
    }

    /// Lead, contact and company carry phones and e-mails (`fm`); deals and others do not.
    pub fn has_multifields(self) -> bool {
        matches!(self, Entity::Crm(LEAD | CONTACT | COMPANY))
    }

    /// Leads, deals, contacts and companies are keyed by `originatorId` + `originId`;
    /// invoices and smart processes by `xmlId`; quotes have neither (key kept in the journal).
    pub fn key_field(self) -> KeyField {
        match self {
            Entity::Crm(LEAD | DEAL | CONTACT | COMPANY) => KeyField::Origin,
            Entity::Crm(QUOTE) => KeyField::None,
            Entity::Crm(_) => KeyField::XmlId,
            Entity::User => KeyField::Email,
            // The portal keeps no key of a comment: the journal keeps its ID, and an unknown
            // outcome is found by the parent's comments' text and author.
            Entity::Comment => KeyField::None,
            Entity::Activity => KeyField::Activity,
            // `XML_ID` (their fields pages): the row key, found again by crm.*.list.
            Entity::Requisite | Entity::BankDetail => KeyField::RecordXmlId,
            // Its key is its type and owner: adding it again is an update (`payload::record`).
            Entity::Address => KeyField::None,
            // The journal's unit is the parent (its key): `set` replaces the parent's rows.
            Entity::ProductRows => KeyField::None,
        }
    }

    /// Standard (non-custom) fields of this entity with the type to use when none is given.
    pub fn known_fields(self) -> impl Iterator<Item = &'static (&'static str, ValueType)> {
        let parts: &[&[(&str, ValueType)]] = match self {
            Entity::Crm(LEAD) => &[COMMON, PERSON, LEAD_EXTRA],
            Entity::Crm(DEAL) => &[COMMON, DEAL_EXTRA],
            Entity::Crm(CONTACT) => &[COMMON, PERSON],
            Entity::Crm(COMPANY) => &[COMMON, COMPANY_EXTRA],
            Entity::Crm(QUOTE) => &[COMMON, ITEM_EXTRA, QUOTE_EXTRA],
            Entity::Crm(_) => &[COMMON, ITEM_EXTRA],
            Entity::User => &[USER_FIELDS],
            Entity::Comment => &[COMMENT_FIELDS],
            Entity::Activity => &[ACTIVITY_FIELDS],
            Entity::Requisite => &[super::record::REQUISITE_FIELDS],
            Entity::BankDetail => &[super::record::BANK_DETAIL_FIELDS],
            Entity::Address => &[super::record::ADDRESS_FIELDS],
            Entity::ProductRows => &[super::products::PRODUCT_ROW_FIELDS],
        };
        parts.iter().flat_map(|p| p.iter())
    }

    /// A custom (user) field name: `ufCrm...` / `UF_CRM_...` / `UF_USR_...` / `UF_...`.
    pub fn is_custom_field(name: &str) -> bool {
        name.starts_with("ufCrm") || name.starts_with("UF_")
    }

    pub fn known_type(self, field: &str) -> Option<ValueType> {
        self.known_fields().find(|(n, _)| *n == field).map(|(_, t)| *t)
    }
}

/// How a created item remembers its source key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyField {
    Origin,
    XmlId,
    Email,
    /// Activities: `ORIGINATOR_ID` + `ORIGIN_ID` (the `crm.activity.add` page).
    Activity,
    /// Requisites and bank details: `XML_ID` (issue 20).
    RecordXmlId,
    None,
}

impl KeyField {
    /// The portal fields that carry the key: `originatorId` + `originId`, `xmlId`, `EMAIL`.
    pub fn field_names(self) -> &'static [&'static str] {
        match self {
            KeyField::Origin => &["originatorId", "originId"],
            KeyField::XmlId => &["xmlId"],
            KeyField::Email => &["EMAIL"],
            KeyField::Activity => &["ORIGINATOR_ID", "ORIGIN_ID"],
            KeyField::RecordXmlId => &["XML_ID"],
            KeyField::None => &[],
        }
    }
}

use ValueType::{Bool, Date, Datetime, Email, File, Int, Number, Phone, String as Str};

/// `crm.timeline.comment.fields` (its page): what a mapping may set.
const COMMENT_FIELDS: &[(&str, ValueType)] = &[("COMMENT", Str), ("AUTHOR_ID", Int), ("FILES", File)];

/// `crm.activity.fields` (its page): the fields a mapping may set.
const ACTIVITY_FIELDS: &[(&str, ValueType)] = &[
    ("TYPE_ID", Int),
    ("SUBJECT", Str),
    ("START_TIME", Datetime),
    ("END_TIME", Datetime),
    ("DEADLINE", Datetime),
    ("COMPLETED", Bool),
    ("STATUS", Int),
    ("RESPONSIBLE_ID", Int),
    ("PRIORITY", Int),
    ("DESCRIPTION", Str),
    ("DESCRIPTION_TYPE", Int),
    ("DIRECTION", Int),
    ("LOCATION", Str),
    ("COMMUNICATIONS", Str),
    ("PROVIDER_ID", Str),
    ("PROVIDER_TYPE_ID", Str),
    ("NOTIFY_TYPE", Int),
    ("NOTIFY_VALUE", Int),
];

const COMMON: &[(&str, ValueType)] = &[
    ("title", Str),
    ("assignedById", Int),
    ("createdBy", Int),
    ("updatedBy", Int),
    ("movedBy", Int),
    ("createdTime", Datetime),
    ("updatedTime", Datetime),
    ("movedTime", Datetime),
    ("opened", Bool),
    ("comments", Str),
    ("sourceId", Str),
    ("sourceDescription", Str),
    ("stageId", Str),
    ("categoryId", Int),
    ("opportunity", Number),
    ("isManualOpportunity", Bool),
    ("currencyId", Str),
    ("taxValue", Number),
    ("companyId", Int),
    ("contactId", Int),
    ("contactIds", Int),
    ("observers", Int),
    ("begindate", Date),
    ("closedate", Date),
    ("closed", Bool),
    ("webformId", Int),
    ("originatorId", Str),
    ("originId", Str),
    // contact, company: "Version of the original" (the crm.item.add page).
    ("originVersion", Str),
    ("xmlId", Str),
    ("utmSource", Str),
    ("utmMedium", Str),
    ("utmCampaign", Str),
    ("utmContent", Str),
    ("utmTerm", Str),
    ("parentId", Int),
    ("mycompanyId", Int),
    ("locationId", Int),
];

const PERSON: &[(&str, ValueType)] = &[
    ("name", Str),
    ("lastName", Str),
    ("secondName", Str),
    ("honorific", Str),
    ("birthdate", Date),
    ("post", Str),
    ("typeId", Str),
    ("export", Bool),
    ("photo", File),
    ("address", Str),
    ("addressCity", Str),
    ("addressCountry", Str),
    ("addressPostalCode", Str),
    ("addressRegion", Str),
    ("addressProvince", Str),
    ("address2", Str),
    ("leadId", Int),
    ("companyIds", Int),
    ("faceId", Int),
];

const LEAD_EXTRA: &[(&str, ValueType)] =
    &[("companyTitle", Str), ("statusId", Str), ("statusDescription", Str), ("isReturnCustomer", Bool)];
const DEAL_EXTRA: &[(&str, ValueType)] = &[
    ("typeId", Str),
    ("probability", Int),
    ("leadId", Int),
    ("quoteId", Int),
    ("isNew", Bool),
    ("isRecurring", Bool),
    ("isReturnCustomer", Bool),
    ("isRepeatedApproach", Bool),
    ("additionalInfo", Str),
];
const COMPANY_EXTRA: &[(&str, ValueType)] = &[
    ("typeId", Str),
    ("industry", Str),
    ("employees", Str),
    ("revenue", Number),
    ("isMyCompany", Bool),
    ("logo", File),
    ("bankingDetails", Str),
    ("address", Str),
    ("addressLegal", Str),
    ("leadId", Int),
];
/// `crm.item.add` for quotes (estimates): the document's text, its validity date and its
/// files' storage.
const QUOTE_EXTRA: &[(&str, ValueType)] = &[
    ("content", Str),
    ("terms", Str),
    ("actualDate", Date),
    ("storageTypeId", Int),
    ("storageElementIds", Int),
];
const ITEM_EXTRA: &[(&str, ValueType)] =
    &[("leadId", Int), ("dealId", Int), ("quoteId", Int), ("accountNumber", Str), ("number", Str)];

const USER_FIELDS: &[(&str, ValueType)] = &[
    ("EMAIL", Email),
    ("NAME", Str),
    ("LAST_NAME", Str),
    ("SECOND_NAME", Str),
    ("XML_ID", Str),
    ("PERSONAL_GENDER", Str),
    ("PERSONAL_PROFESSION", Str),
    ("PERSONAL_WWW", Str),
    ("PERSONAL_BIRTHDAY", Date),
    ("PERSONAL_PHOTO", File),
    ("PERSONAL_ICQ", Str),
    ("PERSONAL_PHONE", Phone),
    ("PERSONAL_FAX", Str),
    ("PERSONAL_MOBILE", Phone),
    ("PERSONAL_PAGER", Str),
    ("PERSONAL_STREET", Str),
    ("PERSONAL_CITY", Str),
    ("PERSONAL_STATE", Str),
    ("PERSONAL_ZIP", Str),
    ("PERSONAL_COUNTRY", Str),
    ("WORK_COMPANY", Str),
    ("WORK_POSITION", Str),
    ("WORK_PHONE", Phone),
    ("UF_DEPARTMENT", Int),
    ("UF_INTERESTS", Str),
    ("UF_SKILLS", Str),
    ("UF_WEB_SITES", Str),
    ("UF_XING", Str),
    ("UF_LINKEDIN", Str),
    ("UF_FACEBOOK", Str),
    ("UF_TWITTER", Str),
    ("UF_SKYPE", Str),
    ("UF_DISTRICT", Str),
    ("UF_PHONE_INNER", Str),
    ("EXTRANET", Bool),
    ("SONET_GROUP_ID", Int),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_knows_person_and_common_fields() {
        let c = Entity::Crm(CONTACT);
        assert_eq!(c.known_type("lastName"), Some(Str));
        assert_eq!(c.known_type("birthdate"), Some(Date));
        assert_eq!(c.known_type("opportunity"), Some(Number));
        assert_eq!(c.known_type("lastname"), None);
    }

    #[test]
    fn built_in_type_ids_are_not_smart_processes() {
        for id in BUILTIN_TYPE_IDS {
            assert!(Entity::is_builtin_type_id(id));
            assert!(!Entity::is_valid_spa_id(id), "{id}");
        }
        assert!(!Entity::is_builtin_type_id(5), "the legacy invoice type is not offered");
        assert!(!Entity::is_builtin_type_id(1032));
    }

    // Regression: quotes' `content` and `terms` (the sandbox and the method page have them)
    // were refused as unknown fields.
    #[test]
    fn a_quote_knows_its_content_and_terms() {
        assert_eq!(Entity::Crm(QUOTE).known_type("content"), Some(Str));
        assert_eq!(Entity::Crm(QUOTE).known_type("terms"), Some(Str));
    }

    #[test]
    fn spa_ids_follow_the_portal_rule() {
        assert!(Entity::is_valid_spa_id(1032));
        assert!(Entity::is_valid_spa_id(128));
        assert!(!Entity::is_valid_spa_id(1031));
        assert!(!Entity::is_valid_spa_id(3));
    }
}
