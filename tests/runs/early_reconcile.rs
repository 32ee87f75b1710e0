//! Unknown outcomes settled while the step still sends (issue 23): rows whose answer was lost
//! are looked up by key while later batches are in flight, the lookups riding in those batches
//! (no request of their own), and every row still lands exactly once.

use crate::cli_support::{finish, kill_at, s};
use crate::common;

use b24import::sandbox::{FaultConfig, Sandbox, SandboxConfig};

const ROWS: usize = 800;

/// `run` of `mapping` at 50 requests/s, burst 20, batches of 10.
fn run_args(mapping: &std::path::Path, dir: &std::path::Path, webhook: String) -> Vec<String> {
    let mut args: Vec<String> = vec!["run".into(), s(mapping), "--journal".into(), s(&dir.join("j.sqlite"))];
    args.extend(["--webhook".into(), webhook, "--rate".into(), "50".into(), "--burst".into(), "20".into()]);
    args.extend(["--batch-size".into(), "10".into(), "--state-dir".into(), s(dir)]);
    args
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_answers_are_looked_up_mid_step_riding_in_later_batches_and_every_row_lands_once() {
    let mut config = SandboxConfig::fast();
    config.rate = 50.0;
    config.burst = 20.0;
    // 10 % of the answers lost after the work; 150 ms a request keeps batches in flight.
    config.faults = FaultConfig { seed: 23, drop_after_commit: 0.1, slow_ms: 150, ..FaultConfig::default() };
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let mapping = common::name_only_contacts(dir.path(), 0, ROWS, "early");
    let (code, out) = finish(&run_args(&mapping, dir.path(), sandbox.webhook_url())).await;
    assert_eq!(code, Some(0), "{out}");
    let state = sandbox.snapshot();
    sandbox.stop().await;
    assert_eq!(state.items.get("3").copied(), Some(ROWS as u64), "every row once: {out}");
    assert_eq!(state.duplicates.items, 0, "{:?}", state.duplicates);
    let lost = state.faults.values().sum::<u64>();
    assert!(lost >= 3, "the seed loses answers: {:?}", state.faults);
    let by = |m: &str| state.requests.by_method.get(m).copied().unwrap_or(0);
    let lookups = by("crm.item.list");
    // Every request but the batches is a call of its own (drops reach the method: all counted).
    let alone = state.requests.total - by("batch");
    assert!(lookups > 0, "the lost rows were looked up: {:?}", state.requests);
    assert!(
        alone < lookups,
        "most lookups rode in write batches ({lookups} lookups, {alone} requests alone): {:?}",
        state.requests
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_while_lost_rows_are_looked_up_mid_step_the_job_still_lands_every_row_once() {
    // The matrix's faults (drops, 500s, 503s), slow enough that lookups run mid-step, and
    // three SIGKILLs at counted requests: between a loss, its lookup and its resend.
    let mut config =
        crate::cli_support::faulty(29, b24import::transport::Rate { per_second: 50.0, burst: 20 });
    config.faults.slow_ms = 150;
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let mapping = common::name_only_contacts(dir.path(), 0, ROWS, "early-kill");
    let args = run_args(&mapping, dir.path(), sandbox.webhook_url());
    kill_at(&sandbox, &args, &[25, 20, 30]).await;
    let (code, out) = finish(&args).await;
    assert_eq!(code, Some(0), "{out}");
    let (again, out) = finish(&args).await;
    assert_eq!(again, Some(0), "{out}");
    let state = sandbox.snapshot();
    sandbox.stop().await;
    assert!(state.faults.values().sum::<u64>() >= 3, "faults were injected: {:?}", state.faults);
    assert_eq!(state.items.get("3").copied(), Some(ROWS as u64), "every row once: {out}");
    assert_eq!(state.duplicates.items, 0, "{:?}", state.duplicates);
}
