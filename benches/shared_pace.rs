//! Many jobs, one portal (issue 23, "Measured"): two `b24import run` processes of 1,500
//! contacts each, started together against one sandbox portal at 2 requests/s, burst 10, each
//! batch answered after about 1 s; once with the shared pace (the default), once with each
//! process pacing alone (`B24IMPORT_SHARED_PACE=off`, what every job did before).
//!
//! Columns:
//! - `ideal` = `(batches of both jobs - burst) / rate`: the time the portal's one bucket allows
//!   for the two jobs together (60 batches of 50: 25 s).
//! - `elapsed`: from starting both processes until the later one exits.
//! - `ratio` = ideal / elapsed (target >= 0.9, i.e. within 1/0.9 of the combined ideal).
//! - `503`: the sandbox's `QUERY_LIMIT_EXCEEDED` refusals of both jobs together (target <= 2).
//!
//! Run: `cargo bench --bench shared_pace` (about a minute and a half). Not part of CI.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use b24import::sandbox::{Latency, OperatingConfig, Sandbox, SandboxConfig};

const ROWS: usize = 1_500;
const RATE: f64 = 2.0;
const BURST: u32 = 10;

fn sandbox_config() -> SandboxConfig {
    let mut c = SandboxConfig::fast();
    c.rate = RATE;
    c.burst = f64::from(BURST);
    // ~1 s per batch: 0.8-1.1 s of network + 50 x 0.003 s of work (as `portal_walls -- latency`).
    c.latency = Latency::range(800, 1100);
    c.time_scale = 1.0;
    c.operating = OperatingConfig {
        budget_secs: 480.0,
        window: Duration::from_secs(600),
        buckets: 10,
        default_cost_secs: 0.001,
        cost_secs: [("crm.item.add".to_string(), 0.003)].into(),
    };
    c
}

fn write_job(dir: &Path, from: usize) -> std::path::PathBuf {
    let mut csv = String::from("Code,Name,Last\n");
    for i in from..from + ROWS {
        csv.push_str(&format!("C{i:06},Name{i},Last{i}\n"));
    }
    std::fs::write(dir.join("contacts.csv"), csv).expect("csv");
    let mapping = dir.join("contacts.toml");
    std::fs::write(
        &mapping,
        "name = \"contacts\"\n[source]\npath = \"contacts.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
         origin = \"bench\"\n[fields]\nname = \"Name\"\nlastName = \"Last\"\n",
    )
    .expect("mapping");
    mapping
}

struct Measured {
    elapsed: f64,
    refusals: u64,
    items: u64,
}

async fn two_jobs(shared: bool) -> Measured {
    let sandbox = Sandbox::start(sandbox_config()).await.expect("sandbox");
    let dirs = [tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir")];
    let state = tempfile::tempdir().expect("dir");
    let webhook = sandbox.webhook_url();
    let started = Instant::now();
    let children: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let mapping = write_job(d.path(), i * 100_000);
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_b24import"));
            cmd.current_dir(d.path())
                .args(["run", mapping.to_str().expect("utf-8"), "--webhook", &webhook])
                .args(["--journal", "j.sqlite", "--job", &format!("job{i}")])
                .args(["--rate", &RATE.to_string(), "--burst", &BURST.to_string()])
                .args(["--state-dir", state.path().to_str().expect("utf-8")])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if !shared {
                cmd.env("B24IMPORT_SHARED_PACE", "off");
            }
            cmd.spawn().expect("binary starts")
        })
        .collect();
    let codes = tokio::task::spawn_blocking(move || {
        children.into_iter().map(|mut c| c.wait().expect("ends").code()).collect::<Vec<_>>()
    })
    .await
    .expect("join");
    let elapsed = started.elapsed().as_secs_f64();
    assert!(codes.iter().all(|c| *c == Some(0)), "both jobs finish: {codes:?}");
    let s = sandbox.snapshot();
    sandbox.stop().await;
    Measured {
        elapsed,
        refusals: s.refusals.get("QUERY_LIMIT_EXCEEDED").copied().unwrap_or(0),
        items: s.items.get("3").copied().unwrap_or(0),
    }
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let batches = 2 * ROWS.div_ceil(50);
    let ideal = (batches as f64 - f64::from(BURST)).max(0.0) / RATE;
    println!(
        "two jobs of {ROWS} contacts, {RATE} req/s burst {BURST}, ~1 s per batch; combined ideal {ideal:.1}s"
    );
    println!("{:<12} {:>9} {:>7} {:>5} {:>7}", "pace", "elapsed", "ratio", "503", "items");
    for (name, shared) in [("shared", true), ("each alone", false)] {
        if filter.as_deref().is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let m = runtime.block_on(two_jobs(shared));
        println!(
            "{:<12} {:>8.1}s {:>7.3} {:>5} {:>7}",
            name,
            m.elapsed,
            ideal / m.elapsed,
            m.refusals,
            m.items
        );
    }
}
