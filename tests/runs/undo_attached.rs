//! `undo` of attached records (issues 19 and 21): the comments and activities a history job
//! created are deleted before their parents, a second undo sends nothing, and a later run
//! creates everything again.

use crate::cli_support::finish;
use crate::common;

use b24import::sandbox::Sandbox;
use b24import::transport::Rate;

#[tokio::test(flavor = "multi_thread")]
async fn undo_deletes_a_history_jobs_comments_and_activities_then_its_items_and_a_run_creates_them_again() {
    let sandbox = Sandbox::start(common::sandbox_config(Rate { per_second: 400.0, burst: 100 }))
        .await
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let n = 10;
    let mappings = crate::history_attached::job(dir.path(), n);
    let with = |cmd: &str| {
        let mut a: Vec<String> = vec![cmd.into()];
        a.extend(mappings.iter().map(|m| m.display().to_string()));
        a.extend(["--journal".into(), dir.path().join("j.sqlite").display().to_string()]);
        a.extend(["--webhook".into(), sandbox.webhook_url()]);
        a
    };
    let (code, out) = finish(&with("run")).await;
    assert_eq!(code, Some(0), "{out}");
    let h = sandbox.snapshot().history;
    assert_eq!((h.comments, h.activities), (2 * n as u64, 3 * n as u64));
    let (code, out) = finish(&with("undo")).await;
    assert_eq!(code, Some(0), "{out}");
    let state = sandbox.snapshot();
    assert_eq!((state.history.comments, state.history.activities), (0, 0), "{out}");
    assert_eq!(state.items.get("2").copied().unwrap_or(0), 0, "deals deleted: {out}");
    assert_eq!(state.items.get("3").copied().unwrap_or(0), 0, "contacts deleted: {out}");
    let deletes = |s: &b24import::sandbox::StateSnapshot| {
        ["crm.timeline.comment.delete", "crm.activity.delete"]
            .iter()
            .map(|m| s.requests.by_method.get(*m).copied().unwrap_or(0))
            .sum::<u64>()
    };
    assert_eq!(
        deletes(&state),
        5 * n as u64,
        "each comment and activity deleted once: {:?}",
        state.requests.by_method
    );
    // A second undo sends nothing.
    let before = sandbox.snapshot().requests.total;
    let (code, out) = finish(&with("undo")).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(sandbox.snapshot().requests.total, before, "{out}");
    // A later run creates them again.
    let (code, out) = finish(&with("run")).await;
    assert_eq!(code, Some(0), "{out}");
    let h = sandbox.snapshot().history;
    assert_eq!((h.comments, h.activities), (2 * n as u64, 3 * n as u64), "{out}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn undo_deletes_requisites_with_their_bank_details_and_addresses_and_exits_0() {
    let sandbox = Sandbox::start(common::sandbox_config(Rate { per_second: 400.0, burst: 100 }))
        .await
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let n = 6;
    let mappings = crate::record_requisites::job(dir.path(), n);
    let with = |cmd: &str, extra: &[&str]| {
        let mut a: Vec<String> = vec![cmd.into()];
        a.extend(mappings.iter().map(|m| m.display().to_string()));
        a.extend(["--journal".into(), dir.path().join("j.sqlite").display().to_string()]);
        a.extend(["--webhook".into(), sandbox.webhook_url()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let (code, out) = finish(&with("run", &[])).await;
    assert_eq!(code, Some(0), "{out}");
    let count = |method: &'static str| {
        let sandbox = &sandbox;
        async move {
            let v = common::call(sandbox, method, serde_json::json!({})).await;
            v.as_array().map_or(0, Vec::len)
        }
    };
    assert!(count("crm.requisite.list").await > 0);
    // The addresses alone cannot go (they go with their requisites): not undone, exit 1.
    let (code, out) = finish(&with("undo", &["--step", "addresses"])).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(count("crm.address.list").await > 0);
    let (code, out) = finish(&with("undo", &[])).await;
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(count("crm.requisite.list").await, 0, "{out}");
    assert_eq!(count("crm.requisite.bankdetail.list").await, 0, "{out}");
    assert_eq!(count("crm.address.list").await, 0, "{out}");
    assert_eq!(common::sandbox_items(&sandbox, 4).await.len(), 0, "companies deleted: {out}");
    sandbox.stop().await;
}
