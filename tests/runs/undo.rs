//! `b24import undo` (issue 21) through the binary against the in-process sandbox: what a run
//! created is deleted, children before parents; items matched by duplicate control are left
//! alone; a second undo sends nothing; a later run creates the rows again; under dropped
//! answers, 500s and 503s and SIGKILLs mid-undo, a resumed undo still deletes every item
//! exactly once and exits 0.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Stdio};
use std::time::Duration;

use b24import::journal::Journal;
use b24import::sandbox::{FaultConfig, Sandbox, SandboxConfig, SandboxHandle};
use b24import::transport::Rate;
use serde_json::json;

const RATE: Rate = Rate { per_second: 400.0, burst: 100 };

/// `companies.csv` (`n` rows K{i}) and `contacts.csv` (`n` rows P{i}, each with company
/// K{i % n}), and their mappings (contacts look companies up).
pub(crate) fn job(dir: &Path, n: usize, contacts_target: &str) -> Vec<PathBuf> {
    let mut companies = String::from("Code,Title\n");
    let mut contacts = String::from("Code,Name,Email,Company\n");
    for i in 0..n {
        companies.push_str(&format!("K{i},Company {i}\n"));
        contacts.push_str(&format!("P{i},Name {i},p{i}@example.com,K{i}\n"));
    }
    std::fs::write(dir.join("companies.csv"), companies).expect("csv");
    std::fs::write(dir.join("contacts.csv"), contacts).expect("csv");
    let c = dir.join("companies.toml");
    std::fs::write(
        &c,
        "name = \"companies\"\n[source]\npath = \"companies.csv\"\nkey = \"Code\"\n[target]\nentity = \"company\"\n\
         origin = \"undo\"\n[fields]\ntitle = \"Title\"\n",
    )
    .expect("mapping");
    let p = dir.join("contacts.toml");
    std::fs::write(
        &p,
        format!(
            "name = \"contacts\"\n[source]\npath = \"contacts.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
             origin = \"undo\"\n{contacts_target}\n[fields]\nname = \"Name\"\n\
             companyId = {{ column = \"Company\", lookup = \"companies\" }}\n\
             [[fm]]\ntype = \"EMAIL\"\ncolumn = \"Email\"\n"
        ),
    )
    .expect("mapping");
    vec![c, p]
}

pub(crate) fn args(
    cmd: &str,
    mappings: &[PathBuf],
    journal: &Path,
    sandbox: &SandboxHandle,
    extra: &[&str],
) -> Vec<String> {
    let mut a: Vec<String> = vec![cmd.into()];
    a.extend(mappings.iter().map(|m| m.display().to_string()));
    a.extend(["--journal".into(), journal.display().to_string(), "--batch-size".into(), "20".into()]);
    a.extend(["--webhook".into(), sandbox.webhook_url(), "--rate".into(), "400".into()]);
    a.extend(["--burst".into(), "100".into()]);
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

/// Runs the binary to its end: exit code, stdout, stderr.
pub(crate) async fn finish(args: &[String]) -> (Option<i32>, String, String) {
    let args = args.to_vec();
    let out = tokio::task::spawn_blocking(move || {
        Process::new(env!("CARGO_BIN_EXE_b24import"))
            .args(&args)
            .env_remove("B24_WEBHOOK_URL")
            .output()
            .expect("binary")
    })
    .await
    .expect("join");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Starts the binary once per entry and SIGKILLs it once the sandbox served that many more
/// requests (counted, not timed).
async fn kill_at(sandbox: &SandboxHandle, args: &[String], kills: &[u64]) {
    for more in kills {
        let mut child = Process::new(env!("CARGO_BIN_EXE_b24import"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary");
        let target = sandbox.snapshot().requests.total + more;
        let start = std::time::Instant::now();
        while sandbox.snapshot().requests.total < target {
            if child.try_wait().expect("try_wait").is_some() {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "request {target} never came");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

pub(crate) fn items(sandbox: &SandboxHandle, entity_type_id: u32) -> u64 {
    sandbox.snapshot().items.get(&entity_type_id.to_string()).copied().unwrap_or(0)
}

/// (done, undone, undoing) of step `name`.
fn journal_rows(journal: &Path, name: &str) -> (u64, u64, u64) {
    let j = Journal::open_read_only(journal).expect("journal");
    let s = j.steps().expect("steps").into_iter().find(|s| s.name == name).expect("step");
    let c = j.counts(s.id).expect("counts");
    (c.done, c.undone, c.undoing)
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_deletes_what_the_run_created_and_a_second_undo_sends_nothing_and_a_run_creates_again() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let m = job(dir.path(), 30, "");
    let journal = dir.path().join("j.sqlite");
    let (code, _, err) = finish(&args("run", &m, &journal, &sandbox, &[])).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!((items(&sandbox, 4), items(&sandbox, 3)), (30, 30));

    let (code, out, err) = finish(&args("undo", &m, &journal, &sandbox, &["--dry-run"])).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("30 would be deleted"), "{out}");
    assert_eq!((items(&sandbox, 4), items(&sandbox, 3)), (30, 30), "a dry run deletes nothing");

    let report = dir.path().join("undo.json");
    let (code, out, err) =
        finish(&args("undo", &m, &journal, &sandbox, &["--report", report.to_str().expect("path")])).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!((items(&sandbox, 4), items(&sandbox, 3)), (0, 0), "{out}");
    assert!(out.contains("recycle bin"), "the summary says where deleted items go: {out}");
    // Children before parents: contacts are undone first.
    let order: Vec<&str> = out.lines().filter_map(|l| l.split_whitespace().next()).collect();
    let (contacts, companies) = (
        order.iter().position(|w| *w == "contacts").expect("contacts line"),
        order.iter().position(|w| *w == "companies").expect("companies line"),
    );
    assert!(contacts < companies, "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    assert_eq!(json["steps"][0]["deleted"], 30, "{json}");
    assert_eq!(journal_rows(&journal, "contacts"), (0, 30, 0));

    let (code, out, _) =
        finish(&args("status", &[], &journal, &sandbox, &[]).into_iter().take(3).collect::<Vec<_>>()).await;
    assert_eq!(code, Some(0));
    assert!(out.contains("undone"), "status shows undone rows: {out}");

    let before = sandbox.snapshot().requests.total;
    let (code, out, err) = finish(&args("undo", &m, &journal, &sandbox, &[])).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!(sandbox.snapshot().requests.total, before, "a second undo sends nothing: {out}");
    assert!(out.contains("0 deleted") && out.contains("30 undone before"), "{out}");

    let (code, _, err) = finish(&args("run", &m, &journal, &sandbox, &[])).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!((items(&sandbox, 4), items(&sandbox, 3)), (30, 30), "a later run creates them again");
    assert_eq!(journal_rows(&journal, "contacts"), (30, 0, 0));
}

#[tokio::test(flavor = "multi_thread")]
async fn items_matched_by_duplicate_control_and_items_deleted_by_hand_are_handled() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let other = common::webhook_transport(&sandbox, RATE);
    // A sales rep's contact with P0's e-mail: duplicate control matches it (skip).
    let r = other
        .call(
            "crm.item.add",
            &json!({"entityTypeId": 3, "fields": {"name": "Kept", "fm": [{"typeId": "EMAIL", "valueType": "WORK", "value": "p0@example.com"}]}}),
        )
        .await
        .expect("added");
    let kept = r["item"]["id"].as_u64().expect("id");
    let dir = tempfile::tempdir().expect("dir");
    let m = job(dir.path(), 5, "on_duplicate = \"skip\"");
    let journal = dir.path().join("j.sqlite");
    let (code, _, err) = finish(&args("run", &m, &journal, &sandbox, &[])).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(items(&sandbox, 3), 5, "4 created, 1 matched");
    // One created contact deleted by hand: undo counts it as undone.
    let list = common::sandbox_items(&sandbox, 3).await;
    let by_hand = list.iter().find(|c| c["originId"] == "P3").and_then(|c| c["id"].as_u64()).expect("P3");
    other.call("crm.item.delete", &json!({"entityTypeId": 3, "id": by_hand})).await.expect("deleted by hand");

    let (code, out, err) = finish(&args("undo", &m, &journal, &sandbox, &["--step", "contacts"])).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("3 deleted, 1 already gone"), "{out}");
    assert!(out.contains("1 left alone"), "{out}");
    let left = common::sandbox_items(&sandbox, 3).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0]["id"].as_u64(), Some(kept), "the matched contact is left alone");
    assert_eq!(items(&sandbox, 4), 5, "--step contacts leaves the companies");
    assert_eq!(journal_rows(&journal, "contacts"), (1, 4, 0));

    let (code, _, err) = finish(&args("undo", &m, &journal, &sandbox, &["--step", "nope"])).await;
    assert_eq!(code, Some(2), "an unknown step is a usage error: {err}");
    let (code, _, err) = finish(&args("undo", &m, &dir.path().join("none.sqlite"), &sandbox, &[])).await;
    assert_eq!(code, Some(4), "a missing journal: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undo_killed_under_faults_resumes_and_deletes_every_item_exactly_once() {
    let n = 400;
    let faults = FaultConfig {
        seed: 21,
        drop_after_commit: 0.05,
        fail_500: 0.05,
        fail_503: 0.05,
        slow_ms: 5,
        ..FaultConfig::default()
    };
    let sandbox =
        Sandbox::start(SandboxConfig { faults, ..common::sandbox_config(RATE) }).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let m = job(dir.path(), n, "");
    let journal = dir.path().join("j.sqlite");
    let run = args("run", &m, &journal, &sandbox, &[]);
    let (code, _, err) = finish(&run).await;
    assert_eq!(code, Some(0), "{err}");
    assert_eq!((items(&sandbox, 4), items(&sandbox, 3)), (n as u64, n as u64));

    let faults_before: u64 = sandbox.snapshot().faults.values().sum();
    let undo = args("undo", &m, &journal, &sandbox, &[]);
    kill_at(&sandbox, &undo, &[6, 15]).await;
    let (_, _, undoing) = journal_rows(&journal, "contacts");
    let (code, out, err) = finish(&undo).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!((items(&sandbox, 4), items(&sandbox, 3)), (0, 0), "{out}");
    assert_eq!(journal_rows(&journal, "contacts"), (0, n as u64, 0), "{out}");
    assert_eq!(journal_rows(&journal, "companies"), (0, n as u64, 0), "{out}");
    let faults = sandbox.snapshot().faults;
    assert!(
        faults.values().sum::<u64>() > faults_before,
        "faults were injected during the undo: {faults:?} (undoing left by the kills: {undoing})"
    );
    let before = sandbox.snapshot().requests.total;
    let (code, out, _) = finish(&undo).await;
    assert_eq!((code, sandbox.snapshot().requests.total), (Some(0), before), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undo_stopped_by_ctrl_c_exits_130_and_the_next_undo_finishes() {
    let faults = FaultConfig { slow_ms: 40, ..FaultConfig::default() };
    let sandbox =
        Sandbox::start(SandboxConfig { faults, ..common::sandbox_config(RATE) }).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let m = job(dir.path(), 200, "");
    let journal = dir.path().join("j.sqlite");
    let (code, _, err) = finish(&args("run", &m, &journal, &sandbox, &[])).await;
    assert_eq!(code, Some(0), "{err}");
    let undo = args("undo", &m, &journal, &sandbox, &["--max-in-flight", "1"]);
    let mut child = Process::new(env!("CARGO_BIN_EXE_b24import"))
        .args(&undo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary");
    let target = sandbox.snapshot().requests.total + 3;
    let start = std::time::Instant::now();
    while sandbox.snapshot().requests.total < target {
        assert!(start.elapsed() < Duration::from_secs(60), "request {target} never came");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let status = Process::new("kill").args(["-s", "INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let code = tokio::task::spawn_blocking(move || child.wait().expect("wait").code()).await.expect("join");
    assert_eq!(code, Some(130), "Ctrl-C: exit 130");
    assert!(items(&sandbox, 3) + items(&sandbox, 4) > 0, "stopped before the end");
    let (code, out, err) = finish(&undo).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!((items(&sandbox, 4), items(&sandbox, 3)), (0, 0), "{out}");
}
