//! `b24import run`: import mappings into a portal, journaled and resumable.
//!
//! Owns: credentials from flags and environment (never printed), the transport's settings,
//! the summary and `--report`, and the exit code. The work is `pipeline::run`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, bail};

use super::exit;
use crate::pipeline::{self, PlanRate, RunError, RunOptions, RunReport};
use crate::transport::{Credentials, OAuth, Plan, Rate, Secret, Transport, TransportConfig, Webhook};

/// Rate-limit preset of the portal's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanArg {
    /// Every plan but Enterprise: 2 requests/s, burst 50.
    Standard,
    /// Enterprise: 5 requests/s, burst 250.
    Enterprise,
}

/// Options of `b24import run`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Credentials: an inbound webhook (--webhook or B24_WEBHOOK_URL), or OAuth with B24_ACCESS_TOKEN,
B24_REFRESH_TOKEN, B24_CLIENT_ID, B24_CLIENT_SECRET and --portal (the REST endpoint, e.g.
https://example.bitrix24.ru/rest/). http:// is refused except for loopback addresses.

Examples:
  b24import run mappings/companies.toml mappings/contacts.toml --webhook https://example.bitrix24.ru/rest/1/xxxx/
  b24import run mappings/users.toml mappings/companies.toml mappings/contacts.toml --dry-run
  b24import status

Running the same mappings again continues the job: finished rows are not sent again, rows
whose outcome was unknown are looked up by their external key before anything is resent.

Exit codes: 0 every row done, 1 finished with rejected rows, 2 usage/config error,
3 gave up on the portal (auth refused, OVERLOAD_LIMIT, retries exhausted), 4 journal error,
130 stopped by Ctrl-C (run again to continue).")]
pub struct Args {
    /// Mapping files (TOML), run as steps in this order.
    #[arg(required = true, value_name = "MAPPING")]
    pub mappings: Vec<PathBuf>,
    #[command(flatten)]
    pub portal: PortalArgs,
    #[command(flatten)]
    pub journal: JournalArgs,
    /// Commands per batch request (at most 50; user steps use at most 10).
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub batch_size: usize,
    /// Read the portal but never write to it; nothing is written to the journal.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the final report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// Where the portal is and how fast it may be called.
#[derive(Debug, clap::Args)]
pub struct PortalArgs {
    /// Inbound webhook URL (https://portal/rest/<user>/<code>/).
    #[arg(long, env = "B24_WEBHOOK_URL", hide_env_values = true, value_name = "URL")]
    pub webhook: Option<String>,
    /// OAuth: the portal's REST endpoint (client_endpoint), with B24_ACCESS_TOKEN etc.
    #[arg(long, env = "B24_PORTAL_URL", value_name = "URL")]
    pub portal: Option<String>,
    /// OAuth: the token endpoint used to refresh an expired access token.
    #[arg(long, default_value = "https://oauth.bitrix.info/oauth/token/", value_name = "URL")]
    pub oauth_endpoint: String,
    /// The portal's plan (sets the request-rate limit).
    #[arg(long, value_enum, default_value_t = PlanArg::Standard)]
    pub plan: PlanArg,
    /// Requests per second (overrides the plan).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// Burst of requests (overrides the plan).
    #[arg(long, value_name = "B")]
    pub burst: Option<u32>,
}

/// Which journal to use.
#[derive(Debug, clap::Args)]
pub struct JournalArgs {
    /// The journal file. Default: <first mapping's dir>/.b24import/<job>.sqlite; for status,
    /// rejects and ids: mappings/.b24import/<job>.sqlite if it exists, else .b24import/<job>.sqlite.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
    /// Job name: one journal per job.
    #[arg(long, default_value = "import")]
    pub job: String,
}

impl PortalArgs {
    fn rate(&self) -> Rate {
        let plan = match self.plan {
            PlanArg::Standard => Plan::Standard,
            PlanArg::Enterprise => Plan::Enterprise,
        };
        let mut rate = plan.rate();
        if let Some(r) = self.rate {
            rate.per_second = r;
        }
        if let Some(b) = self.burst {
            rate.burst = b;
        }
        rate
    }

    /// The transport for these flags and the environment. `token_file` keeps rotated OAuth
    /// refresh tokens (never the journal).
    pub fn transport(&self, token_file: &Path) -> anyhow::Result<Transport> {
        let credentials = match (&self.webhook, std::env::var("B24_ACCESS_TOKEN").ok()) {
            (Some(url), _) => Credentials::Webhook(Webhook::parse(url)?),
            (None, Some(access)) => {
                let endpoint = self.portal.as_deref().context(
                    "OAuth needs the portal's REST endpoint: --portal https://example.bitrix24.ru/rest/",
                )?;
                let env = |name: &str| std::env::var(name).with_context(|| format!("OAuth needs {name}"));
                let refresh = match std::fs::read_to_string(token_file) {
                    Ok(saved) if !saved.trim().is_empty() => saved.trim().to_string(),
                    _ => env("B24_REFRESH_TOKEN")?,
                };
                Credentials::OAuth(OAuth::new(
                    endpoint,
                    Secret::new(access),
                    Secret::new(refresh),
                    env("B24_CLIENT_ID")?,
                    Secret::new(env("B24_CLIENT_SECRET")?),
                    &self.oauth_endpoint,
                )?)
            }
            (None, None) => bail!(
                "no portal credentials: pass --webhook URL (or set B24_WEBHOOK_URL), or set B24_ACCESS_TOKEN, \
                 B24_REFRESH_TOKEN, B24_CLIENT_ID, B24_CLIENT_SECRET and --portal"
            ),
        };
        let rate = self.rate();
        if !rate.per_second.is_finite() || rate.per_second <= 0.0 || rate.burst == 0 {
            bail!("--rate must be above 0 and --burst at least 1");
        }
        let mut config = TransportConfig::new(credentials, Plan::Standard);
        config.limiter.rate = rate;
        let file = token_file.to_path_buf();
        config.on_refresh = Some(Arc::new(move |token: &Secret| {
            if let Err(e) = save_token(&file, token.expose()) {
                tracing::warn!(path = %file.display(), error = %e, "cannot save the rotated refresh token");
            }
        }));
        Ok(Transport::new(config)?)
    }
}

/// Writes the rotated refresh token atomically, readable by the owner only.
fn save_token(path: &Path, token: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        std::io::Write::write_all(&mut f, token.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(tmp, path)
}

impl JournalArgs {
    /// Opens the journal `status`, `rejects` and `ids` read, read-only (no lock, no migration,
    /// no file created or changed); `Err` carries the exit code after the reason is printed:
    /// 4 for a missing journal too (like every other journal error).
    pub fn open_existing(&self) -> Result<(PathBuf, crate::journal::Journal), u8> {
        let path = self.path(None);
        match crate::journal::Journal::open_read_only(&path) {
            Ok(j) => Ok((path, j)),
            Err(e) => {
                eprintln!("error: {e}");
                Err(exit::JOURNAL)
            }
        }
    }

    /// `--journal`, else the default next to the first mapping; without mappings (status,
    /// rejects, ids), `mappings/.b24import/<job>.sqlite` if it exists, else `.b24import/<job>.sqlite`.
    pub fn path(&self, first_mapping: Option<&Path>) -> PathBuf {
        match (&self.journal, first_mapping) {
            (Some(p), _) => p.clone(),
            (None, Some(m)) => pipeline::run::default_journal(m, &self.job),
            (None, None) => {
                let in_mappings = pipeline::run::default_journal(Path::new("mappings/x.toml"), &self.job);
                if in_mappings.exists() {
                    in_mappings
                } else {
                    pipeline::run::default_journal(Path::new("x.toml"), &self.job)
                }
            }
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let journal = args.journal.path(args.mappings.first().map(PathBuf::as_path));
    let transport = match args.portal.transport(&journal.with_extension("refresh-token")) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(exit::USAGE);
        }
    };
    let rate = args.portal.rate();
    let opts = RunOptions {
        mappings: args.mappings.clone(),
        journal,
        job: args.journal.job.clone(),
        batch_size: args.batch_size,
        dry_run: args.dry_run,
        args_summary: summary_of(&args),
        progress_bars: std::io::stderr().is_terminal(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(run_with(
        &opts,
        &transport,
        PlanRate { per_second: rate.per_second, burst: rate.burst },
    ));
    finish(outcome, args.report.as_deref())
}

/// Runs with Ctrl-C / SIGTERM handling: the run stops after the batch in flight.
pub async fn run_with(
    opts: &RunOptions,
    transport: &Transport,
    rate: PlanRate,
) -> Result<RunReport, RunError> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    let watcher = tokio::spawn(async move {
        stop_signal().await;
        eprintln!("interrupted: finishing the batch in flight, then stopping (the journal keeps every row)");
        flag.store(true, Ordering::Relaxed);
    });
    let result = pipeline::run(opts, transport, rate, interrupted).await;
    watcher.abort();
    result
}

/// Ctrl-C, or SIGTERM (a scheduler stopping the job).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Prints the summary, writes the report, and chooses the exit code.
pub fn finish(outcome: Result<RunReport, RunError>, report_path: Option<&Path>) -> anyhow::Result<u8> {
    let report = match outcome {
        Ok(r) => r,
        Err(RunError::Mapping(d)) => {
            for x in &d.0 {
                eprintln!("error: {x}");
            }
            eprintln!("{} problem(s) in the mapping file(s); nothing was sent.", d.0.len());
            return Ok(exit::USAGE);
        }
        Err(RunError::Journal(e)) => {
            eprintln!("error: {e}");
            return Ok(exit::JOURNAL);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    print_summary(&report);
    if let Some(path) = report_path {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json).with_context(|| format!("cannot write the report {}", path.display()))?;
    }
    Ok(if let Some(reason) = &report.stopped {
        eprintln!("error: stopped: {reason}");
        exit::PORTAL
    } else if report.interrupted {
        exit::INTERRUPTED
    } else if report.rejected() > 0 || report.unfinished() > 0 {
        exit::ROWS_REJECTED
    } else {
        exit::OK
    })
}

pub fn print_summary(r: &RunReport) {
    if r.dry_run {
        println!("dry run: nothing was written to the portal or the journal");
    }
    for s in &r.steps {
        if r.dry_run {
            println!(
                "{:<12} {:<10} {} read, {} would be sent, {} invalid, {} already done",
                s.step, s.entity, s.rows_read, s.would_send, s.rejected, s.skipped
            );
        } else {
            println!(
                "{:<12} {:<10} {} read, {} created, {} existing, {} rejected, {} skipped (done before), {} unknown, {} pending",
                s.step,
                s.entity,
                s.rows_read,
                s.created,
                s.existing,
                s.rejected,
                s.skipped,
                s.unknown,
                s.pending
            );
        }
        if s.reconciled_found + s.reconciled_absent > 0 {
            println!(
                "{:<12} reconciled {} row(s) left by an earlier run: {} found in the portal, {} absent (sent again)",
                "",
                s.reconciled_found + s.reconciled_absent,
                s.reconciled_found,
                s.reconciled_absent
            );
        }
        for n in &s.notes {
            println!("{:<12} note: {n}", "");
        }
    }
    println!(
        "{} requests, {} limit refusals ({} QUERY_LIMIT_EXCEEDED, {} OPERATION_TIME_LIMIT), waited {:.1}s on limits",
        r.requests,
        r.query_limit_refusals + r.operating_refusals,
        r.query_limit_refusals,
        r.operating_refusals,
        r.limit_wait_secs
    );
    if r.ideal_secs > 0.0 {
        println!(
            "elapsed {:.1}s, {:.1} items/s; the rate limit allows {:.1}s for these requests ({:.0}% of ideal)",
            r.elapsed_secs,
            r.items_per_sec,
            r.ideal_secs,
            r.ratio_to_ideal * 100.0
        );
    } else {
        println!(
            "elapsed {:.1}s, {:.1} items/s; every request fitted in the rate limit's burst",
            r.elapsed_secs, r.items_per_sec
        );
    }
    println!("journal: {}", r.journal);
    if r.rejected() > 0 && !r.dry_run {
        println!("rejected rows: b24import rejects --journal {} --out rejects.csv", r.journal);
    }
}

/// The command line as recorded in the journal: no webhook code, no tokens.
fn summary_of(args: &Args) -> String {
    let mut parts: Vec<String> = args.mappings.iter().map(|m| m.display().to_string()).collect();
    if let Some(w) = &args.portal.webhook {
        parts.push(format!("--webhook {}", crate::transport::client::redact_webhook(w)));
    }
    if args.portal.webhook.is_none() && args.portal.portal.is_some() {
        parts.push("--oauth".into());
    }
    parts.push(format!("--batch-size {}", args.batch_size));
    if args.dry_run {
        parts.push("--dry-run".into());
    }
    parts.join(" ")
}
