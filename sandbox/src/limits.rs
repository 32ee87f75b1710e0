//! The portal's two limits (`limits.md` = `settings/performance/limits.md` in
//! `bitrix24/b24restdocs`, §2 of `docs/portal-protocol.md`):
//!
//! - the request-rate **leaky bucket** (§2.1), one per portal **and source address**, shared
//!   by every webhook and OAuth application calling from that address. The page: "Bitrix24
//!   considers the IP address of the request source. If several applications on a single
//!   server work with the same Bitrix24, they share a common request rate limit." Each request
//!   adds 1, the level drains at R per second; a request that would lift the level above B is
//!   refused (503 `QUERY_LIMIT_EXCEEDED`) before doing anything and adds nothing. So a burst of
//!   exactly B requests passes from an empty bucket. The sandbox is one portal, so the key is
//!   the peer's IP address alone (its port changes with every connection).
//! - the **operating-time budget** (§2.2), per (credential, method): the page's "accumulated
//!   execution time of a specific method separately for an application or a webhook". Simulated
//!   processing seconds are kept in N buckets over a sliding window; a bucket's window starts
//!   at the first call recorded in it, and `operating_reset_at` is when the oldest bucket
//!   expires. The check is made before a call: once the sum is above the budget the method
//!   answers 429 `OPERATION_TIME_LIMIT` until enough buckets expired. The call that crosses
//!   the budget completes.
//!
//! [`TimeModel`] holds what the pages leave open about how the time is reported and billed.
//!
//! Time is a `Duration` since the sandbox clock's start, so tests drive it with a manual clock.
//! Owns no I/O and no locking: the server holds these behind its own mutex.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// How the portal reports and bills operating time, where the pages leave it open
/// (`SandboxConfig::time_model`). The billing of `batch` itself is [`crate::BatchBilling`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeModel {
    /// A call (a direct call, a command inside a batch, or a whole batch billed to `batch`)
    /// whose processing is under this many seconds is not billed at all: it adds nothing to
    /// `operating` and opens no bucket. 0 (the default) bills every call, as `limits.md`
    /// describes ("the accumulated execution time"), the stricter reading. 0.1 is what the
    /// official JS SDK team measured ("the portal's 0.1 s floor", `bitrix24/b24jssdk` PR #539)
    /// and what every example answer of the docs shows: across the 308 examples with both
    /// figures, none reports a non-zero `operating` for a call under 0.1 s.
    pub operating_floor_secs: f64,
    /// Each `result_time` entry of a batch also carries `operating` and `operating_reset_at`:
    /// billed per inner method, its own method's window; billed to `batch`, the batch-wide
    /// figure (PR #539: "all fifty sub-results carry the same `operating`"). Off by default:
    /// the batch page's answer (`settings/how-to-call-rest-api/batch.md`) shows `result_time`
    /// entries with `start`, `finish`, `duration`, `processing`, `date_start` and
    /// `date_finish` only.
    pub result_time_operating: bool,
}

impl Default for TimeModel {
    fn default() -> Self {
        TimeModel { operating_floor_secs: 0.0, result_time_operating: false }
    }
}

impl TimeModel {
    /// The seconds a call of `secs` adds to its window: none under the floor.
    pub fn billed(&self, secs: f64) -> f64 {
        if secs < self.operating_floor_secs { 0.0 } else { secs }
    }
}

/// A leaky bucket for one source address.
#[derive(Debug, Clone)]
pub struct LeakyBucket {
    level: f64,
    last: Duration,
}

impl LeakyBucket {
    /// An empty bucket at time `now`.
    pub fn new(now: Duration) -> Self {
        LeakyBucket { level: 0.0, last: now }
    }

    /// Drains to `now`, then admits the request (adding 1) or refuses it (adding nothing).
    pub fn admit(&mut self, now: Duration, rate: f64, burst: f64) -> bool {
        let elapsed = now.saturating_sub(self.last).as_secs_f64();
        self.level = (self.level - elapsed * rate).max(0.0);
        self.last = now.max(self.last);
        // A tiny epsilon so float drains of exactly one request do not refuse.
        if self.level + 1.0 > burst + 1e-9 {
            false
        } else {
            self.level += 1.0;
            true
        }
    }

    /// The current level (after draining to `now`), for diagnostics.
    pub fn level(&self, now: Duration, rate: f64) -> f64 {
        (self.level - now.saturating_sub(self.last).as_secs_f64() * rate).max(0.0)
    }
}

/// The operating-time window of one (credential, method).
#[derive(Debug, Clone, Default)]
pub struct OperatingWindow {
    /// (bucket start, seconds recorded in it), oldest first.
    buckets: VecDeque<(Duration, f64)>,
}

impl OperatingWindow {
    fn expire(&mut self, now: Duration, window: Duration) {
        while let Some(&(start, _)) = self.buckets.front() {
            if start + window <= now {
                self.buckets.pop_front();
            } else {
                break;
            }
        }
    }

    /// The sum of the live buckets at `now`.
    pub fn sum(&mut self, now: Duration, window: Duration) -> f64 {
        self.expire(now, window);
        self.buckets.iter().map(|(_, s)| s).sum()
    }

    /// Records `secs` at `now`, in the newest bucket if it is still open, else in a new one.
    pub fn record(&mut self, now: Duration, secs: f64, window: Duration, buckets: u32) {
        self.expire(now, window);
        let bucket_len = window / buckets.max(1);
        match self.buckets.back_mut() {
            Some((start, sum)) if *start + bucket_len > now => *sum += secs,
            _ => self.buckets.push_back((now, secs)),
        }
    }

    /// When the oldest bucket expires (as clock time), if any is live.
    pub fn reset_at(&self, window: Duration) -> Option<Duration> {
        self.buckets.front().map(|(start, _)| *start + window)
    }
}

/// What a response reports in `time.operating` / `time.operating_reset_at`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatingReport {
    /// Seconds used in the window (after this call).
    pub operating: f64,
    /// Clock time when the oldest bucket expires.
    pub reset_at: Duration,
}

/// All limit state of one sandbox.
#[derive(Debug, Default)]
pub struct Limits {
    buckets: HashMap<String, LeakyBucket>,
    operating: HashMap<(String, String), OperatingWindow>,
}

impl Limits {
    /// Leaky-bucket admission of a request from `source` (the caller's IP address), whatever
    /// webhook or application it authenticates as.
    pub fn admit(&mut self, source: &str, now: Duration, rate: f64, burst: f64) -> bool {
        if let Some(bucket) = self.buckets.get_mut(source) {
            return bucket.admit(now, rate, burst);
        }
        let mut bucket = LeakyBucket::new(now);
        let ok = bucket.admit(now, rate, burst);
        self.buckets.insert(source.to_string(), bucket);
        ok
    }

    /// True when (credential, method) is over its budget and must answer 429.
    pub fn operating_blocked(
        &mut self,
        credential: &str,
        method: &str,
        now: Duration,
        budget: f64,
        window: Duration,
    ) -> bool {
        match self.operating.get_mut(&(credential.to_string(), method.to_string())) {
            Some(w) => w.sum(now, window) > budget,
            None => false,
        }
    }

    /// Bills `secs` to (credential, method) and reports the window after it. Nothing billed
    /// (`secs` = 0, a call under the floor) records nothing: the window is reported as it is.
    pub fn bill(
        &mut self,
        credential: &str,
        method: &str,
        now: Duration,
        secs: f64,
        window: Duration,
        buckets: u32,
    ) -> OperatingReport {
        let w = self.operating.entry((credential.to_string(), method.to_string())).or_default();
        if secs > 0.0 {
            w.record(now, secs, window, buckets);
        }
        OperatingReport {
            operating: w.sum(now, window),
            reset_at: w.reset_at(window).unwrap_or(now + window),
        }
    }

    /// The window of (credential, method) without billing (None when never billed).
    pub fn report(
        &mut self,
        credential: &str,
        method: &str,
        now: Duration,
        window: Duration,
    ) -> Option<OperatingReport> {
        let w = self.operating.get_mut(&(credential.to_string(), method.to_string()))?;
        let operating = w.sum(now, window);
        Some(OperatingReport { operating, reset_at: w.reset_at(window).unwrap_or(now) })
    }

    /// Forgets everything (used by `/_sandbox/reset`).
    pub fn clear(&mut self) {
        self.buckets.clear();
        self.operating.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(f64) -> Duration = Duration::from_secs_f64;

    #[test]
    fn a_burst_of_exactly_b_passes_then_the_bucket_refuses_until_it_drains() {
        let mut b = LeakyBucket::new(S(0.0));
        for _ in 0..50 {
            assert!(b.admit(S(0.0), 2.0, 50.0));
        }
        assert!(!b.admit(S(0.0), 2.0, 50.0));
        assert!(!b.admit(S(0.4), 2.0, 50.0));
        assert!(b.admit(S(0.5), 2.0, 50.0));
        assert!(!b.admit(S(0.5), 2.0, 50.0));
        assert!(b.admit(S(1.5), 2.0, 50.0));
        assert!(b.admit(S(1.5), 2.0, 50.0));
        assert!(!b.admit(S(1.5), 2.0, 50.0));
    }

    #[test]
    fn operating_buckets_expire_one_at_a_time() {
        let w = Duration::from_secs(600);
        let mut o = OperatingWindow::default();
        o.record(S(0.0), 100.0, w, 10);
        o.record(S(30.0), 100.0, w, 10); // same one-minute bucket
        o.record(S(61.0), 50.0, w, 10); // new bucket
        assert_eq!(o.sum(S(100.0), w), 250.0);
        assert_eq!(o.reset_at(w), Some(S(600.0)));
        assert_eq!(o.sum(S(600.0), w), 50.0);
        assert_eq!(o.reset_at(w), Some(S(661.0)));
        assert_eq!(o.sum(S(661.0), w), 0.0);
    }

    #[test]
    fn a_call_under_the_floor_records_nothing_and_opens_no_bucket() {
        let w = Duration::from_secs(600);
        let model = TimeModel { operating_floor_secs: 0.1, ..TimeModel::default() };
        assert_eq!((model.billed(0.099), model.billed(0.1)), (0.0, 0.1));
        assert_eq!(TimeModel::default().billed(0.001), 0.001, "no floor by default");
        let mut l = Limits::default();
        let r = l.bill("c", "m", S(5.0), model.billed(0.05), w, 10);
        assert_eq!(r, OperatingReport { operating: 0.0, reset_at: S(605.0) });
        l.bill("c", "m", S(70.0), model.billed(0.2), w, 10);
        assert_eq!(
            l.report("c", "m", S(80.0), w),
            Some(OperatingReport { operating: 0.2, reset_at: S(670.0) })
        );
    }

    #[test]
    fn the_call_that_crosses_the_budget_completes_and_the_next_is_blocked() {
        let w = Duration::from_secs(600);
        let mut l = Limits::default();
        assert!(!l.operating_blocked("c", "m", S(0.0), 1.0, w));
        l.bill("c", "m", S(0.0), 0.8, w, 10);
        assert!(!l.operating_blocked("c", "m", S(0.0), 1.0, w));
        l.bill("c", "m", S(0.0), 0.8, w, 10);
        assert!(l.operating_blocked("c", "m", S(0.0), 1.0, w));
        assert!(!l.operating_blocked("c", "other", S(0.0), 1.0, w));
        assert!(!l.operating_blocked("c", "m", S(600.0), 1.0, w));
    }
}
