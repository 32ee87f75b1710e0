//! No row data in the journal: a contact with a big file, a distinctive name and phone leaves
//! none of them in any journal file, the journal stays small, and a nightly re-run still
//! sends only the field that changed.

use crate::common;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use b24import::pipeline::RunReport;
use b24import::sandbox::Sandbox;
use b24import::transport::{Credentials, Plan, Rate, Transport, TransportConfig, Webhook};

const RATE: Rate = Rate { per_second: 200.0, burst: 50 };

/// Repeats with a period of 24 bytes, so its base64 repeats every 32 characters.
const FILE_BODY: &[u8; 24] = b"QUORRINGTON-FILE-BODY-X-";
const NAME: &str = "Zebediah Quorrington";
const PHONE: &str = "+7 999 876-54-32";

/// Three contacts; the first carries a 1 MiB file (bigger than the whole journal may be).
fn fixture(dir: &Path, first_name: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("files")).expect("dir");
    let mut f = std::fs::File::create(dir.join("files/cv.bin")).expect("file");
    for _ in 0..(1024 * 1024 / FILE_BODY.len()) {
        f.write_all(FILE_BODY).expect("write");
    }
    let csv = format!(
        "Code,Name,Phone,File\nK1,{first_name},{PHONE},cv.bin\nK2,Ann Lee,+7 916 000-00-02,\nK3,Bob Ray,+7 916 000-00-03,\n"
    );
    std::fs::write(dir.join("people.csv"), csv).expect("csv");
    let mapping = dir.join("people.toml");
    std::fs::write(
        &mapping,
        "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\nmode = \"upsert\"\n\
         [fields]\nname = \"Name\"\nufCrm_1700000002 = { column = \"File\", type = \"file\", base_dir = \"files\" }\n\
         [[fm]]\ntype = \"PHONE\"\ncolumn = \"Phone\"\n",
    )
    .expect("mapping");
    mapping
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_journal_keeps_no_names_phones_or_files_and_a_rerun_sends_only_the_change() {
    // Regression: rows.fields stored every payload (a 20 MiB file made a 27 MiB journal row).
    use base64::Engine as _;
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    // A big request in a debug build: more time than the shared helper's 2 s.
    let mut tc = TransportConfig::new(
        Credentials::Webhook(Webhook::parse(&sandbox.webhook_url()).expect("sandbox webhook")),
        Plan::Standard,
    );
    tc.limiter.rate = RATE;
    tc.timeout = std::time::Duration::from_secs(60);
    let transport = Transport::new(tc).expect("transport");
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = fixture(dir.path(), NAME);
    let jdir = dir.path().join("journal");
    let journal = jdir.join("j.sqlite");
    let first = run(&mapping, &journal, &transport).await;
    assert_eq!(first.steps[0].created, 3, "{first:?}");

    let body_b64 = base64::engine::general_purpose::STANDARD.encode(FILE_BODY);
    let mut total = 0;
    for entry in std::fs::read_dir(&jdir).expect("journal dir") {
        let path = entry.expect("entry").path();
        let bytes = std::fs::read(&path).expect("read");
        total += bytes.len();
        for needle in [NAME, "Quorrington", "8765432", "876-54-32", body_b64.as_str()] {
            assert!(!contains(&bytes, needle), "`{needle}` is in {}", path.display());
        }
    }
    assert!(total < 256 * 1024, "the journal stays small: {total} bytes");

    let item = |items: &[serde_json::Value]| {
        items.iter().find(|i| i["originId"] == "K1").cloned().expect("K1 in the sandbox")
    };
    let before = item(&common::sandbox_items(&sandbox, 3).await);
    let file_id = before["ufCrm_1700000002"]["id"].clone();
    assert!(file_id.as_u64().is_some(), "the file reached the portal: {before}");

    // The nightly run: only K1's name changed.
    fixture(dir.path(), "Zebediah Quorrington-Smythe");
    let counts = |s: &b24import::sandbox::SandboxHandle| s.request_counts();
    let was = counts(&sandbox);
    let nightly = run(&mapping, &journal, &transport).await;
    let now = counts(&sandbox);
    let delta = |m: &str| now.get(m).copied().unwrap_or(0) - was.get(m).copied().unwrap_or(0);
    assert_eq!((delta("crm.item.update"), delta("crm.item.add")), (1, 0), "{nightly:?}");
    let after = item(&common::sandbox_items(&sandbox, 3).await);
    assert_eq!(after["name"], "Zebediah Quorrington-Smythe");
    assert_eq!(after["ufCrm_1700000002"]["id"], file_id, "the file was not sent again: {after}");
    assert_eq!(after["fm"].as_array().map_or(0, Vec::len), 1, "the phone was not sent again: {after}");
    sandbox.stop().await;
}

async fn run(mapping: &Path, journal: &Path, transport: &Transport) -> RunReport {
    common::run_in_process(&[mapping.to_path_buf()], journal, transport, RATE).await
}
