//! One pace per portal on this host (issue 23): two `b24import run` processes started together
//! against one portal share its request bucket through the state directory's pace file, so
//! together they stay within the plan (at most 2 `QUERY_LIMIT_EXCEEDED`), where each pacing to
//! the whole plan alone is refused many times. `status --portal` shows both jobs while they run,
//! and never the webhook's code.

use crate::common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use b24import::sandbox::{Latency, Sandbox};
use b24import::transport::Rate;

const RATE: Rate = Rate { per_second: 20.0, burst: 10 };
/// Rows per job; batches of 5: 50 requests each, 100 together, 5 s at the portal's 20/s.
const ROWS: usize = 250;

fn job(dir: &Path, webhook: &str, state: &Path, from: usize, shared: bool) -> Child {
    let mapping = common::name_only_contacts(dir, from, ROWS, &format!("job{from}"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_b24import"));
    cmd.current_dir(dir)
        .args(["run", mapping.to_str().expect("utf-8"), "--webhook", webhook])
        .args(["--journal", "j.sqlite", "--job", &format!("job{from}"), "--batch-size", "5"])
        .args(["--rate", "20", "--burst", "10", "--state-dir", state.to_str().expect("utf-8")])
        .env_remove("B24_WEBHOOK_URL")
        .env_remove("B24_ACCESS_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if !shared {
        cmd.env("B24IMPORT_SHARED_PACE", "off");
    }
    cmd.spawn().expect("binary starts")
}

fn status(state: &Path, portal: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_b24import"))
        .args(["status", "--portal", portal, "--json", "--state-dir", state.to_str().expect("utf-8")])
        .output()
        .expect("status runs")
}

/// Runs two jobs at once; returns the portal's refusals and the most jobs `status --portal` saw.
async fn two_jobs(shared: bool) -> (u64, usize) {
    // ~0.3 s an answer: each job sends its burst at once (requests in flight), as on a real portal.
    let mut config = common::sandbox_config(RATE);
    config.latency = Latency::range(250, 350);
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let (a, b, state) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let url = sandbox.webhook_url();
    let (sp, ap, bp) = (state.path().to_path_buf(), a.path().to_path_buf(), b.path().to_path_buf());
    let (most_seen, outs) = tokio::task::spawn_blocking(move || {
        let children = [job(&ap, &url, &sp, 0, shared), job(&bp, &url, &sp, 10_000, shared)];
        let started = Instant::now();
        let mut most = 0;
        while started.elapsed() < Duration::from_secs(3) {
            let out = status(&sp, &url);
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            assert!(out.status.success(), "{text}");
            let code = url.trim_end_matches('/').rsplit('/').next().expect("code");
            assert!(!text.contains(code), "status shows no webhook code: {text}");
            let v: serde_json::Value = serde_json::from_str(&text).expect("json");
            most = most.max(v["jobs"].as_array().map_or(0, Vec::len));
            std::thread::sleep(Duration::from_millis(100));
        }
        (most, children.map(|c| c.wait_with_output().expect("ends")))
    })
    .await
    .expect("join");
    for out in &outs {
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let s = sandbox.snapshot();
    assert_eq!(s.items.get("3").copied(), Some(2 * ROWS as u64), "every row of both jobs lands");
    assert_eq!(s.duplicates.items, 0, "{:?}", s.duplicates);
    sandbox.stop().await;
    (s.refusals.get("QUERY_LIMIT_EXCEEDED").copied().unwrap_or(0), most_seen)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_jobs_on_one_portal_share_its_pace_and_are_hardly_refused() {
    let (refusals, seen) = two_jobs(true).await;
    eprintln!("shared pace: {refusals} refusal(s)");
    assert!(refusals <= 2, "together at most 2 refusals, got {refusals}");
    assert_eq!(seen, 2, "status --portal shows both jobs while they run");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_shared_pace_the_same_two_jobs_are_refused_many_times() {
    // The test above would fail without sharing: each job paces to the whole plan.
    let (refusals, _) = two_jobs(false).await;
    eprintln!("each alone: {refusals} refusal(s)");
    assert!(refusals > 2, "each paced to the whole plan, together they pass it: {refusals}");
}

/// Job names `status --portal` shows while `children` run (polled for at most `within`).
fn jobs_seen(state: &Path, portal: &str, children: &mut [Child], within: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut seen: Vec<String> = Vec::new();
    while started.elapsed() < within && children.iter_mut().any(|c| c.try_wait().expect("wait").is_none()) {
        let out = status(state, portal);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        for job in v["jobs"].as_array().into_iter().flatten() {
            if let Some(name) = job["job"].as_str()
                && !seen.iter().any(|s| s == name)
            {
                seen.push(name.to_string());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_validate_online_and_undo_take_their_share_of_the_pace_too() {
    // Slow answers keep each command on the portal long enough to be seen.
    let mut config = common::sandbox_config(RATE);
    config.latency = Latency::range(700, 800);
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let (dir, state) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let url = sandbox.webhook_url();
    let (dp, sp) = (dir.path().to_path_buf(), state.path().to_path_buf());
    let seen = tokio::task::spawn_blocking(move || {
        let mapping = common::name_only_contacts(&dp, 0, 20, "contacts");
        let command = |args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_b24import"))
                .current_dir(&dp)
                .args(args)
                .args([mapping.to_str().expect("utf-8"), "--webhook", &url])
                .args(["--state-dir", sp.to_str().expect("utf-8")])
                .env_remove("B24_WEBHOOK_URL")
                .env_remove("B24_ACCESS_TOKEN")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("binary starts")
        };
        let run = command(&["run", "--journal", "j.sqlite"]).wait().expect("run ends");
        assert!(run.success(), "the run before the undo");
        let mut children = [
            command(&["validate", "--online"]),
            command(&["provision", "--dry-run"]),
            command(&["undo", "--journal", "j.sqlite"]),
        ];
        let seen = jobs_seen(&sp, &url, &mut children, Duration::from_secs(20));
        for mut c in children {
            let _ = c.wait();
        }
        seen
    })
    .await
    .expect("join");
    sandbox.stop().await;
    for name in ["validate --online", "provision", "import (undo)"] {
        assert!(seen.iter().any(|s| s == name), "`{name}` shares the pace: {seen:?}");
    }
}
