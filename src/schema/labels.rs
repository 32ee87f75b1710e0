//! Labels -> IDs: the values a `type = "enum"` cell may name in one of the portal's lists, and
//! the labels the rows of a step use.
//!
//! Owns: the matching rule (NFC, case, surrounding and double spaces ignored; a list item by
//! `VALUE`, `XML_ID` or its ID; a status by `NAME` or `STATUS_ID`; a category by name or ID; a
//! currency by code or name), [`choices`] (the list behind a field, stages within a category),
//! [`UsedLabels`] (what the rows use, for the comparison) and [`LabelBook`] (the run's
//! per-step resolver, answering from the schema read once: no request per row). Pure.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use super::model::PortalSchema;
use crate::bitrix::entity::stage_directory;
use crate::bitrix::json;
use crate::mapping::{MappedRow, Pending, PendingField};
use crate::payload::Draft;

/// The form two labels are compared in: Unicode NFC (`Café` typed or pasted with a combining
/// accent is one label), lower case, surrounding spaces dropped, runs of white space made one
/// space.
pub fn normalize(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let composed: String = s.nfc().collect();
    composed.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Which portal list a field's labels live in (what `provision` completes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListRef {
    /// The items of a list custom field; `field_id` is the custom field's ID (`None` while the
    /// field does not exist).
    CustomField { upper_name: String, field_id: Option<u64> },
    /// A status directory (`crm.status.list` `ENTITY_ID`); stages carry their category.
    Status { entity_id: String, category_id: Option<u64> },
    /// The categories (pipelines) of an entity type.
    Category { entity_type_id: u32 },
    /// The portal's currencies (never created by `provision`).
    Currency,
}

/// One value of a list: the ID sent, and the names a label may give it.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    /// What the portal wants in the field (a number for list items and categories, a code for
    /// statuses and currencies).
    pub id: Value,
    /// How the value is shown (first) and the other names that match it.
    pub names: Vec<String>,
}

/// The values a field's labels may name.
#[derive(Debug, Clone, PartialEq)]
pub struct Choices {
    pub list: ListRef,
    pub entries: Vec<Choice>,
    /// Every entry's names, normalized once, -> its index (the first entry wins a shared name):
    /// a row's label costs one lookup, not a normalization of the whole list.
    index: HashMap<String, usize>,
}

impl Choices {
    pub fn new(list: ListRef, entries: Vec<Choice>) -> Choices {
        let mut index = HashMap::new();
        for (i, c) in entries.iter().enumerate() {
            for n in &c.names {
                index.entry(normalize(n)).or_insert(i);
            }
        }
        Choices { list, entries, index }
    }

    /// The ID `label` names, if any.
    pub fn find(&self, label: &str) -> Option<&Value> {
        self.index.get(&normalize(label)).map(|i| &self.entries[*i].id)
    }

    /// The values as a message lists them: `"Gold", "Silver"`.
    pub fn shown(&self) -> String {
        if self.entries.is_empty() {
            return "the list is empty".into();
        }
        self.entries
            .iter()
            .map(|c| format!("\"{}\"", c.names.first().map_or("", String::as_str)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Why a field has no list to look a label up in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoList {
    /// The portal has no such field (or it was not read).
    NoField,
    /// The field exists but holds no list (its portal type).
    NotAList(String),
}

/// The list behind `field` of entity type `entity_type_id`; stages are those of `category`.
pub fn choices(
    schema: &PortalSchema,
    entity_type_id: u32,
    field: &str,
    category: u64,
) -> Result<Choices, NoList> {
    let entity = schema.entities.get(&entity_type_id).ok_or(NoList::NoField)?;
    let f = entity.field(field).ok_or(NoList::NoField)?;
    let id_value = |id: &str| id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n));
    Ok(match f.kind.as_str() {
        "enumeration" => {
            let custom = entity.custom_field(&f.upper_name);
            let entries = f
                .items
                .iter()
                .map(|item| {
                    let xml = item.xml_id.clone().or_else(|| {
                        custom?.items.iter().find(|c| c.id == item.id).and_then(|c| c.xml_id.clone())
                    });
                    let mut names = vec![item.value.clone()];
                    names.extend(xml);
                    names.push(item.id.clone());
                    Choice { id: id_value(&item.id), names }
                })
                .collect();
            Choices::new(
                ListRef::CustomField { upper_name: f.upper_name.clone(), field_id: custom.map(|c| c.id) },
                entries,
            )
        }
        "crm_status" => {
            let (entity_id, category_id) = if field == "stageId" {
                (stage_directory(entity_type_id, category), Some(category))
            } else {
                (f.status_type.clone().ok_or_else(|| NoList::NotAList(f.kind.clone()))?, None)
            };
            let entries = schema
                .statuses_of(&entity_id)
                .map(|s| Choice { id: json!(s.status_id), names: vec![s.name.clone(), s.status_id.clone()] })
                .collect();
            Choices::new(ListRef::Status { entity_id, category_id }, entries)
        }
        "crm_category" => Choices::new(
            ListRef::Category { entity_type_id },
            entity
                .categories
                .iter()
                .map(|c| Choice { id: json!(c.id), names: vec![c.name.clone(), c.id.to_string()] })
                .collect(),
        ),
        "crm_currency" => Choices::new(
            ListRef::Currency,
            schema
                .currencies
                .iter()
                .map(|c| Choice { id: json!(c.code), names: vec![c.code.clone(), c.name.clone()] })
                .collect(),
        ),
        other => return Err(NoList::NotAList(other.to_string())),
    })
}

/// The category a row names in `categoryId`, as the row gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CategoryRef {
    Id(u64),
    Label(String),
}

/// One distinct label a field's rows use, with the category of the row (stages only).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct UsedLabel {
    /// As the first row that used it wrote it.
    pub label: String,
    pub category: Option<CategoryRef>,
}

/// The distinct labels the rows of one step use, per field: what the comparison checks
/// against the portal's lists (and `provision` adds under `add_missing_values`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UsedLabels {
    fields: BTreeMap<String, Vec<UsedLabel>>,
    /// (field, normalized label, category) already recorded.
    seen: std::collections::HashSet<(String, String, Option<CategoryRef>)>,
}

impl UsedLabels {
    /// Records the labels of one mapped row.
    pub fn add(&mut self, row: &MappedRow) {
        let category = row_category(&row.fields, &row.pending);
        for field in &row.pending {
            for p in &field.values {
                if let Pending::Label { field, label } = p {
                    let cat = (field == "stageId").then(|| category.clone()).flatten();
                    self.add_label(field, label, cat);
                }
            }
        }
    }

    /// Records one label (tests and callers that do not map rows).
    pub fn add_label(&mut self, field: &str, label: &str, category: Option<CategoryRef>) {
        if self.seen.insert((field.to_string(), normalize(label), category.clone())) {
            self.fields.entry(field.to_string()).or_default().push(UsedLabel {
                label: unicode_normalization::UnicodeNormalization::nfc(label.trim()).collect(),
                category,
            });
        }
    }

    /// The labels `field`'s rows use.
    pub fn of(&self, field: &str) -> &[UsedLabel] {
        self.fields.get(field).map_or(&[], Vec::as_slice)
    }
}

/// The row's `categoryId`: a ready ID, or a label still to resolve.
fn row_category(fields: &serde_json::Map<String, Value>, pending: &[PendingField]) -> Option<CategoryRef> {
    if let Some(v) = fields.get("categoryId") {
        return json::id(v).map(CategoryRef::Id);
    }
    pending.iter().filter(|p| p.name == "categoryId").flat_map(|p| p.values.iter()).find_map(|p| match p {
        Pending::Label { label, .. } => Some(CategoryRef::Label(label.clone())),
        _ => None,
    })
}

/// A label the portal's list does not hold: the row's rejection text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLabel(pub String);

/// One step's label resolver for the run: answers from the schema read at the start, caching
/// each list it builds (no request per row).
#[derive(Debug, Clone)]
pub struct LabelBook {
    schema: Arc<PortalSchema>,
    entity_type_id: u32,
    cache: HashMap<(String, u64), Result<Choices, NoList>>,
}

impl LabelBook {
    pub fn new(schema: Arc<PortalSchema>, entity_type_id: u32) -> LabelBook {
        LabelBook { schema, entity_type_id, cache: HashMap::new() }
    }

    /// The category a row lands in: the one its `categoryId` names (ID or label), else the
    /// entity's default category.
    pub fn category(&mut self, given: Option<&CategoryRef>) -> u64 {
        match given {
            Some(CategoryRef::Id(id)) => *id,
            Some(CategoryRef::Label(label)) => {
                match self.resolve("categoryId", label, 0).ok().and_then(|v| json::id(&v)) {
                    Some(id) => id,
                    None => self.default_category(),
                }
            }
            None => self.default_category(),
        }
    }

    /// The pipeline a row's stage label is looked up in: the draft's `categoryId` (a ready ID,
    /// or a label resolved first: an unknown one is the row's error), else the default one.
    pub fn row_category(&mut self, draft: &Draft) -> Result<u64, UnknownLabel> {
        let given = match draft.field("categoryId") {
            Some(v) => json::id(v).map(CategoryRef::Id),
            None => {
                draft.pending().iter().filter(|p| p.name == "categoryId").flat_map(|p| &p.values).find_map(
                    |p| match p {
                        Pending::Label { label, .. } => Some(CategoryRef::Label(label.clone())),
                        _ => None,
                    },
                )
            }
        };
        if let Some(CategoryRef::Label(label)) = &given {
            self.resolve("categoryId", label, 0)?;
        }
        Ok(self.category(given.as_ref()))
    }

    fn default_category(&self) -> u64 {
        self.schema.entities.get(&self.entity_type_id).map_or(0, |e| e.default_category())
    }

    /// The ID `label` names in `field`'s list (stages: within `category`), or why not, listing
    /// the portal's values.
    pub fn resolve(&mut self, field: &str, label: &str, category: u64) -> Result<Value, UnknownLabel> {
        let category = if field == "stageId" { category } else { 0 };
        let (schema, etid) = (&self.schema, self.entity_type_id);
        let list = self
            .cache
            .entry((field.to_string(), category))
            .or_insert_with(|| choices(schema, etid, field, category));
        match list {
            Ok(c) => c.find(label).cloned().ok_or_else(|| {
                let within = if field == "stageId" { format!(" (pipeline {category})") } else { String::new() };
                UnknownLabel(format!(
                    "field `{field}`: \"{label}\" is not in the portal's list{within}: {}; correct the cell, or set \
                     add_missing_values = true and run `b24import provision`",
                    c.shown()
                ))
            }),
            Err(NoList::NoField) => {
                Err(UnknownLabel(format!("field `{field}`: the portal has no such field to look \"{label}\" up in")))
            }
            Err(NoList::NotAList(kind)) => Err(UnknownLabel(format!(
                "field `{field}` is a {kind} field, not a list: type = \"enum\" cannot look \"{label}\" up"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Bug pinned: `Café` typed in NFC and pasted in NFD (a combining accent) were two labels, so
    // provision created two list values and a row in the other spelling did not find its value.
    #[test]
    fn a_label_in_nfc_and_in_nfd_is_one_label() {
        let (nfc, nfd) = ("Caf\u{e9}", "Cafe\u{301}");
        let list =
            Choices::new(ListRef::Currency, vec![Choice { id: json!(7), names: vec![nfc.to_string()] }]);
        assert_eq!(list.find(nfd), Some(&json!(7)));
        assert_eq!(list.find(" CAF\u{c9} "), Some(&json!(7)));
        let mut used = UsedLabels::default();
        used.add_label("ufCrm_X", nfd, None);
        used.add_label("ufCrm_X", nfc, None);
        assert_eq!(used.of("ufCrm_X").len(), 1);
        assert_eq!(used.of("ufCrm_X")[0].label, nfc, "the label provision would add is the NFC spelling");
    }
}
