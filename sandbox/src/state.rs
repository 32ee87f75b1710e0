//! The portal's data: entity schemas, CRM items, users, smart-process types, digital
//! workplaces, pipelines (categories) and status directories, plus the id counters.
//!
//! Owns the data and the changes since the last flush ([`Dirty`]) so [`super::persist`] writes
//! only what moved. It does not validate requests (that is `methods`), and it does no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::schema::{self, EntitySchema, SchemaFile};
use super::{DuplicateCounts, DuplicateDetail};

/// A CRM item: its id and its stored fields, keyed by camelCase name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The item id (increasing per entity type).
    pub id: u64,
    /// Stored values (system and custom, `fm` as a list of `{id,typeId,valueType,value}`).
    pub fields: Map<String, Value>,
}

/// A user: fields keyed by upper-case name (`EMAIL`, `NAME`, `UF_DEPARTMENT`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The user id.
    pub id: u64,
    /// Stored fields.
    pub fields: Map<String, Value>,
    /// The built-in administrator (not counted in the snapshot).
    #[serde(default)]
    pub builtin: bool,
}

/// A smart-process type (`crm.type.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpaType {
    /// The type id (`crm_dynamic_type.id`).
    pub id: u64,
    /// Its entityTypeId.
    pub entity_type_id: u64,
    /// Every field as the API shows it (camelCase), `id` and `entityTypeId` included.
    pub fields: Map<String, Value>,
}

/// A digital workplace (`crm.automatedsolution.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Solution {
    /// Id.
    pub id: u64,
    /// Title.
    pub title: String,
    /// Linked SPA type ids.
    pub type_ids: Vec<u64>,
}

/// A pipeline (`crm.category.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    /// Id (0 is the deals' general pipeline).
    pub id: u64,
    /// Entity type.
    pub entity_type_id: u64,
    /// Name.
    pub name: String,
    /// Sort.
    pub sort: i64,
    /// The default pipeline.
    pub is_default: bool,
}

/// A value of a status directory (`crm.status.*`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Row id.
    pub id: u64,
    /// Directory (`STATUS`, `DEAL_STAGE`, `SOURCE`, …).
    pub entity_id: String,
    /// The code items store (`NEW`, `C3:WON`, `DT1032_7:NEW`).
    pub status_id: String,
    /// Display name.
    pub name: String,
    /// Sort.
    pub sort: i64,
    /// A system value.
    pub system: bool,
    /// Pipeline of a stage.
    pub category_id: Option<u64>,
    /// `S` success, `F` failure, or none.
    pub semantics: Option<String>,
}

impl Status {
    /// The row as `crm.status.list` returns it.
    pub fn to_json(&self) -> Value {
        json!({
            "ID": self.id.to_string(),
            "ENTITY_ID": self.entity_id,
            "STATUS_ID": self.status_id,
            "NAME": self.name,
            "NAME_INIT": if self.system { self.name.clone() } else { String::new() },
            "SORT": self.sort.to_string(),
            "SYSTEM": if self.system { "Y" } else { "N" },
            "CATEGORY_ID": self.category_id.map(|c| c.to_string()),
            "COLOR": "#39A8EF",
            "SEMANTICS": self.semantics,
            "EXTRA": {"SEMANTICS": self.semantics.clone().unwrap_or_else(|| "process".into()), "COLOR": "#39A8EF"},
        })
    }
}

/// Everything except items, users and counters: small, rewritten whole when it changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Schema per entityTypeId.
    pub schemas: BTreeMap<u64, EntitySchema>,
    /// SPA types by type id.
    pub types: BTreeMap<u64, SpaType>,
    /// Digital workplaces by id.
    pub solutions: BTreeMap<u64, Solution>,
    /// Pipelines.
    pub categories: Vec<Category>,
    /// Status directories.
    pub statuses: Vec<Status>,
    /// Currency codes (`crm.currency.list`'s `CURRENCY`); `currencyId` must be one of them.
    #[serde(default = "default_currencies")]
    pub currencies: Vec<String>,
}

/// The currencies a fresh portal has: the base ones a Bitrix24 portal is created with.
pub const DEFAULT_CURRENCIES: [&str; 6] = ["RUB", "USD", "EUR", "UAH", "BYN", "KZT"];

fn default_currencies() -> Vec<String> {
    DEFAULT_CURRENCIES.iter().map(|c| (*c).to_string()).collect()
}

/// Id counters (never reused, so a deleted item's id does not come back).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    /// Next item id per entity type.
    pub next_item_id: BTreeMap<u64, u64>,
    /// Last user id given.
    pub user: u64,
    /// Last SPA type id given.
    pub spa_type: u64,
    /// Last digital-workplace id given.
    pub solution: u64,
    /// Last pipeline id given to a type other than deals (the portal's `b_crm_item_category`).
    pub category: u64,
    /// Last deal pipeline id given: deals number their pipelines apart, from 1 (the portal keeps
    /// them in their own table, `b_crm_deal_category`; 0 is the general pipeline). The
    /// `crm-status-add.md` example adds a stage to `DEAL_STAGE_1`, the first pipeline a portal
    /// adds to deals, whatever smart invoice or smart process pipelines exist.
    #[serde(default)]
    pub deal_category: u64,
    /// Last status row id given.
    pub status: u64,
    /// Last user-field id given.
    pub uf: u64,
    /// Last enumeration option id given.
    pub enum_item: u64,
    /// Last multifield value id given.
    pub fm: u64,
    /// Last file id given.
    pub file: u64,
}

/// What changed since the last flush.
#[derive(Debug, Clone, Default)]
pub struct Dirty {
    /// (entityTypeId, id) of items added, updated or deleted.
    pub items: BTreeSet<(u64, u64)>,
    /// Users added or updated.
    pub users: BTreeSet<u64>,
    /// [`Meta`] changed.
    pub meta: bool,
    /// Anything changed (counters are written whenever this is set).
    pub any: bool,
}

/// The whole portal state.
#[derive(Debug, Clone, Default)]
pub struct State {
    /// Schemas, types, workplaces, pipelines, statuses.
    pub meta: Meta,
    /// Id counters.
    pub counters: Counters,
    /// Items per entityTypeId, by id.
    pub items: HashMap<u64, BTreeMap<u64, Item>>,
    /// Users by id.
    pub users: BTreeMap<u64, User>,
    /// Changes not yet persisted.
    pub dirty: Dirty,
    /// The whole record (issue 20): product rows, products, requisites, bank details,
    /// addresses ([`crate::record`]; not persisted).
    pub records: crate::record::Records,
    /// Issue 19 (history): timeline comments, activities, automation and e-mail counters
    /// (`history.rs`; not persisted).
    pub history: super::history::History,
}

fn statuses_of(entity_id: &str) -> Vec<(&'static str, &'static str, Option<&'static str>)> {
    match entity_id {
        "STATUS" => vec![
            ("NEW", "Unassigned", None),
            ("IN_PROCESS", "In progress", None),
            ("PROCESSED", "Processed", None),
            ("CONVERTED", "Good lead", Some("S")),
            ("JUNK", "Junk lead", Some("F")),
        ],
        "SOURCE" => vec![
            ("CALL", "Call", None),
            ("EMAIL", "E-Mail", None),
            ("WEB", "Website", None),
            ("ADVERTISING", "Advertising", None),
            ("PARTNER", "Existing client", None),
            ("RECOMMENDATION", "By recommendation", None),
            ("TRADE_SHOW", "Show/Exhibition", None),
            ("WEBFORM", "CRM form", None),
            ("CALLBACK", "Callback", None),
            ("OTHER", "Other", None),
        ],
        "CONTACT_TYPE" => vec![
            ("CLIENT", "Clients", None),
            ("SUPPLIER", "Suppliers", None),
            ("PARTNER", "Partners", None),
            ("OTHER", "Other", None),
        ],
        "COMPANY_TYPE" => vec![
            ("CUSTOMER", "Client", None),
            ("SUPPLIER", "Supplier", None),
            ("COMPETITOR", "Competitor", None),
            ("PARTNER", "Partner", None),
            ("OTHER", "Other", None),
        ],
        "DEAL_TYPE" => vec![
            ("SALE", "Sales", None),
            ("COMPLEX", "Integrated sale", None),
            ("GOODS", "Merchandise sale", None),
            ("SERVICES", "Service sale", None),
            ("SERVICE", "After-sales service", None),
        ],
        "INDUSTRY" => vec![
            ("IT", "Information Technology", None),
            ("TELECOM", "Telecommunication", None),
            ("MANUFACTURING", "Manufacturing", None),
            ("BANKING", "Banking Services", None),
            ("CONSULTING", "Consulting", None),
            ("FINANCE", "Finance", None),
            ("GOVERNMENT", "Government", None),
            ("DELIVERY", "Delivery", None),
            ("ENTERTAINMENT", "Entertainment", None),
            ("NOTPROFIT", "Non-profit", None),
            ("OTHER", "Other", None),
        ],
        "EMPLOYEES" => vec![
            ("EMPLOYEES_1", "less than 50", None),
            ("EMPLOYEES_2", "50-250", None),
            ("EMPLOYEES_3", "250-500", None),
            ("EMPLOYEES_4", "over 500", None),
        ],
        "HONORIFIC" => vec![
            ("HNR_EN_1", "Mr.", None),
            ("HNR_EN_2", "Mrs.", None),
            ("HNR_EN_3", "Ms.", None),
            ("HNR_EN_4", "Dr.", None),
        ],
        "QUOTE_STATUS" => vec![
            ("DRAFT", "New", None),
            ("SENT", "Sent to client", None),
            ("RECEIVED", "Opened", None),
            ("APPROVED", "Approved", Some("S")),
            ("DECLAINED", "Declined", Some("F")),
        ],
        _ => Vec::new(),
    }
}

impl State {
    /// A fresh portal: built-in schemas, pipelines, directories and the administrator (id 1).
    pub fn new(schema_file: Option<&SchemaFile>) -> Self {
        let mut s = State::default();
        for dir in [
            "STATUS",
            "SOURCE",
            "CONTACT_TYPE",
            "COMPANY_TYPE",
            "DEAL_TYPE",
            "INDUSTRY",
            "EMPLOYEES",
            "HONORIFIC",
        ] {
            s.add_directory(dir, None);
        }
        s.add_directory("QUOTE_STATUS", None);
        s.meta.currencies = default_currencies();
        s.meta.categories.push(Category {
            id: 0,
            entity_type_id: 2,
            name: "General".into(),
            sort: 100,
            is_default: true,
        });
        s.add_stages(2, 0);
        let invoice_category = s.add_category(31, "General", true);
        for etid in schema::BUILTIN_TYPE_IDS {
            let title = schema::builtin_title(etid).unwrap_or("Item");
            let default_category = if etid == 31 { invoice_category } else { 0 };
            let sch = schema::build(etid, title, None, default_category, schema_file, &mut s.counters.uf);
            s.meta.schemas.insert(etid, sch);
            s.counters.next_item_id.insert(etid, 1);
        }
        s.counters.user = 1;
        let mut admin = Map::new();
        admin.insert("ACTIVE".into(), json!(true));
        admin.insert("EMAIL".into(), json!("admin@sandbox.local"));
        admin.insert("NAME".into(), json!("Sandbox"));
        admin.insert("LAST_NAME".into(), json!("Admin"));
        admin.insert("UF_DEPARTMENT".into(), json!([1]));
        admin.insert("USER_TYPE".into(), json!("employee"));
        admin.insert("IS_ADMIN".into(), json!(true));
        s.users.insert(1, User { id: 1, fields: admin, builtin: true });
        s.counters.enum_item = 100;
        s.dirty = Dirty { meta: true, any: true, users: [1].into(), ..Dirty::default() };
        // The whole record (issue 20): the schema file's `[[products]]` catalogue.
        s.records.seed_products(
            schema_file.map(|f| f.products.as_slice()).unwrap_or_default(),
            "2024-01-01T00:00:00+00:00",
        );
        s
    }

    fn add_directory(&mut self, entity_id: &str, category_id: Option<u64>) {
        for (i, (code, name, sem)) in statuses_of(entity_id).into_iter().enumerate() {
            self.counters.status += 1;
            self.meta.statuses.push(Status {
                id: self.counters.status,
                entity_id: entity_id.to_string(),
                status_id: code.to_string(),
                name: name.to_string(),
                sort: 10 * (i as i64 + 1),
                system: true,
                category_id,
                semantics: sem.map(str::to_string),
            });
        }
    }

    /// Adds the stage directory of (entity type, pipeline).
    pub fn add_stages(&mut self, entity_type_id: u64, category_id: u64) {
        let entity_id = schema::stage_status_type(entity_type_id, category_id);
        let stages: Vec<(String, &str, Option<&str>)> = match entity_type_id {
            2 => {
                let p = if category_id == 0 { String::new() } else { format!("C{category_id}:") };
                [
                    ("NEW", "New", None),
                    ("PREPARATION", "Preparing documents", None),
                    ("PREPAYMENT_INVOICE", "Invoice", None),
                    ("EXECUTING", "In progress", None),
                    ("FINAL_INVOICE", "Final invoice", None),
                    ("WON", "Deal won", Some("S")),
                    ("LOSE", "Deal lost", Some("F")),
                ]
                .into_iter()
                .map(|(c, n, s)| (format!("{p}{c}"), n, s))
                .collect()
            }
            31 => [
                ("N", "New", None),
                ("S", "Sent", None),
                ("P", "Paid", Some("S")),
                ("D", "Declined", Some("F")),
            ]
            .into_iter()
            .map(|(c, n, s)| (format!("DT31_{category_id}:{c}"), n, s))
            .collect(),
            _ => [
                ("NEW", "Start", None),
                ("PREPARATION", "Preparation", None),
                ("CLIENT", "Client", None),
                ("SUCCESS", "Success", Some("S")),
                ("FAIL", "Failure", Some("F")),
            ]
            .into_iter()
            .map(|(c, n, s)| (format!("DT{entity_type_id}_{category_id}:{c}"), n, s))
            .collect(),
        };
        for (i, (code, name, sem)) in stages.into_iter().enumerate() {
            self.counters.status += 1;
            self.meta.statuses.push(Status {
                id: self.counters.status,
                entity_id: entity_id.clone(),
                status_id: code,
                name: name.to_string(),
                sort: 10 * (i as i64 + 1),
                system: true,
                category_id: Some(category_id),
                semantics: sem.map(str::to_string),
            });
        }
        self.dirty.meta = true;
        self.dirty.any = true;
    }

    /// Adds a pipeline with its stages; returns its id, unique within the entity type: deals
    /// count on [`Counters::deal_category`], every other type on [`Counters::category`].
    pub fn add_category(&mut self, entity_type_id: u64, name: &str, is_default: bool) -> u64 {
        // A state file from before the deal sequence has no `deal_category`: start after the
        // deal pipelines it holds, so an id is never given twice.
        let highest =
            self.meta.categories.iter().filter(|c| c.entity_type_id == entity_type_id).map(|c| c.id).max();
        let counter =
            if entity_type_id == 2 { &mut self.counters.deal_category } else { &mut self.counters.category };
        *counter = (*counter).max(highest.unwrap_or(0)) + 1;
        let id = *counter;
        self.meta.categories.push(Category {
            id,
            entity_type_id,
            name: name.to_string(),
            sort: 500,
            is_default,
        });
        self.add_stages(entity_type_id, id);
        id
    }

    /// The default pipeline of an entity type (0 when it has none).
    pub fn default_category(&self, entity_type_id: u64) -> u64 {
        self.meta
            .categories
            .iter()
            .find(|c| c.entity_type_id == entity_type_id && c.is_default)
            .map_or(0, |c| c.id)
    }

    /// The first stage of a pipeline, if the entity has stages.
    pub fn first_stage(&self, entity_type_id: u64, category_id: u64) -> Option<String> {
        let dir = schema::stage_status_type(entity_type_id, category_id);
        self.meta
            .statuses
            .iter()
            .filter(|s| s.entity_id == dir)
            .min_by_key(|s| s.sort)
            .map(|s| s.status_id.clone())
    }

    /// Marks an item changed.
    pub fn touch_item(&mut self, entity_type_id: u64, id: u64) {
        self.dirty.items.insert((entity_type_id, id));
        self.dirty.any = true;
    }

    /// Marks a user changed.
    pub fn touch_user(&mut self, id: u64) {
        self.dirty.users.insert(id);
        self.dirty.any = true;
    }

    /// Marks the meta data changed.
    pub fn touch_meta(&mut self) {
        self.dirty.meta = true;
        self.dirty.any = true;
    }

    /// The statuses of one directory, by sort.
    pub fn directory(&self, entity_id: &str) -> Vec<&Status> {
        let mut rows: Vec<&Status> = self.meta.statuses.iter().filter(|s| s.entity_id == entity_id).collect();
        rows.sort_by_key(|s| s.sort);
        rows
    }

    /// Adds a value to a status directory (`crm.status.add`: never a system value); returns its id.
    pub fn add_status(
        &mut self,
        entity_id: &str,
        status_id: &str,
        name: &str,
        sort: i64,
        category_id: Option<u64>,
        semantics: Option<String>,
    ) -> u64 {
        self.counters.status += 1;
        let id = self.counters.status;
        self.meta.statuses.push(Status {
            id,
            entity_id: entity_id.to_string(),
            status_id: status_id.to_string(),
            name: name.to_string(),
            sort,
            system: false,
            category_id,
            semantics,
        });
        self.touch_meta();
        id
    }

    /// The smart-process type of an entity type, if it is one.
    pub fn spa_type(&self, entity_type_id: u64) -> Option<&SpaType> {
        self.meta.types.values().find(|t| t.entity_type_id == entity_type_id)
    }

    /// A smart-process flag (`isClientEnabled`, …) of an entity type; built-in types have
    /// every feature.
    pub fn flag(&self, entity_type_id: u64, flag: &str) -> bool {
        self.spa_type(entity_type_id).is_none_or(|t| t.fields.get(flag).and_then(Value::as_str) == Some("Y"))
    }

    /// Rebuilds the `parentId{N}` fields from the smart processes' `relations`: a type's
    /// `parent` entries give it `parentId{parent}`, its `child` entries give each child
    /// `parentId{type}`. Called whenever a type is added, changed or deleted.
    pub fn sync_parent_fields(&mut self) {
        let mut links: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for t in self.meta.types.values() {
            let rel = |side: &str| -> Vec<u64> {
                t.fields
                    .get("relations")
                    .and_then(|r| r.get(side))
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|e| e.get("entityTypeId").and_then(super::methods::as_u64))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            for parent in rel("parent") {
                links.entry(t.entity_type_id).or_default().insert(parent);
            }
            for child in rel("child") {
                links.entry(child).or_default().insert(t.entity_type_id);
            }
        }
        let known: BTreeSet<u64> = self.meta.schemas.keys().copied().collect();
        for (etid, schema) in self.meta.schemas.iter_mut() {
            schema.fields.retain(|f| !f.is_parent_link());
            for parent in links.get(etid).into_iter().flatten() {
                if known.contains(parent) {
                    schema.fields.push(schema::FieldDef::parent(*parent));
                }
            }
        }
        self.touch_meta();
    }

    /// Item counts per entity type.
    pub fn item_counts(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for etid in self.meta.schemas.keys() {
            let n = self.items.get(etid).map_or(0, |m| m.len() as u64);
            out.insert(etid.to_string(), n);
        }
        out
    }

    /// Users created through `user.add`.
    pub fn user_count(&self) -> u64 {
        self.users.values().filter(|u| !u.builtin).count() as u64
    }

    /// Items and users sharing an external key.
    pub fn duplicates(&self) -> DuplicateCounts {
        let mut out = DuplicateCounts::default();
        let mut etids: Vec<_> = self.items.keys().copied().collect();
        etids.sort_unstable();
        for etid in etids {
            let mut groups: BTreeMap<String, Vec<u64>> = BTreeMap::new();
            for item in self.items[&etid].values() {
                let text = |k: &str| match item.fields.get(k) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Number(n)) => n.to_string(),
                    _ => String::new(),
                };
                let origin_id = text("originId");
                if !origin_id.is_empty() {
                    groups
                        .entry(format!("{}|{}", text("originatorId"), origin_id))
                        .or_default()
                        .push(item.id);
                }
                let xml_id = text("xmlId");
                if !xml_id.is_empty() {
                    groups.entry(format!("xmlId:{xml_id}")).or_default().push(item.id);
                }
            }
            for (key, ids) in groups {
                if ids.len() > 1 {
                    out.items += ids.len() as u64 - 1;
                    out.details.push(DuplicateDetail {
                        kind: "item".into(),
                        entity_type_id: Some(etid),
                        key,
                        ids,
                    });
                }
            }
        }
        let mut by_email: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for u in self.users.values() {
            if let Some(Value::String(e)) = u.fields.get("EMAIL") {
                by_email.entry(e.to_lowercase()).or_default().push(u.id);
            }
        }
        for (key, ids) in by_email {
            if ids.len() > 1 {
                out.users += ids.len() as u64 - 1;
                out.details.push(DuplicateDetail { kind: "user".into(), entity_type_id: None, key, ids });
            }
        }
        out
    }
}
