//! Requests in flight: how many requests to one portal may be on the wire at once, adapted to
//! the latency the portal shows, between 1 and `max_in_flight`.
//!
//! Owns: the gate every request passes right before the rate limiter ([`Flight::acquire`]),
//! the observed latency (an exponentially weighted mean of each request's round trip) and the
//! pure rule that turns latency and the request rate into a limit ([`target_in_flight`]).
//! The latency follows a slower answer at once and a faster one gradually.
//! Must not send requests, look at answers, or know about rows.
//!
//! Why Little's law: to keep `rate` requests per second going while each takes `latency`
//! seconds, `rate × latency` requests must be in flight. One more covers the jitter of the
//! answers, and a margin of half again keeps the limiter, not the gate, the thing that paces.
//! Until the first answer the limit is the maximum, so the rate limiter's burst goes at once.

use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Weight of the newest latency in the running mean.
const LATENCY_WEIGHT: f64 = 0.2;

/// The limit for requests in flight: enough to keep `rate` requests per second going when
/// each takes `latency` (Little's law, half again as margin, plus one), between 1 and `max`.
/// Unknown latency: `max` (nothing is known yet, so the burst may go at once).
pub fn target_in_flight(rate: f64, latency: Option<Duration>, max: usize) -> usize {
    let max = max.max(1);
    let Some(latency) = latency else { return max };
    let needed = (rate.max(0.0) * latency.as_secs_f64() * 1.5).ceil();
    if !needed.is_finite() {
        return max;
    }
    (needed as usize).saturating_add(1).clamp(1, max)
}

/// The gate of one portal's requests.
#[derive(Debug)]
pub struct Flight {
    max: usize,
    state: Mutex<State>,
    /// Woken when a request lands or the limit rises.
    freed: Notify,
    /// Waiters take their place in turn (a fair lock): a lone read is not starved by write
    /// batches that race it for every freed place.
    turn: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    limit: usize,
    latency: Option<Duration>,
    /// The most requests that were in flight at once.
    peak: usize,
}

/// A place on the wire; give it back with [`Slot::landed`] when the answer came (the latency
/// is measured), or drop it when the request ended otherwise.
#[derive(Debug)]
pub struct Slot<'a> {
    flight: &'a Flight,
    sent: Instant,
    /// Set by [`Slot::landed`]: the round trip and the rate allowed then.
    measured: Option<(Duration, f64)>,
}

impl Flight {
    /// A gate for at most `max` requests at once (at least 1).
    pub fn new(max: usize) -> Flight {
        let max = max.max(1);
        Flight {
            max,
            state: Mutex::new(State { in_flight: 0, limit: max, latency: None, peak: 0 }),
            freed: Notify::new(),
            turn: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain numbers; a panic elsewhere cannot leave it inconsistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for a place on the wire (fewer requests in flight than the current limit).
    pub async fn acquire(&self) -> Slot<'_> {
        let _turn = self.turn.lock().await;
        loop {
            let notified = self.freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut s = self.lock();
                if s.in_flight < s.limit {
                    s.in_flight += 1;
                    s.peak = s.peak.max(s.in_flight);
                    return Slot { flight: self, sent: Instant::now(), measured: None };
                }
            }
            notified.await;
        }
    }

    /// Requests on the wire now, and the current limit.
    pub fn in_flight(&self) -> (usize, usize) {
        let s = self.lock();
        (s.in_flight, s.limit)
    }

    /// The most requests that were in flight at once.
    pub fn peak(&self) -> usize {
        self.lock().peak
    }

    /// The configured maximum.
    pub fn max(&self) -> usize {
        self.max
    }

    fn release(&self, latency: Option<Duration>, rate: f64) {
        {
            let mut s = self.lock();
            s.in_flight = s.in_flight.saturating_sub(1);
            if let Some(l) = latency {
                // Up at once, down gradually: a portal that slows down gets more requests in
                // flight from its first slow answer; one fast answer does not drop them.
                let mean = match s.latency {
                    Some(m) if l < m => m.mul_f64(1.0 - LATENCY_WEIGHT) + l.mul_f64(LATENCY_WEIGHT),
                    _ => l,
                };
                s.latency = Some(mean);
                let limit = target_in_flight(rate, Some(mean), self.max);
                if limit != s.limit {
                    tracing::debug!(
                        limit,
                        latency_ms = mean.as_millis() as u64,
                        "requests in flight adapted"
                    );
                }
                s.limit = limit;
            }
        }
        self.freed.notify_waiters();
    }
}

impl Slot<'_> {
    /// The answer came: the round trip is measured and the limit follows it; `rate` is the
    /// request rate the limiter allows now.
    /// The request leaves now (after its wait for a token): its round trip starts here, so
    /// that the wait in the queue is not taken for the portal's latency (which would raise the
    /// limit, queue more requests, and lengthen the wait again).
    pub fn leaving(&mut self) {
        self.sent = Instant::now();
    }

    pub fn landed(mut self, rate: f64) {
        self.measured = Some((self.sent.elapsed(), rate));
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        match self.measured {
            Some((latency, rate)) => self.flight.release(Some(latency), rate),
            None => self.flight.release(None, 0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use rstest::rstest;

    #[rstest]
    // rate/s latency          max -> limit
    #[case(2.0, None, 8, 8)] // nothing measured yet: the burst goes
    #[case(2.0, Some(1000), 8, 4)] // 2/s × 1 s × 1.5 = 3, + 1
    #[case(2.0, Some(3000), 8, 8)] // 2/s × 3 s needs more than the cap
    #[case(20.0, Some(2), 8, 2)] // a fast portal: one in flight and one landing
    #[case(2.0, Some(1000), 1, 1)] // --max-in-flight 1: today's behaviour
    #[case(0.0, Some(1000), 8, 1)]
    fn the_limit_follows_rate_times_latency_within_one_and_the_maximum(
        #[case] rate: f64,
        #[case] latency_ms: Option<u64>,
        #[case] max: usize,
        #[case] expected: usize,
    ) {
        assert_eq!(target_in_flight(rate, latency_ms.map(Duration::from_millis), max), expected);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_gate_waits_until_a_request_lands() {
        let f = std::sync::Arc::new(Flight::new(2));
        let a = f.acquire().await;
        let _b = f.acquire().await;
        assert_eq!(f.in_flight(), (2, 2));
        let f2 = f.clone();
        let waiter = tokio::spawn(async move {
            let _c = f2.acquire().await;
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished(), "a third request waits");
        drop(a);
        waiter.await.expect("the third request goes once one landed");
        assert_eq!(f.peak(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_wait_for_a_token_is_not_taken_for_the_portals_latency() {
        // 3 s queued for a token, then a 1 s round trip: the limit follows the 1 s (4), not
        // the 4 s a place was held (8, which would queue yet more requests).
        let f = Flight::new(8);
        let mut s = f.acquire().await;
        tokio::time::advance(Duration::from_millis(3000)).await;
        s.leaving();
        tokio::time::advance(Duration::from_millis(1000)).await;
        s.landed(2.0);
        assert_eq!(f.in_flight(), (0, 4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_answer_raises_the_limit_and_a_fast_one_lowers_it() {
        let f = Flight::new(8);
        let s = f.acquire().await;
        tokio::time::advance(Duration::from_millis(20)).await;
        s.landed(2.0);
        assert_eq!(f.in_flight(), (0, 2), "a fast portal needs few requests in flight");
        let s = f.acquire().await;
        tokio::time::advance(Duration::from_millis(3000)).await;
        s.landed(2.0);
        assert_eq!(f.in_flight().1, 8, "2/s at 3 s each needs the maximum, from the first slow answer");
        let s = f.acquire().await;
        tokio::time::advance(Duration::from_millis(20)).await;
        s.landed(2.0);
        assert_eq!(f.in_flight().1, 8, "one fast answer lowers the mean only a little");
        for _ in 0..30 {
            let s = f.acquire().await;
            tokio::time::advance(Duration::from_millis(20)).await;
            s.landed(2.0);
        }
        assert_eq!(f.in_flight().1, 2, "a portal fast again needs few");
    }
}
