//! Builds a [`Page`]: for a run, from the journal (its run record, samples, figures, rejected
//! rows, sources) and the run's figures; for a validation, from what `validate` found.
//!
//! Owns: what goes on each page and the sentences that say it. Reads the journal only (never
//! the portal, never a source). Every text that may hold a URL (the command line, notes,
//! errors) goes through the one masking, `transport::client::redact_text`.

use crate::journal::{Journal, JournalError, RunRecord, keys};
use crate::transport::client::redact_text;

use super::figures::{Figures, Settings};
use super::model::{
    Kind, Note, Outcome, Page, ReasonRow, Reasons, Series, SourceLine, StepLine, split_issue,
};

/// `unix ms` as `2026-12-07 03:12:41 UTC`.
fn when(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// The page of a run: `run` as the journal recorded it (none for a dry run), `figures` as
/// the run reported them (or as the journal kept them; none for a run that did not record
/// them: the steps then show the journal's counts now).
pub fn run_page(
    journal: Option<&Journal>,
    run: Option<&RunRecord>,
    figures: Option<&Figures>,
) -> Result<Page, JournalError> {
    let dry_run = figures.is_some_and(|f| f.dry_run);
    let mut page = Page::new(
        if dry_run { Kind::DryRun } else { Kind::Run },
        match run {
            Some(r) => format!("b24import run {} of job {}", r.id.0, r.job),
            None if dry_run => "b24import dry run".to_string(),
            None => "b24import run".to_string(),
        },
    );
    if let Some(r) = run {
        page.facts.push(("started".into(), when(r.started_at)));
        if let Some(end) = r.finished_at {
            page.facts.push(("finished".into(), when(end)));
        }
        page.facts.push((
            "outcome".into(),
            r.outcome.clone().unwrap_or_else(|| "not finished (running, or killed)".into()),
        ));
    }
    if let Some(j) = journal {
        page.facts.push(("journal".into(), j.path().display().to_string()));
    }
    if dry_run {
        page.facts.push(("dry run".into(), "nothing was written to the portal or the journal".into()));
    }
    match figures {
        Some(f) => steps_from_figures(&mut page, f),
        None => {
            if let Some(j) = journal {
                steps_from_journal(&mut page, j)?;
            }
        }
    }
    if let Some(f) = figures {
        figure_lines(&mut page, f);
    }
    let settings = figures.and_then(|f| f.settings.clone());
    series(&mut page, journal, run, figures, settings.as_ref())?;
    if dry_run && journal.is_none() {
        page.reasons_note = Some(
            "A dry run keeps no rows: the invalid rows are counted above; validate --report FILE.html groups \
             them by reason with their first rows."
                .into(),
        );
    }
    if let Some(j) = journal {
        page.reasons_note = Some(
            "The journal's rejected rows as they are now (a later run may have fixed some). The journal keeps \
             no row data: the value is shown where the error names it; b24import rejects writes the rows \
             with all their columns."
                .into(),
        );
        for step in j.steps()? {
            let mut reasons = Reasons::new(&step.name);
            j.each_rejected(step.id, |r| {
                let (column, value, message) = split_issue(&r.text);
                let key = (!keys::is_by_line(&r.key)).then(|| keys::shown(&r.key));
                reasons.add(&r.code, &message, || ReasonRow {
                    row: r.row_ref.clone(),
                    key,
                    column,
                    value,
                    // The row's further problems, where the text names more than the group's.
                    message: r.text.split_once("; ").map(|(_, more)| redact_text(more)),
                });
            })?;
            if reasons.total() > 0 {
                page.reasons.push(reasons);
            }
        }
        sources(&mut page, j)?;
        rerun(&mut page, j, run)?;
    }
    settings_lines(&mut page, run, figures, settings.as_ref());
    Ok(page)
}

fn steps_from_figures(page: &mut Page, f: &Figures) {
    for s in &f.steps {
        let outcomes = if f.dry_run {
            vec![
                (Outcome::WouldSend, s.would_send),
                (Outcome::Invalid, s.rejected),
                (Outcome::Skipped, s.skipped),
            ]
        } else {
            vec![
                (Outcome::Created, s.created),
                (Outcome::Updated, s.updated),
                (Outcome::Existing, s.existing),
                (Outcome::Rejected, s.rejected),
                (Outcome::Unknown, s.unknown),
                (Outcome::Skipped, s.skipped),
                (Outcome::Pending, s.pending),
            ]
        };
        page.steps.push(StepLine {
            name: s.step.clone(),
            entity: s.entity.clone(),
            read: s.rows_read,
            outcomes,
        });
        for n in &s.notes {
            page.notes.push(Note { step: s.step.clone(), text: redact_text(n) });
        }
    }
}

/// A run that recorded no figures (older journal, killed run): the journal's counts now.
fn steps_from_journal(page: &mut Page, j: &Journal) -> Result<(), JournalError> {
    for s in j.steps()? {
        let c = j.counts(s.id)?;
        page.steps.push(StepLine {
            name: s.name,
            entity: s.entity,
            read: c.total(),
            outcomes: vec![
                (Outcome::Created, c.created),
                (Outcome::Updated, c.updated),
                (Outcome::Existing, 0),
                (Outcome::Rejected, c.rejected),
                (Outcome::Unknown, c.unknown + c.sent),
                (Outcome::Skipped, 0),
                (Outcome::Pending, c.pending),
            ],
        });
    }
    page.figures.push(
        "This run recorded no figures of its own (a journal older than this version, or a run that was killed): \
         the numbers are the journal's rows as they are now; \"updated\" counts every row matched to an \
         existing item."
            .into(),
    );
    Ok(())
}

fn figure_lines(page: &mut Page, f: &Figures) {
    page.figures.push(format!(
        "{} requests, {} limit refusals ({} QUERY_LIMIT_EXCEEDED, {} OPERATION_TIME_LIMIT), waited {:.1}s on limits",
        f.requests,
        f.query_limit_refusals + f.operating_refusals,
        f.query_limit_refusals,
        f.operating_refusals,
        f.limit_wait_secs
    ));
    page.figures.push(format!("elapsed {:.1}s, {:.1} items/s", f.elapsed_secs, f.items_per_sec));
    let wall = if f.binding_wall == "operating" { "the operating budget" } else { "the rate limit" };
    page.figures.push(format!(
        "ideal under the rate limit {:.1}s, under the operating budget {:.1}s: {wall} binds, {:.0}% of its ideal; \
         at most {} request(s) in flight",
        f.rate_ideal_secs,
        f.operating_ideal_secs,
        f.ratio_to_ideal * 100.0,
        f.peak_in_flight
    ));
    if let Some(s) = &f.stopped {
        page.figures.push(format!("stopped: {}", redact_text(s)));
    }
    if f.interrupted {
        page.figures.push("interrupted (Ctrl-C or SIGTERM): run again to continue".into());
    }
}

fn series(
    page: &mut Page,
    journal: Option<&Journal>,
    run: Option<&RunRecord>,
    figures: Option<&Figures>,
    settings: Option<&Settings>,
) -> Result<(), JournalError> {
    let samples = match (journal, run) {
        (Some(j), Some(r)) => j.samples(r.id)?,
        _ => Vec::new(),
    };
    if samples.len() < 2 {
        page.no_series = Some(if figures.is_some_and(|f| f.dry_run) {
            "A dry run records no figures over time.".into()
        } else {
            "No figures over time were recorded for this run (stopped before it began, killed, or written by an \
             older version)."
                .into()
        });
        return Ok(());
    }
    page.series = Some(Series {
        samples,
        budget_secs: settings.map_or(0.0, |s| s.operating_budget_secs),
        window_secs: settings.map_or(0.0, |s| s.operating_window_secs),
        ideal_secs: figures.map_or(0.0, Figures::binding_ideal_secs),
        binding_wall: figures.map_or_else(|| "rate".into(), |f| f.binding_wall.clone()),
        elapsed_secs: figures.map_or(0.0, |f| f.elapsed_secs),
    });
    Ok(())
}

fn sources(page: &mut Page, j: &Journal) -> Result<(), JournalError> {
    for s in j.step_sources()? {
        page.sources.push(SourceLine {
            step: s.step,
            mapping: s.mapping,
            path: s.path.unwrap_or_else(|| "not recorded".into()),
            sha256: s.sha256,
            size: s.size,
        });
    }
    Ok(())
}

/// What running the same command again would do, from the journal's rows now.
fn rerun(page: &mut Page, j: &Journal, run: Option<&RunRecord>) -> Result<(), JournalError> {
    let (mut done, mut rejected, mut unknown, mut pending) = (0, 0, 0, 0);
    for s in j.steps()? {
        let c = j.counts(s.id)?;
        done += c.done;
        rejected += c.rejected;
        unknown += c.unknown + c.sent;
        pending += c.pending;
    }
    if let Some(r) = run {
        page.rerun.push(format!(
            "The same command again (b24import run {} with this journal) continues the job:",
            redact_text(&r.args)
        ));
    }
    page.rerun.push(format!(
        "{done} row(s) done are not sent again (a row changed in the source is updated where mode = \"upsert\")"
    ));
    page.rerun.push(format!(
        "{rejected} rejected row(s) stay rejected while unchanged; fixed in the source, they are sent again"
    ));
    page.rerun.push(format!(
        "{unknown} row(s) whose outcome is unknown are looked up in the portal by their key before anything is resent"
    ));
    page.rerun
        .push(format!("{pending} pending row(s) and the source's rows not yet in the journal are sent"));
    Ok(())
}

fn settings_lines(page: &mut Page, run: Option<&RunRecord>, figures: Option<&Figures>, s: Option<&Settings>) {
    if let Some(r) = run {
        page.settings.push(("command line".into(), redact_text(&r.args)));
    }
    if let Some(s) = s {
        // The transport keeps the plan's rate, not its name: a rate that is a plan's own is
        // named by it (`transport::Plan::rate`), any other came from --rate/--burst.
        let plan = match (s.rate_per_sec, s.burst) {
            (r, 50) if (r - 2.0).abs() < 1e-9 => "standard",
            (r, 250) if (r - 5.0).abs() < 1e-9 => "enterprise",
            _ => "custom (--rate/--burst)",
        };
        page.settings.push(("plan".into(), plan.into()));
        page.settings.push(("rate".into(), format!("{} requests/s, burst {}", s.rate_per_sec, s.burst)));
        page.settings.push(("batch size".into(), format!("{} commands per batch", s.batch_size)));
        let peak = figures.map_or(0, |f| f.peak_in_flight);
        page.settings
            .push(("requests in flight".into(), format!("at most {} (peak {peak})", s.max_in_flight)));
        page.settings.push((
            "operating budget".into(),
            format!("{:.0}s per {:.0}s window, per method", s.operating_budget_secs, s.operating_window_secs),
        ));
    } else if figures.is_some() || run.is_some() {
        page.settings.push(("limits".into(), "not recorded for this run".into()));
    }
    page.settings.push((
        "credentials".into(),
        "never written to this page or the journal (webhook codes and tokens are masked)".into(),
    ));
}

/// What `validate` found for one step, for its page.
#[derive(Debug, Clone, Default)]
pub struct ValidationStep {
    pub name: String,
    pub entity: String,
    pub mapping: String,
    pub source: String,
    pub read: u64,
    pub valid: u64,
    pub invalid: u64,
    pub reasons: Reasons,
    /// Notes, `--online` gaps and a reading that stopped early.
    pub notes: Vec<String>,
}

/// The page of a validation: per step, per reason, the notes; `online`: whether the portal
/// was read too.
pub fn validation_page(steps: Vec<ValidationStep>, online: bool) -> Page {
    let mut page = Page::new(Kind::Validation, "b24import validation");
    page.facts.push(("written".into(), when(chrono::Utc::now().timestamp_millis())));
    page.facts.push((
        "checked".into(),
        if online {
            "offline and against the portal (--online, read only)"
        } else {
            "offline (no portal read)"
        }
        .into(),
    ));
    let (mut valid, mut invalid) = (0, 0);
    for s in steps {
        valid += s.valid;
        invalid += s.invalid;
        page.steps.push(StepLine {
            name: s.name.clone(),
            entity: s.entity.clone(),
            read: s.read,
            outcomes: vec![(Outcome::Valid, s.valid), (Outcome::Invalid, s.invalid)],
        });
        for n in &s.notes {
            page.notes.push(Note { step: s.name.clone(), text: redact_text(n) });
        }
        let fingerprint = crate::journal::Fingerprint::of_file(std::path::Path::new(&s.source)).ok();
        page.sources.push(SourceLine {
            step: s.name.clone(),
            mapping: s.mapping.clone(),
            path: s.source.clone(),
            sha256: fingerprint.as_ref().map(|f| f.sha256.clone()),
            size: fingerprint.map(|f| f.size),
        });
        if s.reasons.total() > 0 {
            page.reasons.push(s.reasons);
        }
    }
    page.settings
        .push(("portal".into(), if online { "read (never written)" } else { "not contacted" }.into()));
    page.rerun
        .push(format!("{valid} valid row(s) would be sent; {invalid} invalid row(s) would be rejected"));
    page.rerun.push(
        "b24import run with the same mappings imports them; fix the invalid rows first to import every row"
            .into(),
    );
    page
}
