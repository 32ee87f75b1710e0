//! `b24import run --job-file nightly.toml` (issue 23): a job's mappings, journal and options in
//! one TOML file, so that a schedule line stays one short command.
//!
//! Owns: the job file's keys (the long names of `run`'s flags, `batch-size = 20` for
//! `--batch-size 20`, plus `mappings`), reading and checking it (every unknown key named with
//! the file, line and a "did you mean"), and merging it under the command line: a flag given on
//! the command line (or through its environment variable) wins over the file, the file wins
//! over the defaults. Relative paths in the file are relative to the file's own folder, so the
//! job runs the same from any working directory. Must not: run anything, or print a credential
//! (a `webhook` in the file is allowed, like `--webhook`, but `B24_WEBHOOK_URL` keeps it out of
//! the file).

use std::path::{Path, PathBuf};

use clap::ArgMatches;
use clap::parser::ValueSource;
use serde::Deserialize;
use toml::de::DeTable;

use super::run::{Args, PlanArg};
use crate::mapping::diagnostic::{Diagnostic, Diagnostics, rewrite_serde_message, suggest};

/// Every key a job file may have: `mappings`, and `run`'s flags by their long names.
pub const KEYS: &[&str] = &[
    "mappings",
    "journal",
    "job",
    "webhook",
    "portal",
    "oauth-endpoint",
    "plan",
    "rate",
    "burst",
    "batch-size",
    "max-in-flight",
    "operating-budget",
    "operating-window",
    "token-file",
    "dry-run",
    "report",
    "state-dir",
];

/// A job file as written.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct JobSpec {
    /// Mapping files, run as steps in this order (the command line's MAPPING...).
    pub mappings: Option<Vec<PathBuf>>,
    pub journal: Option<PathBuf>,
    pub job: Option<String>,
    pub webhook: Option<String>,
    pub portal: Option<String>,
    pub oauth_endpoint: Option<String>,
    pub plan: Option<String>,
    pub rate: Option<f64>,
    pub burst: Option<u32>,
    pub batch_size: Option<usize>,
    pub max_in_flight: Option<usize>,
    pub operating_budget: Option<f64>,
    pub operating_window: Option<f64>,
    pub token_file: Option<PathBuf>,
    pub dry_run: Option<bool>,
    pub report: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
}

/// Reads and checks the job file at `path`: every problem at once, each `file:line:col: ...`.
/// Relative paths come back relative to the file's folder.
pub fn load(path: &Path) -> Result<JobSpec, Diagnostics> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Diagnostics::one(Diagnostic::whole_file(path, format!("cannot read the job file: {e}")))
    })?;
    let doc = DeTable::parse(&text).map_err(|err| {
        Diagnostics::one(Diagnostic::at(path, &text, err.span().unwrap_or(0..0), err.message().to_string()))
    })?;
    let mut problems = Diagnostics::default();
    for (key, _) in doc.get_ref().iter() {
        let name: &str = key.get_ref();
        if !KEYS.contains(&name) {
            let hint = suggest(name, KEYS.iter().copied());
            let hint =
                if hint.is_empty() { " (a job file takes `mappings` and run's flags)".into() } else { hint };
            problems.push(Diagnostic::at(
                path,
                &text,
                key.span(),
                format!("unknown key `{name}` in the job file{hint}"),
            ));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut spec: JobSpec = toml::from_str(&text).map_err(|err| {
        Diagnostics::one(Diagnostic::at(
            path,
            &text,
            err.span().unwrap_or(0..0),
            rewrite_serde_message(err.message()),
        ))
    })?;
    let ranged = [("batch-size", spec.batch_size, 1..=50), ("max-in-flight", spec.max_in_flight, 1..=64)];
    for (key, value, range) in ranged {
        if let Some(v) = value
            && !range.contains(&v)
        {
            problems.push(Diagnostic::whole_file(
                path,
                format!("`{key} = {v}` is outside {}-{}", range.start(), range.end()),
            ));
        }
    }
    if let Some(plan) = &spec.plan
        && <PlanArg as clap::ValueEnum>::from_str(plan, true).is_err()
    {
        problems.push(Diagnostic::whole_file(
            path,
            format!("`plan = \"{plan}\"`: expected \"standard\" or \"enterprise\""),
        ));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let near = |p: &mut PathBuf| {
        if p.is_relative() {
            *p = dir.join(&*p);
        }
    };
    spec.mappings.iter_mut().flatten().for_each(near);
    for p in
        [&mut spec.journal, &mut spec.token_file, &mut spec.report, &mut spec.state_dir].into_iter().flatten()
    {
        near(p);
    }
    Ok(spec)
}

/// Whether the argument `id` was given on the command line or through its environment variable
/// (then it wins over the job file).
fn given(matches: &ArgMatches, id: &str) -> bool {
    matches!(matches.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
}

/// Merges the job file `args.job_file` (if any) under the command line `matches` (run's own
/// matches) into `args`, and `state_dir` (the global `--state-dir`, `top` its matches).
pub fn apply(
    args: &mut Args,
    matches: &ArgMatches,
    state_dir: &mut Option<PathBuf>,
    top: &ArgMatches,
) -> Result<(), Diagnostics> {
    let Some(path) = args.job_file.clone() else { return Ok(()) };
    let spec = load(&path)?;
    fn set<T>(target: &mut T, value: Option<T>, given: bool) {
        if let (Some(v), false) = (value, given) {
            *target = v;
        }
    }
    let g = |id: &str| given(matches, id);
    if args.mappings.is_empty() {
        args.mappings = spec.mappings.unwrap_or_default();
    }
    if args.mappings.is_empty() {
        return Err(Diagnostics::one(Diagnostic::whole_file(
            &path,
            "no mappings: add `mappings = [\"contacts.toml\"]` to the job file, or name them on the command line",
        )));
    }
    let p = &mut args.portal;
    set(&mut p.webhook, spec.webhook.map(Some), g("webhook"));
    set(&mut p.portal, spec.portal.map(Some), g("portal"));
    set(&mut p.oauth_endpoint, spec.oauth_endpoint, g("oauth_endpoint"));
    let plan = spec.plan.and_then(|s| <PlanArg as clap::ValueEnum>::from_str(&s, true).ok());
    set(&mut p.plan, plan, g("plan"));
    set(&mut p.rate, spec.rate.map(Some), g("rate"));
    set(&mut p.burst, spec.burst.map(Some), g("burst"));
    set(&mut p.max_in_flight, spec.max_in_flight, g("max_in_flight"));
    set(&mut p.operating_budget, spec.operating_budget, g("operating_budget"));
    set(&mut p.operating_window, spec.operating_window, g("operating_window"));
    set(&mut p.token_file, spec.token_file.map(Some), g("token_file"));
    set(&mut args.journal.journal, spec.journal.map(Some), g("journal"));
    set(&mut args.journal.job, spec.job, g("job"));
    set(&mut args.batch_size, spec.batch_size, g("batch_size"));
    set(&mut args.dry_run, spec.dry_run, g("dry_run"));
    set(&mut args.report, spec.report.map(Some), g("report"));
    // B24IMPORT_STATE_DIR is --state-dir's environment variable (host_state reads it).
    let state_env = std::env::var_os(crate::host_state::STATE_DIR_ENV).is_some_and(|v| !v.is_empty());
    set(state_dir, spec.state_dir.map(Some), given(top, "state_dir") || state_env);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<JobSpec, Diagnostics> {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("nightly.toml");
        std::fs::write(&path, text).expect("write");
        load(&path).map(|mut s| {
            // Relative paths come back under the file's folder; compare them relative to it.
            for m in s.mappings.iter_mut().flatten() {
                if let Ok(relative) = m.strip_prefix(dir.path()) {
                    *m = relative.to_path_buf();
                }
            }
            s
        })
    }

    #[test]
    fn a_job_file_names_mappings_journal_and_flags() {
        let spec = load_text(
            "mappings = [\"contacts.toml\", \"/abs/deals.toml\"]\njournal = \"j/nightly.sqlite\"\n\
             job = \"nightly\"\nbatch-size = 20\nrate = 1.5\nplan = \"enterprise\"\ndry-run = true\n",
        )
        .expect("loads");
        assert_eq!(
            spec.mappings,
            Some(vec![PathBuf::from("contacts.toml"), PathBuf::from("/abs/deals.toml")])
        );
        assert!(spec.journal.expect("journal").ends_with("j/nightly.sqlite"));
        assert_eq!((spec.batch_size, spec.rate, spec.dry_run), (Some(20), Some(1.5), Some(true)));
    }

    #[test]
    fn every_unknown_key_is_named_with_the_file_and_line_and_a_suggestion() {
        let err = load_text("mappings = [\"a.toml\"]\nbatch_size = 20\nrat = 2\ncolour = 1\n")
            .expect_err("refused");
        let text = err.to_string();
        assert_eq!(err.0.len(), 3, "{text}");
        assert!(
            text.contains(
                "nightly.toml:2:1: unknown key `batch_size` in the job file, did you mean `batch-size`?"
            ),
            "{text}"
        );
        assert!(
            text.contains("nightly.toml:3:1: unknown key `rat` in the job file, did you mean `rate`?"),
            "{text}"
        );
        assert!(text.contains("nightly.toml:4:1: unknown key `colour`"), "{text}");
    }

    #[test]
    fn wrong_values_are_refused_naming_the_key() {
        let text = load_text("batch-size = 80\nplan = \"gold\"\n").expect_err("refused").to_string();
        assert!(text.contains("`batch-size = 80` is outside 1-50"), "{text}");
        assert!(text.contains("`plan = \"gold\"`"), "{text}");
        let text = load_text("rate = \"fast\"\n").expect_err("refused").to_string();
        assert!(text.contains("nightly.toml:1:") && text.contains("a number"), "{text}");
    }
}
