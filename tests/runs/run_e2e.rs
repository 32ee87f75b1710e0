//! The import run end to end against the in-process sandbox portal: every row lands exactly
//! once, rejected rows carry the portal's error, re-runs send nothing, faults and crashes are
//! reconciled, fatal refusals stop with exit 3.

use crate::common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use b24import::journal::Journal;
use b24import::pipeline::{self, PlanRate, RunOptions, RunReport};
use b24import::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use b24import::transport::{Credentials, OAuth, Plan, Rate, Secret, Transport, TransportConfig};

const RATE: Rate = Rate { per_second: 200.0, burst: 50 };

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The portal the bundled samples belong to: it holds workgroups 12 and 14, those
/// `samples/users.csv` invites its extranet partners to (as the demo's portal does; a portal
/// refuses an extranet user without an existing group, `ERROR_NO_GROUP`).
fn sandbox_config() -> SandboxConfig {
    SandboxConfig {
        setup: b24import::sandbox::SetupConfig::default().with_extranet_groups([12, 14]),
        ..common::sandbox_config(RATE)
    }
}

fn webhook_transport(sandbox: &SandboxHandle) -> Transport {
    common::webhook_transport(sandbox, RATE)
}

fn options(mappings: Vec<PathBuf>, journal: &Path, batch_size: usize) -> RunOptions {
    RunOptions {
        mappings,
        journal: journal.to_path_buf(),
        job: "test".into(),
        batch_size,
        dry_run: false,
        args_summary: "test".into(),
        progress_bars: false,
    }
}

async fn run(opts: &RunOptions, transport: &Transport) -> RunReport {
    pipeline::run(opts, transport, PlanRate { per_second: RATE.per_second, burst: RATE.burst })
        .await
        .expect("run finishes")
}

/// A contacts CSV with `n` valid rows and the mapping for it.
fn contacts_fixture(dir: &Path, n: usize, extra_mapping: &str) -> PathBuf {
    let mut csv = std::fs::File::create(dir.join("people.csv")).expect("csv");
    writeln!(csv, "Code,Name,Last,Email,Phone,Tier").expect("write");
    for i in 0..n {
        writeln!(csv, "P{i:05},Name{i},Last{i},p{i}@example.com,+7 916 {:03} {:04},41", i % 1000, i)
            .expect("write");
    }
    let mapping = dir.join("people.toml");
    std::fs::write(
        &mapping,
        format!(
            "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\norigin = \"test\"\n\
             [fields]\nname = \"Name\"\nlastName = \"Last\"\nufCrm_1700000004 = \"Tier\"\n{extra_mapping}\n\
             [[fm]]\ntype = \"EMAIL\"\ncolumn = \"Email\"\n[[fm]]\ntype = \"PHONE\"\ncolumn = \"Phone\"\n"
        ),
    )
    .expect("mapping");
    mapping
}

fn journal_counts(path: &Path, step: &str) -> b24import::journal::Counts {
    let j = Journal::open(path).expect("journal");
    let s = j.steps().expect("steps").into_iter().find(|s| s.name == step).expect("step in journal");
    j.counts(s.id).expect("counts")
}

#[tokio::test(flavor = "multi_thread")]
async fn bundled_samples_import_once_and_a_rerun_sends_nothing() {
    let sandbox = Sandbox::start(sandbox_config()).await.expect("sandbox");
    let transport = webhook_transport(&sandbox);
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("j.sqlite");
    let mappings: Vec<PathBuf> = ["users", "companies", "contacts", "deals"]
        .iter()
        .map(|m| repo().join(format!("mappings/{m}.toml")))
        .collect();
    let opts = options(mappings, &journal, 50);

    let first = run(&opts, &transport).await;
    let created: Vec<(String, u64, u64)> =
        first.steps.iter().map(|s| (s.step.clone(), s.created, s.rejected)).collect();
    assert_eq!(
        created,
        vec![
            ("users".to_string(), 9, 3),
            ("companies".to_string(), 22, 4),
            ("contacts".to_string(), 21, 8),
            ("deals".to_string(), 16, 4)
        ]
    );
    let state = sandbox.snapshot();
    assert_eq!(state.items.get("3"), Some(&21));
    assert_eq!(state.items.get("4"), Some(&22));
    assert_eq!(state.items.get("2"), Some(&16));
    assert_eq!(state.users, 9);
    assert_eq!(state.duplicates.items + state.duplicates.users, 0);
    assert_eq!(first.query_limit_refusals, 0);

    // Lookups were resolved to portal IDs: a deal points at the company the journal knows.
    let items = common::sandbox_items(&sandbox, 2).await;
    let first_deal = items.iter().find(|d| d["originId"] == "D-2001").expect("deal D-2001");
    assert!(first_deal["companyId"].as_u64().is_some_and(|id| id > 0), "{first_deal}");
    assert!(first_deal["assignedById"].as_u64().is_some_and(|id| id > 1), "{first_deal}");

    let adds_before = sandbox.request_counts().get("crm.item.add").copied().unwrap_or(0);
    let second = run(&opts, &transport).await;
    assert_eq!(second.steps.iter().map(|s| s.created + s.rejected).sum::<u64>(), 0);
    // Rows rejected by the first run stay rejected (issue 8), the others are skipped as done.
    assert_eq!(second.steps.iter().map(|s| s.skipped).sum::<u64>(), 9 + 22 + 21 + 16);
    assert_eq!(second.steps.iter().map(|s| s.rejected_earlier).sum::<u64>(), 3 + 4 + 8 + 4);
    assert_eq!(sandbox.request_counts().get("crm.item.add").copied().unwrap_or(0), adds_before);
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_the_portal_refuses_are_rejected_with_its_code_and_the_run_goes_on() {
    let sandbox = Sandbox::start(sandbox_config()).await.expect("sandbox");
    let transport = webhook_transport(&sandbox);
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts_fixture(dir.path(), 30, "");
    // Row 5 gets an enumeration value the portal does not know.
    let csv = std::fs::read_to_string(dir.path().join("people.csv")).expect("csv");
    let csv = csv.replacen(
        "P00004,Name4,Last4,p4@example.com,+7 916 004 0004,41",
        "P00004,Name4,Last4,p4@example.com,+7 916 004 0004,99",
        1,
    );
    std::fs::write(dir.path().join("people.csv"), csv).expect("csv");
    let journal = dir.path().join("j.sqlite");
    let report = run(&options(vec![mapping], &journal, 50), &transport).await;
    assert_eq!((report.steps[0].created, report.steps[0].rejected), (29, 1));
    let j = Journal::open(&journal).expect("journal");
    let step = j.steps().expect("steps")[0].id;
    let rejected = j.rejected_rows(step).expect("rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].key, "P00004");
    assert_eq!(rejected[0].error_code.as_deref(), Some("CRM_FIELD_ERROR_VALUE_NOT_VALID"));
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn ambiguous_answers_are_reconciled_so_every_row_lands_exactly_once() {
    for seed in [7, 11, 23] {
        let mut config = sandbox_config();
        config.faults.seed = seed;
        config.faults.drop_after_commit = 0.15;
        config.faults.fail_500 = 0.1;
        config.faults.html_error = 0.1;
        config.faults.fail_503 = 0.1;
        config.faults.timeout_after_ms = Some(50);
        config.faults.timeout_p = 0.03;
        let sandbox = Sandbox::start(config).await.expect("sandbox");
        let transport = webhook_transport(&sandbox);
        let dir = tempfile::tempdir().expect("temp dir");
        let mapping = contacts_fixture(dir.path(), 400, "");
        let journal = dir.path().join("j.sqlite");
        let report = run(&options(vec![mapping], &journal, 20), &transport).await;
        let state = sandbox.snapshot();
        assert!(state.faults.values().sum::<u64>() > 0, "faults were injected: {:?}", state.faults);
        assert_eq!(state.items.get("3"), Some(&400), "seed {seed}, report: {report:?}");
        assert_eq!(state.duplicates.items, 0, "seed {seed}: {:?}", state.duplicates.details);
        let counts = journal_counts(&journal, "people");
        assert_eq!((counts.done, counts.pending, counts.sent, counts.unknown), (400, 0, 0, 0), "seed {seed}");
        sandbox.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_oauth_token_is_refreshed_once_and_the_run_finishes() {
    let mut config = sandbox_config();
    // The run must outlive the token: 30 batches, at most 8 in flight, each answered after
    // 150 ms, take at least four rounds (600 ms), whatever the machine's speed.
    config.oauth.token_ttl = Some(Duration::from_millis(300));
    config.faults.slow_ms = 150;
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let oauth = sandbox.config().oauth.clone();
    let credentials = Credentials::OAuth(
        OAuth::new(
            &sandbox.client_endpoint(),
            Secret::new(oauth.access_token.clone()),
            Secret::new(oauth.refresh_token.clone()),
            oauth.client_id.clone(),
            Secret::new(oauth.client_secret.clone()),
            &sandbox.oauth_endpoint(),
        )
        .expect("oauth"),
    );
    let mut tc = TransportConfig::new(credentials, Plan::Standard);
    tc.limiter.rate = RATE;
    let transport = Transport::new(tc).expect("transport");
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts_fixture(dir.path(), 300, "");
    let journal = dir.path().join("j.sqlite");
    let report = run(&options(vec![mapping], &journal, 10), &transport).await;
    assert_eq!(report.steps[0].created, 300, "{report:?}");
    assert!(transport.stats().refreshes >= 1);
    assert_eq!(sandbox.snapshot().duplicates.items, 0);
    sandbox.stop().await;
}

/// Runs the real binary against `sandbox` with `args` after `run`.
fn binary(sandbox_webhook: &str, args: &[&str]) -> std::process::Child {
    Process::new(env!("CARGO_BIN_EXE_b24import"))
        .arg("run")
        .args(args)
        .args(["--webhook", sandbox_webhook, "--rate", "200", "--burst", "50"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts")
}

#[tokio::test(flavor = "multi_thread")]
async fn overload_limit_stops_the_run_with_exit_3() {
    let mut config = sandbox_config();
    config.faults.overload = true;
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts_fixture(dir.path(), 5, "");
    let journal = dir.path().join("j.sqlite");
    let child = binary(
        &sandbox.webhook_url(),
        &[mapping.to_str().expect("utf-8"), "--journal", journal.to_str().expect("utf-8")],
    );
    let out =
        tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("output");
    assert_eq!(out.status.code(), Some(3), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OVERLOAD_LIMIT"));
    // The step's field check goes beside its first batch (issue 23): the rows of that batch may
    // be `pending` (refused, to be sent again), none is done or left in flight.
    let counts = journal_counts(&journal, "people");
    assert_eq!((counts.sent, counts.done, counts.unknown), (0, 0, 0), "stopped at its first requests");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_with_sigkill_resumes_and_lands_every_row_exactly_once() {
    let mut config = sandbox_config();
    config.faults.slow_ms = 40;
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts_fixture(dir.path(), 600, "");
    let journal = dir.path().join("j.sqlite");
    let args = [
        mapping.to_str().expect("utf-8"),
        "--journal",
        journal.to_str().expect("utf-8"),
        "--batch-size",
        "10",
    ];
    let mut child = binary(&sandbox.webhook_url(), &args);
    // Wait until some rows are in, then kill without warning. The bound only catches a hang:
    // a loaded machine may take long to get there, and killing earlier would prove nothing.
    let start = std::time::Instant::now();
    while sandbox.snapshot().items.get("3").copied().unwrap_or(0) < 150 {
        assert!(start.elapsed() < Duration::from_secs(60), "150 rows never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let halfway = sandbox.snapshot().items.get("3").copied().unwrap_or(0);
    assert!(halfway > 0 && halfway < 600, "killed halfway, not at {halfway}");

    let child = binary(&sandbox.webhook_url(), &args);
    let out =
        tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("output");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let state = sandbox.snapshot();
    assert_eq!(state.items.get("3"), Some(&600));
    assert_eq!(state.duplicates.items, 0);
    let counts = journal_counts(&journal, "people");
    assert_eq!((counts.done, counts.pending, counts.sent, counts.unknown), (600, 0, 0, 0));

    // status, ids and rejects read the same journal.
    let status = Process::new(env!("CARGO_BIN_EXE_b24import"))
        .args(["status", "--json", "--journal", journal.to_str().expect("utf-8")])
        .output()
        .expect("status");
    let json: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status --json");
    assert_eq!(json["steps"][0]["done"], 600);
    let ids = dir.path().join("ids.csv");
    let out = Process::new(env!("CARGO_BIN_EXE_b24import"))
        .args(["ids", "--journal", journal.to_str().expect("utf-8"), "--out", ids.to_str().expect("utf-8")])
        .output()
        .expect("ids");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&ids).expect("ids.csv").lines().count(), 601);
    sandbox.stop().await;
}

#[test]
fn plain_http_to_a_remote_portal_is_refused_with_exit_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts_fixture(dir.path(), 1, "");
    let out = Process::new(env!("CARGO_BIN_EXE_b24import"))
        .args([
            "run",
            mapping.to_str().expect("utf-8"),
            "--webhook",
            "http://example.bitrix24.ru/rest/1/secretcode/",
        ])
        .output()
        .expect("binary");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("secretcode"), "the webhook code leaked: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rejects_export_has_the_original_columns_and_the_portal_error() {
    let sandbox = Sandbox::start(sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts_fixture(dir.path(), 10, "");
    let csv = std::fs::read_to_string(dir.path().join("people.csv")).expect("csv");
    // One row the portal refuses (unknown list item), one the mapping refuses (bad e-mail).
    let csv = csv.replacen("+7 916 002 0002,41", "+7 916 002 0002,77", 1).replacen(
        "p5@example.com",
        "=cmd|' /C calc'!A0",
        1,
    );
    std::fs::write(dir.path().join("people.csv"), csv).expect("csv");
    let journal = dir.path().join("j.sqlite");
    let journal_arg = journal.to_str().expect("utf-8").to_string();
    let child =
        binary(&sandbox.webhook_url(), &[mapping.to_str().expect("utf-8"), "--journal", &journal_arg]);
    let out =
        tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("output");
    assert_eq!(out.status.code(), Some(1), "some rows rejected: {}", String::from_utf8_lossy(&out.stderr));
    let rejects = dir.path().join("rejects.csv");
    let out = Process::new(env!("CARGO_BIN_EXE_b24import"))
        .args(["rejects", "--journal", &journal_arg, "--out", rejects.to_str().expect("utf-8")])
        .output()
        .expect("rejects");
    assert_eq!(out.status.code(), Some(0));
    let mut reader = csv::Reader::from_path(&rejects).expect("csv");
    let headers: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    assert_eq!(headers, ["Code", "Name", "Last", "Email", "Phone", "Tier", "_row", "_error_code", "_error"]);
    let rows: Vec<Vec<String>> =
        reader.records().map(|r| r.expect("row").iter().map(str::to_string).collect()).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let portal = rows.iter().find(|r| r[0] == "P00002").expect("the portal's refusal");
    assert_eq!(portal[6], "people.csv:4");
    assert_eq!(portal[7], "CRM_FIELD_ERROR_VALUE_NOT_VALID");
    let mapping_row = rows.iter().find(|r| r[0] == "P00005").expect("the mapping's refusal");
    assert!(mapping_row[3].starts_with("'="), "formula neutralised: {mapping_row:?}");
    assert_eq!(mapping_row[7], "invalid_email");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_writes_nothing_to_the_portal_or_the_journal() {
    let sandbox = Sandbox::start(sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts_fixture(dir.path(), 30, "");
    let journal = dir.path().join("j.sqlite");
    let child = binary(
        &sandbox.webhook_url(),
        &[mapping.to_str().expect("utf-8"), "--journal", journal.to_str().expect("utf-8"), "--dry-run"],
    );
    let out =
        tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("output");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("30 would be sent"));
    assert!(!journal.exists());
    let counts = sandbox.request_counts();
    for write in ["crm.item.add", "crm.item.update", "user.add", "batch"] {
        assert_eq!(counts.get(write).copied().unwrap_or(0), 0, "{write} called in a dry run");
    }
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operating_time_block_parks_the_method_and_no_row_is_given_up() {
    let mut config = sandbox_config();
    // 0.3 s of budget per 2 s window; each add costs 0.01 s, so a 50-command batch blocks
    // `crm.item.add` for a while after a few batches.
    config.operating.budget_secs = 0.3;
    config.operating.window = Duration::from_secs(2);
    config.operating.buckets = 4;
    config.operating.cost_secs.insert("crm.item.add".into(), 0.01);
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    // The client parks a blocked method until the reported reset, or for one window bucket
    // when it has none (a minute in the cloud; half a second for this small window).
    let mut tc = TransportConfig::new(
        Credentials::Webhook(b24import::transport::Webhook::parse(&sandbox.webhook_url()).expect("webhook")),
        Plan::Standard,
    );
    tc.limiter.rate = RATE;
    tc.operating.default_park = Duration::from_millis(500);
    let transport = Transport::new(tc).expect("transport");
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts_fixture(dir.path(), 100, "");
    let journal = dir.path().join("j.sqlite");
    let report = run(&options(vec![mapping], &journal, 50), &transport).await;
    let state = sandbox.snapshot();
    assert!(
        state.refusals.get("OPERATION_TIME_LIMIT").copied().unwrap_or(0) > 0,
        "the budget was hit: {:?}",
        state.refusals
    );
    assert_eq!(report.steps[0].created, 100, "{report:?}");
    assert_eq!(state.items.get("3"), Some(&100));
    assert_eq!(state.duplicates.items, 0);
    sandbox.stop().await;
}

#[test]
fn steps_whose_lookups_point_forward_are_refused_before_anything_is_sent() {
    let out = Process::new(env!("CARGO_BIN_EXE_b24import"))
        .current_dir(repo())
        .args([
            "run",
            "mappings/deals.toml",
            "mappings/contacts.toml",
            "--webhook",
            "http://127.0.0.1:9/rest/1/x/",
        ])
        .output()
        .expect("binary");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs IDs from step `contacts`, which runs after it"), "{err}");
}
