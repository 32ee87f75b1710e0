//! Helpers shared by the end-to-end tests: an in-process sandbox and a transport to it.
#![allow(dead_code)] // each test file uses its own subset
#![cfg_attr(not(feature = "sandbox"), allow(unused_imports))] // what the sandbox tests use

use std::time::Duration;

#[cfg(feature = "sandbox")]
use b24import::sandbox::{SandboxConfig, SandboxHandle};
use b24import::transport::{Credentials, Plan, Rate, Transport, TransportConfig, Webhook};

#[cfg(feature = "sandbox")]
/// A sandbox without simulated processing time, its bucket set to `rate`.
pub fn sandbox_config(rate: Rate) -> SandboxConfig {
    let mut c = SandboxConfig::fast();
    c.rate = rate.per_second;
    c.burst = f64::from(rate.burst);
    c
}

#[cfg(feature = "sandbox")]
/// A webhook transport to `sandbox`, paced at `rate`, with a short client timeout.
pub fn webhook_transport(sandbox: &SandboxHandle, rate: Rate) -> Transport {
    let mut tc = TransportConfig::new(
        Credentials::Webhook(Webhook::parse(&sandbox.webhook_url()).expect("sandbox webhook")),
        Plan::Standard,
    );
    tc.limiter.rate = rate;
    tc.timeout = Duration::from_secs(2);
    Transport::new(tc).expect("transport")
}

#[cfg(feature = "sandbox")]
/// Every item of `entity_type_id` the sandbox holds (`/_sandbox/items`).
pub async fn sandbox_items(sandbox: &SandboxHandle, entity_type_id: u32) -> Vec<serde_json::Value> {
    let body: serde_json::Value =
        reqwest::get(format!("{}/_sandbox/items?entityTypeId={entity_type_id}", sandbox.base_url()))
            .await
            .expect("items")
            .json()
            .await
            .expect("json");
    body.get("items")
        .and_then(|i| i.as_array())
        .cloned()
        .unwrap_or_else(|| body.as_array().cloned().unwrap_or_default())
}

/// A file of `samples/`.
pub fn sample(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples").join(name)
}

/// Opens `path` as a source with options changed by `configure`.
pub fn open_with(
    path: &std::path::Path,
    configure: impl FnOnce(&mut b24import::source::SourceOptions),
) -> Result<Box<dyn b24import::source::Source>, b24import::source::SourceError> {
    let mut options = b24import::source::SourceOptions::new(path);
    configure(&mut options);
    b24import::source::open(&options, b24import::source::BytesRead::default())
}

/// Every record of `source`; a row the reader cannot read fails the test.
pub fn read_all(source: Box<dyn b24import::source::Source>) -> Vec<b24import::source::Record> {
    source.map(|r| r.expect("every row reads")).collect()
}

/// The cells of `record` as text.
pub fn cells(record: &b24import::source::Record) -> Vec<&str> {
    record.cells.iter().collect()
}

/// `n` contacts `P{from}`..`P{from + n - 1}` with a name only (`people.csv`) and their mapping
/// (`people.toml`, step `people`, key `Code`, `origin`) in `dir`; the mapping's path.
pub fn name_only_contacts(dir: &std::path::Path, from: usize, n: usize, origin: &str) -> std::path::PathBuf {
    let mut csv = String::from("Code,Name\n");
    for i in from..from + n {
        csv.push_str(&format!("P{i},Name{i}\n"));
    }
    std::fs::write(dir.join("people.csv"), csv).expect("csv");
    let mapping = dir.join("people.toml");
    std::fs::write(
        &mapping,
        format!(
            "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\n\
             entity = \"contact\"\norigin = \"{origin}\"\n[fields]\nname = \"Name\"\n"
        ),
    )
    .expect("mapping");
    mapping
}

/// Runs `mappings` in-process to the end (journal `journal`, job `test`, batches of 50), with
/// the ideal time computed at `rate`.
pub async fn run_in_process(
    mappings: &[std::path::PathBuf],
    journal: &std::path::Path,
    transport: &Transport,
    rate: Rate,
) -> b24import::pipeline::RunReport {
    let opts = b24import::pipeline::RunOptions::new(mappings.to_vec(), journal.to_path_buf(), "test");
    b24import::pipeline::run(
        &opts,
        transport,
        b24import::pipeline::PlanRate { per_second: rate.per_second, burst: rate.burst },
    )
    .await
    .expect("run finishes")
}

#[cfg(feature = "sandbox")]
/// Calls `method` on the sandbox and returns `result` (panics on an error answer).
pub async fn call(sandbox: &SandboxHandle, method: &str, params: serde_json::Value) -> serde_json::Value {
    let url = format!("{}{method}", sandbox.webhook_url());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let body: serde_json::Value = reqwest::Client::new()
        .post(url)
        .json(&params)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert!(body.get("error").is_none(), "{method}: {body}");
    body["result"].clone()
}
