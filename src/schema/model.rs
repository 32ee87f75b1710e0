//! The portal's schema as the run needs it: plain data read from the portal's answers.
//!
//! Owns: [`PortalSchema`] and its parts, and the tolerant parsing of each read method's rows
//! (IDs as numbers or digit strings, read by [`crate::bitrix::json::id`]; `Y`/`N` or booleans)
//! into them. Pure: the requests are in `read`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::bitrix::json;
use crate::mapping::Entity;

/// What the portal holds that the mappings of a run depend on. Read once per run
/// ([`PortalSchema::read`](super::PortalSchema::read)); the run and `validate --online` compare
/// it with each step and resolve every label from it, with no request per row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortalSchema {
    /// Smart processes (`crm.type.list`), when a step targets one.
    pub smart_processes: Vec<SmartProcess>,
    /// Digital workspaces (`crm.automatedsolution.list`), when a step targets a smart process.
    pub workspaces: Vec<Workspace>,
    /// Per entityTypeId of a step: its fields, categories and custom fields.
    pub entities: BTreeMap<u32, EntitySchema>,
    /// Status directories (`crm.status.list`): stages, sources, types, industries...
    pub statuses: Vec<Status>,
    /// Currencies (`crm.currency.list`).
    pub currencies: Vec<Currency>,
    /// Reads the portal refused (lack of rights, a method it does not know), per method: what
    /// depends on them is unknown, and the comparison reports each one.
    pub unread: Vec<Refusal>,
}

/// One smart process (`crm.type.list` row).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SmartProcess {
    /// The type's `id` (`crm.type.update`, `CRM_{id}` custom-field entity, workspace `typeIds`).
    pub id: u64,
    pub entity_type_id: u32,
    pub title: String,
    /// `is*Enabled` flags as the portal reports them.
    pub flags: BTreeMap<String, bool>,
    /// The workspace holding it (`customSectionId`), if any.
    pub workspace_id: Option<u64>,
}

impl SmartProcess {
    /// Whether `flag` is on (an absent flag is off).
    pub fn flag(&self, flag: &str) -> bool {
        self.flags.get(flag).copied().unwrap_or(false)
    }
}

/// One digital workspace (`crm.automatedsolution.list` row).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workspace {
    pub id: u64,
    pub title: String,
    /// Smart-process type ids (`SmartProcess::id`) it holds.
    pub type_ids: Vec<u64>,
}

/// What the portal says about one entity type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EntitySchema {
    pub entity_type_id: u32,
    /// `crm.item.fields`, by the name the run uses (camelCase, or `UF_...` with
    /// `useOriginalUfNames`); see [`EntitySchema::field`].
    pub fields: BTreeMap<String, PortalField>,
    /// `crm.category.list` (empty for entities without categories).
    pub categories: Vec<Category>,
    /// Custom fields (`crm.<entity>.userfield.list` / `userfieldconfig.list`), with their IDs
    /// and list items (`XML_ID` included).
    pub custom: Vec<CustomField>,
}

impl EntitySchema {
    /// A field by the name a mapping gives it: the portal's name, or its `upperName`
    /// (`UF_CRM_SEGMENT` finds `ufCrmSegment`), or a custom field's other spelling
    /// (`ufCrm_SEGMENT` finds it too: [`crate::mapping::names::upper`]).
    pub fn field(&self, name: &str) -> Option<&PortalField> {
        self.fields.get(name).or_else(|| {
            let upper = crate::mapping::names::upper(name);
            let upper = upper.as_deref().unwrap_or(name);
            self.fields.values().find(|f| f.upper_name == name || f.upper_name == upper)
        })
    }

    /// A custom field by its `FIELD_NAME` (upper name).
    pub fn custom_field(&self, upper_name: &str) -> Option<&CustomField> {
        self.custom.iter().find(|c| c.field_name.eq_ignore_ascii_case(upper_name))
    }

    /// The category a row without `categoryId` lands in: the default one (the deals' general
    /// pipeline is 0).
    pub fn default_category(&self) -> u64 {
        self.categories.iter().find(|c| c.is_default).map_or(0, |c| c.id)
    }
}

/// One field of `crm.item.fields`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortalField {
    pub name: String,
    pub upper_name: String,
    /// `string`, `enumeration`, `crm_status`, `crm_category`, `crm_currency`, ...
    pub kind: String,
    pub required: bool,
    pub read_only: bool,
    pub immutable: bool,
    pub multiple: bool,
    /// A custom (UF) field.
    pub dynamic: bool,
    pub title: String,
    /// The status directory of a `crm_status` field (`SOURCE`, `DEAL_STAGE`...).
    pub status_type: Option<String>,
    /// List items of an `enumeration` field (`XML_ID` filled from the custom-field list).
    pub items: Vec<ListItem>,
}

/// One item of a list custom field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListItem {
    pub id: String,
    pub value: String,
    pub xml_id: Option<String>,
}

/// A custom field as `crm.<entity>.userfield.list` / `userfieldconfig.list` give it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomField {
    /// The field's ID (for `crm.<entity>.userfield.update` / `userfieldconfig.update`).
    pub id: u64,
    /// `FIELD_NAME` (`UF_CRM_SEGMENT`).
    pub field_name: String,
    /// `USER_TYPE_ID`.
    pub user_type: String,
    pub multiple: bool,
    pub mandatory: bool,
    pub items: Vec<ListItem>,
}

/// One pipeline (`crm.category.list` row).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Category {
    pub id: u64,
    pub name: String,
    pub is_default: bool,
}

/// One row of `crm.status.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// The directory (`DEAL_STAGE_3`, `SOURCE`...).
    pub entity_id: String,
    /// The code the portal stores (`C3:NEW`, `WEB`).
    pub status_id: String,
    pub name: String,
    pub category_id: Option<u64>,
    /// `P` (in progress), `S` (success), `F` (failure), when the row is a stage.
    pub semantics: Option<String>,
    /// `SORT`: a stage's place in its pipeline.
    pub sort: Option<i64>,
}

/// One currency of `crm.currency.list`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Currency {
    /// `RUB`, `USD`...
    pub code: String,
    /// `FULL_NAME` (may be empty).
    pub name: String,
}

/// A read the portal refused: the method, its error code and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub method: String,
    pub code: String,
    pub description: String,
}

impl PortalSchema {
    /// A smart process by title (ignoring case and surrounding/double spaces).
    pub fn smart_process(&self, title: &str) -> Option<&SmartProcess> {
        let want = super::labels::normalize(title);
        self.smart_processes.iter().find(|t| super::labels::normalize(&t.title) == want)
    }

    /// A smart process by entityTypeId.
    pub fn smart_process_by_type(&self, entity_type_id: u32) -> Option<&SmartProcess> {
        self.smart_processes.iter().find(|t| t.entity_type_id == entity_type_id)
    }

    /// A workspace by title (ignoring case and surrounding/double spaces).
    pub fn workspace(&self, title: &str) -> Option<&Workspace> {
        let want = super::labels::normalize(title);
        self.workspaces.iter().find(|w| super::labels::normalize(&w.title) == want)
    }

    /// The entityTypeId a step writes to: its own, or, for `smart_process = "<title>"`, the one
    /// the portal gives that title (`None`: no such smart process, or a user step).
    pub fn entity_type_id(&self, plan: &crate::mapping::MappingPlan) -> Option<u32> {
        match (&plan.target.smart_process, plan.target.entity) {
            (Some(title), _) => self.smart_process(title).map(|t| t.entity_type_id),
            (None, Entity::Crm(id)) => Some(id),
            (None, _) => None,
        }
    }

    /// The statuses of one directory, in the order read.
    pub fn statuses_of<'a>(&'a self, entity_id: &'a str) -> impl Iterator<Item = &'a Status> + 'a {
        self.statuses.iter().filter(move |s| s.entity_id == entity_id)
    }
}

// Tolerant readers of the portal's rows.

pub(super) fn text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

pub(super) fn yes(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => matches!(s.trim().to_ascii_uppercase().as_str(), "Y" | "1" | "TRUE"),
        _ => false,
    }
}

/// A key of a row, exact first, then ignoring case (`ID`/`id`, `XML_ID`/`xmlId`).
pub(super) fn get<'v>(row: &'v Value, keys: &[&str]) -> Option<&'v Value> {
    let obj = row.as_object()?;
    keys.iter().find_map(|k| obj.get(*k)).or_else(|| {
        keys.iter().find_map(|k| obj.iter().find(|(name, _)| name.eq_ignore_ascii_case(k)).map(|(_, v)| v))
    })
}

/// The rows of a list answer: the array itself or the array under `key`.
pub(super) fn rows<'v>(result: &'v Value, key: &str) -> &'v [Value] {
    match result {
        Value::Array(a) => a,
        Value::Object(o) => o.get(key).and_then(Value::as_array).map_or(&[], Vec::as_slice),
        _ => &[],
    }
}

impl SmartProcess {
    pub(super) fn from_row(row: &Value) -> Option<SmartProcess> {
        let flags = row
            .as_object()?
            .iter()
            .filter(|(k, _)| k.starts_with("is") && (k.ends_with("Enabled") || *k == "isSetOpenPermissions"))
            .map(|(k, v)| (k.clone(), yes(Some(v))))
            .collect();
        Some(SmartProcess {
            id: get(row, &["id"]).and_then(json::id)?,
            entity_type_id: u32::try_from(get(row, &["entityTypeId"]).and_then(json::id)?).ok()?,
            title: text(get(row, &["title"])),
            flags,
            workspace_id: get(row, &["customSectionId"]).and_then(json::id).filter(|id| *id > 0),
        })
    }
}

impl Workspace {
    pub(super) fn from_row(row: &Value) -> Option<Workspace> {
        let type_ids = get(row, &["typeIds"])
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(json::id).collect())
            .unwrap_or_default();
        Some(Workspace {
            id: get(row, &["id"]).and_then(json::id)?,
            title: text(get(row, &["title"])),
            type_ids,
        })
    }
}

impl PortalField {
    pub(super) fn from_description(name: &str, d: &Value) -> PortalField {
        let items = get(d, &["items"])
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|i| ListItem {
                        id: text(get(i, &["ID"])),
                        value: text(get(i, &["VALUE"])),
                        xml_id: get(i, &["XML_ID"]).map(|x| text(Some(x))).filter(|x| !x.is_empty()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        PortalField {
            name: name.to_string(),
            upper_name: text(get(d, &["upperName"])),
            kind: text(get(d, &["type"])),
            required: yes(get(d, &["isRequired"])),
            read_only: yes(get(d, &["isReadOnly"])),
            immutable: yes(get(d, &["isImmutable"])),
            multiple: yes(get(d, &["isMultiple"])),
            dynamic: yes(get(d, &["isDynamic"])),
            title: text(get(d, &["title"])),
            status_type: get(d, &["statusType"]).map(|s| text(Some(s))).filter(|s| !s.is_empty()),
            items,
        }
    }
}

impl CustomField {
    /// A row of `crm.<entity>.userfield.list` (upper-case keys, `LIST`) or of
    /// `userfieldconfig.list` (camelCase keys, `enum`).
    pub(super) fn from_row(row: &Value) -> Option<CustomField> {
        let items = get(row, &["LIST", "enum"])
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|i| ListItem {
                        id: text(get(i, &["ID", "id"])),
                        value: text(get(i, &["VALUE", "value"])),
                        xml_id: get(i, &["XML_ID", "xmlId"]).map(|x| text(Some(x))).filter(|x| !x.is_empty()),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(CustomField {
            id: get(row, &["ID", "id"]).and_then(json::id)?,
            field_name: text(get(row, &["FIELD_NAME", "fieldName"])),
            user_type: text(get(row, &["USER_TYPE_ID", "userTypeId"])),
            multiple: yes(get(row, &["MULTIPLE", "multiple"])),
            mandatory: yes(get(row, &["MANDATORY", "mandatory"])),
            items,
        })
    }
}

impl Category {
    pub(super) fn from_row(row: &Value) -> Option<Category> {
        Some(Category {
            id: get(row, &["id"]).and_then(json::id)?,
            name: text(get(row, &["name"])),
            is_default: yes(get(row, &["isDefault"])),
        })
    }
}

impl Status {
    pub(super) fn from_row(row: &Value) -> Option<Status> {
        let entity_id = text(get(row, &["ENTITY_ID"]));
        let status_id = text(get(row, &["STATUS_ID"]));
        if entity_id.is_empty() || status_id.is_empty() {
            return None;
        }
        Some(Status {
            entity_id,
            status_id,
            name: text(get(row, &["NAME"])),
            category_id: get(row, &["CATEGORY_ID"]).and_then(json::id),
            semantics: get(row, &["SEMANTICS"]).map(|s| text(Some(s))).filter(|s| !s.is_empty()),
            sort: text(get(row, &["SORT"])).trim().parse().ok(),
        })
    }
}

impl Currency {
    pub(super) fn from_row(row: &Value) -> Option<Currency> {
        let code = text(get(row, &["CURRENCY"]));
        (!code.is_empty()).then(|| Currency { code, name: text(get(row, &["FULL_NAME"])) })
    }
}
