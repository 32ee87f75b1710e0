//! The request-rate limiter: a governor token bucket shaped like the portal's leaky bucket
//! (standard plans 2/s burst 50, enterprise 5/s burst 250, overridable), and the reaction to a
//! `QUERY_LIMIT_EXCEEDED` that comes anyway (another app shares the portal's bucket).
//!
//! Owns: pacing (`until_ready` right before each request), the backoff after a refusal
//! (capped exponential with jitter, shared by every caller), lowering the rate and recovering
//! it gradually. Must not send requests or look at answers beyond "refused" / "accepted".
//!
//! Shared pace (issue 23): with a [`SharedPace`], a request also takes its token from the
//! portal's bucket shared by this host's processes (after this process's own bucket, which
//! keeps the slowdown after a refusal), and a refusal pauses them all.
//!
//! Time is tokio's (`tokio::time`), also inside governor through [`TokioClock`], so tests run
//! with paused time. That is also why `until_ready` waits with `tokio::time::sleep` on
//! governor's own "not until" answer instead of governor's `until_ready`, which sleeps on a
//! wall-clock timer.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

use super::shared_pace::{self, SharedPace};

/// The portal's plan, which sets the request-rate limit (`docs/portal-protocol.md` §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Plan {
    #[default]
    Standard,
    Enterprise,
}

impl Plan {
    pub fn rate(self) -> Rate {
        match self {
            Plan::Standard => Rate { per_second: 2.0, burst: 50 },
            Plan::Enterprise => Rate { per_second: 5.0, burst: 250 },
        }
    }
}

/// Requests per second (drain) and burst (bucket size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

/// How the limiter reacts to refusals.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimiterConfig {
    pub rate: Rate,
    /// First backoff after a refusal; doubles with each consecutive refusal.
    pub backoff_base: Duration,
    /// Longest single backoff.
    pub backoff_cap: Duration,
    /// Each refusal multiplies the rate by this (0..1).
    pub slow_factor: f64,
    /// The rate never drops below this fraction of the configured rate.
    pub min_fraction: f64,
    /// After this long without a refusal, the rate grows by `recover_factor` (up to the configured rate).
    pub recover_every: Duration,
    pub recover_factor: f64,
}

impl LimiterConfig {
    pub fn new(rate: Rate) -> LimiterConfig {
        LimiterConfig {
            rate,
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            slow_factor: 0.5,
            min_fraction: 0.1,
            recover_every: Duration::from_secs(10),
            recover_factor: 1.25,
        }
    }
}

/// governor's clock on tokio's time (follows `tokio::time::pause`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> std::time::Instant {
        Instant::now().into_std()
    }
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;

/// Shared by every request to one portal.
#[derive(Debug)]
pub struct Limiter {
    config: LimiterConfig,
    state: Mutex<State>,
    /// The portal's bucket shared with this host's other processes, if joined.
    shared: Option<Arc<SharedPace>>,
    /// Callers wait for their token in turn (a fair lock: first come, first served), so a
    /// lone read is never starved by a stream of write batches that wake at the same instant.
    turn: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct State {
    bucket: Arc<Bucket>,
    /// Current rate (requests/s); below the configured one after refusals.
    rate: f64,
    /// Nobody sends before this (a backoff after a refusal).
    paused_until: Option<Instant>,
    /// Refusals since the last accepted request.
    consecutive: u32,
    /// Last time the rate was lowered or raised.
    changed_at: Instant,
    /// Refusals seen in total.
    refusals: u64,
}

/// Cells per request in the client's bucket: its capacity is counted in twentieths of a
/// request, so the margin below the portal's bucket ([`safe_capacity`]) can be a fraction of
/// one request instead of a whole one (issue 23: a whole request of margin cost half a second
/// of every run at 2 requests/s).
const CELLS: u32 = 20;

fn bucket(per_second: f64, capacity: f64) -> Arc<Bucket> {
    let period = Duration::from_secs_f64(1.0 / (per_second.max(1e-3) * f64::from(CELLS)));
    let cells = ((capacity.max(1.0) * f64::from(CELLS)).floor() as u32).max(CELLS);
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(cells).unwrap_or(NonZeroU32::MIN));
    Arc::new(RateLimiter::direct_with_clock(quota, TokioClock))
}

/// The arrival jitter the client's margin below the portal's bucket absorbs: a request that
/// reaches the portal up to this much earlier than it was paced to (a slow handshake on one
/// connection, a fast one on the next) still finds room.
pub const JITTER_TOLERANCE: Duration = Duration::from_millis(250);

/// The burst the client allows itself, in requests (fractions count): the portal's bucket
/// less what the bucket drains in [`JITTER_TOLERANCE`] (at least a quarter of a request, at
/// most one request per 25), so that network jitter (two requests arriving closer together
/// than they were sent) never pushes a steady run over the portal's limit. The margin is time,
/// not a share of the bucket: 2/s burst 10 -> 9.5, 2/s burst 50 -> 49.5, 5/s burst 250 ->
/// 248.75. A bucket under 4 keeps no margin.
pub fn safe_capacity(per_second: f64, burst: u32) -> f64 {
    if burst < 4 {
        return f64::from(burst.max(1));
    }
    let most = f64::from((burst / 25).max(1));
    let margin = (per_second.max(0.0) * JITTER_TOLERANCE.as_secs_f64()).clamp(0.25, most);
    f64::from(burst) - margin
}

impl Limiter {
    pub fn new(config: LimiterConfig) -> Limiter {
        let state = State {
            bucket: bucket(config.rate.per_second, safe_capacity(config.rate.per_second, config.rate.burst)),
            rate: config.rate.per_second,
            paused_until: None,
            consecutive: 0,
            changed_at: Instant::now(),
            refusals: 0,
        };
        Limiter { config, state: Mutex::new(state), shared: None, turn: tokio::sync::Mutex::new(()) }
    }

    /// Also paces by the portal's bucket shared with this host's other processes.
    pub fn with_shared(mut self, shared: Option<Arc<SharedPace>>) -> Limiter {
        self.shared = shared;
        self
    }

    /// Waits for a token of the shared bucket (if joined).
    async fn shared_token(&self) {
        let Some(shared) = &self.shared else { return };
        let capacity = safe_capacity(self.config.rate.per_second, self.config.rate.burst);
        while let Err(wait) = shared.try_take(self.config.rate.per_second, capacity) {
            tokio::time::sleep(wait.min(shared_pace::POLL)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock leaves consistent numbers; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until a request may be sent (rate, burst, and any backoff in force), and takes
    /// its token. Call right before each request.
    pub async fn until_ready(&self) {
        let _turn = self.turn.lock().await;
        loop {
            let (bucket, paused_until) = {
                let s = self.lock();
                (s.bucket.clone(), s.paused_until)
            };
            if let Some(until) = paused_until
                && until > Instant::now()
            {
                tokio::time::sleep_until(until).await;
                continue;
            }
            match bucket.check_n(NonZeroU32::new(CELLS).unwrap_or(NonZeroU32::MIN)) {
                Ok(Ok(())) => return self.shared_token().await,
                Ok(Err(not_until)) => tokio::time::sleep(not_until.wait_time_from(TokioClock.now())).await,
                // The bucket always holds at least one request's cells (see `bucket`).
                Err(_) => return self.shared_token().await,
            }
        }
    }

    /// A request was refused with `QUERY_LIMIT_EXCEEDED`: lower the rate (and drop the burst:
    /// the portal's bucket is full), pause every caller for a backoff with jitter, and return
    /// that backoff.
    pub fn refused(&self) -> Duration {
        let cfg = self.config;
        let mut s = self.lock();
        s.consecutive += 1;
        s.refusals += 1;
        let floor = cfg.rate.per_second * cfg.min_fraction;
        s.rate = (s.rate * cfg.slow_factor).max(floor);
        s.bucket = bucket(s.rate, 1.0);
        s.changed_at = Instant::now();
        let delay = self.backoff(s.consecutive);
        let until = Instant::now() + delay;
        s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
        if let Some(shared) = &self.shared {
            shared.refused(safe_capacity(cfg.rate.per_second, cfg.rate.burst), delay);
        }
        tracing::warn!(
            rate = s.rate,
            backoff_ms = delay.as_millis() as u64,
            "the portal refused a request (QUERY_LIMIT_EXCEEDED); slowing down"
        );
        delay
    }

    /// The capped exponential backoff before attempt `attempt + 1` (1-based `attempt`), with
    /// "equal jitter": half fixed, half random, so callers spread out but always wait.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let cfg = self.config;
        let exp = cfg.backoff_base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let capped = exp.min(cfg.backoff_cap);
        capped / 2 + capped.mul_f64(rand::random_range(0.0..0.5))
    }

    /// A request was accepted: reset the backoff and, after a quiet period, raise the rate a step.
    pub fn accepted(&self) {
        let cfg = self.config;
        let mut s = self.lock();
        s.consecutive = 0;
        if s.rate < cfg.rate.per_second && s.changed_at.elapsed() >= cfg.recover_every {
            s.rate = (s.rate * cfg.recover_factor).min(cfg.rate.per_second);
            // Keep burst 1 after a refusal: another client is using the portal's bucket.
            s.bucket = bucket(s.rate, 1.0);
            s.changed_at = Instant::now();
            tracing::info!(rate = s.rate, "no refusals for a while; raising the request rate");
        }
    }

    /// Current requests per second.
    pub fn current_rate(&self) -> f64 {
        self.lock().rate
    }

    /// `QUERY_LIMIT_EXCEEDED` refusals seen so far.
    pub fn refusals(&self) -> u64 {
        self.lock().refusals
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: f64, burst: u32) -> Limiter {
        Limiter::new(LimiterConfig::new(Rate { per_second, burst }))
    }

    #[tokio::test(start_paused = true)]
    async fn burst_goes_at_once_then_the_rate_paces() {
        // A bucket of 5 at 2/s leaves half a request of margin: 4 at once, the fifth after
        // 0.25 s, the sixth after 0.75 s.
        let l = limiter(2.0, 5);
        let start = Instant::now();
        for _ in 0..4 {
            l.until_ready().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        l.until_ready().await;
        l.until_ready().await;
        let e = start.elapsed();
        assert!(e >= Duration::from_millis(740) && e <= Duration::from_millis(760), "{e:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn plans_set_the_portal_limits() {
        assert_eq!(Plan::Standard.rate(), Rate { per_second: 2.0, burst: 50 });
        assert_eq!(Plan::Enterprise.rate(), Rate { per_second: 5.0, burst: 250 });
        let l = Limiter::new(LimiterConfig::new(Plan::Standard.rate()));
        let start = Instant::now();
        for _ in 0..60 {
            l.until_ready().await;
        }
        // 49 at once (half a request of margin below the portal's 50), the 50th after 0.25 s,
        // then 10 more at 2/s.
        let e = start.elapsed();
        assert!(e >= Duration::from_millis(5240) && e <= Duration::from_millis(5260), "{e:?}");
    }

    #[test]
    fn the_client_burst_keeps_a_margin_of_time_below_the_portal_bucket() {
        assert_eq!(
            [
                safe_capacity(2.0, 1),
                safe_capacity(2.0, 3),
                safe_capacity(2.0, 10),
                safe_capacity(2.0, 50),
                safe_capacity(5.0, 250),
                safe_capacity(0.1, 10),
                safe_capacity(100.0, 50),
            ],
            [1.0, 3.0, 9.5, 49.5, 248.75, 9.75, 48.0]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_fraction_of_a_request_of_margin_delays_the_last_of_the_burst_only() {
        // 2/s burst 10 -> 9.5: nine at once, the tenth a quarter second later, then 2/s.
        let l = limiter(2.0, 10);
        let start = Instant::now();
        for _ in 0..9 {
            l.until_ready().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        l.until_ready().await;
        let e = start.elapsed();
        assert!(e >= Duration::from_millis(240) && e <= Duration::from_millis(260), "{e:?}");
        l.until_ready().await;
        let e = start.elapsed();
        assert!(e >= Duration::from_millis(740) && e <= Duration::from_millis(760), "{e:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn refusal_pauses_everyone_and_halves_the_rate() {
        let l = limiter(4.0, 10);
        l.until_ready().await;
        let start = Instant::now();
        let delay = l.refused();
        assert!(delay >= Duration::from_millis(250) && delay <= Duration::from_millis(500), "{delay:?}");
        assert_eq!(l.current_rate(), 2.0);
        l.until_ready().await;
        assert!(start.elapsed() >= delay);
        // Burst is gone: the next one waits a full period of the lowered rate.
        let t = Instant::now();
        l.until_ready().await;
        let e = t.elapsed();
        assert!(e >= Duration::from_millis(490) && e <= Duration::from_millis(510), "{e:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_refusals_back_off_exponentially_up_to_the_cap() {
        let l = limiter(2.0, 50);
        let delays: Vec<Duration> = (0..12).map(|_| l.refused()).collect();
        assert!(delays[3] >= Duration::from_secs(2), "{delays:?}");
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(30)), "{delays:?}");
        assert!(delays[11] >= Duration::from_secs(15), "{delays:?}");
        // The rate never falls below 10% of the plan.
        assert!((l.current_rate() - 0.2).abs() < 1e-9);
        assert_eq!(l.refusals(), 12);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_recovers_gradually_after_quiet_periods() {
        let l = limiter(2.0, 50);
        l.refused();
        assert_eq!(l.current_rate(), 1.0);
        l.accepted();
        assert_eq!(l.current_rate(), 1.0, "too soon to raise");
        let mut steps = 0;
        while l.current_rate() < 2.0 {
            tokio::time::advance(Duration::from_secs(10)).await;
            l.accepted();
            steps += 1;
        }
        assert!(steps >= 3, "recovered in {steps} steps");
        assert_eq!(l.current_rate(), 2.0);
    }
}
