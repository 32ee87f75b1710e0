//! The checked form of a mapping: [`MappingPlan`] and its parts (target, fields, `[[fm]]`,
//! `[[require_any]]`, duplicate rule), what `compile` builds and `apply` runs.
//!
//! Owns: the types and their small accessors. Must not check anything (that is the rest of
//! `compile`) nor read records (that is `apply`).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use chrono::FixedOffset;
use serde_json::Value;

use crate::mapping::entity::Entity;
use crate::mapping::spec::{CreateMethod, Mode, OnAmbiguous, OnDuplicate, OnExisting, UfType, ValueType};
use crate::mapping::transform;
use crate::source::SourceOptions;

/// A checked mapping, ready to apply to records.
#[derive(Debug, Clone)]
pub struct MappingPlan {
    /// Step name.
    pub name: String,
    pub mapping_path: PathBuf,
    pub source: SourceOptions,
    pub headers: Vec<String>,
    /// Columns whose joined values are the row key; empty = the row number.
    pub key_columns: Vec<usize>,
    pub target: TargetPlan,
    pub fields: Vec<FieldPlan>,
    pub fm: Vec<FmPlan>,
    pub require_any: Vec<RequireAnyPlan>,
    /// Duplicate control against the portal's existing items (`on_duplicate` of [target]).
    pub duplicates: DuplicateRule,
    /// Things worth telling the user that do not stop anything (unknown portal field names,
    /// lookups resolved at run time).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct TargetPlan {
    pub entity: Entity,
    /// `originatorId` of created CRM items.
    pub origin: String,
    pub use_original_uf_names: bool,
    pub mode: Mode,
    pub on_existing: OnExisting,
    /// How new CRM items are created (`method = "add" | "import"`; users: always `user.add`).
    pub method: CreateMethod,
    /// `smart_process = "<title>"`: the smart process is found by title in the portal. Its
    /// entityTypeId is known only online, so until [`MappingPlan::bind_smart_process`] gives it,
    /// `entity` is `Entity::Crm(`[`UNBOUND_SMART_PROCESS`]`)`: offline `validate` checks the
    /// fields as a smart process's and emits `"entityTypeId": 0`; `run` and `validate
    /// --online` bind it from the schema they read before anything else uses `entity`.
    pub smart_process: Option<String>,
    /// `[target.provision]`.
    pub provision: ProvisionPlan,
    /// Attached records (`comment`, `activity`): where each row's parent item is.
    pub parent: Option<ParentPlan>,
    /// Requisites (issue 20): the preset by name, and its ID once the portal's presets were
    /// read ([`MappingPlan::bind_preset`]).
    pub preset: Option<PresetPlan>,
}

/// `preset = "<name>"` of a requisite step: its `PRESET_ID` is known only online (0 until
/// bound: offline `validate --emit` shows `"PRESET_ID": 0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresetPlan {
    pub name: String,
    pub id: u64,
}

/// `parent = { step, column }`, checked: the parent's step, and the column holding the parent
/// row's key. The parent's entity is known only once the job's steps are opened together (or
/// from the journal, for a parent imported by an earlier run): [`MappingPlan::bind_parent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentPlan {
    pub step: String,
    pub column: usize,
    /// The column's header.
    pub label: String,
    /// The parent step's entity (`None` until bound).
    pub entity: Option<Entity>,
}

/// The entityTypeId of a `smart_process = "<title>"` step before the portal is read (0: no
/// entity has it, so nothing can be sent by mistake).
pub const UNBOUND_SMART_PROCESS: u32 = 0;

/// `[target.provision]`, checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvisionPlan {
    /// The digital workspace (by title) that must hold the smart process.
    pub workspace: Option<String>,
    /// Flags to switch on besides those the mapped fields need (documented names only).
    pub flags: Vec<&'static str>,
}

/// `create = {...}`, checked: how `provision` creates a missing custom field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePlan {
    pub kind: UfType,
    pub label: String,
    pub multiple: bool,
    pub required: bool,
}

impl MappingPlan {
    /// Gives a `smart_process = "<title>"` step the entityTypeId the portal's schema says the
    /// title has (no-op for other steps).
    pub fn bind_smart_process(&mut self, entity_type_id: u32) {
        if self.target.smart_process.is_some() {
            self.target.entity = Entity::Crm(entity_type_id);
        }
    }

    /// Gives an attached step (`parent = {...}`) its parent step's entity (no-op for others).
    pub fn bind_parent(&mut self, entity: Entity) {
        if let Some(p) = &mut self.target.parent {
            p.entity = Some(entity);
        }
    }

    /// Gives a requisite step the ID of its preset (no-op for others).
    pub fn bind_preset(&mut self, id: u64) {
        if let Some(p) = &mut self.target.preset {
            p.id = id;
        }
    }

    /// Whether the step targets a smart process whose entityTypeId is not known yet.
    pub fn is_unbound(&self) -> bool {
        self.target.smart_process.is_some() && self.target.entity == Entity::Crm(UNBOUND_SMART_PROCESS)
    }
}

/// `on_duplicate`, `duplicate_by` and `on_ambiguous` of [target], checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DuplicateRule {
    pub on_duplicate: OnDuplicate,
    /// `EMAIL` / `PHONE`: the `[[fm]]` types a row is matched by.
    pub by: Vec<&'static str>,
    pub on_ambiguous: OnAmbiguous,
}

impl DuplicateRule {
    /// Whether rows to create are checked against the portal first.
    pub fn checks(&self) -> bool {
        self.on_duplicate != OnDuplicate::Create && !self.by.is_empty()
    }
}

/// One portal field and how to compute it from a record.
#[derive(Debug, Clone)]
pub struct FieldPlan {
    pub name: String,
    /// How problems name the input: the column(s), or the field for constants and templates.
    pub label: String,
    pub input: Input,
    pub kind: ValueType,
    pub required: bool,
    pub trim: bool,
    pub formats: transform::Formats,
    pub decimal_comma: bool,
    /// Exact keys, plus a lower-cased index for case-insensitive matches.
    pub map: Option<ValueMap>,
    pub default: Option<String>,
    pub split: Option<String>,
    pub multiple: bool,
    pub file: Option<FileRule>,
    pub currency: Option<String>,
    pub offset: FixedOffset,
    pub deferred: Option<Deferred>,
    /// Custom fields: how `provision` creates the field when the portal lacks it.
    pub create: Option<CreatePlan>,
    /// `type = "enum"`: labels missing from the portal's list are added by `provision`.
    pub add_missing_values: bool,
}

#[derive(Debug, Clone)]
pub enum Input {
    Column {
        index: usize,
        name: String,
    },
    /// Joined with a space; for money the second column is the currency.
    Columns(Vec<(usize, String)>),
    Const(Value),
    Template(Vec<Piece>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Column(usize),
}

#[derive(Debug, Clone)]
pub struct ValueMap {
    pub exact: BTreeMap<String, String>,
    pub folded: HashMap<String, String>,
}

impl ValueMap {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.exact.get(key).or_else(|| self.folded.get(&key.trim().to_lowercase())).map(String::as_str)
    }
}

#[derive(Debug, Clone)]
pub struct FileRule {
    /// Canonical folder that file paths must stay inside.
    pub base_dir: PathBuf,
    /// The folder as the mapping file names it (for messages).
    pub shown_as: String,
    pub max_bytes: u64,
}

/// A value that names something in the portal, resolved by the run (not by `validate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deferred {
    /// The source key of a row of another step; becomes that item's portal ID.
    Lookup(String),
    /// An e-mail; becomes that user's ID.
    UserByEmail,
    /// `type = "enum"`: a label; becomes the ID of the list item, stage, source, category or
    /// currency the portal's schema gives it.
    Label,
    /// A catalogue product's `XML_ID` or `NAME`; becomes its ID (`crm.product.list`, issue 20).
    Product(crate::mapping::products::ProductBy),
}

#[derive(Debug, Clone)]
pub struct FmPlan {
    pub type_id: &'static str,
    pub value_type: &'static str,
    pub column: usize,
    pub column_name: String,
    pub split: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RequireAnyPlan {
    pub columns: Vec<(usize, String)>,
    pub message: String,
}
