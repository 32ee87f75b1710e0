//! What the duplicate check (`on_duplicate = "skip"`) costs in requests: 10,000 contacts, each
//! with an e-mail and a phone (20,000 values), of which 3,000 already exist in the portal
//! (created beforehand by another client). Target: at most one check request per 1,000 values
//! (50 `crm.duplicate.findbycomm` calls of 20 values in one `batch`). Prints the check
//! requests, the item reads, the ratio per 1,000 values, and the whole run's figures.
//!
//! Run: `cargo bench --bench duplicates` (the standard plan's request budget scaled to 50
//! requests/s so that it takes seconds, not minutes; the counts do not depend on the rate).
//! `DUP_BENCH_QUICK=1` runs a tenth of it. Not part of CI.

use std::io::Write;
use std::time::Instant;

use b24import::payload::{Command, Method};
use b24import::pipeline::{self, PlanRate, RunOptions};
use b24import::sandbox::{Sandbox, SandboxConfig};
use b24import::transport::{Credentials, Plan, Rate, Transport, TransportConfig, Webhook};
use serde_json::json;

const RATE: f64 = 50.0;
const BURST: u32 = 50;

fn email(i: usize) -> String {
    format!("c{i}@example.com")
}

fn phone(i: usize) -> String {
    format!("+7 916 {:03} {:04}", i / 10_000, i % 10_000)
}

/// Whether contact `i` already exists (3 in 10).
fn exists(i: usize) -> bool {
    i % 10 < 3
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("duplicates: bench");
        return;
    }
    let rows: usize = if std::env::var_os("DUP_BENCH_QUICK").is_some() { 1_000 } else { 10_000 };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut csv =
        std::io::BufWriter::new(std::fs::File::create(dir.path().join("contacts.csv")).expect("csv"));
    writeln!(csv, "Code,Name,Email,Phone").expect("write");
    for i in 0..rows {
        writeln!(csv, "C{i:06},Name{i},{},{}", email(i), phone(i)).expect("write");
    }
    csv.flush().expect("flush");
    let mapping = dir.path().join("contacts.toml");
    std::fs::write(
        &mapping,
        "name = \"contacts\"\n[source]\npath = \"contacts.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
         on_duplicate = \"skip\"\n[fields]\nname = \"Name\"\n[[fm]]\ntype = \"EMAIL\"\ncolumn = \"Email\"\n\
         [[fm]]\ntype = \"PHONE\"\ncolumn = \"Phone\"\n",
    )
    .expect("mapping");

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut config = SandboxConfig::fast();
        config.rate = RATE;
        config.burst = f64::from(BURST);
        let sandbox = Sandbox::start(config).await.expect("sandbox");
        let transport = || {
            let mut tc = TransportConfig::new(
                Credentials::Webhook(Webhook::parse(&sandbox.webhook_url()).expect("webhook")),
                Plan::Standard,
            );
            tc.limiter.rate = Rate { per_second: RATE, burst: BURST };
            Transport::new(tc).expect("transport")
        };
        // Another client creates the existing contacts first (its own requests, not counted).
        let other = transport();
        let existing: Vec<usize> = (0..rows).filter(|i| exists(*i)).collect();
        for chunk in existing.chunks(50) {
            let cmds: Vec<(String, Command)> = chunk
                .iter()
                .map(|i| {
                    let fields = json!({"name": format!("Hand{i}"), "fm": [
                        {"typeId": "EMAIL", "valueType": "WORK", "value": email(*i).to_uppercase()},
                        {"typeId": "PHONE", "valueType": "MOBILE", "value": phone(*i).replace(' ', "")}
                    ]});
                    (format!("a{i}"), Command {
                        method: Method::CrmItemAdd,
                        params: json!({"entityTypeId": 3, "fields": fields}),
                    })
                })
                .collect();
            other.call_batch(&cmds).await.expect("seeded");
        }

        let transport = transport();
        let opts = RunOptions::new(vec![mapping], dir.path().join("j.sqlite"), "bench");
        let started = Instant::now();
        let report = pipeline::run(
            &opts,
            &transport,
            PlanRate { per_second: RATE, burst: BURST },
        )
        .await
        .expect("run");
        let elapsed = started.elapsed().as_secs_f64();
        let s = &report.steps[0];
        let d = &s.duplicates;
        let per_1000 = |n: u64| n as f64 * 1000.0 / d.values_checked.max(1) as f64;
        println!("duplicates: {rows} contacts, {} existing, {} values checked", existing.len(), d.values_checked);
        println!(
            "  check requests: {} ({:.3} per 1,000 values; target <= 1, ideal {})",
            d.check_requests,
            per_1000(d.check_requests),
            d.values_checked.div_ceil(1000)
        );
        println!(
            "  item read requests: {} ({:.3} per 1,000 values; {} items matched)",
            d.read_requests,
            per_1000(d.read_requests),
            d.skipped + d.merged + d.updated + d.ambiguous
        );
        println!(
            "  both: {:.3} requests per 1,000 values",
            per_1000(d.check_requests + d.read_requests)
        );
        println!(
            "  run: created {}, existing {}, rejected {}, requests {} in {elapsed:.1} s (ideal {:.1} s, ratio {:.2})",
            s.created, s.existing, s.rejected, report.requests, report.ideal_secs, report.ratio_to_ideal
        );
        assert_eq!(s.created as usize + s.existing as usize, rows, "every row created or linked");
        assert_eq!(s.existing as usize, existing.len(), "every existing contact found");
        sandbox.stop().await;
    });
}
