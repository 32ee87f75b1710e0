//! `method = "import"` (crm.item.batchImport) against `method = "add"` (crm.item.add) for the
//! same 3,000 deals at the same limits and simulated processing cost: 2 requests/s, burst 10,
//! each request answered after ~1 s (Latency 800..1100 ms), processing simulated at the
//! sandbox's standard costs. Prints items per second and elapsed time for both.
//!
//! An import step sends one request at a time (the portal refuses an item older than its
//! newest, so no request may overtake another); an add step keeps as many in flight as the
//! portal allows. Run: `cargo bench --bench history_import`. Not part of CI (about 1 minute).

use std::io::Write;
use std::time::Instant;

use b24import::pipeline::{self, PlanRate, RunOptions};
use b24import::sandbox::{Latency, Sandbox, SandboxConfig};
use b24import::transport::{Credentials, Plan, Rate, Transport, TransportConfig, Webhook};

const ROWS: usize = 3_000;
const RATE: f64 = 2.0;
const BURST: u32 = 10;

async fn one(method: &str) -> (f64, u64, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut csv = std::io::BufWriter::new(std::fs::File::create(dir.path().join("deals.csv")).expect("csv"));
    writeln!(csv, "Code,Title,Created").expect("write");
    for i in 0..ROWS {
        // Shuffled creation times: the import sorts them.
        let minute = (i * 7919) % ROWS;
        writeln!(
            csv,
            "D{i:06},Deal {i},2020-01-{:02} {:02}:{:02}:00",
            1 + minute / 1440,
            (minute / 60) % 24,
            minute % 60
        )
        .expect("write");
    }
    csv.flush().expect("flush");
    let mapping = dir.path().join("deals.toml");
    std::fs::write(
        &mapping,
        format!(
            "name = \"deals\"\n[source]\npath = \"deals.csv\"\nkey = \"Code\"\n[target]\nentity = \"deal\"\n\
             method = \"{method}\"\n[fields]\ntitle = \"Title\"\n\
             createdTime = {{ column = \"Created\", type = \"datetime\", formats = [\"%Y-%m-%d %H:%M:%S\"] }}\n"
        ),
    )
    .expect("mapping");
    let mut config = SandboxConfig::fast();
    config.rate = RATE;
    config.burst = f64::from(BURST);
    config.latency = Latency::range(800, 1100);
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let mut tc = TransportConfig::new(
        Credentials::Webhook(Webhook::parse(&sandbox.webhook_url()).expect("webhook")),
        Plan::Standard,
    );
    tc.limiter.rate = Rate { per_second: RATE, burst: BURST };
    let transport = Transport::new(tc).expect("transport");
    let opts = RunOptions {
        mappings: vec![mapping],
        journal: dir.path().join("j.sqlite"),
        job: "bench".into(),
        batch_size: 50,
        dry_run: false,
        args_summary: "bench".into(),
        progress_bars: false,
    };
    let started = Instant::now();
    let report =
        pipeline::run(&opts, &transport, PlanRate { per_second: RATE, burst: BURST }).await.expect("run");
    let elapsed = started.elapsed().as_secs_f64();
    let automation = sandbox.snapshot().history.automation_runs;
    sandbox.stop().await;
    (elapsed, report.steps[0].created, automation)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("history_import: bench");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        println!("{ROWS} deals, {RATE} requests/s, burst {BURST}, ~1 s per answer");
        for method in ["add", "import"] {
            let (elapsed, created, automation) = one(method).await;
            println!(
                "method = {method:<6}  {created} created in {elapsed:.1} s = {:.1} items/s; automation runs: {automation}",
                created as f64 / elapsed
            );
        }
    });
}
