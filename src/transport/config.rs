//! What a [`Transport`](super::Transport) is built from ([`TransportConfig`]) and the counters
//! it reports ([`TransportStats`]).
//!
//! Owns: the knobs and their defaults. Must not send anything or hold any state beyond the
//! counters' atomics.

use std::fmt;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use super::{Credentials, LimiterConfig, OnRefresh, OperatingConfig, PaceJob, Plan, batch};

/// Everything a [`Transport`](super::Transport) needs.
#[derive(Clone)]
pub struct TransportConfig {
    pub credentials: Credentials,
    pub limiter: LimiterConfig,
    pub operating: OperatingConfig,
    /// Client timeout; above the portal's 60 s request cap so slow requests still answer.
    pub timeout: Duration,
    /// Longest a single call keeps retrying requests refused by limits before giving up.
    pub max_limit_wait: Duration,
    /// Longest a single call keeps retrying when the portal cannot be reached at all.
    pub max_connect_wait: Duration,
    /// The same before the portal ever answered: a wrong URL or a portal that is down is
    /// reported within seconds, not after a minute of retries.
    pub first_connect_wait: Duration,
    /// Byte budget of one batch body.
    pub max_batch_bytes: usize,
    /// Called with each rotated OAuth refresh token.
    pub on_refresh: Option<OnRefresh>,
    /// The most requests on the wire at once (`--max-in-flight`, default 8; 1 sends one
    /// request at a time). The number in flight adapts to latency below it.
    pub max_in_flight: usize,
    /// Share the portal's request bucket and operating budgets with the other processes on
    /// this host that talk to it (`shared_pace`, issue 23), as this job; `None`: pace alone.
    pub shared_pace: Option<PaceJob>,
}

/// Default of [`TransportConfig::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;

/// Sets the most requests in flight at once (at least 1).
pub fn configure_in_flight(config: &mut TransportConfig, n: usize) {
    config.max_in_flight = n.max(1);
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field("credentials", &self.credentials)
            .field("limiter", &self.limiter)
            .field("operating", &self.operating)
            .field("timeout", &self.timeout)
            .field("max_limit_wait", &self.max_limit_wait)
            .field("max_connect_wait", &self.max_connect_wait)
            .field("first_connect_wait", &self.first_connect_wait)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("max_in_flight", &self.max_in_flight)
            .field("shared_pace", &self.shared_pace)
            .finish_non_exhaustive()
    }
}

impl TransportConfig {
    /// Defaults for `plan`: 120 s timeout, 480 s operating budget, 30 min max limit wait.
    pub fn new(credentials: Credentials, plan: Plan) -> TransportConfig {
        TransportConfig {
            credentials,
            limiter: LimiterConfig::new(plan.rate()),
            operating: OperatingConfig::default(),
            timeout: Duration::from_secs(120),
            max_limit_wait: Duration::from_secs(30 * 60),
            max_connect_wait: Duration::from_secs(60),
            first_connect_wait: Duration::from_secs(5),
            max_batch_bytes: batch::DEFAULT_MAX_BYTES,
            on_refresh: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            shared_pace: None,
        }
    }
}

/// Counters for progress lines and the final report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TransportStats {
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// `QUERY_LIMIT_EXCEEDED` refusals seen.
    pub query_limit_refusals: u64,
    /// `OPERATION_TIME_LIMIT` refusals seen (whole requests and single commands).
    pub operating_refusals: u64,
    /// Time spent waiting on limits after a refusal or for the operating budget.
    pub limit_wait: Duration,
    /// Current request rate (requests/s).
    pub rate: f64,
    /// OAuth refreshes done.
    pub refreshes: u64,
    /// Requests on the wire now, the current limit, and the most there were at once.
    pub in_flight: usize,
    pub in_flight_limit: usize,
    pub peak_in_flight: usize,
    /// The seconds the operating budget alone needs for the processing seen so far (the
    /// method that needs the most).
    pub operating_ideal_secs: f64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) requests: AtomicU64,
    pub(super) operating_refusals: AtomicU64,
    pub(super) limit_wait_us: AtomicU64,
    pub(super) refreshes: AtomicU64,
}
