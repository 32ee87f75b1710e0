//! Standard output as the commands' readers meet it: `--out -` writes the CSV there, and a
//! reader that closes the pipe early (`| head -1`) ends the command quietly: no panic, no
//! "Broken pipe" on stderr, the usual exit code.

use crate::cli_support;

use std::process::{Command, Stdio};

use b24import::sandbox::Sandbox;
use cli_support::{b24, people, run, s, shown, spoil_two_rows};

/// Runs `b24import ARGS` in `cwd` with its standard output closed before it writes anything
/// (the reader of `| head` gone); returns the exit code and stderr.
fn with_stdout_closed(cwd: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_b24import"))
        .current_dir(cwd)
        .args(args)
        .env_remove("B24_WEBHOOK_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    drop(child.stdout.take()); // the read end closes: every write gets EPIPE
    let out = child.wait_with_output().expect("output");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pipe_ends_status_ids_and_rejects_quietly_and_out_dash_is_standard_output() {
    // Regression (issue 16): `b24import status | head -1` panicked ("failed printing to stdout:
    // Broken pipe"), and `--out -` created a file named `-`.
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 300, "create");
    spoil_two_rows(dir.path());
    let journal = s(&dir.path().join("j.sqlite"));
    let out = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));

    // `--out -`: the CSV on standard output, the count on stderr, no file named `-`.
    let ids = b24(dir.path(), ["ids", "--journal", &journal, "--out", "-"].map(String::from).to_vec()).await;
    assert_eq!(ids.status.code(), Some(0), "{}", shown(&ids));
    let csv = String::from_utf8_lossy(&ids.stdout);
    assert!(csv.starts_with("step,key,id\npeople,P00000,"), "{csv}");
    assert_eq!(csv.lines().count(), 299, "header + 298 imported rows");
    assert!(String::from_utf8_lossy(&ids.stderr).contains("298 imported rows written to standard output"));
    let rejects =
        b24(dir.path(), ["rejects", "--journal", &journal, "--out", "-"].map(String::from).to_vec()).await;
    assert_eq!(rejects.status.code(), Some(0), "{}", shown(&rejects));
    let csv = String::from_utf8_lossy(&rejects.stdout);
    assert!(csv.starts_with("Code,Name,Last,Email,Phone,Tier,_row,_error_code,_error\n"), "{csv}");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(!dir.path().join("-").exists(), "no file named `-`");

    // The reader went away: quiet, and the usual exit code.
    for args in [
        vec!["status", "--journal", &journal],
        vec!["status", "--json", "--journal", &journal],
        vec!["ids", "--journal", &journal, "--out", "-"],
        vec!["rejects", "--journal", &journal, "--out", "-"],
        vec!["validate", &s(&mapping)],
    ] {
        let (code, stderr) = with_stdout_closed(dir.path(), &args);
        assert!(!stderr.contains("panicked") && !stderr.contains("Broken pipe"), "{args:?}: {stderr}");
        let usual = if args[0] == "validate" { 1 } else { 0 };
        assert_eq!(code, Some(usual), "{args:?}: {stderr}");
    }
    sandbox.stop().await;
}
