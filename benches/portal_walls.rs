//! The two walls of a real portal, measured end to end against the sandbox (issue 11,
//! "Figures"): the request rate (leaky bucket) and the operating-time budget, with network
//! latency and processing time simulated, each scenario run with one request in flight and with
//! the default number, side by side in one table.
//!
//! | scenario | what | target |
//! |---|---|---|
//! | `latency` | 3,000 contacts, 2 req/s burst 10, each batch answered after ~1 s | >= 0.9 of the rate ideal, 0 503 |
//! | `rate` | 20,000 contacts, 20 req/s burst 10, no latency | >= 0.97 of the rate ideal |
//! | `operating` | 2,000 contacts, 0.01 s per add, 6 s budget per 30 s window | >= 0.9 of the budget ideal, <= one 429 |
//! | `*-faults` | the same three, 5 % drop-after-commit and 5 % 500 | 0 duplicates, 0 missing |
//!
//! Columns:
//! - `rate ideal` = `max(0, ceil(rows / 50) - burst) / rate`: the time the leaky bucket alone
//!   allows for the write batches.
//! - `budget ideal` = `(ceil(billed / budget) - 1) * window` for the method the sandbox billed
//!   most (its `operating` stats, per method because the budget is per method): the first
//!   budget at once, each further one a window later, the strict lower bound of a sliding window
//!   (`transport::OperatingConfig::ideal_secs`, the same figure the run reports); 0 when the run
//!   bills no more than one budget (the budget never binds).
//! - `ratio` = the larger ("binding") ideal / elapsed; 1.0 is as fast as the walls allow.
//! - `429`, `503`: the sandbox's `OPERATION_TIME_LIMIT` and `QUERY_LIMIT_EXCEEDED` refusals.
//! - `dup`: items beyond the first per `originId`; `missing`: rows with no item at all.
//! - `requests`: HTTP requests the sandbox served; `commands`: the commands they carried (each
//!   of a batch's, and each direct call). The rate ideal counts `ceil(rows / 50)` requests; a
//!   run's reads and, under faults, its lookups and resends need more: `ceil(commands / 50)`
//!   requests at least (the floor below the ideal that the run itself cannot pass).
//! - `BENCH_TRACE=b24import=debug` prints every request's departure and answer, with times.
//!
//! Run: `cargo bench --bench portal_walls` (all, several minutes by design), `cargo bench
//! --bench portal_walls -- operating` (one scenario), `-- --quick` (a tenth of the rows, a smoke
//! run; the ideals of so few rows are mostly the burst and mean little), `-- latency --rows 2990`
//! (a scenario with another number of rows). Not part of CI.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use b24import::pipeline::{self, PlanRate, RunOptions};
use b24import::sandbox::{FaultConfig, Latency, OperatingConfig, Sandbox, SandboxConfig};
use b24import::transport::OperatingConfig as ClientOperating;
use b24import::transport::{
    Credentials, Plan, Rate, Transport, TransportConfig, Webhook, configure_in_flight,
};

/// The importer's default number of requests in flight (`--max-in-flight`, issue 11).
const DEFAULT_IN_FLIGHT: usize = 8;

/// One row of the "Figures" table.
#[derive(Debug, Clone)]
struct Scenario {
    name: &'static str,
    rows: usize,
    rate: f64,
    burst: u32,
    latency: Latency,
    /// Simulated seconds per `crm.item.add`, slept in real time.
    add_cost: f64,
    /// Operating budget and window, seconds.
    budget: f64,
    window: u64,
    /// 5 % drop-after-commit and 5 % 500.
    faults: bool,
}

fn scenarios() -> Vec<Scenario> {
    let base = [
        // ~1 s per batch: 0.8-1.1 s of network + 50 x 0.003 s of work.
        Scenario {
            name: "latency",
            rows: 3_000,
            rate: 2.0,
            burst: 10,
            latency: Latency::range(800, 1100),
            add_cost: 0.003,
            budget: 480.0,
            window: 600,
            faults: false,
        },
        Scenario {
            name: "rate",
            rows: 20_000,
            rate: 20.0,
            burst: 10,
            latency: Latency::default(),
            add_cost: 0.0,
            budget: 480.0,
            window: 600,
            faults: false,
        },
        Scenario {
            name: "operating",
            rows: 2_000,
            rate: 20.0,
            burst: 10,
            latency: Latency::default(),
            add_cost: 0.01,
            budget: 6.0,
            window: 30,
            faults: false,
        },
    ];
    let faulty = base.clone().map(|s| Scenario {
        name: match s.name {
            "latency" => "latency-faults",
            "rate" => "rate-faults",
            _ => "operating-faults",
        },
        faults: true,
        ..s
    });
    base.into_iter().chain(faulty).collect()
}

/// Sets how many requests the importer keeps in flight at once.
///
/// A documented no-op for now: `TransportConfig` has no such knob until `--max-in-flight`
/// lands (issue 11, the client side); every run therefore has one request in flight, and the
/// two rows of a scenario measure the same thing.
fn sandbox_config(s: &Scenario) -> SandboxConfig {
    let mut c = SandboxConfig::fast();
    c.rate = s.rate;
    c.burst = f64::from(s.burst);
    c.latency = s.latency;
    c.time_scale = 1.0;
    c.operating = OperatingConfig {
        budget_secs: s.budget,
        window: Duration::from_secs(s.window),
        buckets: 10,
        default_cost_secs: 0.001,
        cost_secs: [("crm.item.add".to_string(), s.add_cost)].into(),
    };
    if s.faults {
        c.faults =
            FaultConfig { seed: 11, fail_500: 0.05, drop_after_commit: 0.05, ..FaultConfig::default() };
    }
    c
}

fn transport_config(s: &Scenario, webhook: &str, in_flight: usize) -> TransportConfig {
    let mut tc =
        TransportConfig::new(Credentials::Webhook(Webhook::parse(webhook).expect("webhook")), Plan::Standard);
    tc.limiter.rate = Rate { per_second: s.rate, burst: s.burst };
    // What the run's --operating-budget / --operating-window flags set.
    tc.operating = ClientOperating::new(Duration::from_secs_f64(s.budget), Duration::from_secs(s.window));
    configure_in_flight(&mut tc, in_flight);
    tc
}

fn write_inputs(dir: &Path, rows: usize) -> std::path::PathBuf {
    let mut csv = std::io::BufWriter::new(std::fs::File::create(dir.join("contacts.csv")).expect("csv"));
    writeln!(csv, "Code,Name,Last,Email,Phone").expect("write");
    for i in 0..rows {
        writeln!(csv, "C{i:06},Name{i},Last{i},c{i}@example.com,+7 916 {:03} {:04}", i % 1000, i % 10_000)
            .expect("write");
    }
    csv.flush().expect("flush");
    let mapping = dir.join("contacts.toml");
    std::fs::write(
        &mapping,
        "name = \"contacts\"\n[source]\npath = \"contacts.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
         [fields]\nname = \"Name\"\nlastName = \"Last\"\n[[fm]]\ntype = \"EMAIL\"\ncolumn = \"Email\"\n\
         [[fm]]\ntype = \"PHONE\"\ncolumn = \"Phone\"\n",
    )
    .expect("mapping");
    mapping
}

/// What one run measured.
struct Measured {
    in_flight: usize,
    elapsed: f64,
    rate_ideal: f64,
    budget_ideal: f64,
    refused_429: u64,
    refused_503: u64,
    duplicates: u64,
    missing: i64,
    /// HTTP requests the sandbox served, and the commands they carried (a batch's inner
    /// commands each, a direct call one).
    requests: u64,
    commands: u64,
    failed: Option<String>,
}

impl Measured {
    fn binding(&self) -> f64 {
        self.rate_ideal.max(self.budget_ideal)
    }

    fn ratio(&self) -> f64 {
        if self.elapsed > 0.0 { self.binding() / self.elapsed } else { 0.0 }
    }
}

async fn run_once(s: &Scenario, rows: usize, in_flight: usize) -> Measured {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = write_inputs(dir.path(), rows);
    let sandbox = Sandbox::start(sandbox_config(s)).await.expect("sandbox");
    let transport =
        Transport::new(transport_config(s, &sandbox.webhook_url(), in_flight)).expect("transport");
    let opts = RunOptions {
        args_summary: "bench".into(),
        ..RunOptions::new(vec![mapping], dir.path().join("j.sqlite"), &format!("bench-{}", s.name))
    };
    let started = Instant::now();
    let outcome = pipeline::run(&opts, &transport, PlanRate { per_second: s.rate, burst: s.burst }).await;
    let elapsed = started.elapsed().as_secs_f64();
    let state = sandbox.snapshot();
    sandbox.stop().await;
    let items = state.items.get("3").copied().unwrap_or(0);
    let billed = state.operating.values().copied().fold(0.0_f64, f64::max);
    let refused = |code: &str| state.refusals.get(code).copied().unwrap_or(0);
    Measured {
        in_flight,
        elapsed,
        rate_ideal: ((rows as f64 / 50.0).ceil() - f64::from(s.burst)).max(0.0) / s.rate,
        // Within one budget the operating limit never binds.
        budget_ideal: ClientOperating::new(Duration::from_secs_f64(s.budget), Duration::from_secs(s.window))
            .ideal_secs(billed),
        refused_429: refused("OPERATION_TIME_LIMIT"),
        refused_503: refused("QUERY_LIMIT_EXCEEDED"),
        duplicates: state.duplicates.items,
        requests: state.requests.total,
        commands: state
            .requests
            .by_method
            .iter()
            .filter(|(m, _)| m.as_str() != "batch")
            .map(|(_, n)| n)
            .sum(),
        missing: rows as i64 - (items as i64 - state.duplicates.items as i64),
        failed: outcome.err().map(|e| e.to_string()),
    }
}

fn print_header() {
    println!(
        "{:<17} {:>6} {:>9} {:>9} {:>10} {:>11} {:>6} {:>5} {:>5} {:>4} {:>7} {:>8} {:>8}",
        "scenario",
        "rows",
        "in-flight",
        "elapsed",
        "rate ideal",
        "budget idl",
        "ratio",
        "429",
        "503",
        "dup",
        "missing",
        "requests",
        "commands"
    );
}

fn print_row(s: &Scenario, rows: usize, m: &Measured) {
    println!(
        "{:<17} {:>6} {:>9} {:>8.1}s {:>9.1}s {:>10.1}s {:>6.3} {:>5} {:>5} {:>4} {:>7} {:>8} {:>8}",
        s.name,
        rows,
        m.in_flight,
        m.elapsed,
        m.rate_ideal,
        m.budget_ideal,
        m.ratio(),
        m.refused_429,
        m.refused_503,
        m.duplicates,
        m.missing,
        m.requests,
        m.commands
    );
    if let Some(e) = &m.failed {
        println!("    the run stopped: {e}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for s in scenarios() {
            println!("portal_walls/{}: bench", s.name);
        }
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    // `--rows N`: every chosen scenario with N rows (e.g. 2,990 to see the reads ride free).
    let rows_flag: Option<usize> = args.iter().position(|a| a == "--rows").map(|i| {
        args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or_else(|| {
            eprintln!("--rows needs a number of rows");
            std::process::exit(2)
        })
    });
    // `cargo bench` passes `--bench`; every other bare word names a scenario.
    let wanted: Vec<&str> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--rows"))
        .map(|(_, a)| a.as_str())
        .collect();
    let all = scenarios();
    if let Some(unknown) = wanted.iter().find(|w| !all.iter().any(|s| s.name == **w)) {
        let names: Vec<_> = all.iter().map(|s| s.name).collect();
        eprintln!("no scenario `{unknown}`; the scenarios are: {}", names.join(", "));
        std::process::exit(2);
    }
    if std::env::var_os("BENCH_TRACE").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_env("BENCH_TRACE"))
            .with_timer(tracing_subscriber::fmt::time::uptime())
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    print_header();
    for s in all.iter().filter(|s| wanted.is_empty() || wanted.contains(&s.name)) {
        let rows = rows_flag.unwrap_or(if quick { s.rows / 10 } else { s.rows });
        for in_flight in [1, DEFAULT_IN_FLIGHT] {
            let m = runtime.block_on(run_once(s, rows, in_flight));
            print_row(s, rows, &m);
        }
    }
}
