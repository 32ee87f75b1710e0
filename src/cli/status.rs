//! `b24import status`: per step, how many rows are pending, in flight (`sent`), done, rejected
//! or unknown, and an ETA over the whole source (rows not yet in the journal count as to do).
//!
//! Reads the journal, and a step's source only when no run has read it to the end yet (to count
//! its rows); writes nothing.
//!
//! `status --portal URL` (issue 23) shows instead the jobs using that portal now, from its shared
//! pace file: pid, job, journal, recent rate. The portal is named by its `host[:port]` only; a
//! webhook's code or any credential in the URL is never shown.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;

use super::exit;
use super::journal_args::JournalArgs;
use crate::journal::Journal;

/// Options of `b24import status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub journal: JournalArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Show the jobs of this host using this portal now (its URL, a webhook URL, or host[:port]),
    /// instead of a journal.
    #[arg(long, value_name = "URL")]
    pub portal: Option<String>,
}

#[derive(Debug, Serialize)]
struct StepStatus {
    step: String,
    entity: String,
    /// Rows of the source (recorded when a run read it to the end, else counted now), or rows
    /// in the journal when the source cannot be read.
    total: u64,
    /// Whether `total` is the source's row count (else only a lower bound).
    total_known: bool,
    /// Rows not finished: pending, in flight, unknown, and rows of the source not yet in the journal.
    to_do: u64,
    pending: u64,
    /// In flight: in a request whose answer is not recorded yet (or a killed run's last batch).
    sent: u64,
    done: u64,
    rejected: u64,
    unknown: u64,
    created: u64,
    updated: u64,
    /// Created, then deleted by `undo` (a later run creates them again; issue 21).
    undone: u64,
    /// A delete of `undo` sent whose outcome is not known yet (the next `undo` checks them).
    undoing: u64,
    last_error: Option<String>,
}

#[derive(Debug, Serialize)]
struct Status {
    journal: String,
    steps: Vec<StepStatus>,
    last_run: Option<LastRun>,
    /// Seconds the last run took (or has taken so far).
    elapsed_secs: Option<f64>,
    /// Rows finished per second in the last run.
    rows_per_sec: Option<f64>,
    /// Rows still to do (every step) divided by the last run's rows per second.
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
    if let Some(portal) = &args.portal {
        return portal_jobs(portal, args.json);
    }
    let (path, journal) = match args.journal.open_existing() {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let status = collect(&journal, &path).context("cannot read the journal")?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print_text(&status);
    }
    Ok(exit::OK)
}

fn collect(journal: &Journal, path: &Path) -> Result<Status, crate::journal::JournalError> {
    let last = journal.runs()?.into_iter().max_by_key(|r| r.started_at);
    let now = chrono::Utc::now().timestamp_millis();
    let elapsed_secs =
        last.as_ref().map(|r| (r.finished_at.unwrap_or(now) - r.started_at).max(0) as f64 / 1000.0);
    let mut steps = Vec::new();
    let mut finished_last_run = 0;
    for s in journal.steps()? {
        let c = journal.counts(s.id)?;
        if let Some(r) = &last {
            finished_last_run += journal.finished_since(s.id, r.started_at)?;
        }
        let recorded = journal
            .get_meta(&crate::journal::keys::source_rows_meta(&s.name))?
            .and_then(|v| v.parse::<u64>().ok());
        // No run read the source to the end yet: count its rows now, so that the ETA covers them.
        let source_rows = recorded.or_else(|| count_source_rows(&s.mapping_path, path));
        let last_error = journal
            .last_error(s.id)?
            .map(|(code, text)| if code.is_empty() { text } else { format!("{code}: {text}") });
        let total = source_rows.unwrap_or(0).max(c.total());
        steps.push(StepStatus {
            step: s.name,
            entity: s.entity,
            total,
            total_known: source_rows.is_some(),
            to_do: total.saturating_sub(c.done + c.rejected),
            pending: c.pending,
            sent: c.sent,
            done: c.done,
            rejected: c.rejected,
            unknown: c.unknown,
            created: c.created,
            updated: c.updated,
            undone: c.undone,
            undoing: c.undoing,
            last_error,
        });
    }
    let left: u64 = steps.iter().map(|s| s.to_do).sum();
    let rows_per_sec = match elapsed_secs {
        Some(e) if e > 0.0 && finished_last_run > 0 => Some(finished_last_run as f64 / e),
        _ => None,
    };
    let eta_secs = match rows_per_sec {
        _ if left == 0 => Some(0.0),
        Some(rate) => Some(left as f64 / rate),
        None => None,
    };
    Ok(Status {
        journal: path.display().to_string(),
        steps,
        last_run: last.map(|r| LastRun {
            // Masked again at display: journals written by older versions kept `user:pass@`, `?token=`.
            args: r.args.clone(), // masked by the journal as it reads them
            started_at: r.started_at,
            finished_at: r.finished_at,
            outcome: r.outcome,
        }),
        elapsed_secs,
        rows_per_sec,
        eta_secs,
    })
}

/// The rows of a step's source, read through its mapping (no request, nothing written);
/// `None` when the mapping or the source cannot be read.
fn count_source_rows(stored_mapping: &str, journal: &Path) -> Option<u64> {
    let mapping = super::rejects::locate_mapping(stored_mapping, journal).ok()?;
    let step = crate::pipeline::Step::open(crate::pipeline::load_mapping(&mapping).ok()?).ok()?;
    let mut n = 0;
    for record in step.source {
        record.ok()?;
        n += 1;
    }
    Some(n)
}

fn print_text(s: &Status) {
    outln!("journal {}", s.journal);
    outln!(
        "{:<14} {:<10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "step",
        "entity",
        "total",
        "to do",
        "pending",
        "in flight",
        "done",
        "rejected",
        "unknown",
        "created",
        "updated",
        "undone"
    );
    for st in &s.steps {
        let total = if st.total_known { st.total.to_string() } else { format!(">={}", st.total) };
        outln!(
            "{:<14} {:<10} {:>8} {:>8} {:>8} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}",
            st.step,
            st.entity,
            total,
            st.to_do,
            st.pending,
            st.sent,
            st.done,
            st.rejected,
            st.unknown,
            st.created,
            st.updated,
            st.undone
        );
        if st.undoing > 0 {
            outln!(
                "{:<14} {} row(s) with a delete in flight (an undo was stopped): run `b24import undo` again",
                "",
                st.undoing
            );
        }
        if let Some(e) = &st.last_error {
            outln!("{:<14} last error: {e}", "");
        }
    }
    if let Some(r) = &s.last_run {
        outln!("last run: {} ({})", r.outcome.as_deref().unwrap_or("running or killed"), r.args);
    }
    let left: u64 = s.steps.iter().map(|st| st.to_do).sum();
    let mut line = s.elapsed_secs.map(|e| format!("elapsed {}", human(e))).unwrap_or_default();
    let eta = match (s.eta_secs, s.rows_per_sec) {
        (Some(eta), Some(rate)) if eta > 0.0 => {
            format!("{left} row(s) to do, ETA {} at {rate:.1} rows/s (the last run's pace)", human(eta))
        }
        (Some(_), _) if left == 0 => "nothing left to do".to_string(),
        _ => format!("{left} row(s) to do, ETA unknown (no row finished in the last run yet)"),
    };
    if !line.is_empty() {
        line.push_str(", ");
    }
    line.push_str(&eta);
    if s.steps.iter().any(|st| !st.total_known) {
        line.push_str("; a source could not be read, so its unread rows are not counted");
    }
    outln!("{line}");
}

/// One job using a portal, as `status --portal` shows it.
#[derive(Debug, Serialize)]
struct PortalJob {
    pid: u32,
    host: String,
    job: String,
    journal: String,
    /// Requests per second over the last 15 s.
    rate: f64,
    requests: u64,
    running_secs: f64,
    /// Operating seconds held per method now.
    operating: std::collections::BTreeMap<String, f64>,
}

#[derive(Debug, Serialize)]
struct PortalStatus {
    portal: String,
    pace_file: String,
    jobs: Vec<PortalJob>,
}

/// `host[:port]` of `text`: a URL (credentials and path dropped) or a bare `host[:port]`.
fn portal_address(text: &str) -> Option<String> {
    let text = text.trim();
    let url = reqwest::Url::parse(text).ok().filter(|u| u.host_str().is_some());
    let url = url.or_else(|| reqwest::Url::parse(&format!("https://{text}")).ok())?;
    url.host_str().filter(|h| !h.is_empty())?;
    Some(crate::transport::client::address(&url))
}

fn portal_jobs(portal: &str, json: bool) -> anyhow::Result<u8> {
    use crate::transport::shared_pace;
    let Some(address) = portal_address(portal) else {
        eprintln!("error: --portal takes the portal's URL or host[:port]");
        return Ok(exit::USAGE);
    };
    let path = shared_pace::pace_path(&address);
    let now = shared_pace::unix_now();
    let file = shared_pace::read(&path).unwrap_or_default();
    let jobs: Vec<PortalJob> = file
        .jobs
        .iter()
        .map(|j| PortalJob {
            pid: j.pid,
            host: j.host.clone(),
            job: j.job.clone(),
            journal: j.journal.clone(),
            rate: j.recent_rate(now),
            requests: j.requests,
            running_secs: (now - j.started).max(0.0),
            operating: j.operating.clone(),
        })
        .collect();
    let status = PortalStatus { portal: address, pace_file: path.display().to_string(), jobs };
    if json {
        outln!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(exit::OK);
    }
    outln!("portal {}: {} job(s) using it now ({})", status.portal, status.jobs.len(), status.pace_file);
    if !status.jobs.is_empty() {
        outln!("{:>8} {:<14} {:>9} {:>9} {:>9}  journal", "pid", "job", "rate", "requests", "running");
    }
    for j in &status.jobs {
        outln!(
            "{:>8} {:<14} {:>7.2}/s {:>9} {:>9}  {}",
            j.pid,
            j.job,
            j.rate,
            j.requests,
            human(j.running_secs),
            j.journal
        );
    }
    Ok(exit::OK)
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

#[cfg(test)]
mod tests {
    use super::portal_address;

    #[test]
    fn a_portal_is_named_by_host_and_port_only() {
        assert_eq!(
            portal_address("https://ex.bitrix24.ru/rest/1/s3cr3t/").as_deref(),
            Some("ex.bitrix24.ru")
        );
        assert_eq!(portal_address("http://u:pw@127.0.0.1:8080/rest/").as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(portal_address("ex.bitrix24.ru").as_deref(), Some("ex.bitrix24.ru"));
        assert_eq!(portal_address("ex.bitrix24.ru:8443").as_deref(), Some("ex.bitrix24.ru:8443"));
        assert_eq!(portal_address(""), None);
    }
}
