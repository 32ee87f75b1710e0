//! A quote that never closes must not swallow rows: `validate` and `run` stop with exit 2,
//! naming the line where the quote opened; nor must two stray quotes a few dozen lines apart
//! (both lines named); real multi-line cells still read, and address blocks whose lines look
//! like rows read with `multiline_cells = true`.
#![cfg_attr(not(feature = "sandbox"), allow(unused_imports))] // what the sandbox tests use

use crate::common;
use crate::source_fixtures;

use std::fmt::Write as _;
use std::process::Command;

#[cfg(feature = "sandbox")]
use b24import::sandbox::Sandbox;
use b24import::transport::Rate;
use source_fixtures::{text, validate, write_mapping};

/// A CSV of `rows` data rows; `stray` (1-based data row) gets a quote that never closes.
fn csv_with_stray_quote(rows: usize, stray: Option<usize>) -> String {
    let mut csv = String::from("Code,Name,Notes\n");
    for i in 1..=rows {
        let notes = if stray == Some(i) { "\"5 inch pipe" } else { "plain" };
        writeln!(csv, "C{i:04},Company {i},{notes}").expect("write to a String");
    }
    csv
}

// Regression: a stray quote at row 7 of 1,000 made the rest of the file one cell; `validate`
// read 6 rows and exited 0.
#[test]
fn a_stray_quote_in_a_1000_row_file_fails_validate_naming_its_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("c.csv"), csv_with_stray_quote(1000, Some(7))).expect("csv");
    let out = validate(&write_mapping(dir.path(), "c.csv", ""));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    // Data row 7 is on line 8 (the header is line 1).
    assert!(stderr.contains("c.csv:8: a quoted cell (column `Notes`) opens here"), "{stderr}");
    assert!(stderr.contains("stray `\"`"), "{stderr}");
}

#[test]
fn a_stray_quote_near_the_end_that_runs_to_the_end_of_the_file_fails_validate() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("c.csv"), csv_with_stray_quote(1000, Some(995))).expect("csv");
    let out = validate(&write_mapping(dir.path(), "c.csv", ""));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("c.csv:996: a quoted cell (column `Notes`) opens here and never closes"),
        "{stderr}"
    );
}

#[test]
fn a_legitimate_multi_line_quoted_cell_still_reads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let notes = (1..=40).map(|i| format!("line {i}, with \"\"quotes\"\"")).collect::<Vec<_>>().join("\n");
    let csv = format!("Code,Name,Notes\nC1,Acme,\"{notes}\"\nC2,Beta,plain\n");
    std::fs::write(dir.path().join("c.csv"), csv).expect("csv");
    let out = validate(&write_mapping(dir.path(), "c.csv", ""));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("2 read, 2 valid"), "{stdout}");
}

// Regression: `run` noted "stopped reading" and exited 0 after importing the first rows.
#[cfg(feature = "sandbox")] // runs against the embedded sandbox portal
#[tokio::test(flavor = "multi_thread")]
async fn a_stray_quote_fails_the_run_with_exit_2() {
    let sandbox =
        Sandbox::start(common::sandbox_config(Rate { per_second: 200.0, burst: 50 })).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("c.csv"), csv_with_stray_quote(1000, Some(7))).expect("csv");
    let mapping = write_mapping(dir.path(), "c.csv", "");
    let journal = dir.path().join("j.sqlite");
    let child = Command::new(env!("CARGO_BIN_EXE_b24import"))
        .arg("run")
        .arg(&mapping)
        .arg("--journal")
        .arg(&journal)
        .args(["--webhook", &sandbox.webhook_url(), "--rate", "200", "--burst", "50"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary starts");
    let out =
        tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("output");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(stderr.contains("c.csv:8: a quoted cell (column `Notes`) opens here"), "{stderr}");
    sandbox.stop().await;
}

/// 200 rows of `Code,Name,Notes`; row 50's note opens a stray quote, row 100's (`12" pipe`)
/// closes it: rows 51 to 99 read as one cell.
#[cfg(feature = "sandbox")] // used by the run test only
fn csv_with_two_stray_quotes() -> String {
    let mut csv = String::from("Code,Name,Notes\n");
    for i in 1..=200 {
        let notes = match i {
            50 => "\"5 inch pipe",
            100 => "12\" pipe",
            _ => "plain",
        };
        writeln!(csv, "C{i:04},Company {i},{notes}").expect("write to a String");
    }
    csv
}

// Regression (issue 16): two stray quotes 50 lines apart made the rows between them one cell;
// `run` imported 151 of 200 rows and exited 0.
#[cfg(feature = "sandbox")] // runs against the embedded sandbox portal
#[tokio::test(flavor = "multi_thread")]
async fn two_stray_quotes_a_few_dozen_lines_apart_fail_the_run_naming_both_lines() {
    let sandbox =
        Sandbox::start(common::sandbox_config(Rate { per_second: 200.0, burst: 50 })).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("c.csv"), csv_with_two_stray_quotes()).expect("csv");
    let mapping = write_mapping(dir.path(), "c.csv", "");
    let journal = dir.path().join("j.sqlite");
    let webhook = sandbox.webhook_url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_b24import"))
            .arg("run")
            .arg(&mapping)
            .arg("--journal")
            .arg(&journal)
            .args(["--webhook", &webhook, "--rate", "200", "--burst", "50"])
            .output()
            .expect("binary runs")
    })
    .await
    .expect("join");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("c.csv:51: a quoted cell (column `Notes`) opens here and closes on line 101"),
        "{stderr}"
    );
    assert!(stderr.contains("49 line(s) inside it read as complete rows of 3 columns"), "{stderr}");
    assert!(stderr.contains("multiline_cells = true"), "{stderr}");
    // The rows before the stray quote are in; nothing from it on was read as a row.
    assert!(stdout.contains("49 read: 49 created"), "{stdout}");
    sandbox.stop().await;
}

#[test]
fn an_address_block_whose_lines_look_like_rows_reads_with_multiline_cells() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = "Code,Name,Notes\nC1,Acme,\"12 Main St\nFloor 3, Suite 5, rear\nSpringfield\"\nC2,Beta,plain\n";
    std::fs::write(dir.path().join("c.csv"), csv).expect("csv");
    // By default the middle line reads as a row of 3 columns: taken for two stray quotes.
    let out = validate(&write_mapping(dir.path(), "c.csv", ""));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("c.csv:2: a quoted cell (column `Notes`) opens here and closes on line 4")
    );
    // The setting says such cells are real.
    let out = validate(&write_mapping(dir.path(), "c.csv", "multiline_cells = true"));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("2 read, 2 valid"), "{stdout}");
}
