//! A run's final figures and settings as the journal keeps them (`run_figures`, JSON), so that
//! `b24import report` shows an earlier run as `run --report` showed it; and the sampler that
//! records the run's figures over time.
//!
//! Owns: [`Figures`] (its JSON is this module's own, read back only by this module), [`Sampler`]
//! and [`store_run`]. Must not hold secrets: counts, durations and limits only (the command line
//! is the journal's masked `runs.args`, never copied here).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::journal::{Journal, JournalError, RunId, Sample};
use crate::pipeline::{PlanRate, RunReport};
use crate::transport::Transport;
use crate::transport::client::redact_text;

/// The limits and sizes the run was made with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub rate_per_sec: f64,
    pub burst: u32,
    pub batch_size: usize,
    pub max_in_flight: usize,
    pub operating_budget_secs: f64,
    pub operating_window_secs: f64,
}

/// One step's figures in this run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepFigures {
    pub step: String,
    pub entity: String,
    pub rows_read: u64,
    pub created: u64,
    pub updated: u64,
    pub existing: u64,
    /// Rejected by this run or, unchanged, by an earlier one.
    pub rejected: u64,
    pub unknown: u64,
    pub skipped: u64,
    pub pending: u64,
    pub would_send: u64,
    pub notes: Vec<String>,
}

/// A run's final figures (the report's, as in `--report`'s JSON) and its settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub steps: Vec<StepFigures>,
    pub dry_run: bool,
    pub requests: u64,
    pub query_limit_refusals: u64,
    pub operating_refusals: u64,
    pub limit_wait_secs: f64,
    pub elapsed_secs: f64,
    pub items_per_sec: f64,
    pub rate_ideal_secs: f64,
    pub operating_ideal_secs: f64,
    pub binding_wall: String,
    pub ratio_to_ideal: f64,
    pub peak_in_flight: usize,
    pub stopped: Option<String>,
    pub interrupted: bool,
    /// `None` for a run whose settings were not at hand (a report made from a summary only).
    pub settings: Option<Settings>,
}

impl Figures {
    /// The figures of `r`, with the run's `settings` when known.
    pub fn of(r: &RunReport, settings: Option<Settings>) -> Figures {
        Figures {
            steps: r
                .steps
                .iter()
                .map(|s| {
                    // Masked before they are kept: the journal holds no credential (a note or an
                    // error may quote a URL).
                    let mut notes: Vec<String> = s.notes.iter().map(|n| redact_text(n)).collect();
                    if let Some(d) = s.duplicates.summary() {
                        notes.push(redact_text(&d));
                    }
                    if let Some(e) = &s.source_error {
                        notes.push(redact_text(&format!("the source could not be read to the end: {e}")));
                    }
                    StepFigures {
                        step: s.step.clone(),
                        entity: s.entity.clone(),
                        rows_read: s.rows_read,
                        created: s.created,
                        updated: s.updated,
                        existing: s.existing,
                        rejected: s.rejected_total(),
                        unknown: s.unknown,
                        skipped: s.skipped,
                        pending: s.pending,
                        would_send: s.would_send,
                        notes,
                    }
                })
                .collect(),
            dry_run: r.dry_run,
            requests: r.requests,
            query_limit_refusals: r.query_limit_refusals,
            operating_refusals: r.operating_refusals,
            limit_wait_secs: r.limit_wait_secs,
            elapsed_secs: r.elapsed_secs,
            items_per_sec: r.items_per_sec,
            rate_ideal_secs: r.rate_ideal_secs,
            operating_ideal_secs: r.operating_ideal_secs,
            binding_wall: r.binding_wall.to_string(),
            ratio_to_ideal: r.ratio_to_ideal,
            peak_in_flight: r.peak_in_flight,
            stopped: r.stopped.as_ref().map(|s| redact_text(&s.to_string())),
            interrupted: r.interrupted,
            settings,
        }
    }

    /// The ideal of the wall that binds.
    pub fn binding_ideal_secs(&self) -> f64 {
        self.rate_ideal_secs.max(self.operating_ideal_secs)
    }
}

/// Samples the transport's figures on a thread of its own while the run goes on: ten times a
/// second for the first [`FINE_FOR`] (so a run of a few seconds still draws a line), then once
/// a second; [`Sampler::stop`] takes a last sample and hands the series back.
pub struct Sampler {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<Vec<Sample>>,
    /// Unix ms of the first sample (the series' zero).
    started_ms: i64,
}

/// How often the sampler looks once the run is past [`FINE_FOR`].
const EVERY: Duration = Duration::from_secs(1);
/// How often it looks at first, and for how long.
const FINE: Duration = Duration::from_millis(100);
const FINE_FOR: Duration = Duration::from_secs(10);
/// The items of the series are counted in ticks of this many ms (the fine sampling's).
const TICK_MS: i64 = 100;

impl Sampler {
    /// Starts sampling `transport` (requests, in flight, refusals, operating time in use).
    pub fn start(transport: &Transport) -> Sampler {
        let transport = transport.clone();
        let (stop, stopped) = mpsc::channel::<()>();
        let started_ms = chrono::Utc::now().timestamp_millis();
        let thread = std::thread::spawn(move || {
            let started = Instant::now();
            let mut samples = Vec::new();
            loop {
                samples.push(sample(&transport, started));
                let every = if started.elapsed() < FINE_FOR { FINE } else { EVERY };
                match stopped.recv_timeout(every) {
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    _ => break,
                }
            }
            samples.push(sample(&transport, started));
            samples
        });
        Sampler { stop, thread, started_ms }
    }

    /// Stops sampling: the series and the unix ms it starts at.
    pub fn stop(self) -> (Vec<Sample>, i64) {
        let _ = self.stop.send(());
        (self.thread.join().unwrap_or_default(), self.started_ms)
    }
}

fn sample(transport: &Transport, started: Instant) -> Sample {
    let stats = transport.stats();
    let budget = transport.operating_config().budget.as_secs_f64();
    let least_left = transport.operating_left().iter().map(|(_, left)| *left).fold(budget, f64::min);
    Sample {
        at_ms: started.elapsed().as_millis() as i64,
        items: 0,
        requests: stats.requests,
        in_flight: stats.in_flight as u64,
        refusals: stats.query_limit_refusals + stats.operating_refusals,
        operating_used: (budget - least_left).max(0.0),
    }
}

/// The settings of a run on `transport` at `rate` with batches of `batch_size`.
pub fn settings_of(transport: &Transport, rate: PlanRate, batch_size: usize) -> Settings {
    let operating = transport.operating_config();
    Settings {
        rate_per_sec: rate.per_second,
        burst: rate.burst,
        batch_size,
        max_in_flight: transport.max_in_flight(),
        operating_budget_secs: operating.budget.as_secs_f64(),
        operating_window_secs: operating.window.as_secs_f64(),
    }
}

/// Stores what the report needs of the run `run`: the sampled series, its items filled in from
/// the rows the journal finished in each tick since the series started, and the final figures.
pub fn store_run(
    journal: &mut Journal,
    run: RunId,
    report: &RunReport,
    series: (Vec<Sample>, i64),
    settings: Settings,
) -> Result<(), JournalError> {
    let (mut samples, started_ms) = series;
    let per_tick = journal.finished_per_tick(started_ms, TICK_MS)?;
    let mut finished = per_tick.iter().peekable();
    let mut items = 0;
    for s in &mut samples {
        while let Some((_, n)) = finished.next_if(|(tick, _)| tick * TICK_MS <= s.at_ms) {
            items += n;
        }
        s.items = items;
    }
    if let Some(last) = samples.last_mut() {
        last.items += finished.map(|(_, n)| n).sum::<u64>();
    }
    journal.record_samples(run, &samples)?;
    let json = serde_json::to_string(&Figures::of(report, Some(settings))).unwrap_or_default();
    journal.record_run_figures(run, &json)
}
