//! Progress on stderr: an indicatif bar per step when stderr is a terminal, otherwise a plain
//! log line every few seconds (cron jobs read logs, not bars).
//!
//! Owns: drawing. It is handed a [`Snapshot`] of the figures to show and knows nothing of the
//! run, its reports or the transport; it must not decide or record anything.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the plain log line is printed.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// The figures one progress line shows: a step's row counts and the transport's at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub rows_read: u64,
    pub created: u64,
    pub updated: u64,
    pub existing: u64,
    /// Rejected by this run or, unchanged, by an earlier one.
    pub rejected: u64,
    pub skipped: u64,
    /// HTTP requests sent so far.
    pub requests: u64,
    /// Refusals by the portal's limits (query and operating).
    pub limit_refusals: u64,
    pub limit_wait: Duration,
    /// Current request rate (requests/s).
    pub rate: f64,
    /// Requests on the wire now, and how many may be.
    pub in_flight: usize,
    pub in_flight_limit: usize,
    /// Seconds of operating budget left per method (methods seen so far).
    pub operating_left: Vec<(String, f64)>,
}

pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// `bars`: draw bars (stderr is a terminal); otherwise log lines.
    pub fn new(bars: bool) -> Progress {
        Progress { multi: bars.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())) }
    }

    /// A bar (or log) for one step whose source is `size` bytes.
    pub fn step(&self, name: &str, size: u64) -> StepBar {
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(size));
            bar.set_style(
                ProgressStyle::with_template("{prefix:>12} [{bar:30}] {percent:>3}% {msg} ({eta})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(name.to_string());
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        StepBar { name: name.to_string(), bar, started: Instant::now(), last_log: Mutex::new(Instant::now()) }
    }

    pub fn finish(&self) {
        if let Some(m) = &self.multi {
            let _ = m.clear();
        }
    }
}

/// ` | budget left: crm.item.add 431s, batch 431s` (nothing before any method was measured).
fn budget_left(left: &[(String, f64)]) -> String {
    if left.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = left.iter().map(|(m, s)| format!("{m} {s:.0}s")).collect();
    format!(" | budget left: {}", parts.join(", "))
}

pub struct StepBar {
    name: String,
    bar: Option<ProgressBar>,
    started: Instant,
    last_log: Mutex<Instant>,
}

impl StepBar {
    fn line(&self, r: &Snapshot) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let mut line = format!(
            "{} read, {} created, {} updated, {} existing, {} rejected, {} skipped | {:.0} rows/s | {} requests, {} limit refusals, waited {:.1}s, rate {:.1}/s | {}/{} in flight",
            r.rows_read,
            r.created,
            r.updated,
            r.existing,
            r.rejected,
            r.skipped,
            r.rows_read as f64 / secs,
            r.requests,
            r.limit_refusals,
            r.limit_wait.as_secs_f64(),
            r.rate,
            r.in_flight,
            r.in_flight_limit,
        );
        line.push_str(&budget_left(&r.operating_left));
        line
    }

    /// After a row: `bytes` of the source read, `rows_read` rows; `snapshot` gives the figures
    /// to show (asked for only when a line is drawn).
    pub fn update(&self, bytes: u64, rows_read: u64, snapshot: impl FnOnce() -> Snapshot) {
        match &self.bar {
            Some(bar) => {
                if rows_read.is_multiple_of(64) {
                    bar.set_position(bytes);
                    bar.set_message(self.line(&snapshot()));
                }
            }
            None => {
                let mut last = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= LOG_EVERY {
                    *last = Instant::now();
                    eprintln!("{}: {}", self.name, self.line(&snapshot()));
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_requests_in_flight_and_the_budget_left_per_method() {
        let bar = StepBar {
            name: "people".into(),
            bar: None,
            started: Instant::now(),
            last_log: Mutex::new(Instant::now()),
        };
        let snap = Snapshot {
            in_flight: 3,
            in_flight_limit: 4,
            operating_left: vec![("batch".into(), 431.2), ("crm.item.add".into(), 402.0)],
            ..Snapshot::default()
        };
        let line = bar.line(&snap);
        assert!(line.contains("| 3/4 in flight | budget left: batch 431s, crm.item.add 402s"), "{line}");
        let line = bar.line(&Snapshot::default());
        assert!(line.ends_with("0/0 in flight"), "{line}");
    }
}
