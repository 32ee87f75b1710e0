//! What one report page holds, as plain data: the steps' outcomes, the chart's series, the
//! rejected rows grouped by reason (bounded: a group keeps its count and its first rows only),
//! the notes, the settings and what a re-run would do.
//!
//! Owns: [`Page`] and the bounded collector [`Reasons`]. Must not render (that is `html` and
//! `chart`) nor read anything.

use std::collections::HashMap;

use crate::journal::Sample;

/// How many rows a reason group shows; the rest are counted.
pub const FIRST_ROWS: usize = 20;

/// How many distinct reasons a step keeps; rows of further reasons are counted together.
pub const MAX_REASONS: usize = 50;

/// What the page reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Run,
    DryRun,
    Validation,
}

/// One outcome of a step, as a number and a share of the bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Existing,
    Rejected,
    Unknown,
    Skipped,
    Pending,
    Valid,
    Invalid,
    WouldSend,
}

impl Outcome {
    /// The word the page shows (and the CSS class of its colour).
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Existing => "existing",
            Outcome::Rejected => "rejected",
            Outcome::Unknown => "unknown",
            Outcome::Skipped => "skipped",
            Outcome::Pending => "pending",
            Outcome::Valid => "valid",
            Outcome::Invalid => "invalid",
            Outcome::WouldSend => "would send",
        }
    }

    /// The CSS class of the outcome's colour.
    pub fn class(self) -> &'static str {
        match self {
            Outcome::Created | Outcome::Valid | Outcome::WouldSend => "o-good",
            Outcome::Updated => "o-upd",
            Outcome::Existing => "o-ex",
            Outcome::Rejected | Outcome::Invalid => "o-bad",
            Outcome::Unknown => "o-unk",
            Outcome::Skipped => "o-skip",
            Outcome::Pending => "o-pend",
        }
    }
}

/// One step's line of the table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepLine {
    pub name: String,
    pub entity: String,
    pub read: u64,
    /// Every outcome of the step, in the page's column order (zeros included).
    pub outcomes: Vec<(Outcome, u64)>,
}

/// The run's figures over time and the lines the chart is read against.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub samples: Vec<Sample>,
    /// Seconds of processing per window each method may use, and the window.
    pub budget_secs: f64,
    pub window_secs: f64,
    /// The ideal of the wall that bound the run (seconds) and its name (`rate`, `operating`).
    pub ideal_secs: f64,
    pub binding_wall: String,
    pub elapsed_secs: f64,
}

/// One rejected (or invalid) row of a reason group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReasonRow {
    /// Where the user finds the row: `contacts.csv:42`.
    pub row: String,
    pub key: Option<String>,
    pub column: Option<String>,
    pub value: Option<String>,
    /// The row's own message where it says more than the group's text.
    pub message: Option<String>,
}

/// Rows of one step rejected for one reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReasonGroup {
    pub step: String,
    pub code: String,
    pub text: String,
    pub count: u64,
    /// The first [`FIRST_ROWS`] rows.
    pub rows: Vec<ReasonRow>,
}

/// The reasons of one step, bounded: at most [`MAX_REASONS`] groups of at most [`FIRST_ROWS`]
/// rows each; rows of further reasons are only counted (`other_rows`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reasons {
    step: String,
    groups: Vec<ReasonGroup>,
    index: HashMap<(String, String), usize>,
    /// Rows whose reason came after [`MAX_REASONS`] others.
    pub other_rows: u64,
}

impl Reasons {
    pub fn new(step: &str) -> Reasons {
        Reasons { step: step.to_string(), ..Reasons::default() }
    }

    /// Counts one row under `code` and `text`, keeping it if the group shows fewer than
    /// [`FIRST_ROWS`].
    pub fn add(&mut self, code: &str, text: &str, row: impl FnOnce() -> ReasonRow) {
        self.add_many(code, text, 1, |_| Some(row()));
    }

    /// Counts `count` rows under `code` and `text`; `rows(n)` gives the first `n` to keep.
    pub fn add_many(
        &mut self,
        code: &str,
        text: &str,
        count: u64,
        rows: impl FnOnce(usize) -> Option<ReasonRow>,
    ) {
        let key = (code.to_string(), text.to_string());
        let at = match self.index.get(&key) {
            Some(&i) => i,
            None if self.groups.len() >= MAX_REASONS => {
                self.other_rows += count;
                return;
            }
            None => {
                self.groups.push(ReasonGroup {
                    step: self.step.clone(),
                    code: key.0.clone(),
                    text: key.1.clone(),
                    ..ReasonGroup::default()
                });
                self.index.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[at];
        group.count += count;
        let room = FIRST_ROWS.saturating_sub(group.rows.len());
        if room > 0
            && let Some(row) = rows(room)
        {
            group.rows.push(row);
        }
    }

    /// Adds a group read whole (the journal's), its first rows already chosen.
    pub fn push_group(&mut self, code: &str, text: &str, count: u64, rows: Vec<ReasonRow>) {
        if self.groups.len() >= MAX_REASONS {
            self.other_rows += count;
            return;
        }
        self.index.insert((code.to_string(), text.to_string()), self.groups.len());
        let rows = rows.into_iter().take(FIRST_ROWS).collect();
        self.groups.push(ReasonGroup {
            step: self.step.clone(),
            code: code.to_string(),
            text: text.to_string(),
            count,
            rows,
        });
    }

    /// The groups, the most rows first.
    pub fn groups(&self) -> Vec<&ReasonGroup> {
        let mut out: Vec<&ReasonGroup> = self.groups.iter().collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
        out
    }

    pub fn step(&self) -> &str {
        &self.step
    }

    /// Rows counted, in every group and beyond them.
    pub fn total(&self) -> u64 {
        self.groups.iter().map(|g| g.count).sum::<u64>() + self.other_rows
    }
}

/// A note of a step (unknown fields, labels, `--online` gaps, source changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub step: String,
    pub text: String,
}

/// One source of the run: where it is and its fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLine {
    pub step: String,
    pub mapping: String,
    pub path: String,
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

/// Everything one page shows, in the order people look.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub kind: Kind,
    pub title: String,
    /// Lines under the title: when, which journal, the outcome.
    pub facts: Vec<(String, String)>,
    pub steps: Vec<StepLine>,
    /// The figures of the run in one sentence each (requests, refusals, the walls).
    pub figures: Vec<String>,
    pub series: Option<Series>,
    /// Why there is no chart, when there is none.
    pub no_series: Option<String>,
    pub reasons: Vec<Reasons>,
    /// Said above the reasons (e.g. "the journal's rejected rows now").
    pub reasons_note: Option<String>,
    pub notes: Vec<Note>,
    pub settings: Vec<(String, String)>,
    pub sources: Vec<SourceLine>,
    pub rerun: Vec<String>,
}

impl Page {
    pub fn new(kind: Kind, title: impl Into<String>) -> Page {
        Page {
            kind,
            title: title.into(),
            facts: Vec::new(),
            steps: Vec::new(),
            figures: Vec::new(),
            series: None,
            no_series: None,
            reasons: Vec::new(),
            reasons_note: None,
            notes: Vec::new(),
            settings: Vec::new(),
            sources: Vec::new(),
            rerun: Vec::new(),
        }
    }
}

/// `Birthday "31.02.1990": not a valid date` -> column, value and message (the form
/// `mapping::describe` writes one problem in); other texts are the message alone.
pub fn split_issue(text: &str) -> (Option<String>, Option<String>, String) {
    let first = text.split("; ").next().unwrap_or(text);
    if let Some(open) = first.find(" \"")
        && !first[..open].contains(['"', ':'])
        && let Some(close) = first[open + 2..].find("\": ")
    {
        let column = &first[..open];
        let value = &first[open + 2..open + 2 + close];
        let message = &first[open + 2 + close + 3..];
        return (Some(column.to_string()), Some(value.to_string()), message.to_string());
    }
    if let Some(colon) = first.find(": ")
        && !first[..colon].contains([' ', '"'])
        && colon > 0
    {
        return (Some(first[..colon].to_string()), None, first[colon + 2..].to_string());
    }
    (None, None, first.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_keeps_its_first_rows_and_counts_the_rest() {
        let mut r = Reasons::new("contacts");
        for i in 0..1000 {
            r.add("invalid_date", "not a valid date", || ReasonRow {
                row: format!("c.csv:{i}"),
                ..Default::default()
            });
        }
        let groups = r.groups();
        assert_eq!((groups.len(), groups[0].count, groups[0].rows.len()), (1, 1000, FIRST_ROWS));
        assert_eq!(groups[0].rows[0].row, "c.csv:0");
    }

    #[test]
    fn reasons_beyond_the_limit_are_counted_together() {
        let mut r = Reasons::new("contacts");
        for i in 0..(MAX_REASONS + 7) {
            r.add("x", &format!("reason {i}"), ReasonRow::default);
        }
        assert_eq!((r.groups().len(), r.other_rows, r.total()), (MAX_REASONS, 7, MAX_REASONS as u64 + 7));
    }

    #[test]
    fn a_described_problem_splits_into_column_value_and_message() {
        assert_eq!(
            split_issue("Birthday \"31.02.1990\": not a valid date; Email: required"),
            (Some("Birthday".into()), Some("31.02.1990".into()), "not a valid date".into())
        );
        assert_eq!(split_issue("Email: required"), (Some("Email".into()), None, "required".into()));
        assert_eq!(
            split_issue("The \"Amount\" field is required"),
            (None, None, "The \"Amount\" field is required".into())
        );
    }
}
