//! `b24import run`: import mappings into a portal, journaled and resumable.
//!
//! Owns: credentials from flags and environment (never printed), the transport's settings,
//! the summary and `--report`, and the exit code. The work is `pipeline::run`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};

use super::exit;
use super::journal_args::JournalArgs;
use super::token_file::{self, choose_refresh, fingerprint, read_saved_or_legacy, save_token};
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
The rotated refresh token is kept in one file per portal and client id, whatever the journal
(~/.local/state/b24import/oauth/<host>-<hash>.refresh-token; $XDG_STATE_HOME, B24IMPORT_STATE_DIR
or --token-file move it), shared by run, provision and validate --online, and used while
B24_REFRESH_TOKEN is unchanged; a different B24_REFRESH_TOKEN (after re-authorizing) wins.
Credentials in URLs (webhook code, user:password@, query values) are masked in every output.

Examples:
  b24import run mappings/companies.toml mappings/contacts.toml --webhook https://example.bitrix24.ru/rest/1/xxxx/
  b24import run --job-file nightly.toml          mappings, journal and options from the job file
  b24import run mappings/users.toml mappings/companies.toml mappings/contacts.toml --dry-run
  b24import status
  b24import run mappings/examples/history_deals.toml mappings/examples/history_notes.toml \
      mappings/examples/history_calls.toml      (history: original dates, comments, past calls)

A step with method = \"import\" keeps its items' original dates and authors and runs no
automation; its rows are sent oldest first after the source is read, and the run refuses
(exit 2, nothing written) when the portal holds a newer item this job did not create.
Comments, activities, requisites, bank details and addresses wait for their parent rows: one
that is not done stays pending. A requisite's preset is found by name (exit 2 when unknown).

Running the same mappings again continues the job: finished rows are not sent again, rows
whose outcome was unknown are looked up by their external key before anything is resent.

Exit codes: 0 every row done, 1 finished with rows rejected (by this run or, unchanged in the
source, by an earlier one) or left unknown/pending, 2 usage/config error,
3 gave up on the portal (auth refused, OVERLOAD_LIMIT, retries exhausted), 4 journal error,
130 stopped by Ctrl-C (run again to continue).")]
pub struct Args {
    /// Mapping files (TOML), run as steps in this order.
    #[arg(required_unless_present = "job_file", value_name = "MAPPING")]
    pub mappings: Vec<PathBuf>,
    /// A job file (TOML): the mappings, the journal and any of these options by their long
    /// names (`batch-size = 20`); flags given here win over it.
    #[arg(long, value_name = "FILE")]
    pub job_file: Option<PathBuf>,
    #[command(flatten)]
    pub portal: PortalArgs,
    #[command(flatten)]
    pub journal: JournalArgs,
    /// Commands per batch request, 1 to 50 (user steps use at most 10).
    #[arg(
        long,
        default_value_t = 50,
        value_name = "N",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=50)
    )]
    pub batch_size: usize,
    /// Read the portal but never write to it; nothing is written to the journal.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the final report to this file (checked before anything is sent): FILE.html is one
    /// self-contained page to open or mail (per step, the run over time, rejected rows by reason
    /// with what to do, the settings; `b24import report` makes it again later); any other name
    /// gets the JSON report.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Take a consistent sample: N rows of each step (or P% of them), chosen by a hash of
    /// their key; later steps take the rows whose lookups fall inside the sample. A later run
    /// without --sample on the same journal takes the rest.
    #[arg(long, value_name = "N|P%")]
    pub sample: Option<crate::pipeline::sample::SampleSize>,
}

/// Where the portal is and how fast it may be called.
#[derive(Debug, clap::Args)]
pub struct PortalArgs {
    /// Inbound webhook URL (https://portal/rest/<user>/<code>/).
    #[arg(long, env = "B24_WEBHOOK_URL", hide_env_values = true, value_name = "URL")]
    pub webhook: Option<String>,
    /// OAuth: the portal's REST endpoint (client_endpoint), with B24_ACCESS_TOKEN etc.
    #[arg(long, env = "B24_PORTAL_URL", hide_env_values = true, value_name = "URL")]
    pub portal: Option<String>,
    /// OAuth: the token endpoint used to refresh an expired access token.
    #[arg(
        long,
        env = "B24_OAUTH_ENDPOINT",
        hide_env_values = true,
        default_value = "https://oauth.bitrix.info/oauth/token/",
        value_name = "URL"
    )]
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
    /// Most requests in flight at once, 1 to 64; the number adapts to the portal's latency
    /// below it (1 sends one request at a time).
    #[arg(
        long,
        default_value_t = crate::transport::DEFAULT_MAX_IN_FLIGHT,
        value_name = "N",
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64)
    )]
    pub max_in_flight: usize,
    /// Seconds of processing each method may use per operating window (the portal's budget).
    #[arg(long, default_value_t = 480.0, value_name = "SECONDS")]
    pub operating_budget: f64,
    /// The sliding window the operating budget is counted over, in seconds.
    #[arg(long, default_value_t = 600.0, value_name = "SECONDS")]
    pub operating_window: f64,
    /// OAuth: the file that keeps the rotated refresh token. Default: one per portal and client
    /// id under $B24IMPORT_STATE_DIR, $XDG_STATE_HOME/b24import or ~/.local/state/b24import.
    #[arg(long, env = "B24IMPORT_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// Where older versions kept a rotated OAuth refresh token of a command without `--journal`
/// (`<dir>/.b24import/import.refresh-token`): read once, when the token file has none yet.
pub fn default_token_file(mappings: &[PathBuf]) -> PathBuf {
    let first = mappings.first().map(PathBuf::as_path).unwrap_or(Path::new("."));
    pipeline::run::default_journal(first, "import").with_extension("refresh-token")
}

impl PortalArgs {
    pub fn rate(&self) -> Rate {
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

    /// The transport for these flags and the environment. A rotated OAuth refresh token is
    /// kept in the token file of the portal and client id (see `token_file`), never in the
    /// journal; `legacy_token_file` is where an older version kept it, read while the token
    /// file has none.
    pub fn transport(&self, legacy_token_file: &Path) -> anyhow::Result<Transport> {
        self.transport_for_job(legacy_token_file, None)
    }

    /// [`PortalArgs::transport`], sharing the portal's pace with this host's other processes
    /// as `pace` (issue 23; `run` does).
    pub fn transport_for_job(
        &self,
        legacy_token_file: &Path,
        pace: Option<crate::transport::PaceJob>,
    ) -> anyhow::Result<Transport> {
        let refresh_from_env =
            std::env::var("B24_REFRESH_TOKEN").ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty());
        // The saved token remembers which B24_REFRESH_TOKEN it descends from (see choose_refresh).
        let env_fingerprint = refresh_from_env.as_deref().map(fingerprint);
        let mut saved_in = None;
        let credentials = match (&self.webhook, std::env::var("B24_ACCESS_TOKEN").ok()) {
            (Some(url), _) => Credentials::Webhook(Webhook::parse(url)?),
            (None, Some(access)) => {
                let endpoint = self.portal.as_deref().context(
                    "OAuth needs the portal's REST endpoint: --portal https://example.bitrix24.ru/rest/",
                )?;
                let env = |name: &str| std::env::var(name).with_context(|| format!("OAuth needs {name}"));
                let client_id = env("B24_CLIENT_ID")?;
                let token_file =
                    self.token_file.clone().unwrap_or_else(|| token_file::token_file(endpoint, &client_id));
                let saved = read_saved_or_legacy(&token_file, legacy_token_file);
                let choice = choose_refresh(refresh_from_env, saved, &token_file)?;
                saved_in = Some(token_file);
                let mut oauth = OAuth::new(
                    endpoint,
                    Secret::new(access),
                    Secret::new(choice.first),
                    client_id,
                    Secret::new(env("B24_CLIENT_SECRET")?),
                    &self.oauth_endpoint,
                )?;
                oauth.fallback_refresh_token = choice.second.map(Secret::new);
                oauth.refresh_hint = Some(choice.hint);
                Credentials::OAuth(oauth)
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
        let positive = |s: f64| s.is_finite() && s > 0.0 && s < 1e9;
        if !positive(self.operating_budget) || !positive(self.operating_window) {
            bail!("--operating-budget and --operating-window must be seconds above 0");
        }
        if self.operating_budget > self.operating_window {
            bail!(
                "--operating-budget {} is above --operating-window {}: the budget is seconds of processing \
                 per window, so it cannot exceed the window (the cloud portal's is 480 per 600); lower \
                 --operating-budget or raise --operating-window",
                self.operating_budget,
                self.operating_window
            );
        }
        let mut config = TransportConfig::new(credentials, Plan::Standard);
        config.limiter.rate = rate;
        crate::transport::configure_in_flight(&mut config, self.max_in_flight);
        config.shared_pace = pace;
        config.operating = crate::transport::OperatingConfig::new(
            std::time::Duration::from_secs_f64(self.operating_budget),
            std::time::Duration::from_secs_f64(self.operating_window),
        );
        if let Some(file) = saved_in {
            config.on_refresh = Some(Arc::new(move |token: &Secret| {
                if let Err(e) = save_token(&file, token.expose(), env_fingerprint.as_deref()) {
                    tracing::warn!(path = %file.display(), error = %e, "cannot save the rotated refresh token");
                }
            }));
        }
        Ok(Transport::new(config)?)
    }
}

/// This process's place in its portal's shared pace (issue 23), as `job` with `journal` (what
/// `status --portal` shows): every command that talks to a portal joins it (run, undo,
/// provision, validate --online), so a set-up or a check beside a nightly run takes its share
/// of the bucket instead of its own. `B24IMPORT_SHARED_PACE=off` paces alone.
pub fn pace_job(job: &str, journal: &Path) -> Option<crate::transport::PaceJob> {
    (std::env::var("B24IMPORT_SHARED_PACE").as_deref() != Ok("off")).then(|| crate::transport::PaceJob {
        job: job.to_string(),
        journal: std::path::absolute(journal).unwrap_or_else(|_| journal.to_path_buf()).display().to_string(),
    })
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    if let Err(code) = super::output::check_or_exit("--report", args.report.as_deref()) {
        return Ok(code);
    }
    let journal = args.journal.path(args.mappings.first().map(PathBuf::as_path));
    let pace = pace_job(&args.journal.job, &journal);
    let transport = match args.portal.transport_for_job(&journal.with_extension("refresh-token"), pace) {
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
    let outcome = runtime.block_on(run_sampled_with(
        &opts,
        &transport,
        PlanRate { per_second: rate.per_second, burst: rate.burst },
        args.sample,
    ));
    // A name lookup abandoned by Ctrl-C may still sit in a blocking thread: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    finish(outcome, args.report.as_deref())
}

/// Runs with Ctrl-C / SIGTERM handling. A first signal ends every wait at once (limit
/// back-off, operating park, retry pause, connection retry) and sends nothing new; a request
/// already on the wire is let finish so its answer is recorded. A second signal abandons that
/// request too (its rows stay `sent` and are looked up on the next run).
pub async fn run_with(
    opts: &RunOptions,
    transport: &Transport,
    rate: PlanRate,
) -> Result<RunReport, RunError> {
    run_sampled_with(opts, transport, rate, None).await
}

/// [`run_with`], taking only the rows of a `--sample` when `sample` is given (issue 21).
pub async fn run_sampled_with(
    opts: &RunOptions,
    transport: &Transport,
    rate: PlanRate,
    sample: Option<crate::pipeline::sample::SampleSize>,
) -> Result<RunReport, RunError> {
    let watcher = stop_watcher(transport);
    let result = pipeline::run::run_sampled(opts, transport, rate, sample).await;
    watcher.abort();
    result
}

/// Watches for Ctrl-C / SIGTERM on behalf of a journaled command (`run`, `undo`): the first
/// stops the transport, the second abandons the request in flight. Abort it when done.
pub fn stop_watcher(transport: &Transport) -> tokio::task::JoinHandle<()> {
    let shutdown = transport.shutdown();
    tokio::spawn(async move {
        let mut signals = StopSignals::new();
        signals.next().await;
        eprintln!(
            "interrupted: stopping; a request in flight is let finish (press Ctrl-C again to abandon it). \
             The journal keeps every row: run again to continue"
        );
        shutdown.stop();
        signals.next().await;
        eprintln!(
            "interrupted again: abandoning the request in flight; its rows are looked up on the next run"
        );
        shutdown.abandon();
    })
}

/// Runs `work` until it ends, or until Ctrl-C / SIGTERM: then `None`, and `work` is dropped at
/// once, a request in flight with it (for commands that write no journal: `provision`,
/// `validate --online`; a re-run reads the portal afresh).
pub async fn until_stopped<F: std::future::Future>(work: F) -> Option<F::Output> {
    let mut signals = StopSignals::new();
    tokio::select! {
        out = work => Some(out),
        () = signals.next() => None,
    }
}

/// Ctrl-C, or SIGTERM (a scheduler stopping the job), as a stream: listeners are installed
/// once, so a second signal is never missed between two waits.
struct StopSignals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn new() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            StopSignals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    /// The next stop signal.
    async fn next(&mut self) {
        #[cfg(unix)]
        if let (Some(term), Some(int)) = (self.term.as_mut(), self.int.as_mut()) {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
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
        // issue 22: FILE.html is the HTML page; every other name keeps the JSON report as it was.
        if crate::report::is_html(path) {
            super::report::write_run_page(&report, path)?;
        } else {
            let json = serde_json::to_string_pretty(&report)?;
            std::fs::write(path, json)
                .with_context(|| format!("cannot write the report {}", path.display()))?;
        }
    }
    Ok(if let Some(reason) = &report.stopped {
        eprintln!("error: stopped: {reason}");
        exit::PORTAL
    } else if report.interrupted {
        exit::INTERRUPTED
    } else if let Some(e) = report.steps.iter().find_map(|s| s.source_error.as_ref()) {
        eprintln!("error: the source could not be read to the end: {e}");
        exit::USAGE
    } else if report.rejected() > 0 || report.unfinished() > 0 || report.skipped_ambiguous() > 0 {
        exit::ROWS_REJECTED
    } else {
        exit::OK
    })
}

/// The summary: one line per step with every outcome, then notes, limits and timing.
pub fn print_summary(r: &RunReport) {
    if r.dry_run {
        outln!("dry run: nothing was written to the portal or the journal");
    }
    let stopped_early = r.stopped.is_some() || r.interrupted;
    for s in &r.steps {
        outln!("{:<12} {:<10} {}", s.step, s.entity, step_line(s, r.dry_run, stopped_early));
        if s.reconciled_found + s.reconciled_absent > 0 {
            outln!(
                "{:<12} reconciled {} row(s) left by an earlier run: {} found in the portal, {} absent (sent again)",
                "",
                s.reconciled_found + s.reconciled_absent,
                s.reconciled_found,
                s.reconciled_absent
            );
        }
        if let Some(line) = s.duplicates.summary() {
            outln!("{:<12} {line}", "");
        }
        for n in &s.notes {
            outln!("{:<12} note: {n}", "");
        }
        if s.changed_not_updated > 0 {
            outln!(
                "{:<12} note: {} row(s) changed in the source but were not updated: mode = \"create\" never \
                 updates; set mode = \"upsert\" in [target] and run again with this journal",
                "",
                s.changed_not_updated
            );
        }
        if s.missing > 0 {
            outln!(
                "{:<12} note: {} row(s) this journal imported are no longer in the source (nothing is deleted \
                 in the portal; their keys are in --report)",
                "",
                s.missing
            );
        }
    }
    outln!(
        "{} requests, {} limit refusals ({} QUERY_LIMIT_EXCEEDED, {} OPERATION_TIME_LIMIT), waited {:.1}s on limits",
        r.requests,
        r.query_limit_refusals + r.operating_refusals,
        r.query_limit_refusals,
        r.operating_refusals,
        r.limit_wait_secs
    );
    if r.binding_ideal_secs() > 0.0 || r.query_limit_refusals + r.operating_refusals > 0 {
        outln!(
            "elapsed {:.1}s, {:.1} items/s; the rate limit allows {:.1}s for these requests ({:.0}% of ideal)",
            r.elapsed_secs,
            r.items_per_sec,
            r.ideal_secs,
            r.ratio_to_ideal * 100.0
        );
    } else {
        outln!(
            "elapsed {:.1}s, {:.1} items/s; every request fitted in the rate limit's burst",
            r.elapsed_secs,
            r.items_per_sec
        );
    }
    outln!("{}", walls_line(r));
    outln!("journal: {}", r.journal);
    if r.rejected() > 0 && !r.dry_run {
        outln!(
            "rejected rows: b24import rejects --journal {} --out rejects.csv (fix them in the source and run again)",
            r.journal
        );
    }
}

/// The two walls side by side: the rate ideal, the operating-budget ideal, which binds, and
/// the ratio to it.
fn walls_line(r: &RunReport) -> String {
    let wall = if r.binding_wall == "operating" { "the operating budget" } else { "the rate limit" };
    format!(
        "ideal under the rate limit {:.1}s, under the operating budget {:.1}s: {wall} binds, {:.0}% of its ideal; \
         at most {} request(s) in flight",
        r.rate_ideal_secs,
        r.operating_ideal_secs,
        r.ratio_to_ideal * 100.0,
        r.peak_in_flight
    )
}

/// One step's outcomes, every one of them, in a fixed order (scripts may split on ", ").
fn step_line(s: &crate::pipeline::StepReport, dry_run: bool, stopped_early: bool) -> String {
    let rejected = match s.rejected_earlier {
        0 => format!("{} rejected", s.rejected_total()),
        n => format!("{} rejected ({n} in earlier runs)", s.rejected_total()),
    };
    if dry_run {
        return format!(
            "{} read: {} would be sent, {} invalid, {} rejected before, {} already done",
            s.rows_read, s.would_send, s.rejected, s.rejected_earlier, s.skipped
        );
    }
    let mut line = format!(
        "{} read: {} created, {} updated, {} existing, {rejected}, {} unknown, {} skipped (done before)",
        s.rows_read, s.created, s.updated, s.existing, s.unknown, s.skipped
    );
    if stopped_early || s.pending > 0 {
        line.push_str(&format!(", {} pending", s.pending));
    }
    if s.skipped_ambiguous > 0 {
        line.push_str(&format!(
            ", {} skipped as ambiguous (on_ambiguous = \"skip\": not imported)",
            s.skipped_ambiguous
        ));
    }
    line
}

/// The command line as recorded in the journal: every URL through `redact_url` (no webhook
/// code, no `user:password@`, no query values), no tokens.
fn summary_of(args: &Args) -> String {
    let mut parts: Vec<String> = args.mappings.iter().map(|m| m.display().to_string()).collect();
    if let Some(f) = &args.job_file {
        parts.push(format!("--job-file {}", f.display()));
    }
    if let Some(w) = &args.portal.webhook {
        parts.push(format!("--webhook {}", crate::transport::client::redact_url(w)));
    }
    if let (None, Some(portal)) = (&args.portal.webhook, &args.portal.portal) {
        parts.push(format!("--oauth --portal {}", crate::transport::client::redact_url(portal)));
    }
    parts.push(format!("--batch-size {}", args.batch_size));
    if args.portal.max_in_flight != crate::transport::DEFAULT_MAX_IN_FLIGHT {
        parts.push(format!("--max-in-flight {}", args.portal.max_in_flight));
    }
    if args.dry_run {
        parts.push("--dry-run".into());
    }
    if let Some(s) = &args.sample {
        parts.push(format!("--sample {s}"));
    }
    parts.join(" ")
}
