//! `validate --report FILE`: the validation as one HTML page (`FILE.html`, issue 22), or the
//! summary as JSON (any other name, the shape `--json` prints).
//!
//! Owns: handing what validation found to `crate::report` (each invalid row's issues into the
//! bounded reason groups as the rows are read). Must not read sources or the portal.

use std::path::Path;

use anyhow::Context as _;

use super::summary::StepSummary;
use crate::mapping::RowIssue;
use crate::pipeline::Prepared;
use crate::report::{ReasonRow, Reasons, ValidationStep};

/// Counts one issue of an invalid row under its reason (code and message); the group keeps
/// the row if it shows fewer than its first rows.
pub(super) fn add_issue(reasons: &mut Reasons, row: &Prepared, issue: &RowIssue) {
    reasons.add(issue.code.as_str(), &issue.message, || ReasonRow {
        row: row.record.row.to_string(),
        key: (!row.key.is_empty()).then(|| crate::journal::keys::shown(&row.key)),
        column: issue.column.clone(),
        value: issue.value.clone(),
        message: None,
    });
}

/// Writes the report of `summaries` to `path`: HTML by its extension, else `json`.
pub(super) fn write(
    path: &Path,
    summaries: &[StepSummary],
    json: &serde_json::Value,
    online: bool,
) -> anyhow::Result<()> {
    if !crate::report::is_html(path) {
        let text = serde_json::to_string_pretty(json)?;
        return std::fs::write(path, text)
            .with_context(|| format!("cannot write the report {}", path.display()));
    }
    let steps = summaries
        .iter()
        .map(|s| {
            let mut notes = s.notes.clone();
            for p in &s.portal {
                let fix = if p.provision { " (b24import provision makes it)" } else { "" };
                notes.push(format!("portal: {}{fix}", p.message));
            }
            if let Some(line) = s.duplicates.as_ref().and_then(|d| d.summary()) {
                notes.push(line);
            }
            if let Some(e) = &s.stopped {
                notes.push(format!("reading stopped after {} row(s): {e}", s.rows_read));
            }
            ValidationStep {
                name: s.step.clone(),
                entity: s.entity.clone(),
                mapping: s.mapping.clone(),
                source: s.source.clone(),
                read: s.rows_read,
                valid: s.valid,
                invalid: s.invalid,
                reasons: s.reasons.clone(),
                notes,
            }
        })
        .collect();
    crate::report::write(&crate::report::validation_page(steps, online), path)?;
    Ok(())
}
