//! `b24import status` through the real binary: rows in flight are shown, and the ETA covers the
//! whole source, not only the rows a run has reached so far.

use crate::cli_support;

use b24import::journal::{Journal, StepSpec, Transition};
use cli_support::{b24, people, shown};

/// A journal as a run killed early leaves it: 10 of 100 source rows seen, 4 finished, 3 in
/// flight, 3 pending; no `source_rows` yet (the run never read the source to the end).
fn killed_run_journal(dir: &std::path::Path) -> std::path::PathBuf {
    let mapping = people(dir, 100, "create");
    let path = dir.join("j.sqlite");
    let mut j = Journal::open(&path).expect("journal");
    j.begin_run("import", "people.toml").expect("run");
    let step = j
        .upsert_step(&StepSpec {
            name: "people",
            mapping_path: &mapping,
            entity: "contact",
            order: 0,
            source: &dir.join("people.csv"),
            source_sha256: None,
        })
        .expect("step");
    let keys: Vec<String> = (0..10).map(|i| format!("P{i:05}")).collect();
    let rows: Vec<(&str, Transition<'_>)> = keys
        .iter()
        .map(|k| (k.as_str(), Transition::Pending { row_ref: "people.csv:2", payload_hash: "h" }))
        .collect();
    j.apply(step, &rows).expect("pending");
    let sent: Vec<(&str, Transition<'_>)> =
        keys[..7].iter().map(|k| (k.as_str(), Transition::Sent)).collect();
    j.apply(step, &sent).expect("sent");
    let done: Vec<(&str, Transition<'_>)> = keys[..4]
        .iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), Transition::Done { id: i as u64 + 1, existing: false }))
        .collect();
    j.apply(step, &done).expect("done");
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn status_shows_rows_in_flight_and_counts_unread_source_rows_as_to_do() {
    // Regression (issue 8): `sent` rows were folded into pending, and the ETA covered only the
    // rows already in the journal.
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = killed_run_journal(dir.path());
    let journal = journal.to_str().expect("utf-8").to_string();
    let out =
        b24(dir.path(), vec!["status".into(), "--json".into(), "--journal".into(), journal.clone()]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json");
    let step = &json["steps"][0];
    assert_eq!(step["sent"], 3, "{json}");
    assert_eq!(step["pending"], 3, "{json}");
    assert_eq!(step["done"], 4, "{json}");
    assert_eq!(step["total"], 100, "the source's rows, counted: {json}");
    assert_eq!(step["to_do"], 96, "{json}");
    let eta = json["eta_secs"].as_f64().expect("an ETA");
    let rate = json["rows_per_sec"].as_f64().expect("a pace");
    assert!((eta - 96.0 / rate).abs() < 1e-6 * eta.max(1.0), "ETA over 96 rows: {json}");

    let text = b24(dir.path(), vec!["status".into(), "--journal".into(), journal]).await;
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("in flight"), "{stdout}");
    assert!(stdout.contains("96 row(s) to do, ETA"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn status_takes_the_source_row_count_a_run_recorded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = killed_run_journal(dir.path());
    Journal::open(&journal)
        .expect("journal")
        .set_meta(&b24import::journal::keys::source_rows_meta("people"), "1000")
        .expect("meta");
    let out = b24(
        dir.path(),
        vec!["status".into(), "--json".into(), "--journal".into(), journal.to_str().expect("utf-8").into()],
    )
    .await;
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status --json");
    assert_eq!(json["steps"][0]["total"], 1000, "{json}");
    assert_eq!(json["steps"][0]["to_do"], 996, "{json}");
}
