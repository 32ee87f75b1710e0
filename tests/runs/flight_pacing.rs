//! Operating-budget pacing (issue 11): a run paced to its method's budget over the sliding
//! window is never blocked, and a method the portal blocks anyway does not hold up another.

use crate::common;

use std::time::{Duration, Instant};

use b24import::sandbox::{Sandbox, SandboxConfig, SandboxHandle};
use b24import::transport::{
    Credentials, OperatingConfig, Plan, Rate, Transport, TransportConfig, Webhook, configure_in_flight,
};
use serde_json::json;

const RATE: Rate = Rate { per_second: 100.0, burst: 50 };

fn transport(sandbox: &SandboxHandle, operating: OperatingConfig) -> Transport {
    let mut tc = TransportConfig::new(
        Credentials::Webhook(Webhook::parse(&sandbox.webhook_url()).expect("sandbox webhook")),
        Plan::Standard,
    );
    tc.limiter.rate = RATE;
    tc.timeout = Duration::from_secs(5);
    tc.operating = operating;
    configure_in_flight(&mut tc, 4);
    Transport::new(tc).expect("transport")
}

/// A portal whose `crm.item.add` costs `cost` seconds against `budget` per `window`.
fn budget_portal(cost: f64, budget: f64, window: Duration) -> SandboxConfig {
    let mut c = common::sandbox_config(RATE);
    c.operating.budget_secs = budget;
    c.operating.window = window;
    c.operating.buckets = 10;
    c.operating.cost_secs.insert("crm.item.add".into(), cost);
    c
}

fn blocks(sandbox: &SandboxHandle) -> u64 {
    sandbox.snapshot().refusals.get("OPERATION_TIME_LIMIT").copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_paced_to_a_scaled_budget_is_never_blocked() {
    // 0.01 s an add, 0.6 s per 3 s window: 100 rows are 1.0 s of processing, more than one
    // window's budget, so the run must wait for the window to slide; unpaced, four batches in
    // flight of 0.1 s each hit the budget within the first second.
    let window = Duration::from_secs(3);
    let sandbox = Sandbox::start(budget_portal(0.01, 0.6, window)).await.expect("sandbox");
    let t = transport(&sandbox, OperatingConfig::new(Duration::from_millis(600), window));
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = common::name_only_contacts(dir.path(), 0, 100, "paced");
    let journal = dir.path().join("j.sqlite");
    let opts = b24import::pipeline::RunOptions {
        batch_size: 10,
        ..b24import::pipeline::RunOptions::new(vec![mapping], journal, "test")
    };
    let started = Instant::now();
    let report = b24import::pipeline::run(
        &opts,
        &t,
        b24import::pipeline::PlanRate { per_second: RATE.per_second, burst: RATE.burst },
    )
    .await
    .expect("run finishes");
    let took = started.elapsed();
    assert_eq!(blocks(&sandbox), 0, "no OPERATION_TIME_LIMIT in a paced run: {report:?}");
    assert_eq!(report.operating_refusals, 0);
    assert_eq!(sandbox.snapshot().items.get("3").copied(), Some(100));
    assert!(took >= Duration::from_millis(2500), "the budget made the run wait a window: {took:?}");
    // 1.0 s of work is two budgets of 0.6 s: the second one a window (3 s) after the first. The
    // budget binds, not the rate (100/s).
    assert_eq!(report.binding_wall, "operating", "{report:?}");
    assert!((report.operating_ideal_secs - 3.0).abs() < 0.2, "{}", report.operating_ideal_secs);
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_method_the_portal_blocks_does_not_hold_up_another() {
    // One add (0.5 s) spends more than the add budget (0.2 s per 30 s): the next add is
    // answered 429 and parks `crm.item.add` until its reset, about 30 s away.
    let sandbox = Sandbox::start(budget_portal(0.5, 0.2, Duration::from_secs(30))).await.expect("sandbox");
    // The client is told the cloud's budget: the block comes unannounced.
    let t = transport(&sandbox, OperatingConfig::default());
    let add = |title: &str| json!({"entityTypeId": 3, "fields": {"title": title}});
    t.call("crm.item.add", &add("first")).await.expect("the first add runs");
    let parked = {
        let t = t.clone();
        let params = add("second");
        tokio::spawn(async move { t.call("crm.item.add", &params).await })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while blocks(&sandbox) == 0 {
        assert!(Instant::now() < deadline, "the second add was never refused");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let listed = t
        .call("crm.item.list", &json!({"entityTypeId": 3, "select": ["id"], "start": -1}))
        .await
        .expect("another method keeps working");
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "{listed}");
    assert!(!parked.is_finished(), "crm.item.add stays parked until its reset");
    t.shutdown().stop();
    let ended = tokio::time::timeout(Duration::from_secs(5), parked).await.expect("the park ends on stop");
    assert!(ended.expect("task").is_err(), "the parked add was interrupted, not sent");
    assert_eq!(t.stats().operating_refusals, 1);
    sandbox.stop().await;
}
