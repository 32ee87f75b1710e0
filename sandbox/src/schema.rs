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
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::SandboxError;

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

/// A custom field's camelCase name in `crm.item.*`, by the rule of
/// `api-reference/crm/universal/index.md` ("Field Naming Conventions"): *regular* when only
/// digits or only letters follow `UF_CRM_` and the object number (underscores between numeric
/// blocks kept, words capitalised: `UF_CRM_44_1721812760630` -> `ufCrm44_1721812760630`,
/// `UF_CRM_MY_FIELD` -> `ufCrmMyField`), *simplified* otherwise (only the prefix changes:
/// `UF_CRM_3_DIGIT10` -> `ufCrm_3_DIGIT10`, `UF_CRM_1700000001` -> `ufCrm_1700000001`).
/// Other names (`UF_DEPARTMENT`, `ASSIGNED_BY_ID`) are camelCased word by word.
pub fn upper_to_camel(upper: &str) -> String {
    let Some(rest) = upper.strip_prefix("UF_CRM_") else { return pascal(upper, false) };
    let parts: Vec<&str> = rest.split('_').collect();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let letters = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphabetic());
    if parts.len() >= 2 && parts.iter().all(|p| digits(p)) {
        return format!("ufCrm{}_{}", parts[0], parts[1..].join("_"));
    }
    let (number, words) = match parts.split_first() {
        Some((n, w)) if digits(n) && !w.is_empty() => (*n, w),
        _ => ("", &parts[..]),
    };
    if words.iter().all(|w| letters(w)) {
        return format!("ufCrm{number}{}", pascal(&words.join("_"), true));
    }
    format!("ufCrm_{rest}")
}

/// `MY_FIELD` -> `MyField` (`upper_first`) or `myField`.
fn pascal(words: &str, upper_first: bool) -> String {
    let mut out = String::new();
    for (i, w) in words.split('_').filter(|w| !w.is_empty()).enumerate() {
        let lower = w.to_ascii_lowercase();
        let mut chars = lower.chars();
        if let Some(first) = chars.next() {
            out.push(if i > 0 || upper_first { first.to_ascii_uppercase() } else { first });
            out.extend(chars);
        }
    }
    out
}

/// The `UPPER_CASE` name of a camelCase one: the inverse of [`upper_to_camel`] for custom
/// fields (`ufCrm_3_DIGIT10` -> `UF_CRM_3_DIGIT10`, `ufCrm44_1721812760630` ->
/// `UF_CRM_44_1721812760630`, `ufCrmMyField` -> `UF_CRM_MY_FIELD`); `assignedById` ->
/// `ASSIGNED_BY_ID`.
pub fn camel_to_upper(camel: &str) -> String {
    if let Some(rest) = camel.strip_prefix("ufCrm_") {
        return format!("UF_CRM_{rest}");
    }
    if let Some(rest) = camel.strip_prefix("ufCrm") {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (number, words) = rest.split_at(digits);
        let mut out = format!("UF_CRM_{number}");
        if let Some(blocks) = words.strip_prefix('_') {
            return format!("{out}_{blocks}");
        }
        if !number.is_empty() && !words.is_empty() {
            out.push('_');
        }
        out.push_str(&split_words(words));
        return out;
    }
    split_words(camel)
}

/// `assignedById` -> `ASSIGNED_BY_ID`, `parentId1220` -> `PARENT_ID_1220` (a `_` before each
/// capital and between letters and digits).
fn split_words(camel: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in camel.chars() {
        let boundary = prev.is_some_and(|p| {
            (c.is_ascii_uppercase() && p != '_')
                || (c.is_ascii_digit() && p.is_ascii_alphabetic())
                || (c.is_ascii_alphabetic() && p.is_ascii_digit())
        });
        if boundary {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
        prev = Some(c);
    }
    out
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

fn common_head() -> Vec<FieldDef> {
    vec![FieldDef::system("id", "integer", "ID").read_only()]
}

fn common_tail() -> Vec<FieldDef> {
    vec![
        FieldDef::system("assignedById", "user", "Responsible person"),
        FieldDef::system("createdBy", "user", "Created by").read_only(),
        FieldDef::system("updatedBy", "user", "Modified by").read_only(),
        FieldDef::system("createdTime", "datetime", "Created on").read_only(),
        FieldDef::system("updatedTime", "datetime", "Modified on").read_only(),
    ]
}

fn person_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::system("honorific", "crm_status", "Salutation").status("HONORIFIC"),
        FieldDef::system("name", "string", "First name"),
        FieldDef::system("secondName", "string", "Second name"),
        FieldDef::system("lastName", "string", "Last name"),
        FieldDef::system("birthdate", "date", "Date of birth"),
        FieldDef::system("post", "string", "Position"),
    ]
}

fn money_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::system("opportunity", "double", "Amount"),
        FieldDef::system("isManualOpportunity", "boolean", "Manual amount"),
        FieldDef::system("currencyId", "crm_currency", "Currency"),
    ]
}

fn source_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::system("sourceId", "crm_status", "Source").status("SOURCE"),
        FieldDef::system("sourceDescription", "text", "Source information"),
    ]
}

fn origin_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::system("originatorId", "string", "External source"),
        FieldDef::system("originId", "string", "Item ID in data source"),
    ]
}

fn utm_fields() -> Vec<FieldDef> {
    vec![
        FieldDef::system("utmSource", "string", "Ad system"),
        FieldDef::system("utmMedium", "string", "Traffic type"),
        FieldDef::system("utmCampaign", "string", "Ad campaign"),
        FieldDef::system("utmContent", "string", "Campaign content"),
        FieldDef::system("utmTerm", "string", "Campaign search term"),
    ]
}

/// The read-only keys of the deal the `crm.item.add` page's answer shows (null unless the
/// sandbox computes them: `stageSemanticId`, `movedBy`, `movedTime`).
fn deal_read_only() -> Vec<FieldDef> {
    [
        ("dateCreateShort", "datetime"),
        ("dateModifyShort", "datetime"),
        ("productId", "integer"),
        ("stageSemanticId", "string"),
        ("isNew", "boolean"),
        ("isReturnCustomer", "boolean"),
        ("isRepeatedApproach", "boolean"),
        ("begindateShort", "datetime"),
        ("closedateShort", "datetime"),
        ("eventDate", "datetime"),
        ("eventDateShort", "datetime"),
        ("eventId", "string"),
        ("eventDescription", "text"),
        ("locationId", "location"),
        ("webformId", "integer"),
        ("searchContent", "text"),
        ("orderStage", "string"),
        ("movedBy", "user"),
        ("movedTime", "datetime"),
        ("lastActivityBy", "user"),
        ("lastActivityTime", "datetime"),
        ("isWork", "boolean"),
        ("isWon", "boolean"),
        ("isLose", "boolean"),
        ("receivedAmount", "double"),
        ("lostAmount", "double"),
        ("hasProducts", "boolean"),
    ]
    .into_iter()
    .map(|(name, ty)| FieldDef::system(name, ty, name).read_only())
    .collect()
}

fn tax_value() -> FieldDef {
    FieldDef::system("taxValue", "double", "Tax amount")
}

fn my_company() -> FieldDef {
    FieldDef::system("mycompanyId", "crm_company", "Your company details")
}

/// Which smart-process flag switches which fields on (the `crm.item.add` page, section
/// "smart process": "Available only when the is…Enabled setting is enabled"). A switched-off
/// field is absent from `crm.item.fields`, dropped on write and reads back as null.
/// `categoryId` is not here: the page documents it without a flag (`isCategoriesEnabled`
/// decides whether pipelines other than the default can be created, see `crm.category.add`).
pub const FLAG_FIELDS: [(&str, &[&str]); 7] = [
    ("isClientEnabled", &["companyId", "contactId", "contactIds"]),
    ("isBeginCloseDatesEnabled", &["begindate", "closedate"]),
    ("isSourceEnabled", &["sourceId", "sourceDescription"]),
    ("isObserversEnabled", &["observers"]),
    ("isStagesEnabled", &["stageId", "previousStageId"]),
    ("isMycompanyEnabled", &["mycompanyId"]),
    ("isLinkWithProductsEnabled", &["opportunity", "currencyId", "taxValue", "isManualOpportunity"]),
];

/// The flag that switches `field` on, for a smart process.
pub fn flag_of(field: &str) -> Option<&'static str> {
    FLAG_FIELDS.iter().find(|(_, fields)| fields.contains(&field)).map(|(flag, _)| *flag)
}

fn fm_field() -> FieldDef {
    FieldDef::system("fm", "crm_multifield", "Communications").multiple()
}

/// The system fields of an entity type (`spa` for smart processes).
fn system_fields(entity_type_id: u64, stage_status: &str) -> Vec<FieldDef> {
    let mut f = common_head();
    let title = FieldDef::system("title", "string", "Title");
    let opened = FieldDef::system("opened", "boolean", "Available to everyone");
    let comments = FieldDef::system("comments", "text", "Comment");
    let company = FieldDef::system("companyId", "crm_company", "Company");
    let contacts = FieldDef::system("contactIds", "crm_contact", "Contacts").multiple();
    let observers = FieldDef::system("observers", "user", "Observers").multiple();
    let stage = FieldDef::system("stageId", "crm_status", "Stage").status(stage_status);
    let category = FieldDef::system("categoryId", "crm_category", "Pipeline");
    let begin = FieldDef::system("begindate", "date", "Start date");
    let close = FieldDef::system("closedate", "date", "End date");
    match entity_type_id {
        1 => {
            f.push(title);
            f.extend(person_fields());
            f.push(FieldDef::system("companyTitle", "string", "Company name"));
            f.push(stage);
            f.extend(source_fields());
            f.extend(money_fields());
            f.extend([opened, comments, company, contacts, observers]);
            f.extend(origin_fields());
            f.extend(utm_fields());
            f.push(fm_field());
        }
        2 => {
            f.extend([
                title,
                FieldDef::system("typeId", "crm_status", "Type").status("DEAL_TYPE"),
                category,
                stage,
            ]);
            f.push(FieldDef::system("isRecurring", "boolean", "Recurring deal"));
            f.push(FieldDef::system("probability", "integer", "Probability"));
            f.extend(money_fields());
            f.push(tax_value());
            f.extend([begin, close, FieldDef::system("closed", "boolean", "Closed"), opened, comments]);
            f.extend([company, FieldDef::system("contactId", "crm_contact", "Contact"), contacts]);
            f.push(FieldDef::system("quoteId", "crm_quote", "Estimate"));
            f.extend(source_fields());
            f.extend([FieldDef::system("leadId", "crm_lead", "Lead"), observers]);
            f.push(FieldDef::system("additionalInfo", "string", "Additional information"));
            f.extend(origin_fields());
            f.extend(utm_fields());
            f.extend(deal_read_only());
        }
        3 => {
            f.extend(person_fields());
            f.push(FieldDef::system("typeId", "crm_status", "Contact type").status("CONTACT_TYPE"));
            f.extend(source_fields());
            f.push(company);
            f.push(FieldDef::system("companyIds", "crm_company", "Companies").multiple());
            f.extend([opened, comments, FieldDef::system("export", "boolean", "Included in export")]);
            f.push(observers);
            f.extend(origin_fields());
            f.extend(utm_fields());
            f.push(fm_field());
        }
        4 => {
            f.push(title);
            f.push(FieldDef::system("typeId", "crm_status", "Company type").status("COMPANY_TYPE"));
            f.push(FieldDef::system("industry", "crm_status", "Industry").status("INDUSTRY"));
            f.push(FieldDef::system("employees", "crm_status", "Employees").status("EMPLOYEES"));
            f.push(FieldDef::system("revenue", "double", "Annual revenue"));
            f.push(FieldDef::system("currencyId", "crm_currency", "Currency"));
            f.push(FieldDef::system("isMyCompany", "boolean", "My company"));
            f.extend([opened, comments, contacts, observers]);
            f.extend(origin_fields());
            f.extend(utm_fields());
            f.push(fm_field());
        }
        7 => {
            f.extend([title, stage]);
            f.extend(money_fields());
            f.push(tax_value());
            f.extend([begin, close, opened, comments, company, contacts, my_company()]);
            f.push(FieldDef::system("dealId", "crm_deal", "Deal"));
            f.push(FieldDef::system("leadId", "crm_lead", "Lead"));
            f.push(FieldDef::system("content", "text", "Content"));
            f.push(FieldDef::system("terms", "text", "Terms"));
            f.extend(utm_fields());
        }
        _ => {
            // Invoice (31) and smart processes share the dynamic-type fields.
            f.extend([title, FieldDef::system("xmlId", "string", "External ID"), category, stage]);
            if entity_type_id != 31 {
                f.push(FieldDef::system("previousStageId", "crm_status", "Previous stage").read_only());
            }
            f.extend(money_fields());
            f.push(tax_value());
            f.push(my_company());
            f.extend([
                begin,
                close,
                opened,
                company,
                FieldDef::system("contactId", "crm_contact", "Contact"),
            ]);
            f.push(contacts);
            f.extend(source_fields());
            if entity_type_id == 31 {
                f.push(FieldDef::system("accountNumber", "string", "Invoice number"));
                f.push(comments);
            }
            f.push(observers);
        }
    }
    f.extend(common_tail());
    f
}

/// The default custom fields (same pattern on every entity).
fn default_custom_fields(
    entity_type_id: u64,
    spa_type_id: Option<u64>,
    next_uf_id: &mut u64,
) -> Vec<FieldDef> {
    let prefix = uf_prefix(entity_type_id, spa_type_id);
    let entity_id = uf_entity_id(entity_type_id, spa_type_id);
    let specs: [(&str, &str, bool, &str); 8] = [
        ("1700000001", "string", true, "Tags"),
        ("1700000002", "file", false, "Attachment"),
        ("1700000003", "money", false, "Budget"),
        ("1700000004", "enumeration", false, "Tier"),
        ("1700000005", "date", false, "Signed on"),
        ("1700000006", "boolean", false, "Newsletter"),
        ("1700000007", "double", false, "Score"),
        ("1700000008", "url", true, "Links"),
    ];
    specs
        .iter()
        .map(|(code, ty, multiple, label)| {
            *next_uf_id += 1;
            let uf = UfMeta::new(*next_uf_id, entity_id.clone(), (*label).to_string());
            let mut f = FieldDef::custom(&format!("{prefix}{code}"), ty, *multiple, uf);
            if *ty == "enumeration" {
                f.items = [(41, "Gold"), (43, "Silver"), (45, "Bronze")]
                    .iter()
                    .enumerate()
                    .map(|(i, (id, v))| EnumItem {
                        id: *id,
                        value: (*v).to_string(),
                        def: false,
                        sort: 10 * (i as i64 + 1),
                        xml_id: v.to_ascii_uppercase(),
                    })
                    .collect();
            }
            f
        })
        .collect()
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
        fields = system_fields(entity_type_id, &stage_status_type(entity_type_id, default_category));
        fields.extend(default_custom_fields(entity_type_id, spa_type_id, next_uf_id));
    } else {
        fields.extend(common_head());
    }
    if let Some(over) = over {
        for spec in &over.field {
            apply_override(&mut fields, spec, entity_type_id, spa_type_id, next_uf_id);
        }
    }
    EntitySchema {
        entity_type_id,
        title: title.to_string(),
        has_fm: fields.iter().any(|f| f.name == "fm"),
        fields,
    }
}

fn apply_override(
    fields: &mut Vec<FieldDef>,
    spec: &FieldSpec,
    entity_type_id: u64,
    spa_type_id: Option<u64>,
    next_uf_id: &mut u64,
) {
    let (camel, upper) = if spec.name.starts_with("UF_") {
        (upper_to_camel(&spec.name), spec.name.clone())
    } else {
        (spec.name.clone(), camel_to_upper(&spec.name))
    };
    let existing = fields.iter_mut().find(|f| f.name == camel);
    let field = match existing {
        Some(f) => f,
        None => {
            let dynamic = upper.starts_with("UF_");
            let mut f = if dynamic {
                *next_uf_id += 1;
                FieldDef::custom(
                    &upper,
                    spec.field_type.as_deref().unwrap_or("string"),
                    false,
                    UfMeta::new(
                        *next_uf_id,
                        uf_entity_id(entity_type_id, spa_type_id),
                        spec.title.clone().unwrap_or_default(),
                    ),
                )
            } else {
                FieldDef::system(&camel, spec.field_type.as_deref().unwrap_or("string"), &camel)
            };
            f.name = camel;
            fields.push(f);
            fields.last_mut().expect("just pushed")
        }
    };
    if let Some(t) = &spec.field_type {
        field.field_type = t.clone();
    }
    if let Some(m) = spec.multiple {
        field.multiple = m;
    }
    if let Some(r) = spec.required {
        field.required = r;
    }
    if let Some(r) = spec.read_only {
        field.read_only = r;
    }
    if let Some(t) = &spec.title {
        field.title = t.clone();
    }
    if let Some(s) = &spec.status_type {
        field.status_type = Some(s.clone());
    }
    if let Some(items) = &spec.items {
        field.items = items
            .iter()
            .map(|i| EnumItem {
                id: i.id,
                value: i.value.clone(),
                def: false,
                sort: 500,
                xml_id: i.id.to_string(),
            })
            .collect();
    }
}

/// The schema TOML file, as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaFile {
    /// Per-entity overrides.
    #[serde(default)]
    pub entity: Vec<EntitySpec>,
}

/// `[[entity]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitySpec {
    /// The entity type the table applies to.
    pub entity_type_id: u64,
    /// Start from the built-in fields (default true).
    #[serde(default = "yes")]
    pub builtin: bool,
    /// Field overrides and additions.
    #[serde(default)]
    pub field: Vec<FieldSpec>,
}

fn yes() -> bool {
    true
}

/// `[[entity.field]]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// camelCase or `UF_…` name.
    pub name: String,
    /// Field type (required for a new field, default `string`).
    #[serde(rename = "type")]
    pub field_type: Option<String>,
    /// Takes an array.
    pub multiple: Option<bool>,
    /// Must be filled on add.
    pub required: Option<bool>,
    /// Cannot be written.
    pub read_only: Option<bool>,
    /// Title.
    pub title: Option<String>,
    /// Directory of a `crm_status` field.
    pub status_type: Option<String>,
    /// Enumeration options.
    pub items: Option<Vec<ItemSpec>>,
}

/// An enumeration option in the TOML.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemSpec {
    /// Option id.
    pub id: u64,
    /// Display text.
    pub value: String,
}

impl SchemaFile {
    /// Parses schema TOML text (`origin` names it in errors).
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, SandboxError> {
        toml::from_str(text)
            .map_err(|e| SandboxError::Schema { path: origin.to_string(), message: e.to_string() })
    }

    /// Reads and parses a schema TOML file.
    pub fn load(path: &std::path::Path) -> Result<Self, SandboxError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SandboxError::Schema { path: path.display().to_string(), message: e.to_string() })?;
        Self::from_toml(&text, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uf_names_convert_like_the_portal() {
        assert_eq!(upper_to_camel("UF_CRM_1700000001"), "ufCrm_1700000001");
        assert_eq!(upper_to_camel("UF_CRM_44_1721812760630"), "ufCrm44_1721812760630");
        assert_eq!(upper_to_camel("UF_CRM_MY_FIELD"), "ufCrmMyField");
        // The table of api-reference/crm/universal/index.md.
        for (up, cc) in [
            ("UF_CRM_3_DIGIT", "ufCrm3Digit"),
            ("UF_CRM_3_1747309727", "ufCrm3_1747309727"),
            ("UF_CRM_3_DIGIT10", "ufCrm_3_DIGIT10"),
            ("UF_CRM_3_DIGIT_10", "ufCrm_3_DIGIT_10"),
            ("UF_CRM_1747309879", "ufCrm_1747309879"),
        ] {
            assert_eq!(upper_to_camel(up), cc, "{up}");
            assert_eq!(camel_to_upper(cc), up, "{cc}");
        }
        assert_eq!(camel_to_upper("ufCrm_1700000001"), "UF_CRM_1700000001");
        assert_eq!(camel_to_upper("ufCrm44_1721812760630"), "UF_CRM_44_1721812760630");
        assert_eq!(camel_to_upper("assignedById"), "ASSIGNED_BY_ID");
    }

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
