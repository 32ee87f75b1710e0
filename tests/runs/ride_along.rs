//! Reads that ride in the first write batch (issue 23): a step's field check and the portal's
//! workflow list cost no request of their own when a batch leaves soon, and still happen (their
//! notes are in the summary) — and go alone when no batch comes (a dry run).

use crate::common;

use b24import::sandbox::{HistoryConfig, Sandbox, SandboxConfig, WorkflowTemplate};
use b24import::transport::Rate;

#[tokio::test(flavor = "multi_thread")]
async fn a_run_of_one_batch_makes_one_request_and_still_reports_its_field_check_and_workflows() {
    let history = HistoryConfig {
        workflows: vec![WorkflowTemplate::on_create(4, "CONTACT")],
        ..HistoryConfig::default()
    };
    let rate = Rate { per_second: 50.0, burst: 50 };
    let sandbox =
        Sandbox::start(SandboxConfig { history, ..common::sandbox_config(rate) }).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let mut csv = String::from("Code,Name\n");
    for i in 0..10 {
        csv.push_str(&format!("C{i},Name {i}\n"));
    }
    std::fs::write(dir.path().join("c.csv"), csv).expect("csv");
    let m = dir.path().join("c.toml");
    std::fs::write(
        &m,
        "name = \"c\"\n[source]\npath = \"c.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n[fields]\n\
         name = \"Name\"\nnickname = \"Name\"\n",
    )
    .expect("mapping");
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = vec!["run".into(), m.display().to_string()];
        a.extend(["--journal".into(), dir.path().join("j.sqlite").display().to_string()]);
        a.extend(["--webhook".into(), sandbox.webhook_url()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |a: Vec<String>| async move {
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_b24import")).args(&a).output().expect("binary")
        })
        .await
        .expect("join");
        (
            out.status.code(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (code, out) = run(args(&[])).await;
    assert_eq!(code, Some(0), "{out}");
    let state = sandbox.snapshot();
    assert_eq!(state.requests.total, 1, "the reads rode in the batch: {:?}", state.requests);
    assert_eq!(state.requests.by_method.get("crm.item.fields"), Some(&1), "{:?}", state.requests);
    assert!(out.contains("`nickname` is not a field of contact"), "the field check's note: {out}");
    assert!(out.contains("Welcome sequence 4"), "the workflow note: {out}");
    // A dry run sends no batch: the reads go alone, after their wait.
    let before = sandbox.snapshot().requests.total;
    let (code, out) = run(args(&["--dry-run"])).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("`nickname` is not a field of contact"), "{out}");
    assert!(sandbox.snapshot().requests.total - before >= 1);
    sandbox.stop().await;
}
