//! The leaky bucket and the operating-time budget over HTTP, with the clock controlled.

use crate::sandbox_common;

use std::time::Duration;

use b24_sandbox::{BatchBilling, Clock, OperatingConfig, SandboxConfig};
use sandbox_common::{Portal, add_cmd};
use serde_json::json;

fn costly(clock: &Clock, billing: BatchBilling) -> SandboxConfig {
    SandboxConfig {
        rate: 1000.0,
        burst: 1000.0,
        clock: clock.clone(),
        batch_billing: billing,
        operating: OperatingConfig {
            budget_secs: 2.5,
            default_cost_secs: 0.001,
            cost_secs: [("crm.item.add".to_string(), 1.0)].into(),
            ..OperatingConfig::default()
        },
        ..SandboxConfig::fast()
    }
}

#[tokio::test]
async fn a_burst_of_b_passes_then_query_limit_exceeded_503_until_the_bucket_drains() {
    let clock = Clock::manual();
    let p = Portal::start(SandboxConfig { clock: clock.clone(), ..SandboxConfig::fast() }).await; // R=20, B=10
    for _ in 0..10 {
        p.ok("profile", json!({})).await;
    }
    let (status, v) = p.call("profile", json!({})).await;
    assert_eq!(status, 503);
    assert_eq!(v, json!({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}));
    clock.advance(Duration::from_millis(49));
    assert_eq!(p.call("profile", json!({})).await.0, 503);
    clock.advance(Duration::from_millis(1)); // 50 ms at 20/s drains exactly one request
    assert_eq!(p.call("profile", json!({})).await.0, 200);
    assert_eq!(p.call("profile", json!({})).await.0, 503);
    clock.advance(Duration::from_millis(500));
    for _ in 0..10 {
        assert_eq!(p.call("profile", json!({})).await.0, 200);
    }
    assert_eq!(p.call("profile", json!({})).await.0, 503);
    let s = p.handle.snapshot();
    assert_eq!(s.refusals["QUERY_LIMIT_EXCEEDED"], 4);
    assert_eq!(s.requests.by_method["profile"], 21, "refused requests never reach the method");
}

#[tokio::test]
async fn a_refused_request_does_nothing() {
    let clock = Clock::manual();
    let p = Portal::start(SandboxConfig { clock: clock.clone(), burst: 1.0, ..SandboxConfig::fast() }).await;
    p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {}})).await;
    assert_eq!(
        p.err("crm.item.add", json!({"entityTypeId": 3, "fields": {}})).await,
        (503, "QUERY_LIMIT_EXCEEDED".into())
    );
    assert_eq!(p.handle.snapshot().items["3"], 1);
}

#[tokio::test]
async fn the_standard_and_enterprise_presets_match_the_docs() {
    let s = SandboxConfig::standard();
    let e = SandboxConfig::enterprise();
    assert_eq!((s.rate, s.burst, e.rate, e.burst), (2.0, 50.0, 5.0, 250.0));
    assert_eq!(
        (s.operating.budget_secs, s.operating.window, s.operating.buckets),
        (480.0, Duration::from_secs(600), 10)
    );
}

#[tokio::test]
async fn the_operating_budget_blocks_only_that_method_with_429_until_its_oldest_bucket_expires() {
    let clock = Clock::manual();
    let p = Portal::start(costly(&clock, BatchBilling::PerInnerMethod)).await;
    let start = clock.unix_now();
    let add = json!({"entityTypeId": 3, "fields": {}});
    let v = p.ok("crm.item.add", add.clone()).await;
    assert_eq!(v["time"]["operating"], 1.0);
    assert_eq!(v["time"]["operating_reset_at"], (start + 600.0).floor() as i64);
    clock.advance(Duration::from_secs(61));
    assert_eq!(p.ok("crm.item.add", add.clone()).await["time"]["operating"], 2.0);
    p.ok("crm.item.add", add.clone()).await; // 3.0 > 2.5: this one still completes
    let (status, v) = p.call("crm.item.add", add.clone()).await;
    assert_eq!(status, 429);
    assert_eq!(
        v,
        json!({"error": "OPERATION_TIME_LIMIT", "error_description": "Method is blocked due to operation time limit."})
    );
    p.ok("crm.item.list", json!({"entityTypeId": 3})).await; // other methods keep working
    clock.advance(Duration::from_secs(600 - 61 - 1));
    assert_eq!(p.call("crm.item.add", add.clone()).await.0, 429);
    clock.advance(Duration::from_secs(1)); // the first bucket (1 s) expires: 2.0 left
    let v = p.ok("crm.item.add", add).await;
    assert_eq!(v["time"]["operating"], 3.0);
    assert_eq!(p.handle.snapshot().items["3"], 4);
}

#[tokio::test]
async fn billed_per_inner_method_a_blocked_method_fails_inside_result_error() {
    let clock = Clock::manual();
    let p = Portal::start(costly(&clock, BatchBilling::PerInnerMethod)).await;
    let cmd = json!({
        "a": add_cmd(3, json!({"name": "A"})), "b": add_cmd(3, json!({"name": "A"})), "c": add_cmd(3, json!({"name": "A"})),
        "d": add_cmd(3, json!({"name": "A"})), "p": "profile",
    });
    let (status, v) = p.batch(false, cmd).await;
    assert_eq!(status, 200);
    assert_eq!(v["result"]["result_error"]["d"]["error"], "OPERATION_TIME_LIMIT");
    assert!(v["result"]["result"]["p"]["ID"].is_string());
    assert_eq!(v["result"]["result_time"]["c"]["operating"], 3.0);
    assert_eq!(p.handle.snapshot().items["3"], 3);
}

#[tokio::test]
async fn billed_to_batch_the_whole_batch_is_blocked_with_429() {
    let clock = Clock::manual();
    let p = Portal::start(costly(&clock, BatchBilling::ToBatch)).await;
    let cmd = json!({"a": add_cmd(3, json!({"name": "A"})), "b": add_cmd(3, json!({"name": "A"})), "c": add_cmd(3, json!({"name": "A"}))});
    let (status, v) = p.batch(false, cmd.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(v["time"]["operating"], 3.0);
    assert_eq!(
        v["result"]["result_time"]["a"]["operating"], 3.0,
        "every command carries the batch-wide figure"
    );
    let (status, v) = p.batch(false, cmd).await;
    assert_eq!((status, v["error"].as_str()), (429, Some("OPERATION_TIME_LIMIT")));
    p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {}})).await; // only `batch` is blocked
}
