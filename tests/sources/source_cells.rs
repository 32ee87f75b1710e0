//! Cells that cannot be trusted are row errors or notes, never silent blanks: control
//! characters, formulas with no saved value, a hidden first sheet, merged ranges; checked
//! through `b24import validate` (and `run` for the notes).
#![cfg_attr(not(feature = "sandbox"), allow(unused_imports))] // what the sandbox tests use

use crate::common;
use crate::source_fixtures;

use std::process::Command;

#[cfg(feature = "sandbox")]
use b24import::sandbox::Sandbox;
use b24import::transport::Rate;
use source_fixtures::{XSheet, ods_table, row, s, text, validate_file, write_mapping, xlsx};

fn header() -> String {
    row(1, &[s("A1", "Code"), s("B1", "Name")])
}

// Regression: a NUL in a cell was sent to the portal as it was.
#[test]
fn a_control_character_in_a_csv_cell_is_a_row_error_naming_the_cell() {
    let (code, out, err) =
        validate_file("c.csv", b"Code,Name\n1,Ac\x00me\n2,Beta\n3,Tab\tbed\n4,Bell\x07\n", "");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("4 read, 2 valid, 2 invalid"), "{out}");
    assert!(out.contains("control_character 2"), "{out}");
    assert!(
        out.contains(
            "c.csv:2  Name  \"Ac\\u{0}me\"  control character U+0000 at position 3: remove it from the cell"
        ),
        "{out}"
    );
    assert!(out.contains("c.csv:5  Name  \"Bell\\u{7}\"  control character U+0007 at position 5"), "{out}");
    assert!(!out.contains('\0'), "the raw NUL is never printed");
}

#[test]
fn a_control_character_in_a_spreadsheet_cell_is_a_row_error_naming_the_cell() {
    let data = format!("{}{}", header(), row(2, &[s("A2", "1"), s("B2", "Ac_x0001_me")]));
    let (code, out, err) = validate_file("b.xlsx", &xlsx(&[XSheet::new("Sheet1", data)]), "");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("b.xlsx:Sheet1!2  Name"), "{out}");
    assert!(out.contains("cell B2: control character U+0001 at position 3"), "{out}");
}

// Regression: a formula cell without a cached value read as a blank cell.
#[test]
fn a_formula_with_no_saved_value_is_a_row_error_naming_the_cell() {
    let data = format!(
        "{}{}{}",
        header(),
        row(2, &[s("A2", "1"), r#"<c r="B2"><f>CONCAT("Ac","me")</f></c>"#.to_string()]),
        // An empty text result is a saved value, not a missing one.
        row(3, &[s("A3", "2"), s("B3", "Beta"), r#"<c r="C3" t="str"><f>""</f><v></v></c>"#.to_string()]),
    );
    let (code, out, err) = validate_file("b.xlsx", &xlsx(&[XSheet::new("Sheet1", data)]), "");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("2 read, 1 valid, 1 invalid"), "{out}");
    assert!(out.contains("formula_without_value 1"), "{out}");
    assert!(
        out.contains(
            "b.xlsx:Sheet1!2  Name  cell B2 holds a formula with no saved value: open and save the file in Excel or LibreOffice"
        ),
        "{out}"
    );
}

#[test]
fn a_formula_with_no_saved_value_in_an_ods_is_a_row_error() {
    let cell = |t: &str| {
        format!(r#"<table:table-cell office:value-type="string"><text:p>{t}</text:p></table:table-cell>"#)
    };
    let table = format!(
        "<table:table-row>{}{}</table:table-row><table:table-row>{}{}</table:table-row>",
        cell("Code"),
        cell("Name"),
        cell("1"),
        r#"<table:table-cell table:formula="of:=[.A2]&amp;&quot;x&quot;"/>"#
    );
    let (code, out, err) = validate_file("b.ods", &ods_table(&table), "");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("cell B2 holds a formula with no saved value"), "{out}");
}

fn hidden_first_sheet() -> Vec<u8> {
    let lookup = format!("{}{}", header(), row(2, &[s("A2", "X"), s("B2", "Lookup")]));
    let data = format!(
        "{}{}{}",
        header(),
        row(2, &[s("A2", "1"), s("B2", "Acme")]),
        row(3, &[s("A3", "2"), s("B3", "Beta")])
    );
    xlsx(&[XSheet { state: Some("hidden"), ..XSheet::new("Lists", lookup) }, XSheet::new("Companies", data)])
}

// Regression: with no `sheet`, a hidden first sheet (a lookup list) was imported instead.
#[test]
fn a_hidden_first_sheet_is_skipped_with_a_note_naming_both_sheets() {
    let (code, out, err) = validate_file("b.xlsx", &hidden_first_sheet(), "");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("2 read, 2 valid"), "{out}");
    assert!(
        out.contains(
            "the first sheet `Lists` is hidden or not a worksheet; read `Companies`, the first visible sheet"
        ),
        "{out}"
    );
}

#[test]
fn a_hidden_sheet_named_in_the_mapping_is_read_as_asked() {
    let (code, out, err) = validate_file("b.xlsx", &hidden_first_sheet(), "sheet = \"Lists\"");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("1 read, 1 valid"), "{out}");
    assert!(!out.contains("hidden"), "{out}");
}

// Regression: merged cells read as blanks below their top-left cell, without a word.
#[test]
fn merged_ranges_below_the_header_are_a_note_listing_them() {
    let data = format!(
        "{}{}{}",
        row(1, &[s("A1", "Title over everything")]),
        row(2, &[s("A2", "Code"), s("B2", "Name")]),
        row(3, &[s("A3", "1"), s("B3", "Acme")]) + &row(4, &[s("A4", "2")]),
    );
    let tail = r#"<mergeCells count="2"><mergeCell ref="A1:B1"/><mergeCell ref="B3:B4"/></mergeCells>"#;
    let sheet = XSheet { tail: tail.to_string(), ..XSheet::new("Sheet1", data) };
    let (code, out, err) = validate_file("b.xlsx", &xlsx(&[sheet]), "header_row = 2");
    assert!(matches!(code, Some(0 | 1)), "{out}{err}");
    assert!(out.contains("2 read"), "{out}");
    assert!(
        out.contains("sheet `Sheet1` has merged cells (B3:B4): only the top-left cell of a merged range holds the value"),
        "{out}"
    );
    assert!(!out.contains("A1:B1"), "the title above the header does not matter: {out}");
}

#[cfg(feature = "sandbox")] // runs against the embedded sandbox portal
#[tokio::test(flavor = "multi_thread")]
async fn source_notes_reach_the_run_summary() {
    let sandbox =
        Sandbox::start(common::sandbox_config(Rate { per_second: 200.0, burst: 50 })).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("b.xlsx"), hidden_first_sheet()).expect("workbook");
    let mapping = write_mapping(dir.path(), "b.xlsx", "");
    let child = Command::new(env!("CARGO_BIN_EXE_b24import"))
        .arg("run")
        .arg(&mapping)
        .arg("--journal")
        .arg(dir.path().join("j.sqlite"))
        .args(["--webhook", &sandbox.webhook_url(), "--rate", "200", "--burst", "50"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("binary starts");
    let out =
        tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("output");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("note: the first sheet `Lists` is hidden or not a worksheet; read `Companies`"),
        "{stdout}"
    );
    sandbox.stop().await;
}
