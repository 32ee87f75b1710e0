//! Helpers of the CLI tests (`cli_run`, `cli_status`, `cli_rejects`): a contacts fixture whose
//! rows the sandbox portal accepts or refuses on purpose, and the real binary run to the end.
#![allow(dead_code)] // each test file uses its own subset

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Writes `people.csv` with `n` rows (`P00000`..) and `people.toml` (a contact step `people`
/// in `mode`) into `dir`; returns the mapping's path. Row `i` sits on line `i + 2`.
pub fn people(dir: &Path, n: usize, mode: &str) -> PathBuf {
    let mut csv = std::fs::File::create(dir.join("people.csv")).expect("csv");
    writeln!(csv, "Code,Name,Last,Email,Phone,Tier").expect("write");
    for i in 0..n {
        writeln!(csv, "P{i:05},Name{i},Last{i},p{i}@example.com,+7 916 {:03} {:04},41", i % 1000, i)
            .expect("write");
    }
    let mapping = dir.join("people.toml");
    std::fs::write(
        &mapping,
        format!(
            "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
             origin = \"test\"\nmode = \"{mode}\"\n[fields]\nname = \"Name\"\nlastName = \"Last\"\n\
             ufCrm_1700000004 = \"Tier\"\n[[fm]]\ntype = \"EMAIL\"\ncolumn = \"Email\"\n"
        ),
    )
    .expect("mapping");
    mapping
}

/// Makes two rows of `people.csv` bad: `P00002` one the portal refuses (an unknown list item),
/// `P00005` one the mapping refuses (not an e-mail).
pub fn spoil_two_rows(dir: &Path) {
    let csv = std::fs::read_to_string(dir.join("people.csv")).expect("csv");
    let csv = csv
        .replacen(
            "P00002,Name2,Last2,p2@example.com,+7 916 002 0002,41",
            "P00002,Name2,Last2,p2@example.com,+7 916 002 0002,77",
            1,
        )
        .replacen("p5@example.com", "not-an-email", 1);
    std::fs::write(dir.join("people.csv"), csv).expect("csv");
}

/// Replaces `from` with `to` in `people.csv` (exactly once).
pub fn edit_csv(dir: &Path, from: &str, to: &str) {
    let csv = std::fs::read_to_string(dir.join("people.csv")).expect("csv");
    assert!(csv.contains(from), "fixture has {from:?}");
    std::fs::write(dir.join("people.csv"), csv.replacen(from, to, 1)).expect("csv");
}

/// `b24import ARGS` in `cwd`, run to the end on a blocking thread.
pub async fn b24(cwd: &Path, args: Vec<String>) -> Output {
    let cwd = cwd.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_b24import"))
            .current_dir(cwd)
            .args(args)
            .env_remove("B24_WEBHOOK_URL")
            .env_remove("B24_ACCESS_TOKEN")
            .output()
            .expect("binary runs")
    })
    .await
    .expect("join")
}

/// `b24import run MAPPING --webhook URL --journal JOURNAL` plus `extra`, fast limits.
pub async fn run(cwd: &Path, mapping: &str, webhook: &str, journal: &str, extra: &[&str]) -> Output {
    let mut args: Vec<String> =
        ["run", mapping, "--webhook", webhook, "--journal", journal, "--rate", "200", "--burst", "50"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    args.extend(extra.iter().map(|s| s.to_string()));
    b24(cwd, args).await
}

/// Stdout and stderr of `out`, for assertion messages.
pub fn shown(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The summary line of step `people`.
pub fn people_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("people ") && l.contains(" read: "))
        .unwrap_or_else(|| panic!("no summary line for people\n{}", shown(out)))
        .to_string()
}

/// The CSV at `path` as rows of cells (header first).
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let mut reader =
        csv::ReaderBuilder::new().has_headers(false).flexible(true).from_path(path).expect("csv file");
    reader.records().map(|r| r.expect("csv row").iter().map(str::to_string).collect()).collect()
}

/// A fast sandbox whose bucket matches `run`'s `--rate 200 --burst 50`.
#[cfg(feature = "sandbox")]
pub fn sandbox_config() -> b24import::sandbox::SandboxConfig {
    let mut c = b24import::sandbox::SandboxConfig::fast();
    c.rate = 200.0;
    c.burst = 50.0;
    c
}

/// `p` as a command-line argument.
pub fn s(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

/// Runs the binary with `args` to its end: its exit code and its output (stdout, then stderr).
pub async fn finish(args: &[String]) -> (Option<i32>, String) {
    let args = args.to_vec();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_b24import")).args(&args).output().expect("binary")
    })
    .await
    .expect("join");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[cfg(feature = "sandbox")]
/// Starts the binary once per entry of `kills` and SIGKILLs it once the sandbox has served that
/// many more requests (counted, not timed: a loaded machine kills at the same points).
pub async fn kill_at(sandbox: &b24import::sandbox::SandboxHandle, args: &[String], kills: &[u64]) {
    for more in kills {
        let mut child = Command::new(env!("CARGO_BIN_EXE_b24import"))
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("binary");
        let target = sandbox.snapshot().requests.total + more;
        let start = std::time::Instant::now();
        while sandbox.snapshot().requests.total < target {
            if child.try_wait().expect("try_wait").is_some() {
                break; // it finished before the kill point: nothing to kill
            }
            assert!(start.elapsed() < std::time::Duration::from_secs(60), "request {target} never came");
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

#[cfg(feature = "sandbox")]
/// A REST read of the sandbox's `method`, tried again while its seeded faults refuse it: the
/// `result`.
pub async fn read(
    sandbox: &b24import::sandbox::SandboxHandle,
    method: &str,
    params: serde_json::Value,
) -> serde_json::Value {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    for _ in 0..200 {
        let answer = client.post(format!("{}{method}", sandbox.webhook_url())).json(&params).send().await;
        if let Ok(r) = answer
            && r.status().is_success()
            && let Ok(v) = r.json::<serde_json::Value>().await
            && v.get("error").is_none()
        {
            return v["result"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("{method} never answered");
}

#[cfg(feature = "sandbox")]
/// The fault and crash matrix's portal: 5 % dropped answers (after the work), 5 % 500s and
/// 5 % 503s, seeded, 5 ms a request, its bucket at `rate`.
pub fn faulty(seed: u64, rate: b24import::transport::Rate) -> b24import::sandbox::SandboxConfig {
    let faults = b24import::sandbox::FaultConfig {
        seed,
        drop_after_commit: 0.05,
        fail_500: 0.05,
        fail_503: 0.05,
        slow_ms: 5,
        ..b24import::sandbox::FaultConfig::default()
    };
    let mut c = b24import::sandbox::SandboxConfig::fast();
    c.rate = rate.per_second;
    c.burst = f64::from(rate.burst);
    b24import::sandbox::SandboxConfig { faults, ..c }
}
