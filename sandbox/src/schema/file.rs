//! The schema TOML file (`--schema`): its serde types, as written, and how an `[[entity.field]]`
//! table changes the built-in fields. Owns parsing and overriding; no validation of item values.

use serde::Deserialize;

use super::{EnumItem, FieldDef, UfMeta, camel_to_upper, uf_entity_id, upper_to_camel, yes};
use crate::SandboxError;
use crate::strict::StageRequirement;

pub(super) fn apply_override(
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
    /// `[[products]]`: the catalogue products of the portal (issue 20, [`crate::record`]).
    #[serde(default)]
    pub products: Vec<crate::record::ProductSpec>,
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
    /// Fields required on a stage (`[[entity.require]]`): the schema-file form of
    /// `b24import sandbox --require` ([`crate::strict`]).
    #[serde(default)]
    pub require: Vec<RequireSpec>,
}

/// `[[entity.require]]`: `stage = "WON"` (omitted: every stage), `fields = ["opportunity"]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequireSpec {
    /// A full `STATUS_ID` or the code after the pipeline prefix (see [`StageRequirement`]).
    pub stage: Option<String>,
    /// The fields required there.
    pub fields: Vec<String>,
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

    /// The `[[entity.require]]` tables as stage requirements.
    pub fn stage_requirements(&self) -> impl Iterator<Item = StageRequirement> + '_ {
        self.entity.iter().flat_map(|e| {
            e.require.iter().map(|r| StageRequirement {
                entity_type_id: e.entity_type_id,
                stage: r.stage.clone(),
                fields: r.fields.clone(),
            })
        })
    }

    /// Reads and parses a schema TOML file.
    pub fn load(path: &std::path::Path) -> Result<Self, SandboxError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| SandboxError::Schema { path: path.display().to_string(), message: e.to_string() })?;
        Self::from_toml(&text, &path.display().to_string())
    }
}
