//! `method = "import"` (issue 19) through the binary: the rows reach the portal oldest first
//! whatever their order in the source, with their original dates and authors and no automation;
//! under seeded drops, 500s and 503s and SIGKILLs every row lands exactly once (a resend after
//! a newer row would be refused by the portal's order rule, so a wrong order shows as a
//! rejection); the pre-flight refuses, naming why, what the portal would refuse whole.

use crate::cli_support::{faulty, finish, kill_at};
use crate::common;

use std::path::{Path, PathBuf};

use b24import::journal::Journal;
use b24import::sandbox::{HistoryConfig, Sandbox, SandboxConfig, SandboxHandle};
use b24import::transport::Rate;
use serde_json::{Value, json};

const RATE: Rate = Rate { per_second: 400.0, burst: 100 };

/// The creation time of deal `i` of `n`: a permutation of `n` hours from 2020-01-01, so the
/// source is far from sorted.
fn created(i: usize, n: usize) -> String {
    let hour = (i * 7919) % n;
    let t = chrono::DateTime::from_timestamp(1_577_836_800 + hour as i64 * 3600, 0).expect("time");
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `deals.csv` with `n` deals `D{i}` (created in shuffled order, modified a day later, by the
/// sandbox's administrator) and its import mapping.
fn deals(dir: &Path, n: usize, extra_target: &str) -> PathBuf {
    let mut csv = String::from("Code,Title,Created,Modified,Author\n");
    for i in 0..n {
        let c = created(i, n);
        let m = chrono::NaiveDateTime::parse_from_str(&c, "%Y-%m-%d %H:%M:%S").expect("c")
            + chrono::Duration::days(1);
        csv.push_str(&format!("D{i},Deal {i},{c},{},admin@sandbox.local\n", m.format("%Y-%m-%d %H:%M:%S")));
    }
    std::fs::write(dir.join("deals.csv"), csv).expect("csv");
    let path = dir.join("deals.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"deals\"\n[source]\npath = \"deals.csv\"\nkey = \"Code\"\n[target]\nentity = \"deal\"\n\
             origin = \"hist\"\nmethod = \"import\"\n{extra_target}\n[fields]\ntitle = \"Title\"\n\
             createdTime = {{ column = \"Created\", type = \"datetime\", formats = [\"%Y-%m-%d %H:%M:%S\"] }}\n\
             updatedTime = {{ column = \"Modified\", type = \"datetime\", formats = [\"%Y-%m-%d %H:%M:%S\"] }}\n\
             createdBy = {{ column = \"Author\", user = \"email\" }}\n"
        ),
    )
    .expect("mapping");
    path
}

fn args(mapping: &Path, journal: &Path, sandbox: &SandboxHandle) -> Vec<String> {
    let mut a: Vec<String> = vec!["run".into(), mapping.display().to_string()];
    a.extend(["--journal".into(), journal.display().to_string(), "--batch-size".into(), "20".into()]);
    a.extend(["--webhook".into(), sandbox.webhook_url(), "--rate".into(), "400".into()]);
    a.extend(["--burst".into(), "100".into()]);
    a
}

async fn deals_in(sandbox: &SandboxHandle) -> Vec<Value> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    common::sandbox_items(sandbox, 2).await
}

/// Exactly `n` deals `D{i}`, no duplicate, each with its original creation time and author,
/// created in ascending creation time (their IDs grow with it), none by automation.
async fn assert_imported(sandbox: &SandboxHandle, n: usize, what: &str) {
    let state = sandbox.snapshot();
    let mut list = deals_in(sandbox).await;
    assert_eq!(list.len(), n, "{what}: {} deals", list.len());
    assert_eq!(state.duplicates.items, 0, "{what}: duplicates");
    assert_eq!(state.history.automation_runs, 0, "{what}: an import runs no automation");
    for d in &list {
        let i: usize = d["originId"].as_str().and_then(|k| k.strip_prefix('D')?.parse().ok()).expect("key");
        let at = chrono::DateTime::parse_from_rfc3339(d["createdTime"].as_str().expect("createdTime"))
            .expect("rfc3339")
            .naive_utc()
            .format("%Y-%m-%d %H:%M:%S")
            .to_string();
        assert_eq!(at, created(i, n), "{what}: D{i}'s creation time");
        assert_eq!(d["createdBy"], json!(1), "{what}: D{i}'s author");
    }
    list.sort_by_key(|d| d["id"].as_u64());
    let times: Vec<&str> = list.iter().map(|d| d["createdTime"].as_str().unwrap_or_default()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{what}: not created oldest first");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_sends_an_unsorted_source_oldest_first_with_its_dates_and_authors_and_no_automation() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let m = deals(dir.path(), 300, "");
    let journal = dir.path().join("j.sqlite");
    let (code, out) = finish(&args(&m, &journal, &sandbox)).await;
    assert_eq!(code, Some(0), "{out}");
    assert_imported(&sandbox, 300, "first run").await;
    // A second run sends nothing and refuses nothing: the newest items are the job's own.
    let before = sandbox.snapshot().requests.total;
    let (code, out) = finish(&args(&m, &journal, &sandbox)).await;
    assert_eq!(code, Some(0), "{out}");
    let writes = sandbox.snapshot().requests.total - before;
    assert!(writes < 10, "a re-run made {writes} requests: {out}");
    assert_imported(&sandbox, 300, "re-run").await;
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_killed_three_times_under_faults_lands_every_row_once_in_order() {
    let sandbox = Sandbox::start(faulty(41, RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let n = 600;
    let m = deals(dir.path(), n, "");
    let journal = dir.path().join("j.sqlite");
    let a = args(&m, &journal, &sandbox);
    kill_at(&sandbox, &a, &[12, 30, 20]).await;
    let (code, out) = finish(&a).await;
    let j = Journal::open_read_only(&journal).expect("journal");
    let rejected = j.rejected_rows(j.steps().expect("steps")[0].id).expect("rejected");
    let first: Vec<_> = rejected.iter().take(3).map(|r| (&r.key, &r.error_code, &r.error_text)).collect();
    assert_eq!(code, Some(0), "every row done, none refused by the order rule: {first:?}\n{out}");
    assert_imported(&sandbox, n, "after three kills under faults").await;
    let left: u64 = j
        .steps()
        .expect("steps")
        .iter()
        .map(|s| j.counts(s.id).expect("counts"))
        .map(|c| c.pending + c.sent + c.unknown + c.rejected)
        .sum();
    assert_eq!(left, 0);
    assert!(sandbox.snapshot().faults.values().sum::<u64>() > 0, "no fault was injected");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pre_flight_refuses_an_import_behind_a_newer_item_it_did_not_create_naming_it() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    // Another deal, created now: newer than every row of the source.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let other =
        common::call(&sandbox, "crm.item.add", json!({"entityTypeId": 2, "fields": {"title": "x"}})).await;
    let id = other["item"]["id"].as_u64().expect("id");
    let m = deals(dir.path(), 20, "");
    let (code, out) = finish(&args(&m, &dir.path().join("j.sqlite"), &sandbox)).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains(&format!("deal {id}")) && out.contains("nothing was written"), "{out}");
    assert!(out.contains("key `D0`") || out.contains("key `D"), "names the oldest row: {out}");
    assert_eq!(deals_in(&sandbox).await.len(), 1, "nothing imported");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pre_flight_names_a_missing_import_permission_and_a_non_administrator() {
    for (history, says) in [
        (HistoryConfig { import_denied: true, ..HistoryConfig::default() }, "\"import\" permission"),
        (HistoryConfig { not_admin: true, ..HistoryConfig::default() }, "administrator"),
    ] {
        let sandbox =
            Sandbox::start(SandboxConfig { history, ..common::sandbox_config(RATE) }).await.expect("sandbox");
        let dir = tempfile::tempdir().expect("dir");
        let m = deals(dir.path(), 10, "");
        let (code, out) = finish(&args(&m, &dir.path().join("j.sqlite"), &sandbox)).await;
        assert_eq!(code, Some(2), "{says}: {out}");
        assert!(out.contains(says) && out.contains("nothing was written"), "{says}: {out}");
        assert!(deals_in(&sandbox).await.is_empty(), "{says}: nothing imported");
        sandbox.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_item_the_portal_refuses_is_a_rejection_with_the_portals_text_and_the_rest_import() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let m = deals(dir.path(), 30, "");
    // D3 modified before it was created: the overview's rule, refused by the portal alone.
    let csv = std::fs::read_to_string(dir.path().join("deals.csv")).expect("csv");
    let fixed: Vec<String> = csv
        .lines()
        .map(|l| {
            if l.starts_with("D3,") {
                let cells: Vec<&str> = l.split(',').collect();
                format!("{},{},{},2000-01-01 00:00:00,{}", cells[0], cells[1], cells[2], cells[4])
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(dir.path().join("deals.csv"), fixed.join("\n") + "\n").expect("csv");
    let journal = dir.path().join("j.sqlite");
    let (code, out) = finish(&args(&m, &journal, &sandbox)).await;
    assert_eq!(code, Some(1), "{out}");
    assert_eq!(deals_in(&sandbox).await.len(), 29);
    let j = Journal::open_read_only(&journal).expect("journal");
    let step = j.steps().expect("steps")[0].id;
    let rejected = j.rejected_rows(step).expect("rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].error_code.as_deref(), Some("CRM_FIELD_ERROR_VALUE_NOT_VALID"));
    assert!(rejected[0].error_text.as_deref().unwrap_or_default().contains("updatedTime"), "{rejected:?}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_online_says_what_the_import_pre_flight_would_refuse_and_writes_nothing() {
    let sandbox = Sandbox::start(SandboxConfig {
        history: HistoryConfig { not_admin: true, ..HistoryConfig::default() },
        ..common::sandbox_config(RATE)
    })
    .await
    .expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let m = deals(dir.path(), 10, "");
    let a: Vec<String> = vec![
        "validate".into(),
        m.display().to_string(),
        "--online".into(),
        "--webhook".into(),
        sandbox.webhook_url(),
    ];
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("administrator") && out.contains("createdTime"), "{out}");
    let state = sandbox.snapshot();
    assert!(!state.requests.by_method.contains_key("crm.item.batchImport"), "validate wrote: {state:?}");
    assert!(deals_in(&sandbox).await.is_empty());
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_add_step_is_told_once_that_the_portals_workflows_run_on_every_item_and_an_import_step_is_not() {
    use b24import::sandbox::WorkflowTemplate;
    let history =
        HistoryConfig { workflows: vec![WorkflowTemplate::on_create(7, "DEAL")], ..HistoryConfig::default() };
    let sandbox =
        Sandbox::start(SandboxConfig { history, ..common::sandbox_config(RATE) }).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let m = deals(dir.path(), 5, "");
    let add = dir.path().join("add.toml");
    std::fs::write(
        &add,
        std::fs::read_to_string(&m)
            .expect("m")
            .replace("method = \"import\"\n", "")
            .replace("name = \"deals\"", "name = \"added\"")
            .replace("origin = \"hist\"", "origin = \"added\""),
    )
    .expect("mapping");
    let (code, out) = finish(&args(&add, &dir.path().join("a.sqlite"), &sandbox)).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        out.matches("\"Welcome sequence 7\"").count(),
        2,
        "the pre-flight and the summary, once each: {out}"
    );
    assert!(out.contains("method = \"import\""), "{out}");
    // validate --online says it too; an import step hears nothing of it.
    let v: Vec<String> = vec![
        "validate".into(),
        add.display().to_string(),
        "--online".into(),
        "--webhook".into(),
        sandbox.webhook_url(),
    ];
    let (_, out) = finish(&v).await;
    assert!(out.contains("Welcome sequence 7"), "{out}");
    let fresh = Sandbox::start(SandboxConfig {
        history: HistoryConfig {
            workflows: vec![WorkflowTemplate::on_create(7, "DEAL")],
            ..HistoryConfig::default()
        },
        ..common::sandbox_config(RATE)
    })
    .await
    .expect("sandbox");
    // The import step's dates and authors are no read-only fields to drop (validate --online).
    let v: Vec<String> = vec![
        "validate".into(),
        m.display().to_string(),
        "--online".into(),
        "--webhook".into(),
        fresh.webhook_url(),
    ];
    let (code, out) = finish(&v).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("read-only") && !out.contains("Welcome sequence"), "{out}");
    let (code, out) = finish(&args(&m, &dir.path().join("i.sqlite"), &fresh)).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(!out.contains("Welcome sequence"), "{out}");
    sandbox.stop().await;
    fresh.stop().await;
}
