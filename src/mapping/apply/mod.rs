//! Applying a [`MappingPlan`] to one record: a [`MappedRow`] or every problem of the row.
//!
//! Owns: the order of transforms (trim -> split -> map/default -> type) and row-level rules
//! (required fields, `require_any`, key, user fields). The only I/O is reading the files a file
//! field names. Never panics on cell content. Must not resolve what only the run can know
//! (lookups, users, labels stay [`Pending`]).
//!
//! Split by role: this file (the row: its fields in order, row-level rules, the types a row
//! becomes), `cells` (one cell -> a portal value, files, multifield values), `keys` (row keys
//! and the duplicate-key tracker); `tests`.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

mod cells;
mod keys;

pub(super) use cells::convert;
use cells::{cell_text, fm_values};
pub use keys::{IdentityHasher, KeyTracker, join_key, unescaped_key};

use super::compile::{FieldPlan, Input, MappingPlan, Piece};
use super::entity::Entity;
use super::problem::Problem;
use super::spec::ValueType;
use super::transform::{self, Invalid};
use crate::source::{Record, RowProblem, RowRef};

/// A row that passed every check, ready for the payload builder.
#[derive(Debug, Clone, PartialEq)]
pub struct MappedRow {
    pub row: RowRef,
    /// The source key (key columns joined with `|`, or the row number).
    pub key: String,
    /// Portal field -> value, for every field whose value the row itself gives.
    pub fields: Map<String, Value>,
    pub fm: Vec<FmValue>,
    /// Fields whose values only the run can know (portal IDs behind `lookup` and `user`).
    pub pending: Vec<PendingField>,
}

/// A value only the run can know: the portal ID behind a source value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Pending {
    /// The portal ID of the row `key` imported by step `step` (`lookup = "step"`).
    Lookup { step: String, key: String },
    /// The ID of the portal user with this e-mail (`user = "email"`).
    User { email: String },
    /// The portal ID of an attached record's parent: the row `key` of step `step`
    /// (`parent = { step, column }`); unlike a lookup, a parent not done makes the row wait.
    Parent { step: String, key: String },
    /// `type = "enum"`: the ID that the label `label` has in the list of field `field` (a list
    /// item, stage, source, type, category or currency), found in the schema the run read.
    Label { field: String, label: String },
    /// `product = "xmlId" | "name"`: the ID of the catalogue product the value names (issue 20).
    Product { by: crate::mapping::products::ProductBy, value: String },
}

impl Pending {
    /// How `validate --emit` shows the value (documented in the README):
    /// `{"$lookup": "<step>", "key": "<source key>"}`, `{"$user": "<e-mail>"}` or
    /// `{"$label": "<label>"}`.
    pub fn marker(&self) -> Value {
        match self {
            Pending::Lookup { step, key } => json!({"$lookup": step, "key": key}),
            Pending::User { email } => json!({"$user": email}),
            Pending::Parent { step, key } => json!({"$parent": step, "key": key}),
            Pending::Label { label, .. } => json!({"$label": label}),
            Pending::Product { by, value } => json!({"$product": by.as_str(), "value": value}),
        }
    }
}

/// A field whose values are [`Pending`] until the run resolves them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingField {
    /// The portal field.
    pub name: String,
    /// Sent as an array (a multiple field) rather than a single value.
    pub multiple: bool,
    pub values: Vec<Pending>,
}

impl PendingField {
    /// The field's value once `ids` holds one portal value per entry of `values`, in order
    /// (a single field takes the first).
    pub fn value(&self, mut ids: Vec<Value>) -> Value {
        if self.multiple || ids.is_empty() { Value::Array(ids) } else { ids.swap_remove(0) }
    }
}

/// One converted part of a cell: a portal value, or one the run must find.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Part {
    Ready(Value),
    Pending(Pending),
}

/// A field's value: ready, or waiting for the run.
enum FieldOut {
    Ready(Value),
    Pending(PendingField),
}

/// One multifield value (`{typeId, valueType, value}` on add).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FmValue {
    pub type_id: &'static str,
    pub value_type: &'static str,
    pub value: String,
}

/// One problem of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIssue {
    /// The column (or portal field, for row-level rules) concerned.
    pub column: Option<String>,
    /// The offending cell text.
    pub value: Option<String>,
    /// The kind, counted in summaries (`invalid_date`, `required`, ...).
    pub code: Problem,
    pub message: String,
}

impl RowIssue {
    fn new(column: Option<&str>, value: Option<&str>, invalid: Invalid) -> Self {
        RowIssue {
            column: column.map(str::to_string),
            value: value.map(str::to_string),
            code: invalid.code,
            message: invalid.message,
        }
    }

    pub fn from_source(problem: &RowProblem) -> Self {
        match problem {
            RowProblem::Ragged { .. } => {
                RowIssue { column: None, value: None, code: Problem::RaggedRow, message: problem.to_string() }
            }
            RowProblem::ErrorCell { column, value, .. } => RowIssue {
                column: Some(column.clone()),
                value: Some(value.clone()),
                code: Problem::ErrorCell,
                message: problem.to_string(),
            },
            RowProblem::ControlCharacter { column, value, .. } => RowIssue {
                column: Some(column.clone()),
                value: Some(value.clone()),
                code: Problem::ControlCharacter,
                message: problem.to_string(),
            },
            RowProblem::FormulaWithoutValue { column, .. } => RowIssue {
                column: Some(column.clone()),
                value: None,
                code: Problem::FormulaWithoutValue,
                message: problem.to_string(),
            },
        }
    }
}

impl MappingPlan {
    /// Maps one record. A record with reader problems (ragged, error cells) is invalid too.
    pub fn apply(&self, record: &Record) -> Result<MappedRow, Vec<RowIssue>> {
        let mut issues: Vec<RowIssue> = record.problems.iter().map(RowIssue::from_source).collect();
        let mut fields = Map::new();
        let mut pending = Vec::new();
        for field in &self.fields {
            match self.field_value(field, record) {
                Ok(Some(FieldOut::Ready(v))) => {
                    fields.insert(field.name.clone(), v);
                }
                Ok(Some(FieldOut::Pending(p))) => pending.push(p),
                Ok(None) => {}
                Err(mut e) => issues.append(&mut e),
            }
        }
        let mut fm = Vec::new();
        for plan in &self.fm {
            fm_values(plan, record, &mut fm, &mut issues);
        }
        for rule in &self.require_any {
            if rule.columns.iter().all(|(i, _)| record.cell(*i).trim().is_empty()) {
                let names: Vec<&str> = rule.columns.iter().map(|(_, n)| n.as_str()).collect();
                issues.push(RowIssue {
                    column: Some(names.join(" / ")),
                    value: None,
                    code: Problem::RequireAny,
                    message: rule.message.clone(),
                });
            }
        }
        if self.target.entity == Entity::User {
            user_rules(&fields, &mut issues);
        }
        // A comment's text (crm.timeline.comment.add: "Empty comment" otherwise).
        if self.target.entity == Entity::Comment
            && fields.get("COMMENT").and_then(Value::as_str).is_none_or(|t| t.trim().is_empty())
            && !issues.iter().any(|i| i.code == Problem::Required)
        {
            let column = self.fields.iter().find(|f| f.name == "COMMENT").map(|f| f.label.clone());
            issues.push(RowIssue {
                column,
                value: None,
                code: Problem::Required,
                message: "a comment needs its text (COMMENT is empty)".into(),
            });
        }
        if let Some(parent) = &self.target.parent {
            let key = record.cell(parent.column).trim();
            if key.is_empty() {
                issues.push(RowIssue {
                    column: Some(parent.label.clone()),
                    value: None,
                    code: Problem::EmptyParent,
                    message: format!(
                        "the parent key is empty (the row of step `{}` it belongs to)",
                        parent.step
                    ),
                });
            } else {
                let name = crate::payload::parent_field(self.target.entity).to_string();
                let values = vec![Pending::Parent { step: parent.step.clone(), key: key.to_string() }];
                pending.push(PendingField { name, multiple: false, values });
            }
        }
        let key = self.key(record, &fields);
        if key.is_empty() {
            let cols: Vec<&str> = self.key_columns.iter().map(|i| self.headers[*i].as_str()).collect();
            issues.push(RowIssue {
                column: Some(cols.join(" / ")),
                value: None,
                code: Problem::EmptyKey,
                message: "the key is empty".into(),
            });
        }
        if issues.is_empty() {
            Ok(MappedRow { row: record.row.clone(), key, fields, fm, pending })
        } else {
            Err(issues)
        }
    }

    /// The row's source key. Users are always keyed by their (lower-cased) e-mail, the key the
    /// portal itself enforces and the one a lost outcome is looked up by; other rows by the key
    /// columns joined with [`join_key`], or the row number when the mapping has no `key`. This
    /// one text is the journal's key, the `originId` (or the tail of the `xmlId`) sent to the
    /// portal, and what reconciliation and `lookup` fields look it up by.
    pub fn key(&self, record: &Record, fields: &Map<String, Value>) -> String {
        if self.target.entity == Entity::User
            && let Some(Value::String(email)) = fields.get("EMAIL")
        {
            return email.clone();
        }
        if !self.key_columns.is_empty() {
            let parts: Vec<&str> = self.key_columns.iter().map(|i| record.cell(*i).trim()).collect();
            if parts.iter().all(|p| p.is_empty()) {
                return String::new();
            }
            return join_key(&parts);
        }
        record.row.line.to_string()
    }

    fn field_value(&self, f: &FieldPlan, record: &Record) -> Result<Option<FieldOut>, Vec<RowIssue>> {
        let column = Some(f.label.as_str());
        let raw: Cow<'_, str> = match &f.input {
            Input::Const(v) => return Ok(Some(FieldOut::Ready(v.clone()))),
            Input::Column { index, .. } => Cow::Borrowed(cell_text(record.cell(*index), f.trim)),
            Input::Columns(cols) if f.kind == ValueType::Money && cols.len() == 2 => {
                let amount = cell_text(record.cell(cols[0].0), f.trim);
                let cur = cell_text(record.cell(cols[1].0), f.trim);
                match (amount.is_empty(), cur.is_empty()) {
                    (true, _) => Cow::Borrowed(""),
                    (false, true) => Cow::Borrowed(amount),
                    (false, false) => Cow::Owned(format!("{amount}|{cur}")),
                }
            }
            Input::Columns(cols) => Cow::Owned(
                cols.iter()
                    .map(|(i, _)| cell_text(record.cell(*i), f.trim))
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Input::Template(pieces) => {
                let mut out = String::new();
                let mut any = false;
                for p in pieces {
                    match p {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Column(i) => {
                            let v = cell_text(record.cell(*i), f.trim);
                            any |= !v.is_empty();
                            out.push_str(v);
                        }
                    }
                }
                let out = if f.trim { out.trim().to_string() } else { out };
                Cow::Owned(if any || pieces.iter().all(|p| matches!(p, Piece::Text(_))) {
                    out
                } else {
                    String::new()
                })
            }
        };
        // The common case, one value and no split, takes no allocation beyond the value itself.
        if f.split.is_none() && !raw.trim().is_empty() && f.map.is_none() {
            return match convert(f, &raw) {
                Ok(part) => Ok(Some(single(f, part))),
                Err(e) => Err(vec![RowIssue::new(column, Some(&raw), e)]),
            };
        }
        let parts: Vec<&str> = match &f.split {
            Some(sep) => transform::split_parts(&raw, sep).collect(),
            None if raw.trim().is_empty() => Vec::new(),
            None => vec![&raw],
        };
        if parts.is_empty() {
            return match &f.default {
                Some(d) => convert(f, d)
                    .map(|part| Some(single(f, part)))
                    .map_err(|e| vec![RowIssue::new(column, Some(d), e)]),
                None if f.required => Err(vec![RowIssue {
                    column: column.map(str::to_string),
                    value: None,
                    code: Problem::Required,
                    message: format!("required value is empty (field `{}`)", f.name),
                }]),
                None => Ok(None),
            };
        }
        let mut values = Vec::with_capacity(parts.len());
        let mut issues = Vec::new();
        for part in parts {
            let mapped = match &f.map {
                Some(map) => match map.get(part) {
                    Some(v) => v,
                    None => match &f.default {
                        Some(d) => d.as_str(),
                        None => {
                            let known: Vec<&str> = map.exact.keys().map(String::as_str).collect();
                            issues.push(RowIssue::new(
                                column,
                                Some(part),
                                Invalid::new(
                                    Problem::UnknownValue,
                                    format!("not one of the known values: {}", known.join(", ")),
                                ),
                            ));
                            continue;
                        }
                    },
                },
                None => part,
            };
            match convert(f, mapped) {
                Ok(v) => values.push(v),
                Err(e) => issues.push(RowIssue::new(column, Some(part), e)),
            }
        }
        if !issues.is_empty() {
            return Err(issues);
        }
        if !f.multiple && values.len() > 1 && f.kind != ValueType::File {
            return Err(vec![RowIssue::new(
                column,
                Some(&raw),
                Invalid::new(
                    Problem::TooManyValues,
                    format!("{} values for a single field (set `multiple = true`)", values.len()),
                ),
            )]);
        }
        Ok(Some(wrap(f, values)))
    }
}

/// A field's value from its converted parts (at least one). [`convert`] gives a field with a
/// `deferred` rule only pending parts, and any other field only ready ones.
fn wrap(f: &FieldPlan, parts: Vec<Part>) -> FieldOut {
    if f.deferred.is_some() {
        let values = parts.into_iter().filter_map(|p| if let Part::Pending(p) = p { Some(p) } else { None });
        return FieldOut::Pending(PendingField {
            name: f.name.clone(),
            multiple: f.multiple,
            values: values.collect(),
        });
    }
    let mut values: Vec<Value> =
        parts.into_iter().filter_map(|p| if let Part::Ready(v) = p { Some(v) } else { None }).collect();
    FieldOut::Ready(if f.multiple { Value::Array(values) } else { values.swap_remove(0) })
}

/// A field's value from its one converted part: the common case, with no allocation beyond
/// the value itself (an array only for a multiple field).
fn single(f: &FieldPlan, part: Part) -> FieldOut {
    match part {
        Part::Ready(v) => FieldOut::Ready(if f.multiple { Value::Array(vec![v]) } else { v }),
        Part::Pending(p) => {
            FieldOut::Pending(PendingField { name: f.name.clone(), multiple: f.multiple, values: vec![p] })
        }
    }
}

/// `user.add` needs an e-mail, and either departments (intranet) or a group (extranet).
fn user_rules(fields: &Map<String, Value>, issues: &mut Vec<RowIssue>) {
    if issues.iter().any(|i| i.column.is_some() && i.code != Problem::RequireAny)
        && !fields.contains_key("EMAIL")
    {
        return; // the e-mail problem is already reported
    }
    let missing = |field: &str, message: &str| RowIssue {
        column: Some(field.to_string()),
        value: None,
        code: Problem::Required,
        message: message.to_string(),
    };
    if !fields.contains_key("EMAIL") {
        issues.push(missing("EMAIL", "a user needs an e-mail (EMAIL)"));
    }
    let extranet = fields.get("EXTRANET").and_then(Value::as_str) == Some("Y");
    if extranet && !fields.contains_key("SONET_GROUP_ID") {
        issues.push(missing("SONET_GROUP_ID", "an extranet user needs a group (SONET_GROUP_ID)"));
    }
    if !extranet && !fields.contains_key("UF_DEPARTMENT") {
        issues.push(missing("UF_DEPARTMENT", "an intranet user needs a department (UF_DEPARTMENT)"));
    }
}

/// All of a row's problems in one cell: `Birthday "31.02.1990": not a valid date; ...`.
pub fn describe(issues: &[RowIssue]) -> String {
    issues
        .iter()
        .map(|i| {
            let mut s = String::new();
            if let Some(c) = &i.column {
                s.push_str(c);
            }
            if let Some(v) = &i.value {
                s.push_str(&format!(" \"{v}\""));
            }
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&i.message);
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests;
