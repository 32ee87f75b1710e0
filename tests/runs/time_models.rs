//! The importer's operating-budget pacing holds on every way a portal may report and bill
//! operating time (issue 18): the documented batch answer (no `operating` in `result_time`, none
//! in `batch`'s own `time`), `batch` billed as a whole (what the JS SDK team measured), a floor
//! under which calls are not billed, and per-command figures in `result_time`. Each test runs an
//! import whose work is about two budgets of a scaled window, so an unpaced run would be
//! blocked within its first second; paced, it is never blocked and every row lands once.

use crate::common;

use std::time::Duration;

use b24import::sandbox::{BatchBilling, Sandbox, SandboxConfig, SandboxHandle, TimeModel};
use b24import::transport::{
    Credentials, OperatingConfig, Plan, Rate, Transport, TransportConfig, Webhook, configure_in_flight,
};

const RATE: Rate = Rate { per_second: 100.0, burst: 50 };
const WINDOW: Duration = Duration::from_secs(3);
const BUDGET: f64 = 0.6;

/// A portal billing `batch` as `billing`, reporting as `model`, whose `crm.item.add` costs
/// `cost` seconds against 0.6 s per 3 s window.
fn portal(billing: BatchBilling, model: TimeModel, cost: f64) -> SandboxConfig {
    let mut c = common::sandbox_config(RATE);
    c.operating.budget_secs = BUDGET;
    c.operating.window = WINDOW;
    c.operating.buckets = 10;
    c.operating.cost_secs.insert("crm.item.add".into(), cost);
    c.batch_billing = billing;
    c.time_model = model;
    c
}

/// A webhook transport told the portal's budget, four requests in flight.
fn transport(sandbox: &SandboxHandle) -> Transport {
    let mut tc = TransportConfig::new(
        Credentials::Webhook(Webhook::parse(&sandbox.webhook_url()).expect("sandbox webhook")),
        Plan::Standard,
    );
    tc.limiter.rate = RATE;
    tc.timeout = Duration::from_secs(5);
    tc.operating = OperatingConfig::new(Duration::from_secs_f64(BUDGET), WINDOW);
    configure_in_flight(&mut tc, 4);
    Transport::new(tc).expect("transport")
}

/// Imports `rows` contacts in batches of 10 into a portal configured as `config`; asserts that
/// the portal never answered `OPERATION_TIME_LIMIT` and that every row was created once.
async fn import_is_never_blocked(config: SandboxConfig, rows: usize) {
    import_in_batches_is_never_blocked(config, rows, 10).await
}

/// [`import_is_never_blocked`] with batches of up to `batch_size`.
async fn import_in_batches_is_never_blocked(config: SandboxConfig, rows: usize, batch_size: usize) {
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let t = transport(&sandbox);
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = common::name_only_contacts(dir.path(), 0, rows, "models");
    let opts = b24import::pipeline::RunOptions {
        batch_size,
        ..b24import::pipeline::RunOptions::new(vec![mapping], dir.path().join("j.sqlite"), "test")
    };
    let rate = b24import::pipeline::PlanRate { per_second: RATE.per_second, burst: RATE.burst };
    let report = b24import::pipeline::run(&opts, &t, rate).await.expect("run finishes");
    let snapshot = sandbox.snapshot();
    assert_eq!(
        snapshot.refusals.get("OPERATION_TIME_LIMIT"),
        None,
        "a paced run is never blocked: {snapshot:?} {report:?}"
    );
    assert_eq!(report.operating_refusals, 0, "{report:?}");
    assert_eq!(snapshot.items.get("3").copied(), Some(rows as u64), "every row lands");
    assert_eq!(snapshot.duplicates.items, 0, "and only once: {:?}", snapshot.duplicates);
    assert_eq!(
        snapshot.requests.by_method.get("crm.item.add").copied(),
        Some(rows as u64),
        "no add sent twice"
    );
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pacing_holds_on_the_documented_answer_without_operating_figures_in_batches() {
    // Billed per inner method, the batch answer carries no `operating` at all: the importer
    // paces on each command's own `processing` in `result_time`. 100 adds of 0.012 s are 1.2 s,
    // two budgets.
    import_is_never_blocked(portal(BatchBilling::PerInnerMethod, TimeModel::default(), 0.012), 100).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pacing_holds_when_the_whole_batch_is_billed_to_batch() {
    // Billed to `batch`, only the outer `time` carries the figure: the batch's budget binds.
    import_is_never_blocked(portal(BatchBilling::ToBatch, TimeModel::default(), 0.012), 100).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pacing_holds_when_calls_under_a_tenth_of_a_second_show_zero() {
    // The 0.1 s floor, billed to `batch`: a batch of 10 adds (0.12 s) is billed in full, a
    // shorter tail batch not at all; direct calls under the floor show `operating` 0.
    let model = TimeModel { operating_floor_secs: 0.1, ..TimeModel::default() };
    import_is_never_blocked(portal(BatchBilling::ToBatch, model, 0.012), 105).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pacing_holds_under_the_floor_billed_per_inner_method() {
    // The floor billed per inner method: adds of 0.03 s are never billed, the importer (which
    // cannot see the floor: no figure in the answer) paces on their `processing` anyway, so
    // the run is slower than the portal needs, never blocked. 40 adds are 1.2 s of processing.
    let model = TimeModel { operating_floor_secs: 0.1, ..TimeModel::default() };
    import_is_never_blocked(portal(BatchBilling::PerInnerMethod, model, 0.03), 40).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pacing_holds_with_each_command_s_figure_in_result_time() {
    // Per-command `operating` in `result_time`, billed per inner method: the method's window as
    // of each command.
    let model = TimeModel { result_time_operating: true, ..TimeModel::default() };
    import_is_never_blocked(portal(BatchBilling::PerInnerMethod, model, 0.012), 100).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pacing_holds_with_the_batch_wide_figure_in_every_result_time_entry() {
    // Billed to `batch`, every `result_time` entry carries the batch-wide figure (PR #539): the
    // importer reads it as its command's method's, which over-counts, never under-counts.
    let model = TimeModel { result_time_operating: true, ..TimeModel::default() };
    import_is_never_blocked(portal(BatchBilling::ToBatch, model, 0.012), 100).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_first_batch_that_would_cost_more_than_the_budget_is_not_sent_whole() {
    // Regression: billed per inner method, batches packed before their method's cost was known
    // (30 adds of 0.03 s: 0.9 s against a 0.6 s budget) went one by one and the portal refused
    // every command past the budget inside `result_error`. Now one command goes until the cost
    // is measured.
    let config = portal(BatchBilling::PerInnerMethod, TimeModel::default(), 0.03);
    import_in_batches_is_never_blocked(config, 30, 50).await;
}
