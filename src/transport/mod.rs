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

pub mod auth;
pub mod batch;
pub mod client;
pub mod error;
pub mod flight;
pub mod limiter;
pub mod operating;
mod resolve;
pub mod shutdown;

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::time::Instant;

use crate::bitrix::Method;
use crate::payload::Command;

pub use auth::OnRefresh;
pub use batch::{BatchOutcome, CommandOutcome, NotExecuted, Pack, Packer, TimeInfo, command_key};
pub use client::{ConfigError, Credentials, OAuth, Secret, Webhook};
pub use error::{CallError, Class, FatalKind, TransportError};
pub use limiter::{LimiterConfig, Plan, Rate};
pub use operating::OperatingConfig;
pub use shutdown::Shutdown;

/// Everything a [`Transport`] needs.
#[derive(Clone)]
pub struct TransportConfig {
    pub credentials: Credentials,
    pub limiter: LimiterConfig,
    pub operating: OperatingConfig,
    /// Client timeout; above the portal's 60 s request cap so slow requests still answer.
    pub timeout: Duration,
    /// Longest a single call keeps retrying requests refused by limits before giving up.
    pub max_limit_wait: Duration,
    /// Longest a single call keeps retrying when the portal cannot be reached at all.
    pub max_connect_wait: Duration,
    /// The same before the portal ever answered: a wrong URL or a portal that is down is
    /// reported within seconds, not after a minute of retries.
    pub first_connect_wait: Duration,
    /// Byte budget of one batch body.
    pub max_batch_bytes: usize,
    /// Called with each rotated OAuth refresh token.
    pub on_refresh: Option<OnRefresh>,
    /// The most requests on the wire at once (`--max-in-flight`, default 8; 1 sends one
    /// request at a time). The number in flight adapts to latency below it.
    pub max_in_flight: usize,
}

/// Default of [`TransportConfig::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;

/// Sets the most requests in flight at once (at least 1).
pub fn configure_in_flight(config: &mut TransportConfig, n: usize) {
    config.max_in_flight = n.max(1);
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field("credentials", &self.credentials)
            .field("limiter", &self.limiter)
            .field("operating", &self.operating)
            .field("timeout", &self.timeout)
            .field("max_limit_wait", &self.max_limit_wait)
            .field("max_connect_wait", &self.max_connect_wait)
            .field("first_connect_wait", &self.first_connect_wait)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("max_in_flight", &self.max_in_flight)
            .finish_non_exhaustive()
    }
}

impl TransportConfig {
    /// Defaults for `plan`: 120 s timeout, 480 s operating budget, 30 min max limit wait.
    pub fn new(credentials: Credentials, plan: Plan) -> TransportConfig {
        TransportConfig {
            credentials,
            limiter: LimiterConfig::new(plan.rate()),
            operating: OperatingConfig::default(),
            timeout: Duration::from_secs(120),
            max_limit_wait: Duration::from_secs(30 * 60),
            max_connect_wait: Duration::from_secs(60),
            first_connect_wait: Duration::from_secs(5),
            max_batch_bytes: batch::DEFAULT_MAX_BYTES,
            on_refresh: None,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
        }
    }
}

/// Counters for progress lines and the final report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TransportStats {
    /// HTTP requests sent (retries included).
    pub requests: u64,
    /// `QUERY_LIMIT_EXCEEDED` refusals seen.
    pub query_limit_refusals: u64,
    /// `OPERATION_TIME_LIMIT` refusals seen (whole requests and single commands).
    pub operating_refusals: u64,
    /// Time spent waiting on limits after a refusal or for the operating budget.
    pub limit_wait: Duration,
    /// Current request rate (requests/s).
    pub rate: f64,
    /// OAuth refreshes done.
    pub refreshes: u64,
    /// Requests on the wire now, the current limit, and the most there were at once.
    pub in_flight: usize,
    pub in_flight_limit: usize,
    pub peak_in_flight: usize,
    /// The seconds the operating budget alone needs for the processing seen so far (the
    /// method that needs the most).
    pub operating_ideal_secs: f64,
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    operating_refusals: AtomicU64,
    limit_wait_us: AtomicU64,
    refreshes: AtomicU64,
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
}

/// An accepted answer: the parsed JSON body, and the operating reservation of the request,
/// given back once the caller has recorded the per-command figures.
struct Accepted<'a> {
    body: Value,
    _reservation: operating::Reservation<'a>,
}

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
        Ok(Transport {
            inner: Arc::new(Inner {
                limiter: limiter::Limiter::new(config.limiter),
                operating: operating::Operating::new(config.operating),
                flight: flight::Flight::new(config.max_in_flight),
                counters: Counters::default(),
                http,
                auth,
                config,
                shutdown: Shutdown::new(),
                contacted: AtomicBool::new(false),
                too_large_at: AtomicUsize::new(usize::MAX),
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

    /// Sends one request until it is accepted or cannot be: paces it, retries it while the
    /// portal says it did not run, refreshes an expired token once per generation.
    async fn exchange(
        &self,
        method: &str,
        params: Map<String, Value>,
        bills: &[(&str, usize)],
    ) -> Result<Accepted<'_>, TransportError> {
        let inner = &*self.inner;
        let started = Instant::now();
        let mut refused = 0u32;
        let mut refresh_attempts = 0u32;
        loop {
            let (reservation, waited) = self.unless_stopped(method, inner.operating.wait(bills)).await?;
            self.add_wait(waited);
            let slot = self.unless_stopped(method, inner.flight.acquire()).await?;
            self.unless_stopped(method, inner.limiter.until_ready()).await?;
            let token = match &inner.auth {
                Some(a) => Some(self.unless_stopped(method, a.current()).await?),
                None => None,
            };
            let req = client::prepare(
                &inner.config.credentials,
                token.as_ref().map(|t| &t.0),
                method,
                params.clone(),
            );
            let known_too_large = inner.too_large_at.load(Ordering::Relaxed);
            if known_too_large != usize::MAX {
                // The portal refused a body this large already: do not send it again.
                let bytes = body_size(&req.body);
                if bytes >= known_too_large {
                    return Err(TransportError::TooLarge { method: method.into(), bytes });
                }
            }
            if inner.shutdown.is_stopped() {
                return Err(interrupted(method, false));
            }
            inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            let sent = tokio::select! {
                biased;
                _ = inner.shutdown.abandoned() => {
                    tracing::warn!(method, "abandoning the request in flight; its rows are looked up on the next run");
                    reservation.spent();
                    return Err(interrupted(method, true));
                }
                sent = client::post_json(&inner.http, &req) => sent,
            };
            let answer = match sent {
                Ok(a) => {
                    slot.landed(inner.limiter.current_rate());
                    inner.contacted.store(true, Ordering::Relaxed);
                    a
                }
                Err(e) if e.not_sent => {
                    drop((slot, reservation));
                    // Nothing reached the portal: back off and resend, for a while. Before the
                    // portal ever answered that is a few seconds (a wrong URL, a portal that is
                    // down); later a minute (a network blip). Then give up: it is not a limit.
                    refused += 1;
                    let contacted = inner.contacted.load(Ordering::Relaxed);
                    let limit = if contacted {
                        inner.config.max_connect_wait
                    } else {
                        inner.config.first_connect_wait
                    };
                    let elapsed = started.elapsed();
                    if elapsed >= limit {
                        return Err(TransportError::Unreachable {
                            host: self.host(),
                            reason: e.message,
                            attempts: refused,
                            advice: if contacted {
                                "the portal stopped answering: is the portal up? is the network down? \
                                 Run again to continue"
                            } else {
                                "is the URL right? is the portal up?"
                            },
                        });
                    }
                    tracing::warn!(method, error = %e.message, "could not connect to the portal; retrying");
                    let delay =
                        inner.limiter.backoff(refused).min(limit - elapsed + Duration::from_millis(10));
                    self.unless_stopped(method, tokio::time::sleep(delay)).await?;
                    continue;
                }
                Err(e) => {
                    drop(slot);
                    reservation.spent();
                    tracing::warn!(method, error = %e.message, "request failed; its outcome is unknown");
                    return Err(TransportError::Ambiguous { method: method.into(), reason: e.message });
                }
            };
            let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok().filter(Value::is_object);
            let code = parsed.as_ref().and_then(|v| error_text(v.get("error")));
            let description =
                parsed.as_ref().and_then(|v| error_text(v.get("error_description"))).unwrap_or_default();
            let class = error::classify(answer.status, code.as_deref(), parsed.is_some());
            let code_or_status = code.clone().unwrap_or_else(|| format!("HTTP {}", answer.status));
            tracing::debug!(method, status = answer.status, ?class, "portal answered");
            match class {
                Class::Success => {
                    let body = parsed.unwrap_or_default();
                    inner.limiter.accepted();
                    let time = body.get("time").and_then(TimeInfo::from_value);
                    let commands = bills.iter().find(|(m, _)| *m == method).map_or(1, |(_, n)| *n);
                    inner.operating.observe(method, time.as_ref(), commands);
                    return Ok(Accepted { body, _reservation: reservation });
                }
                Class::QueryLimit => {
                    drop(reservation);
                    refused += 1;
                    let delay = inner.limiter.refused();
                    self.back_off(method, refused, started, &code_or_status, delay).await?;
                }
                Class::OperatingLimit => {
                    drop(reservation);
                    refused += 1;
                    inner.counters.operating_refusals.fetch_add(1, Ordering::Relaxed);
                    let park = inner.operating.blocked(method);
                    // The park itself is waited at the top of the loop.
                    self.check_budget(method, refused, started, &code_or_status, park)?;
                }
                Class::ExpiredToken => {
                    drop(reservation);
                    refresh_attempts += 1;
                    // No OAuth to refresh (a webhook), or a fresh token expiring again:
                    // something else is wrong, stop.
                    let (Some(a), Some((_, generation)), true) = (&inner.auth, token, refresh_attempts <= 2)
                    else {
                        return Err(fatal(
                            FatalKind::Auth,
                            answer.status,
                            &code_or_status,
                            &description,
                            method,
                        ));
                    };
                    let refreshed = tokio::select! {
                        biased;
                        _ = inner.shutdown.abandoned() => return Err(interrupted(method, false)),
                        r = a.refresh(generation) => r?,
                    };
                    if refreshed {
                        inner.counters.refreshes.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Class::Fatal(kind) => {
                    return Err(fatal(kind, answer.status, &code_or_status, &description, method));
                }
                Class::TooLarge => {
                    let bytes = body_size(&req.body);
                    inner.too_large_at.fetch_min(bytes, Ordering::Relaxed);
                    tracing::warn!(method, bytes, "the portal refused the request as too large (HTTP 413)");
                    return Err(TransportError::TooLarge { method: method.into(), bytes });
                }
                Class::Permanent => {
                    return Err(TransportError::Refused {
                        method: method.into(),
                        status: answer.status,
                        code: code_or_status,
                        description,
                    });
                }
                Class::Ambiguous => {
                    reservation.spent();
                    let reason = ambiguous_reason(
                        answer.status,
                        answer.content_type.as_deref(),
                        parsed.is_some(),
                        &code_or_status,
                    );
                    tracing::warn!(method, status = answer.status, %reason, "answer unusable; outcome unknown");
                    return Err(TransportError::Ambiguous { method: method.into(), reason });
                }
            }
        }
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

    fn add_wait(&self, d: Duration) {
        if !d.is_zero() {
            self.inner.counters.limit_wait_us.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
        }
    }

    /// Gives up if waiting `next` more would exceed the maximum limit wait.
    fn check_budget(
        &self,
        method: &str,
        attempts: u32,
        started: Instant,
        last_code: &str,
        next: Duration,
    ) -> Result<(), TransportError> {
        let waited = started.elapsed();
        if waited + next > self.inner.config.max_limit_wait {
            return Err(TransportError::Exhausted {
                method: method.into(),
                attempts,
                waited,
                last_code: last_code.into(),
            });
        }
        Ok(())
    }

    async fn back_off(
        &self,
        method: &str,
        attempts: u32,
        started: Instant,
        last_code: &str,
        delay: Duration,
    ) -> Result<(), TransportError> {
        self.check_budget(method, attempts, started, last_code, delay)?;
        self.add_wait(delay);
        self.unless_stopped(method, tokio::time::sleep(delay)).await
    }
}

fn interrupted(method: &str, in_flight: bool) -> TransportError {
    TransportError::Interrupted { method: method.into(), in_flight }
}

/// Bytes of a JSON request body as sent.
fn body_size(body: &Value) -> usize {
    serde_json::to_vec(body).map_or(0, |b| b.len())
}

/// The portal's `error` / `error_description` as text, any URL in it masked (a proxy's or the
/// portal's message may echo the request's URL, webhook code and all).
fn error_text(v: Option<&Value>) -> Option<String> {
    let text = match v? {
        Value::String(s) => s.clone(),
        Value::Null => return None,
        other => other.to_string(),
    };
    let lower = text.to_ascii_lowercase();
    Some(if lower.contains("://") || lower.contains("/rest/") { client::redact_text(&text) } else { text })
}

fn fatal(kind: FatalKind, status: u16, code: &str, description: &str, method: &str) -> TransportError {
    let advice = match kind {
        FatalKind::Auth => {
            "the portal refused the credentials: check the webhook URL or tokens and their scopes"
        }
        FatalKind::Overload => {
            "the portal is blocked for this app by Bitrix24 support (OVERLOAD_LIMIT); contact support"
        }
        FatalKind::PortalClosed => "the portal is closed",
    };
    let message = if description.is_empty() {
        format!("{method}: {advice}")
    } else {
        format!("{method}: {advice}: {description}")
    };
    TransportError::Fatal { kind, status, code: code.into(), message }
}

fn ambiguous_reason(status: u16, content_type: Option<&str>, json: bool, code: &str) -> String {
    if !json {
        format!("HTTP {status} with a non-JSON body ({})", content_type.unwrap_or("no content type"))
    } else {
        format!("HTTP {status} {code}")
    }
}
