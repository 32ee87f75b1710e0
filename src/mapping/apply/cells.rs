//! One cell -> its portal value: a type conversion (dates, numbers, money, booleans, ...), a
//! value the run must find ([`Part::Pending`]), a file field's contents (base64, read from a
//! path that must stay inside the mapping's folder), and multifield values.
//!
//! Owns: the per-cell conversions and the one file read of the mapping stage. Must not apply
//! row-level rules (required fields, `require_any`, keys: that is the rest of `apply`).

use std::path::{Component, Path};

use base64::Engine as _;
use chrono::Datelike as _;
use serde_json::{Value, json};

use super::*;
use crate::mapping::compile::{Deferred, FieldPlan, FileRule, FmPlan};
use crate::mapping::problem::Problem;
use crate::mapping::spec::ValueType;
use crate::mapping::transform::{self, Invalid};
use crate::source::Record;

/// `2026-03-14` without going through `format!` (this runs for every date cell).
pub(super) fn iso_date(year: i32, month: u32, day: u32) -> String {
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
pub(super) fn cell_text(s: &str, trim: bool) -> &str {
    if trim { s.trim() } else { s }
}

/// Converts one (mapped) part to its portal value, or to what the run must find.
pub(in crate::mapping) fn convert(f: &FieldPlan, s: &str) -> Result<Part, Invalid> {
    match &f.deferred {
        Some(Deferred::Lookup(step)) => {
            return Ok(Part::Pending(Pending::Lookup { step: step.clone(), key: s.to_string() }));
        }
        Some(Deferred::UserByEmail) => {
            return Ok(Part::Pending(Pending::User { email: transform::to_email(s)? }));
        }
        Some(Deferred::Product(by)) => {
            return Ok(Part::Pending(Pending::Product { by: *by, value: s.to_string() }));
        }
        Some(Deferred::Label) => {
            return Ok(Part::Pending(Pending::Label { field: f.name.clone(), label: s.to_string() }));
        }
        None => {}
    }
    convert_value(f, s).map(Part::Ready)
}

/// Converts one (mapped) part of a field without a `deferred` rule to its portal value.
pub(super) fn convert_value(f: &FieldPlan, s: &str) -> Result<Value, Invalid> {
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
pub(super) fn read_file(rule: &FileRule, rel: &str) -> Result<(String, String), Invalid> {
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

pub(super) fn fm_values(plan: &FmPlan, record: &Record, out: &mut Vec<FmValue>, issues: &mut Vec<RowIssue>) {
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
