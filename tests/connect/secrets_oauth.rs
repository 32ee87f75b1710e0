//! The README's OAuth path end to end through the binaries: `b24import sandbox --oauth` prints
//! rehearsal credentials, `b24import run` imports with them, refreshes the access token when it
//! expires and keeps the rotated refresh token in one file per portal and client, whatever the
//! journal; a re-authorized
//! `B24_REFRESH_TOKEN` wins over the saved one; a refresh that fails names the saved file. No
//! token reaches stdout, stderr (debug logs), the journal or the report.

use crate::common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// A `b24import sandbox --oauth` child, killed on drop.
struct SandboxProcess {
    child: Child,
    base: String,
    env: BTreeMap<String, String>,
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_sandbox(extra: &[&str]) -> SandboxProcess {
    let mut child = Command::new(env!("CARGO_BIN_EXE_b24import"))
        .args(["sandbox", "--oauth", "--port", "0", "--rate", "200", "--burst", "50", "--time-scale", "0"])
        .args(extra)
        .env_remove("B24IMPORT_SANDBOX_WEBHOOK_CODE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the sandbox starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = || lines.next().expect("a line").expect("utf-8");
    let base = next().strip_prefix("listening on ").expect("listening line").to_string();
    let _webhook = next();
    let mut env = BTreeMap::new();
    for _ in 0..6 {
        let line = next();
        let (name, value) =
            line.strip_prefix("export ").and_then(|l| l.split_once('=')).expect("an export line");
        env.insert(name.to_string(), value.to_string());
    }
    SandboxProcess { child, base, env }
}

/// `b24import run` with the OAuth environment `env` (no webhook), debug logs and a report.
fn run(mapping: &Path, journal: &Path, report: &Path, env: &BTreeMap<String, String>) -> Output {
    Command::new(env!("CARGO_BIN_EXE_b24import"))
        .arg("run")
        .arg(mapping)
        .arg("--journal")
        .arg(journal)
        .arg("--report")
        .arg(report)
        .args(["--rate", "200", "--burst", "50"])
        .env_remove("B24_WEBHOOK_URL")
        .envs(env)
        .env("B24IMPORT_LOG", "debug")
        .output()
        .expect("the binary runs")
}

fn items(base: &str) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let http = b24import::transport::client::build_http(Duration::from_secs(5)).expect("http client");
        let v: serde_json::Value = http
            .get(format!("{base}/_sandbox/state"))
            .send()
            .await
            .expect("state")
            .json()
            .await
            .expect("json");
        assert_eq!(v["duplicates"]["items"], 0, "{v}");
        v["items"]["3"].as_u64().unwrap_or(0)
    })
}

fn text(o: &Output) -> String {
    format!("stdout: {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn saved_token(file: &Path) -> String {
    std::fs::read_to_string(file)
        .expect("the rotated token is saved")
        .lines()
        .next()
        .expect("a line")
        .to_string()
}

/// The one token file under the state directory `state` (one portal, one client).
fn token_file_in(state: &Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(state.join("oauth"))
        .expect("the token directory exists")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "one token file: {files:?}");
    files[0].clone()
}

/// `env` with the state directory (where the token file lives) set to `state`.
fn with_state(env: &BTreeMap<String, String>, state: &Path) -> BTreeMap<String, String> {
    let mut env = env.clone();
    env.insert("B24IMPORT_STATE_DIR".into(), state.display().to_string());
    env
}

/// Sleeps until an access token issued now has expired (`--token-ttl 1`).
fn let_the_access_token_expire() {
    std::thread::sleep(Duration::from_millis(1300));
}

#[test]
fn the_sandbox_oauth_credentials_import_refresh_and_survive_a_reauthorization() {
    let sandbox = start_sandbox(&["--token-ttl", "1"]);
    for name in [
        "B24_PORTAL_URL",
        "B24_OAUTH_ENDPOINT",
        "B24_ACCESS_TOKEN",
        "B24_REFRESH_TOKEN",
        "B24_CLIENT_ID",
        "B24_CLIENT_SECRET",
    ] {
        assert!(sandbox.env.get(name).is_some_and(|v| !v.is_empty()), "{name} printed");
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("j.sqlite");
    let state = dir.path().join("state");
    let env = with_state(&sandbox.env, &state);
    let report = dir.path().join("report.json");
    let mut secrets: Vec<String> = ["B24_ACCESS_TOKEN", "B24_REFRESH_TOKEN", "B24_CLIENT_SECRET"]
        .iter()
        .map(|n| sandbox.env[*n].clone())
        .collect();
    let mut outputs = Vec::new();

    // 1. The printed credentials import.
    let mapping = common::name_only_contacts(dir.path(), 0, 5, "test");
    let out = run(&mapping, &journal, &report, &env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(items(&sandbox.base), 5);
    outputs.push(out);

    // 2. and 3. The access token expired: refreshed, the rotated refresh token saved; the next
    // run uses the saved one (the printed B24_REFRESH_TOKEN has been rotated away by then).
    for round in 1..=2 {
        let_the_access_token_expire();
        let mapping = common::name_only_contacts(dir.path(), round * 5, 5, "test");
        let out = run(&mapping, &journal, &report, &env);
        assert_eq!(out.status.code(), Some(0), "round {round}: {}", text(&out));
        assert_eq!(items(&sandbox.base), 5 + 5 * round as u64);
        secrets.push(saved_token(&token_file_in(&state)));
        outputs.push(out);
    }
    let token_file = token_file_in(&state);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).expect("token file").permissions().mode();
        assert_eq!(mode & 0o077, 0, "the saved token is private");
    }

    // 4. The user re-authorized: a new B24_REFRESH_TOKEN wins over the saved file, which here
    // descends from an older one and no longer works.
    // Bug pinned: the saved token always won, so a re-authorization could not be used.
    let current = saved_token(&token_file);
    std::fs::write(&token_file, format!("stale-saved-token\nfrom-env-sha256 {}\n", "0".repeat(64)))
        .expect("write");
    let mut reauthorized = env.clone();
    reauthorized.insert("B24_REFRESH_TOKEN".into(), current);
    let_the_access_token_expire();
    let mapping = common::name_only_contacts(dir.path(), 15, 5, "test");
    let out = run(&mapping, &journal, &report, &reauthorized);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(items(&sandbox.base), 20);
    secrets.push(saved_token(&token_file));
    outputs.push(out);

    // 5. Nothing usable: the error names the saved file and what to do.
    std::fs::write(&token_file, "stale-saved-token\n").expect("write");
    let_the_access_token_expire();
    let mapping = common::name_only_contacts(dir.path(), 20, 5, "test");
    let out = run(&mapping, &journal, &report, &env);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&token_file.display().to_string()) && stderr.contains("B24_REFRESH_TOKEN"),
        "the error names the saved file and the variable: {stderr}"
    );
    assert!(!stderr.contains("stale-saved-token"));
    outputs.push(out);

    let name = journal.file_name().expect("name").to_string_lossy().to_string();
    let files = [journal.clone(), journal.with_file_name(format!("{name}-wal")), report];
    for secret in &secrets {
        for (i, o) in outputs.iter().enumerate() {
            for (what, bytes) in [("stdout", &o.stdout), ("stderr", &o.stderr)] {
                assert!(
                    !String::from_utf8_lossy(bytes).contains(secret.as_str()),
                    "a token leaked into run {i}'s {what}"
                );
            }
        }
        for f in &files {
            if let Ok(bytes) = std::fs::read(f) {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "a token leaked into {}",
                    f.display()
                );
            }
        }
    }
}

#[test]
fn a_token_rotated_with_one_journal_is_used_by_a_run_with_another() {
    // Regression (issue 16): the rotated token was kept beside the journal, so `run --journal
    // custom.sqlite` after `provision` (or another journal) started with a revoked token: exit 3.
    let sandbox = start_sandbox(&["--token-ttl", "1"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let env = with_state(&sandbox.env, &dir.path().join("state"));
    let report = dir.path().join("report.json");
    for (round, journal) in ["a/default.sqlite", "b/custom.sqlite", "a/default.sqlite"].iter().enumerate() {
        let_the_access_token_expire();
        let mapping = common::name_only_contacts(dir.path(), round * 5, 5, "test");
        let out = run(&mapping, &dir.path().join(journal), &report, &env);
        assert_eq!(out.status.code(), Some(0), "{journal}: {}", text(&out));
        assert_eq!(items(&sandbox.base), 5 * (round as u64 + 1));
    }
    assert!(!dir.path().join("a/default.refresh-token").exists(), "nothing beside the journal");
}
