//! What a run is asked to do, why it cannot proceed, and the names a run gives things: the
//! options ([`RunOptions`]), the run's errors ([`RunError`]), the key a row is kept under in the
//! journal ([`journal_key`]), a step's entity label and source as the journal records them, and
//! the default journal's path.
//!
//! Owns: those names and types, shared by the run, the ledger, admission and the command line.
//! Must not: run anything or touch the journal or the portal.

use std::path::{Path, PathBuf};

use super::prepare::{Prepared, Step, StepError};
use crate::journal::{self, JournalError, StepConflict};
use crate::mapping::{Diagnostics, Entity, Mode};
use crate::source::SourceError;

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Mapping files, run as steps in this order.
    pub mappings: Vec<PathBuf>,
    pub journal: PathBuf,
    /// Job name recorded in the journal.
    pub job: String,
    /// Commands per batch (at most 50; user steps use at most 10: each `user.add` sends an
    /// invitation and is slow).
    pub batch_size: usize,
    /// Read the portal, never write to it, and write nothing to the journal.
    pub dry_run: bool,
    /// The command line without secrets, recorded in the journal.
    pub args_summary: String,
    /// Show progress bars (stderr is a terminal) or plain log lines.
    pub progress_bars: bool,
}

impl RunOptions {
    /// A writing run of `mappings` as job `job`: full batches of 50, no progress bars, the job
    /// name as the recorded command line. Callers change what differs with struct update syntax.
    pub fn new(mappings: Vec<PathBuf>, journal: PathBuf, job: &str) -> RunOptions {
        RunOptions {
            mappings,
            journal,
            job: job.to_string(),
            batch_size: 50,
            dry_run: false,
            args_summary: job.to_string(),
            progress_bars: false,
        }
    }
}

/// Why a run could not proceed at all (as opposed to rejected rows, which are data).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Mapping(Diagnostics),
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("{0}")]
    Journal(#[from] JournalError),
    /// A step name the journal knows with another entity or source (exit 2).
    #[error("{0}")]
    StepConflict(Box<StepConflict>),
    /// The portal lacks what a mapping declares (exit 2): `b24import provision` makes it.
    #[error("{0}")]
    NotProvisioned(String),
    /// The portal's schema could not be read (exit 2).
    #[error("{0}")]
    Schema(crate::schema::SchemaError),
    /// The portal would refuse an import step whole (`method = "import"`: the permission, an
    /// administrator, the order of creation dates), found before anything is written (exit 2).
    #[error("{0}")]
    NotImportable(String),
}

impl From<StepConflict> for RunError {
    fn from(c: StepConflict) -> Self {
        RunError::StepConflict(Box::new(c))
    }
}

impl From<StepError> for RunError {
    fn from(e: StepError) -> Self {
        match e {
            StepError::Mapping(d) => RunError::Mapping(d),
            StepError::Source(s) => RunError::Source(s),
        }
    }
}

/// The journal's label of a step (`contact`, `spa:1032`; product rows with their parent's
/// entityTypeId, `product_rows:2`, so that `undo` knows the owner type: issue 20).
pub(super) fn step_label(target: &crate::mapping::TargetPlan) -> String {
    match (target.entity, target.parent.as_ref().and_then(|p| p.entity)) {
        (Entity::ProductRows, Some(Entity::Crm(id))) => format!("product_rows:{id}"),
        (entity, _) => entity_label(entity),
    }
}

/// The journal's entity label of a step (`contact`, `spa:1032`).
pub(super) fn entity_label(entity: Entity) -> String {
    match entity {
        Entity::Crm(id) if !Entity::is_builtin_type_id(id) => format!("spa:{id}"),
        other => other.name(),
    }
}

/// The source as the journal records it: absolute, links resolved (as given if that fails).
pub(super) fn canonical_source(step: &Step) -> PathBuf {
    std::fs::canonicalize(step.source_path()).unwrap_or_else(|_| step.source_path().clone())
}

/// The key a row is kept under in the journal, as text ([`journal::RowKey::encode`]): its
/// source key; a repeat of a key seen earlier in the file by that key and its line; a row
/// without a key by its line (shown `key#dup@line` and `#line`; a source key `#7` stays apart
/// from line 7). `rejects` pairs journal rows with source rows through this same function.
pub fn journal_key(p: &Prepared) -> String {
    let repeat = matches!(&p.outcome, Err(issues) if issues.iter().any(|i| i.code == crate::mapping::Problem::DuplicateKey));
    crate::journal::keys::row_key(&p.key, p.record.row.line, repeat)
}

/// What a run does with a source that changed since the journal recorded it, and what to do
/// about it. Never suggests a new journal: in `create` mode that would create every row again.
pub fn source_changed_advice(mode: Mode) -> &'static str {
    match mode {
        Mode::Create => {
            "rows already done are not sent again and rows with new keys are created; changed rows \
             are not updated in mode = \"create\": to update them, set mode = \"upsert\" in [target] \
             and run again with this journal (a new journal would create every row a second time)"
        }
        Mode::Upsert => "rows already done are updated where they changed; rows with new keys are created",
        Mode::Update => "rows already done are updated where they changed; nothing is created",
    }
}

/// `path` made absolute (symlinks resolved when it exists), so that the journal finds the
/// mapping again from any working directory.
pub fn absolute_path(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).or_else(|_| std::path::absolute(path)).unwrap_or_else(|_| path.to_path_buf())
}

/// The default journal of a run: `<first mapping's dir>/.b24import/<job>.sqlite`.
pub fn default_journal(first_mapping: &Path, job: &str) -> PathBuf {
    journal::default_path(first_mapping, job)
}
