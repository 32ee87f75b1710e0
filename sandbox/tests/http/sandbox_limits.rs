//! The leaky bucket (one per portal and source address) and the operating-time budget over
//! HTTP, with the clock controlled; the time model's floor and the shape of the figures.

use crate::sandbox_common;

use std::time::Duration;

use b24_sandbox::{BatchBilling, Clock, OperatingConfig, SandboxConfig, TimeModel};
use sandbox_common::{Portal, add_cmd};
use serde_json::{Value, json};

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
    assert_eq!(p.handle.snapshot().items["3"], 3);
    assert_eq!(p.handle.snapshot().operating["crm.item.add"], 3.0);
}

#[tokio::test]
async fn billed_to_batch_the_whole_batch_is_blocked_with_429() {
    let clock = Clock::manual();
    let p = Portal::start(costly(&clock, BatchBilling::ToBatch)).await;
    let cmd = json!({"a": add_cmd(3, json!({"name": "A"})), "b": add_cmd(3, json!({"name": "A"})), "c": add_cmd(3, json!({"name": "A"}))});
    let (status, v) = p.batch(false, cmd.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(v["time"]["operating"], 3.0, "the outer time carries `batch`'s figure");
    assert!(v["time"]["operating_reset_at"].is_i64(), "{}", v["time"]);
    assert_eq!(v["result"]["result_time"]["a"].get("operating"), None, "the documented shape");
    let (status, v) = p.batch(false, cmd).await;
    assert_eq!((status, v["error"].as_str()), (429, Some("OPERATION_TIME_LIMIT")));
    p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {}})).await; // only `batch` is blocked
}

/// `profile` over the OAuth application's endpoint.
async fn oauth_profile(p: &Portal) -> u16 {
    let url = format!("{}profile", p.handle.client_endpoint());
    let token = p.handle.config().oauth.access_token.clone();
    p.client.post(url).json(&json!({"auth": token})).send().await.expect("an answer").status().as_u16()
}

#[tokio::test]
async fn the_webhook_and_the_oauth_app_share_one_bucket_per_source_address() {
    // limits.md: "If several applications on a single server work with the same Bitrix24, they
    // share a common request rate limit." (Each credential had its own bucket before.)
    let p = Portal::start(SandboxConfig { rate: 0.001, burst: 3.0, ..SandboxConfig::fast() }).await;
    p.ok("profile", json!({})).await;
    assert_eq!(oauth_profile(&p).await, 200);
    p.ok("profile", json!({})).await;
    let (status, v) = p.call("profile", json!({})).await;
    assert_eq!(status, 503);
    assert_eq!(v, json!({"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}));
    assert_eq!(oauth_profile(&p).await, 503, "the application is refused by the same bucket");
    assert_eq!(p.handle.snapshot().refusals["QUERY_LIMIT_EXCEEDED"], 2);
}

#[tokio::test]
async fn another_source_address_has_a_bucket_of_its_own() {
    // The bucket is per portal and source address: a second server (here 127.0.0.2, also the
    // loopback) calling the same portal is not refused for the first one's requests.
    let p = Portal::start(SandboxConfig { rate: 0.001, burst: 2.0, ..SandboxConfig::fast() }).await;
    p.ok("profile", json!({})).await;
    p.ok("profile", json!({})).await;
    assert_eq!(p.call("profile", json!({})).await.0, 503);
    let other = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("a client on 127.0.0.2");
    let url = format!("{}profile", p.handle.webhook_url());
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(other.post(&url).json(&json!({})).send().await.expect("an answer")), 200);
    assert_eq!(status(other.post(&url).json(&json!({})).send().await.expect("an answer")), 200);
    assert_eq!(status(other.post(&url).json(&json!({})).send().await.expect("an answer")), 503);
}

/// The keys of a `time` object.
fn keys(time: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = time.as_object().expect("a time object").keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

const TIME_KEYS: [&str; 6] = ["date_finish", "date_start", "duration", "finish", "processing", "start"];

#[tokio::test]
async fn the_batch_answer_has_the_documented_time_shape_without_operating() {
    // settings/how-to-call-rest-api/batch.md, "Response Handling": neither the `result_time`
    // entries nor the outer `time` carry `operating`; limits.md: "An external call to `batch`
    // is not accounted for in `operating`" (billed per inner method, the default).
    let p = Portal::start(costly(&Clock::manual(), BatchBilling::PerInnerMethod)).await;
    let (status, v) = p.batch(false, json!({"a": add_cmd(3, json!({"name": "x"})), "p": "profile"})).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&v["result"]["result_time"]["a"]), TIME_KEYS);
    assert_eq!(keys(&v["result"]["result_time"]["p"]), TIME_KEYS);
    assert_eq!(keys(&v["time"]), TIME_KEYS);
    assert_eq!(v["result"]["result_time"]["a"]["processing"], 1.0);
    // A direct call carries its method's figures, as every method page shows.
    let v = p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {}})).await;
    assert_eq!(v["time"]["operating"], 2.0);
    assert!(v["time"]["operating_reset_at"].is_i64());
}

#[tokio::test]
async fn result_time_operating_adds_each_command_s_method_figure_or_the_batch_wide_one() {
    let model = TimeModel { result_time_operating: true, ..TimeModel::default() };
    let clock = Clock::manual();
    let p =
        Portal::start(SandboxConfig { time_model: model, ..costly(&clock, BatchBilling::PerInnerMethod) })
            .await;
    let (_, v) =
        p.batch(false, json!({"a": add_cmd(3, json!({"name": "x"})), "b": add_cmd(3, json!({"name": "x"})), "p": "profile"})).await;
    let rt = &v["result"]["result_time"];
    assert_eq!((rt["a"]["operating"].as_f64(), rt["b"]["operating"].as_f64()), (Some(1.0), Some(2.0)));
    assert_eq!(rt["p"]["operating"], 0.001, "profile's own window");
    assert!(rt["a"]["operating_reset_at"].is_i64());
    assert_eq!(v["time"].get("operating"), None, "the outer batch is still not billed");
    let p = Portal::start(SandboxConfig { time_model: model, ..costly(&clock, BatchBilling::ToBatch) }).await;
    let one = json!({"name": "x"});
    let (_, v) = p.batch(false, json!({"a": add_cmd(3, one.clone()), "b": add_cmd(3, one)})).await;
    let rt = &v["result"]["result_time"];
    assert_eq!((rt["a"]["operating"].as_f64(), rt["b"]["operating"].as_f64()), (Some(2.0), Some(2.0)));
    assert_eq!(v["time"]["operating"], 2.0);
}

/// Adds cost 0.05 s, lists 0.2 s, a budget of 0.22 s; `floor` as given.
fn floored(clock: &Clock, billing: BatchBilling, floor: f64) -> SandboxConfig {
    SandboxConfig {
        rate: 1000.0,
        burst: 1000.0,
        clock: clock.clone(),
        batch_billing: billing,
        time_model: TimeModel { operating_floor_secs: floor, ..TimeModel::default() },
        operating: OperatingConfig {
            budget_secs: 0.22,
            default_cost_secs: 0.001,
            cost_secs: [("crm.item.add".to_string(), 0.05), ("crm.item.list".to_string(), 0.2)].into(),
            ..OperatingConfig::default()
        },
        ..SandboxConfig::fast()
    }
}

#[tokio::test]
async fn without_a_floor_every_call_is_billed() {
    let p = Portal::start(floored(&Clock::manual(), BatchBilling::PerInnerMethod, 0.0)).await;
    let add = json!({"entityTypeId": 3, "fields": {}});
    for n in 1..=5 {
        let v = p.ok("crm.item.add", add.clone()).await;
        assert!((v["time"]["operating"].as_f64().expect("operating") - 0.05 * f64::from(n)).abs() < 1e-9);
    }
    assert_eq!(p.err("crm.item.add", add).await, (429, "OPERATION_TIME_LIMIT".into()));
}

#[tokio::test]
async fn under_the_floor_a_call_is_not_billed_and_shows_zero() {
    let clock = Clock::manual();
    let p = Portal::start(floored(&clock, BatchBilling::PerInnerMethod, 0.1)).await;
    let start = clock.unix_now();
    let add = json!({"entityTypeId": 3, "fields": {}});
    for _ in 0..10 {
        let v = p.ok("crm.item.add", add.clone()).await;
        assert_eq!(v["time"]["operating"], 0.0, "{}", v["time"]);
        assert_eq!(v["time"]["processing"], 0.05);
        assert_eq!(v["time"]["operating_reset_at"], (start + 600.0).floor() as i64);
    }
    let one = json!({"name": "x"});
    let (_, v) = p.batch(false, json!({"a": add_cmd(3, one.clone()), "b": add_cmd(3, one)})).await;
    assert_eq!(
        v["result"]["result_error"],
        json!([]),
        "inner commands under the floor are not billed either"
    );
    // A call at or above the floor is billed in full; the method is blocked as usual.
    let list = json!({"entityTypeId": 3, "select": ["id"]});
    assert_eq!(p.ok("crm.item.list", list.clone()).await["time"]["operating"], 0.2);
    assert_eq!(p.ok("crm.item.list", list.clone()).await["time"]["operating"], 0.4);
    assert_eq!(p.err("crm.item.list", list).await, (429, "OPERATION_TIME_LIMIT".into()));
    let billed = p.handle.snapshot().operating;
    assert_eq!(billed.get("crm.item.add"), None, "{billed:?}");
    assert!((billed["crm.item.list"] - 0.4).abs() < 1e-9, "{billed:?}");
}

#[tokio::test]
async fn billed_to_batch_the_floor_applies_to_the_whole_batch() {
    let p = Portal::start(floored(&Clock::manual(), BatchBilling::ToBatch, 0.1)).await;
    let (_, v) = p.batch(false, json!({"a": add_cmd(3, json!({"name": "x"}))})).await;
    assert_eq!(v["time"]["operating"], 0.0, "0.05 s of batch: under the floor");
    let three = json!({"a": add_cmd(3, json!({"name": "x"})), "b": add_cmd(3, json!({"name": "x"})), "c": add_cmd(3, json!({"name": "x"}))});
    let (_, v) = p.batch(false, three.clone()).await;
    assert!((v["time"]["operating"].as_f64().expect("operating") - 0.15).abs() < 1e-9, "{}", v["time"]);
    let (_, v) = p.batch(false, three.clone()).await;
    assert!((v["time"]["operating"].as_f64().expect("operating") - 0.3).abs() < 1e-9, "{}", v["time"]);
    assert_eq!(p.batch(false, three).await.0, 429);
}
