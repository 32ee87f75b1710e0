//! Field schemas of CRM entities: the built-in default (system fields of lead, deal, contact,
//! company, quote, invoice and smart processes, plus eight custom fields on each) and the
//! optional TOML file that overrides it.
//!
//! Owns field definitions and UF name conversions (`UF_CRM_44_17` <-> `ufCrm44_17`). It does not
//! validate values: that is `methods::item`'s job.
//!
//! TOML format (every table `deny_unknown_fields`):
//! ```toml
//! [[entity]]
//! entity_type_id = 3        # 1, 2, 3, 4, 7, 31, or an SPA's entityTypeId
//! builtin = true            # start from the built-in fields (default true)
//! [[entity.field]]
//! name = "lastName"         # an existing field: only the given attributes change
//! required = true
//! [[entity.field]]
//! name = "UF_CRM_PROMO"     # a new custom field (either naming works)
//! type = "enumeration"
//! multiple = false
//! items = [{ id = 61, value = "Spring" }, { id = 63, value = "Autumn" }]
//! [[entity.require]]      # required on a stage (omit `stage`: on every stage)
//! stage = "WON"
//! fields = ["opportunity", "closedate"]
//! ```

mod builtin;
mod file;
mod names;

pub use file::{EntitySpec, FieldSpec, ItemSpec, RequireSpec, SchemaFile};
pub use names::{camel_to_upper, upper_to_camel};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// One option of an enumeration field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnumItem {
    /// The option id the API takes.
    pub id: u64,
    /// The display text.
    pub value: String,
    /// Default option.
    #[serde(default)]
    pub def: bool,
    /// Sort order.
    #[serde(default = "default_sort")]
    pub sort: i64,
    /// External code, unique within the field.
    #[serde(default)]
    pub xml_id: String,
}

fn default_sort() -> i64 {
    500
}

/// User-field metadata (for `*.userfield.*` and `userfieldconfig.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UfMeta {
    /// The user field id.
    pub id: u64,
    /// `CRM_CONTACT`, `CRM_13`, …
    pub entity_id: String,
    /// External code of the field.
    pub xml_id: String,
    /// Sort order.
    pub sort: i64,
    /// Shown in filters.
    pub show_filter: bool,
    /// Label (edit form / list / filter).
    pub label: String,
    /// `SETTINGS` as given.
    pub settings: Value,
    /// Labels per kind (`EDIT_FORM_LABEL`, `LIST_COLUMN_LABEL`, `LIST_FILTER_LABEL`,
    /// `ERROR_MESSAGE`, `HELP_MESSAGE`) and language; a kind not here reads as `label`
    /// (`ERROR_MESSAGE`/`HELP_MESSAGE`: empty).
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
    /// `SHOW_IN_LIST`.
    #[serde(default = "yes")]
    pub show_in_list: bool,
    /// `EDIT_IN_LIST`.
    #[serde(default = "yes")]
    pub edit_in_list: bool,
    /// `IS_SEARCHABLE`.
    #[serde(default)]
    pub is_searchable: bool,
}

/// The portal's languages: a label given as a string is set for each of them, a per-language
/// map sets the languages it names and `''` for the others (`crm.contact.userfield.update`).
pub const LANGUAGES: [&str; 3] = ["en", "de", "ru"];

/// The label kinds a user field has, in the order the pages list them.
pub const LABEL_KINDS: [&str; 5] =
    ["EDIT_FORM_LABEL", "LIST_COLUMN_LABEL", "LIST_FILTER_LABEL", "ERROR_MESSAGE", "HELP_MESSAGE"];

impl UfMeta {
    /// New metadata with the defaults a portal gives (shown and editable in lists).
    pub fn new(id: u64, entity_id: String, label: String) -> Self {
        UfMeta {
            id,
            entity_id,
            xml_id: String::new(),
            sort: 100,
            show_filter: true,
            label,
            settings: json!({}),
            labels: Default::default(),
            show_in_list: true,
            edit_in_list: true,
            is_searchable: false,
        }
    }

    /// The label of `kind` in every language.
    pub fn label_map(&self, kind: &str) -> std::collections::BTreeMap<String, String> {
        match self.labels.get(kind) {
            Some(m) => m.clone(),
            None => {
                let text = if kind.ends_with("_LABEL") { self.label.clone() } else { String::new() };
                LANGUAGES.iter().map(|l| ((*l).to_string(), text.clone())).collect()
            }
        }
    }

    /// The label of `kind` in `lang` (`''` when unset).
    pub fn label_in(&self, kind: &str, lang: &str) -> String {
        self.label_map(kind).get(lang).cloned().unwrap_or_default()
    }

    /// Sets a label kind from a string (every language) or a per-language map (`''` for the
    /// languages it does not name); the edit-form label also becomes the field's title.
    pub fn set_label(&mut self, kind: &str, v: &Value) {
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let map: std::collections::BTreeMap<String, String> = match v {
            Value::Object(o) => LANGUAGES
                .iter()
                .map(|l| ((*l).to_string(), o.get(*l).and_then(text).unwrap_or_default()))
                .collect(),
            other => {
                let t = text(other).unwrap_or_default();
                LANGUAGES.iter().map(|l| ((*l).to_string(), t.clone())).collect()
            }
        };
        if kind == "EDIT_FORM_LABEL" {
            let en = map.get("en").cloned().unwrap_or_default();
            self.label = if en.is_empty() {
                map.values().find(|v| !v.is_empty()).cloned().unwrap_or_default()
            } else {
                en
            };
        }
        self.labels.insert(kind.to_string(), map);
    }
}

/// One field of an entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDef {
    /// camelCase name (`title`, `ufCrm_1700000001`).
    pub name: String,
    /// Upper name (`TITLE`, `UF_CRM_1700000001`).
    pub upper_name: String,
    /// `string`, `integer`, `double`, `boolean`, `date`, `datetime`, `enumeration`, `file`,
    /// `money`, `url`, `user`, `crm_status`, `crm_category`, `crm_currency`, `crm_entity`,
    /// `crm_multifield`, `text`, `employee`, `crm`, `address`.
    pub field_type: String,
    /// Takes an array.
    pub multiple: bool,
    /// Must be filled on add.
    pub required: bool,
    /// Cannot be written.
    pub read_only: bool,
    /// Settable only on add.
    pub immutable: bool,
    /// A custom (UF) field.
    pub dynamic: bool,
    /// Human title.
    pub title: String,
    /// The directory of a `crm_status` field.
    pub status_type: Option<String>,
    /// Enumeration options.
    pub items: Vec<EnumItem>,
    /// UF metadata (custom fields only).
    pub uf: Option<UfMeta>,
}

impl FieldDef {
    fn system(name: &str, ty: &str, title: &str) -> Self {
        FieldDef {
            name: name.to_string(),
            upper_name: camel_to_upper(name),
            field_type: ty.to_string(),
            multiple: false,
            required: false,
            read_only: false,
            immutable: false,
            dynamic: false,
            title: title.to_string(),
            status_type: None,
            items: Vec::new(),
            uf: None,
        }
    }

    fn multiple(mut self) -> Self {
        self.multiple = true;
        self
    }

    fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    fn status(mut self, status_type: &str) -> Self {
        self.status_type = Some(status_type.to_string());
        self
    }

    /// A custom field named by its upper name.
    pub fn custom(upper: &str, ty: &str, multiple: bool, uf: UfMeta) -> Self {
        FieldDef {
            name: upper_to_camel(upper),
            upper_name: upper.to_string(),
            field_type: ty.to_string(),
            multiple,
            required: false,
            read_only: false,
            immutable: false,
            dynamic: true,
            title: if uf.label.is_empty() { upper.to_string() } else { uf.label.clone() },
            status_type: None,
            items: Vec::new(),
            uf: Some(uf),
        }
    }

    /// The parent link `parentId{N}` to items of entity type `parent` (a `crm_entity` field).
    pub fn parent(parent: u64) -> Self {
        let mut f = FieldDef::system(&format!("parentId{parent}"), "crm_entity", &format!("Parent {parent}"));
        f.upper_name = format!("PARENT_ID_{parent}");
        f
    }

    /// A parent link field (`parentId{N}`).
    pub fn is_parent_link(&self) -> bool {
        !self.dynamic
            && self
                .name
                .strip_prefix("parentId")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }

    /// The name a client sees with `useOriginalUfNames` = `original`.
    pub fn api_name(&self, original: bool) -> &str {
        if original && self.dynamic { &self.upper_name } else { &self.name }
    }

    /// The description `crm.item.fields` returns.
    pub fn describe(&self) -> Value {
        let mut d = Map::new();
        d.insert("type".into(), json!(self.field_type));
        d.insert("isRequired".into(), json!(self.required));
        d.insert("isReadOnly".into(), json!(self.read_only));
        d.insert("isImmutable".into(), json!(self.immutable));
        d.insert("isMultiple".into(), json!(self.multiple));
        d.insert("isDynamic".into(), json!(self.dynamic));
        d.insert("title".into(), json!(self.title));
        d.insert("upperName".into(), json!(self.upper_name));
        if let Some(st) = &self.status_type {
            d.insert("statusType".into(), json!(st));
        }
        if self.field_type == "enumeration" {
            let items: Vec<Value> =
                self.items.iter().map(|i| json!({"ID": i.id.to_string(), "VALUE": i.value})).collect();
            d.insert("items".into(), Value::Array(items));
        }
        if let Some(uf) = &self.uf {
            let or_title = |kind: &str| {
                let l = uf.label_in(kind, "en");
                if l.is_empty() { self.title.clone() } else { l }
            };
            d.insert("listLabel".into(), json!(or_title("LIST_COLUMN_LABEL")));
            d.insert("formLabel".into(), json!(or_title("EDIT_FORM_LABEL")));
            d.insert("filterLabel".into(), json!(or_title("LIST_FILTER_LABEL")));
            d.insert("settings".into(), uf.settings.clone());
        }
        Value::Object(d)
    }
}

/// The fields of one entity type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntitySchema {
    /// 1, 2, 3, 4, 7, 31 or an SPA's entityTypeId.
    pub entity_type_id: u64,
    /// `Lead`, `Deal`, … (default titles).
    pub title: String,
    /// Has the `fm` multifield (lead, contact, company).
    pub has_fm: bool,
    /// Fields in display order.
    pub fields: Vec<FieldDef>,
}

impl EntitySchema {
    /// Finds a field by the name a client used.
    pub fn find(&self, name: &str, original: bool) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.api_name(original) == name)
    }

    /// Finds a field by its stored (camelCase) name.
    pub fn by_name(&self, name: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Finds a field by its stored name, mutably.
    pub fn by_name_mut(&mut self, name: &str) -> Option<&mut FieldDef> {
        self.fields.iter_mut().find(|f| f.name == name)
    }
}

/// The built-in CRM entity types: lead, deal, contact, company, quote, invoice. The sandbox's own
/// copy of the fact (the importer's is `b24import::bitrix::entity::BUILTIN_TYPE_IDS`; its
/// `facts_agree` test keeps them equal).
pub const BUILTIN_TYPE_IDS: [u64; 6] = [1, 2, 3, 4, 7, 31];

/// The UF entity id of an entity type (`CRM_CONTACT`), given an SPA's type `id` when needed.
pub fn uf_entity_id(entity_type_id: u64, spa_type_id: Option<u64>) -> String {
    match entity_type_id {
        1 => "CRM_LEAD".into(),
        2 => "CRM_DEAL".into(),
        3 => "CRM_CONTACT".into(),
        4 => "CRM_COMPANY".into(),
        7 => "CRM_QUOTE".into(),
        31 => "CRM_SMART_INVOICE".into(),
        _ => format!("CRM_{}", spa_type_id.unwrap_or(entity_type_id)),
    }
}

/// The UF-name infix of an entity: `` for built-in types, `13_` for SPA type id 13.
fn uf_prefix(entity_type_id: u64, spa_type_id: Option<u64>) -> String {
    match (entity_type_id, spa_type_id) {
        (_, Some(id)) if !BUILTIN_TYPE_IDS.contains(&entity_type_id) => format!("UF_CRM_{id}_"),
        _ => "UF_CRM_".into(),
    }
}

/// Which smart-process flag switches which fields on (the `crm.item.add` page, section
/// "smart process": "Available only when the is…Enabled setting is enabled"). A switched-off
/// field is absent from `crm.item.fields`, dropped on write and reads back as null.
/// `categoryId` is not here: the page documents it without a flag (`isCategoriesEnabled`
/// decides whether pipelines other than the default can be created, see `crm.category.add`).
pub const FLAG_FIELDS: [(&str, &[&str]); 7] = [
    ("isClientEnabled", &["companyId", "contactId", "contactIds", "contacts"]),
    ("isBeginCloseDatesEnabled", &["begindate", "closedate"]),
    ("isSourceEnabled", &["sourceId", "sourceDescription"]),
    ("isObserversEnabled", &["observers"]),
    ("isStagesEnabled", &["stageId", "previousStageId"]),
    ("isMycompanyEnabled", &["mycompanyId"]),
    ("isLinkWithProductsEnabled", &["opportunity", "currencyId", "taxValue", "isManualOpportunity"]),
];

/// Fields `crm.item.fields` describes but no item answer carries and no write sets: the smart
/// process's `contacts` (`api-reference/crm/universal/crm-item-fields.md` lists it, type
/// `crm_contact`, multiple, not read-only). The pages are silent on its values: none of the item
/// answers of `crm-item-add`/`-get`/`-list`/`-update` has a `contacts` key (they carry
/// `contactIds`), because the portal's core holds `CONTACTS` as an ORM reference that `*` does
/// not select. So the sandbox leaves it out of item answers and ignores a value sent to it, like
/// an unknown field; an item's contacts are written and read through `contactIds`.
pub const DESCRIBED_ONLY: [&str; 1] = ["contacts"];

/// The flag that switches `field` on, for a smart process.
pub fn flag_of(field: &str) -> Option<&'static str> {
    FLAG_FIELDS.iter().find(|(_, fields)| fields.contains(&field)).map(|(flag, _)| *flag)
}

/// Title of a built-in entity type.
pub fn builtin_title(entity_type_id: u64) -> Option<&'static str> {
    Some(match entity_type_id {
        1 => "Lead",
        2 => "Deal",
        3 => "Contact",
        4 => "Company",
        7 => "Estimate",
        31 => "Invoice",
        _ => return None,
    })
}

/// The stage directory of an entity type / category.
pub fn stage_status_type(entity_type_id: u64, category_id: u64) -> String {
    match entity_type_id {
        1 => "STATUS".into(),
        2 if category_id == 0 => "DEAL_STAGE".into(),
        2 => format!("DEAL_STAGE_{category_id}"),
        7 => "QUOTE_STATUS".into(),
        31 => format!("SMART_INVOICE_STAGE_{category_id}"),
        _ => format!("DYNAMIC_{entity_type_id}_STAGE_{category_id}"),
    }
}

/// Builds the schema of an entity type from the built-in default and the TOML overrides.
pub fn build(
    entity_type_id: u64,
    title: &str,
    spa_type_id: Option<u64>,
    default_category: u64,
    file: Option<&SchemaFile>,
    next_uf_id: &mut u64,
) -> EntitySchema {
    let over = file.and_then(|f| f.entity.iter().find(|e| e.entity_type_id == entity_type_id));
    let builtin = over.is_none_or(|o| o.builtin);
    let mut fields = Vec::new();
    if builtin {
        fields = builtin::system_fields(entity_type_id, &stage_status_type(entity_type_id, default_category));
        fields.extend(builtin::default_custom_fields(entity_type_id, spa_type_id, next_uf_id));
    } else {
        fields.extend(builtin::common_head());
    }
    if let Some(over) = over {
        for spec in &over.field {
            file::apply_override(&mut fields, spec, entity_type_id, spa_type_id, next_uf_id);
        }
    }
    EntitySchema {
        entity_type_id,
        title: title.to_string(),
        has_fm: fields.iter().any(|f| f.name == "fm"),
        fields,
    }
}

fn yes() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schema_has_the_agreed_custom_fields() {
        let mut next = 0;
        let s = build(3, "Contact", None, 0, None, &mut next);
        let tier = s.by_name("ufCrm_1700000004").expect("enum field");
        assert_eq!(tier.items.iter().map(|i| i.id).collect::<Vec<_>>(), [41, 43, 45]);
        assert!(s.by_name("ufCrm_1700000001").expect("tags").multiple);
        assert!(s.has_fm);
        let spa = build(1032, "Spa", Some(13), 7, None, &mut next);
        assert!(spa.by_name("ufCrm13_1700000008").is_some());
        assert!(spa.find("UF_CRM_13_1700000008", true).is_some());
        assert!(!build(2, "Deal", None, 0, None, &mut next).has_fm);
    }

    #[test]
    fn the_toml_can_require_fields_and_add_new_ones() {
        let file = SchemaFile::from_toml(
            "[[entity]]\nentity_type_id = 3\n[[entity.field]]\nname = \"lastName\"\nrequired = true\n[[entity.field]]\nname = \"UF_CRM_PROMO\"\ntype = \"enumeration\"\nitems = [{ id = 61, value = \"Spring\" }]\n",
            "t.toml",
        )
        .expect("valid");
        let mut next = 0;
        let s = build(3, "Contact", None, 0, Some(&file), &mut next);
        assert!(s.by_name("lastName").expect("lastName").required);
        assert_eq!(s.by_name("ufCrmPromo").expect("promo").items[0].id, 61);
        assert!(SchemaFile::from_toml("[[entity]]\nentity_type_id = 3\nbogus = 1\n", "t").is_err());
    }
}
