//! `b24import provision` in the fault and crash matrix, through the real binary: two provisions
//! at once, a title naming two smart processes, dropped answers / 500s / 503s, and SIGKILLs at
//! counted requests. Afterwards one more provision completes and the portal holds exactly one
//! smart process, one workspace, each field once and each list value once, the values that
//! were there before with their original IDs and XML_IDs.

use crate::cli_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use b24import::sandbox::{FaultConfig, Sandbox, SandboxConfig, SandboxHandle};
use cli_support::{b24, s, shown};
use serde_json::{Value, json};

/// Calls `method` on the sandbox and returns `result`; an injected fault (no answer, 500, 503)
/// is tried again, so only reads and the set-up before any fault may use it.
async fn call(sandbox: &SandboxHandle, method: &str, params: Value) -> Value {
    let url = format!("{}{method}", sandbox.webhook_url());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut last = String::new();
    for _ in 0..50 {
        let sent = reqwest::Client::new().post(&url).json(&params).send().await;
        let body: Option<Value> = match sent {
            Ok(r) => r.json().await.ok(),
            Err(e) => {
                last = e.to_string();
                None
            }
        };
        match body {
            Some(b) if b.get("error").is_none() => return b["result"].clone(),
            Some(b) => last = b.to_string(),
            None => {}
        }
    }
    panic!("{method}: {last}")
}

/// Projects of the smart process "Projects" in the workspace "Delivery", with a stage and the
/// list field `UF_CRM_1_PRIORITY` (the first smart process of an empty sandbox has type id 1).
fn projects(dir: &Path, priorities: &[&str]) -> PathBuf {
    let mut csv = String::from("Code,Title,Stage,Priority\n");
    for (i, p) in priorities.iter().enumerate() {
        csv.push_str(&format!("X{i},Project {i},Start,{p}\n"));
    }
    std::fs::write(dir.join("projects.csv"), csv).expect("csv");
    let mapping = dir.join("projects.toml");
    std::fs::write(
        &mapping,
        "name = \"projects\"\n[source]\npath = \"projects.csv\"\nkey = \"Code\"\n[target]\n\
         smart_process = \"Projects\"\nuse_original_uf_names = true\n[target.provision]\nworkspace = \"Delivery\"\n\
         [fields]\ntitle = \"Title\"\nstageId = { column = \"Stage\", type = \"enum\", add_missing_values = true }\n\
         UF_CRM_1_PRIORITY = { column = \"Priority\", type = \"enum\", create = { type = \"enumeration\", label = \"Priority\" }, add_missing_values = true }\n",
    )
    .expect("mapping");
    mapping
}

fn args(mapping: &Path, webhook: &str) -> Vec<String> {
    ["provision", &s(mapping), "--webhook", webhook, "--rate", "400", "--burst", "100"]
        .iter()
        .map(|x| x.to_string())
        .collect()
}

fn spawn(dir: &Path, args: &[String]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_b24import"))
        .current_dir(dir)
        .args(args)
        .env_remove("B24_WEBHOOK_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary")
}

/// Waits until the sandbox has served `total` requests while `child` runs; `false` when the
/// child ended first.
async fn until_served(sandbox: &SandboxHandle, total: u64, child: &mut std::process::Child) -> bool {
    let start = std::time::Instant::now();
    while sandbox.snapshot().requests.total < total {
        if child.try_wait().expect("try_wait").is_some() {
            return false;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "request {total} never came");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    true
}

/// What the portal holds: (smart processes titled Projects, workspaces titled Delivery, the
/// workspace's type ids, fields named UF_CRM_1_PRIORITY, the list's (id, value, xmlId)).
async fn holdings(sandbox: &SandboxHandle) -> (usize, usize, Value, usize, Vec<(String, String, String)>) {
    let types = call(sandbox, "crm.type.list", json!({})).await;
    let types = types["types"].as_array().cloned().unwrap_or_default();
    let spa = types.iter().filter(|t| t["title"] == json!("Projects")).count();
    let ws = call(sandbox, "crm.automatedsolution.list", json!({})).await;
    let ws = ws["automatedSolutions"].as_array().cloned().unwrap_or_default();
    let delivery: Vec<&Value> = ws.iter().filter(|w| w["title"] == json!("Delivery")).collect();
    let type_ids = delivery.first().map(|w| w["typeIds"].clone()).unwrap_or(Value::Null);
    let fields =
        call(sandbox, "userfieldconfig.list", json!({"moduleId": "crm", "filter": {"entityId": "CRM_1"}}))
            .await;
    let named: Vec<&Value> = fields["fields"]
        .as_array()
        .map(|f| f.iter().filter(|f| f["fieldName"] == json!("UF_CRM_1_PRIORITY")).collect())
        .unwrap_or_default();
    let items = match named.first() {
        Some(f) => {
            let got = call(sandbox, "userfieldconfig.get", json!({"moduleId": "crm", "id": f["id"]})).await;
            let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
            got["field"]["enum"]
                .as_array()
                .map(|e| e.iter().map(|i| (text(&i["id"]), text(&i["value"]), text(&i["xmlId"]))).collect())
                .unwrap_or_default()
        }
        None => Vec::new(),
    };
    (spa, delivery.len(), type_ids, named.len(), items)
}

fn values(items: &[(String, String, String)]) -> Vec<&str> {
    items.iter().map(|(_, v, _)| v.as_str()).collect()
}

/// A fast sandbox with `faults`, every answer 20 ms late (so that work overlaps).
fn config(faults: FaultConfig) -> SandboxConfig {
    let mut c = cli_support::sandbox_config();
    c.rate = 400.0;
    c.burst = 100.0;
    c.faults = faults;
    c.latency = b24import::sandbox::Latency::fixed(20);
    c
}

// Bug: two provisions started together both found no smart process and both created one (and
// two workspaces).
#[tokio::test(flavor = "multi_thread")]
async fn two_provisions_started_together_create_one_smart_process_and_one_workspace() {
    let sandbox = Sandbox::start(config(FaultConfig::default())).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = projects(dir.path(), &["High", "Low"]);
    let a = b24(dir.path(), args(&mapping, &sandbox.webhook_url()));
    let b = b24(dir.path(), args(&mapping, &sandbox.webhook_url()));
    let (a, b) = tokio::join!(a, b);
    assert_eq!(a.status.code(), Some(0), "{}", shown(&a));
    assert_eq!(b.status.code(), Some(0), "{}", shown(&b));
    let (spa, ws, type_ids, fields, items) = holdings(&sandbox).await;
    assert_eq!((spa, ws, fields), (1, 1, 1), "{}\n{}", shown(&a), shown(&b));
    assert_eq!(type_ids, json!([1]));
    assert_eq!(values(&items), ["High", "Low"]);
    sandbox.stop().await;
}

// Bug: with two smart processes of one title, provision, validate and run silently took the one
// with the lowest ID.
#[tokio::test(flavor = "multi_thread")]
async fn a_title_naming_two_smart_processes_stops_provision_validate_and_run_with_exit_2() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    for _ in 0..2 {
        call(&sandbox, "crm.type.add", json!({"fields": {"title": "Projects"}})).await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = projects(dir.path(), &["High"]);
    let webhook = sandbox.webhook_url();
    let before = sandbox.request_counts();
    let out = b24(dir.path(), args(&mapping, &webhook)).await;
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(shown(&out).contains("2 smart processes titled \"Projects\" (ids 1, 2)"), "{}", shown(&out));
    let after = sandbox.request_counts();
    for m in ["crm.type.add", "crm.type.update", "crm.automatedsolution.add", "userfieldconfig.add"] {
        assert_eq!(after.get(m), before.get(m), "{m} was not called: {}", shown(&out));
    }
    let online: Vec<String> =
        ["validate", &s(&mapping), "--online", "--webhook", &webhook].iter().map(|x| x.to_string()).collect();
    let out = b24(dir.path(), online).await;
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(shown(&out).contains("2 smart processes titled \"Projects\""), "{}", shown(&out));
    let run: Vec<String> = ["run", &s(&mapping), "--webhook", &webhook, "--journal", "j.sqlite"]
        .iter()
        .map(|x| x.to_string())
        .collect();
    let out = b24(dir.path(), run).await;
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(shown(&out).contains("2 smart processes titled \"Projects\""), "{}", shown(&out));
    assert_eq!(sandbox.request_counts().get("crm.item.add"), None, "nothing was written");
    sandbox.stop().await;
}

// Bug: provision was never in the fault matrix; an interrupted one must leave nothing twice.
#[tokio::test(flavor = "multi_thread")]
async fn provision_under_dropped_answers_500s_and_503s_then_once_more_leaves_everything_once() {
    let faults = FaultConfig {
        drop_after_commit: 0.08,
        fail_500: 0.05,
        fail_503: 0.05,
        seed: 5,
        ..FaultConfig::default()
    };
    let sandbox = Sandbox::start(config(faults)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = projects(dir.path(), &["High", "Low"]);
    let mut done = false;
    for _ in 0..25 {
        let out = b24(dir.path(), args(&mapping, &sandbox.webhook_url())).await;
        if out.status.code() == Some(0) {
            done = true;
            break;
        }
        assert!(matches!(out.status.code(), Some(1 | 3)), "{}", shown(&out));
    }
    assert!(done, "a provision completed under faults");
    let first = holdings(&sandbox).await;
    assert_eq!((first.0, first.1, first.3), (1, 1, 1), "{first:?}");
    assert_eq!(values(&first.4), ["High", "Low"]);
    // The rows gain a value: added once, the others kept as they were.
    let mapping = projects(dir.path(), &["High", "Low", "Urgent"]);
    let mut done = false;
    for _ in 0..25 {
        let out = b24(dir.path(), args(&mapping, &sandbox.webhook_url())).await;
        if out.status.code() == Some(0) {
            done = true;
            break;
        }
    }
    assert!(done, "the second provision completed under faults");
    let second = holdings(&sandbox).await;
    assert_eq!((second.0, second.1, second.3), (1, 1, 1), "{second:?}");
    assert_eq!(values(&second.4), ["High", "Low", "Urgent"]);
    assert_eq!(second.4[..2], first.4[..], "High and Low keep their IDs and XML_IDs");
    sandbox.stop().await;
}

// Bug: provision was never in the crash matrix; a SIGKILL between its writes must leave
// nothing twice and the next provision must finish the job.
#[tokio::test(flavor = "multi_thread")]
async fn provision_killed_at_counted_requests_then_once_more_leaves_everything_once() {
    let sandbox = Sandbox::start(config(FaultConfig::default())).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = projects(dir.path(), &["High", "Low"]);
    let args_now = args(&mapping, &sandbox.webhook_url());
    for requests in [2u64, 3, 4, 5] {
        let mut child = spawn(dir.path(), &args_now);
        let target = sandbox.snapshot().requests.total + requests;
        if until_served(&sandbox, target, &mut child).await {
            child.kill().expect("SIGKILL");
        }
        let _ = child.wait();
    }
    let out = b24(dir.path(), args_now).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let first = holdings(&sandbox).await;
    assert_eq!((first.0, first.1, first.3), (1, 1, 1), "{first:?}");
    assert_eq!(values(&first.4), ["High", "Low"]);
    let mapping = projects(dir.path(), &["High", "Low", "Urgent"]);
    let args_now = args(&mapping, &sandbox.webhook_url());
    for requests in [2u64, 3] {
        let mut child = spawn(dir.path(), &args_now);
        let target = sandbox.snapshot().requests.total + requests;
        if until_served(&sandbox, target, &mut child).await {
            child.kill().expect("SIGKILL");
        }
        let _ = child.wait();
    }
    let out = b24(dir.path(), args_now).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let second = holdings(&sandbox).await;
    assert_eq!((second.0, second.1, second.3), (1, 1, 1), "{second:?}");
    assert_eq!(values(&second.4), ["High", "Low", "Urgent"]);
    assert_eq!(second.4[..2], first.4[..], "High and Low keep their IDs and XML_IDs");
    sandbox.stop().await;
}
