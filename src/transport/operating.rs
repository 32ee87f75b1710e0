//! The operating-time budget: per method (`batch` itself and each method inside it), pacing so
//! that the method's processing time over the sliding window stays under a target share of
//! its budget, and parking a method after 429 `OPERATION_TIME_LIMIT` that comes anyway
//! (`docs/portal-protocol.md` §1.5, §2.2).
//!
//! Owns: the per-method bookkeeping and the waits it implies. Must not send requests; the
//! transport reserves a request's expected cost with [`Operating::wait`] before sending it,
//! gives the reservation back when the answer comes, and reports what the portal said.
//!
//! What is known about a method, and how it is combined:
//! - our own log: each answer's processing seconds (`time.processing`, else `duration`; per
//!   command inside a batch where the portal reports `result_time`), kept for one window;
//! - the portal's figure: `time.operating` (everyone's use of this credential and method in
//!   the window) until its `operating_reset_at`, plus what we logged since it was reported;
//! - the reservations of the requests in flight: commands × the mean cost of one command.
//!
//! - shared pace (issue 23): what the other processes of this host using the same credential
//!   hold per method (their log in the window + their reservations), read from the portal's
//!   shared pace file at each reservation, and this process's own figure published there.
//!
//! Used = max(own log + the others', portal figure) + reservations. A request goes when used + its own cost
//! stays within `target × budget` (0.9). Otherwise it waits until enough of the log leaves the
//! window (or, when the portal's figure is the larger, until its reset), or until an answer
//! lands. Before the first answer of a method nothing is known of its cost, so a request of it
//! is reserved at a pessimistic [`UNMEASURED_COMMAND_SECS`] a command until one is measured:
//! under the cloud's budget the first requests overlap, under a small one they go one by one,
//! each carrying no more commands than fit the paced budget at that cost
//! ([`Operating::fitting_commands`]). The portal may report no figure at all inside a batch
//! (the documented answer, billed per inner method): then each command's own `processing`
//! in `result_time` is all there is, and it is enough. Decisions the issue left open: the log
//! expires by each answer's own arrival time (later than the portal's one-minute buckets, so
//! never earlier than the portal frees it); a single request larger than the whole target goes
//! when nothing else is counted (it could never go otherwise).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::batch::TimeInfo;
use super::shared_pace::{self, SharedPace};

/// Budget, window and how close to the budget to go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OperatingConfig {
    /// Seconds of processing a method may use per window (480 s in the cloud).
    pub budget: Duration,
    /// The sliding window the budget is counted over (600 s in the cloud).
    pub window: Duration,
    /// Share of the budget pacing aims for (0.9: a margin for other users of the credential
    /// and for costs that vary).
    pub target: f64,
    /// Park after a 429 when no reset time is known (or the known one already passed): about
    /// one of the portal's ten window buckets.
    pub default_park: Duration,
}

impl Default for OperatingConfig {
    fn default() -> Self {
        OperatingConfig::new(Duration::from_secs(480), Duration::from_secs(600))
    }
}

impl OperatingConfig {
    /// `budget` seconds per `window`, paced to 0.9 of it; a park without a known reset is a
    /// tenth of the window (one of the portal's buckets).
    pub fn new(budget: Duration, window: Duration) -> OperatingConfig {
        OperatingConfig { budget, window, target: 0.9, default_park: window / 10 }
    }

    /// The seconds the budget alone needs to process `spent` seconds of one method: the first
    /// budget goes at once, each further budget one window later. Never negative.
    ///
    /// This is a true lower bound of a sliding window: a run of `T` seconds is covered by
    /// `ceil(T / window)` windows, each holding at most one budget, so `spent` needs more than
    /// `(ceil(spent / budget) - 1)` whole windows. (Without the `ceil`, 20 s of work at 6 s per
    /// 30 s would claim 70 s, which no schedule reaches; the bound is 90 s.)
    pub fn ideal_secs(&self, spent: f64) -> f64 {
        let budget = self.budget.as_secs_f64().max(1e-9);
        let budgets = (spent / budget - 1e-9).ceil();
        ((budgets - 1.0) * self.window.as_secs_f64()).max(0.0)
    }
}

#[derive(Debug, Default)]
struct MethodState {
    /// The portal's last `time.operating`, its `operating_reset_at`, and when it came.
    operating: Option<f64>,
    reset_at: Option<i64>,
    reported_at: Option<Instant>,
    /// Our own processing seconds by arrival, within the window; and their sum.
    log: VecDeque<(Instant, f64)>,
    log_sum: f64,
    /// Seconds reserved by requests in flight, and how many of those requests there are.
    pending: f64,
    pending_requests: usize,
    /// Mean processing seconds of one command, once measured.
    per_command: Option<f64>,
    /// Every processing second seen in this run (for the ideal).
    total: f64,
    parked_until: Option<Instant>,
    /// 429s since the last accepted call of this method.
    blocked: u32,
}

/// A request costs at most this share of the paced budget (see [`Operating::fitting_commands`]).
pub const BATCH_SHARE: f64 = 20.0;

/// The cost assumed for one command of a method not measured yet: a pessimistic 0.5 s (the
/// item pages show 0.04-0.1 s an add). A request of an unmeasured method is reserved at this
/// cost, so the cloud's budget lets the first requests overlap (8 batches of 50 are 200 s of
/// 432), while a small budget lets one go at a time until its cost is known.
pub const UNMEASURED_COMMAND_SECS: f64 = 0.5;

/// Weight of the newest measurement in the mean cost of a command.
const COST_WEIGHT: f64 = 0.2;

/// Per-method operating budgets of one credential.
#[derive(Debug, Default)]
pub struct Operating {
    config: OperatingConfig,
    methods: Mutex<HashMap<String, MethodState>>,
    /// Woken when an answer lands or a reservation is given back.
    changed: Notify,
    /// The operating use shared with this host's other processes, if joined.
    shared: Option<Arc<SharedPace>>,
}

/// The expected cost of one request, held while it is in flight. Dropping it gives it back
/// unspent (the request did not run); [`Reservation::spent`] logs it as spent (the request
/// may have run and its figures are unknown).
#[derive(Debug)]
pub struct Reservation<'a> {
    operating: &'a Operating,
    items: Vec<(String, f64)>,
    spent: bool,
}

impl Reservation<'_> {
    /// The request may have run but no figures came: count the estimate as spent.
    pub fn spent(mut self) {
        self.spent = true;
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        {
            let mut map = self.operating.lock();
            for (method, secs) in &self.items {
                if let Some(st) = map.get_mut(method) {
                    st.pending = (st.pending - secs).max(0.0);
                    st.pending_requests = st.pending_requests.saturating_sub(1);
                    if self.spent && *secs > 0.0 {
                        st.log.push_back((now, *secs));
                        st.log_sum += secs;
                        st.total += secs;
                    }
                }
            }
            self.operating.share(&map);
        }
        self.operating.changed.notify_waiters();
    }
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Time from now until the unix time `at`, if in the future.
fn until_unix(at: i64) -> Option<Duration> {
    let secs = at as f64 - unix_now();
    (secs > 0.0).then(|| Duration::from_secs_f64(secs))
}

impl MethodState {
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some(&(at, secs)) = self.log.front() {
            if at + window <= now {
                self.log.pop_front();
                self.log_sum = (self.log_sum - secs).max(0.0);
            } else {
                break;
            }
        }
        if self.log.is_empty() {
            self.log_sum = 0.0;
        }
    }

    /// The portal's figure brought up to now (what we logged since), while it is current.
    fn reported(&self) -> f64 {
        match (self.operating, self.reported_at) {
            (Some(op), Some(at)) if self.reset_at.is_none_or(|r| until_unix(r).is_some()) => {
                op + self.log.iter().filter(|(t, _)| *t > at).map(|(_, s)| s).sum::<f64>()
            }
            _ => 0.0,
        }
    }

    /// Seconds counted against the budget now, requests in flight included; `others`: what the
    /// other processes sharing the credential hold (their share is in the portal's figure too).
    fn used(&self, others: f64) -> f64 {
        (self.log_sum + others).max(self.reported()) + self.pending
    }

    /// How long a request costing `cost` must wait (zero: it may go now).
    fn delay(&self, cost: f64, cfg: &OperatingConfig, now: Instant, others: f64) -> Duration {
        if let Some(until) = self.parked_until
            && until > now
        {
            return until - now;
        }
        let limit = cfg.target * cfg.budget.as_secs_f64();
        let used = self.used(others);
        if used + cost <= limit || used <= 0.0 {
            return Duration::ZERO;
        }
        let reported = self.reported();
        if reported > self.log_sum
            && let Some(left) = self.reset_at.and_then(until_unix)
        {
            // The portal counts more than we logged (another user of the credential, or a
            // figure we cannot explain): its oldest bucket expires at the reset.
            return (left + Duration::from_millis(500)).min(cfg.window);
        }
        let excess = used + cost - limit;
        let mut freed = 0.0;
        for (at, secs) in &self.log {
            freed += secs;
            if freed >= excess - 1e-9 {
                return (*at + cfg.window).saturating_duration_since(now).max(Duration::from_millis(1));
            }
        }
        // Requests in flight hold the rest: their answers wake the waiters.
        cfg.window
    }
}

impl Operating {
    pub fn new(config: OperatingConfig) -> Operating {
        Operating { config, methods: Mutex::new(HashMap::new()), changed: Notify::new(), shared: None }
    }

    /// Also counts the operating use of this host's other processes with the same credential.
    pub fn with_shared(mut self, shared: Option<Arc<SharedPace>>) -> Operating {
        self.shared = shared;
        self
    }

    /// Publishes this process's use per method to the shared pace; returns the others' use.
    fn share(&self, map: &HashMap<String, MethodState>) -> HashMap<String, f64> {
        let Some(shared) = &self.shared else { return HashMap::new() };
        let mine: Vec<(String, f64)> =
            map.iter().map(|(m, st)| (m.clone(), st.log_sum + st.pending)).collect();
        shared.exchange_operating(&mine).into_iter().collect()
    }

    /// The budget and window paced to.
    pub fn config(&self) -> OperatingConfig {
        self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, MethodState>> {
        // The state is plain numbers; a panic elsewhere cannot leave it inconsistent.
        self.methods.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the figures of an accepted call of `method` carrying `commands` commands (1 for
    /// a direct call or one command of a batch): the portal's figure, and the processing time
    /// in our log.
    pub fn observe(&self, method: &str, time: Option<&TimeInfo>, commands: usize) {
        let now = Instant::now();
        {
            let mut map = self.lock();
            let st = map.entry(method.to_string()).or_default();
            st.blocked = 0;
            st.parked_until = None;
            if let Some(t) = time {
                if t.operating.is_some() {
                    st.operating = t.operating;
                    st.reported_at = Some(now);
                }
                if t.operating_reset_at.is_some() {
                    st.reset_at = t.operating_reset_at;
                }
                if let Some(secs) = t.spent() {
                    st.log.push_back((now, secs));
                    st.log_sum += secs;
                    st.total += secs;
                    let one = secs / commands.max(1) as f64;
                    st.per_command =
                        Some(st.per_command.map_or(one, |m| m * (1.0 - COST_WEIGHT) + one * COST_WEIGHT));
                }
            }
            if st.per_command.is_none() {
                // Accepted without figures (a self-hosted portal): nothing to pace by.
                st.per_command = Some(0.0);
            }
            self.share(&map);
        }
        self.changed.notify_waiters();
    }

    /// `method` answered 429 `OPERATION_TIME_LIMIT`: park it until the oldest bucket's reset
    /// (from the last accepted answer), or for a tenth of the window if that is unknown,
    /// passed, or the method is still blocked after an earlier park. Returns the park.
    pub fn blocked(&self, method: &str) -> Duration {
        let cfg = self.config;
        let mut map = self.lock();
        let st = map.entry(method.to_string()).or_default();
        let known = if st.blocked == 0 { st.reset_at.and_then(until_unix) } else { None };
        // Reset times are whole seconds: add a little so the bucket has really expired.
        let park = known.map(|d| d + Duration::from_millis(500)).unwrap_or(cfg.default_park).min(cfg.window);
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

    /// Reserves the expected cost of a request billing `bills` (method, commands), or says how
    /// long to wait before asking again.
    pub fn try_reserve(&self, bills: &[(&str, usize)]) -> Result<Reservation<'_>, Duration> {
        let cfg = self.config;
        let now = Instant::now();
        let mut map = self.lock();
        let mut wait = Duration::ZERO;
        for (method, _) in bills {
            map.entry(method.to_string()).or_default().expire(now, cfg.window);
        }
        let others = self.share(&map);
        // The wait our own figures alone imply (never cut short: it carries margins).
        let mut own = Duration::ZERO;
        for (method, commands) in bills {
            let st = map.entry(method.to_string()).or_default();
            let cost = st.per_command.unwrap_or(UNMEASURED_COMMAND_SECS) * *commands as f64;
            let theirs = others.get(*method).copied().unwrap_or(0.0);
            wait = wait.max(st.delay(cost, &cfg, now, theirs));
            own = own.max(st.delay(cost, &cfg, now, 0.0));
        }
        if !wait.is_zero() {
            // The others' use frees without waking us: look again soon (and keep our entry in
            // the shared file fresh), but never before our own figures allow: that delay
            // carries margins (the portal's reset + 0.5 s) a look before its end would not see.
            return Err(if others.is_empty() { wait } else { wait.min(shared_pace::POLL).max(own) });
        }
        let mut items = Vec::with_capacity(bills.len());
        for (method, commands) in bills {
            let st = map.entry(method.to_string()).or_default();
            let cost = st.per_command.unwrap_or(UNMEASURED_COMMAND_SECS) * *commands as f64;
            st.pending += cost;
            st.pending_requests += 1;
            items.push((method.to_string(), cost));
        }
        self.share(&map);
        Ok(Reservation { operating: self, items, spent: false })
    }

    /// Waits until a request billing `bills` fits the budgets, and reserves its cost. Returns
    /// the reservation and the time waited.
    pub async fn wait(&self, bills: &[(&str, usize)]) -> (Reservation<'_>, Duration) {
        let started = Instant::now();
        let mut logged = false;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.try_reserve(bills) {
                Ok(r) => return (r, started.elapsed()),
                Err(d) => {
                    if !logged && d > Duration::from_millis(100) {
                        tracing::debug!(
                            wait_ms = d.as_millis() as u64,
                            "holding back for the operating budget"
                        );
                        logged = true;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(d) => {}
                        _ = changed => {}
                    }
                }
            }
        }
    }

    /// How long a request billing `methods` (one command each) would wait now.
    pub fn delay(&self, methods: &[&str]) -> Duration {
        let cfg = self.config;
        let now = Instant::now();
        let mut map = self.lock();
        let mut wait = Duration::ZERO;
        for m in methods {
            if let Some(st) = map.get_mut(*m) {
                st.expire(now, cfg.window);
                let cost = st.per_command.unwrap_or(0.0);
                wait = wait.max(st.delay(cost, &cfg, now, 0.0));
            }
        }
        wait
    }

    /// The most commands of `method` one request should carry so that it costs at most
    /// 1/[`BATCH_SHARE`] of the paced budget: pacing then wastes little of a window on a
    /// batch that no longer fits. `None` when the method is free (accepted without figures).
    ///
    /// Before the method is measured: as many commands as fit the whole paced budget at
    /// [`UNMEASURED_COMMAND_SECS`] each (864 under the cloud's budget: no bound; one under a
    /// small budget). Regression (issue 18): billed per inner method, the batches packed before
    /// the first answer each cost more than the whole budget (50 adds of 0.03 s against 1 s),
    /// went one by one, and the portal refused every command past the budget inside
    /// `result_error` (64 `OPERATION_TIME_LIMIT` in 200 rows).
    pub fn fitting_commands(&self, method: &str) -> Option<usize> {
        let target = self.config.target * self.config.budget.as_secs_f64();
        let per_command = self.lock().get(method).and_then(|s| s.per_command);
        let fitting = match per_command {
            None => target / UNMEASURED_COMMAND_SECS,
            Some(c) if c > 0.0 => target / BATCH_SHARE / c,
            Some(_) => return None,
        };
        Some((fitting.floor() as usize).max(1))
    }

    /// The last reported `operating` of `method`, if any.
    pub fn operating(&self, method: &str) -> Option<f64> {
        self.lock().get(method).and_then(|s| s.operating)
    }

    /// Seconds of budget left per method now (budget − used), methods by name.
    pub fn left(&self) -> Vec<(String, f64)> {
        let cfg = self.config;
        let now = Instant::now();
        let mut map = self.lock();
        let mut out: Vec<(String, f64)> = map
            .iter_mut()
            .filter(|(_, st)| st.total > 0.0 || st.operating.is_some())
            .map(|(m, st)| {
                st.expire(now, cfg.window);
                (m.clone(), (cfg.budget.as_secs_f64() - st.used(0.0)).max(0.0))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The seconds the operating budget alone needs for what this run processed: the largest
    /// over the methods.
    pub fn ideal_secs(&self) -> f64 {
        let map = self.lock();
        map.values().map(|st| self.config.ideal_secs(st.total)).fold(0.0, f64::max)
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
            processing: None,
        }
    }

    fn spent(secs: f64) -> TimeInfo {
        TimeInfo { processing: Some(secs), ..TimeInfo::default() }
    }

    fn scaled() -> OperatingConfig {
        OperatingConfig::new(Duration::from_millis(1200), Duration::from_secs(6))
    }

    #[test]
    fn below_the_target_nothing_waits() {
        let o = Operating::new(OperatingConfig::default());
        o.observe("batch", Some(&info(100.0, 300)), 1);
        assert_eq!(o.delay(&["batch", "crm.item.add"]), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_portal_figure_above_the_target_waits_for_its_reset() {
        let o = Operating::new(OperatingConfig::default());
        o.observe("crm.item.add", Some(&info(440.0, 30)), 1);
        let d = o.delay(&["batch", "crm.item.add"]);
        assert!(d > Duration::from_secs(28) && d <= Duration::from_millis(30_500), "{d:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn our_own_log_paces_to_the_target_and_frees_as_the_window_slides() {
        let o = Operating::new(scaled());
        // Ten answers of 0.1 s each: 1.0 s used of the 1.08 s target.
        for _ in 0..10 {
            let (r, _) = o.wait(&[("crm.item.add", 10)]).await;
            o.observe("crm.item.add", Some(&spent(0.1)), 10);
            drop(r);
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        // The next one (0.1 s) would pass the target: it waits until the first leaves the window.
        let d = o.try_reserve(&[("crm.item.add", 10)]).expect_err("over the target");
        assert!(d > Duration::from_millis(4900) && d <= Duration::from_millis(5000), "{d:?}");
        assert_eq!(o.delay(&["user.get"]), Duration::ZERO, "other methods keep their own budget");
        tokio::time::advance(d).await;
        assert!(o.try_reserve(&[("crm.item.add", 10)]).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn requests_in_flight_count_against_the_budget() {
        let o = Operating::new(scaled());
        o.observe("crm.item.add", Some(&spent(0.05)), 10); // 0.005 s a command
        let a = o.try_reserve(&[("crm.item.add", 60)]).expect("0.05 + 0.3 s fits");
        let b = o.try_reserve(&[("crm.item.add", 60)]).expect("0.65 s fits");
        let c = o.try_reserve(&[("crm.item.add", 60)]).expect("0.95 s fits");
        assert!(o.try_reserve(&[("crm.item.add", 60)]).is_err(), "1.25 s passes the 1.08 s target");
        drop(c); // it did not run
        assert!(o.try_reserve(&[("crm.item.add", 60)]).is_ok());
        drop((a, b));
    }

    #[tokio::test(start_paused = true)]
    async fn one_request_goes_until_its_method_is_measured() {
        let o = Operating::new(scaled());
        let first = o.try_reserve(&[("crm.item.add", 50)]).expect("the first goes");
        assert!(o.try_reserve(&[("crm.item.add", 50)]).is_err(), "the second waits for a measure");
        assert!(o.try_reserve(&[("user.get", 1)]).is_ok(), "another method does not");
        o.observe("crm.item.add", Some(&spent(0.1)), 50);
        drop(first);
        assert!(o.try_reserve(&[("crm.item.add", 50)]).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn blocked_method_parks_until_reset_then_by_default_steps() {
        let o = Operating::new(OperatingConfig::default());
        o.observe("batch", Some(&info(470.0, 5)), 1);
        let first = o.blocked("batch");
        assert!(first > Duration::from_secs(4) && first <= Duration::from_millis(5500), "{first:?}");
        assert_eq!(o.delay(&["batch"]), first);
        assert_eq!(o.delay(&["user.get"]), Duration::ZERO, "other methods keep working");
        let second = o.blocked("batch");
        assert_eq!(second, Duration::from_secs(60));
        o.observe("batch", None, 1);
        assert_eq!(o.delay(&["batch"]), Duration::ZERO);
    }

    #[test]
    fn a_batch_costs_at_most_a_twentieth_of_the_paced_budget() {
        let o = Operating::new(OperatingConfig::new(Duration::from_secs(6), Duration::from_secs(30)));
        assert_eq!(o.fitting_commands("crm.item.add"), Some(10), "not measured: 5.4 s at 0.5 s each");
        o.observe("crm.item.add", Some(&spent(0.5)), 50); // 0.01 s a command
        assert_eq!(o.fitting_commands("crm.item.add"), Some(27)); // 6 × 0.9 / 20 = 0.27 s
        let cloud = Operating::new(OperatingConfig::default());
        cloud.observe("crm.item.add", Some(&spent(2.5)), 50);
        assert!(cloud.fitting_commands("crm.item.add") > Some(50), "the cloud's budget never limits a batch");
        assert!(cloud.fitting_commands("user.add") > Some(50), "not even before the first measure");
        let small = Operating::new(OperatingConfig::new(Duration::from_secs(1), Duration::from_secs(4)));
        assert_eq!(small.fitting_commands("crm.item.add"), Some(1), "a small budget: one until measured");
        small.observe("crm.item.add", None, 10);
        assert_eq!(small.fitting_commands("crm.item.add"), None, "free: no figures to pace by");
    }

    #[test]
    fn absent_counters_are_fine() {
        let o = Operating::new(OperatingConfig::default());
        o.observe("batch", None, 1);
        assert_eq!(o.operating("batch"), None);
        assert_eq!(o.delay(&["batch"]), Duration::ZERO);
    }

    #[test]
    fn the_budget_ideal_gives_the_first_budget_free_and_one_window_per_further_budget() {
        let cfg = OperatingConfig::new(Duration::from_secs(6), Duration::from_secs(30));
        assert_eq!(cfg.ideal_secs(5.0), 0.0);
        assert_eq!(cfg.ideal_secs(20.0), 90.0);
        assert_eq!(cfg.ideal_secs(18.0), 60.0, "three whole budgets: at 0, 30 and 60 s");
    }
}
