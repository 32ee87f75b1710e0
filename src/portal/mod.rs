//! One way to talk to the portal: every write path sends through the [`Dispatcher`], every
//! read goes through the [`Reads`] policy, and both see the portal only as a [`Portal`].
//!
//! | file | one job |
//! |---|---|
//! | `mod.rs` | the [`Portal`] trait (what the run needs of a portal) and its implementation by the [`Transport`] |
//! | [`dispatch`] | pack by count and size, requests in flight, answers in any order, resend what did not run, split on 413, the journal bracket ([`Bracket`]) |
//! | [`answer`] | one command's answer in a batch -> what happened to its row ([`RowAnswer`]), and the batch size that keeps batches fast ([`BatchSize`]) |
//! | [`reads`] | the one retry rule of every read (lookups, the duplicate check, reads by ID): a capped backoff for about a minute, abandoned at the first Ctrl-C |
//! | `fake` (tests only) | a scripted portal: answers decided per request by the test, to drive the run loop without HTTP |
//!
//! Row writes (a step's creates and updates, its resends and reconciliation, the duplicates it
//! settles) all go through the dispatcher. Provision's set-up writes do not: each depends on
//! the answer to the one before it (a smart process before its fields), so provision sends them
//! one at a time through the transport and never resends one whose answer was lost (it reads
//! the schema again instead); its reads go through [`Reads`].
//!
//! Owns: the order of sending (what goes in which request, when a request leaves, what is sent
//! again) and the rule of reading. Must not: know about mappings, the journal's tables or the
//! report (a write path tells the dispatcher what to record through its [`Bracket`]), nor pace
//! or classify HTTP answers (the transport's job, behind [`Portal`]).

pub mod answer;
pub mod dispatch;
#[cfg(test)]
pub(crate) mod fake;
pub mod reads;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::bitrix::Method;
use crate::payload::Command;
use crate::transport::{BatchOutcome, CallError, Shutdown, Transport, TransportError, TransportStats};

pub use answer::{BatchSize, RowAnswer};
pub use dispatch::{Bracket, Dispatcher, Landed, MAX_NOT_RUN_RESENDS};
pub use reads::Reads;

/// A future a [`Portal`] gives back: owns what it needs, so it can run as a task of its own.
pub type Answer<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a run needs of a portal. The [`Transport`] is the real one (HTTP, pacing, retries of
/// requests that did not run); tests use a scripted one. Shared by the run's tasks.
pub trait Portal: Send + Sync {
    /// One request of `commands` (keys unique): a `batch`, or with `alone` one command as a
    /// direct call. Each command's fate comes back in the [`BatchOutcome`].
    fn send(
        &self,
        commands: Vec<(String, Command)>,
        alone: bool,
    ) -> Answer<Result<BatchOutcome, TransportError>>;

    /// A direct read call (`crm.item.list`, `user.get`, ...): the answer's `result`.
    fn call(&self, method: Method, params: Value) -> Answer<Result<Value, CallError>>;

    /// A read that may ride in the next write batch (no request of its own) when one leaves
    /// within `wait`; else a direct [`call`](Portal::call).
    fn call_riding(
        &self,
        method: Method,
        params: Value,
        _wait: Duration,
    ) -> Answer<Result<Value, CallError>> {
        self.call(method, params)
    }

    /// Sleeps `d`, ending early with [`TransportError::Interrupted`] when the run is told to stop.
    fn pause(&self, d: Duration) -> Answer<Result<(), TransportError>>;

    /// The run's one stop handle (Ctrl-C, SIGTERM).
    fn shutdown(&self) -> Shutdown;

    /// The portal's address without any secret (for lock files and messages).
    fn address(&self) -> String;

    /// How many requests a caller should keep in flight now.
    fn in_flight_limit(&self) -> usize {
        1
    }

    /// The most commands of `method` a batch should carry for the operating budget.
    fn fitting_commands(&self, _method: Method) -> Option<usize> {
        None
    }

    /// Reads waiting to ride in a write batch ([`Portal::call_riding`]) that no batch being
    /// packed has kept room for: the batch started now keeps that room (issue 23: a rider that
    /// finds only full batches goes alone and costs a request of its own). Each rider is
    /// counted once.
    fn reserve_riders(&self) -> usize {
        0
    }

    /// The byte budget of one batch body.
    fn max_batch_bytes(&self) -> usize {
        crate::transport::batch::DEFAULT_MAX_BYTES
    }

    /// The transport's counters (requests, refusals, waits) for progress and the report.
    fn stats(&self) -> TransportStats {
        TransportStats::default()
    }

    /// Seconds of operating budget left per method (methods seen so far).
    fn operating_left(&self) -> Vec<(String, f64)> {
        Vec::new()
    }
}

impl Portal for Transport {
    fn send(
        &self,
        commands: Vec<(String, Command)>,
        alone: bool,
    ) -> Answer<Result<BatchOutcome, TransportError>> {
        let transport = self.clone();
        Box::pin(async move {
            match commands.as_slice() {
                [(key, cmd)] if alone => transport.call_alone(key, cmd).await,
                commands => transport.call_batch(commands).await,
            }
        })
    }

    fn call(&self, method: Method, params: Value) -> Answer<Result<Value, CallError>> {
        let transport = self.clone();
        Box::pin(async move { transport.call(method.as_str(), &params).await })
    }

    fn call_riding(&self, method: Method, params: Value, wait: Duration) -> Answer<Result<Value, CallError>> {
        let transport = self.clone();
        Box::pin(async move { transport.call_riding(method, &params, wait).await })
    }

    fn pause(&self, d: Duration) -> Answer<Result<(), TransportError>> {
        let transport = self.clone();
        Box::pin(async move { transport.pause(d).await })
    }

    fn shutdown(&self) -> Shutdown {
        Transport::shutdown(self)
    }

    fn address(&self) -> String {
        self.portal_address()
    }

    fn in_flight_limit(&self) -> usize {
        Transport::in_flight_limit(self)
    }

    fn fitting_commands(&self, method: Method) -> Option<usize> {
        Transport::fitting_commands(self, method.as_str())
    }

    fn reserve_riders(&self) -> usize {
        Transport::reserve_riders(self)
    }

    fn max_batch_bytes(&self) -> usize {
        Transport::max_batch_bytes(self)
    }

    fn stats(&self) -> TransportStats {
        Transport::stats(self)
    }

    fn operating_left(&self) -> Vec<(String, f64)> {
        Transport::operating_left(self)
    }
}

/// A portal shared by tasks.
pub type SharedPortal = Arc<dyn Portal>;
