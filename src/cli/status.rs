//! `b24import status`: per step, how many rows are pending, done, rejected or unknown.

use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use super::exit;
use super::run::JournalArgs;
use crate::journal::Journal;

/// Options of `b24import status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub journal: JournalArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct StepStatus {
    step: String,
    entity: String,
    /// Rows of the source (when a run read it to the end), else rows in the journal.
    total: u64,
    pending: u64,
    sent: u64,
    done: u64,
    rejected: u64,
    unknown: u64,
    created: u64,
    updated: u64,
    last_error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Status {
    journal: String,
    steps: Vec<StepStatus>,
    last_run: Option<LastRun>,
    /// Seconds the last run took (or has taken so far).
    elapsed_secs: Option<f64>,
    /// Rows still to do divided by the last run's rows per second.
    eta_secs: Option<f64>,
}

#[derive(Debug, Serialize)]
struct LastRun {
    args: String,
    started_at: i64,
    finished_at: Option<i64>,
    outcome: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let (path, journal) = match args.journal.open_existing() {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let status = collect(&journal, &path.display().to_string()).context("cannot read the journal")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_text(&status);
    }
    Ok(exit::OK)
}

fn collect(journal: &Journal, path: &str) -> Result<Status, crate::journal::JournalError> {
    let mut steps = Vec::new();
    for s in journal.steps()? {
        let c = journal.counts(s.id)?;
        let source_rows =
            journal.get_meta(&format!("source_rows:{}", s.name))?.and_then(|v| v.parse::<u64>().ok());
        let last_error = journal
            .last_error(s.id)?
            .map(|(code, text)| if code.is_empty() { text } else { format!("{code}: {text}") });
        steps.push(StepStatus {
            step: s.name,
            entity: s.entity,
            total: source_rows.unwrap_or(0).max(c.total()),
            pending: c.pending,
            sent: c.sent,
            done: c.done,
            rejected: c.rejected,
            unknown: c.unknown,
            created: c.created,
            updated: c.updated,
            last_error,
        });
    }
    let last = journal.runs()?.into_iter().max_by_key(|r| r.started_at);
    let now = chrono::Utc::now().timestamp_millis();
    let elapsed_secs =
        last.as_ref().map(|r| (r.finished_at.unwrap_or(now) - r.started_at).max(0) as f64 / 1000.0);
    let finished: u64 = steps.iter().map(|s| s.done + s.rejected).sum();
    let left: u64 = steps.iter().map(|s| s.total.saturating_sub(s.done + s.rejected)).sum();
    let eta_secs = match elapsed_secs {
        Some(e) if e > 0.0 && finished > 0 && left > 0 => Some(left as f64 / (finished as f64 / e)),
        _ if left == 0 => Some(0.0),
        _ => None,
    };
    Ok(Status {
        journal: path.to_string(),
        steps,
        last_run: last.map(|r| LastRun {
            // Masked again at display: journals written by older versions kept `user:pass@`, `?token=`.
            args: crate::transport::client::redact_text(&r.args),
            started_at: r.started_at,
            finished_at: r.finished_at,
            outcome: r.outcome,
        }),
        elapsed_secs,
        eta_secs,
    })
}

fn print_text(s: &Status) {
    println!("journal {}", s.journal);
    println!(
        "{:<14} {:<10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8}",
        "step", "entity", "total", "pending", "done", "rejected", "unknown", "created", "updated"
    );
    for st in &s.steps {
        println!(
            "{:<14} {:<10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8}",
            st.step,
            st.entity,
            st.total,
            st.pending + st.sent,
            st.done,
            st.rejected,
            st.unknown,
            st.created,
            st.updated
        );
        if let Some(e) = &st.last_error {
            println!("{:<14} last error: {e}", "");
        }
    }
    if let Some(r) = &s.last_run {
        println!("last run: {} ({})", r.outcome.as_deref().unwrap_or("running or killed"), r.args);
    }
    if let Some(e) = s.elapsed_secs {
        print!("elapsed {}", human(e));
    }
    match s.eta_secs {
        Some(eta) if eta > 0.0 => println!(", ETA {}", human(eta)),
        Some(_) => println!(", nothing left to do"),
        None => println!(),
    }
}

fn human(secs: f64) -> String {
    let d = Duration::from_secs_f64(secs.max(0.0));
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}
