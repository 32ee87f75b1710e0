//! The run's and each step's figures: what `run` prints as its summary and `--report` writes
//! as JSON, why a run stopped early, and the ideal-time arithmetic (how fast the limits allow).
//!
//! Owns: [`StepReport`], [`RunReport`], [`PlanRate`], [`Stopped`]. Plain data and arithmetic:
//! no I/O, no journal, no transport calls (the run hands in the transport's figures). The JSON
//! shape of `--report` is a documented interface: field names and value kinds stay as they are.

use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::journal::RowState;
use crate::transport::{TransportError, TransportStats};

/// One step's figures for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepReport {
    pub step: String,
    pub entity: String,
    pub rows_read: u64,
    /// Created by this run.
    pub created: u64,
    /// Found already in the portal (e.g. a user with that e-mail), recorded as done.
    pub existing: u64,
    /// Rejected by this run: by the mapping (invalid rows) or by the portal.
    pub rejected: u64,
    /// Rejected by an earlier run and unchanged in the source since: not sent again, but still
    /// rejected (they count in the exit code and in [`RunReport::rejected`]).
    pub rejected_earlier: u64,
    /// Done by an earlier run: not sent again.
    pub skipped: u64,
    /// Matched several existing items with `on_ambiguous = "skip"`: not imported, not recorded
    /// (checked again next run); the run exits 1.
    pub skipped_ambiguous: u64,
    /// Left with an unknown outcome (could not be looked up).
    pub unknown: u64,
    /// Left pending (the run stopped early, or the rows wait for their parent).
    pub pending: u64,
    /// Attached records (comments, activities) whose parent row is not done: left `pending`,
    /// tried again on the next run (part of `pending`).
    #[serde(default)]
    pub waiting_for_parent: u64,
    /// Rows an earlier run left `sent`/`unknown` that were looked up: found / absent.
    pub reconciled_found: u64,
    pub reconciled_absent: u64,
    /// Updated by this run (upsert/update: the source row changed).
    pub updated: u64,
    /// Changed in the source but not updated because the step's mode is `create`.
    pub changed_not_updated: u64,
    /// Rows the journal has done that the source no longer holds (never deleted).
    pub missing: u64,
    /// Rows read but not in the sample (`--sample`, issue 21): not taken by this run.
    pub not_sampled: u64,
    /// Their keys (the first 10,000).
    pub missing_keys: Vec<String>,
    /// Would be sent (dry run only).
    pub would_send: u64,
    /// Duplicate control against the portal's existing items (`on_duplicate`).
    pub duplicates: super::duplicates::DuplicateFigures,
    pub notes: Vec<String>,
    /// The source error that stopped reading this step's rows (the run then exits 2).
    pub source_error: Option<String>,
}

/// Why a run stopped early: a portal refusal that makes going on pointless (credentials,
/// `OVERLOAD_LIMIT`, limits that kept refusing, an unreachable portal). Shown, and written to
/// `--report` as `"stopped": "<message>"`, by the error's own message.
#[derive(Debug, Clone)]
pub struct Stopped(Arc<TransportError>);

impl Stopped {
    /// The transport error that stopped the run.
    pub fn error(&self) -> &TransportError {
        &self.0
    }
}

impl From<TransportError> for Stopped {
    fn from(e: TransportError) -> Self {
        Stopped(Arc::new(e))
    }
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for Stopped {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The whole run's figures (`--report` writes this as JSON).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub steps: Vec<StepReport>,
    pub dry_run: bool,
    pub journal: String,
    pub requests: u64,
    pub query_limit_refusals: u64,
    pub operating_refusals: u64,
    pub limit_wait_secs: f64,
    pub elapsed_secs: f64,
    pub items_per_sec: f64,
    /// The time the rate limit alone allows for the write requests sent:
    /// `(requests not refused - burst) / rate`, at least 0 (the rate ideal; also `rate_ideal_secs`).
    pub ideal_secs: f64,
    /// The ideal of the wall that binds (the larger of the two) / `elapsed_secs`
    /// (1.0 = as fast as the limits allow); below the share of requests not refused when the
    /// portal refused any (a refused run is never at 100 %).
    pub ratio_to_ideal: f64,
    /// The rate ideal (the same figure as `ideal_secs`).
    pub rate_ideal_secs: f64,
    /// The time the operating budget alone allows for the processing time the portal reported:
    /// the first budget at once, each further budget one window later (for the method that
    /// needs the most). 0 when the portal reports no processing time.
    pub operating_ideal_secs: f64,
    /// The wall that binds: `"operating"` when the portal refused on its operating budget, else
    /// `"rate"` when it refused on the rate, else the one with the larger ideal.
    pub binding_wall: &'static str,
    /// The most requests that were in flight at once.
    pub peak_in_flight: usize,
    /// Why the run stopped early (a portal refusal that makes going on pointless).
    pub stopped: Option<Stopped>,
    pub interrupted: bool,
}

impl StepReport {
    /// Rows of the source that end this run rejected: by this run or, unchanged, by an earlier one.
    pub fn rejected_total(&self) -> u64 {
        self.rejected + self.rejected_earlier
    }

    /// A row an earlier run finished, unchanged since: counted as skipped (done) or as still
    /// rejected, never as a success it was not.
    pub(super) fn finished_before(&mut self, state: RowState) {
        if state == RowState::Rejected {
            self.rejected_earlier += 1;
        } else {
            self.skipped += 1;
        }
    }
}

impl RunReport {
    /// Rows still rejected at the end of the run, from this run or an earlier one.
    pub fn rejected(&self) -> u64 {
        self.steps.iter().map(StepReport::rejected_total).sum()
    }
    /// Rows not imported because they matched several existing items (`on_ambiguous = "skip"`).
    pub fn skipped_ambiguous(&self) -> u64 {
        self.steps.iter().map(|s| s.skipped_ambiguous).sum()
    }
    pub fn unfinished(&self) -> u64 {
        self.steps.iter().map(|s| s.unknown + s.pending).sum()
    }

    /// Fills the request, limit and timing figures from the transport's counters after a run
    /// of `elapsed_secs` at the planned `rate`.
    pub(super) fn set_figures(&mut self, stats: &TransportStats, elapsed_secs: f64, rate: PlanRate) {
        let items: u64 = self.steps.iter().map(|s| s.created + s.existing + s.rejected).sum();
        self.requests = stats.requests;
        self.query_limit_refusals = stats.query_limit_refusals;
        self.operating_refusals = stats.operating_refusals;
        self.limit_wait_secs = stats.limit_wait.as_secs_f64();
        self.elapsed_secs = elapsed_secs;
        self.items_per_sec = if elapsed_secs > 0.0 { items as f64 / elapsed_secs } else { 0.0 };
        // A refused request is no part of an ideal schedule: the rate ideal counts the requests
        // the portal did not refuse on the rate (each such refusal is one whole request; an
        // operating refusal may be one command of a batch, so those are not subtracted).
        let needed = stats.requests.saturating_sub(stats.query_limit_refusals);
        self.ideal_secs = rate.ideal_secs(needed);
        self.rate_ideal_secs = self.ideal_secs;
        self.operating_ideal_secs = stats.operating_ideal_secs;
        self.peak_in_flight = stats.peak_in_flight;
        self.binding_wall = binding_wall(stats, self.rate_ideal_secs, self.operating_ideal_secs);
        // The portal refused: its wall was tighter than the ideal knows (another user of the
        // credential, flags above the portal's budget), and the time parked after a refusal is
        // not ideal time; the ratio then never says 100 % (see `ratio_to_ideal`).
        let refused = stats.query_limit_refusals + stats.operating_refusals > 0;
        self.ratio_to_ideal =
            ratio_to_ideal(self.binding_ideal_secs(), elapsed_secs, self.limit_wait_secs, refused);
    }

    /// The ideal of the wall that binds.
    pub fn binding_ideal_secs(&self) -> f64 {
        self.rate_ideal_secs.max(self.operating_ideal_secs)
    }

    /// How the journal records the end of this run.
    pub(super) fn journal_outcome(&self) -> &'static str {
        if self.stopped.is_some() {
            "stopped"
        } else if self.interrupted {
            "interrupted"
        } else if self.rejected() > 0 || self.unfinished() > 0 || self.skipped_ambiguous() > 0 {
            "finished with rejected or unfinished rows"
        } else {
            "ok"
        }
    }
}

/// The wall that bound the run: the one the portal refused on (`OPERATION_TIME_LIMIT` before
/// `QUERY_LIMIT_EXCEEDED`: a refused budget parks far longer); without refusals, the one with the
/// larger ideal.
fn binding_wall(stats: &TransportStats, rate_ideal: f64, operating_ideal: f64) -> &'static str {
    if stats.operating_refusals > 0 {
        "operating"
    } else if stats.query_limit_refusals > 0 || rate_ideal >= operating_ideal {
        "rate"
    } else {
        "operating"
    }
}

/// The highest ratio a run the portal refused can show: a run at its ideal is never refused.
const MAX_REFUSED_RATIO: f64 = 0.99;

/// `ideal / elapsed` (1.0: as fast as the limits allow). When the portal `refused` requests,
/// the model's ideal is not the wall that bound the run (it may be 0: "all within the burst"),
/// so the ideal is taken as at least the time spent outside limit waits, and the ratio stays
/// below [`MAX_REFUSED_RATIO`]: a refused run never shows 100 %.
fn ratio_to_ideal(ideal: f64, elapsed: f64, limit_wait: f64, refused: bool) -> f64 {
    if elapsed <= 0.0 {
        return if refused { MAX_REFUSED_RATIO } else { 1.0 };
    }
    if !refused {
        return if ideal > 0.0 { (ideal / elapsed).min(1.0) } else { 1.0 };
    }
    let working = (elapsed - limit_wait).max(0.0);
    (ideal.max(working) / elapsed).min(MAX_REFUSED_RATIO)
}

/// The limiter's rate and burst, for the ideal-time figure.
#[derive(Debug, Clone, Copy)]
pub struct PlanRate {
    pub per_second: f64,
    pub burst: u32,
}

impl PlanRate {
    /// The seconds the rate limit alone needs for `requests`: the burst is free, the rest go
    /// at `per_second`; never negative.
    pub fn ideal_secs(&self, requests: u64) -> f64 {
        ((requests as f64 - f64::from(self.burst)) / self.per_second.max(1e-9)).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    fn stats(requests: u64) -> TransportStats {
        TransportStats {
            requests,
            query_limit_refusals: 0,
            operating_refusals: 0,
            limit_wait: Duration::ZERO,
            rate: 2.0,
            refreshes: 0,
            in_flight: 0,
            in_flight_limit: 1,
            peak_in_flight: 1,
            operating_ideal_secs: 0.0,
        }
    }

    #[test]
    fn the_burst_is_free_and_the_rest_goes_at_the_planned_rate() {
        let rate = PlanRate { per_second: 2.0, burst: 50 };
        assert_eq!(rate.ideal_secs(10), 0.0);
        assert_eq!(rate.ideal_secs(50), 0.0);
        assert_eq!(rate.ideal_secs(70), 10.0);
    }

    #[test]
    fn a_run_slower_than_the_limits_allow_shows_a_ratio_below_one() {
        let mut r = RunReport::default();
        r.set_figures(&stats(70), 20.0, PlanRate { per_second: 2.0, burst: 50 });
        assert_eq!((r.ideal_secs, r.ratio_to_ideal), (10.0, 0.5));
        r.set_figures(&stats(10), 20.0, PlanRate { per_second: 2.0, burst: 50 });
        assert_eq!(r.ratio_to_ideal, 1.0, "nothing beyond the burst: as fast as allowed");
    }

    #[test]
    fn the_ratio_is_to_the_wall_that_binds() {
        let mut r = RunReport::default();
        let mut s = stats(70); // the rate allows 10 s
        s.operating_ideal_secs = 16.0;
        r.set_figures(&s, 20.0, PlanRate { per_second: 2.0, burst: 50 });
        assert_eq!((r.rate_ideal_secs, r.operating_ideal_secs), (10.0, 16.0));
        assert_eq!((r.binding_wall, r.ratio_to_ideal), ("operating", 0.8));
        s.operating_ideal_secs = 4.0;
        r.set_figures(&s, 20.0, PlanRate { per_second: 2.0, burst: 50 });
        assert_eq!((r.binding_wall, r.ratio_to_ideal), ("rate", 0.5));
        let json = serde_json::to_value(&r).expect("serialises");
        assert_eq!(json["binding_wall"], "rate");
        assert_eq!(json["operating_ideal_secs"], 4.0);
    }

    // Bug pinned (issue 16): 48 OPERATION_TIME_LIMIT refusals, everything within the burst by
    // the model: the summary said "the rate limit binds, 100% of its ideal".
    #[test]
    fn a_run_the_portal_refused_on_its_budget_is_bound_by_it_and_never_at_100_percent() {
        let mut r = RunReport::default();
        let mut s = stats(40); // within the burst: the model's ideal is 0
        s.operating_refusals = 48;
        s.limit_wait = Duration::from_secs(30);
        r.set_figures(&s, 40.0, PlanRate { per_second: 2.0, burst: 50 });
        assert_eq!(r.binding_wall, "operating");
        assert_eq!(r.ratio_to_ideal, 0.25, "10 s of 40 outside limit waits");
        s.limit_wait = Duration::ZERO;
        r.set_figures(&s, 40.0, PlanRate { per_second: 2.0, burst: 50 });
        assert_eq!(r.ratio_to_ideal, MAX_REFUSED_RATIO, "never 100 %");
        // Refused on the rate: the refused requests are no ideal work.
        let mut s = stats(70);
        s.query_limit_refusals = 20;
        r.set_figures(&s, 40.0, PlanRate { per_second: 2.0, burst: 50 });
        assert_eq!((r.binding_wall, r.rate_ideal_secs), ("rate", 0.0));
        assert!(r.ratio_to_ideal < 1.0);
    }

    #[test]
    fn a_stop_is_written_to_the_report_as_the_error_message() {
        let e = TransportError::InvalidBatch("too many commands".into());
        let shown = e.to_string();
        let r = RunReport { stopped: Some(e.into()), ..Default::default() };
        let json = serde_json::to_value(&r).expect("serialises");
        assert_eq!(json["stopped"], serde_json::Value::String(shown));
        assert_eq!(r.journal_outcome(), "stopped");
        assert_eq!(
            serde_json::to_value(RunReport::default()).expect("serialises")["stopped"],
            serde_json::Value::Null
        );
    }
}
