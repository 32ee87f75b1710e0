//! The one rule of every read a run makes: lookups by key, the duplicate check, reads of items
//! by ID, the field list.
//!
//! Owns: how a read rides out faults and how it ends. A read whose outcome is unknown (a
//! dropped connection, a 5xx) or that the portal did not run (a limit inside a batch) is tried
//! again with a capped backoff for about a minute ([`ATTEMPTS`], [`retry_pause`]) and then
//! reported as failed (`Err(text)`), never taken for "nothing found"; a refusal the portal
//! gives for the read itself is an answer; a fatal transport error (credentials, unreachable)
//! or the first Ctrl-C ends the read at once (the outer `Err`), as a read records nothing and
//! dropping it loses nothing. Batched reads go through [`Portal::send`], so the byte budget,
//! the operating budget and the 413 rule apply to them as to writes. Must not write anything.

use std::time::Duration;

use serde_json::Value;

use super::{Portal, SharedPortal};
use crate::bitrix::Method;
use crate::payload::Command;
use crate::transport::{CallError, CommandOutcome, TransportError};

/// Tries of one read whose answer was lost before it counts as failed: with [`retry_pause`]
/// about a minute of a portal failing every request.
pub const ATTEMPTS: u32 = 12;

/// Calls per batched read request (the portal's `batch` limit).
pub const CALLS_PER_REQUEST: usize = 50;

/// The pause before try `attempt` (1-based) of a read: 200 ms doubling, at most 8 s.
pub fn retry_pause(attempt: u32) -> Duration {
    let ms = 200u64.saturating_mul(1 << attempt.saturating_sub(1).min(6));
    Duration::from_millis(ms.min(8_000))
}

/// One command of a batched read, as it answered.
#[derive(Debug, Clone, PartialEq)]
pub enum BatchRead {
    /// Its result, and `result_total` for a list.
    Done(Value, Option<u64>),
    /// The portal refused this read (a method it does not have, no access): an answer.
    Refused { code: String, description: String },
}

/// Reads of one portal under the one rule. Cheap to clone.
#[derive(Clone)]
pub struct Reads {
    portal: SharedPortal,
    /// Direct reads ride in the next write batch when one leaves within this wait (their
    /// first try; tries again go alone): [`Reads::riding`].
    ride: Option<Duration>,
}

impl Reads {
    pub fn new(portal: SharedPortal) -> Reads {
        Reads { portal, ride: None }
    }

    /// These reads, each one's first try riding in the next write batch that leaves within
    /// `wait` (it then costs no request of its own: issue 23), alone after that.
    pub fn riding(&self, wait: Duration) -> Reads {
        Reads { portal: self.portal.clone(), ride: Some(wait) }
    }

    /// The portal the reads go to.
    pub fn portal(&self) -> &dyn Portal {
        &*self.portal
    }

    /// The portal the reads go to, to share with a task or a [`Dispatcher`](super::Dispatcher).
    pub fn shared(&self) -> SharedPortal {
        self.portal.clone()
    }

    /// `read`, abandoned as soon as the run is told to stop (the first Ctrl-C).
    pub async fn unless_stopped<T>(
        &self,
        what: &str,
        read: impl std::future::Future<Output = T>,
    ) -> Result<T, TransportError> {
        let shutdown = self.portal.shutdown();
        let interrupted = || TransportError::Interrupted { method: what.to_string(), in_flight: false };
        if shutdown.is_stopped() {
            return Err(interrupted());
        }
        tokio::select! {
            biased;
            _ = shutdown.stopped() => Err(interrupted()),
            answer = read => Ok(answer),
        }
    }

    /// A direct read call. A refusal of the read means "nothing found" (`Null`); a read whose
    /// outcome stays unknown after [`ATTEMPTS`] is `Ok(Err(why))`.
    pub async fn call(
        &self,
        method: Method,
        params: &Value,
    ) -> Result<Result<Value, String>, TransportError> {
        match self.ask(method, params).await? {
            Ok(v) => Ok(Ok(v)),
            Err(CallError::Rejected { code, description, .. }) => {
                tracing::warn!(method = method.as_str(), code, description, "read refused");
                Ok(Ok(Value::Null))
            }
            Err(CallError::Transport(e)) => Ok(Err(e.to_string())),
        }
    }

    /// A direct read call whose refusal is an answer of its own (`Ok(Err(Rejected))`, e.g.
    /// provision's read of a field before it adds list values); a read whose outcome stays
    /// unknown after [`ATTEMPTS`] is `Ok(Err(Transport(..)))`.
    pub async fn ask(
        &self,
        method: Method,
        params: &Value,
    ) -> Result<Result<Value, CallError>, TransportError> {
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                self.portal.pause(retry_pause(attempt)).await?;
            }
            let call = match self.ride {
                Some(wait) if attempt == 0 => self.portal.call_riding(method, params.clone(), wait),
                _ => self.portal.call(method, params.clone()),
            };
            match self.unless_stopped(method.as_str(), call).await? {
                Ok(v) => return Ok(Ok(v)),
                Err(e @ CallError::Rejected { .. }) => return Ok(Err(e)),
                Err(CallError::Transport(e)) if e.is_fatal() => return Err(e),
                Err(CallError::Transport(e)) => {
                    tracing::warn!(method = method.as_str(), error = %e, "read failed; trying again");
                    last = Some(e);
                }
            }
        }
        Ok(Err(CallError::Transport(last.unwrap_or(TransportError::Ambiguous {
            method: method.to_string(),
            reason: "no answer".into(),
        }))))
    }

    /// Independent reads of `method`, at once (each a task: as many in flight as the portal
    /// allows); the answers in the order of `params`. Every read is waited for, even after one
    /// stopped the run; the first stop is returned.
    pub async fn many(
        &self,
        method: Method,
        params: Vec<Value>,
    ) -> Result<Vec<Result<Value, String>>, TransportError> {
        if let [one] = params.as_slice() {
            return Ok(vec![self.call(method, one).await?]);
        }
        let mut reads = tokio::task::JoinSet::new();
        for (i, p) in params.into_iter().enumerate() {
            let me = self.clone();
            reads.spawn(async move { (i, me.call(method, &p).await) });
        }
        let mut answers: Vec<(usize, Result<Value, String>)> = Vec::with_capacity(reads.len());
        let mut stop = None;
        while let Some(joined) = reads.join_next().await {
            match joined {
                Ok((i, Ok(answer))) => answers.push((i, answer)),
                Ok((_, Err(s))) => stop = stop.or(Some(s)),
                Err(e) => answers.push((usize::MAX, Err(format!("a read task failed: {e}")))),
            }
        }
        if let Some(s) = stop {
            return Err(s);
        }
        answers.sort_by_key(|(i, _)| *i);
        Ok(answers.into_iter().map(|(_, a)| a).collect())
    }

    /// Read-only `commands`, at most [`CALLS_PER_REQUEST`] a `batch`: each one's answer in
    /// order, and the requests made. Commands that did not run (or whose request's answer was
    /// lost) are asked again under the one rule; a request refused as too large (413) is asked
    /// again in halves. `Ok(Err(why))` when some still have no answer.
    pub async fn batch(
        &self,
        commands: &[Command],
    ) -> Result<(Result<Vec<BatchRead>, String>, u64), TransportError> {
        let mut out: Vec<Option<BatchRead>> = vec![None; commands.len()];
        let mut requests = 0;
        let mut per = CALLS_PER_REQUEST;
        let mut todo: Vec<usize> = (0..commands.len()).collect();
        let mut last = String::new();
        let mut attempt = 0;
        while !todo.is_empty() {
            if attempt >= ATTEMPTS {
                return Ok((Err(last), requests));
            }
            if attempt > 0 {
                self.portal.pause(retry_pause(attempt)).await?;
            }
            attempt += 1;
            let mut again = Vec::new();
            let mut shrunk = false;
            for part in todo.chunks(per) {
                let cmds: Vec<(String, Command)> =
                    part.iter().map(|i| (format!("q{i}"), commands[*i].clone())).collect();
                requests += 1;
                match self.unless_stopped(Method::Batch.as_str(), self.portal.send(cmds, false)).await? {
                    Ok(batch) => {
                        for i in part {
                            let key = format!("q{i}");
                            match batch.get(&key) {
                                Some(CommandOutcome::Done(v)) => {
                                    out[*i] =
                                        Some(BatchRead::Done(v.clone(), batch.totals.get(&key).copied()))
                                }
                                Some(CommandOutcome::Failed { code, description }) => {
                                    out[*i] = Some(BatchRead::Refused {
                                        code: code.clone(),
                                        description: description.clone(),
                                    })
                                }
                                _ => {
                                    last = "a command did not run".into();
                                    again.push(*i);
                                }
                            }
                        }
                    }
                    Err(TransportError::TooLarge { bytes, .. }) if part.len() > 1 => {
                        // Never ran: the same reads again, fewer to a request, without a pause.
                        tracing::info!(bytes, commands = part.len(), "read too large; asking in halves");
                        per = (part.len() / 2).max(1);
                        again.extend_from_slice(part);
                        shrunk = true;
                    }
                    Err(TransportError::TooLarge { bytes, .. }) => {
                        return Ok((
                            Err(format!("one read is {bytes} bytes, more than the portal accepts")),
                            requests,
                        ));
                    }
                    Err(e) if e.is_fatal() => return Err(e),
                    Err(e) => {
                        tracing::warn!(error = %e, "batched read failed; trying again");
                        last = e.to_string();
                        again.extend_from_slice(part);
                    }
                }
            }
            if shrunk {
                attempt -= 1; // a 413 is not a failed try: the reads never ran
            }
            again.sort_unstable();
            todo = again;
        }
        let answers = out.into_iter().map(|r| r.unwrap_or(BatchRead::Done(Value::Null, None))).collect();
        Ok((Ok(answers), requests))
    }
}
