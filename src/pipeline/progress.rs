//! Progress on stderr: an indicatif bar per step when stderr is a terminal, otherwise a plain
//! log line every few seconds (cron jobs read logs, not bars).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::run::StepReport;
use crate::transport::Transport;

/// How often the plain log line is printed.
const LOG_EVERY: Duration = Duration::from_secs(5);

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

pub struct StepBar {
    name: String,
    bar: Option<ProgressBar>,
    started: Instant,
    last_log: Mutex<Instant>,
}

impl StepBar {
    fn line(&self, r: &StepReport, transport: &Transport) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let stats = transport.stats();
        format!(
            "{} read, {} created, {} updated, {} existing, {} rejected, {} skipped | {:.0} rows/s | {} requests, {} limit refusals, waited {:.1}s, rate {:.1}/s",
            r.rows_read,
            r.created,
            r.updated,
            r.existing,
            r.rejected_total(),
            r.skipped,
            r.rows_read as f64 / secs,
            stats.requests,
            stats.query_limit_refusals + stats.operating_refusals,
            stats.limit_wait.as_secs_f64(),
            stats.rate,
        )
    }

    pub fn update(&self, bytes: u64, r: &StepReport, transport: &Transport) {
        match &self.bar {
            Some(bar) => {
                if r.rows_read.is_multiple_of(64) {
                    bar.set_position(bytes);
                    bar.set_message(self.line(r, transport));
                }
            }
            None => {
                let mut last = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= LOG_EVERY {
                    *last = Instant::now();
                    eprintln!("{}: {}", self.name, self.line(r, transport));
                }
            }
        }
    }

    pub fn finish(&self, _r: &StepReport) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
