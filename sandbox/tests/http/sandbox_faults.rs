//! Fault injection over HTTP: each fault does (or does not do) the work as documented, and a
//! seed makes a run reproducible.

use crate::sandbox_common;

use std::time::{Duration, Instant};

use b24_sandbox::{FaultConfig, SandboxConfig};
use sandbox_common::Portal;
use serde_json::json;

fn with_faults(faults: FaultConfig) -> SandboxConfig {
    SandboxConfig { rate: 1000.0, burst: 1000.0, faults, ..SandboxConfig::fast() }
}

#[tokio::test]
async fn fail_500_answers_internal_server_error_without_doing_the_work() {
    let p = Portal::start(with_faults(FaultConfig { fail_500: 1.0, ..FaultConfig::default() })).await;
    let (status, v) = p.call("crm.item.add", json!({"entityTypeId": 3, "fields": {}})).await;
    assert_eq!((status, v["error"].as_str()), (500, Some("INTERNAL_SERVER_ERROR")));
    let s = p.handle.snapshot();
    assert_eq!(s.items["3"], 0);
    assert_eq!(s.faults["fail_500"], 1);
}

#[tokio::test]
async fn faults_are_reproducible_with_the_same_seed() {
    let faults = FaultConfig { seed: 42, fail_500: 0.3, fail_503: 0.2, ..FaultConfig::default() };
    let mut runs = Vec::new();
    for _ in 0..2 {
        let p = Portal::start(with_faults(faults.clone())).await;
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(p.call("profile", json!({})).await.0);
        }
        runs.push(statuses);
    }
    assert_eq!(runs[0], runs[1]);
    assert!(runs[0].contains(&500) && runs[0].contains(&503) && runs[0].contains(&200), "{:?}", runs[0]);
    let p = Portal::start(with_faults(FaultConfig { seed: 43, ..faults })).await;
    let mut other = Vec::new();
    for _ in 0..40 {
        other.push(p.call("profile", json!({})).await.0);
    }
    assert_ne!(other, runs[0]);
}

#[tokio::test]
async fn drop_after_commit_does_the_work_and_closes_the_connection_without_an_answer() {
    let p =
        Portal::start(with_faults(FaultConfig { drop_after_commit: 1.0, ..FaultConfig::default() })).await;
    let url = format!("{}crm.item.add", p.handle.webhook_url());
    let res = p.client.post(url).json(&json!({"entityTypeId": 3, "fields": {"name": "A"}})).send().await;
    assert!(res.is_err(), "no HTTP answer expected, got {res:?}");
    let s = p.handle.snapshot();
    assert_eq!(s.items["3"], 1, "the work was committed");
    assert_eq!(s.faults["drop_after_commit"], 1);
}

#[tokio::test]
async fn timeout_after_ms_does_the_work_and_the_answer_never_comes() {
    let p =
        Portal::start(with_faults(FaultConfig { timeout_after_ms: Some(60_000), ..FaultConfig::default() }))
            .await;
    let url = format!("{}crm.item.add", p.handle.webhook_url());
    let res = p
        .client
        .post(url)
        .timeout(Duration::from_millis(300))
        .json(&json!({"entityTypeId": 3, "fields": {}}))
        .send()
        .await;
    assert!(res.expect_err("held").is_timeout());
    assert_eq!(p.handle.snapshot().items["3"], 1);
}

#[tokio::test]
async fn slow_ms_delays_every_answer() {
    let p = Portal::start(with_faults(FaultConfig { slow_ms: 200, ..FaultConfig::default() })).await;
    let t = Instant::now();
    p.ok("profile", json!({})).await;
    assert!(t.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn html_error_answers_an_html_page_instead_of_json() {
    let p = Portal::start(with_faults(FaultConfig { html_error: 1.0, ..FaultConfig::default() })).await;
    let url = format!("{}profile", p.handle.webhook_url());
    let resp = p.client.post(url).send().await.expect("answer");
    assert_eq!(resp.status().as_u16(), 502);
    assert!(resp.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));
    assert!(resp.text().await.expect("body").contains("<html>"));
}

#[tokio::test]
async fn overload_answers_overload_limit_503_on_every_call() {
    let p = Portal::start(with_faults(FaultConfig { overload: true, ..FaultConfig::default() })).await;
    for _ in 0..3 {
        assert_eq!(p.err("profile", json!({})).await, (503, "OVERLOAD_LIMIT".into()));
    }
}

#[tokio::test]
async fn fail_503_answers_a_spurious_query_limit_exceeded_without_doing_the_work() {
    let p = Portal::start(with_faults(FaultConfig { fail_503: 1.0, ..FaultConfig::default() })).await;
    assert_eq!(p.err("crm.item.add", json!({"entityTypeId": 3})).await, (503, "QUERY_LIMIT_EXCEEDED".into()));
    assert_eq!(p.handle.snapshot().items["3"], 0);
}
