//! The whole record's mapping keys (issue 20) checked offline through `b24import validate`:
//! the examples validate as one job and `--emit` shows their payloads (the owner as a
//! `$parent` marker, `PRESET_ID` 0 until `--online` or `run` reads the presets); a requisite
//! needs its preset, `preset` belongs to requisites only, the import's own fields cannot be
//! mapped, and each kind hangs only on the parents its add page allows.

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

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

const EXAMPLES: [&str; 6] = [
    "mappings/examples/record_companies.toml",
    "mappings/examples/record_contacts.toml",
    "mappings/examples/record_deals.toml",
    "mappings/examples/record_requisites.toml",
    "mappings/examples/record_banks.toml",
    "mappings/examples/record_addresses.toml",
];

#[test]
fn the_record_examples_validate_as_one_job_and_emit_their_payloads() {
    let dir = tempfile::tempdir().expect("dir");
    let emit = dir.path().join("emit.jsonl");
    let mut args = vec!["validate"];
    args.extend(EXAMPLES);
    args.extend(["--emit", emit.to_str().expect("utf-8")]);
    let out = b24import(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&emit)
        .expect("emit")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let of = |key: &str| lines.iter().find(|l| l["key"] == key).cloned().unwrap_or_else(|| panic!("{key}"));
    assert_eq!(
        of("D1")["params"]["fields"]["contactIds"],
        serde_json::json!([{"$lookup": "record_contacts", "key": "C1"}, {"$lookup": "record_contacts", "key": "C2"}])
    );
    let req = of("R1");
    assert_eq!(req["method"], "crm.requisite.add");
    assert_eq!(
        req["params"]["fields"],
        serde_json::json!({
            "ENTITY_TYPE_ID": 4, "ENTITY_ID": {"$parent": "record_companies", "key": "F1"}, "PRESET_ID": 0,
            "XML_ID": "R1", "NAME": "Acme, LLC", "RQ_COMPANY_NAME": "Acme, LLC", "RQ_INN": "7701234567",
            "RQ_KPP": "770101001"
        })
    );
    let bank = of("B1");
    assert_eq!(bank["method"], "crm.requisite.bankdetail.add");
    assert_eq!(
        bank["params"]["fields"]["ENTITY_ID"],
        serde_json::json!({"$parent": "record_requisites", "key": "R1"})
    );
    assert_eq!(bank["params"]["fields"]["XML_ID"], "B1");
    let address = of("A1");
    assert_eq!(address["method"], "crm.address.add");
    assert_eq!(address["params"]["fields"]["ENTITY_TYPE_ID"], 8);
    assert_eq!(address["params"]["fields"]["TYPE_ID"], 6);
}

/// `validate` of the record examples with one file's text changed by `edit`.
fn with_edit(file: &str, edit: impl Fn(String) -> String) -> Output {
    let dir = tempfile::tempdir().expect("dir");
    let mut paths = Vec::new();
    for example in EXAMPLES {
        let text = std::fs::read_to_string(repo().join(example)).expect("example");
        let text = text.replace("../../samples/", &format!("{}/samples/", repo().display()));
        let text = if example.ends_with(file) { edit(text) } else { text };
        let path = dir.path().join(Path::new(example).file_name().expect("name"));
        std::fs::write(&path, text).expect("write");
        paths.push(path);
    }
    let mut args = vec!["validate".to_string()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let out = Command::new(env!("CARGO_BIN_EXE_b24import")).args(&args).output().expect("binary runs");
    drop(dir);
    out
}

#[test]
fn a_requisite_needs_its_preset() {
    let out = with_edit("record_requisites.toml", |t| {
        t.lines().filter(|l| !l.starts_with("preset =")).collect::<Vec<_>>().join("\n")
    });
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("record_requisites.toml:10:"), "{}", text(&out));
    assert!(
        text(&out).contains("a requisite step needs its preset: preset = \"Organization\""),
        "{}",
        text(&out)
    );
}

#[test]
fn preset_belongs_to_requisites_only() {
    let out =
        with_edit("record_banks.toml", |t| t.replace("[fields]", "preset = \"Organization\"\n\n[fields]"));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(
            "`preset` applies to requisite steps (entity = \"requisite\"), not to a bank_detail step"
        )
    );
}

#[test]
fn the_owner_and_the_key_are_the_imports_own() {
    let out = with_edit("record_requisites.toml", |t| {
        t.replace("RQ_INN = \"INN\"", "ENTITY_ID = \"Company\"\nXML_ID = \"INN\"")
    });
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains(
            "field `ENTITY_ID` of a requisite step is set by the import (from `parent` in [target])"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("field `XML_ID` of a requisite step is set by the import (from the row key)"),
        "{shown}"
    );
}

#[test]
fn a_bank_detail_hangs_on_a_requisite_and_a_requisite_on_a_company_or_contact() {
    let out = with_edit("record_banks.toml", |t| {
        t.replace("step = \"record_requisites\"", "step = \"record_companies\"")
    });
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains(
            "step `record_banks` hangs on step `record_companies`, a company step: the parent of bank details and \
             addresses must be a requisite step"
        ),
        "{}",
        text(&out)
    );
    let out = with_edit("record_requisites.toml", |t| {
        t.replace(
            "step = \"record_companies\", column = \"Company\"",
            "step = \"record_deals\", column = \"Company\"",
        )
    });
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("a deal step: a requisite's parent must be a company or contact step"),
        "{}",
        text(&out)
    );
}

#[test]
fn an_address_needs_its_type() {
    let out = with_edit("record_addresses.toml", |t| {
        t.lines().filter(|l| !l.starts_with("TYPE_ID")).collect::<Vec<_>>().join("\n")
    });
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("address step needs a `TYPE_ID` field"), "{}", text(&out));
}
