//! `b24import rejects` through the real binary: rejected rows are paired with their source rows
//! by key (an edited source does not move errors onto other rows), a row gone from the source
//! is still listed, and the source is found from any working directory.

use crate::cli_support;

use b24import::journal::{Journal, StepSpec};
use b24import::sandbox::Sandbox;
use cli_support::{b24, people, read_csv, run, s, shown, spoil_two_rows};

/// Rows of the rejects file, header first, as (Code, _row, _error_code).
fn pairs(rows: &[Vec<String>]) -> Vec<(String, String, String)> {
    rows.iter().skip(1).map(|r| (r[0].clone(), r[6].clone(), r[7].clone())).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn rejects_pairs_each_error_with_its_row_after_lines_were_deleted() {
    // Regression (issue 8): a deleted line shifted every error onto the wrong row.
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 10, "create");
    spoil_two_rows(dir.path());
    let journal = s(&dir.path().join("j.sqlite"));
    let out = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));

    // P00001 (line 3) and the rejected P00002 (line 4) leave the file: P00005 moves from line 7 to 5.
    cli_support::edit_csv(dir.path(), "P00001,Name1,Last1,p1@example.com,+7 916 001 0001,41\n", "");
    cli_support::edit_csv(dir.path(), "P00002,Name2,Last2,p2@example.com,+7 916 002 0002,77\n", "");
    let file = dir.path().join("rejects.csv");
    let out =
        b24(dir.path(), vec!["rejects".into(), "--journal".into(), journal, "--out".into(), s(&file)]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let rows = read_csv(&file);
    assert_eq!(rows[0], ["Code", "Name", "Last", "Email", "Phone", "Tier", "_row", "_error_code", "_error"]);
    let mut got = pairs(&rows);
    got.sort();
    assert_eq!(
        got,
        [
            ("P00002".into(), "people.csv:4".into(), "CRM_FIELD_ERROR_VALUE_NOT_VALID".into()),
            ("P00005".into(), "people.csv:5".into(), "invalid_email".into()),
        ],
        "{}",
        shown(&out)
    );
    let p5 = rows.iter().find(|r| r[0] == "P00005").expect("P00005");
    assert_eq!(p5[3], "not-an-email", "the original cells of the row itself: {p5:?}");
    let gone = rows.iter().find(|r| r[0] == "P00002").expect("P00002");
    assert_eq!(gone[1], "", "no cells for a row the source no longer has: {gone:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("changed since the journal recorded it"), "{err}");
    assert!(err.contains("1 rejected row(s) are no longer in the source (P00002)"), "{err}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rejects_finds_the_source_from_another_working_directory() {
    // Regression (issue 8): mapping paths were kept relative to where `run` was started.
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    people(dir.path(), 10, "create");
    spoil_two_rows(dir.path());
    // Started in the mapping's directory with a relative path: the default journal is
    // ./.b24import/import.sqlite.
    let out = b24(
        dir.path(),
        vec![
            "run".into(),
            "people.toml".into(),
            "--webhook".into(),
            sandbox.webhook_url(),
            "--rate".into(),
            "200".into(),
            "--burst".into(),
            "50".into(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let journal = dir.path().join(".b24import").join("import.sqlite");
    let elsewhere = tempfile::tempdir().expect("another directory");
    let file = elsewhere.path().join("rejects.csv");
    let rejects = |cwd: std::path::PathBuf| {
        let args = vec!["rejects".into(), "--journal".into(), s(&journal), "--out".into(), s(&file)];
        async move { b24(&cwd, args).await }
    };
    let out = rejects(elsewhere.path().to_path_buf()).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(out.stderr.is_empty(), "the source and its fingerprint were found: {}", shown(&out));
    let mut got = pairs(&read_csv(&file));
    got.sort();
    assert_eq!(
        got,
        [
            ("P00002".into(), "people.csv:4".into(), "CRM_FIELD_ERROR_VALUE_NOT_VALID".into()),
            ("P00005".into(), "people.csv:7".into(), "invalid_email".into()),
        ],
        "{}",
        shown(&out)
    );

    // A journal from an earlier version holds the path as typed: found next to the journal.
    let step = Journal::open(&journal).expect("journal").steps().expect("steps").remove(0);
    assert!(std::path::Path::new(&step.mapping_path).is_absolute(), "stored absolute: {}", step.mapping_path);
    Journal::open(&journal)
        .expect("journal")
        .upsert_step(&StepSpec {
            name: "people",
            mapping_path: std::path::Path::new("people.toml"),
            entity: "contact",
            order: 0,
            source: &dir.path().join("people.csv").canonicalize().expect("source"),
            source_sha256: None,
        })
        .expect("old-style step");
    let out = rejects(elsewhere.path().to_path_buf()).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(read_csv(&file).len(), 3, "{}", shown(&out));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{}", shown(&out));

    // Nowhere to be found: every path tried is named.
    std::fs::rename(dir.path().join("people.toml"), dir.path().join("moved.toml")).expect("move");
    let out = rejects(elsewhere.path().to_path_buf()).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("was not found; tried people.toml, "), "{err}");
    assert!(err.contains(&s(&dir.path().join("people.toml"))), "{err}");
    let rows = read_csv(&file);
    assert_eq!(rows[0], ["_key", "_row", "_error_code", "_error"]);
    assert_eq!(rows.len(), 3, "keys only, still every rejected row: {rows:?}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rejects_of_a_keyless_step_after_the_source_changed_say_rows_pair_by_line() {
    // Regression (issue 16): a step without `key` was said to be "paired with the journal by
    // their key" after its source changed, while every row pairs by line number.
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 6, "create");
    let toml = std::fs::read_to_string(&mapping).expect("mapping").replace("key = \"Code\"\n", "");
    std::fs::write(&mapping, toml).expect("mapping");
    spoil_two_rows(dir.path());
    let journal = s(&dir.path().join("j.sqlite"));
    let out = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    cli_support::edit_csv(dir.path(), "P00001,Name1,Last1,p1@example.com,+7 916 001 0001,41\n", "");
    let file = dir.path().join("rejects.csv");
    let out =
        b24(dir.path(), vec!["rejects".into(), "--journal".into(), journal, "--out".into(), s(&file)]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("changed since the journal recorded it"), "{err}");
    assert!(!err.contains("by their key"), "{err}");
    assert!(err.contains("has no `key`") && err.contains("by line number"), "{err}");
    sandbox.stop().await;
}
