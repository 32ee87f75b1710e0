//! What validation found and how it is shown: the per-step [`StepSummary`] (also the `--json`
//! shape), its problems folded by cause, the text report and the progress bar.
//!
//! Owns: the output of `validate`. Must not read sources or the portal.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use super::Args;
use crate::mapping::RowIssue;
use crate::pipeline;

/// What validation found for one step (also the `--json` shape).
#[derive(Debug, Default, Serialize)]
pub(super) struct StepSummary {
    pub(super) step: String,
    pub(super) mapping: String,
    pub(super) source: String,
    pub(super) entity: String,
    pub(super) rows_read: u64,
    pub(super) valid: u64,
    pub(super) invalid: u64,
    /// Rows read but not in the sample (`--sample`, issue 21): not validated further.
    pub(super) not_sampled: u64,
    pub(super) errors_by_kind: BTreeMap<String, u64>,
    pub(super) problems: Vec<Problem>,
    pub(super) notes: Vec<String>,
    /// Why reading stopped before the end of the source (the rows after it were not read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) stopped: Option<String>,
    /// `--online`: what the portal lacks for this step.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) portal: Vec<PortalProblem>,
    /// `--online` with `on_duplicate`: the rows that would match items the portal already
    /// holds, by what the mode would do with them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) duplicates: Option<pipeline::DuplicateFigures>,
    /// Rows match several existing items under `on_ambiguous = "reject"`: they would be
    /// rejected (exit 1).
    #[serde(skip)]
    pub(super) ambiguous_rejected: bool,
    /// The invalid rows by reason, bounded, for `--report FILE.html` (issue 22).
    #[serde(skip)]
    pub(super) reasons: crate::report::Reasons,
}

/// One schema gap of a step (`--online`).
#[derive(Debug, Serialize)]
pub(super) struct PortalProblem {
    pub(super) message: String,
    /// `b24import provision` would fix it.
    pub(super) provision: bool,
    /// Only the rows using it are refused (exit 1), not the mapping (exit 2).
    pub(super) row_level: bool,
}

#[derive(Debug, Serialize)]
pub(super) struct Problem {
    pub(super) row: String,
    pub(super) column: Option<String>,
    pub(super) value: Option<String>,
    pub(super) code: String,
    pub(super) message: String,
    /// Later rows with exactly this problem (one cause, e.g. a label the portal's list lacks):
    /// shown as one line with the count, not once per row.
    pub(super) more: u64,
}

impl Problem {
    pub(super) fn render(&self) -> String {
        let mut s = self.row.clone();
        if let Some(c) = &self.column {
            s.push_str("  ");
            s.push_str(c);
        }
        if let Some(v) = &self.value {
            s.push_str(&format!("  \"{}\"", v.replace('\n', "\\n")));
        }
        s.push_str("  ");
        s.push_str(&self.message);
        if self.more > 0 {
            s.push_str(&format!(" (and {} more row(s) with the same problem)", self.more));
        }
        s
    }

    pub(super) fn same(&self, issue: &RowIssue) -> bool {
        self.column == issue.column
            && self.value == issue.value
            && self.code == issue.code.to_string()
            && self.message == issue.message
    }
}

pub(super) fn problem(row: &str, issue: &RowIssue) -> Problem {
    Problem {
        row: row.to_string(),
        column: issue.column.clone(),
        value: issue.value.clone(),
        code: issue.code.to_string(),
        message: issue.message.clone(),
        more: 0,
    }
}

pub(super) fn print_text(summaries: &[StepSummary], args: &Args) {
    let mut total = (0u64, 0u64, 0u64);
    for s in summaries {
        total = (total.0 + s.rows_read, total.1 + s.valid, total.2 + s.invalid);
        outln!("{} ({} -> {})", s.step, s.mapping, s.entity);
        outln!("  source   {}", s.source);
        outln!("  rows     {} read, {} valid, {} invalid", s.rows_read, s.valid, s.invalid);
        if !s.errors_by_kind.is_empty() {
            let kinds: Vec<String> = s.errors_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
            outln!("  errors   {}", kinds.join(", "));
        }
        for note in &s.notes {
            outln!("  note     {note}");
        }
        for p in &s.portal {
            let tag = if p.provision { "portal   (provision) " } else { "portal   " };
            outln!("  {tag}{}", p.message);
        }
        if let Some(line) = s.duplicates.as_ref().and_then(|d| d.summary()) {
            outln!("  {line}");
            for m in s.duplicates.iter().flat_map(|d| d.matches.iter()).take(args.max_problems) {
                outln!("    {m}");
            }
        }
        if s.stopped.is_some() {
            outln!(
                "  STOPPED  reading stopped after {} row(s); the rest of the file was not read (see the error)",
                s.rows_read
            );
        }
        if !s.problems.is_empty() {
            let shown: u64 = s.problems.iter().map(|p| 1 + p.more).sum();
            let all: u64 = s.errors_by_kind.values().sum();
            outln!("  problems (first {shown} of {all}):");
            for p in &s.problems {
                outln!("    {}", p.render());
            }
        }
        outln!();
    }
    outln!("total: {} rows read, {} valid, {} invalid", total.0, total.1, total.2);
    if summaries.iter().any(|s| s.stopped.is_some()) {
        outln!("not every row was read: fix the source error below and validate again");
    }
    if total.2 > 0 && args.rejects.is_none() {
        outln!("hint: --rejects rejects.csv writes every invalid row with its errors");
    }
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
pub(super) struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
}

impl Progress {
    pub(super) fn new(size: u64, step: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(size);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg} ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(step.to_string());
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar, started: Instant::now() }
    }

    pub(super) fn update(&self, bytes: u64, rows: u64) {
        if let Some(bar) = &self.bar {
            let secs = self.started.elapsed().as_secs_f64().max(1e-3);
            bar.set_position(bytes);
            bar.set_message(format!("{rows} rows, {:.0} rows/s", rows as f64 / secs));
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
