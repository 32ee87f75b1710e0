//! The sandbox's command line, defined once: the `serve` flags ([`ServeArgs`]), their
//! translation into a [`SandboxConfig`] ([`ServeArgs::config`]), and [`serve`], which starts the
//! portal, prints where it listens and runs it until Ctrl-C / SIGTERM.
//!
//! Both front ends use it: the package's own binary `b24-sandbox serve` (`src/bin/b24-sandbox.rs`)
//! and the importer's `b24import sandbox`, which flattens [`ServeArgs`] into its own options so
//! that the two take the same flags with the same meaning. Behind the cargo feature `cli` (on by
//! default; the only user of `clap` in this package).
//!
//! Output contract (tests and scripts read it): exactly two lines on stdout first,
//! `listening on http://127.0.0.1:PORT` and the webhook base URL; with `--oauth`, then six
//! `export NAME=value` lines; with `--extranet-webhook`, then `extranet webhook: URL`.
//! Everything else goes to stderr.
//!
//! What it must not do: know the importer (the hints it prints name no importer command unless
//! the caller passes one in [`ServeOptions`]), or hold a rule of the portal (those live in the
//! methods and the limits; this file only moves flags into the config).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::persist::{Persist, SavedOAuth};
use crate::{BatchBilling, Latency, Sandbox, SandboxConfig, SandboxError, SchemaFile};

/// A flag value the sandbox cannot run with, or a file it cannot use.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag's value is out of its range; the message names the flag and what to write.
    #[error("{0}")]
    InvalidFlag(String),
    /// The schema file, the state file or the listening socket.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// Standard output could not be written (the listening lines).
    #[error("cannot write to standard output: {0}")]
    Output(#[from] std::io::Error),
}

/// Rate-limit preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Plan {
    /// Drain 2 requests/s, burst 50.
    Standard,
    /// Drain 5 requests/s, burst 250.
    Enterprise,
}

/// How `batch` is billed against the operating-time budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Billing {
    /// Each inner command to its own method (the docs).
    PerInner,
    /// The whole batch to the method `batch` (what the JS SDK team measured).
    ToBatch,
}

/// The flags of `b24-sandbox serve` and `b24import sandbox`: limits, time model, faults,
/// credentials, schema, state file and port.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 0, help_heading = "Listening")]
    pub port: u16,
    /// Rate-limit preset.
    #[arg(long, value_enum, default_value_t = Plan::Standard, help_heading = "Request-rate limit")]
    pub plan: Plan,
    /// Leaky bucket drain, requests per second (overrides the plan).
    #[arg(long, help_heading = "Request-rate limit")]
    pub rate: Option<f64>,
    /// Leaky bucket size: a burst of this many requests passes (overrides the plan).
    #[arg(long, help_heading = "Request-rate limit")]
    pub burst: Option<f64>,
    /// Operating-time budget per method and credential, seconds per window.
    #[arg(long, default_value_t = 480.0, help_heading = "Operating-time limit")]
    pub operating_budget: f64,
    /// Operating-time window, seconds.
    #[arg(long, default_value_t = 600, help_heading = "Operating-time limit")]
    pub operating_window: u64,
    /// Number of buckets the window is kept in.
    #[arg(long, default_value_t = 10, help_heading = "Operating-time limit")]
    pub operating_buckets: u32,
    /// Simulated processing time of methods without a --cost, seconds.
    #[arg(long, help_heading = "Operating-time limit")]
    pub default_cost: Option<f64>,
    /// Simulated processing time of one method, `METHOD=SECONDS` (repeatable).
    #[arg(long, value_parser = parse_cost, help_heading = "Operating-time limit")]
    pub cost: Vec<(String, f64)>,
    /// How batch is billed against the operating budget.
    #[arg(long, value_enum, default_value_t = Billing::PerInner, help_heading = "Operating-time limit")]
    pub batch_billing: Billing,
    // The time model (issue 18): what the pages leave open about reporting operating time.
    /// A call (a batch command, a direct call, a batch billed to `batch`) under this many
    /// seconds of processing is not billed and shows 0 in `operating` (0 = every call billed,
    /// the docs; 0.1 = the floor the JS SDK team measured).
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS", help_heading = "Operating-time limit")]
    pub operating_floor: f64,
    /// Put `operating` / `operating_reset_at` in each `result_time` entry of a batch (the
    /// batch page's answer has none): the command's own method's figure, or with
    /// `--batch-billing to-batch` the batch-wide one.
    #[arg(long, help_heading = "Operating-time limit")]
    pub result_time_operating: bool,
    /// Run the first 50 commands of an oversized batch instead of refusing it whole.
    #[arg(long, help_heading = "Requests")]
    pub batch_overflow_runs_first_50: bool,
    /// Run simulated processing time this many times faster than real time (0 = no sleeping).
    #[arg(long, default_value_t = 1.0, help_heading = "Time model")]
    pub time_scale: f64,
    /// The request cap, simulated seconds (0 = none): a batch whose processing would pass it
    /// runs the commands that fit, then answers 504 after the cap, as the cloud's 60 s cap does.
    #[arg(long, default_value_t = 60.0, help_heading = "Requests")]
    pub max_request_secs: f64,
    /// Seed of the fault RNG (and of the latency RNG).
    #[arg(long, default_value_t = 0, help_heading = "Faults")]
    pub seed: u64,
    /// Probability of 500 INTERNAL_SERVER_ERROR without doing the work.
    #[arg(long, default_value_t = 0.0, help_heading = "Faults")]
    pub fail_500: f64,
    /// Probability of doing the work, then closing the connection without an answer.
    #[arg(long, default_value_t = 0.0, help_heading = "Faults")]
    pub drop_after_commit: f64,
    /// Delay every answer by this many milliseconds.
    #[arg(long, default_value_t = 0, help_heading = "Faults")]
    pub slow_ms: u64,
    /// Network latency per request, milliseconds: fixed (`800`) or a range drawn per request
    /// (`800-1200` or `800..1200`, from an RNG seeded by --seed apart from the faults). The
    /// answer leaves after the simulated work plus this; not scaled by --time-scale.
    #[arg(long, default_value = "0", value_name = "MS|MIN-MAX", help_heading = "Time model")]
    pub latency_ms: Latency,
    /// Do the work, then hold the answer this many milliseconds and close without one.
    #[arg(long, help_heading = "Faults")]
    pub timeout_after_ms: Option<u64>,
    /// Probability that --timeout-after-ms applies to a request.
    #[arg(long, default_value_t = 1.0, help_heading = "Faults")]
    pub timeout_p: f64,
    /// Probability of a spurious 503 QUERY_LIMIT_EXCEEDED.
    #[arg(long, default_value_t = 0.0, help_heading = "Faults")]
    pub fail_503: f64,
    /// Probability of an HTML error page instead of JSON.
    #[arg(long, default_value_t = 0.0, help_heading = "Faults")]
    pub html_error: f64,
    /// Answer OVERLOAD_LIMIT to every call.
    #[arg(long, help_heading = "Faults")]
    pub overload: bool,
    /// The webhook's secret code (default: random, or the one kept in --state). With --state,
    /// it is kept there; a different code than the one kept replaces it (with a note).
    #[arg(
        long,
        env = "B24IMPORT_SANDBOX_WEBHOOK_CODE",
        hide_env_values = true,
        help_heading = "Credentials"
    )]
    pub webhook_code: Option<String>,
    /// Also print rehearsal OAuth credentials on stdout (six `export B24_...=...` lines).
    #[arg(long, help_heading = "Credentials")]
    pub oauth: bool,
    /// Lifetime of OAuth access tokens in seconds (0 = never expire).
    #[arg(long, default_value_t = 3600, help_heading = "Credentials")]
    pub token_ttl: u64,
    /// Field schema TOML (default: the built-in schema).
    #[arg(long, help_heading = "Portal data")]
    pub schema: Option<PathBuf>,
    /// Refuse REST requests with a body over this many MiB with HTTP 413, as the web server
    /// in front of a portal does (nginx client_max_body_size).
    #[arg(long, default_value_t = 32.0, value_name = "MB", help_heading = "Requests")]
    pub max_request_mb: f64,
    /// Keep the portal state in this SQLite file (survives a restart).
    #[arg(long, help_heading = "Portal data")]
    pub state: Option<PathBuf>,
    /// Fields an item must have filled on a stage, `ENTITY[:STAGE]=FIELD,FIELD` (repeatable), as
    /// a portal's stage-dependent required fields: `deal:WON=opportunity,closedate`. ENTITY is
    /// lead, deal, contact, company, quote, invoice or an entityTypeId; STAGE a STATUS_ID or the
    /// code after the pipeline prefix (WON matches C3:WON); without a stage, on every item.
    /// Refused with CRM_FIELD_ERROR_REQUIRED. The schema file's [[entity.require]] does the same.
    #[arg(long = "require", value_name = "ENTITY[:STAGE]=FIELDS", help_heading = "Portal rules")]
    pub require: Vec<crate::StageRequirement>,
    /// Store IDs that point at nothing (a user, company, contact, lead, deal, quote or parent item
    /// that does not exist) instead of refusing them, as portals whose data was loaded around
    /// the API do.
    #[arg(long, help_heading = "Portal rules")]
    pub accept_dangling_refs: bool,
    /// A workgroup open to extranet users, by id (repeatable, or comma-separated): `user.add`
    /// with EXTRANET=Y must name one in SONET_GROUP_ID, else ERROR_NO_GROUP. A fresh portal
    /// has none, so by default every extranet invitation is refused.
    #[arg(long = "extranet-group", value_name = "ID", value_delimiter = ',', help_heading = "Portal rules")]
    pub extranet_groups: Vec<u64>,

    // Credentials and the plan (`access`, `plan`).
    /// Also accept the webhook of an extranet user (user 1000; its URL is printed at start):
    /// the CRM controllers refuse it with 403 allowed_only_intranet_user, other CRM and user
    /// methods with their access-denied error.
    #[arg(long, help_heading = "Credentials")]
    pub extranet_webhook: bool,
    /// The webhook's scopes (comma-separated, e.g. `crm,user`; default: every scope). A method
    /// outside them answers 403 insufficient_scope.
    #[arg(long, value_name = "SCOPES", value_delimiter = ',', help_heading = "Credentials")]
    pub webhook_scopes: Option<Vec<String>>,
    /// The OAuth application's scopes (comma-separated; default: every scope).
    #[arg(long, value_name = "SCOPES", value_delimiter = ',', help_heading = "Credentials")]
    pub oauth_scopes: Option<Vec<String>>,
    /// The plan has no smart processes: crm.type.add/update and SPA items are refused with the
    /// *_DYNAMIC_*_RESTRICTED errors (built-in CRM types stay writable).
    #[arg(long, help_heading = "Plan limits")]
    pub no_smart_processes: bool,
    /// At most N smart processes (crm.type.add then CREATE_DYNAMIC_TYPE_RESTRICTED).
    #[arg(long, value_name = "N", help_heading = "Plan limits")]
    pub max_smart_processes: Option<usize>,
    /// At most N digital workplaces (crm.automatedsolution.add then LIMIT_EXCEEDED).
    #[arg(long, value_name = "N", help_heading = "Plan limits")]
    pub max_automated_solutions: Option<usize>,
    /// At most N intranet users, the administrator included (user.add then ERROR_ARGUMENT
    /// user_count_exceeded). POST /_sandbox/plan changes the limits while it runs.
    #[arg(long, value_name = "N", help_heading = "Plan limits")]
    pub max_users: Option<usize>,
    // Issue 19 (history): the credential's rights for crm.item.import / crm.item.batchImport.
    /// The credential lacks the "import" permission: crm.item.import and crm.item.batchImport
    /// answer ACCESS_DENIED "Access denied".
    #[arg(long, help_heading = "Credentials")]
    pub deny_import: bool,
    /// The credential is not an administrator: an imported item carrying createdTime,
    /// updatedTime, movedTime, createdBy, updatedBy or movedBy is refused with
    /// CRM_FIELD_ERROR_VALUE_NOT_VALID naming the field.
    #[arg(long, help_heading = "Credentials")]
    pub not_admin: bool,
    /// A business process template that starts on every new item of this document type
    /// (DEAL, LEAD, CONTACT, COMPANY, DYNAMIC_<id>), listed by bizproc.workflow.template.list;
    /// may be repeated.
    #[arg(long, value_name = "DOCUMENT_TYPE", help_heading = "Portal")]
    pub auto_workflow: Vec<String>,
}

fn parse_cost(s: &str) -> Result<(String, f64), String> {
    let (method, secs) = s.split_once('=').ok_or_else(|| format!("expected METHOD=SECONDS, got `{s}`"))?;
    let secs: f64 = secs.parse().map_err(|_| format!("`{secs}` is not a number of seconds"))?;
    Ok((method.trim().to_ascii_lowercase(), secs))
}

fn invalid(message: String) -> CliError {
    CliError::InvalidFlag(message)
}

impl ServeArgs {
    /// The configuration these flags describe. With `--state`, opens the file to keep (or take
    /// back) the webhook code and the OAuth application, so a restart answers at the same URL.
    pub fn config(&self) -> Result<SandboxConfig, CliError> {
        let args = self;
        let mut cfg = match args.plan {
            Plan::Standard => SandboxConfig::standard(),
            Plan::Enterprise => SandboxConfig::enterprise(),
        };
        cfg.port = args.port;
        if let Some(r) = args.rate {
            cfg.rate = r;
        }
        if let Some(b) = args.burst {
            cfg.burst = b;
        }
        if !(args.operating_budget.is_finite() && args.operating_budget > 0.0) {
            return Err(invalid(format!(
                "--operating-budget must be a number of seconds above 0, not {}",
                args.operating_budget
            )));
        }
        if args.operating_window == 0 || args.operating_buckets == 0 {
            return Err(invalid("--operating-window and --operating-buckets must be at least 1".into()));
        }
        if let Some((method, secs)) = args.cost.iter().find(|(_, s)| !(s.is_finite() && *s >= 0.0)) {
            return Err(invalid(format!("--cost {method}={secs}: a cost is a number of seconds, 0 or more")));
        }
        cfg.operating.budget_secs = args.operating_budget;
        cfg.operating.window = Duration::from_secs(args.operating_window);
        cfg.operating.buckets = args.operating_buckets;
        if let Some(c) = args.default_cost {
            cfg.operating.default_cost_secs = c;
        }
        cfg.operating.cost_secs.extend(args.cost.iter().cloned());
        cfg.batch_billing = match args.batch_billing {
            Billing::PerInner => BatchBilling::PerInnerMethod,
            Billing::ToBatch => BatchBilling::ToBatch,
        };
        if !(args.operating_floor.is_finite() && args.operating_floor >= 0.0) {
            return Err(invalid(format!(
                "--operating-floor must be 0 (no floor) or more seconds, not {}",
                args.operating_floor
            )));
        }
        cfg.time_model.operating_floor_secs = args.operating_floor;
        cfg.time_model.result_time_operating = args.result_time_operating;
        cfg.batch_overflow_runs_first_50 = args.batch_overflow_runs_first_50;
        cfg.time_scale = args.time_scale;
        if !(args.max_request_secs.is_finite() && args.max_request_secs >= 0.0) {
            return Err(invalid(format!(
                "--max-request-secs must be 0 (no cap) or more, not {}",
                args.max_request_secs
            )));
        }
        cfg.max_request_secs = args.max_request_secs;
        cfg.faults.seed = args.seed;
        cfg.faults.fail_500 = args.fail_500;
        cfg.faults.drop_after_commit = args.drop_after_commit;
        cfg.faults.slow_ms = args.slow_ms;
        cfg.latency = args.latency_ms;
        cfg.faults.timeout_after_ms = args.timeout_after_ms;
        cfg.faults.timeout_p = args.timeout_p;
        cfg.faults.fail_503 = args.fail_503;
        cfg.faults.html_error = args.html_error;
        cfg.faults.overload = args.overload;
        if !(args.max_request_mb.is_finite() && args.max_request_mb > 0.0) {
            return Err(invalid(format!("--max-request-mb must be above 0, not {}", args.max_request_mb)));
        }
        cfg.max_request_bytes = (args.max_request_mb * 1024.0 * 1024.0) as usize;
        cfg.oauth.token_ttl = (args.token_ttl > 0).then(|| Duration::from_secs(args.token_ttl));
        if let Some(path) = &args.schema {
            cfg.schema = Some(SchemaFile::load(path)?);
        }
        cfg.items.stage_required = args.require.clone();
        cfg.items.accept_dangling_refs = args.accept_dangling_refs;
        cfg.setup = crate::SetupConfig::default().with_extranet_groups(args.extranet_groups.iter().copied());
        if args.extranet_webhook {
            cfg = cfg.with_extranet_webhook();
        }
        let scopes = |s: &Option<Vec<String>>| {
            s.as_ref()
                .map(|v| v.iter().map(|x| x.trim().to_ascii_lowercase()).filter(|x| !x.is_empty()).collect())
        };
        cfg.access.webhook_scopes = scopes(&args.webhook_scopes);
        cfg.access.oauth_scopes = scopes(&args.oauth_scopes);
        cfg.plan = crate::PlanLimits {
            smart_processes: !args.no_smart_processes,
            max_smart_processes: args.max_smart_processes,
            max_automated_solutions: args.max_automated_solutions,
            max_users: args.max_users,
        };
        // Issue 19 (history).
        let workflows = args
            .auto_workflow
            .iter()
            .enumerate()
            .map(|(i, t)| crate::history::WorkflowTemplate::on_create(i as u64 + 1, t))
            .collect();
        cfg.history =
            crate::HistoryConfig { import_denied: args.deny_import, not_admin: args.not_admin, workflows };
        cfg.state_file = args.state.clone();
        match &args.state {
            Some(path) => {
                let p = Persist::open(path)?;
                keep_webhook_code(&p, args.webhook_code.as_deref(), &mut cfg, path)?;
                keep_oauth(&p, &mut cfg)?;
            }
            None => {
                if let Some(code) = &args.webhook_code {
                    cfg.webhook.code = code.clone();
                }
            }
        }
        Ok(cfg)
    }
}

/// The webhook code across restarts of one `--state`: the flag if given (it replaces a
/// different kept code, with a note), else the kept one, else the new random one, kept.
fn keep_webhook_code(
    p: &Persist,
    flag: Option<&str>,
    cfg: &mut SandboxConfig,
    path: &Path,
) -> Result<(), CliError> {
    let kept = p.setting("webhook_code")?;
    match (flag, kept) {
        (Some(code), kept) => {
            if kept.as_deref().is_some_and(|k| k != code) {
                eprintln!(
                    "note: --webhook-code differs from the code kept in {}; using --webhook-code and \
                     keeping it (the old webhook URL no longer works)",
                    path.display()
                );
            }
            cfg.webhook.code = code.to_string();
            p.set_setting("webhook_code", code)?;
        }
        (None, Some(code)) => cfg.webhook.code = code,
        (None, None) => p.set_setting("webhook_code", &cfg.webhook.code)?,
    }
    Ok(())
}

/// The OAuth application across restarts: the kept one (with the tokens the token endpoint
/// last issued), else this start's random one, kept.
fn keep_oauth(p: &Persist, cfg: &mut SandboxConfig) -> Result<(), CliError> {
    match p.oauth()? {
        Some(saved) => {
            cfg.oauth.client_id = saved.client_id;
            cfg.oauth.client_secret = saved.client_secret;
            cfg.oauth.access_token = saved.access_token;
            cfg.oauth.refresh_token = saved.refresh_token;
        }
        None => p.save_oauth(&SavedOAuth {
            client_id: cfg.oauth.client_id.clone(),
            client_secret: cfg.oauth.client_secret.clone(),
            access_token: cfg.oauth.access_token.clone(),
            refresh_token: cfg.oauth.refresh_token.clone(),
        })?,
    }
    Ok(())
}

/// What a front end adds to [`serve`]: whether to print the OAuth lines, and the hint to show
/// on stderr with them (the importer names its `run` command; the sandbox's binary a generic one).
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Print the six `export` lines (`--oauth`).
    pub oauth: bool,
    /// The stderr hint after the `export` lines (`{portal}` and `{token}` in it become the REST
    /// and token endpoints); `None` prints a generic one.
    pub oauth_hint: Option<String>,
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Starts the sandbox with `cfg`, prints the listening lines (see the module documentation),
/// and serves until `shutdown` resolves. Call it inside a tokio runtime.
pub async fn serve(
    cfg: SandboxConfig,
    opts: &ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), CliError> {
    let handle = Sandbox::start(cfg).await?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", handle.base_url())?;
        writeln!(out, "{}", handle.webhook_url())?;
        if opts.oauth {
            let o = &handle.config().oauth;
            writeln!(out, "export B24_PORTAL_URL={}", handle.client_endpoint())?;
            writeln!(out, "export B24_OAUTH_ENDPOINT={}", handle.oauth_endpoint())?;
            writeln!(out, "export B24_ACCESS_TOKEN={}", o.access_token)?;
            writeln!(out, "export B24_REFRESH_TOKEN={}", o.refresh_token)?;
            writeln!(out, "export B24_CLIENT_ID={}", o.client_id)?;
            writeln!(out, "export B24_CLIENT_SECRET={}", o.client_secret)?;
        }
        if let Some(url) = handle.extranet_webhook_url() {
            writeln!(out, "extranet webhook: {url}")?;
        }
        out.flush()?;
    }
    let ttl =
        handle.config().oauth.token_ttl.map_or("for ever".to_string(), |t| format!("{} s", t.as_secs()));
    if opts.oauth {
        let hint = opts.oauth_hint.as_deref().unwrap_or(
            "OAuth rehearsal: REST calls go to {portal}METHOD with `auth=B24_ACCESS_TOKEN`; \
             tokens are refreshed at {token} with grant_type=refresh_token",
        );
        let hint =
            hint.replace("{portal}", &handle.client_endpoint()).replace("{token}", &handle.oauth_endpoint());
        eprintln!("{hint}. Access tokens live {ttl}.");
    } else {
        eprintln!(
            "OAuth: client endpoint {}, token endpoint {} (client id {}); --oauth prints rehearsal credentials",
            handle.client_endpoint(),
            handle.oauth_endpoint(),
            handle.config().oauth.client_id
        );
    }
    eprintln!(
        "harness: GET {base}/_sandbox/state, GET {base}/_sandbox/items?entityTypeId=N, GET {base}/_sandbox/users, \
         POST {base}/_sandbox/reset, GET/POST {base}/_sandbox/plan",
        base = handle.base_url()
    );
    shutdown.await;
    eprintln!("stopping the sandbox");
    handle.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn args(argv: &[&str]) -> ServeArgs {
        Cli::try_parse_from(std::iter::once("serve").chain(argv.iter().copied())).expect("parses").serve
    }

    #[test]
    fn the_time_model_flags_reach_the_config() {
        let a = args(&[
            "--latency-ms",
            "800-1200",
            "--cost",
            "crm.item.add=0.01",
            "--operating-budget",
            "6",
            "--operating-window",
            "30",
            "--time-scale",
            "2",
        ]);
        let cfg = a.config().expect("valid");
        assert_eq!(cfg.latency, Latency::range(800, 1200));
        assert_eq!(cfg.operating.cost_of("crm.item.add"), 0.01);
        assert_eq!((cfg.operating.budget_secs, cfg.operating.window), (6.0, Duration::from_secs(30)));
        assert_eq!(cfg.time_scale, 2.0);
        assert_eq!(args(&["--latency-ms", "150"]).config().expect("valid").latency, Latency::fixed(150));
        assert!(args(&[]).config().expect("valid").latency.is_zero());
    }

    #[test]
    fn the_credential_and_plan_limit_flags_reach_the_config() {
        let cfg = args(&[]).config().expect("valid");
        assert!(cfg.access.extranet_webhook.is_none() && cfg.access.oauth_scopes.is_none());
        assert_eq!(cfg.plan, crate::PlanLimits::default());
        let a = args(&[
            "--extranet-webhook",
            "--oauth-scopes",
            "User, crm",
            "--webhook-scopes=crm",
            "--no-smart-processes",
            "--max-users",
            "3",
            "--max-automated-solutions=0",
        ]);
        let cfg = a.config().expect("valid");
        assert_eq!(cfg.access.extranet_webhook.as_ref().map(|w| w.user_id), Some(1000));
        let scopes: Vec<&str> = cfg.access.oauth_scopes.iter().flatten().map(String::as_str).collect();
        assert_eq!(scopes, ["crm", "user"]);
        assert_eq!(cfg.access.webhook_scopes.iter().flatten().count(), 1);
        assert!(!cfg.plan.smart_processes);
        assert_eq!((cfg.plan.max_users, cfg.plan.max_automated_solutions), (Some(3), Some(0)));
    }

    #[test]
    fn a_bad_latency_or_budget_is_refused_with_what_to_write() {
        let e =
            Cli::try_parse_from(["serve", "--latency-ms", "1s"]).expect_err("not milliseconds").to_string();
        assert!(e.contains("800-1200"), "{e}");
        for bad in [
            &["--operating-window", "0"][..],
            &["--operating-budget", "0"],
            &["--cost", "crm.item.add=-1"],
            &["--max-request-mb", "0"],
            &["--max-request-secs=-1"],
        ] {
            assert!(matches!(args(bad).config(), Err(CliError::InvalidFlag(_))), "{bad:?}");
        }
    }

    #[test]
    fn the_plan_and_the_faults_reach_the_config() {
        let cfg = args(&[
            "--plan",
            "enterprise",
            "--fail-500",
            "0.25",
            "--seed",
            "7",
            "--batch-billing",
            "to-batch",
        ])
        .config()
        .expect("valid");
        assert_eq!((cfg.rate, cfg.burst), (5.0, 250.0));
        assert_eq!((cfg.faults.fail_500, cfg.faults.seed), (0.25, 7));
        assert_eq!(cfg.batch_billing, BatchBilling::ToBatch);
        let cfg = args(&["--rate", "3", "--burst", "9", "--token-ttl", "0"]).config().expect("valid");
        assert_eq!((cfg.rate, cfg.burst, cfg.oauth.token_ttl), (3.0, 9.0, None));
    }
}
