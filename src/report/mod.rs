//! The HTML report (issue 22): a run or a validation as one self-contained page that opens
//! from a mail attachment: per step the outcomes as numbers and a bar, the run over time as an
//! SVG chart with the ideal line of the wall that bound it, rejected rows grouped by reason with
//! what to do, the settings, and what a re-run would do.
//!
//! Owns: rendering a run or a validation as one page, and what the journal must keep for it
//! (the sampler of the run's figures over time and the run's final figures, `figures`).
//! Reads only the journal and the run's figures, never the portal; writes only the page (and,
//! through [`store_run`], the journal's samples at the end of a run). No script, no font, no
//! network resource, no secret: the command line is the journal's masked one, and every text
//! that may carry a URL is masked again.
//!
//! One file per role: `model` (what a page holds, the bounded reason groups), `pages` (building
//! a page from the journal or from validate's findings), `html` (maud templates and the style),
//! `chart` (the SVG), `advice` (what to do per error code), `figures` (what the journal keeps).

mod advice;
mod chart;
mod figures;
mod html;
mod model;
mod pages;

use std::path::{Path, PathBuf};

pub use figures::{Figures, Sampler, Settings, StepFigures, settings_of, store_run};
pub use html::render;
pub use model::{FIRST_ROWS, Kind, MAX_REASONS, Page, ReasonRow, Reasons, split_issue};
pub use pages::{ValidationStep, run_page, validation_page};

use crate::journal::{Journal, JournalError, RunId, RunRecord};

/// Why a page could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the journal has no run {id}; its runs: {known}")]
    NoSuchRun { id: i64, known: String },
    #[error("the journal has no run yet: `b24import run` records one")]
    NoRuns,
    #[error("cannot write the report {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// Whether `path` asks for the HTML page (`.html` or `.htm`, any case); anything else keeps
/// the JSON report.
pub fn is_html(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"))
}

/// Writes `page` to `path` as HTML.
pub fn write(page: &Page, path: &Path) -> Result<(), ReportError> {
    std::fs::write(path, render(page))
        .map_err(|source| ReportError::Write { path: path.to_path_buf(), source })
}

/// The run `id` of `journal`, or its last one.
pub fn find_run(journal: &Journal, id: Option<i64>) -> Result<RunRecord, ReportError> {
    let runs = journal.runs()?;
    match id {
        Some(id) => runs.iter().find(|r| r.id == RunId(id)).cloned().ok_or_else(|| ReportError::NoSuchRun {
            id,
            known: runs.iter().map(|r| r.id.0.to_string()).collect::<Vec<_>>().join(", "),
        }),
        None => runs.into_iter().max_by_key(|r| r.id.0).ok_or(ReportError::NoRuns),
    }
}

/// The page of the run `run` of `journal` from what the journal kept (`b24import report`).
pub fn page_of_journal(journal: &Journal, run: &RunRecord) -> Result<Page, ReportError> {
    let figures = journal.run_figures(run.id)?.and_then(|json| serde_json::from_str::<Figures>(&json).ok());
    Ok(run_page(Some(journal), Some(run), figures.as_ref())?)
}
