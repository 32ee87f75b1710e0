//! `b24import demo`: the whole job on the bundled samples against the embedded sandbox.
//!
//! Starts the sandbox in-process on 127.0.0.1 (a scaled plan: 20 requests/s, burst 10, so the
//! demo takes seconds), provisions the portal for the bundled mappings (`b24import provision`:
//! the smart process "Projects", its workspace and its list field), then runs
//! `mappings/users.toml`, `companies.toml`, `contacts.toml`, `deals.toml` and `projects.toml`,
//! prints the summary, and says where the journal and the rejects file are. Each demo starts
//! from an empty sandbox and a fresh journal.

use std::path::PathBuf;

use anyhow::Context as _;

use super::exit;
use crate::pipeline::{PlanRate, RunOptions};
use crate::sandbox::{Sandbox, SandboxConfig};

/// The extranet workgroups the demo portal holds: those `samples/users.csv` invites its
/// extranet partners to (a portal refuses an extranet user without an existing group).
const DEMO_EXTRANET_GROUPS: [u64; 2] = [12, 14];
use crate::transport::{Credentials, Plan, Rate, Transport, TransportConfig, Webhook};

/// The bundled steps, in the order their lookups need.
const STEPS: &[&str] = &["users.toml", "companies.toml", "contacts.toml", "deals.toml", "projects.toml"];

/// Options of `b24import demo`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Folder with the sample mappings.
    #[arg(long, default_value = "mappings", value_name = "DIR")]
    pub mappings: PathBuf,
    /// Where the journal and the rejects file go (emptied first).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// The run's report: FILE.html is the HTML page, any other name the JSON report (default:
    /// both, report.json and report.html in the --out folder).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    // `--out -` is standard output everywhere else: never a folder to empty.
    if args.out.as_deref().is_some_and(super::output::is_stdout) {
        eprintln!(
            "error: demo --out takes a folder (emptied first), not `-`: give a directory, e.g. --out demo-out"
        );
        return Ok(super::exit::USAGE);
    }
    let out = args.out.clone().unwrap_or_else(|| std::env::temp_dir().join("b24import-demo"));
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("cannot empty {}", out.display()))?;
    }
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mappings: Vec<PathBuf> = STEPS.iter().map(|s| args.mappings.join(s)).collect();
    if let Some(missing) = mappings.iter().find(|m| !m.exists()) {
        anyhow::bail!(
            "{} not found: run the demo from the repository root (or pass --mappings DIR)",
            missing.display()
        );
    }
    let journal = out.join("demo.sqlite");
    let report = args.report.clone().unwrap_or_else(|| out.join("report.json"));
    if let Err(code) = super::output::check_or_exit("--report", Some(&report)) {
        return Ok(code);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (code, rejects) = runtime.block_on(async {
        let mut config = SandboxConfig::fast();
        config.time_scale = 0.0;
        // The demo portal has the workgroups its extranet partners (samples/users.csv) join.
        config.setup = crate::sandbox::SetupConfig::default().with_extranet_groups(DEMO_EXTRANET_GROUPS);
        let sandbox = Sandbox::start(config).await.context("cannot start the sandbox")?;
        outln!("sandbox portal listening on {}", sandbox.base_url());
        let rate = Rate { per_second: 20.0, burst: 10 };
        let mut tc = TransportConfig::new(
            Credentials::Webhook(Webhook::parse(&sandbox.webhook_url())?),
            Plan::Standard,
        );
        tc.limiter.rate = rate;
        let transport = Transport::new(tc)?;
        outln!("provision: what the mappings need that the empty portal lacks");
        let provisioned = super::provision::run_with(&mappings, &transport, false).await?;
        if provisioned != exit::OK {
            anyhow::bail!("provision did not finish (exit {provisioned}); nothing was imported");
        }
        outln!("run: the import");
        let opts = RunOptions {
            mappings,
            journal: journal.clone(),
            job: "demo".into(),
            batch_size: 50,
            dry_run: false,
            args_summary: "demo".into(),
            progress_bars: false,
        };
        let outcome = super::run::run_with(
            &opts,
            &transport,
            PlanRate { per_second: rate.per_second, burst: rate.burst },
        )
        .await;
        let code = super::run::finish(outcome, Some(&report))?;
        let state = sandbox.snapshot();
        outln!(
            "sandbox now holds {} CRM items and {} users; duplicates: {}",
            state.items.values().sum::<u64>(),
            state.users,
            state.duplicates.items + state.duplicates.users
        );
        sandbox.stop().await;
        anyhow::Ok((code, out.join("rejects.csv")))
    })?;
    let export = super::rejects::Args {
        journal: super::journal_args::JournalArgs { journal: Some(journal.clone()), job: "demo".into() },
        out: rejects.clone(),
        step: None,
    };
    super::rejects::run(export)?;
    // Without --report the demo writes the page too (issue 22), made from the journal as
    // `b24import report` makes it.
    let page = args.report.is_none().then(|| out.join("report.html"));
    if let Some(page) = &page {
        let j = crate::journal::Journal::open_read_only(&journal)?;
        let run = crate::report::find_run(&j, None)?;
        crate::report::write(&crate::report::page_of_journal(&j, &run)?, page)?;
    }
    outln!("journal:  {}", journal.display());
    outln!("report:   {}", report.display());
    if let Some(page) = &page {
        outln!("page:     {} (open it in a browser)", page.display());
    }
    outln!("try:      cargo run --release -- status --journal {}", journal.display());
    Ok(if code == exit::ROWS_REJECTED { exit::OK } else { code })
}
