//! Preparing one step: opens a step (mapping file + its source), and turns
//! its records into prepared commands or row problems.
//!
//! Owns: the order source -> mapping -> payload, and the per-file rules that need state
//! across rows (duplicate keys). `validate` uses it offline; the import run uses the same
//! preparation before anything reaches the transport.

use std::path::{Path, PathBuf};

use crate::mapping::{self, Diagnostics, KeyTracker, MappingFile, MappingPlan, RowIssue};
use crate::payload::{self, Draft};
use crate::source::{self, BytesRead, Record, Source, SourceError};

/// Why a step cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{0}")]
    Mapping(Diagnostics),
    #[error("{0}")]
    Source(#[from] SourceError),
}

/// A mapping with its source open and its plan compiled against the source header.
pub struct Step {
    pub file: MappingFile,
    pub plan: MappingPlan,
    pub source: Box<dyn Source>,
    /// Bytes of the source consumed so far (for progress).
    pub bytes: BytesRead,
    /// Size of the source file in bytes.
    pub size: u64,
}

/// Loads a mapping file only (shape checks), without touching its source.
pub fn load_mapping(path: &Path) -> Result<MappingFile, Diagnostics> {
    mapping::load(path)
}

impl Step {
    /// Opens the source of a loaded mapping and compiles the plan against its header.
    pub fn open(file: MappingFile) -> Result<Step, StepError> {
        let options = file.source_options().map_err(|mut d| {
            d.extend(file.problems.clone());
            StepError::Mapping(d)
        })?;
        let size = std::fs::metadata(&options.path).map(|m| m.len()).unwrap_or(0);
        let bytes = BytesRead::default();
        let source = source::open(&options, bytes.clone())?;
        let mut plan = file.compile(source.headers()).map_err(StepError::Mapping)?;
        // Source notes (a misnamed file, a hidden first sheet, merged cells) show with the plan's.
        plan.notes.extend(source.notes().iter().cloned());
        Ok(Step { file, plan, source, bytes, size })
    }

    pub fn source_path(&self) -> &PathBuf {
        &self.plan.source.path
    }

    /// Splits the step into its plan and an iterator of prepared rows.
    pub fn prepare(self) -> (MappingPlan, Prepare, BytesRead, u64) {
        let prepare = Prepare { plan: self.plan.clone(), source: self.source, keys: KeyTracker::default() };
        (self.plan, prepare, self.bytes, self.size)
    }
}

/// One source row after mapping: the command that would create it (still to be completed
/// with the portal IDs only the run can find), or why it cannot be.
#[derive(Debug)]
pub struct Prepared {
    pub record: Record,
    pub key: String,
    pub outcome: Result<Draft, Vec<RowIssue>>,
}

/// Iterator over a step's rows, mapped and checked. A [`SourceError`] ends the step.
pub struct Prepare {
    plan: MappingPlan,
    source: Box<dyn Source>,
    keys: KeyTracker,
}

impl Iterator for Prepare {
    type Item = Result<Prepared, SourceError>;

    fn next(&mut self) -> Option<Self::Item> {
        let record = match self.source.next()? {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let outcome = self.plan.apply(&record);
        let key = match &outcome {
            Ok(row) => row.key.clone(),
            Err(_) => self.plan.key(&record, &Default::default()),
        };
        let mut outcome = outcome.map(|row| payload::add_command(&self.plan.target, row));
        if !key.is_empty()
            && let Some(first) = self.keys.check(&key, record.row.line)
        {
            let first_ref = crate::source::RowRef { line: first, ..record.row.clone() };
            let issue = RowIssue {
                column: Some(self.key_label()),
                value: Some(key.clone()),
                code: crate::mapping::Problem::DuplicateKey,
                message: format!("duplicate key (first seen at {first_ref})"),
            };
            match &mut outcome {
                Ok(_) => outcome = Err(vec![issue]),
                Err(issues) => issues.push(issue),
            }
        }
        Some(Ok(Prepared { record, key, outcome }))
    }
}

impl Prepare {
    fn key_label(&self) -> String {
        if self.plan.key_columns.is_empty() || self.plan.target.entity == crate::mapping::Entity::User {
            "EMAIL".to_string()
        } else {
            self.plan
                .key_columns
                .iter()
                .map(|i| self.plan.headers[*i].as_str())
                .collect::<Vec<_>>()
                .join(" / ")
        }
    }
}
