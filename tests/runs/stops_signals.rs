//! Stops when told: Ctrl-C (SIGINT) or SIGTERM ends the real binary within 2 seconds during
//! every kind of wait (a rate-limit back-off, an operating-time park, the pauses between
//! lookups after 5xx answers, connection retries, the client's own rate limiter), with exit
//! 130; a second Ctrl-C abandons a request in flight. Each test then resumes against the same
//! portal state and checks that every row is there exactly once.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use b24import::journal::Journal;
use b24import::sandbox::{Sandbox, SandboxConfig, SandboxHandle};

/// The figure: stopped within 2 s of the signal.
const STOP_WITHIN: Duration = Duration::from_secs(2);

/// A sandbox keeping its state in `dir` with a fixed webhook code, so that a second sandbox
/// started on the same file is the same portal (for the resume run).
fn portal(dir: &Path) -> SandboxConfig {
    let mut c = SandboxConfig::fast();
    c.rate = 1000.0;
    c.burst = 1000.0;
    c.webhook.code = "stopstestcode".into();
    c.state_file = Some(dir.join("portal.sqlite"));
    c
}

/// `n` contacts and their mapping.
fn contacts(dir: &Path, n: usize) -> PathBuf {
    let mut csv = std::fs::File::create(dir.join("people.csv")).expect("csv");
    writeln!(csv, "Code,Name,Email").expect("write");
    for i in 0..n {
        writeln!(csv, "S{i:05},Name{i},s{i}@example.com").expect("write");
    }
    let mapping = dir.join("people.toml");
    std::fs::write(
        &mapping,
        "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
         origin = \"stops\"\n[fields]\nname = \"Name\"\n[[fm]]\ntype = \"EMAIL\"\ncolumn = \"Email\"\n",
    )
    .expect("mapping");
    mapping
}

/// Starts `b24import run` on `mapping`; output goes to files in `dir` (a full pipe must never
/// block the child). `rate` is `--rate`/`--burst`.
fn start_run(
    dir: &Path,
    webhook: &str,
    mapping: &Path,
    batch: usize,
    rate: (&str, &str),
    tag: &str,
) -> Child {
    Process::new(env!("CARGO_BIN_EXE_b24import"))
        .arg("run")
        .arg(mapping)
        .arg("--journal")
        .arg(dir.join("j.sqlite"))
        .args(["--webhook", webhook, "--batch-size", &batch.to_string(), "--rate", rate.0, "--burst", rate.1])
        .stdout(Stdio::from(std::fs::File::create(dir.join(format!("{tag}.out"))).expect("stdout file")))
        .stderr(Stdio::from(std::fs::File::create(dir.join(format!("{tag}.err"))).expect("stderr file")))
        .spawn()
        .expect("binary starts")
}

fn output(dir: &Path, tag: &str) -> String {
    let out = std::fs::read_to_string(dir.join(format!("{tag}.out"))).unwrap_or_default();
    let err = std::fs::read_to_string(dir.join(format!("{tag}.err"))).unwrap_or_default();
    format!("stdout:\n{out}\nstderr:\n{err}")
}

fn signal(child: &Child, name: &str) {
    let status = Process::new("kill").args(["-s", name, &child.id().to_string()]).status().expect("kill");
    assert!(status.success(), "kill -s {name}");
}

/// Waits for the child to exit, at most `limit` (then kills it and fails the test).
async fn exit_within(child: &mut Child, limit: Duration, what: &str) -> (ExitStatus, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return (status, start.elapsed());
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running {limit:?} after the signal");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls the sandbox until `ready` holds (at most 60 s: only a hang gets there; a loaded 2-core
/// machine may be slow to start the binary).
async fn until(
    sandbox: &SandboxHandle,
    what: &str,
    ready: impl Fn(&b24import::sandbox::StateSnapshot) -> bool,
) {
    let start = Instant::now();
    while !ready(&sandbox.snapshot()) {
        assert!(start.elapsed() < Duration::from_secs(60), "never reached: {what}: {:?}", sandbox.snapshot());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the run tagged `tag` has logged `line` (warnings go to its stderr file), at most
/// 60 s: the run is then inside the wait the line announces.
async fn until_logged(dir: &Path, tag: &str, line: &str) {
    let start = Instant::now();
    let path = dir.join(format!("{tag}.err"));
    while !std::fs::read_to_string(&path).unwrap_or_default().contains(line) {
        assert!(start.elapsed() < Duration::from_secs(60), "never logged `{line}`\n{}", output(dir, tag));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn refusals(s: &b24import::sandbox::StateSnapshot, code: &str) -> u64 {
    s.refusals.get(code).copied().unwrap_or(0)
}

fn journal_counts(dir: &Path) -> b24import::journal::Counts {
    let j = Journal::open(&dir.join("j.sqlite")).expect("journal");
    let step = j.steps().expect("steps").into_iter().find(|s| s.name == "people").expect("step");
    j.counts(step.id).expect("counts")
}

/// Sends `sig`, asserts exit 130 within [`STOP_WITHIN`], and that no row was left `unknown` or
/// `sent` (nothing was in flight: the rows are pending again).
async fn stop_and_check(dir: &Path, child: &mut Child, sig: &str) {
    signal(child, sig);
    let (status, took) = exit_within(child, Duration::from_secs(10), sig).await;
    assert_eq!(status.code(), Some(130), "{}", output(dir, "first"));
    assert!(took < STOP_WITHIN, "stopped {took:?} after {sig}\n{}", output(dir, "first"));
    let c = journal_counts(dir);
    assert_eq!((c.sent, c.unknown), (0, 0), "rows of a request that never ran are pending: {c:?}");
}

/// Restarts the portal from its state file without faults, runs again, and checks every row
/// is there exactly once.
async fn resume_and_check(dir: &Path, sandbox: SandboxHandle, mapping: &Path, n: u64) {
    sandbox.stop().await;
    let sandbox = Sandbox::start(portal(dir)).await.expect("sandbox restarts");
    let mut child = start_run(dir, &sandbox.webhook_url(), mapping, 10, ("1000", "100"), "resume");
    let (status, _) = exit_within(&mut child, Duration::from_secs(60), "resume run").await;
    assert_eq!(status.code(), Some(0), "{}", output(dir, "resume"));
    let state = sandbox.snapshot();
    assert_eq!(state.items.get("3"), Some(&n), "{}", output(dir, "resume"));
    assert_eq!(state.duplicates.items, 0);
    let c = journal_counts(dir);
    assert_eq!((c.done, c.pending, c.sent, c.unknown), (n, 0, 0, 0));
    sandbox.stop().await;
}

// Regression: a portal answering QUERY_LIMIT_EXCEEDED forever kept the process alive for
// good, ignoring SIGINT and SIGTERM.
#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_during_a_rate_limit_back_off_exits_130_within_two_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts(dir.path(), 60);
    // A bucket that never refills: two requests pass (the field check and one batch), then
    // every request is refused.
    let sandbox = Sandbox::start(SandboxConfig { rate: 0.0001, burst: 2.0, ..portal(dir.path()) })
        .await
        .expect("sandbox");
    let mut child = start_run(dir.path(), &sandbox.webhook_url(), &mapping, 10, ("1000", "100"), "first");
    until(&sandbox, "a refused batch", |s| refusals(s, "QUERY_LIMIT_EXCEEDED") >= 2).await;
    stop_and_check(dir.path(), &mut child, "INT").await;
    resume_and_check(dir.path(), sandbox, &mapping, 60).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_an_operating_time_park_exits_130_within_two_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts(dir.path(), 60);
    // One add spends the method's whole budget for the 10-minute window: the client parks
    // `crm.item.add` until the window's oldest bucket expires (minutes).
    let mut config = portal(dir.path());
    config.operating.budget_secs = 0.5;
    config.operating.cost_secs.insert("crm.item.add".into(), 1.0);
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let mut child = start_run(dir.path(), &sandbox.webhook_url(), &mapping, 10, ("1000", "100"), "first");
    until(&sandbox, "a blocked add", |s| refusals(s, "OPERATION_TIME_LIMIT") >= 1).await;
    until_logged(dir.path(), "first", "parking it until its budget resets").await;
    stop_and_check(dir.path(), &mut child, "TERM").await;
    resume_and_check(dir.path(), sandbox, &mapping, 60).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_lookups_after_5xx_answers_are_retried_exits_130_within_two_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts(dir.path(), 30);
    let mut config = portal(dir.path());
    config.faults.fail_500 = 1.0;
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let mut child = start_run(dir.path(), &sandbox.webhook_url(), &mapping, 10, ("1000", "100"), "first");
    // The field check and three batches fail; then the run looks the unknown rows up, with
    // pauses between tries.
    until(&sandbox, "lookups being retried", |s| refusals(s, "INTERNAL_SERVER_ERROR") >= 6).await;
    signal(&child, "INT");
    let (status, took) = exit_within(&mut child, Duration::from_secs(10), "INT").await;
    assert_eq!(status.code(), Some(130), "{}", output(dir.path(), "first"));
    assert!(took < STOP_WITHIN, "stopped {took:?} after the signal");
    // The batches may have run (a 500 says nothing): their rows are unknown, resolved by the
    // lookup of the resume run.
    resume_and_check(dir.path(), sandbox, &mapping, 30).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_the_client_rate_limiter_holds_a_request_exits_130_within_two_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts(dir.path(), 40);
    let sandbox = Sandbox::start(portal(dir.path())).await.expect("sandbox");
    // One request per 50 s after the first: the run waits in the limiter.
    let mut child = start_run(dir.path(), &sandbox.webhook_url(), &mapping, 10, ("0.02", "1"), "first");
    until(&sandbox, "the first request", |s| s.requests.total >= 1).await;
    // A head start into the limiter's 50 s wait (it logs nothing). A signal that lands earlier
    // must stop the run within 2 s as well, so a slow machine cannot make this fail.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop_and_check(dir.path(), &mut child, "INT").await;
    resume_and_check(dir.path(), sandbox, &mapping, 40).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_while_retrying_a_refused_connection_exits_130_within_two_seconds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts(dir.path(), 400);
    let mut config = portal(dir.path());
    config.faults.slow_ms = 30;
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let mut child = start_run(dir.path(), &sandbox.webhook_url(), &mapping, 5, ("1000", "100"), "first");
    until(&sandbox, "some rows in", |s| s.items.get("3").copied().unwrap_or(0) >= 20).await;
    // The portal goes away: every connection is refused; the client retries with back-off.
    sandbox.stop().await;
    until_logged(dir.path(), "first", "could not connect to the portal; retrying").await;
    assert!(child.try_wait().expect("try_wait").is_none(), "still retrying: {}", output(dir.path(), "first"));
    signal(&child, "INT");
    let (status, took) = exit_within(&mut child, Duration::from_secs(10), "INT").await;
    assert_eq!(status.code(), Some(130), "{}", output(dir.path(), "first"));
    assert!(took < STOP_WITHIN, "stopped {took:?} after the signal");
    let sandbox = Sandbox::start(portal(dir.path())).await.expect("sandbox restarts");
    resume_and_check(dir.path(), sandbox, &mapping, 400).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_ctrl_c_abandons_the_request_in_flight_and_the_next_run_reconciles_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts(dir.path(), 20);
    // Each add takes 2 s of (real) processing: a batch of 10 answers after 20 s.
    let mut config = portal(dir.path());
    config.time_scale = 1.0;
    config.operating.cost_secs.insert("crm.item.add".into(), 2.0);
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let mut child = start_run(dir.path(), &sandbox.webhook_url(), &mapping, 10, ("1000", "100"), "first");
    until(&sandbox, "a batch being processed", |s| {
        s.requests.by_method.get("crm.item.add").copied().unwrap_or(0) >= 10
    })
    .await;
    // The first Ctrl-C lets the request in flight finish...
    signal(&child, "INT");
    // Room for a wrong early exit; the answer is 20 s away, so a slow machine cannot fail this.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(child.try_wait().expect("try_wait").is_none(), "a first Ctrl-C waits for the request in flight");
    // ...the second abandons it.
    signal(&child, "INT");
    let (status, took) = exit_within(&mut child, Duration::from_secs(10), "second INT").await;
    assert_eq!(status.code(), Some(130), "{}", output(dir.path(), "first"));
    assert!(took < STOP_WITHIN, "stopped {took:?} after the second Ctrl-C");
    // Both batches may be in flight (requests overlap); every abandoned row stays sent.
    let c = journal_counts(dir.path());
    assert!(c.sent >= 10 && c.done == 0, "the abandoned batches' rows stay sent: {c:?}");
    resume_and_check(dir.path(), sandbox, &mapping, 20).await;
    let resumed = output(dir.path(), "resume");
    assert!(resumed.contains(&format!("{} found in the portal", c.sent)), "{resumed}");
}

/// A portal that accepts connections and never answers: every request hangs mid-flight. The
/// receiver hears of each connection (kept open) as it is accepted.
fn silent_portal() -> (std::sync::mpsc::Receiver<()>, String) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/rest/1/abcdef/", listener.local_addr().expect("addr"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            open.push(stream);
            let _ = tx.send(());
        }
    });
    (rx, url)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_provision_and_validate_online_mid_request_with_exit_130() {
    // Regression (issue 16): only `run` handled SIGTERM; `provision` and `validate --online`
    // died by the signal (no 130) or waited for the request's timeout.
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts(dir.path(), 3);
    let (connected, url) = silent_portal();
    for (tag, args) in [
        ("provision", vec!["provision".to_string(), mapping.display().to_string()]),
        ("validate", vec!["validate".to_string(), mapping.display().to_string(), "--online".to_string()]),
    ] {
        let mut child = Process::new(env!("CARGO_BIN_EXE_b24import"))
            .args(&args)
            .args(["--webhook", &url])
            .env_remove("B24_WEBHOOK_URL")
            .stdout(Stdio::from(std::fs::File::create(dir.path().join(format!("{tag}.out"))).expect("out")))
            .stderr(Stdio::from(std::fs::File::create(dir.path().join(format!("{tag}.err"))).expect("err")))
            .spawn()
            .expect("binary starts");
        // The request is on the wire once the portal accepted its connection.
        let on_the_wire = tokio::task::block_in_place(|| connected.recv_timeout(Duration::from_secs(60)));
        assert!(on_the_wire.is_ok(), "{tag} never connected: {}", output(dir.path(), tag));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(child.try_wait().expect("try_wait").is_none(), "{tag} hangs: {}", output(dir.path(), tag));
        signal(&child, "TERM");
        let (status, took) = exit_within(&mut child, Duration::from_secs(5), tag).await;
        assert_eq!(status.code(), Some(130), "{tag}: {}", output(dir.path(), tag));
        assert!(took < Duration::from_secs(2), "{tag} took {took:?}");
        assert!(output(dir.path(), tag).contains("interrupted"), "{}", output(dir.path(), tag));
        while connected.try_recv().is_ok() {} // connections of this command's other requests
    }
}
