//! Several links in one cell (issue 20): a multiple ID field (`contactIds`, `companyIds`,
//! `observers`) with `split` and `lookup` (or `user = "email"`) keeps one pending key per part,
//! each resolved at run time; a single ID field refuses several keys.

use std::path::Path;

use b24import::mapping::{self, Deferred, Diagnostics, MappingPlan};
use serde_json::json;

const HEADER: &str = "Deal,Title,Contacts,Companies,Watchers,Company\n";

fn compile(mapping: &str) -> Result<MappingPlan, Vec<String>> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("d.csv"), HEADER).expect("csv");
    let path = dir.path().join("m.toml");
    std::fs::write(&path, mapping).expect("mapping");
    let render =
        |d: Diagnostics| d.0.iter().map(|x| strip_dir(&x.to_string(), dir.path())).collect::<Vec<_>>();
    let file = mapping::load(&path).map_err(render)?;
    let headers: Vec<String> = HEADER.trim().split(',').map(str::to_string).collect();
    file.compile(&headers).map_err(render)
}

fn strip_dir(s: &str, dir: &Path) -> String {
    s.replace(&format!("{}/", dir.display()), "")
}

fn record(cells: &[&str]) -> b24import::source::Record {
    b24import::source::Record {
        row: b24import::source::RowRef { file: "d.csv".into(), sheet: None, line: 2 },
        cells: csv::StringRecord::from(cells.to_vec()),
        problems: Vec::new(),
    }
}

const DEALS: &str = r#"name = "deals"
[source]
path = "d.csv"
key = "Deal"
[target]
entity = "deal"
[fields]
title = "Title"
contactIds = { column = "Contacts", lookup = "contacts", split = ";" }
observers = { column = "Watchers", user = "email", split = ";" }
companyId = { column = "Company", lookup = "companies" }
"#;

#[test]
fn every_key_of_a_split_lookup_is_pending_in_order() {
    let plan = compile(DEALS).expect("compiles");
    let contacts = plan.fields.iter().find(|f| f.name == "contactIds").expect("field");
    assert_eq!(contacts.deferred, Some(Deferred::Lookup("contacts".into())));
    assert!(contacts.multiple, "contactIds is a multiple field");
    let row = plan.apply(&record(&["D1", "One", " C1 ; C2;C3 ", "", "a@x.io;b@x.io", "F1"])).expect("valid");
    let of = |name: &str| {
        let field = row.pending.iter().find(|p| p.name == name).expect(name);
        (field.multiple, field.values.iter().map(|v| v.marker()).collect::<Vec<_>>())
    };
    assert_eq!(
        of("contactIds"),
        (
            true,
            vec![
                json!({"$lookup": "contacts", "key": "C1"}),
                json!({"$lookup": "contacts", "key": "C2"}),
                json!({"$lookup": "contacts", "key": "C3"}),
            ]
        )
    );
    assert_eq!(of("observers"), (true, vec![json!({"$user": "a@x.io"}), json!({"$user": "b@x.io"})]));
    assert_eq!(of("companyId"), (false, vec![json!({"$lookup": "companies", "key": "F1"})]));
}

#[test]
fn a_multiple_id_field_splits_on_commas_when_no_split_is_given() {
    let plan = compile(&DEALS.replace(", split = \";\" }\nobservers", " }\nobservers")).expect("compiles");
    let row = plan.apply(&record(&["D1", "One", "C1,C2", "", "", ""])).expect("valid");
    let field = row.pending.iter().find(|p| p.name == "contactIds").expect("contactIds");
    assert_eq!(field.values.len(), 2);
}

#[test]
fn an_empty_split_lookup_sends_no_links() {
    let plan = compile(DEALS).expect("compiles");
    let row = plan.apply(&record(&["D1", "One", " ; ", "", "", ""])).expect("valid");
    assert!(row.pending.iter().all(|p| p.name != "contactIds"), "{:?}", row.pending);
}

#[test]
fn company_ids_of_a_contact_take_a_split_lookup() {
    let mapping = "name = \"contacts\"\n[source]\npath = \"d.csv\"\nkey = \"Deal\"\n[target]\nentity = \"contact\"\n\
                   [fields]\nname = \"Title\"\ncompanyIds = { column = \"Companies\", lookup = \"companies\", split = \"|\" }\n";
    let plan = compile(mapping).expect("compiles");
    let row = plan.apply(&record(&["K1", "Ann", "", "F1|F2", "", ""])).expect("valid");
    let field = row.pending.iter().find(|p| p.name == "companyIds").expect("companyIds");
    assert!(field.multiple);
    assert_eq!(field.values.len(), 2);
}

#[test]
fn a_single_id_field_refuses_several_keys() {
    let plan = compile(
        &DEALS.replace("{ column = \"Company\", lookup", "{ column = \"Company\", split = \";\", lookup"),
    )
    .expect("compiles");
    let issues = plan.apply(&record(&["D1", "One", "", "", "", "F1;F2"])).expect_err("refused");
    let text = mapping::describe(&issues);
    assert!(text.contains("2 values for a single field"), "{text}");
}
