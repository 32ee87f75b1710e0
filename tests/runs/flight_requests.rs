//! Requests in flight (issue 11): several requests on the wire at once against a portal that
//! answers slowly, answers applied in any order with every row landing once, and the flags and
//! summary lines of `run`.

use crate::common;

use std::path::Path;
use std::process::Command as Process;
use std::time::{Duration, Instant};

use b24import::pipeline::RunReport;
use b24import::sandbox::{FaultConfig, Sandbox, SandboxConfig, SandboxHandle};
use b24import::transport::{
    Credentials, Plan, Rate, Transport, TransportConfig, Webhook, configure_in_flight,
};

/// Fast enough that the rate never binds: latency does.
const RATE: Rate = Rate { per_second: 100.0, burst: 50 };

fn transport(sandbox: &SandboxHandle, in_flight: usize, max_batch_bytes: Option<usize>) -> Transport {
    let mut tc = TransportConfig::new(
        Credentials::Webhook(Webhook::parse(&sandbox.webhook_url()).expect("sandbox webhook")),
        Plan::Standard,
    );
    tc.limiter.rate = RATE;
    tc.timeout = Duration::from_secs(5);
    configure_in_flight(&mut tc, in_flight);
    if let Some(b) = max_batch_bytes {
        tc.max_batch_bytes = b;
    }
    Transport::new(tc).expect("transport")
}

fn slow_portal(slow_ms: u64, faults: impl FnOnce(&mut FaultConfig)) -> SandboxConfig {
    let mut c = common::sandbox_config(RATE);
    c.faults.slow_ms = slow_ms;
    faults(&mut c.faults);
    c
}

async fn import(
    sandbox: &SandboxHandle,
    dir: &Path,
    n: usize,
    t: &Transport,
    batch: usize,
) -> (RunReport, Duration) {
    let mapping = common::name_only_contacts(dir, 0, n, "flight");
    let journal = dir.join("j.sqlite");
    let opts = b24import::pipeline::RunOptions {
        batch_size: batch,
        ..b24import::pipeline::RunOptions::new(vec![mapping], journal.clone(), "test")
    };
    let started = Instant::now();
    let report = b24import::pipeline::run(
        &opts,
        t,
        b24import::pipeline::PlanRate { per_second: RATE.per_second, burst: RATE.burst },
    )
    .await
    .expect("run finishes");
    let took = started.elapsed();
    let state = sandbox.snapshot();
    assert_eq!(state.items.get("3").copied(), Some(n as u64), "{report:?}");
    assert_eq!(state.duplicates.items, 0, "{:?}", state.duplicates.details);
    (report, took)
}

#[tokio::test(flavor = "multi_thread")]
async fn four_requests_in_flight_finish_clearly_faster_than_one_when_each_answer_takes_100_ms() {
    let n = 300;
    let one = Sandbox::start(slow_portal(100, |_| {})).await.expect("sandbox");
    let dir1 = tempfile::tempdir().expect("temp dir");
    let (r1, t1) = import(&one, dir1.path(), n, &transport(&one, 1, None), 10).await;
    let four = Sandbox::start(slow_portal(100, |_| {})).await.expect("sandbox");
    let dir4 = tempfile::tempdir().expect("temp dir");
    let (r4, t4) = import(&four, dir4.path(), n, &transport(&four, 4, None), 10).await;
    // 31 requests at ~100 ms each: ~3.1 s one at a time, ~0.8 s four at a time. Half is a
    // generous bound for a loaded 2-core machine.
    assert!(t4 * 2 < t1, "four in flight took {t4:?}, one took {t1:?}");
    assert_eq!(r1.peak_in_flight, 1, "--max-in-flight 1 sends one request at a time");
    assert!(r4.peak_in_flight > 1 && r4.peak_in_flight <= 4, "peak {}", r4.peak_in_flight);
    assert_eq!((r1.steps[0].created, r4.steps[0].created), (n as u64, n as u64));
    one.stop().await;
    four.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_in_any_order_with_dropped_and_failed_requests_keep_every_row_once() {
    // Batches of different sizes (a byte budget of ~40 short rows) take different processing
    // times, and a 500 answers at once: answers land out of the order they were sent in.
    let mut config = slow_portal(20, |f| {
        f.seed = 11;
        f.drop_after_commit = 0.05;
        f.fail_500 = 0.05;
    });
    config.time_scale = 1.0;
    config.operating.cost_secs.insert("crm.item.add".into(), 0.004);
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let n = 600;
    let mapping = common::name_only_contacts(dir.path(), 0, n, "flight");
    // Every seventh name is long, so packs hold from a few commands to fifty.
    let mut csv = String::from("Code,Name\n");
    for i in 0..n {
        let name = if i % 7 == 0 { "x".repeat(900) } else { format!("Name{i}") };
        csv.push_str(&format!("P{i},{name}\n"));
    }
    std::fs::write(dir.path().join("people.csv"), csv).expect("csv");
    let t = transport(&sandbox, 8, Some(4_000));
    let journal = dir.path().join("j.sqlite");
    let report = common::run_in_process(&[mapping], &journal, &t, RATE).await;
    let state = sandbox.snapshot();
    assert!(state.faults.values().sum::<u64>() > 0, "no fault was injected: {:?}", state.faults);
    assert!(report.peak_in_flight > 1, "requests overlapped: peak {}", report.peak_in_flight);
    assert_eq!(state.items.get("3").copied(), Some(n as u64), "every row once: {report:?}");
    assert_eq!(state.duplicates.items, 0, "{:?}", state.duplicates.details);
    let j = b24import::journal::Journal::open(&journal).expect("journal");
    let step = j.steps().expect("steps").into_iter().next().expect("a step");
    let c = j.counts(step.id).expect("counts");
    assert_eq!((c.done, c.pending, c.sent, c.unknown), (n as u64, 0, 0, 0), "{c:?}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_takes_the_new_flags_and_reports_both_walls() {
    let sandbox = Sandbox::start(slow_portal(10, |_| {})).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = common::name_only_contacts(dir.path(), 0, 120, "flight");
    let report = dir.path().join("report.json");
    let out = Process::new(env!("CARGO_BIN_EXE_b24import"))
        .current_dir(dir.path())
        .args(["run", &mapping.display().to_string(), "--webhook", &sandbox.webhook_url()])
        .args(["--rate", "100", "--burst", "50", "--batch-size", "10", "--max-in-flight", "3"])
        .args(["--operating-budget", "48", "--operating-window", "60", "--report"])
        .arg(&report)
        .output()
        .expect("binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("ideal under the rate limit"), "{stdout}");
    assert!(stdout.contains("under the operating budget"), "{stdout}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("report")).expect("json");
    for field in ["rate_ideal_secs", "operating_ideal_secs", "ratio_to_ideal", "ideal_secs"] {
        assert!(json[field].is_number(), "{field}: {json}");
    }
    assert!(matches!(json["binding_wall"].as_str(), Some("rate" | "operating")), "{json}");
    let peak = json["peak_in_flight"].as_u64().expect("peak");
    assert!((1..=3).contains(&peak), "{json}");
    sandbox.stop().await;
}

#[test]
fn bad_operating_flags_are_a_usage_error() {
    for args in [["--operating-budget", "0"], ["--operating-window", "-5"], ["--max-in-flight", "0"]] {
        let out = Process::new(env!("CARGO_BIN_EXE_b24import"))
            .args(["run", "nothing.toml", "--webhook", "http://127.0.0.1:9/rest/1/x/"])
            .args(args)
            .output()
            .expect("binary");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
