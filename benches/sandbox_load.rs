//! Load test of the sandbox portal: 10,000 `crm.item.add` commands as 200 batches of 50, sent
//! sequentially over one keep-alive connection, with the limits set high. Server and client
//! share one single-threaded tokio runtime, so the figure is what one core sustains.
//! Throughput is reported in batch requests per second (target: at least 2,000/s in release).

use std::time::{Duration, Instant};

use b24import::sandbox::{OperatingConfig, Sandbox, SandboxConfig, SandboxHandle, phpquery};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Map, Value, json};

const BATCHES: usize = 200;
const PER_BATCH: usize = 50;

fn bodies() -> Vec<Vec<u8>> {
    (0..BATCHES)
        .map(|b| {
            let mut cmd = Map::new();
            for c in 0..PER_BATCH {
                let n = b * PER_BATCH + c;
                let q = phpquery::encode(&json!({
                    "entityTypeId": 3,
                    "fields": {"name": format!("Name {n}"), "lastName": "Load", "originatorId": "bench", "originId": n.to_string()}
                }));
                cmd.insert(format!("r{n:06}"), Value::String(format!("crm.item.add?{q}")));
            }
            serde_json::to_vec(&json!({"halt": 0, "cmd": cmd})).expect("serialisable")
        })
        .collect()
}

fn config() -> SandboxConfig {
    SandboxConfig {
        rate: 1e9,
        burst: 1e9,
        time_scale: 0.0,
        operating: OperatingConfig {
            budget_secs: 1e12,
            default_cost_secs: 0.001,
            ..OperatingConfig::default()
        },
        ..SandboxConfig::fast()
    }
}

async fn run_once(client: &reqwest::Client, handle: &SandboxHandle, bodies: &[Vec<u8>]) -> Duration {
    let reset = format!("{}/_sandbox/reset", handle.base_url());
    client.post(reset).send().await.expect("reset");
    let url = format!("{}batch", handle.webhook_url());
    let start = Instant::now();
    for body in bodies {
        let resp = client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("an answer");
        assert!(resp.status().is_success());
        let bytes = resp.bytes().await.expect("a body");
        assert!(!bytes.is_empty());
    }
    start.elapsed()
}

fn sandbox_load(c: &mut Criterion) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let handle = rt.block_on(Sandbox::start(config())).expect("sandbox");
    let client = reqwest::Client::builder().build().expect("client");
    let bodies = bodies();

    let elapsed = rt.block_on(run_once(&client, &handle, &bodies));
    assert_eq!(handle.snapshot().items["3"], (BATCHES * PER_BATCH) as u64);
    let rps = BATCHES as f64 / elapsed.as_secs_f64();
    println!(
        "sandbox_load: {BATCHES} batches x {PER_BATCH} crm.item.add in {:.3} s = {rps:.0} batch requests/s ({:.0} commands/s), {:.2} of the 2,000/s target",
        elapsed.as_secs_f64(),
        rps * PER_BATCH as f64,
        rps / 2000.0
    );

    let mut group = c.benchmark_group("sandbox_load");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(BATCHES as u64));
    group.bench_function("200_batches_of_50_crm_item_add", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += rt.block_on(run_once(&client, &handle, &bodies));
            }
            total
        })
    });
    group.finish();
    rt.block_on(handle.stop());
}

criterion_group!(benches, sandbox_load);
criterion_main!(benches);
