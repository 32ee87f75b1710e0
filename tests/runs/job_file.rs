//! `b24import run --job-file nightly.toml` (issue 23): the job file names the mappings, the
//! journal and run's options, its relative paths are relative to the file (so a schedule line
//! works from any directory), flags on the command line win over it, and a job file with a
//! typo'd key is refused (exit 2) naming the key and the file, before any request.

use crate::cli_support;

use b24import::sandbox::Sandbox;

/// `dir/job/`: the people fixture and `nightly.toml` with `extra` lines.
fn job_dir(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    let job = dir.join("job");
    std::fs::create_dir_all(&job).expect("dir");
    cli_support::people(&job, 12, "create");
    let file = job.join("nightly.toml");
    std::fs::write(
        &file,
        format!(
            "# the nightly job\nmappings = [\"people.toml\"]\njournal = \"state/nightly.sqlite\"\njob = \"nightly\"\n\
             rate = 200.0\nburst = 50\n{extra}"
        ),
    )
    .expect("job file");
    file
}

fn args(file: &std::path::Path, webhook: &str, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = ["run", "--job-file", file.to_str().expect("utf-8"), "--webhook", webhook]
        .iter()
        .map(|s| s.to_string())
        .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_file_runs_its_mappings_into_its_journal_from_any_directory() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let file = job_dir(dir.path(), "batch-size = 5\n");
    let elsewhere = tempfile::tempdir().expect("cwd");
    let out = cli_support::b24(elsewhere.path(), args(&file, &sandbox.webhook_url(), &[])).await;
    assert_eq!(out.status.code(), Some(0), "{}", cli_support::shown(&out));
    assert!(dir.path().join("job/state/nightly.sqlite").exists(), "the journal the file names, beside it");
    let s = sandbox.snapshot();
    assert_eq!(s.items.get("3").copied(), Some(12));
    // 12 rows in batches of 5 (the file's batch-size): 3 batches.
    assert_eq!(s.requests.by_method.get("batch").copied(), Some(3), "{:?}", s.requests);
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn flags_on_the_command_line_win_over_the_job_file() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let file = job_dir(dir.path(), "batch-size = 5\ndry-run = false\n");
    let cwd = tempfile::tempdir().expect("cwd");
    let out = cli_support::b24(
        cwd.path(),
        args(&file, &sandbox.webhook_url(), &["--journal", "mine.sqlite", "--batch-size", "12"]),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", cli_support::shown(&out));
    assert!(cwd.path().join("mine.sqlite").exists(), "--journal wins");
    assert!(!dir.path().join("job/state/nightly.sqlite").exists(), "the file's journal is not used");
    assert_eq!(sandbox.snapshot().requests.by_method.get("batch").copied(), Some(1), "--batch-size 12 wins");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typo_in_a_job_file_is_refused_naming_the_key_and_the_file() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let file = job_dir(dir.path(), "batch_sise = 5\n");
    let out = cli_support::b24(dir.path(), args(&file, &sandbox.webhook_url(), &[])).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", cli_support::shown(&out));
    assert!(
        err.contains(&format!(
            "{}:7:1: unknown key `batch_sise` in the job file, did you mean `batch-size`?",
            file.display()
        )),
        "{err}"
    );
    assert_eq!(sandbox.snapshot().requests.total, 0, "nothing sent");
    sandbox.stop().await;
}
