//! `b24-sandbox`: the Bitrix24 sandbox portal on its own, for any client (an SDK's tests, a
//! script, a rehearsal). `b24-sandbox serve [FLAGS]` starts it on 127.0.0.1 and runs it until
//! Ctrl-C / SIGTERM; the flags are the library's one definition ([`b24_sandbox::cli::ServeArgs`],
//! shared with `b24import sandbox`). Owns argument parsing and the exit code only.

use std::process::ExitCode;

use b24_sandbox::cli::{ServeArgs, ServeOptions, serve, shutdown_signal};

const ABOUT: &str = "A Bitrix24 REST portal emulator on 127.0.0.1, as strict as the portal: webhook and \
OAuth auth, crm.item.*, batch, user.*, the set-up methods, the request-rate and operating-time limits, \
seeded faults. See docs/sandbox.md.";

const SERVE_AFTER: &str = "\
Prints on stdout: `listening on http://127.0.0.1:PORT`, then the webhook base URL
(http://127.0.0.1:PORT/rest/1/CODE/); with --oauth, six `export B24_...=...` lines.

Harness endpoints (not part of Bitrix24; no auth, never rate-limited):
  GET  /_sandbox/state                  counts: items per entity type, users, requests per method,
                                        refusals per error code, injected faults per kind,
                                        duplicates by external key, operating seconds per method
  GET  /_sandbox/items?entityTypeId=N   every item of one entity type, as crm.item.get renders it
  GET  /_sandbox/users                  every user, as user.get renders them
  POST /_sandbox/reset                  a fresh portal (keeps the webhook code and OAuth app)

Examples:
  b24-sandbox serve --plan enterprise --port 8088
  b24-sandbox serve --seed 7 --fail-500 0.05 --drop-after-commit 0.05 --state portal.db
  b24-sandbox serve --oauth --token-ttl 60";

/// `b24-sandbox`.
#[derive(Debug, clap::Parser)]
#[command(name = "b24-sandbox", version, about = ABOUT)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Run the sandbox portal on 127.0.0.1 until Ctrl-C (limits, faults, latency, OAuth, state file).
    #[command(after_long_help = SERVE_AFTER, after_help = "Run with --help for the harness endpoints and examples.")]
    Serve(Box<ServeArgs>),
}

fn main() -> ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    let Command::Serve(args) = cli.command;
    let run = || -> Result<(), Box<dyn std::error::Error>> {
        let cfg = args.config()?;
        let opts = ServeOptions { oauth: args.oauth, oauth_hint: None };
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        runtime.block_on(serve(cfg, &opts, shutdown_signal()))?;
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
