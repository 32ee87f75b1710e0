//! The sandbox's notion of "now": the real monotonic clock, or a manual one that tests move
//! with [`Clock::advance`] so leaky-bucket and operating-window tests are exact and fast.
//!
//! Owns only time reading. Sleeping (simulated processing, `--slow-ms`) is real tokio sleeping
//! and does not move a manual clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A cloneable clock shared by the sandbox and the test that controls it.
#[derive(Clone)]
pub struct Clock {
    inner: Arc<Inner>,
}

enum Inner {
    System { start: Instant, start_unix: f64 },
    Manual { offset_nanos: AtomicU64, start_unix: f64 },
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.inner {
            Inner::System { .. } => f.write_str("Clock::System"),
            Inner::Manual { .. } => write!(f, "Clock::Manual(+{:?})", self.elapsed()),
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl Clock {
    /// Real time.
    pub fn system() -> Self {
        Clock { inner: Arc::new(Inner::System { start: Instant::now(), start_unix: unix_now() }) }
    }

    /// A clock that stands still until [`Clock::advance`] moves it; it starts at the real now.
    pub fn manual() -> Self {
        Clock { inner: Arc::new(Inner::Manual { offset_nanos: AtomicU64::new(0), start_unix: unix_now() }) }
    }

    /// Moves a manual clock forward (no effect on the system clock).
    pub fn advance(&self, by: Duration) {
        if let Inner::Manual { offset_nanos, .. } = &*self.inner {
            let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
            offset_nanos.fetch_add(nanos, Ordering::SeqCst);
        }
    }

    /// Time since the clock was made (monotonic).
    pub fn elapsed(&self) -> Duration {
        match &*self.inner {
            Inner::System { start, .. } => start.elapsed(),
            Inner::Manual { offset_nanos, .. } => Duration::from_nanos(offset_nanos.load(Ordering::SeqCst)),
        }
    }

    /// Unix time of [`Clock::elapsed`] = `at`.
    pub fn unix_at(&self, at: Duration) -> f64 {
        let start_unix = match &*self.inner {
            Inner::System { start_unix, .. } | Inner::Manual { start_unix, .. } => *start_unix,
        };
        start_unix + at.as_secs_f64()
    }

    /// Unix time now, in seconds.
    pub fn unix_now(&self) -> f64 {
        self.unix_at(self.elapsed())
    }
}

/// Formats a unix time as the portal does in `date_start`: `2025-01-01T12:00:00+00:00`.
pub fn iso(unix: f64) -> String {
    thread_local! {
        // Formatting is hot in batches (three stamps per command); seconds repeat a lot.
        static LAST: std::cell::RefCell<(i64, String)> = const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let secs = unix.floor() as i64;
    LAST.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != secs {
            let text = chrono::DateTime::from_timestamp(secs, 0)
                .map(|d| d.format("%Y-%m-%dT%H:%M:%S+00:00").to_string())
                .unwrap_or_default();
            *last = (secs, text);
        }
        last.1.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let c = Clock::manual();
        assert_eq!(c.elapsed(), Duration::ZERO);
        c.clone().advance(Duration::from_millis(1500));
        assert_eq!(c.elapsed(), Duration::from_millis(1500));
    }
}
