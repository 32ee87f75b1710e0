//! `b24import validate` run as a user runs it: the real binary on the bundled samples.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn b24import(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_b24import"))
        .args(args)
        .current_dir(repo())
        .output()
        .expect("binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn contacts_sample_reports_every_bad_row_and_exits_1() {
    let out = b24import(&["validate", "mappings/contacts.toml", "--max-problems", "50"]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    insta::assert_snapshot!("contacts_summary", text(&out.stdout));
}

#[test]
fn every_sample_mapping_validates_with_the_expected_counts() {
    let out = b24import(&[
        "validate",
        "mappings/companies.toml",
        "mappings/contacts.toml",
        "mappings/deals.toml",
        "mappings/users.toml",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    let counts: Vec<(String, u64, u64)> = json["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap_or("").to_string(),
                s["valid"].as_u64().unwrap_or(0),
                s["invalid"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    insta::assert_debug_snapshot!("all_samples_counts", counts);
    assert_eq!(json["ok"], serde_json::json!(false));
}

#[test]
fn emitted_payloads_are_the_exact_portal_calls() {
    let dir = tempfile::tempdir().expect("temp dir");
    let emit = dir.path().join("payloads.jsonl");
    let out =
        b24import(&["validate", "mappings/contacts.toml", "mappings/users.toml", "--emit", path_str(&emit)]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    let lines = std::fs::read_to_string(&emit).expect("emit file");
    // Base64 file contents are long; show their length instead.
    let shown: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
            if let Some(file) = v.pointer_mut("/params/fields/ufCrm_1700000002/1") {
                *file = serde_json::json!(format!("<base64, {} chars>", file.as_str().map_or(0, str::len)));
            }
            v
        })
        .collect();
    assert_eq!(shown.len(), 21 + 9);
    insta::assert_json_snapshot!("contacts_and_users_payloads", shown);
}

#[test]
fn rejects_file_keeps_original_columns_and_neutralises_formulas() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rejects = dir.path().join("rejects.csv");
    let out = b24import(&["validate", "mappings/contacts.toml", "--rejects", path_str(&rejects)]);
    assert_eq!(out.status.code(), Some(1));
    let mut reader = csv::Reader::from_path(&rejects).expect("rejects is CSV");
    let headers: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
    assert_eq!(headers.first().map(String::as_str), Some("Code"));
    assert_eq!(&headers[headers.len() - 2..], ["_row", "_error"]);
    let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("rows");
    assert_eq!(rows.len(), 8);
    for row in &rows {
        for cell in row.iter() {
            assert!(!cell.starts_with(['=', '+', '-', '@']), "formula-like cell left as is: {cell}");
        }
    }
    let birthday = rows.iter().find(|r| r.iter().any(|c| c == "31.02.1990")).expect("the bad birthday row");
    assert_eq!(&birthday[headers.len() - 2], "contacts_cp1251.csv:6");
    assert!(birthday[headers.len() - 1].contains("not a valid date"), "{:?}", birthday);
}

#[test]
fn several_mappings_write_one_rejects_file_per_step() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rejects = dir.path().join("rejects.csv");
    let out = b24import(&[
        "validate",
        "mappings/companies.toml",
        "mappings/users.toml",
        "--rejects",
        path_str(&rejects),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(dir.path().join("rejects.companies.csv").exists());
    assert!(dir.path().join("rejects.users.csv").exists());
}

#[test]
fn a_valid_file_exits_0() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("a.csv"), "Code,Name\n1,Ann\n2,Bob\n").expect("csv");
    std::fs::write(
        dir.path().join("m.toml"),
        "name = \"a\"\n[source]\npath = \"a.csv\"\nkey = \"Code\"\n[target]\nentity = \"company\"\n[fields]\ntitle = \"Name\"\n",
    )
    .expect("mapping");
    let out = b24import(&["validate", path_str(&dir.path().join("m.toml"))]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("2 read, 2 valid, 0 invalid"));
}

#[test]
fn a_broken_mapping_exits_2_and_names_the_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("a.csv"), "Code,Name\n1,Ann\n").expect("csv");
    let m = dir.path().join("m.toml");
    std::fs::write(&m, "name = \"a\"\n[source]\npath = \"a.csv\"\n[target]\nentity = \"company\"\n[fields]\ntitle = \"Nmae\"\n")
        .expect("mapping");
    let out = b24import(&["validate", path_str(&m)]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "m.toml:7:9: field `title`: column \"Nmae\" is not in the source header, did you mean `Name`?"
        ),
        "{err}"
    );
}

#[test]
fn a_non_utf8_file_without_encoding_exits_2_and_suggests_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (cp1251, _, _) = encoding_rs::WINDOWS_1251.encode("Code;Name\n1;Ann\n2;Иван Петров\n");
    std::fs::write(dir.path().join("a.csv"), &cp1251).expect("csv");
    let m = dir.path().join("m.toml");
    std::fs::write(&m, "name = \"a\"\n[source]\npath = \"a.csv\"\n[target]\nentity = \"company\"\n[fields]\ntitle = \"Name\"\n")
        .expect("mapping");
    let out = b24import(&["validate", path_str(&m)]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("a.csv:3"), "{err}");
    assert!(err.contains("encoding = \"windows-1251\""), "{err}");
}

#[test]
fn a_missing_source_file_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let m = dir.path().join("m.toml");
    std::fs::write(&m, "name = \"a\"\n[source]\npath = \"nope.csv\"\n[target]\nentity = \"company\"\n[fields]\ntitle = \"Name\"\n")
        .expect("mapping");
    let out = b24import(&["validate", path_str(&m)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("nope.csv"), "{}", text(&out.stderr));
}

#[test]
fn help_teaches_with_examples_and_exit_codes() {
    let out = b24import(&["validate", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(help.contains("Examples:") && help.contains("Exit codes:"), "{help}");
}
