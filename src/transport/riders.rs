//! Reads that ride along in the next write batch instead of paying a request of their own.
//!
//! Owns [`Riders`]: a small queue of read commands (the step's field check, the portal's
//! workflows) waiting for the next `batch` request with room for them. Every request drains
//! one token of the portal's leaky bucket whatever it carries, so a read that rides in a batch
//! of 49 rows costs nothing, where on its own it costs a token and a latency (issue 23: the
//! wall a single job cannot pass). A rider not taken within its wait goes alone, as a direct
//! call; one whose batch failed or did not run it goes alone too, so riding never loses a read.
//! Must not: hold write commands, retry anything itself (the direct call's rules do), or wait
//! longer than its caller said.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::Value;
use tokio::sync::oneshot;

use super::batch::{BatchOutcome, CommandOutcome};
use super::error::{CallError, TransportError};
use crate::bitrix::{Call as Command, Method};

/// What a rider is told: its answer, or `None` (go alone).
pub(super) type Delivery = Option<Result<Value, CallError>>;

/// A read waiting for a batch.
pub(super) struct Rider {
    /// Its command key in the batch (`ride<n>`: never a row's `r…` key).
    pub(super) key: String,
    pub(super) command: Command,
    tx: oneshot::Sender<Delivery>,
    /// A batch being packed has kept room for it ([`Riders::reserve`]).
    reserved: bool,
}

/// The queue of reads waiting for a batch.
#[derive(Default)]
pub(super) struct Riders {
    queue: Mutex<VecDeque<Rider>>,
    next: AtomicU64,
}

impl std::fmt::Debug for Riders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.queue.lock().map_or(0, |q| q.len());
        f.debug_struct("Riders").field("waiting", &n).finish()
    }
}

impl Riders {
    /// Queues a read; its key and where its answer comes.
    pub(super) fn board(&self, method: Method, params: Value) -> (String, oneshot::Receiver<Delivery>) {
        let key = format!("ride{}", self.next.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        let rider = Rider { key: key.clone(), command: Command { method, params }, tx, reserved: false };
        self.queue.lock().unwrap_or_else(|e| e.into_inner()).push_back(rider);
        (key, rx)
    }

    /// Takes the rider `key` off the queue; `false` when a batch already took it.
    pub(super) fn leave(&self, key: &str) -> bool {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        match q.iter().position(|r| r.key == key) {
            Some(i) => {
                q.remove(i);
                true
            }
            None => false,
        }
    }

    /// The reads waiting for a batch that no batch being packed has kept room for yet, now
    /// counted as kept for: the caller's batch leaves them that room. One batch's room per
    /// rider, so the batches packed while it waits do not each leave a place empty.
    pub(super) fn reserve(&self) -> usize {
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let mut n = 0;
        for r in q.iter_mut().filter(|r| !r.reserved) {
            r.reserved = true;
            n += 1;
        }
        n
    }

    /// Up to `room` riders for the batch about to leave.
    pub(super) fn take(&self, room: usize) -> Vec<Rider> {
        if room == 0 {
            return Vec::new();
        }
        let mut q = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let n = room.min(q.len());
        q.drain(..n).collect()
    }
}

/// Tells each rider what its batch answered (`None` when it did not run or the request failed:
/// it then goes alone).
pub(super) fn deliver(riders: Vec<Rider>, answer: &Result<BatchOutcome, TransportError>) {
    for r in riders {
        let delivery = match answer {
            Ok(outcome) => match outcome.get(&r.key) {
                Some(CommandOutcome::Done(v)) => Some(Ok(v.clone())),
                Some(CommandOutcome::Failed { code, description }) => Some(Err(CallError::Rejected {
                    method: r.command.method.to_string(),
                    status: 400,
                    code: code.clone(),
                    description: description.clone(),
                })),
                _ => None,
            },
            Err(_) => None,
        };
        let _ = r.tx.send(delivery);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rider_is_taken_once_and_one_that_left_is_not_taken() {
        let riders = Riders::default();
        let (a, _ra) = riders.board(Method::CrmItemFields, Value::Null);
        let (b, _rb) = riders.board(Method::CrmItemFields, Value::Null);
        assert!(riders.leave(&b));
        let taken = riders.take(50);
        assert_eq!(taken.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), [a.as_str()]);
        assert!(!riders.leave(&a), "taken by a batch");
        assert!(riders.take(50).is_empty());
    }

    #[test]
    fn room_is_kept_for_a_rider_once() {
        let riders = Riders::default();
        let _a = riders.board(Method::CrmItemFields, Value::Null);
        let _b = riders.board(Method::CrmItemList, Value::Null);
        assert_eq!(riders.reserve(), 2);
        assert_eq!(riders.reserve(), 0, "the next batch packed keeps no room for them again");
        let _c = riders.board(Method::CrmItemList, Value::Null);
        assert_eq!(riders.reserve(), 1);
        assert_eq!(riders.take(50).len(), 3);
    }
}
