//! Fault injection: which injected failure (if any) hits a REST request.
//!
//! Every request that reaches the fault stage draws exactly five numbers from one RNG seeded
//! with `--seed`, whatever the probabilities, so the same seed and the same request sequence
//! give the same faults. Owns the decision only; the server carries it out.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::FaultConfig;

/// What happens to one request before the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Before {
    /// Go on and do the work.
    Proceed,
    /// 500 `INTERNAL_SERVER_ERROR`, nothing done.
    Fail500,
    /// 503 `QUERY_LIMIT_EXCEEDED`, nothing done.
    Fail503,
    /// An HTML error page, nothing done.
    HtmlError,
}

/// What happens to one request after the work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Answer normally.
    Answer,
    /// Close the connection without an answer.
    Drop,
    /// Hold the answer, then close the connection without one.
    Hold,
}

/// The decision for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Before the work.
    pub before: Before,
    /// After the work.
    pub after: After,
}

/// The seeded fault RNG.
pub struct FaultRng {
    rng: StdRng,
}

impl FaultRng {
    /// A fresh RNG for `seed`.
    pub fn new(seed: u64) -> Self {
        FaultRng { rng: StdRng::seed_from_u64(seed) }
    }

    /// Draws the decision for the next request.
    pub fn draw(&mut self, cfg: &FaultConfig) -> Decision {
        let draws: [f64; 5] = std::array::from_fn(|_| self.rng.random::<f64>());
        let before = if draws[0] < cfg.fail_500 {
            Before::Fail500
        } else if draws[1] < cfg.fail_503 {
            Before::Fail503
        } else if draws[2] < cfg.html_error {
            Before::HtmlError
        } else {
            Before::Proceed
        };
        let after = if draws[3] < cfg.drop_after_commit {
            After::Drop
        } else if cfg.timeout_after_ms.is_some() && draws[4] < cfg.timeout_p {
            After::Hold
        } else {
            After::Answer
        };
        Decision { before, after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_decisions() {
        let cfg = FaultConfig { fail_500: 0.3, drop_after_commit: 0.3, ..FaultConfig::default() };
        let a: Vec<_> = {
            let mut r = FaultRng::new(7);
            (0..100).map(|_| r.draw(&cfg)).collect()
        };
        let mut r = FaultRng::new(7);
        let b: Vec<_> = (0..100).map(|_| r.draw(&cfg)).collect();
        assert_eq!(a, b);
        assert!(a.iter().any(|d| d.before == Before::Fail500));
        assert!(a.iter().any(|d| d.after == After::Drop));
        assert!(a.iter().any(|d| d.before == Before::Proceed && d.after == After::Answer));
    }

    #[test]
    fn zero_probabilities_never_fault() {
        let mut r = FaultRng::new(1);
        let cfg = FaultConfig::default();
        assert!(
            (0..1000).all(|_| r.draw(&cfg) == Decision { before: Before::Proceed, after: After::Answer })
        );
    }
}
