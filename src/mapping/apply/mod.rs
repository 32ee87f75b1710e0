//! Applying a [`MappingPlan`] to one record: a [`MappedRow`] or every problem of the row.
//!
//! Owns: the order of transforms (trim -> split -> map/default -> type) and row-level rules
//! (required fields, `require_any`, key, user fields). The only I/O is reading the files a file
//! field names. Never panics on cell content.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Component, Path};

use base64::Engine as _;
use chrono::Datelike as _;
use serde_json::{Map, Value, json};

use super::compile::{Deferred, FieldPlan, FileRule, FmPlan, Input, MappingPlan, Piece};
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
    /// `type = "enum"`: the ID that the label `label` has in the list of field `field` (a list
    /// item, stage, source, type, category or currency), found in the schema the run read.
    Label { field: String, label: String },
}

impl Pending {
    /// How `validate --emit` shows the value (documented in the README):
    /// `{"$lookup": "<step>", "key": "<source key>"}`, `{"$user": "<e-mail>"}` or
    /// `{"$label": "<label>"}`.
    pub fn marker(&self) -> Value {
        match self {
            Pending::Lookup { step, key } => json!({"$lookup": step, "key": key}),
            Pending::User { email } => json!({"$user": email}),
            Pending::Label { label, .. } => json!({"$label": label}),
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

/// The form an earlier version (before escaping) gave the composite key `key` built by
/// [`join_key`]: the plain `|` join of its parts. `None` when the two forms are the same (no
/// escape in `key`). Only meaningful for keys of two or more columns: a journal written before
/// escaping holds such a row under this form, and the run must find it there instead of
/// creating the row again.
pub fn unescaped_key(key: &str) -> Option<String> {
    if !key.contains('\\') {
        return None;
    }
    let mut out = String::with_capacity(key.len());
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    Some(out)
}

/// Joins the cells of a composite key into one text that no other tuple of cells can give.
///
/// Parts are joined with `|`; when there are several parts, a `\` inside a part is written
/// `\\` and a `|` is written `\|`, so `("a|b", "c")` (`a\|b|c`) and `("a", "b|c")` (`a|b\|c`)
/// stay apart. A key whose parts hold no `|` and no `\` is exactly the plain join, and a
/// single-column key is never escaped: keys that journals of earlier versions hold stay the
/// same, so those journals resume.
pub fn join_key(parts: &[&str]) -> String {
    if let [one] = parts {
        return (*one).to_string();
    }
    let mut out = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('|');
        }
        if part.contains(['|', '\\']) {
            for c in part.chars() {
                if matches!(c, '|' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
        } else {
            out.push_str(part);
        }
    }
    out
}

/// `2026-03-14` without going through `format!` (this runs for every date cell).
fn iso_date(year: i32, month: u32, day: u32) -> String {
    if !(0..=9999).contains(&year) {
        return format!("{year:04}-{month:02}-{day:02}");
    }
    let digit = |n: u32| char::from(b'0' + (n % 10) as u8);
    let y = year as u32;
    [
        digit(y / 1000),
        digit(y / 100),
        digit(y / 10),
        digit(y),
        '-',
        digit(month / 10),
        digit(month),
        '-',
        digit(day / 10),
        digit(day),
    ]
    .iter()
    .collect()
}

/// The cell text, trimmed unless `trim = false`.
fn cell_text(s: &str, trim: bool) -> &str {
    if trim { s.trim() } else { s }
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

/// Converts one (mapped) part to its portal value, or to what the run must find.
pub(super) fn convert(f: &FieldPlan, s: &str) -> Result<Part, Invalid> {
    match &f.deferred {
        Some(Deferred::Lookup(step)) => {
            return Ok(Part::Pending(Pending::Lookup { step: step.clone(), key: s.to_string() }));
        }
        Some(Deferred::UserByEmail) => {
            return Ok(Part::Pending(Pending::User { email: transform::to_email(s)? }));
        }
        Some(Deferred::Label) => {
            return Ok(Part::Pending(Pending::Label { field: f.name.clone(), label: s.to_string() }));
        }
        None => {}
    }
    convert_value(f, s).map(Part::Ready)
}

/// Converts one (mapped) part of a field without a `deferred` rule to its portal value.
fn convert_value(f: &FieldPlan, s: &str) -> Result<Value, Invalid> {
    Ok(match f.kind {
        ValueType::String => Value::String(s.to_string()),
        ValueType::Int => json!(transform::to_int(s)?),
        ValueType::Number => {
            let text = transform::to_number(s, f.decimal_comma)?;
            serde_json::from_str::<serde_json::Number>(&text)
                .map(Value::Number)
                .map_err(|_| Invalid::new(Problem::InvalidNumber, "not a number"))?
        }
        ValueType::Bool => Value::String(transform::to_bool(s)?.to_string()),
        ValueType::Date => {
            let d = transform::to_date(s, &f.formats)?;
            Value::String(iso_date(d.year(), d.month(), d.day()))
        }
        ValueType::Datetime => Value::String(transform::to_datetime(s, &f.formats, f.offset)?),
        ValueType::Money => Value::String(transform::to_money(s, f.currency.as_deref(), f.decimal_comma)?),
        ValueType::Email => Value::String(transform::to_email(s)?),
        ValueType::Phone => Value::String(transform::to_phone(s)?),
        // Never reached: an enum field is always deferred (a label), see `convert`.
        ValueType::Enum => Value::String(s.to_string()),
        ValueType::File => {
            let rule = f
                .file
                .as_ref()
                .ok_or_else(|| Invalid::new(Problem::FileError, "file field without base_dir"))?;
            let (name, content) = read_file(rule, s)?;
            json!([name, content])
        }
    })
}

/// Reads `rel` inside `base_dir` and base64-encodes it. Refuses absolute paths, paths that
/// leave `base_dir` (also through links), missing files and files over `max_bytes`.
fn read_file(rule: &FileRule, rel: &str) -> Result<(String, String), Invalid> {
    let (base_dir, max_bytes) = (rule.base_dir.as_path(), rule.max_bytes);
    let rel_path = Path::new(rel);
    if rel_path.is_absolute()
        || rel_path.components().any(|c| matches!(c, Component::Prefix(_) | Component::RootDir))
    {
        return Err(Invalid::new(
            Problem::FileOutsideBaseDir,
            "absolute file paths are not allowed; give a path inside base_dir",
        ));
    }
    let joined = base_dir.join(rel_path);
    let canonical = match joined.canonicalize() {
        Ok(p) => p,
        Err(_) if rel_path.components().any(|c| c == Component::ParentDir) => {
            return Err(Invalid::new(Problem::FileOutsideBaseDir, "the path leaves base_dir"));
        }
        Err(_) => {
            return Err(Invalid::new(
                Problem::FileMissing,
                format!("file not found in base_dir {}", rule.shown_as),
            ));
        }
    };
    if !canonical.starts_with(base_dir) {
        return Err(Invalid::new(Problem::FileOutsideBaseDir, "the path leaves base_dir"));
    }
    let meta = std::fs::metadata(&canonical)
        .map_err(|e| Invalid::new(Problem::FileMissing, format!("cannot read the file: {e}")))?;
    if !meta.is_file() {
        return Err(Invalid::new(Problem::FileMissing, "not a file"));
    }
    if meta.len() > max_bytes {
        return Err(Invalid::new(
            Problem::FileTooLarge,
            format!(
                "file is {:.1} MiB, the limit is {:.1} MiB (max_file_mb)",
                mib(meta.len()),
                mib(max_bytes)
            ),
        ));
    }
    let bytes = std::fs::read(&canonical)
        .map_err(|e| Invalid::new(Problem::FileMissing, format!("cannot read the file: {e}")))?;
    let name = canonical.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    Ok((name, base64::engine::general_purpose::STANDARD.encode(bytes)))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn fm_values(plan: &FmPlan, record: &Record, out: &mut Vec<FmValue>, issues: &mut Vec<RowIssue>) {
    let cell = record.cell(plan.column);
    let parts: Vec<&str> = match &plan.split {
        Some(sep) => transform::split_parts(cell, sep).collect(),
        None if cell.trim().is_empty() => Vec::new(),
        None => vec![cell.trim()],
    };
    for part in parts {
        let cleaned = match plan.type_id {
            "PHONE" => transform::to_phone(part),
            "EMAIL" => transform::to_email(part),
            _ => Ok(part.to_string()),
        };
        match cleaned {
            Ok(value) => {
                if !out.iter().any(|v| v.type_id == plan.type_id && v.value == value) {
                    out.push(FmValue { type_id: plan.type_id, value_type: plan.value_type, value });
                }
            }
            Err(e) => issues.push(RowIssue::new(Some(&plan.column_name), Some(part), e)),
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

/// Finds duplicate keys within one file with flat memory: 12 bytes per row (a 64-bit hash of
/// the key, split in two `u32` so the entry packs without padding, and the first row's line),
/// so 2,000,000 rows take about 80 MiB at the peak of a table resize.
#[derive(Debug, Default)]
pub struct KeyTracker {
    seen: HashMap<[u32; 2], u32, std::hash::BuildHasherDefault<IdentityHasher>>,
}

impl KeyTracker {
    /// Records `key` at `line`; returns the earlier line if the key was seen before.
    pub fn check(&mut self, key: &str, line: u64) -> Option<u64> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let hash = h.finish();
        let packed = [(hash >> 32) as u32, hash as u32];
        match self.seen.entry(packed) {
            std::collections::hash_map::Entry::Occupied(e) => Some(u64::from(*e.get())),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(u32::try_from(line).unwrap_or(u32::MAX));
                None
            }
        }
    }
}

/// The keys are already hashes; hashing them again would be wasted work.
#[derive(Debug, Default)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 << 32) | u64::from(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::spec;
    use proptest::prelude::*;
    use std::path::PathBuf;

    const HEADERS: [&str; 6] = ["Code", "Name", "Date", "Amount", "Phones", "File"];

    fn plan(dir: &Path) -> MappingPlan {
        let text = r#"name = "p"
[source]
path = "x.csv"
key = "Code"
[target]
entity = "contact"
[fields]
name = { column = "Name", required = true }
birthdate = { column = "Date", type = "date", formats = ["%d.%m.%Y"] }
opportunity = { column = "Amount", type = "number", decimal_comma = true }
ufCrm_1 = { column = "Amount", type = "money", currency = "RUB", decimal_comma = true }
ufCrm_2 = { column = "Name", split = ";", multiple = true, map = { "a" = "1", "b" = "2" }, default = "0" }
ufCrm_3 = { column = "File", type = "file" }
ufCrm_4 = { column = "Date", type = "datetime", formats = ["%d.%m.%Y"], utc_offset = "+03:00" }
opened = { column = "Code", type = "bool", map = { "K1" = "yes" }, default = "N" }
comments = { template = "{Name} / {Date}" }
[[fm]]
type = "PHONE"
column = "Phones"
split = ","
[[require_any]]
columns = ["Phones", "Name"]
"#;
        let file = spec::parse(&dir.join("m.toml"), text.to_string()).expect("parses");
        let headers: Vec<String> = HEADERS.iter().map(|h| h.to_string()).collect();
        file.compile(&headers).expect("compiles")
    }

    fn record(cells: &[String]) -> Record {
        Record {
            row: RowRef { file: "x.csv".into(), sheet: None, line: 2 },
            cells: csv::StringRecord::from(cells.to_vec()),
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_good_row_maps_to_portal_values() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("a.txt"), "hello").expect("file");
        let cells: Vec<String> = ["K1", "a;b", "14.03.2026", "1 500,50", "8 916 123-45-67", "a.txt"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let row = plan(dir.path()).apply(&record(&cells)).expect("valid");
        assert_eq!(row.key, "K1");
        assert_eq!(row.fields["birthdate"], json!("2026-03-14"));
        assert_eq!(row.fields["opportunity"], json!(1500.50));
        assert_eq!(row.fields["ufCrm_2"], json!(["1", "2"]));
        assert_eq!(row.fields["ufCrm_3"], json!(["a.txt", "aGVsbG8="]));
        assert_eq!(row.fields["ufCrm_1"], json!("1500.50|RUB"));
        assert_eq!(row.fields["opened"], json!("Y"));
        assert_eq!(row.fields["comments"], json!("a;b / 14.03.2026"));
        assert_eq!(row.fields["ufCrm_4"], json!("2026-03-14T00:00:00+03:00"));
        assert_eq!(row.fm[0].value, "89161234567");
    }

    #[test]
    fn paths_that_leave_base_dir_are_row_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = plan(dir.path());
        for bad in ["../../etc/passwd", "/etc/passwd", "missing.txt"] {
            let cells: Vec<String> =
                ["K1", "a", "", "", "+7 916 123 45 67", bad].iter().map(|s| s.to_string()).collect();
            let issues = p.apply(&record(&cells)).expect_err("invalid");
            let codes: Vec<&str> = issues.iter().map(|i| i.code.as_str()).collect();
            assert!(
                codes.contains(&"file_outside_base_dir") || codes.contains(&"file_missing"),
                "{bad}: {codes:?}"
            );
        }
    }

    // Regression: key parts were joined with a bare `|`, so ("a|b", "c") and ("a", "b|c") got
    // the same key and the second record was taken for a duplicate of the first.
    #[rstest::rstest]
    #[case(&["a", "b"], "a|b")]
    #[case(&["C-1", "2026", "x y"], "C-1|2026|x y")]
    #[case(&["a", ""], "a|")]
    #[case(&["", "b"], "|b")]
    #[case(&["only|one"], "only|one")]
    #[case(&["back\\slash"], "back\\slash")]
    #[case(&["Кириллица", "ёж"], "Кириллица|ёж")]
    #[case(&["a|b", "c"], "a\\|b|c")]
    #[case(&["a", "b|c"], "a|b\\|c")]
    #[case(&["a\\", "b"], "a\\\\|b")]
    #[case(&["a", "\\|b"], "a|\\\\\\|b")]
    fn composite_keys_keep_plain_keys_and_escape_only_what_could_collide(
        #[case] parts: &[&str],
        #[case] want: &str,
    ) {
        assert_eq!(join_key(parts), want);
    }

    #[test]
    fn a_composite_key_is_built_from_the_trimmed_key_cells() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut p = plan(dir.path());
        p.key_columns = vec![0, 1];
        let key = |a: &str, b: &str| {
            let cells: Vec<String> = [a, b, "", "", "", ""].iter().map(|s| s.to_string()).collect();
            p.key(&record(&cells), &Map::new())
        };
        assert_eq!(key(" K1 ", "Ann"), "K1|Ann");
        assert_ne!(key("a|b", "c"), key("a", "b|c"));
        assert_eq!(key(" ", ""), "", "all key cells empty: no key");
    }

    proptest! {
        #[test]
        fn distinct_key_parts_never_give_the_same_key(
            (a, b) in (1usize..4).prop_flat_map(|n| {
                let part = "[ab|\\\\]{0,4}";
                (proptest::collection::vec(part, n), proptest::collection::vec(part, n))
            }),
        ) {
            prop_assume!(a != b);
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let b: Vec<&str> = b.iter().map(String::as_str).collect();
            prop_assert_ne!(join_key(&a), join_key(&b));
        }

        /// The hard cases: tuples whose plain `|` join is the same text, split differently.
        #[test]
        fn tuples_with_the_same_plain_join_get_different_keys(
            (a, b) in proptest::collection::vec("[ab|\\\\]{0,4}", 2..4).prop_flat_map(|a| {
                let joined = a.join("|");
                let pipes: Vec<usize> = joined.match_indices('|').map(|(i, _)| i).collect();
                let cuts = proptest::sample::subsequence(pipes, a.len() - 1);
                (Just(a), cuts.prop_map(move |cuts| {
                    let mut parts = Vec::new();
                    let mut from = 0;
                    for cut in cuts {
                        parts.push(joined[from..cut].to_string());
                        from = cut + 1;
                    }
                    parts.push(joined[from..].to_string());
                    parts
                }))
            }),
        ) {
            let a: Vec<&str> = a.iter().map(String::as_str).collect();
            let b: Vec<&str> = b.iter().map(String::as_str).collect();
            prop_assert_eq!(a == b, join_key(&a) == join_key(&b), "{:?} / {:?}", a, b);
        }

        #[test]
        fn keys_without_pipes_or_backslashes_are_the_plain_join(
            parts in proptest::collection::vec("[^|\\\\]{0,6}", 1..4),
        ) {
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            prop_assert_eq!(join_key(&parts), parts.join("|"));
        }

        #[test]
        fn an_escaped_composite_key_unescapes_to_the_plain_join_older_journals_hold(
            parts in proptest::collection::vec("[a|\\\\]{0,5}", 2..4),
        ) {
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            let key = join_key(&parts);
            let old = unescaped_key(&key).unwrap_or_else(|| key.clone());
            prop_assert_eq!(old, parts.join("|"));
        }

        #[test]
        fn no_cell_content_makes_apply_panic(cells in proptest::collection::vec("\\PC{0,24}", 0..8)) {
            let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("samples/files");
            let p = plan(&dir);
            let _ = p.apply(&record(&cells));
        }
    }
}
