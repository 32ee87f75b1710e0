//! The sandbox's time model over HTTP: network latency (fixed or drawn per request), the
//! processing cost of every command of a batch slept before the answer, concurrent requests
//! overlapping, and the operating time accounted per method in a scaled window and reported in
//! `time`. Latencies and costs are small (100-500 ms) and the bounds generous: two cores run
//! these tests beside others.

use crate::sandbox_common;

use std::time::{Duration, Instant};

use b24_sandbox::{Clock, FaultConfig, Latency, OperatingConfig, SandboxConfig, TimeModel};
use sandbox_common::{Portal, add_cmd};
use serde_json::{Value, json};

/// A portal with no rate limit to speak of, `latency`, and `cost` seconds per `crm.item.add`
/// slept in real time.
fn timed(latency: Latency, add_cost: f64) -> SandboxConfig {
    SandboxConfig {
        rate: 1000.0,
        burst: 1000.0,
        latency,
        time_scale: 1.0,
        operating: OperatingConfig {
            default_cost_secs: 0.0,
            cost_secs: [("crm.item.add".to_string(), add_cost)].into(),
            ..OperatingConfig::default()
        },
        ..SandboxConfig::fast()
    }
}

fn adds(n: usize) -> Value {
    let cmd: serde_json::Map<String, Value> = (0..n)
        .map(|i| (format!("a{i}"), Value::String(add_cmd(3, json!({"title": format!("t{i}")})))))
        .collect();
    Value::Object(cmd)
}

async fn timed_call(p: &Portal, method: &str, body: Value) -> (u16, Value, Duration) {
    let started = Instant::now();
    let (status, v) = p.call(method, body).await;
    (status, v, started.elapsed())
}

#[tokio::test]
async fn a_fixed_latency_delays_every_answer_refusals_included_and_stays_out_of_time() {
    let p = Portal::start(timed(Latency::fixed(300), 0.0)).await;
    let (status, v, took) = timed_call(&p, "profile", json!({})).await;
    assert_eq!(status, 200);
    assert!(took >= Duration::from_millis(300), "answered after {took:?}, before the latency");
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    let duration = v["time"]["duration"].as_f64().expect("time.duration");
    assert!(duration < 0.3, "the portal's own time does not include the network: {duration}");
    let url = format!("{}/rest/1/wrong-code/profile", p.handle.base_url());
    let started = Instant::now();
    let resp = p.client.post(url).send().await.expect("an answer");
    assert_eq!(resp.status().as_u16(), 401);
    assert!(started.elapsed() >= Duration::from_millis(300), "a refusal crosses the same network");
}

#[tokio::test]
async fn a_latency_range_is_drawn_per_request_within_the_range() {
    let p = Portal::start(timed(Latency::range(100, 200), 0.0)).await;
    let mut took = Vec::new();
    for _ in 0..8 {
        let (status, _, t) = timed_call(&p, "profile", json!({})).await;
        assert_eq!(status, 200);
        took.push(t);
    }
    assert!(took.iter().all(|t| *t >= Duration::from_millis(100)), "{took:?}");
    assert!(took.iter().all(|t| *t < Duration::from_millis(1500)), "{took:?}");
    let (min, max) = (took.iter().min().expect("8"), took.iter().max().expect("8"));
    assert!(*max - *min >= Duration::from_millis(10), "eight draws of 100-200 ms all alike: {took:?}");
}

#[tokio::test]
async fn latency_does_not_change_which_requests_the_faults_hit() {
    let faults = FaultConfig { seed: 42, fail_500: 0.3, fail_503: 0.2, ..FaultConfig::default() };
    let plain =
        Portal::start(SandboxConfig { faults: faults.clone(), ..timed(Latency::default(), 0.0) }).await;
    let slow = Portal::start(SandboxConfig { faults, ..timed(Latency::range(100, 120), 0.0) }).await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        a.push(plain.call("profile", json!({})).await.0);
        b.push(slow.call("profile", json!({})).await.0);
    }
    assert_eq!(a, b);
    assert!(a.contains(&500) && a.contains(&200), "the seed hits some and spares some: {a:?}");
}

#[tokio::test]
async fn the_answer_leaves_after_the_processing_cost_of_every_command_in_the_batch() {
    let p = Portal::start(timed(Latency::fixed(100), 0.1)).await;
    let started = Instant::now();
    let (status, v) = p.batch(false, adds(5)).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert!(
        took >= Duration::from_millis(600),
        "5 x 0.1 s of work + 100 ms latency, answered after {took:?}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}");
    let time = &v["time"];
    assert!((time["processing"].as_f64().expect("processing") - 0.5).abs() < 1e-9, "{time}");
    assert!(time["duration"].as_f64().expect("duration") >= 0.5, "{time}");
    for i in 0..5 {
        let t = &v["result"]["result_time"][format!("a{i}")];
        assert_eq!(t["processing"], 0.1, "each command reports its own processing: {t}");
        let (start, finish) = (t["start"].as_f64().expect("start"), t["finish"].as_f64().expect("finish"));
        assert!((finish - start - 0.1).abs() < 1e-5, "{t}");
    }
}

#[tokio::test]
async fn concurrent_slow_batches_overlap_and_finish_in_about_the_time_of_one() {
    const N: usize = 6;
    let p = Portal::start(timed(Latency::fixed(100), 0.1)).await; // 0.5 s of work + 0.1 s each
    let started = Instant::now();
    let answers = futures_join(&p, N).await;
    let took = started.elapsed();
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    assert!(took >= Duration::from_millis(600), "{took:?}");
    // One after the other they would take N x 0.6 = 3.6 s.
    assert!(took < Duration::from_millis(1800), "{N} concurrent batches took {took:?}: they did not overlap");
    assert_eq!(p.handle.snapshot().items["3"], (N * 5) as u64);
}

#[tokio::test]
async fn a_batch_past_the_request_cap_runs_what_fits_then_answers_504_after_the_cap() {
    let p = Portal::start(SandboxConfig { max_request_secs: 0.35, ..timed(Latency::default(), 0.1) }).await;
    let started = Instant::now();
    let (status, v) = p.batch(false, adds(5)).await;
    let took = started.elapsed();
    assert_eq!(status, 504, "{v}");
    assert!(v.as_str().is_some_and(|html| html.contains("504 Gateway Time-out")), "{v}");
    assert!(took >= Duration::from_millis(350), "cut off at the cap, answered after {took:?}");
    let s = p.handle.snapshot();
    assert_eq!(s.items["3"], 3, "the three commands that fit in 0.35 s ran and stay done");
    assert_eq!(s.refusals["REQUEST_TIME_LIMIT"], 1);
    let (status, _) = p.batch(false, adds(3)).await;
    assert_eq!(status, 200, "a batch that fits is answered");
}

/// Sends `n` batches of five adds at once; their statuses.
async fn futures_join(p: &Portal, n: usize) -> Vec<u16> {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..n {
        let url = format!("{}batch", p.handle.webhook_url());
        let client = p.client.clone();
        set.spawn(async move {
            let body = json!({"halt": 0, "cmd": adds(5)});
            client.post(url).json(&body).send().await.expect("an answer").status().as_u16()
        });
    }
    let mut out = Vec::new();
    while let Some(s) = set.join_next().await {
        out.push(s.expect("the task ends"));
    }
    out
}

/// A portal on a manual clock: 30 s window of 3 s buckets, a 1 s budget, 0.4 s per add, nothing
/// slept.
fn scaled_window(clock: &Clock) -> SandboxConfig {
    SandboxConfig {
        rate: 1000.0,
        burst: 1000.0,
        clock: clock.clone(),
        time_scale: 0.0,
        operating: OperatingConfig {
            budget_secs: 1.0,
            window: Duration::from_secs(30),
            buckets: 10,
            default_cost_secs: 0.001,
            cost_secs: [("crm.item.add".to_string(), 0.4)].into(),
        },
        ..SandboxConfig::fast()
    }
}

#[tokio::test]
async fn operating_time_is_accounted_per_method_in_a_scaled_window_and_reported_in_time() {
    let clock = Clock::manual();
    // Each command's figure in `result_time` (not the documented shape: `sandbox_limits.rs`).
    let model = TimeModel { result_time_operating: true, ..TimeModel::default() };
    let p = Portal::start(SandboxConfig { time_model: model, ..scaled_window(&clock) }).await;
    let start = clock.unix_now();
    let (status, v) = p.batch(false, adds(4)).await;
    assert_eq!(status, 200);
    let rt = &v["result"]["result_time"];
    let ops: Vec<f64> =
        (0..3).map(|i| rt[format!("a{i}")]["operating"].as_f64().expect("operating")).collect();
    assert!(
        (ops[0] - 0.4).abs() < 1e-9 && (ops[1] - 0.8).abs() < 1e-9 && (ops[2] - 1.2).abs() < 1e-9,
        "{ops:?}"
    );
    assert_eq!(rt["a0"]["operating_reset_at"], (start + 30.0).floor() as i64);
    assert_eq!(
        v["result"]["result_error"]["a3"]["error"], "OPERATION_TIME_LIMIT",
        "the command after the one that crossed 1 s is refused"
    );
    assert_eq!(v["time"].get("operating"), None, "the outer batch is not billed: {}", v["time"]);
    let list = p.ok("crm.item.list", json!({"entityTypeId": 3})).await;
    assert!(
        list["time"]["operating"].as_f64().expect("list operating") < 0.01,
        "another method, another budget"
    );
    let billed = p.handle.snapshot().operating;
    assert!((billed["crm.item.add"] - 1.2).abs() < 1e-9, "{billed:?}");
    assert!(!billed.contains_key("batch"), "the outer batch is not billed per the docs: {billed:?}");
}

#[tokio::test]
async fn a_429_parks_only_that_method_until_the_reset_however_often_it_is_called() {
    let clock = Clock::manual();
    let p = Portal::start(scaled_window(&clock)).await;
    let add = json!({"entityTypeId": 3, "fields": {}});
    p.ok("crm.item.add", add.clone()).await; // 0.4 at t = 0
    clock.advance(Duration::from_secs(4)); // a new 3 s bucket
    p.ok("crm.item.add", add.clone()).await; // 0.8
    let v = p.ok("crm.item.add", add.clone()).await; // 1.2: crosses, completes
    let reset_at = v["time"]["operating_reset_at"].as_i64().expect("reset");
    for _ in 0..25 {
        // Refused calls are not billed: calling on never pushes the reset back.
        assert_eq!(p.err("crm.item.add", add.clone()).await, (429, "OPERATION_TIME_LIMIT".into()));
        p.ok("crm.item.list", json!({"entityTypeId": 3})).await; // other methods keep working
        clock.advance(Duration::from_secs(1));
    }
    clock.advance(Duration::from_millis(999)); // t = 29.999 s, just before the first bucket expires
    assert_eq!(p.err("crm.item.add", add.clone()).await.0, 429);
    clock.advance(Duration::from_millis(1)); // t = 30 s: its 0.4 s leave the sum, 0.8 s remain
    let v = p.ok("crm.item.add", add).await;
    assert!((v["time"]["operating"].as_f64().expect("operating") - 1.2).abs() < 1e-9, "{}", v["time"]);
    assert!(reset_at <= clock.unix_now().ceil() as i64, "the 429 lasted until the reported reset");
    assert_eq!(p.handle.snapshot().refusals["OPERATION_TIME_LIMIT"], 26);
}
