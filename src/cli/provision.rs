//! `b24import provision`: bring the portal to what the mappings need (smart process, flags,
//! workspace, custom fields, list values, stages, pipelines), printing per step what exists,
//! what it creates and what it changes.
//!
//! Owns: the flags, the printed report and the exit code; the work is `provision::provision`.
//! Ctrl-C or SIGTERM stops it at once, mid-request too (exit 130): a second call reads the
//! portal again and does only what is still missing.
//! Exit codes: 0 the portal is ready (a dry run: nothing was refused, whatever it would write),
//! 1 something could not be done (a refused read or write, per method), 2 a mapping or source
//! error or a title naming several smart processes or workspaces, 3 gave up on the portal,
//! 130 stopped by a signal.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::exit;
use super::run::PortalArgs;
use crate::provision::{Outcome, Report};
use crate::transport::Transport;

/// Options of `b24import provision`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = "\
Creates what the mappings need and the portal lacks: the smart process (smart_process = \"<title>\"),
the flags its mapped fields need (and [target.provision] flags), the digital workspace
([target.provision] workspace), custom fields with `create`, and list values, stages and pipelines
the rows use under add_missing_values = true. It never deletes, never switches a flag off and never
changes an existing list item; a second call makes no write request. Two provisions of one portal
on this host run one after the other (a lock per portal); a title naming several smart processes or
workspaces stops it (exit 2) rather than picking one.

Examples:
  b24import provision mappings/projects.toml --dry-run --webhook https://example.bitrix24.ru/rest/1/xxxx/
  b24import provision mappings/projects.toml --webhook https://example.bitrix24.ru/rest/1/xxxx/

Exit codes: 0 the portal is ready, 1 something could not be done (e.g. refused for lack of rights,
named per method), 2 mapping or source error or an ambiguous title, 3 gave up on the portal,
130 stopped by Ctrl-C or SIGTERM (run it again).")]
pub struct Args {
    /// Mapping files (TOML), in the order the import runs them.
    #[arg(required = true, value_name = "MAPPING")]
    pub mappings: Vec<PathBuf>,
    #[command(flatten)]
    pub portal: PortalArgs,
    /// Read the portal and print what would be done; send no write request.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(args: Args) -> anyhow::Result<u8> {
    let first = args.mappings.first().map(PathBuf::as_path).unwrap_or(Path::new("."));
    let pace = super::run::pace_job("provision", first);
    let transport = match args.portal.transport_for_job(&super::run::default_token_file(&args.mappings), pace)
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(exit::USAGE);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome =
        runtime.block_on(super::run::until_stopped(run_with(&args.mappings, &transport, args.dry_run)));
    // A request abandoned by the signal may still sit in a blocking thread: do not wait for it.
    runtime.shutdown_timeout(std::time::Duration::from_millis(100));
    outcome.unwrap_or_else(|| {
        eprintln!(
            "interrupted: provision stopped; what it already made stays in the portal. Run it again to do the rest"
        );
        Ok(exit::INTERRUPTED)
    })
}

/// Opens the mappings, provisions, prints the report; the exit code.
pub async fn run_with(mappings: &[PathBuf], transport: &Transport, dry_run: bool) -> anyhow::Result<u8> {
    let mut steps = match super::open::steps_or_exit(mappings, "nothing was sent") {
        Ok(steps) => steps,
        Err(code) => return Ok(code),
    };
    let report = match crate::provision::provision(&mut steps, transport, dry_run).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::USAGE);
        }
    };
    print_report(&report);
    Ok(code(&report))
}

/// The exit code of a report.
fn code(r: &Report) -> u8 {
    if !r.ambiguous.is_empty() {
        exit::USAGE
    } else if r.gave_up.is_some() {
        exit::PORTAL
    } else if !r.unread.is_empty()
        || !r.refusals().is_empty()
        || (!r.dry_run && r.steps.iter().any(|s| !s.remaining.is_empty()))
    {
        exit::ROWS_REJECTED
    } else {
        exit::OK
    }
}

fn print_report(r: &Report) {
    if r.dry_run {
        println!("dry run: nothing is written to the portal");
    }
    for s in &r.steps {
        println!("step `{}`", s.name);
        for e in &s.exists {
            println!("  exists    {e}");
        }
        for l in &s.lines {
            let outcome = match &l.outcome {
                Outcome::Done(None) => "done".to_string(),
                Outcome::Done(Some(d)) => format!("done ({d})"),
                Outcome::Planned => "would be done".to_string(),
                Outcome::Refused(x) | Outcome::RefusedBefore(x) => {
                    format!("REFUSED by {}: {}: {}", x.method, x.code, x.description)
                }
            };
            println!("  {:<9} {}: {outcome}", l.verb, l.text);
        }
        for x in &s.remaining {
            let tag = if r.dry_run { "then" } else { "not done" };
            println!("  {tag:<9} {x}");
        }
        for x in &s.left {
            println!("  note      {x} (not provision's to fix; `b24import validate --online` explains)");
        }
        if s.exists.is_empty() && s.lines.is_empty() && s.remaining.is_empty() && s.left.is_empty() {
            println!("  nothing to provision");
        }
    }
    for u in &r.unread {
        println!(
            "refused read: {}: {}: {} (the webhook may lack the rights or scope for it)",
            u.method, u.code, u.description
        );
    }
    let refusals = r.refusals();
    for x in &refusals {
        println!(
            "refused write: {}: {}: {} (the webhook's user needs CRM administrator rights for it)",
            x.method, x.code, x.description
        );
    }
    for a in &r.ambiguous {
        eprintln!("error: {a}");
    }
    println!("{} write request(s)", r.writes);
    if let Some(why) = &r.gave_up {
        eprintln!("error: gave up on the portal: {why}");
    } else if r.dry_run {
        println!("run without --dry-run to make these changes");
    } else if code(r) == exit::OK {
        println!("the portal is ready for these mappings");
    } else {
        println!("the portal is not ready: fix what is named above and run provision again");
    }
}
