//! The operating-time budget: per method (`batch` itself and each method inside it), the
//! `time.operating` / `time.operating_reset_at` the portal last reported (either may be absent),
//! a slowdown above ~80 % of the budget, and parking a method after 429 `OPERATION_TIME_LIMIT`
//! (`docs/portal-protocol.md` §1.5, §2.2).
//!
//! Owns: the per-method bookkeeping and the delays it implies. Must not send requests; the
//! transport asks [`Operating::wait`] before each request and reports what it saw.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use super::batch::TimeInfo;

/// Budget and reactions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatingConfig {
    /// Seconds of execution a method may use per window (480 s in the cloud).
    pub budget: Duration,
    /// Start slowing down above this fraction of the budget.
    pub slow_above: f64,
    /// Treat the budget as spent this much before it is.
    pub safety: Duration,
    /// Longest slowdown added before one request.
    pub max_slowdown: Duration,
    /// Park after a 429 when no reset time is known (or the known one already passed):
    /// about one window bucket.
    pub default_park: Duration,
    /// Longest park (the whole window).
    pub max_park: Duration,
}

impl Default for OperatingConfig {
    fn default() -> Self {
        OperatingConfig {
            budget: Duration::from_secs(480),
            slow_above: 0.8,
            safety: Duration::from_secs(5),
            max_slowdown: Duration::from_secs(10),
            default_park: Duration::from_secs(60),
            max_park: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct MethodState {
    operating: Option<f64>,
    reset_at: Option<i64>,
    parked_until: Option<Instant>,
    /// 429s since the last accepted call of this method.
    blocked: u32,
}

/// Per-method operating budgets of one credential.
#[derive(Debug, Default)]
pub struct Operating {
    config: OperatingConfig,
    methods: Mutex<HashMap<String, MethodState>>,
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Time from now until the unix time `at`, if in the future.
fn until_unix(at: i64) -> Option<Duration> {
    let secs = at as f64 - unix_now();
    (secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

impl Operating {
    pub fn new(config: OperatingConfig) -> Operating {
        Operating { config, methods: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, MethodState>> {
        self.methods.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the figures of an accepted call of `method`.
    pub fn observe(&self, method: &str, time: Option<&TimeInfo>) {
        let mut map = self.lock();
        let st = map.entry(method.to_string()).or_default();
        st.blocked = 0;
        st.parked_until = None;
        if let Some(t) = time {
            if t.operating.is_some() {
                st.operating = t.operating;
            }
            if t.operating_reset_at.is_some() {
                st.reset_at = t.operating_reset_at;
            }
        }
    }

    /// `method` answered 429 `OPERATION_TIME_LIMIT`: park it until the oldest bucket's reset
    /// (from the last accepted answer), or for `default_park` if that is unknown, passed, or
    /// the method is still blocked after an earlier park. Returns the park.
    pub fn blocked(&self, method: &str) -> Duration {
        let cfg = self.config;
        let mut map = self.lock();
        let st = map.entry(method.to_string()).or_default();
        let known = if st.blocked == 0 { st.reset_at.and_then(until_unix) } else { None };
        // Reset times are whole seconds: add a little so the bucket has really expired.
        let park =
            known.map(|d| d + Duration::from_millis(500)).unwrap_or(cfg.default_park).min(cfg.max_park);
        st.blocked += 1;
        st.operating = None;
        st.parked_until = Some(Instant::now() + park);
        tracing::warn!(
            method,
            park_s = park.as_secs_f64(),
            "the portal blocked the method (OPERATION_TIME_LIMIT); parking it until its budget resets"
        );
        park
    }

    /// How long to hold back a request that bills `methods`.
    pub fn delay(&self, methods: &[&str]) -> Duration {
        let map = self.lock();
        methods.iter().filter_map(|m| map.get(*m)).map(|st| self.delay_for(st)).max().unwrap_or_default()
    }

    fn delay_for(&self, st: &MethodState) -> Duration {
        let cfg = self.config;
        if let Some(until) = st.parked_until {
            let now = Instant::now();
            if until > now {
                return until - now;
            }
        }
        let (Some(op), Some(left)) = (st.operating, st.reset_at.and_then(until_unix)) else {
            return Duration::ZERO;
        };
        let budget = cfg.budget.as_secs_f64();
        if op >= budget - cfg.safety.as_secs_f64() {
            left.min(cfg.max_park)
        } else if op >= budget * cfg.slow_above {
            (left / 10).min(cfg.max_slowdown)
        } else {
            Duration::ZERO
        }
    }

    /// Sleeps for [`Operating::delay`]; returns the time waited.
    pub async fn wait(&self, methods: &[&str]) -> Duration {
        let d = self.delay(methods);
        if !d.is_zero() {
            tracing::debug!(wait_ms = d.as_millis() as u64, "holding back for the operating budget");
            tokio::time::sleep(d).await;
        }
        d
    }

    /// The last reported `operating` of `method`, if any.
    pub fn operating(&self, method: &str) -> Option<f64> {
        self.lock().get(method).and_then(|s| s.operating)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(operating: f64, reset_in: i64) -> TimeInfo {
        TimeInfo {
            operating: Some(operating),
            operating_reset_at: Some(unix_now() as i64 + reset_in),
            duration: None,
        }
    }

    #[test]
    fn below_eighty_percent_nothing_waits() {
        let o = Operating::new(OperatingConfig::default());
        o.observe("batch", Some(&info(100.0, 300)));
        assert_eq!(o.delay(&["batch", "crm.item.add"]), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn above_eighty_percent_requests_slow_down_within_the_cap() {
        let o = Operating::new(OperatingConfig::default());
        o.observe("batch", Some(&info(400.0, 300)));
        let d = o.delay(&["batch"]);
        assert_eq!(d, Duration::from_secs(10), "capped");
        o.observe("batch", Some(&info(400.0, 20)));
        let d = o.delay(&["batch"]);
        assert!(d > Duration::from_millis(1500) && d <= Duration::from_secs(2), "{d:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_waits_for_the_reset() {
        let o = Operating::new(OperatingConfig::default());
        o.observe("crm.item.add", Some(&info(478.0, 30)));
        let d = o.delay(&["batch", "crm.item.add"]);
        assert!(d > Duration::from_secs(28) && d <= Duration::from_secs(30), "{d:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn blocked_method_parks_until_reset_then_by_default_steps() {
        let cfg = OperatingConfig { default_park: Duration::from_secs(60), ..Default::default() };
        let o = Operating::new(cfg);
        o.observe("batch", Some(&info(470.0, 5)));
        let first = o.blocked("batch");
        assert!(first > Duration::from_secs(4) && first <= Duration::from_millis(5500), "{first:?}");
        assert_eq!(o.delay(&["batch"]), first);
        assert_eq!(o.delay(&["user.get"]), Duration::ZERO, "other methods keep working");
        let second = o.blocked("batch");
        assert_eq!(second, Duration::from_secs(60));
        o.observe("batch", None);
        assert_eq!(o.delay(&["batch"]), Duration::ZERO);
    }

    #[test]
    fn absent_counters_are_fine() {
        let o = Operating::new(OperatingConfig::default());
        o.observe("batch", None);
        assert_eq!(o.operating("batch"), None);
        assert_eq!(o.delay(&["batch"]), Duration::ZERO);
    }
}
