//! `b24import sandbox`: start the embedded Bitrix24 portal emulator on 127.0.0.1 and run it
//! until Ctrl-C / SIGTERM.
//!
//! A thin wrapper: the flags, their translation into a `SandboxConfig` and the serving loop are
//! the sandbox package's one definition (`b24_sandbox::cli`, also behind `b24-sandbox serve`), so
//! the two commands take the same flags. Output as there: exactly two lines on stdout first,
//! `listening on http://127.0.0.1:PORT`, then the webhook base URL; with `--oauth`, then the
//! rehearsal OAuth credentials as `export NAME=value` lines. Everything else goes to stderr.
//!
//! Where a new flag goes: into `ServeArgs` (`sandbox/src/cli.rs`) when it is the sandbox's own
//! (every portal rule is), so that `b24-sandbox serve` has it too. A flag that only the importer's
//! command has gets its own block in [`Opts`] beside `serve`, and its line in [`config`].

use crate::sandbox::SandboxConfig;
use crate::sandbox::cli::{ServeArgs, ServeOptions, serve, shutdown_signal};
use anyhow::Context;

/// Options of `b24import sandbox` (boxed: the subcommand enum stays small).
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub opts: Box<Opts>,
}

/// The options themselves: the sandbox's own flags, then any of the importer's command alone.
#[derive(Debug, clap::Args)]
pub struct Opts {
    /// Every flag of `b24-sandbox serve`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

fn config(args: &Opts) -> anyhow::Result<SandboxConfig> {
    let cfg = args.serve.config()?;
    Ok(cfg)
}

/// Runs the sandbox until Ctrl-C / SIGTERM.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let cfg = config(&args.opts)?;
    let hint = "OAuth rehearsal: run the export lines above in another shell, then `b24import run MAPPING...` \
                without --webhook (the same as --portal {portal} --oauth-endpoint {token}); the run refreshes \
                the tokens and keeps the rotated refresh token beside its journal"
        .to_string();
    let opts = ServeOptions { oauth: args.opts.serve.oauth, oauth_hint: Some(hint) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(cfg, &opts, shutdown_signal()))?;
    Ok(crate::cli::exit::OK)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::sandbox::Latency;

    fn opts(args: &[&str]) -> Box<Opts> {
        let argv = ["b24import", "sandbox"].iter().chain(args).copied();
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Sandbox(a) => a.opts,
            other => panic!("not the sandbox subcommand: {other:?}"),
        }
    }

    #[test]
    fn the_sandbox_flags_reach_the_config_through_the_shared_definition() {
        let o = opts(&["--latency-ms", "800-1200", "--operating-budget", "6", "--operating-window", "30"]);
        let cfg = config(&o).expect("valid");
        assert_eq!(cfg.latency, Latency::range(800, 1200));
        assert_eq!((cfg.operating.budget_secs, cfg.operating.window), (6.0, Duration::from_secs(30)));
        assert!(config(&opts(&["--operating-budget", "0"])).is_err());
        let argv = ["b24import", "sandbox", "--latency-ms", "1s"];
        let e = Cli::try_parse_from(argv).expect_err("not milliseconds").to_string();
        assert!(e.contains("800-1200"), "{e}");
    }

    #[test]
    fn the_item_rule_flags_reach_the_config_and_default_to_strict() {
        let strict = config(&opts(&[])).expect("config");
        assert!(strict.items.stage_required.is_empty() && !strict.items.accept_dangling_refs);
        let o = opts(&["--require", "deal:WON=opportunity,closedate", "--require", "contact=lastName"]);
        let cfg = config(&o).expect("config");
        assert_eq!(cfg.items.stage_required.len(), 2);
        assert_eq!(cfg.items.stage_required[0].fields, ["opportunity", "closedate"]);
        assert_eq!(cfg.items.stage_required[1].stage, None);
        assert!(config(&opts(&["--accept-dangling-refs"])).expect("config").items.accept_dangling_refs);
        let e =
            Cli::try_parse_from(["b24import", "sandbox", "--require", "deal:WON"]).expect_err("no fields");
        assert!(e.to_string().contains("deal:WON=opportunity,closedate"), "{e}");
    }

    #[test]
    fn extranet_groups_reach_the_config_and_none_by_default() {
        let cfg = config(&opts(&["--extranet-group", "12", "--extranet-group", "14,20"])).expect("valid");
        assert_eq!(cfg.setup.extranet_groups.iter().copied().collect::<Vec<_>>(), [12, 14, 20]);
        assert!(config(&opts(&[])).expect("valid").setup.extranet_groups.is_empty());
        assert!(Cli::try_parse_from(["b24import", "sandbox", "--extranet-group", "twelve"]).is_err());
    }

    #[test]
    fn the_billing_and_reporting_flags_reach_the_config_and_default_to_the_docs() {
        let cfg = config(&opts(&[])).expect("valid");
        assert_eq!(cfg.batch_billing, crate::sandbox::BatchBilling::PerInnerMethod);
        assert_eq!(cfg.time_model, crate::sandbox::TimeModel::default());
        let cfg = config(&opts(&[
            "--batch-billing",
            "to-batch",
            "--operating-floor",
            "0.1",
            "--result-time-operating",
        ]))
        .expect("valid");
        assert_eq!(cfg.batch_billing, crate::sandbox::BatchBilling::ToBatch);
        assert_eq!(cfg.time_model.operating_floor_secs, 0.1);
        assert!(cfg.time_model.result_time_operating);
        assert!(config(&opts(&["--operating-floor=-1"])).is_err());
    }
}
