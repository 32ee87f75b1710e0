//! Throughput of the whole import against the sandbox at a scaled plan: 20,000 contacts,
//! R = 20 requests/s, B = 10. Ideal time = (ceil(20000/50) - B) / R = 19.5 s.
//! Prints elapsed, the ratio to ideal, limit refusals and peak memory.
//!
//! Run: `cargo bench --bench import_run`. Not part of CI (it takes about 20 s by design).

use std::io::Write;
use std::time::Instant;

use b24import::pipeline::{self, PlanRate, RunOptions};
use b24import::sandbox::{Sandbox, SandboxConfig};
use b24import::transport::{Credentials, Plan, Rate, Transport, TransportConfig, Webhook};

const ROWS: usize = 20_000;
const RATE: f64 = 20.0;
const BURST: u32 = 10;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("import_run: bench");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut csv =
        std::io::BufWriter::new(std::fs::File::create(dir.path().join("contacts.csv")).expect("csv"));
    writeln!(csv, "Code,Name,Last,Email,Phone").expect("write");
    for i in 0..ROWS {
        writeln!(csv, "C{i:06},Name{i},Last{i},c{i}@example.com,+7 916 {:03} {:04}", i % 1000, i)
            .expect("write");
    }
    csv.flush().expect("flush");
    let mapping = dir.path().join("contacts.toml");
    std::fs::write(
        &mapping,
        "name = \"contacts\"\n[source]\npath = \"contacts.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
         [fields]\nname = \"Name\"\nlastName = \"Last\"\n[[fm]]\ntype = \"EMAIL\"\ncolumn = \"Email\"\n\
         [[fm]]\ntype = \"PHONE\"\ncolumn = \"Phone\"\n",
    )
    .expect("mapping");

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut config = SandboxConfig::fast();
        config.rate = RATE;
        config.burst = f64::from(BURST);
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
        let ideal = ((ROWS as f64 / 50.0).ceil() - f64::from(BURST)) / RATE;
        let state = sandbox.snapshot();
        println!("rows:                 {ROWS}");
        println!("created:              {}", report.steps[0].created);
        println!("requests:             {}", report.requests);
        println!("elapsed:              {elapsed:.2} s");
        println!("ideal:                {ideal:.2} s  (ceil({ROWS}/50) - {BURST}) / {RATE}");
        println!("elapsed / ideal:      {:.3}", elapsed / ideal);
        println!(
            "QUERY_LIMIT_EXCEEDED: client saw {}, sandbox refused {}",
            report.query_limit_refusals,
            state.refusals.get("QUERY_LIMIT_EXCEEDED").copied().unwrap_or(0)
        );
        println!("duplicates:           {}", state.duplicates.items);
        println!("peak RSS:             {:.1} MiB", peak_rss_mib());
        sandbox.stop().await;
    });
}
