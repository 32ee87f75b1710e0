//! HTTP 413 (request too large) end to end: the web server in front of the portal refuses
//! big bodies before the portal sees them. The run splits batches, sends a big row alone, and
//! rejects a row still too large alone as `too_large` with its size and the field that made it
//! large; nothing is left unknown and no row is created twice.

use std::io::Write as _;
use std::process::Command as Process;

use b24import::sandbox::{Sandbox, SandboxConfig};

const ROWS: usize = 30;
const HUGE_ROW: usize = 17;

// Regression: a 413 was an unknown outcome; the rows were looked up and resent twenty times.
#[tokio::test(flavor = "multi_thread")]
async fn batches_refused_as_too_large_are_split_and_a_row_too_large_alone_is_rejected_too_large() {
    let mut config = SandboxConfig::fast();
    config.rate = 1000.0;
    config.burst = 1000.0;
    config.max_request_bytes = 40_000;
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut csv = std::fs::File::create(dir.path().join("notes.csv")).expect("csv");
    writeln!(csv, "Code,Name,Notes").expect("write");
    for i in 0..ROWS {
        // About 6 KB per row: ten rows (one batch) are over the limit, five are not.
        let notes = if i == HUGE_ROW { "n".repeat(60_000) } else { "n".repeat(6_000) };
        writeln!(csv, "T{i:03},Name{i},{notes}").expect("write");
    }
    drop(csv);
    let mapping = dir.path().join("notes.toml");
    std::fs::write(
        &mapping,
        "name = \"notes\"\n[source]\npath = \"notes.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
         origin = \"stops\"\n[fields]\nname = \"Name\"\ncomments = \"Notes\"\n",
    )
    .expect("mapping");
    let journal = dir.path().join("j.sqlite");
    let webhook = sandbox.webhook_url();
    let run = tokio::task::spawn_blocking({
        let (mapping, journal) = (mapping.clone(), journal.clone());
        move || {
            Process::new(env!("CARGO_BIN_EXE_b24import"))
                .arg("run")
                .arg(&mapping)
                .arg("--journal")
                .arg(&journal)
                .args(["--webhook", &webhook, "--batch-size", "10", "--rate", "1000", "--burst", "100"])
                .output()
                .expect("binary")
        }
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "one row rejected\n{stdout}\n{stderr}");
    let state = sandbox.snapshot();
    assert_eq!(state.items.get("3").copied(), Some(ROWS as u64 - 1), "{stdout}");
    assert_eq!(state.duplicates.items, 0);
    let too_large = state.refusals.get("REQUEST_ENTITY_TOO_LARGE").copied().unwrap_or(0);
    // Each refused size is learnt: a handful of 413s, not twenty resends of every row.
    assert!((1..=6).contains(&too_large), "{too_large} requests refused as too large");

    let rejects = dir.path().join("rejects.csv");
    let out = Process::new(env!("CARGO_BIN_EXE_b24import"))
        .arg("rejects")
        .arg("--journal")
        .arg(&journal)
        .arg("--out")
        .arg(&rejects)
        .output()
        .expect("rejects");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut reader = csv::Reader::from_path(&rejects).expect("rejects csv");
    let headers: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(&rows[0][0], format!("T{HUGE_ROW:03}").as_str());
    assert_eq!(&rows[0][col("_error_code")], "too_large");
    let text = &rows[0][col("_error")];
    assert!(text.contains("bytes") && text.contains("MiB"), "its size: {text}");
    assert!(text.contains("`comments`") && text.contains("`Notes`"), "the field that made it large: {text}");
    sandbox.stop().await;
}
