//! # b24-sandbox: the Bitrix24 sandbox portal
//!
//! An embedded, stateful emulator of the slice of the Bitrix24 REST API that an importer
//! touches, with the portal's rate limit, operating-time limit and faults. A package of its own
//! in the b24import workspace; the importer uses it (as `b24import::sandbox`, behind its cargo
//! feature `sandbox`, on by default) for `b24import demo`, `b24import sandbox` and its tests.
//!
//! It owns everything behind `http://127.0.0.1:PORT`: auth (webhook, OAuth + token endpoint),
//! the REST methods (`crm.item.*`, `batch`, `user.*`, schema setup methods, the legacy
//! read-only `crm.{lead,deal,contact,company}.list`), the limits
//! ([`limits`]), fault injection ([`faults`]), the `/_sandbox/*` inspection endpoints and the
//! optional SQLite persistence ([`persist`]). It must be strict: whatever a real portal
//! refuses it refuses with the same HTTP status and error code (`docs/portal-protocol.md`; a
//! bare `§N` in the sandbox's files cites a section of that page).
//!
//! What it must not do: depend on the importer (this package has no `b24import` dependency, and
//! must never get one) or be used as a client library (the importer's transport lives there).
//! The sandbox follows the portal's documented behaviour, never our code: its Bitrix24 facts
//! (entity types, fields, multifield kinds, [`USER_FIELDS`], [`FM_TYPES`]) are its own copy, so
//! that a wrong fact in the importer cannot become a wrong fact here. The importer's
//! `tests/sandbox/facts_agree.rs` only notices when the two copies drift apart.
//!
//! Layout by role: [`server`] (HTTP, routing, auth, the request pipeline), [`state`] (the
//! data), [`schema`] (field schemas), [`methods`] (one file per method family), [`phpquery`]
//! (PHP-style nested query strings), [`limits`], [`faults`], [`latency`], [`persist`], [`clock`],
//! [`strict`] (the `crm.item.*` rules a portal is configured with), [`setup`] (what the set-up
//! and user methods check); `cli` (feature `cli`, default) is the one definition of the `serve`
//! flags, used by the package's binary `b24-sandbox serve` and by `b24import sandbox`
//! (`docs/sandbox.md`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), b24_sandbox::SandboxError> {
//! use b24_sandbox::{Sandbox, SandboxConfig};
//! let handle = Sandbox::start(SandboxConfig::fast()).await?;
//! let url = handle.webhook_url(); // http://127.0.0.1:PORT/rest/1/<code>/
//! # let _ = url;
//! assert_eq!(handle.snapshot().users, 0);
//! handle.stop().await;
//! # Ok(()) }
//! ```

pub mod access;
#[cfg(feature = "cli")]
pub mod cli;
pub mod clock;
pub mod faults;
pub mod history;
pub mod latency;
pub mod limits;
pub(crate) mod methods;
pub mod persist;
pub mod phpquery;
pub mod plan;
// The whole record (issue 20): product rows, products, requisites, bank details, addresses.
pub mod record;
pub mod schema;
mod server;
pub mod setup;
pub mod state;
pub mod strict;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use access::AccessConfig;
pub use clock::Clock;
pub use latency::Latency;
pub use limits::TimeModel;
pub use methods::item::FM_TYPES;
pub use methods::user::FIELDS as USER_FIELDS;
pub use plan::PlanLimits;
pub use schema::SchemaFile;
pub use setup::SetupConfig;
// Issue 19 (history): the import methods' permissions and the snapshot's history counters.
pub use history::{HistoryConfig, HistoryCounts, WorkflowTemplate};
pub use strict::{ItemRules, StageRequirement};

/// Errors of starting or running the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The listening socket could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    /// The schema TOML is invalid.
    #[error("schema {path}: {message}")]
    Schema { path: String, message: String },
    /// The `--state` SQLite file cannot be opened, read or written.
    #[error("state file {path}: {message}")]
    State { path: String, message: String },
}

/// How `batch` is billed against the operating-time budget (the sources disagree, §1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum BatchBilling {
    /// Every inner command is billed to its own method and checked against its own budget;
    /// the outer `batch` is not billed (the current official docs).
    #[default]
    PerInnerMethod,
    /// The whole batch is billed to the method `batch` (what the official JS SDK team measured).
    ToBatch,
}

/// The operating-time ("resource") limit: simulated processing seconds per
/// (credential, method) over a sliding window of buckets. (The request-rate bucket is per
/// source address instead, shared by every credential: see [`limits`].)
#[derive(Debug, Clone)]
pub struct OperatingConfig {
    /// Seconds of processing allowed within the window before the method is blocked (480).
    pub budget_secs: f64,
    /// Length of the window (600 s).
    pub window: Duration,
    /// Number of buckets the window is kept in (10 one-minute buckets).
    pub buckets: u32,
    /// Simulated processing time of a method without an entry in `cost_secs`.
    pub default_cost_secs: f64,
    /// Simulated processing time per method name (lower-case).
    pub cost_secs: BTreeMap<String, f64>,
}

impl Default for OperatingConfig {
    fn default() -> Self {
        let cost_secs = [
            ("crm.item.add", 0.05),
            ("crm.item.update", 0.05),
            ("crm.item.list", 0.04),
            ("crm.item.get", 0.01),
            ("crm.item.delete", 0.03),
            ("user.add", 0.2),
            ("user.get", 0.02),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        OperatingConfig {
            budget_secs: 480.0,
            window: Duration::from_secs(600),
            buckets: 10,
            default_cost_secs: 0.01,
            cost_secs,
        }
    }
}

impl OperatingConfig {
    /// The simulated processing time of one call of `method`.
    pub fn cost_of(&self, method: &str) -> f64 {
        self.cost_secs.get(method).copied().unwrap_or(self.default_cost_secs)
    }
}

/// Fault injection; probabilities are drawn from an RNG seeded with `seed`, a fixed number of
/// draws per REST request, so the same seed and request sequence give the same faults.
#[derive(Debug, Clone)]
pub struct FaultConfig {
    /// Seed of the fault RNG.
    pub seed: u64,
    /// Probability of answering 500 `INTERNAL_SERVER_ERROR` without doing the work.
    pub fail_500: f64,
    /// Probability of doing the work and then closing the connection without an answer.
    pub drop_after_commit: f64,
    /// Every answer is delayed this long (after the work).
    pub slow_ms: u64,
    /// When set, a request (with probability `timeout_p`) does the work and then holds the
    /// answer: the connection is closed without a response after this many milliseconds, so
    /// any client with a shorter timeout sees an answer that never comes.
    pub timeout_after_ms: Option<u64>,
    /// Probability that a request is held when `timeout_after_ms` is set (default 1).
    pub timeout_p: f64,
    /// Probability of a spurious 503 `QUERY_LIMIT_EXCEEDED` (without doing the work).
    pub fail_503: f64,
    /// Probability of an HTML error page (502) instead of JSON (without doing the work).
    pub html_error: f64,
    /// Every call answers 503 `OVERLOAD_LIMIT`.
    pub overload: bool,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            seed: 0,
            fail_500: 0.0,
            drop_after_commit: 0.0,
            slow_ms: 0,
            timeout_after_ms: None,
            timeout_p: 1.0,
            fail_503: 0.0,
            html_error: 0.0,
            overload: false,
        }
    }
}

/// The inbound webhook the sandbox accepts: `/rest/<user_id>/<code>/<method>`.
#[derive(Clone)]
pub struct WebhookConfig {
    /// The user the webhook acts as (1, the built-in administrator).
    pub user_id: u64,
    /// The secret code (never logged).
    pub code: String,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig").field("user_id", &self.user_id).field("code", &"<secret>").finish()
    }
}

/// The OAuth application the sandbox accepts: `/rest/<method>` with `auth=<access_token>`.
#[derive(Clone)]
pub struct OAuthConfig {
    /// The initial access token.
    pub access_token: String,
    /// The initial refresh token (rotated on every refresh).
    pub refresh_token: String,
    /// The application's client id.
    pub client_id: String,
    /// The application's client secret.
    pub client_secret: String,
    /// Lifetime of an access token; `None` never expires.
    pub token_ttl: Option<Duration>,
}

impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("client_id", &self.client_id)
            .field("token_ttl", &self.token_ttl)
            .finish_non_exhaustive()
    }
}

/// Everything the sandbox can be told at start. Start from [`SandboxConfig::standard`],
/// [`SandboxConfig::enterprise`] or [`SandboxConfig::fast`] and change the public fields.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Port on 127.0.0.1 (0 = any free port).
    pub port: u16,
    /// Leaky bucket: the level drains at this many requests per second.
    pub rate: f64,
    /// Leaky bucket: a burst of this many requests passes; the next one above it is refused.
    pub burst: f64,
    /// The operating-time budget.
    pub operating: OperatingConfig,
    /// How `batch` is billed against the operating budget.
    pub batch_billing: BatchBilling,
    /// How operating time is reported and billed where the pages leave it open: the floor
    /// under which a call is not billed, and whether `result_time` entries carry `operating`
    /// (see [`limits::TimeModel`]; the defaults follow the pages).
    pub time_model: limits::TimeModel,
    /// When a batch has more than 50 commands: `false` refuses it whole (400
    /// `ERROR_BATCH_LENGTH_EXCEEDED`), `true` runs the first 50 and fails the rest with that
    /// code in `result_error` (the docs can be read both ways).
    pub batch_overflow_runs_first_50: bool,
    /// Simulated processing time is slept divided by this factor; 0 does not sleep at all.
    pub time_scale: f64,
    /// The request cap in simulated seconds (§1.2: 60 s in the cloud; 0 = none). A batch whose
    /// commands' processing would pass it runs the commands that fit, then answers HTTP 504
    /// with nginx's page after the cap: the commands that ran stay done, the rest did not run,
    /// and the client cannot tell which (an assumption: the docs give the cap, not the answer).
    /// A single call is never cut off (no method costs anywhere near it).
    pub max_request_secs: f64,
    /// Simulated network latency, drawn per REST request and added after the simulated work
    /// (real milliseconds, not scaled by `time_scale`; see [`latency`]).
    pub latency: Latency,
    /// Fault injection.
    pub faults: FaultConfig,
    /// The accepted webhook.
    pub webhook: WebhookConfig,
    /// The accepted OAuth application.
    pub oauth: OAuthConfig,
    /// Field schema overrides; `None` uses the built-in default.
    pub schema: Option<SchemaFile>,
    /// SQLite file to keep the state in; `None` keeps it in memory.
    pub state_file: Option<PathBuf>,
    /// The clock limits and timestamps use; [`Clock::manual`] lets tests move time.
    pub clock: Clock,
    /// A REST request whose body is larger than this is refused with HTTP 413 and nginx's HTML
    /// page, before any work, as the web server in front of a portal does
    /// (`client_max_body_size`). Default [`DEFAULT_MAX_REQUEST_BYTES`].
    pub max_request_bytes: usize,
    /// Methods (lower-case) the credential lacks rights for: each answers the access-denied
    /// error its page documents, before any work. Empty by default; see
    /// [`SandboxConfig::without_rights`] and [`SETUP_METHODS`].
    pub denied_methods: std::collections::BTreeSet<String>,
    /// `crm.duplicate.findbycomm` only: a country code put in front of a national number
    /// (exactly 10 digits once normalised), as a portal does whose phone matching parses
    /// numbers with a default country (the main module's phone number parser) instead of the
    /// core's `NormalizePhone` alone. `None` (the default) follows `NormalizePhone`, the
    /// documented rule. A portal set this way matches values an importer that follows the
    /// documented rule cannot explain: the tests use it to produce such a hit.
    pub phone_default_country: Option<String>,
    /// `crm.item.add` / `update` rules a portal is configured with: the fields each stage
    /// requires, and whether IDs pointing at nothing are stored ([`strict`]). Default: none
    /// required beyond the schema, dangling references refused.
    pub items: ItemRules,
    /// The extranet user's webhook and every credential's scopes ([`access`]). Default: no
    /// extranet webhook, every scope.
    pub access: AccessConfig,
    /// The plan's limits at start ([`plan`]; `POST /_sandbox/plan` changes them). Default: none.
    pub plan: PlanLimits,
    /// What the portal holds beyond the CRM that the set-up and user methods check (issue 18):
    /// the workgroups an extranet user may be invited to ([`SetupConfig`], `setup.rs`).
    pub setup: SetupConfig,
    /// Issue 19 (history): what the credential may do with `crm.item.import` /
    /// `crm.item.batchImport` (the "import" permission, administrator rights for the date and
    /// author fields; both granted by default). See [`HistoryConfig`], `history.rs`.
    pub history: HistoryConfig,
}

/// The set-up methods a portal allows only to a CRM administrator (their pages' "who can
/// execute"): `SandboxConfig::fast().without_rights(SETUP_METHODS)` is a non-admin webhook.
pub const SETUP_METHODS: &[&str] = methods::rights::SETUP_METHODS;

/// The cloud's request cap, seconds (§1.2).
pub const DEFAULT_MAX_REQUEST_SECS: f64 = 60.0;

/// The default request-size limit: 32 MiB. nginx's own default is 1 MiB, the Bitrix24 cloud
/// accepts far more (2 GB per the docs); 32 MiB is a common hosting setting and holds the
/// largest file the mappings allow by default (20 MiB, about 27 MiB as base64) sent alone.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 32 * 1024 * 1024;

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig::standard()
    }
}

fn random_secret(len: usize) -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

impl SandboxConfig {
    /// Every plan but Enterprise: drain 2/s, burst 50; 480 s per 600 s of operating time.
    pub fn standard() -> Self {
        SandboxConfig {
            port: 0,
            rate: 2.0,
            burst: 50.0,
            operating: OperatingConfig::default(),
            batch_billing: BatchBilling::PerInnerMethod,
            time_model: limits::TimeModel::default(),
            batch_overflow_runs_first_50: false,
            time_scale: 1.0,
            max_request_secs: DEFAULT_MAX_REQUEST_SECS,
            latency: Latency::default(),
            faults: FaultConfig::default(),
            webhook: WebhookConfig { user_id: 1, code: random_secret(16) },
            oauth: OAuthConfig {
                access_token: random_secret(32),
                refresh_token: random_secret(32),
                client_id: "local.sandbox0000000001".to_string(),
                client_secret: random_secret(32),
                token_ttl: Some(Duration::from_secs(3600)),
            },
            schema: None,
            state_file: None,
            clock: Clock::system(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            denied_methods: Default::default(),
            phone_default_country: None,
            items: ItemRules::default(),
            setup: SetupConfig::default(),
            access: AccessConfig::default(),
            plan: PlanLimits::default(),
            history: HistoryConfig::default(),
        }
    }

    /// The same portal with a webhook of an extranet user (user 1000, a random code):
    /// `SandboxHandle::extranet_webhook_url` gives its URL.
    pub fn with_extranet_webhook(mut self) -> Self {
        self.access.extranet_webhook = Some(WebhookConfig { user_id: 1000, code: random_secret(16) });
        self
    }

    /// The same portal, with a credential that lacks rights for `methods` (lower-case names).
    pub fn without_rights(mut self, methods: &[&str]) -> Self {
        self.denied_methods.extend(methods.iter().map(|m| m.to_ascii_lowercase()));
        self
    }

    /// Enterprise: drain 5/s, burst 250.
    pub fn enterprise() -> Self {
        SandboxConfig { rate: 5.0, burst: 250.0, ..SandboxConfig::standard() }
    }

    /// For tests: drain 20/s, burst 10, tiny operating costs, no sleeping.
    pub fn fast() -> Self {
        SandboxConfig {
            rate: 20.0,
            burst: 10.0,
            operating: OperatingConfig {
                default_cost_secs: 0.001,
                cost_secs: BTreeMap::new(),
                ..OperatingConfig::default()
            },
            time_scale: 0.0,
            ..SandboxConfig::standard()
        }
    }
}

/// Request counters of the snapshot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestCounts {
    /// Every HTTP request to `/rest/`, refused or not.
    pub total: u64,
    /// Calls that reached a method (past auth, rate limit, faults and the operating check),
    /// inner `batch` commands counted per method too.
    pub by_method: BTreeMap<String, u64>,
}

/// One group of duplicates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DuplicateDetail {
    /// `item` or `user`.
    pub kind: String,
    /// The entity type of items (absent for users).
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "entityTypeId")]
    pub entity_type_id: Option<u64>,
    /// The shared key: `originatorId|originId`, `xmlId:<x>` or the e-mail.
    pub key: String,
    /// The ids holding that key.
    pub ids: Vec<u64>,
}

/// Items and users created more than once under the same external key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DuplicateCounts {
    /// Items beyond the first per (entity type, `originatorId`+`originId`) or (entity type, `xmlId`).
    pub items: u64,
    /// Users beyond the first per e-mail (case-insensitive).
    pub users: u64,
    /// The groups.
    pub details: Vec<DuplicateDetail>,
}

/// What `GET /_sandbox/state` returns.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StateSnapshot {
    /// Item count per entity type id (as a string key).
    pub items: BTreeMap<String, u64>,
    /// Users created through `user.add` (the built-in administrator is not counted).
    pub users: u64,
    /// Requests served.
    pub requests: RequestCounts,
    /// Error answers by code, outer and inner batch commands alike.
    pub refusals: BTreeMap<String, u64>,
    /// Injected faults by kind (`fail_500`, `fail_503`, `html_error`, `drop_after_commit`, `timeout`).
    #[serde(default)]
    pub faults: BTreeMap<String, u64>,
    /// Duplicates by external key.
    pub duplicates: DuplicateCounts,
    /// Simulated operating seconds billed per method since the start (or the last reset), all
    /// credentials together: what a benchmark divides by the budget to get the time the
    /// operating limit alone allows. With [`BatchBilling::ToBatch`] a batch's seconds are
    /// billed to `batch`.
    #[serde(default)]
    pub operating: BTreeMap<String, f64>,
    /// Issue 19 (history): automation runs, e-mails sent, comments and activities held.
    #[serde(default)]
    pub history: HistoryCounts,
}

/// Entry point: `Sandbox::start(config)`.
pub struct Sandbox;

impl Sandbox {
    /// Binds 127.0.0.1 (port from the config, 0 = any) and serves until the handle is stopped.
    pub async fn start(config: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
        server::start(config).await
    }
}

/// A running sandbox: where it listens, what it holds, and how to stop it.
pub struct SandboxHandle {
    addr: SocketAddr,
    shared: Arc<server::Shared>,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SandboxHandle {
    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/rest/<user>/<code>/` (contains the secret: never log it).
    pub fn webhook_url(&self) -> String {
        let wh = &self.shared.config.webhook;
        format!("http://{}/rest/{}/{}/", self.addr, wh.user_id, wh.code)
    }

    /// The extranet user's webhook URL, when the portal has one
    /// ([`SandboxConfig::with_extranet_webhook`]).
    pub fn extranet_webhook_url(&self) -> Option<String> {
        let wh = self.shared.config.access.extranet_webhook.as_ref()?;
        Some(format!("http://{}/rest/{}/{}/", self.addr, wh.user_id, wh.code))
    }

    /// The OAuth REST endpoint (`client_endpoint`): `http://127.0.0.1:PORT/rest/`.
    pub fn client_endpoint(&self) -> String {
        format!("http://{}/rest/", self.addr)
    }

    /// The local token endpoint: `http://127.0.0.1:PORT/oauth/token/`.
    pub fn oauth_endpoint(&self) -> String {
        format!("http://{}/oauth/token/", self.addr)
    }

    /// The configuration the sandbox runs with (tokens included: never log them).
    pub fn config(&self) -> &SandboxConfig {
        &self.shared.config
    }

    /// The same data as `GET /_sandbox/state`.
    pub fn snapshot(&self) -> StateSnapshot {
        self.shared.snapshot()
    }

    /// Calls per method, inner batch commands counted per method too.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.shared.snapshot().requests.by_method
    }

    /// Stops accepting, closes every connection and waits for the server task.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}
