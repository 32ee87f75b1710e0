//! Stopping when told: a two-level shutdown handle shared by the transport and whoever watches
//! the signals (Ctrl-C, SIGTERM).
//!
//! Owns: the level (running, stop waiting, abandon the request in flight) and the futures that
//! complete when a level is reached, so every wait and every request can be `select!`ed against
//! it. Level 1 ("stop"): no new request starts and every wait (limit back-off, operating park,
//! retry sleep, connection retry, the rate limiter) ends at once; a request already on the wire
//! is let finish so its answer can be recorded. Level 2 ("abandon"): the request in flight is
//! dropped too. Must not know about signals or rows.

use tokio::sync::watch;

/// Nothing asked the run to stop.
const RUNNING: u8 = 0;
/// Stop waiting and start no new request; let a request in flight finish.
const STOP: u8 = 1;
/// Abandon the request in flight as well.
const ABANDON: u8 = 2;

/// A cheap-to-clone handle: [`Shutdown::stop`] / [`Shutdown::abandon`] on one side, the
/// `stopped` / `abandoned` futures on the other.
#[derive(Debug, Clone)]
pub struct Shutdown {
    tx: std::sync::Arc<watch::Sender<u8>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        let (tx, _) = watch::channel(RUNNING);
        Shutdown { tx: std::sync::Arc::new(tx) }
    }

    /// First signal: stop waiting, send nothing new, let the request in flight finish.
    pub fn stop(&self) {
        self.raise(STOP);
    }

    /// Second signal: also abandon the request in flight (its rows stay `sent`).
    pub fn abandon(&self) {
        self.raise(ABANDON);
    }

    fn raise(&self, level: u8) {
        self.tx.send_if_modified(|l| {
            let raised = *l < level;
            *l = (*l).max(level);
            raised
        });
    }

    /// Whether [`Shutdown::stop`] (or `abandon`) was called.
    pub fn is_stopped(&self) -> bool {
        *self.tx.borrow() >= STOP
    }

    /// Whether [`Shutdown::abandon`] was called.
    pub fn is_abandoned(&self) -> bool {
        *self.tx.borrow() >= ABANDON
    }

    async fn reached(&self, level: u8) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so `wait_for` only ends when the level is reached.
        let _ = rx.wait_for(|l| *l >= level).await;
    }

    /// Completes once the run is told to stop (first signal).
    pub async fn stopped(&self) {
        self.reached(STOP).await;
    }

    /// Completes once the request in flight is to be abandoned (second signal).
    pub async fn abandoned(&self) {
        self.reached(ABANDON).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_wait_ends_when_the_run_is_told_to_stop() {
        let s = Shutdown::new();
        let s2 = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            s2.stop();
        });
        let waited = tokio::time::timeout(Duration::from_secs(5), s.stopped()).await;
        assert!(waited.is_ok());
        assert!(s.is_stopped() && !s.is_abandoned());
    }

    #[tokio::test]
    async fn abandoning_implies_stopping_and_levels_never_go_down() {
        let s = Shutdown::new();
        s.abandon();
        s.stop();
        assert!(s.is_stopped() && s.is_abandoned());
        tokio::time::timeout(Duration::from_secs(1), s.stopped()).await.expect("stopped");
        tokio::time::timeout(Duration::from_secs(1), s.abandoned()).await.expect("abandoned");
    }

    #[tokio::test]
    async fn a_first_stop_does_not_abandon() {
        let s = Shutdown::new();
        s.stop();
        let r = tokio::time::timeout(Duration::from_millis(50), s.abandoned()).await;
        assert!(r.is_err(), "abandoned() must wait for the second signal");
    }
}
