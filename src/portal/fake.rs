//! A scripted portal for unit tests of the send loop and the run loop: no HTTP, no clock.
//!
//! Each request the loop sends takes the next [`Scripted`] answer (or [`Scripted::Run`] when
//! the script is empty); a command that runs creates an item with the next ID, kept with its
//! `originatorId`/`originId`, so that a lookup by key (`crm.item.list` with `@originId`) finds
//! what was created, as a portal's would. Requests are logged for assertions. Must not be used
//! outside tests (it is compiled for tests only).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

use super::{Answer, Portal};
use crate::bitrix::Method;
use crate::payload::Command;
use crate::transport::{BatchOutcome, CallError, CommandOutcome, NotExecuted, Shutdown, TransportError};

/// What the portal does with one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scripted {
    /// Runs every command.
    Run,
    /// Commands at these positions (0-based) did not run (a limit inside the batch); the rest run.
    NotRun(Vec<usize>),
    /// The command at this position is refused with `code`; the rest run.
    Refuse(usize, &'static str),
    /// The request runs but its answer is lost (a dropped connection after the portal did the work).
    LostAfterRun,
    /// The request is lost before the portal saw it (nothing runs), answered as ambiguous.
    LostBeforeRun,
    /// Refused as too large (413) when it holds more than this many commands; otherwise runs.
    TooLargeAbove(usize),
    /// A fatal refusal (the webhook's credentials): nothing runs, the run stops.
    Fatal,
}

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seen {
    pub(crate) commands: usize,
    pub(crate) alone: bool,
}

#[derive(Default)]
struct State {
    script: VecDeque<Scripted>,
    /// (id, originatorId, originId) of every item created.
    items: Vec<(u64, String, String)>,
    requests: Vec<Seen>,
    reads: Vec<Method>,
}

/// The scripted portal.
pub(crate) struct ScriptedPortal {
    state: Mutex<State>,
    shutdown: Shutdown,
    in_flight: usize,
    /// Reads said to be waiting for a ride ([`Portal::reserve_riders`]), counted once.
    riders: std::sync::atomic::AtomicUsize,
}

impl ScriptedPortal {
    pub(crate) fn new(script: Vec<Scripted>) -> ScriptedPortal {
        ScriptedPortal {
            state: Mutex::new(State { script: script.into(), ..Default::default() }),
            shutdown: Shutdown::new(),
            in_flight: 1,
            riders: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Keeps up to `n` requests in flight.
    pub(crate) fn with_in_flight(mut self, n: usize) -> ScriptedPortal {
        self.in_flight = n;
        self
    }

    /// Says `n` reads wait to ride in the next batch.
    pub(crate) fn with_riders(self, n: usize) -> ScriptedPortal {
        self.riders.store(n, std::sync::atomic::Ordering::Relaxed);
        self
    }

    /// The write requests sent so far.
    pub(crate) fn requests(&self) -> Vec<Seen> {
        self.lock().requests.clone()
    }

    /// How many items exist (created once each, or more: a duplicate shows here).
    pub(crate) fn items(&self) -> Vec<(u64, String, String)> {
        self.lock().items.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn run(state: &mut State, cmd: &Command) -> CommandOutcome {
        if cmd.method.is_update() {
            let id = cmd.params.get("id").and_then(Value::as_u64).unwrap_or(0);
            return CommandOutcome::Done(json!({"item": {"id": id}}));
        }
        let fields = cmd.params.get("fields").cloned().unwrap_or(Value::Null);
        let text = |k: &str| fields.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        let id = state.items.len() as u64 + 1;
        state.items.push((id, text("originatorId"), text("originId")));
        CommandOutcome::Done(json!({"item": {"id": id}}))
    }

    fn answer(&self, commands: &[(String, Command)], alone: bool) -> Result<BatchOutcome, TransportError> {
        let mut state = self.lock();
        state.requests.push(Seen { commands: commands.len(), alone });
        let script = state.script.pop_front().unwrap_or(Scripted::Run);
        let lost = || TransportError::Ambiguous {
            method: Method::Batch.to_string(),
            reason: "connection closed before message completed".into(),
        };
        let mut outcome = BatchOutcome::default();
        match script {
            Scripted::LostBeforeRun => return Err(lost()),
            Scripted::Fatal => {
                return Err(TransportError::Fatal {
                    kind: crate::transport::FatalKind::Auth,
                    status: 401,
                    code: "INVALID_CREDENTIALS".into(),
                    message: "Invalid request credentials".into(),
                });
            }
            Scripted::TooLargeAbove(n) if commands.len() > n => {
                return Err(TransportError::TooLarge { method: Method::Batch.to_string(), bytes: 2_000_000 });
            }
            _ => {}
        }
        for (i, (key, cmd)) in commands.iter().enumerate() {
            let one = match &script {
                Scripted::NotRun(at) if at.contains(&i) => CommandOutcome::NotExecuted(NotExecuted::Skipped),
                Scripted::Refuse(at, code) if *at == i => {
                    CommandOutcome::Failed { code: code.to_string(), description: format!("refused: {code}") }
                }
                _ => Self::run(&mut state, cmd),
            };
            outcome.commands.push((key.clone(), one));
        }
        if script == Scripted::LostAfterRun {
            return Err(lost());
        }
        Ok(outcome)
    }

    fn read(&self, method: Method, params: &Value) -> Result<Value, CallError> {
        let mut state = self.lock();
        state.reads.push(method);
        match method {
            Method::CrmItemList => {
                let filter = params.get("filter").cloned().unwrap_or(Value::Null);
                let origin = filter.get("=originatorId").and_then(Value::as_str).unwrap_or_default();
                let keys: Vec<&str> = filter
                    .get("@originId")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let items: Vec<Value> = state
                    .items
                    .iter()
                    .filter(|(_, o, k)| o == origin && keys.contains(&k.as_str()))
                    .map(|(id, o, k)| json!({"id": id, "originatorId": o, "originId": k}))
                    .collect();
                Ok(json!({ "items": items }))
            }
            _ => Ok(Value::Null),
        }
    }
}

impl Portal for ScriptedPortal {
    fn send(
        &self,
        commands: Vec<(String, Command)>,
        alone: bool,
    ) -> Answer<Result<BatchOutcome, TransportError>> {
        let answer = self.answer(&commands, alone);
        Box::pin(async move {
            tokio::task::yield_now().await;
            answer
        })
    }

    fn call(&self, method: Method, params: Value) -> Answer<Result<Value, CallError>> {
        let answer = self.read(method, &params);
        Box::pin(async move { answer })
    }

    fn pause(&self, _d: Duration) -> Answer<Result<(), TransportError>> {
        Box::pin(async { Ok(()) })
    }

    fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    fn address(&self) -> String {
        "https://fake.bitrix24.test".into()
    }

    fn in_flight_limit(&self) -> usize {
        self.in_flight
    }

    fn reserve_riders(&self) -> usize {
        self.riders.swap(0, std::sync::atomic::Ordering::Relaxed)
    }
}
