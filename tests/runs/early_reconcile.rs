//! Unknown outcomes settled while the step still sends (issue 23): rows whose answer was lost
//! are looked up by key while later batches are in flight, the lookups riding in those batches
//! (no request of their own), and every row still lands exactly once.

use crate::cli_support::{finish, s};
use crate::common;

use b24import::sandbox::{FaultConfig, Sandbox, SandboxConfig};

const ROWS: usize = 800;

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
    let args: Vec<String> = vec![
        "run".into(),
        s(&mapping),
        "--journal".into(),
        s(&dir.path().join("j.sqlite")),
        "--webhook".into(),
        sandbox.webhook_url(),
        "--rate".into(),
        "50".into(),
        "--burst".into(),
        "20".into(),
        "--batch-size".into(),
        "10".into(),
        "--state-dir".into(),
        s(dir.path()),
    ];
    let (code, out) = finish(&args).await;
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
