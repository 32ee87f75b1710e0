//! Simulated network latency: how long the way to and from a portal takes, drawn per REST
//! request from its own seeded RNG.
//!
//! Decisions the issue leaves open, written down here:
//! - The whole round trip is modelled on the way back: a request reaches the portal when it is
//!   sent (so the leaky bucket sees the client's own pacing, not a jittered copy of it), and its
//!   answer leaves after the simulated work *plus* the drawn latency. Refusals, faults and
//!   dropped connections wait the latency too: the network does not know what the answer says.
//! - Latency is real milliseconds, never divided by `time_scale` (that scales the portal's
//!   processing only), and it is not part of the answer's `time` (the portal does not see it).
//! - The draw comes from an RNG of its own, seeded from the fault seed, so adding latency never
//!   changes which requests the fault RNG hits. Exactly one number is drawn per REST request,
//!   in the order requests arrive, even when the latency is fixed.
//!
//! Owns the draw only; the server sleeps it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// A latency of `min_ms` to `max_ms` milliseconds (both included), uniform; `0` = none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    /// Shortest round trip, ms.
    pub min_ms: u64,
    /// Longest round trip, ms (equal to `min_ms` for a fixed latency).
    pub max_ms: u64,
}

impl Latency {
    /// A fixed latency of `ms` milliseconds.
    pub fn fixed(ms: u64) -> Self {
        Latency { min_ms: ms, max_ms: ms }
    }

    /// A latency drawn uniformly from `min_ms..=max_ms` (the two are put in order).
    pub fn range(min_ms: u64, max_ms: u64) -> Self {
        Latency { min_ms: min_ms.min(max_ms), max_ms: min_ms.max(max_ms) }
    }

    /// No latency at all.
    pub fn is_zero(&self) -> bool {
        self.max_ms == 0
    }

    /// The middle of the range, ms (what a benchmark expects a request to wait on average).
    pub fn mean_ms(&self) -> f64 {
        (self.min_ms as f64 + self.max_ms as f64) / 2.0
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min_ms == self.max_ms {
            write!(f, "{}", self.min_ms)
        } else {
            write!(f, "{}-{}", self.min_ms, self.max_ms)
        }
    }
}

/// A `--latency-ms` value that is not `MS`, `MIN-MAX` or `MIN..MAX`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "latency `{text}` is not a number of milliseconds: write it as 800 (fixed), 800-1200 or 800..1200 (a range)"
)]
pub struct LatencyParseError {
    /// What was given.
    pub text: String,
}

impl FromStr for Latency {
    type Err = LatencyParseError;

    /// `800` (fixed), `800-1200` or `800..1200` (a range, either order).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || LatencyParseError { text: s.to_string() };
        let num = |t: &str| t.trim().parse::<u64>().map_err(|_| err());
        let t = s.trim();
        match t.split_once("..").or_else(|| t.split_once('-')) {
            Some((a, b)) => Ok(Latency::range(num(a)?, num(b.trim_start_matches('=')).map_err(|_| err())?)),
            None => Ok(Latency::fixed(num(t)?)),
        }
    }
}

/// What the latency RNG's seed is derived from the fault seed with, so the two RNGs differ even
/// for the same `--seed`.
const SEED_SALT: u64 = 0x6c61_7465_6e63_7921; // "latency!"

/// The seeded latency RNG: one draw per REST request.
pub struct LatencyRng {
    rng: StdRng,
}

impl LatencyRng {
    /// A fresh RNG for the fault seed `seed`.
    pub fn new(seed: u64) -> Self {
        LatencyRng { rng: StdRng::seed_from_u64(seed ^ SEED_SALT) }
    }

    /// The latency of the next request (always one draw, whatever the range).
    pub fn draw(&mut self, latency: Latency) -> Duration {
        let x = self.rng.random::<f64>();
        let span = (latency.max_ms - latency.min_ms) as f64;
        // `x < 1`, so round the span + 1 down: every millisecond of the range is as likely.
        let ms = latency.min_ms + ((x * (span + 1.0)).floor() as u64).min(latency.max_ms - latency.min_ms);
        Duration::from_millis(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_latency_and_both_range_spellings_parse() {
        assert_eq!("800".parse(), Ok(Latency::fixed(800)));
        assert_eq!("800-1200".parse(), Ok(Latency::range(800, 1200)));
        assert_eq!("800..1200".parse(), Ok(Latency::range(800, 1200)));
        assert_eq!("800..=1200".parse(), Ok(Latency::range(800, 1200)));
        assert_eq!(" 1200 - 800 ".parse(), Ok(Latency::range(800, 1200)));
        assert_eq!("0".parse::<Latency>().map(|l| l.is_zero()), Ok(true));
    }

    #[test]
    fn a_latency_that_is_not_milliseconds_is_refused_with_the_forms_that_work() {
        for bad in ["", "fast", "800ms", "-5", "1..", "1.5"] {
            let e = bad.parse::<Latency>().expect_err(bad);
            assert!(e.to_string().contains("800-1200"), "{e}");
        }
    }

    #[test]
    fn draws_stay_in_the_range_cover_it_and_repeat_for_the_same_seed() {
        let l = Latency::range(100, 110);
        let mut a = LatencyRng::new(7);
        let mut b = LatencyRng::new(7);
        let xs: Vec<_> = (0..500).map(|_| a.draw(l)).collect();
        let ys: Vec<_> = (0..500).map(|_| b.draw(l)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|d| (100..=110).contains(&d.as_millis())));
        assert!(xs.contains(&Duration::from_millis(100)) && xs.contains(&Duration::from_millis(110)));
        let mut c = LatencyRng::new(8);
        assert_ne!(xs, (0..500).map(|_| c.draw(l)).collect::<Vec<_>>());
    }

    #[test]
    fn a_fixed_latency_is_always_itself() {
        let mut r = LatencyRng::new(1);
        assert!((0..100).all(|_| r.draw(Latency::fixed(150)) == Duration::from_millis(150)));
        assert_eq!(r.draw(Latency::default()), Duration::ZERO);
    }
}
