//! The HTTP side: the accept loop (hyper, so a fault can close a connection without an
//! answer), axum routing, auth, and the request pipeline every REST call goes through:
//!
//! 1. route + parse parameters (query string, then a JSON or PHP-style form body over it);
//! 2. auth: webhook `/rest/<user>/<code>/<method>` or OAuth `/rest/<method>` + `auth` (401
//!    `NO_AUTH_FOUND`, 401 `expired_token`);
//! 3. `--overload` (503 `OVERLOAD_LIMIT`), then the leaky bucket of the caller's source
//!    address, whatever credential it uses (503 `QUERY_LIMIT_EXCEEDED`);
//! 4. the fault draw (500, spurious 503, HTML page: all without doing the work);
//! 5. method lookup (404 `ERROR_METHOD_NOT_FOUND`), operating check (429), the work, billing;
//! 6. flush to `--state`, sleep the simulated processing time, then answer, drop or hold;
//!    a batch whose processing would pass `max_request_secs` (the 60 s cap, §1.2) runs the
//!    commands that fit, then answers 504 with nginx's page after the cap: an ambiguous outcome
//!    for the client, as a real cut-off is;
//! 7. (in [`rest`]) the network latency, whatever the answer.
//!
//! Owns no business rules: methods live in `methods`, limits in `limits`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::access::{Access, Via};
use super::clock::iso;
use super::faults::{After, Before, FaultRng};
use super::latency::LatencyRng;
use super::limits::{Limits, OperatingReport};
use super::methods::batch::{self as batchm, Commands, Entry, Sections};
use super::methods::{self, Call, MethodError, Output};
use super::persist::{self, Persist};
use super::phpquery;
use super::plan::PlanLimits;
use super::state::State;
use super::{BatchBilling, SandboxConfig, SandboxError, SandboxHandle, StateSnapshot};

/// Counters behind `/_sandbox/state`.
#[derive(Debug, Default)]
struct Stats {
    total: u64,
    by_method: BTreeMap<String, u64>,
    refusals: BTreeMap<String, u64>,
    faults: BTreeMap<String, u64>,
    /// Simulated operating seconds billed per method (all credentials).
    operating: BTreeMap<String, f64>,
}

/// Issued OAuth tokens.
#[derive(Debug)]
struct OAuthState {
    /// access token -> expiry (clock time), None = never.
    access: HashMap<String, Option<Duration>>,
    /// The one valid refresh token.
    refresh: String,
}

/// Everything mutable, behind one lock (never held across an `.await`).
struct Core {
    state: State,
    limits: Limits,
    stats: Stats,
    faults: FaultRng,
    oauth: OAuthState,
    persist: Option<Persist>,
    /// The plan's limits: start from `SandboxConfig::plan`, changed by `POST /_sandbox/plan`.
    plan: PlanLimits,
}

/// What the server shares with its handlers and the handle.
pub(crate) struct Shared {
    pub config: SandboxConfig,
    core: Mutex<Core>,
    /// The latency RNG, apart from the core lock: drawing it never waits for the work.
    latency: Mutex<LatencyRng>,
}

impl Shared {
    fn core(&self) -> MutexGuard<'_, Core> {
        // A poisoned lock means a handler panicked mid-change; the data is still the best we have.
        self.core.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The network latency of the next REST request (one draw per request, see `latency`).
    fn draw_latency(&self) -> Duration {
        self.latency.lock().unwrap_or_else(|p| p.into_inner()).draw(self.config.latency)
    }

    pub(crate) fn snapshot(&self) -> StateSnapshot {
        let core = self.core();
        StateSnapshot {
            items: core.state.item_counts(),
            users: core.state.user_count(),
            requests: super::RequestCounts {
                total: core.stats.total,
                by_method: core.stats.by_method.clone(),
            },
            refusals: core.stats.refusals.clone(),
            faults: core.stats.faults.clone(),
            duplicates: core.state.duplicates(),
            operating: core.stats.operating.clone(),
            history: core.state.history.counts(),
        }
    }
}

/// The peer's IP address, put on every request by [`serve_connection`]: the key of the
/// request-rate bucket (one per portal and source address, `limits.md`).
#[derive(Clone, Copy, Debug)]
struct SourceAddr(std::net::IpAddr);

/// Marker: close the connection instead of answering.
#[derive(Clone, Copy)]
struct DropConnection;

/// The error the connection service returns to make hyper close the connection.
#[derive(Debug)]
struct ConnectionDropped;

impl std::fmt::Display for ConnectionDropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for ConnectionDropped {}

pub(crate) async fn start(config: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
    let mut persist = match &config.state_file {
        Some(path) => Some(Persist::open(path)?),
        None => None,
    };
    let state = match persist.as_mut() {
        Some(p) => match p.load()? {
            Some(state) => state,
            None => {
                let mut s = State::new(config.schema.as_ref());
                persist::mark_all(&mut s);
                p.flush(&mut s)?;
                s
            }
        },
        None => {
            let mut s = State::new(config.schema.as_ref());
            s.dirty = Default::default();
            s
        }
    };
    let now = config.clock.elapsed();
    let oauth = OAuthState {
        access: [(config.oauth.access_token.clone(), config.oauth.token_ttl.map(|t| now + t))].into(),
        refresh: config.oauth.refresh_token.clone(),
    };
    let port = config.port;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| SandboxError::Bind { port, source })?;
    let addr = listener.local_addr().map_err(|source| SandboxError::Bind { port, source })?;
    let core = Core {
        state,
        limits: Limits::default(),
        stats: Stats::default(),
        faults: FaultRng::new(config.faults.seed),
        oauth,
        persist,
        plan: config.plan.clone(),
    };
    let latency = Mutex::new(LatencyRng::new(config.faults.seed));
    let shared = Arc::new(Shared { config, core: Mutex::new(core), latency });
    let router = Router::new()
        .route("/rest/{*path}", any(rest))
        .route("/oauth/token", any(token))
        .route("/oauth/token/", any(token))
        .route("/_sandbox/state", get(inspect_state))
        .route("/_sandbox/items", get(inspect_items))
        .route("/_sandbox/users", get(inspect_users))
        .route("/_sandbox/reset", post(reset))
        .route("/_sandbox/plan", get(get_plan).post(set_plan))
        // The request-size limit is the sandbox's own (`max_request_bytes`, checked in `rest`).
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(shared.clone());
    let (shutdown, mut stop) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, peer)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let router = router.clone();
                    connections.spawn(serve_connection(stream, peer, router));
                }
                _ = stop.changed() => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    });
    tracing::info!(%addr, "sandbox portal listening");
    Ok(SandboxHandle { addr, shared, shutdown, task })
}

async fn serve_connection(stream: tokio::net::TcpStream, peer: SocketAddr, router: Router) {
    let source = SourceAddr(peer.ip());
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let router = router.clone();
        req.extensions_mut().insert(source);
        async move {
            let resp = match router.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if resp.extensions().get::<DropConnection>().is_some() {
                Err(ConnectionDropped)
            } else {
                Ok(resp)
            }
        }
    });
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
}

// ---------------------------------------------------------------------------------------------
// Responses

fn json_response(status: u16, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp =
        (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), bytes).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    resp
}

fn error_body(code: &str, description: &str) -> Value {
    json!({"error": code, "error_description": description})
}

const HTML_413: &str = "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

const HTML_ERROR: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

fn time_json(start: f64, finish: f64, processing: f64, op: Option<(f64, f64)>) -> Value {
    let mut t = Map::new();
    t.insert("start".into(), json!(start));
    t.insert("finish".into(), json!(finish));
    t.insert("duration".into(), json!(finish - start));
    t.insert("processing".into(), json!(processing));
    t.insert("date_start".into(), json!(iso(start)));
    t.insert("date_finish".into(), json!(iso(finish)));
    if let Some((operating, reset_at)) = op {
        t.insert("operating".into(), json!(operating));
        t.insert("operating_reset_at".into(), json!(reset_at.floor() as i64));
    }
    Value::Object(t)
}

/// [`time_json`] written straight to JSON text (the batch fast path).
fn time_text(start: f64, finish: f64, processing: f64, op: Option<(f64, f64)>) -> String {
    let num = |x: f64| serde_json::to_string(&x).unwrap_or_else(|_| "0".into());
    let mut s = format!(
        "{{\"date_finish\":\"{}\",\"date_start\":\"{}\",\"duration\":{},\"finish\":{}",
        iso(finish),
        iso(start),
        num(finish - start),
        num(finish)
    );
    if let Some((operating, reset_at)) = op {
        s.push_str(&format!(
            ",\"operating\":{},\"operating_reset_at\":{}",
            num(operating),
            reset_at.floor() as i64
        ));
    }
    s.push_str(&format!(",\"processing\":{},\"start\":{}}}", num(processing), num(start)));
    s
}

// ---------------------------------------------------------------------------------------------
// The REST pipeline

/// Who is calling.
struct Caller {
    /// Key of the operating budget (`webhook:1`, `app:<client_id>`); never contains a secret.
    credential: String,
    user_id: u64,
    /// Which credential (the extranet webhook's calls are refused by `access::check`).
    via: Via,
}

/// The request after routing and parameter parsing.
struct Parsed {
    method: String,
    webhook: Option<(String, String)>,
    params: Value,
    commands: Option<Commands>,
}

fn parse_request(
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Parsed, MethodError> {
    let rest = path.strip_prefix("/rest/").unwrap_or("");
    // Empty segments are dropped, as nginx in front of a portal merges slashes (`merge_slashes`,
    // on by default): b24jssdk's OAuth client sends `<client_endpoint>/<method>`, that is
    // `/rest//crm.item.list` with the endpoint's own trailing slash.
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let (webhook, method) = match segments.as_slice() {
        [user, code, method] => (Some((user.to_string(), code.to_string())), *method),
        [method] => (None, *method),
        _ => (None, ""),
    };
    let method = method.to_ascii_lowercase();
    let method = method.strip_suffix(".json").map(str::to_string).unwrap_or(method);
    let mut params = Map::new();
    let mut commands = None;
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        let parsed = phpquery::parse(q);
        if method == "batch" {
            commands = batchm::commands_from_php(&parsed);
        }
        if let Value::Object(o) = parsed.to_json() {
            params.extend(o);
        }
    }
    if !body.is_empty() {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let looks_json = content_type.contains("json") || body.first().is_some_and(|b| *b == b'{');
        if looks_json {
            let v: Value = serde_json::from_slice(body).map_err(|e| {
                MethodError::bad("INVALID_REQUEST", format!("Request body is not valid JSON: {e}"))
            })?;
            if method == "batch" {
                commands = batchm::commands_from_json(body).or(commands);
            }
            if let Value::Object(o) = v {
                params.extend(o);
            }
        } else {
            let text = String::from_utf8_lossy(body);
            let parsed = phpquery::parse(&text);
            if method == "batch" {
                commands = batchm::commands_from_php(&parsed).or(commands);
            }
            if let Value::Object(o) = parsed.to_json() {
                params.extend(o);
            }
        }
    }
    Ok(Parsed { method, webhook, params: Value::Object(params), commands })
}

fn authenticate(
    shared: &Shared,
    core: &mut Core,
    parsed: &Parsed,
    now: Duration,
) -> Result<Caller, MethodError> {
    let no_auth = || MethodError::new(401, "NO_AUTH_FOUND", "Wrong authorization data");
    match &parsed.webhook {
        Some((user, code)) => {
            let user = user.parse::<u64>().ok();
            let wh = &shared.config.webhook;
            if user == Some(wh.user_id) && *code == wh.code {
                return Ok(Caller {
                    credential: format!("webhook:{}", wh.user_id),
                    user_id: wh.user_id,
                    via: Via::Webhook,
                });
            }
            match &shared.config.access.extranet_webhook {
                Some(ext) if user == Some(ext.user_id) && *code == ext.code => Ok(Caller {
                    credential: format!("webhook:{}", ext.user_id),
                    user_id: ext.user_id,
                    via: Via::Extranet,
                }),
                _ => Err(no_auth()),
            }
        }
        None => {
            let token =
                methods::param(&parsed.params, "auth").and_then(methods::as_text).ok_or_else(no_auth)?;
            match core.oauth.access.get(&token) {
                None => Err(no_auth()),
                Some(Some(expiry)) if *expiry <= now => {
                    Err(MethodError::new(401, "expired_token", "The access token provided has expired."))
                }
                Some(_) => Ok(Caller {
                    credential: format!("app:{}", shared.config.oauth.client_id),
                    user_id: shared.config.webhook.user_id,
                    via: Via::App,
                }),
            }
        }
    }
}

/// The outcome of the work, before the after-effects.
struct Done {
    status: u16,
    body: Value,
    /// A batch's `result` object already written as JSON (then `body` holds only `time`).
    raw_result: Option<Vec<u8>>,
    processing: f64,
    after: After,
    /// The request cap cut the work off: answer 504 with nginx's page after the cap.
    cut_off: bool,
}

/// The refusal key of a request cut off by the request cap (`/_sandbox/state`).
const REQUEST_TIME_LIMIT: &str = "REQUEST_TIME_LIMIT";

const HTML_504: &str = "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// A refusal: the whole answer (boxed, it is large).
type Refused = Box<Response>;

fn refuse(core: &mut Core, e: &MethodError) -> Refused {
    *core.stats.refusals.entry(e.code.clone()).or_default() += 1;
    Box::new(json_response(e.status, &e.body()))
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// Every REST request: the portal's answer ([`answer`]), then the network latency on the way
/// back, whatever the answer is (a dropped connection is dropped after it too).
async fn rest(
    AxState(shared): AxState<Arc<Shared>>,
    axum::Extension(source): axum::Extension<SourceAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let latency = shared.draw_latency();
    let resp = answer(&shared, source, uri, headers, body).await;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    resp
}

/// What the portal answers to one REST request, after the simulated work (steps 1-6).
async fn answer(
    shared: &Arc<Shared>,
    source: SourceAddr,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let clock = shared.config.clock.clone();
    let start = clock.unix_now();
    let started = std::time::Instant::now();
    let done = {
        let mut core = shared.core();
        core.stats.total += 1;
        if body.len() > shared.config.max_request_bytes {
            // What nginx in front of a portal answers: nothing reaches the portal.
            bump(&mut core.stats.refusals, "REQUEST_ENTITY_TOO_LARGE");
            let mut resp = (StatusCode::PAYLOAD_TOO_LARGE, HTML_413).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            return resp;
        }
        match gate_and_work(shared, &mut core, source, &uri, &headers, &body) {
            Ok(done) => done,
            Err(resp) => return *resp,
        }
    };
    let cfg = &shared.config;
    if cfg.time_scale > 0.0 && done.processing > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(done.processing / cfg.time_scale)).await;
    }
    let finish =
        start + started.elapsed().as_secs_f64().max(if cfg.time_scale > 0.0 { 0.0 } else { done.processing });
    if done.cut_off {
        let mut resp = (StatusCode::GATEWAY_TIMEOUT, HTML_504).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
        return resp;
    }
    let mut body = done.body;
    if let Some(Value::Object(t)) = body.get_mut("time") {
        t.insert("finish".into(), json!(finish));
        t.insert("duration".into(), json!(finish - start));
        t.insert("date_finish".into(), json!(iso(finish)));
        t.insert("start".into(), json!(start));
        t.insert("date_start".into(), json!(iso(start)));
    }
    if cfg.faults.slow_ms > 0 {
        tokio::time::sleep(Duration::from_millis(cfg.faults.slow_ms)).await;
    }
    match done.after {
        After::Answer => match done.raw_result {
            Some(raw) => {
                let mut bytes = Vec::with_capacity(raw.len() + 256);
                bytes.extend_from_slice(b"{\"result\":");
                bytes.extend_from_slice(&raw);
                bytes.extend_from_slice(b",\"time\":");
                let _ = serde_json::to_writer(&mut bytes, &body["time"]);
                bytes.push(b'}');
                let mut resp = (StatusCode::OK, bytes).into_response();
                resp.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json; charset=utf-8"),
                );
                resp
            }
            None => json_response(done.status, &body),
        },
        After::Drop => {
            let mut resp = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            resp.extensions_mut().insert(DropConnection);
            resp
        }
        After::Hold => {
            tokio::time::sleep(Duration::from_millis(cfg.faults.timeout_after_ms.unwrap_or(u64::MAX / 4)))
                .await;
            let mut resp = StatusCode::GATEWAY_TIMEOUT.into_response();
            resp.extensions_mut().insert(DropConnection);
            resp
        }
    }
}

/// Steps 1–6 under the lock: every refusal returns `Err(response)`.
fn gate_and_work(
    shared: &Shared,
    core: &mut Core,
    source: SourceAddr,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Done, Refused> {
    let cfg = &shared.config;
    let now = cfg.clock.elapsed();
    let parsed = parse_request(uri.path(), uri.query(), headers, body).map_err(|e| refuse(core, &e))?;
    let caller = authenticate(shared, core, &parsed, now).map_err(|e| refuse(core, &e))?;
    if cfg.faults.overload {
        let e = MethodError::new(503, "OVERLOAD_LIMIT", "REST API is blocked due to overload.");
        return Err(refuse(core, &e));
    }
    if !core.limits.admit(&source.0.to_string(), now, cfg.rate, cfg.burst) {
        let e = MethodError::new(503, "QUERY_LIMIT_EXCEEDED", "Too many requests");
        return Err(refuse(core, &e));
    }
    let decision = core.faults.draw(&cfg.faults);
    match decision.before {
        Before::Proceed => {}
        Before::Fail500 => {
            bump(&mut core.stats.faults, "fail_500");
            let e = MethodError::new(500, "INTERNAL_SERVER_ERROR", "Internal server error");
            return Err(refuse(core, &e));
        }
        Before::Fail503 => {
            bump(&mut core.stats.faults, "fail_503");
            let e = MethodError::new(503, "QUERY_LIMIT_EXCEEDED", "Too many requests");
            return Err(refuse(core, &e));
        }
        Before::HtmlError => {
            bump(&mut core.stats.faults, "html_error");
            let mut resp = (StatusCode::BAD_GATEWAY, HTML_ERROR).into_response();
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
            return Err(Box::new(resp));
        }
    }
    if methods::lookup(&parsed.method).is_none() {
        let e = MethodError::new(404, "ERROR_METHOD_NOT_FOUND", "Method not found!");
        return Err(refuse(core, &e));
    }
    let mut done = if parsed.method == "batch" {
        run_batch(shared, core, &caller, &parsed, now)?
    } else {
        run_single(shared, core, &caller, &parsed, now)?
    };
    match core.persist.as_mut() {
        Some(p) => {
            if let Err(e) = p.flush(&mut core.state) {
                tracing::error!(error = %e, "cannot write the sandbox state file");
            }
        }
        None => core.state.dirty = Default::default(),
    }
    match decision.after {
        After::Answer => {}
        After::Drop => bump(&mut core.stats.faults, "drop_after_commit"),
        After::Hold => bump(&mut core.stats.faults, "timeout"),
    }
    done.after = decision.after;
    Ok(done)
}

fn op_blocked() -> MethodError {
    MethodError::new(429, "OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.")
}

/// Bills a call of `secs` of `method` to the caller's window and to the stats: nothing when
/// it is under the time model's floor.
fn bill(
    core: &mut Core,
    cfg: &SandboxConfig,
    caller: &Caller,
    method: &str,
    now: Duration,
    secs: f64,
) -> OperatingReport {
    let op = &cfg.operating;
    let secs = cfg.time_model.billed(secs);
    if secs <= 0.0 {
        return core.limits.bill(&caller.credential, method, now, 0.0, op.window, op.buckets);
    }
    match core.stats.operating.get_mut(method) {
        Some(total) => *total += secs,
        None => {
            core.stats.operating.insert(method.to_string(), secs);
        }
    }
    core.limits.bill(&caller.credential, method, now, secs, op.window, op.buckets)
}

fn report_pair(clock: &super::Clock, r: OperatingReport) -> (f64, f64) {
    (r.operating, clock.unix_at(r.reset_at))
}

fn run_single(
    shared: &Shared,
    core: &mut Core,
    caller: &Caller,
    parsed: &Parsed,
    now: Duration,
) -> Result<Done, Refused> {
    let cfg = &shared.config;
    let op = &cfg.operating;
    let method = parsed.method.as_str();
    if core.limits.operating_blocked(&caller.credential, method, now, op.budget_secs, op.window) {
        return Err(refuse(core, &op_blocked()));
    }
    bump(&mut core.stats.by_method, method);
    let cost = op.cost_of(method);
    let handler = methods::lookup(method).expect("looked up by the caller");
    let mut call = Call {
        method,
        state: &mut core.state,
        params: &parsed.params,
        user_id: caller.user_id,
        now_unix: cfg.clock.unix_at(now),
        schema_file: cfg.schema.as_ref(),
        raw_ok: false,
        denied: &cfg.denied_methods,
        phone_country: cfg.phone_default_country.as_deref(),
        rules: &cfg.items,
        setup: &cfg.setup,
        access: Access::of(caller.via, &cfg.access),
        plan: &core.plan,
        history: &cfg.history,
    };
    let outcome = handler(&mut call);
    let report = bill(core, cfg, caller, method, now, cost);
    match outcome {
        Ok(Output { result, total, next, .. }) => {
            let start = cfg.clock.unix_at(now);
            let mut body = Map::new();
            body.insert("result".into(), result);
            if let Some(t) = total {
                body.insert("total".into(), json!(t));
            }
            if let Some(n) = next {
                body.insert("next".into(), json!(n));
            }
            body.insert("time".into(), time_json(start, start, cost, Some(report_pair(&cfg.clock, report))));
            Ok(Done {
                status: 200,
                body: Value::Object(body),
                raw_result: None,
                processing: cost,
                after: After::Answer,
                cut_off: false,
            })
        }
        Err(e) => Err(refuse(core, &e)),
    }
}

/// (command id, start, cost, operating report) of one executed batch command.
type CommandTime = (String, f64, f64, Option<(f64, f64)>);

fn run_batch(
    shared: &Shared,
    core: &mut Core,
    caller: &Caller,
    parsed: &Parsed,
    now: Duration,
) -> Result<Done, Refused> {
    let cfg = &shared.config;
    let op = &cfg.operating;
    let empty = Commands::default();
    let commands = parsed.commands.as_ref().unwrap_or(&empty);
    if commands.0.len() > batchm::MAX_COMMANDS && !cfg.batch_overflow_runs_first_50 {
        let e = MethodError::bad("ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded");
        return Err(refuse(core, &e));
    }
    let per_inner = cfg.batch_billing == BatchBilling::PerInnerMethod;
    if !per_inner
        && core.limits.operating_blocked(&caller.credential, "batch", now, op.budget_secs, op.window)
    {
        return Err(refuse(core, &op_blocked()));
    }
    bump(&mut core.stats.by_method, "batch");
    let halt = methods::is_yes(methods::param(&parsed.params, "halt"));
    // Without references nothing looks inside a result, so results can be written as text.
    let raw_ok = !commands.0.iter().any(|(_, text)| text.contains("$result"));
    let mut sections = Sections::default();
    let mut elapsed = 0.0_f64;
    let batch_start = cfg.clock.unix_at(now);
    let mut outer_report: Option<(f64, f64)> = None;
    // Per-command times wait for the batch-wide operating figure when billed to `batch`.
    let mut times: Vec<CommandTime> = Vec::new();
    let mut cut_off = false;
    for (index, (id, text)) in commands.0.iter().enumerate() {
        let (method, query) = batchm::split_command(text);
        let failure = if index >= batchm::MAX_COMMANDS {
            Some(MethodError::bad("ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded"))
        } else if method == "batch" {
            Some(MethodError::new(
                405,
                "ERROR_BATCH_METHOD_NOT_ALLOWED",
                "Method is not allowed for batch usage",
            ))
        } else if methods::lookup(&method).is_none() {
            Some(MethodError::new(404, "ERROR_METHOD_NOT_FOUND", "Method not found!"))
        } else if per_inner
            && core.limits.operating_blocked(&caller.credential, &method, now, op.budget_secs, op.window)
        {
            Some(op_blocked())
        } else {
            None
        };
        let outcome = match failure {
            Some(e) => Err(e),
            None => {
                let cost = op.cost_of(&method);
                if cfg.max_request_secs > 0.0 && elapsed + cost > cfg.max_request_secs {
                    // The request cap (§1.2) cuts the batch here: what ran stays done.
                    cut_off = true;
                    break;
                }
                let mut params = phpquery::parse_json(query);
                batchm::resolve_refs(&mut params, &sections);
                bump(&mut core.stats.by_method, &method);
                let handler = methods::lookup(&method).expect("checked above");
                let mut call = Call {
                    method: &method,
                    state: &mut core.state,
                    params: &params,
                    user_id: caller.user_id,
                    now_unix: batch_start + elapsed,
                    schema_file: cfg.schema.as_ref(),
                    raw_ok,
                    denied: &cfg.denied_methods,
                    phone_country: cfg.phone_default_country.as_deref(),
                    rules: &cfg.items,
                    setup: &cfg.setup,
                    access: Access::of(caller.via, &cfg.access),
                    plan: &core.plan,
                    history: &cfg.history,
                };
                let out = handler(&mut call);
                let report = if per_inner {
                    let r = bill(core, cfg, caller, &method, now, cost);
                    Some(report_pair(&cfg.clock, r))
                } else {
                    None
                };
                times.push((id.clone(), batch_start + elapsed, cost, report));
                elapsed += cost;
                out
            }
        };
        match outcome {
            Ok(Output { result, raw, total, next }) => {
                if let Some(t) = total {
                    sections.result_total.push((id.clone(), Entry::Value(json!(t))));
                }
                if let Some(n) = next {
                    sections.result_next.push((id.clone(), Entry::Value(json!(n))));
                }
                let entry = match raw {
                    Some(text) => Entry::Raw(text),
                    None => Entry::Value(result),
                };
                sections.result.push((id.clone(), entry));
            }
            Err(e) => {
                bump(&mut core.stats.refusals, &e.code);
                sections.result_error.push((id.clone(), Entry::Value(e.body())));
                if halt {
                    break;
                }
            }
        }
    }
    // The outer `time` carries `batch`'s own figures only when `batch` is billed. Billed per
    // inner method, "an external call to `batch` is not accounted for in `operating`"
    // (`limits.md`), and the batch page's answer has no `operating` in its `time`: none here.
    if !per_inner {
        let r = bill(core, cfg, caller, "batch", now, elapsed);
        outer_report = Some(report_pair(&cfg.clock, r));
    }
    for (id, start, cost, report) in times {
        // `result_time` entries as the batch page shows them, unless the time model adds the
        // figures (see `TimeModel::result_time_operating`).
        let report = match (cfg.time_model.result_time_operating, per_inner) {
            (false, _) => None,
            (true, true) => report,
            (true, false) => outer_report,
        };
        let time = if raw_ok {
            Entry::Raw(time_text(start, start + cost, cost, report))
        } else {
            Entry::Value(time_json(start, start + cost, cost, report))
        };
        sections.result_time.push((id, time));
    }
    let mut raw = Vec::with_capacity(64 * 1024);
    sections.write_json(&mut raw);
    let body = json!({ "time": time_json(batch_start, batch_start + elapsed, elapsed, outer_report) });
    if cut_off {
        bump(&mut core.stats.refusals, REQUEST_TIME_LIMIT);
        // The portal worked until the cap, then the web server gave up on it.
        elapsed = cfg.max_request_secs;
    }
    Ok(Done { status: 200, body, raw_result: Some(raw), processing: elapsed, after: After::Answer, cut_off })
}

// ---------------------------------------------------------------------------------------------
// OAuth token endpoint

fn random_token() -> String {
    use rand::RngExt;
    let mut rng = rand::rng();
    (0..32).map(|_| char::from(b"abcdef0123456789"[rng.random_range(0..16)])).collect()
}

async fn token(AxState(shared): AxState<Arc<Shared>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let parsed = match parse_request("/rest/token", uri.query(), &headers, &body) {
        Ok(p) => p,
        Err(e) => return json_response(400, &error_body("invalid_request", &e.description)),
    };
    let get = |k: &str| methods::param(&parsed.params, k).and_then(methods::as_text).unwrap_or_default();
    let cfg = &shared.config;
    if get("grant_type") != "refresh_token" {
        return json_response(
            400,
            &error_body("invalid_request", "Only grant_type=refresh_token is supported"),
        );
    }
    if get("client_id") != cfg.oauth.client_id || get("client_secret") != cfg.oauth.client_secret {
        return json_response(401, &error_body("invalid_client", "Invalid client credentials"));
    }
    let mut core = shared.core();
    if get("refresh_token") != core.oauth.refresh {
        return json_response(400, &error_body("invalid_grant", "Invalid refresh token"));
    }
    let now = cfg.clock.elapsed();
    let access = random_token();
    let refresh = random_token();
    let ttl = cfg.oauth.token_ttl;
    core.oauth.access.insert(access.clone(), ttl.map(|t| now + t));
    core.oauth.refresh = refresh.clone();
    if let Some(p) = &core.persist {
        // A restarted portal must accept the tokens the client now holds.
        let saved = persist::SavedOAuth {
            client_id: cfg.oauth.client_id.clone(),
            client_secret: cfg.oauth.client_secret.clone(),
            access_token: access.clone(),
            refresh_token: refresh.clone(),
        };
        if let Err(e) = p.save_oauth(&saved) {
            tracing::warn!(error = %e, "sandbox: cannot keep the rotated OAuth tokens in the state file");
        }
    }
    drop(core);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    let expires_in = ttl.map_or(3600 * 24 * 365, |t| t.as_secs());
    tracing::info!("sandbox OAuth token refreshed");
    json_response(
        200,
        &json!({
            "access_token": access,
            "expires": (cfg.clock.unix_now() as u64) + expires_in,
            "expires_in": expires_in,
            "scope": "app",
            "domain": host,
            // A portal answers the OAuth server's REST address here (`https://oauth.bitrix.info/rest/`,
            // the OAuth page's example), its token endpoint being `<that host>/oauth/token/`;
            // clients derive one from the other (b24jssdk strips `/rest/`). The sandbox is its own
            // OAuth server: `http://HOST/rest/`, whose `/oauth/token/` is the token endpoint.
            "server_endpoint": format!("http://{host}/rest/"),
            "status": "L",
            "client_endpoint": format!("http://{host}/rest/"),
            "member_id": "sandbox",
            "user_id": cfg.webhook.user_id,
            "refresh_token": refresh,
        }),
    )
}

// ---------------------------------------------------------------------------------------------
// Inspection

async fn inspect_state(AxState(shared): AxState<Arc<Shared>>) -> Response {
    json_response(200, &serde_json::to_value(shared.snapshot()).unwrap_or(Value::Null))
}

async fn inspect_items(
    AxState(shared): AxState<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(etid) = q.get("entityTypeId").and_then(|v| v.parse::<u64>().ok()) else {
        return json_response(400, &error_body("INVALID_ARG_VALUE", "entityTypeId is required"));
    };
    let core = shared.core();
    let Some(schema) = core.state.meta.schemas.get(&etid) else {
        return json_response(404, &error_body("NOT_FOUND", "Smart process not found"));
    };
    let items: Vec<Value> = core
        .state
        .items
        .get(&etid)
        .map(|m| m.values().map(|i| methods::item::render(schema, i, false, None)).collect())
        .unwrap_or_default();
    json_response(200, &json!({ "items": items }))
}

async fn inspect_users(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let core = shared.core();
    let users: Vec<Value> = core.state.users.values().map(methods::user::render).collect();
    json_response(200, &json!({ "users": users }))
}

async fn reset(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let mut core = shared.core();
    let mut fresh = State::new(shared.config.schema.as_ref());
    if let Some(p) = core.persist.as_mut() {
        persist::mark_all(&mut fresh);
        if let Err(e) = p.clear().and_then(|_| p.flush(&mut fresh)) {
            return json_response(500, &error_body("INTERNAL_SERVER_ERROR", &e.to_string()));
        }
    }
    fresh.dirty = Default::default();
    core.state = fresh;
    core.limits.clear();
    core.stats = Stats::default();
    core.faults = FaultRng::new(shared.config.faults.seed);
    drop(core);
    *shared.latency.lock().unwrap_or_else(|p| p.into_inner()) = LatencyRng::new(shared.config.faults.seed);
    json_response(200, &json!({ "result": true }))
}

/// `GET /_sandbox/plan`: the plan's limits now (`plan::PlanLimits` as JSON).
async fn get_plan(AxState(shared): AxState<Arc<Shared>>) -> Response {
    let plan = shared.core().plan.clone();
    json_response(200, &json!({ "result": plan }))
}

/// `POST /_sandbox/plan` with a JSON `plan::PlanLimits` (missing keys: no limit): the plan
/// changes from the next request on, the data stays (a downgrade with data in the portal).
async fn set_plan(AxState(shared): AxState<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<PlanLimits>(&body) {
        Ok(plan) => {
            shared.core().plan = plan.clone();
            json_response(200, &json!({ "result": plan }))
        }
        Err(e) => json_response(400, &error_body("INVALID_REQUEST", &format!("not a plan: {e}"))),
    }
}
