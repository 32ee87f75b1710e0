//! `b24import sandbox`: start the embedded Bitrix24 portal emulator on 127.0.0.1 and run it
//! until Ctrl-C / SIGTERM.
//!
//! Prints exactly two lines on stdout first: `listening on http://127.0.0.1:PORT`, then the
//! webhook base URL; with `--oauth`, then the rehearsal OAuth credentials as `export NAME=value`
//! lines. Everything else goes to stderr. With `--state FILE`, the webhook code and the OAuth
//! application are kept in the file, so a restart answers at the same URL with the same
//! credentials. Owns flag parsing only; the emulator is `b24import::sandbox`, the workspace
//! package `b24-sandbox` (`sandbox/`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::sandbox::persist::{Persist, SavedOAuth};
use crate::sandbox::{BatchBilling, Latency, Sandbox, SandboxConfig, SchemaFile};
use anyhow::Context;

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

/// Options of `b24import sandbox` (boxed: the subcommand enum stays small).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub opts: Box<Opts>,
}

/// The options themselves.
#[derive(Debug, clap::Args)]
pub struct Opts {
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Rate-limit preset.
    #[arg(long, value_enum, default_value_t = Plan::Standard)]
    pub plan: Plan,
    /// Leaky bucket drain, requests per second (overrides the plan).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Leaky bucket size: a burst of this many requests passes (overrides the plan).
    #[arg(long)]
    pub burst: Option<f64>,
    /// Operating-time budget per method and credential, seconds per window.
    #[arg(long, default_value_t = 480.0)]
    pub operating_budget: f64,
    /// Operating-time window, seconds.
    #[arg(long, default_value_t = 600)]
    pub operating_window: u64,
    /// Number of buckets the window is kept in.
    #[arg(long, default_value_t = 10)]
    pub operating_buckets: u32,
    /// Simulated processing time of methods without a --cost, seconds.
    #[arg(long)]
    pub default_cost: Option<f64>,
    /// Simulated processing time of one method, `METHOD=SECONDS` (repeatable).
    #[arg(long, value_parser = parse_cost)]
    pub cost: Vec<(String, f64)>,
    /// How batch is billed against the operating budget.
    #[arg(long, value_enum, default_value_t = Billing::PerInner)]
    pub batch_billing: Billing,
    // The time model (issue 18): what the pages leave open about reporting operating time.
    /// A call (a batch command, a direct call, a batch billed to `batch`) under this many
    /// seconds of processing is not billed and shows 0 in `operating` (0 = every call billed,
    /// the docs; 0.1 = the floor the JS SDK team measured).
    #[arg(long, default_value_t = 0.0, value_name = "SECONDS")]
    pub operating_floor: f64,
    /// Put `operating` / `operating_reset_at` in each `result_time` entry of a batch (the
    /// batch page's answer has none): the command's own method's figure, or with
    /// `--batch-billing to-batch` the batch-wide one.
    #[arg(long)]
    pub result_time_operating: bool,
    /// Run the first 50 commands of an oversized batch instead of refusing it whole.
    #[arg(long)]
    pub batch_overflow_runs_first_50: bool,
    /// Run simulated processing time this many times faster than real time (0 = no sleeping).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// The request cap, simulated seconds (0 = none): a batch whose processing would pass it
    /// runs the commands that fit, then answers 504 after the cap, as the cloud's 60 s cap does.
    #[arg(long, default_value_t = 60.0)]
    pub max_request_secs: f64,
    /// Seed of the fault RNG.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Probability of 500 INTERNAL_SERVER_ERROR without doing the work.
    #[arg(long, default_value_t = 0.0)]
    pub fail_500: f64,
    /// Probability of doing the work, then closing the connection without an answer.
    #[arg(long, default_value_t = 0.0)]
    pub drop_after_commit: f64,
    /// Delay every answer by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    pub slow_ms: u64,
    /// Network latency per request, milliseconds: fixed (`800`) or a range drawn per request
    /// (`800-1200` or `800..1200`, from an RNG seeded by --seed apart from the faults). The
    /// answer leaves after the simulated work plus this; not scaled by --time-scale.
    #[arg(long, default_value = "0", value_name = "MS|MIN-MAX")]
    pub latency_ms: Latency,
    /// Do the work, then hold the answer this many milliseconds and close without one.
    #[arg(long)]
    pub timeout_after_ms: Option<u64>,
    /// Probability that --timeout-after-ms applies to a request.
    #[arg(long, default_value_t = 1.0)]
    pub timeout_p: f64,
    /// Probability of a spurious 503 QUERY_LIMIT_EXCEEDED.
    #[arg(long, default_value_t = 0.0)]
    pub fail_503: f64,
    /// Probability of an HTML error page instead of JSON.
    #[arg(long, default_value_t = 0.0)]
    pub html_error: f64,
    /// Answer OVERLOAD_LIMIT to every call.
    #[arg(long)]
    pub overload: bool,
    /// The webhook's secret code (default: random, or the one kept in --state). With --state,
    /// it is kept there; a different code than the one kept replaces it (with a note).
    #[arg(long, env = "B24IMPORT_SANDBOX_WEBHOOK_CODE", hide_env_values = true)]
    pub webhook_code: Option<String>,
    /// Also print rehearsal OAuth credentials on stdout (`export B24_ACCESS_TOKEN=...` lines for
    /// `b24import run` without --webhook).
    #[arg(long)]
    pub oauth: bool,
    /// Lifetime of OAuth access tokens in seconds (0 = never expire).
    #[arg(long, default_value_t = 3600)]
    pub token_ttl: u64,
    /// Field schema TOML (default: the built-in schema).
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// Refuse REST requests with a body over this many MiB with HTTP 413, as the web server
    /// in front of a portal does (nginx client_max_body_size).
    #[arg(long, default_value_t = 32.0, value_name = "MB")]
    pub max_request_mb: f64,
    /// Keep the portal state in this SQLite file (survives a restart).
    #[arg(long)]
    pub state: Option<PathBuf>,
}

fn parse_cost(s: &str) -> Result<(String, f64), String> {
    let (method, secs) = s.split_once('=').ok_or_else(|| format!("expected METHOD=SECONDS, got `{s}`"))?;
    let secs: f64 = secs.parse().map_err(|_| format!("`{secs}` is not a number of seconds"))?;
    Ok((method.trim().to_ascii_lowercase(), secs))
}

fn config(args: &Opts) -> anyhow::Result<SandboxConfig> {
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
        anyhow::bail!(
            "--operating-budget must be a number of seconds above 0, not {}",
            args.operating_budget
        );
    }
    if args.operating_window == 0 || args.operating_buckets == 0 {
        anyhow::bail!("--operating-window and --operating-buckets must be at least 1");
    }
    if let Some((method, secs)) = args.cost.iter().find(|(_, s)| !(s.is_finite() && *s >= 0.0)) {
        anyhow::bail!("--cost {method}={secs}: a cost is a number of seconds, 0 or more");
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
        anyhow::bail!("--operating-floor must be 0 (no floor) or more seconds, not {}", args.operating_floor);
    }
    cfg.time_model.operating_floor_secs = args.operating_floor;
    cfg.time_model.result_time_operating = args.result_time_operating;
    cfg.batch_overflow_runs_first_50 = args.batch_overflow_runs_first_50;
    cfg.time_scale = args.time_scale;
    if !(args.max_request_secs.is_finite() && args.max_request_secs >= 0.0) {
        anyhow::bail!("--max-request-secs must be 0 (no cap) or more, not {}", args.max_request_secs);
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
        anyhow::bail!("--max-request-mb must be above 0, not {}", args.max_request_mb);
    }
    cfg.max_request_bytes = (args.max_request_mb * 1024.0 * 1024.0) as usize;
    cfg.oauth.token_ttl = (args.token_ttl > 0).then(|| Duration::from_secs(args.token_ttl));
    if let Some(path) = &args.schema {
        cfg.schema = Some(SchemaFile::load(path)?);
    }
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

/// The webhook code across restarts of one `--state`: the flag if given (it replaces a
/// different kept code, with a note), else the kept one, else the new random one, kept.
fn keep_webhook_code(
    p: &Persist,
    flag: Option<&str>,
    cfg: &mut SandboxConfig,
    path: &std::path::Path,
) -> anyhow::Result<()> {
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
fn keep_oauth(p: &Persist, cfg: &mut SandboxConfig) -> anyhow::Result<()> {
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

async fn shutdown_signal() {
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

/// Runs the sandbox until Ctrl-C / SIGTERM.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let cfg = config(&args.opts)?;
    let oauth = args.opts.oauth;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let handle = Sandbox::start(cfg).await?;
        {
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on {}", handle.base_url())?;
            writeln!(out, "{}", handle.webhook_url())?;
            if oauth {
                let o = &handle.config().oauth;
                writeln!(out, "export B24_PORTAL_URL={}", handle.client_endpoint())?;
                writeln!(out, "export B24_OAUTH_ENDPOINT={}", handle.oauth_endpoint())?;
                writeln!(out, "export B24_ACCESS_TOKEN={}", o.access_token)?;
                writeln!(out, "export B24_REFRESH_TOKEN={}", o.refresh_token)?;
                writeln!(out, "export B24_CLIENT_ID={}", o.client_id)?;
                writeln!(out, "export B24_CLIENT_SECRET={}", o.client_secret)?;
            }
            out.flush()?;
        }
        if oauth {
            eprintln!(
                "OAuth rehearsal: run the export lines above in another shell, then `b24import run \
                 MAPPING...` without --webhook (the same as --portal {} --oauth-endpoint {}). \
                 Access tokens live {}; the run refreshes them and keeps the rotated refresh token \
                 beside its journal.",
                handle.client_endpoint(),
                handle.oauth_endpoint(),
                handle.config().oauth.token_ttl.map_or("for ever".to_string(), |t| format!("{} s", t.as_secs()))
            );
        } else {
            eprintln!(
                "OAuth: client endpoint {}, token endpoint {} (client id {}); --oauth prints rehearsal credentials",
                handle.client_endpoint(),
                handle.oauth_endpoint(),
                handle.config().oauth.client_id
            );
        }
        shutdown_signal().await;
        eprintln!("stopping the sandbox");
        handle.stop().await;
        Ok::<u8, anyhow::Error>(crate::cli::exit::OK)
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn opts(args: &[&str]) -> Box<Opts> {
        let argv = ["b24import", "sandbox"].iter().chain(args).copied();
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Sandbox(a) => a.opts,
            other => panic!("not the sandbox subcommand: {other:?}"),
        }
    }

    #[test]
    fn the_time_model_flags_reach_the_config() {
        let o = opts(&[
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
        let cfg = config(&o).expect("valid");
        assert_eq!(cfg.latency, Latency::range(800, 1200));
        assert_eq!(cfg.operating.cost_of("crm.item.add"), 0.01);
        assert_eq!((cfg.operating.budget_secs, cfg.operating.window), (6.0, Duration::from_secs(30)));
        assert_eq!(cfg.time_scale, 2.0);
        assert_eq!(config(&opts(&["--latency-ms", "150"])).expect("valid").latency, Latency::fixed(150));
        assert!(config(&opts(&[])).expect("valid").latency.is_zero());
    }

    #[test]
    fn the_billing_and_reporting_flags_reach_the_config_and_default_to_the_docs() {
        let cfg = config(&opts(&[])).expect("valid");
        assert_eq!(cfg.batch_billing, BatchBilling::PerInnerMethod);
        assert_eq!(cfg.time_model, crate::sandbox::TimeModel::default());
        let cfg = config(&opts(&[
            "--batch-billing",
            "to-batch",
            "--operating-floor",
            "0.1",
            "--result-time-operating",
        ]))
        .expect("valid");
        assert_eq!(cfg.batch_billing, BatchBilling::ToBatch);
        assert_eq!(cfg.time_model.operating_floor_secs, 0.1);
        assert!(cfg.time_model.result_time_operating);
        assert!(config(&opts(&["--operating-floor=-1"])).is_err());
    }

    #[test]
    fn a_bad_latency_or_budget_is_refused_with_what_to_write() {
        let argv = ["b24import", "sandbox", "--latency-ms", "1s"];
        let e = Cli::try_parse_from(argv).expect_err("not milliseconds").to_string();
        assert!(e.contains("800-1200"), "{e}");
        assert!(config(&opts(&["--operating-window", "0"])).is_err());
        assert!(config(&opts(&["--operating-budget", "0"])).is_err());
        assert!(config(&opts(&["--cost", "crm.item.add=-1"])).is_err());
    }
}
