//! Command-line edge: clap definitions, one file per subcommand, `anyhow` for reporting.
//!
//! Owns argument parsing, human-facing output and exit codes. Does not own any pipeline logic:
//! each subcommand calls into the library stages. Standard output goes through [`outln!`]:
//! a reader that closed the pipe (`b24import status | head -1`) ends the output quietly, never
//! with a panic.

/// `println!` for the commands: a closed pipe on standard output is not an error (the rest of
/// the output is dropped), any other write error is said once on standard error.
macro_rules! outln {
    () => {
        $crate::cli::stdout_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::stdout_line(format_args!($($arg)*))
    };
}

mod csv_out;
#[cfg(feature = "sandbox")]
mod demo;
mod ids;
mod job_file;
mod journal_args;
mod open;
mod output;
mod provision;
mod rejects;
// issue 22: the HTML report of an earlier run.
mod report;
mod run;
#[cfg(feature = "sandbox")]
mod sandbox;
mod status;
mod token_file;
// Issue 21.
mod undo;
mod validate;

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

/// Exit codes shared by every subcommand (documented in the README).
pub mod exit {
    /// Every row valid / done.
    pub const OK: u8 = 0;
    /// Finished, but some rows are invalid, were rejected, are left unfinished, or were not
    /// imported because they matched several existing items (`on_ambiguous = "skip"`).
    pub const ROWS_REJECTED: u8 = 1;
    /// Usage, mapping or source error: nothing could be done.
    pub const USAGE: u8 = 2;
    /// Gave up on the portal (auth refused, OVERLOAD_LIMIT, retries exhausted).
    pub const PORTAL: u8 = 3;
    /// The journal cannot be read or written.
    pub const JOURNAL: u8 = 4;
    /// Stopped by Ctrl-C after the batch in flight (the shell's convention, 128 + SIGINT).
    pub const INTERRUPTED: u8 = 130;
}

/// The "Start here" help, with `demo` first when the build has the sandbox.
macro_rules! start_here {
    ($demo:literal) => {
        concat!(
            "Start here:\n",
            $demo,
            "  b24import validate mappings/contacts.toml        check a mapping and its file, offline
  b24import run mappings/companies.toml mappings/contacts.toml --webhook URL
                                                   import, steps in this order; run again to resume
  b24import status                                 what the journal says
  b24import report --out report.html               the last run as a page to open or mail

Mapping files are TOML, one per step: see README.md, section \"Mapping files\"."
        )
    };
}

/// Move spreadsheet data into a Bitrix24 portal: validate offline, import with the portal's
/// limits, resume after a crash, and explain every bad row.
#[derive(Debug, Parser)]
#[command(name = "b24import", version, about, long_about = None, propagate_version = true)]
#[cfg_attr(
    feature = "sandbox",
    command(after_help = start_here!(
        "  b24import demo                                   the bundled samples into the embedded sandbox\n"
    ))
)]
#[cfg_attr(not(feature = "sandbox"), command(after_help = start_here!("")))]
pub struct Cli {
    /// Where b24import keeps its per-user state: OAuth refresh tokens, the locks and the shared
    /// pace of each portal (default $B24IMPORT_STATE_DIR, $XDG_STATE_HOME/b24import or
    /// ~/.local/state/b24import). Jobs that share a portal should share this directory.
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check mapping files and their sources offline: which rows would import, the exact
    /// payloads, and why every other row would not. Never touches a portal.
    Validate(validate::Args),
    /// Import mappings into a portal: batched, rate-limited, journaled, resumable.
    Run(run::Args),
    /// Per step: rows pending, done, rejected and unknown in the journal.
    Status(status::Args),
    /// Create what the mappings need and the portal lacks (smart process, flags, workspace,
    /// custom fields, list values, stages); never deletes. `--dry-run` only shows it.
    Provision(provision::Args),
    /// Write the rejected rows (original columns + `_row`, `_error_code`, `_error`) as CSV.
    Rejects(rejects::Args),
    /// Write source key -> portal ID for every imported row as CSV.
    Ids(ids::Args),
    /// Write an earlier run of the journal as one self-contained HTML page (per step, the run
    /// over time, rejected rows by reason with what to do, the settings). Never contacts the portal.
    Report(report::Args),
    /// Delete what b24import created in the portal (children before parents); never what it
    /// only matched or updated, never users. Resumable; a later run creates the rows again.
    Undo(undo::Args),
    /// Run the bundled samples against the embedded sandbox portal.
    #[cfg(feature = "sandbox")]
    Demo(demo::Args),
    /// Start the embedded Bitrix24 REST emulator on 127.0.0.1 (for rehearsals and tests).
    #[cfg(feature = "sandbox")]
    Sandbox(sandbox::Args),
}

/// Why a command line cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// A flag clap refuses (or `--help`, `--version`: clap's error carries their text).
    #[error(transparent)]
    Args(#[from] clap::Error),
    /// The job file of `run --job-file` (every problem of it).
    #[error("{0}")]
    JobFile(crate::mapping::diagnostic::Diagnostics),
}

/// Parses a command line as the binary does, the job file of `run --job-file` merged under the
/// flags given (issue 23).
pub fn parse_from<I, T>(argv: I) -> Result<Cli, ParseError>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let matches = Cli::command().try_get_matches_from(argv)?;
    let mut cli = Cli::from_arg_matches(&matches)?;
    if let (Command::Run(args), Some(run)) = (&mut cli.command, matches.subcommand_matches("run")) {
        job_file::apply(args, run, &mut cli.state_dir, &matches).map_err(ParseError::JobFile)?;
    }
    Ok(cli)
}

/// Parses the process arguments, runs the subcommand, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    let cli = match parse_from(std::env::args_os()) {
        Ok(cli) => cli,
        Err(ParseError::Args(err)) => {
            let code = if err.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = err.print();
            return ExitCode::from(code);
        }
        Err(ParseError::JobFile(problems)) => {
            for p in &problems.0 {
                eprintln!("error: {p}");
            }
            eprintln!("{} problem(s) in the job file; nothing was sent.", problems.0.len());
            return ExitCode::from(exit::USAGE);
        }
    };
    init_tracing();
    quiet_on_closed_stdout();
    if let Some(dir) = cli.state_dir.clone() {
        crate::host_state::set_state_dir(dir);
    }
    let result = match cli.command {
        Command::Validate(args) => validate::run(args),
        Command::Run(args) => run::run(args),
        Command::Provision(args) => provision::run(args),
        Command::Status(args) => status::run(args),
        Command::Rejects(args) => rejects::run(args),
        Command::Ids(args) => ids::run(args),
        Command::Report(args) => report::run(args),
        Command::Undo(args) => undo::run(args),
        #[cfg(feature = "sandbox")]
        Command::Demo(args) => demo::run(args),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => sandbox::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // `ids --out - | head`: the reader has what it wanted.
        Err(err) if is_broken_pipe(&err) => ExitCode::from(exit::OK),
        Err(err) => {
            eprintln!("error: {err:#}");
            // A journal that cannot be read is exit 4 in every command, wherever it surfaced.
            let journal = err.chain().any(|e| e.is::<crate::journal::JournalError>());
            ExitCode::from(if journal { exit::JOURNAL } else { exit::USAGE })
        }
    }
}

/// Set once standard output failed: nothing more is written to it.
static STDOUT_GONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Writes one line to standard output (see [`outln!`]).
pub(crate) fn stdout_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    use std::sync::atomic::Ordering;
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: cannot write to standard output: {e}");
        }
    }
}

/// A `println!` left outside [`outln!`] panics when the reader of standard output went away;
/// that ends the process quietly (exit 0) instead of with a panic message.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("failed printing to stdout") && text.contains("Broken pipe") {
            std::process::exit(i32::from(exit::OK));
        }
        default(info);
    }));
}

/// Whether an error is a reader that went away (a closed pipe): the output ends quietly.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<csv::Error>().is_some_and(
                |c| matches!(c.kind(), csv::ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::BrokenPipe),
            )
    })
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("B24IMPORT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
