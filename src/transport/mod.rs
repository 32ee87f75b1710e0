//! The transport: everything between a list of commands and the portal's answer to them.
//! One [`Transport`] per portal; cheap to clone, shared by the run's tasks.
//!
//! Owns: pacing (rate limiter, operating budget), sending (`client`), reading answers
//! (`batch`, `error`), OAuth refresh (`auth`) and the retry policy: requests known not to have
//! run (503 `QUERY_LIMIT_EXCEEDED`, 429 `OPERATION_TIME_LIMIT`, an expired token) are resent
//! here, bounded by a maximum wait; a request that may have run (timeout, dropped connection,
//! 5xx, a non-JSON body) is NEVER resent: it comes back as [`TransportError::Ambiguous`] so
//! the run marks its rows `unknown`. A portal that cannot be reached at the first request is
//! given up on within seconds ([`TransportError::Unreachable`], never a rate-limit message); a
//! body the web server refuses as too large (413) comes back as [`TransportError::TooLarge`].
//! Several requests may be in flight at once (`flight`: between 1 and `max_in_flight`,
//! adapted to the latency the portal shows); each still passes the operating budget, the gate
//! and the rate limiter, in that order, right before it is sent. Callers that want overlap
//! call from several tasks; answers come back in any order.
//! Every wait and every request is `select!`ed against the [`Shutdown`] handle: a first signal
//! ends waits at once and starts nothing new, a second one abandons the request in flight
//! ([`TransportError::Interrupted`]). Must not know about rows, the journal or mappings.
//!
//! Split by role: this file ([`Transport`] and its public calls), `config` (what it is built
//! from, its counters), `exchange` (one request: pacing, sending, retries, classification),
//! and the folders' other files named above.

pub mod auth;
pub mod batch;
pub mod client;
mod config;
pub mod error;
mod exchange;
pub mod flight;
pub mod limiter;
pub mod operating;
mod resolve;
mod riders;
pub mod shared_pace;
pub mod shutdown;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::bitrix::Method;
use crate::payload::Command;

pub use auth::OnRefresh;
pub use batch::{BatchOutcome, CommandOutcome, NotExecuted, Pack, Packer, TimeInfo, command_key};
pub use client::{ConfigError, Credentials, OAuth, Secret, Webhook};
use config::Counters;
pub use config::{DEFAULT_MAX_IN_FLIGHT, TransportConfig, TransportStats, configure_in_flight};
pub use error::{CallError, Class, FatalKind, TransportError};
use exchange::interrupted;
pub use limiter::{LimiterConfig, Plan, Rate};
pub use operating::OperatingConfig;
pub use shared_pace::PaceJob;
pub use shutdown::Shutdown;

/// A batch command's refusal that every other row would get too (a credential's kind or
/// scopes, the plan: [`error::command_stops_the_run`]), as the error that stops the run; `None`
/// for a refusal of the row itself.
pub fn stopping_refusal(method: &str, code: &str, description: &str) -> Option<TransportError> {
    error::command_stops_the_run(code, description)
        .map(|kind| exchange::fatal(kind, 400, code, description, method))
}

/// Joins the portal's shared pace (issue 23) for `job`; `None`, said once in the log, when its
/// file cannot be used (the process then paces by itself).
fn join_shared_pace(credentials: &Credentials, job: &PaceJob) -> Option<Arc<shared_pace::SharedPace>> {
    let (portal, identity) = match credentials {
        Credentials::Webhook(w) => (w.address(), w.identity()),
        Credentials::OAuth(o) => (client::address(&o.endpoint), format!("app {}", o.client_id)),
    };
    let credential = shared_pace::credential_digest(&identity);
    match shared_pace::SharedPace::open(
        shared_pace::pace_path(&portal),
        &portal,
        &credential,
        &job.job,
        &job.journal,
    ) {
        Ok(p) => Some(Arc::new(p)),
        Err(e) => {
            tracing::warn!(error = %e, "pacing this process alone");
            None
        }
    }
}

/// The portal connection: one request stream, paced and classified.
#[derive(Clone, Debug)]
pub struct Transport {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: TransportConfig,
    http: reqwest::Client,
    limiter: limiter::Limiter,
    operating: operating::Operating,
    flight: flight::Flight,
    auth: Option<auth::Auth>,
    counters: Counters,
    shutdown: Shutdown,
    /// Set by the first HTTP answer of any kind: the portal is there.
    contacted: AtomicBool,
    /// The smallest body (bytes) the portal refused with 413; `usize::MAX` until one was.
    too_large_at: AtomicUsize,
    /// Reads waiting to ride in the next batch (issue 23).
    riders: riders::Riders,
}

/// An accepted answer: the parsed JSON body, and the operating reservation of the request,
/// given back once the caller has recorded the per-command figures.
struct Accepted<'a> {
    body: Value,
    _reservation: operating::Reservation<'a>,
}

/// Room a batch keeps for riding reads (a field list or template list request is well under).
const RIDER_BYTES: usize = 16 * 1024;

impl Transport {
    /// Builds the HTTP client and the limiters. Fails only if TLS cannot be set up.
    pub fn new(config: TransportConfig) -> Result<Transport, ConfigError> {
        let http = client::build_http(config.timeout)?;
        let auth = match &config.credentials {
            Credentials::OAuth(o) => {
                Some(auth::Auth::new(o.clone(), http.clone(), config.on_refresh.clone()))
            }
            Credentials::Webhook(_) => None,
        };
        let shared = config.shared_pace.as_ref().and_then(|job| join_shared_pace(&config.credentials, job));
        Ok(Transport {
            inner: Arc::new(Inner {
                limiter: limiter::Limiter::new(config.limiter).with_shared(shared.clone()),
                operating: operating::Operating::new(config.operating).with_shared(shared),
                flight: flight::Flight::new(config.max_in_flight),
                counters: Counters::default(),
                http,
                auth,
                config,
                shutdown: Shutdown::new(),
                contacted: AtomicBool::new(false),
                too_large_at: AtomicUsize::new(usize::MAX),
                riders: riders::Riders::default(),
            }),
        })
    }

    /// The handle that stops this transport's waits and requests (Ctrl-C, SIGTERM).
    pub fn shutdown(&self) -> Shutdown {
        self.inner.shutdown.clone()
    }

    /// Sleeps `d` (a pause between retries of the caller's own), ending early with
    /// [`TransportError::Interrupted`] when the run is told to stop.
    pub async fn pause(&self, d: Duration) -> Result<(), TransportError> {
        self.unless_stopped("a retry pause", tokio::time::sleep(d)).await
    }

    /// A packer for this portal's byte budget; `max_commands` is capped at 50.
    pub fn packer<T>(&self, max_commands: usize) -> Packer<T> {
        Packer::new(max_commands, self.inner.config.max_batch_bytes)
    }

    /// The byte budget of one batch body (the packer's bound).
    pub fn max_batch_bytes(&self) -> usize {
        self.inner.config.max_batch_bytes
    }

    pub fn stats(&self) -> TransportStats {
        let c = &self.inner.counters;
        TransportStats {
            requests: c.requests.load(Ordering::Relaxed),
            query_limit_refusals: self.inner.limiter.refusals(),
            operating_refusals: c.operating_refusals.load(Ordering::Relaxed),
            limit_wait: Duration::from_micros(c.limit_wait_us.load(Ordering::Relaxed)),
            rate: self.inner.limiter.current_rate(),
            refreshes: c.refreshes.load(Ordering::Relaxed),
            in_flight: self.inner.flight.in_flight().0,
            in_flight_limit: self.inner.flight.in_flight().1,
            peak_in_flight: self.inner.flight.peak(),
            operating_ideal_secs: self.inner.operating.ideal_secs(),
        }
    }

    /// Seconds of operating budget left per method (methods seen so far, by name).
    pub fn operating_left(&self) -> Vec<(String, f64)> {
        self.inner.operating.left()
    }

    // ----- issue 22 (the HTML report): the settings a report shows -----

    /// The operating budget and window this transport paces under.
    pub fn operating_config(&self) -> OperatingConfig {
        self.inner.operating.config()
    }

    /// The most requests this transport keeps in flight (`--max-in-flight`).
    pub fn max_in_flight(&self) -> usize {
        self.inner.config.max_in_flight
    }

    /// How many requests a caller should keep in flight now (the adaptive limit).
    pub fn in_flight_limit(&self) -> usize {
        self.inner.flight.in_flight().1
    }

    /// The most commands of `method` a batch should carry for the operating budget (see
    /// [`operating::Operating::fitting_commands`]); `None` when the budget sets no bound yet.
    pub fn fitting_commands(&self, method: &str) -> Option<usize> {
        self.inner.operating.fitting_commands(method)
    }

    /// Sends `cmds` as one request: a `batch` (at most 50 commands within the byte budget,
    /// unique keys), or, for a single command too large for a batch, a direct call.
    /// Limit refusals are retried inside; each command's fate comes back in [`BatchOutcome`].
    pub async fn call_batch(&self, cmds: &[(String, Command)]) -> Result<BatchOutcome, TransportError> {
        if cmds.is_empty() {
            return Ok(BatchOutcome::default());
        }
        if cmds.len() > batch::MAX_COMMANDS {
            return Err(TransportError::InvalidBatch(format!(
                "{} commands; a batch holds at most {}",
                cmds.len(),
                batch::MAX_COMMANDS
            )));
        }
        let mut seen = HashSet::new();
        if let Some((dup, _)) = cmds.iter().find(|(k, _)| !seen.insert(k.as_str())) {
            return Err(TransportError::InvalidBatch(format!("duplicate command key `{dup}`")));
        }
        // Reads waiting to ride take the room the batch leaves (issue 23), never its bytes.
        let riders = if batch::encode_batch(cmds).1 + RIDER_BYTES <= self.inner.config.max_batch_bytes {
            self.inner.riders.take(batch::MAX_COMMANDS - cmds.len())
        } else {
            Vec::new()
        };
        if riders.is_empty() {
            return self.send_batch(cmds).await;
        }
        let mut all = cmds.to_vec();
        all.extend(riders.iter().map(|r| (r.key.clone(), r.command.clone())));
        let answer = self.send_batch(&all).await;
        riders::deliver(riders, &answer);
        answer
    }

    /// Reads waiting to ride that no batch being packed has kept room for yet; the caller's
    /// batch keeps that room (each rider is counted once).
    pub fn reserve_riders(&self) -> usize {
        self.inner.riders.reserve()
    }

    /// A read that rides in the next write batch when one leaves within `wait` (it then costs
    /// no request), else goes as a direct call ([`Transport::call`]); one whose batch did not
    /// answer for it goes alone too.
    pub async fn call_riding(
        &self,
        method: Method,
        params: &Value,
        wait: Duration,
    ) -> Result<Value, CallError> {
        let (key, mut rx) = self.inner.riders.board(method, params.clone());
        tokio::select! {
            delivered = &mut rx => {
                if let Ok(Some(answer)) = delivered {
                    return answer;
                }
            }
            _ = tokio::time::sleep(wait) => {
                if !self.inner.riders.leave(&key)
                    && let Ok(Some(answer)) = rx.await
                {
                    return answer;
                }
            }
        }
        self.call(method.as_str(), params).await
    }

    /// One `batch` request of `cmds` (checked: at most 50, keys unique).
    async fn send_batch(&self, cmds: &[(String, Command)]) -> Result<BatchOutcome, TransportError> {
        let (cmd_map, bytes) = batch::encode_batch(cmds);
        if bytes > self.inner.config.max_batch_bytes {
            if let [(key, command)] = cmds {
                return self.call_alone(key, command).await;
            }
            return Err(TransportError::InvalidBatch(format!(
                "{bytes} bytes over the budget of {}",
                self.inner.config.max_batch_bytes
            )));
        }
        let mut methods: Vec<(&str, usize)> = vec![(Method::Batch.as_str(), cmds.len())];
        for (_, c) in cmds {
            match methods.iter_mut().skip(1).find(|(m, _)| *m == c.method.as_str()) {
                Some((_, n)) => *n += 1,
                None => methods.push((c.method.as_str(), 1)),
            }
        }
        let mut params = Map::new();
        params.insert("halt".into(), json!(0));
        params.insert("cmd".into(), Value::Object(cmd_map));
        let accepted = self.exchange(Method::Batch.as_str(), params, &methods).await?;
        let keys: Vec<&str> = cmds.iter().map(|(k, _)| k.as_str()).collect();
        let outcome = batch::parse_answer(&accepted.body, &keys)
            .map_err(|reason| TransportError::Ambiguous { method: Method::Batch.to_string(), reason })?;
        // Per-command figures bill the command's method; a method the answer gives no figures
        // for is marked seen, so it is not held to one request at a time. Limit refusals park
        // their method, once per batch, after its figures were recorded.
        let mut limited: Vec<&str> = Vec::new();
        for (key, command) in cmds {
            if let Some(CommandOutcome::NotExecuted(NotExecuted::Limited { code })) = outcome.get(key)
                && code.eq_ignore_ascii_case("OPERATION_TIME_LIMIT")
            {
                self.inner.counters.operating_refusals.fetch_add(1, Ordering::Relaxed);
                if !limited.contains(&command.method.as_str()) {
                    limited.push(command.method.as_str());
                }
            }
        }
        for (method, n) in methods.iter().skip(1) {
            let timed =
                cmds.iter().any(|(k, c)| c.method.as_str() == *method && outcome.times.contains_key(k));
            if !timed && !limited.contains(method) {
                self.inner.operating.observe(method, None, *n);
            }
        }
        for (key, command) in cmds {
            if let Some(t) = outcome.times.get(key)
                && (t.operating.is_some() || t.spent().is_some())
            {
                self.inner.operating.observe(command.method.as_str(), Some(t), 1);
            }
        }
        for method in limited {
            self.inner.operating.blocked(method);
        }
        Ok(outcome)
    }

    /// One command sent as a direct call (too large to share a batch, or a batch of it was
    /// refused as too large); a refusal becomes its `Failed` outcome like inside a batch.
    pub async fn call_alone(&self, key: &str, command: &Command) -> Result<BatchOutcome, TransportError> {
        let command = crate::payload::wire_form(command);
        let outcome = match self.call(command.method.as_str(), &command.params).await {
            Ok(result) => CommandOutcome::Done(result),
            Err(CallError::Rejected { code, description, .. }) => {
                CommandOutcome::Failed { code, description }
            }
            Err(CallError::Transport(e)) => return Err(e),
        };
        Ok(BatchOutcome { commands: vec![(key.to_string(), outcome)], ..Default::default() })
    }

    /// A direct call (`crm.item.list`, `user.get`, ...): the answer's `result`, or why not.
    /// Limit refusals are retried inside; an ambiguous failure is returned, never retried.
    pub async fn call(&self, method: &str, params: &Value) -> Result<Value, CallError> {
        let params = match params {
            Value::Object(m) => m.clone(),
            Value::Null => Map::new(),
            other => {
                return Err(CallError::Transport(TransportError::InvalidBatch(format!(
                    "parameters of {method} must be an object, not {other}"
                ))));
            }
        };
        let accepted = self.exchange(method, params, &[(method, 1)]).await?;
        let mut body = accepted.body;
        Ok(body.get_mut("result").map(Value::take).unwrap_or(Value::Null))
    }

    /// Runs `fut` unless (or until) the run is told to stop.
    async fn unless_stopped<T>(
        &self,
        method: &str,
        fut: impl Future<Output = T>,
    ) -> Result<T, TransportError> {
        let shutdown = &self.inner.shutdown;
        if shutdown.is_stopped() {
            return Err(interrupted(method, false));
        }
        tokio::select! {
            biased;
            _ = shutdown.stopped() => Err(interrupted(method, false)),
            v = fut => Ok(v),
        }
    }

    /// The portal's `host[:port]` (never a secret), e.g. for a host-level lock per portal.
    pub fn portal_address(&self) -> String {
        match &self.inner.config.credentials {
            Credentials::Webhook(w) => w.address(),
            Credentials::OAuth(o) => client::address(&o.endpoint),
        }
    }

    /// The portal's host, for messages (never a secret).
    fn host(&self) -> String {
        match &self.inner.config.credentials {
            Credentials::Webhook(w) => w.host().to_string(),
            Credentials::OAuth(o) => o.endpoint.host_str().unwrap_or("").to_string(),
        }
    }
}
