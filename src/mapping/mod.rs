//! The mapping language: one TOML file per step says which source to read, which entity to
//! create, and how each portal field is computed from the row.
//!
//! Flow: [`spec::load`] reads the file into a [`MappingSpec`] (shape only, every problem with
//! `path:line:col`), [`MappingFile::source_options`] says how to open the source, and
//! [`MappingFile::compile`] checks it against the source header into a [`MappingPlan`], which
//! [`MappingPlan::apply`] runs on each record; [`names`] spells custom fields as the portal
//! does and refuses names it can never hold.
//!
//! Owns: the mapping language (its keys, their checks and their messages with file, line and
//! column) and what a row becomes under it. Must not: do async work or talk to the portal
//! (the only I/O is reading the mapping file and the files that file fields name), know
//! method names or answers (`bitrix`, `payload`), or panic on cell content: a bad row is a
//! list of [`Problem`]s, never control flow.

pub mod apply;
pub mod compile;
pub mod diagnostic;
pub mod entity;
pub mod names;
pub mod problem;
pub mod products;
pub mod record;
pub mod spa;
pub mod spec;
pub mod transform;

pub use apply::{FmValue, KeyTracker, MappedRow, Pending, PendingField, RowIssue, describe, unescaped_key};
pub use compile::{
    CreatePlan, Deferred, DuplicateRule, FieldPlan, Input, MappingPlan, ParentPlan, PresetPlan,
    ProvisionPlan, TargetPlan,
};
pub use diagnostic::{Diagnostic, Diagnostics};
pub use entity::{Entity, KeyField};
pub use problem::Problem;
pub use spec::{
    CreateMethod, MappingFile, MappingSpec, Mode, OnAmbiguous, OnDuplicate, OnExisting, UfType, ValueType,
    load,
};
