//! The mapping keys of issue 10 (`smart_process`, `[target.provision]`, `type = "enum"`,
//! `create`, `add_missing_values`) are checked offline, each problem at `path:line:col`.

use std::path::Path;

use b24import::mapping::{self, Deferred, Diagnostics, MappingPlan, UfType};

const HEADER: &str = "Code,Title,Segment,Stage\n";

fn compile(mapping: &str) -> Result<MappingPlan, Vec<String>> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("p.csv"), format!("{HEADER}P1,One,Gold,New\n")).expect("csv");
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

const GOOD: &str = r#"name = "projects"
[source]
path = "p.csv"
key = "Code"
[target]
smart_process = "Projects"
[target.provision]
workspace = "Delivery"
flags = ["isSourceEnabled"]
[fields]
title = "Title"
UF_CRM_SEGMENT = { column = "Segment", type = "enum", create = { type = "enumeration", label = "Segment" }, add_missing_values = true }
stageId = { column = "Stage", type = "enum" }
"#;

#[test]
fn a_smart_process_by_title_validates_offline_and_carries_its_title() {
    let plan = compile(GOOD).expect("compiles");
    assert_eq!(plan.target.smart_process.as_deref(), Some("Projects"));
    assert!(plan.is_unbound());
    assert_eq!(plan.target.provision.workspace.as_deref(), Some("Delivery"));
    assert_eq!(plan.target.provision.flags, vec!["isSourceEnabled"]);
    // Spelled as the requests' useOriginalUfNames = N needs (the portal's camelCase rule).
    let seg = plan.fields.iter().find(|f| f.name == "ufCrmSegment").expect("field");
    assert_eq!(seg.deferred, Some(Deferred::Label));
    assert!(seg.add_missing_values);
    let create = seg.create.as_ref().expect("create");
    assert_eq!(
        (create.kind, create.label.as_str(), create.multiple),
        (UfType::Enumeration, "Segment", false)
    );
    let mut plan = plan;
    plan.bind_smart_process(1032);
    assert_eq!(plan.target.entity, mapping::Entity::Crm(1032));
    assert!(!plan.is_unbound());
}

#[test]
fn smart_process_excludes_entity_and_entity_type_id() {
    let bad =
        GOOD.replace("smart_process = \"Projects\"", "smart_process = \"Projects\"\nentity_type_id = 1032");
    let got = compile(&bad).expect_err("refused");
    assert!(
        got.iter().any(|d| d.contains("set only one of `entity`, `entity_type_id` or `smart_process`")),
        "{got:?}"
    );
}

#[test]
fn an_unknown_flag_gets_a_suggestion_with_its_position() {
    let bad = GOOD.replace("isSourceEnabled", "isSourceEnable");
    let got = compile(&bad).expect_err("refused");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("m.toml:9:"), "{got:?}");
    assert!(
        got[0].contains("unknown smart-process flag `isSourceEnable`, did you mean `isSourceEnabled`?"),
        "{got:?}"
    );
}

#[test]
fn provision_on_a_builtin_entity_is_refused() {
    let bad = GOOD.replace("smart_process = \"Projects\"", "entity = \"deal\"");
    let got = compile(&bad).expect_err("refused");
    assert!(got.iter().any(|d| d.contains("[target.provision] applies to smart processes")), "{got:?}");
}

#[test]
fn create_needs_a_custom_field_a_known_type_and_a_label() {
    let bad = GOOD
        .replace(
            "title = \"Title\"",
            "title = { column = \"Title\", create = { type = \"string\", label = \"T\" } }",
        )
        .replace("type = \"enumeration\", label = \"Segment\"", "type = \"enumerashun\"");
    let got = compile(&bad).expect_err("refused");
    assert!(got.iter().any(|d| d.contains("field `title`: `create` applies to custom fields")), "{got:?}");
    assert!(
        got.iter().any(|d| d.contains("unknown value `enumerashun`, did you mean `enumeration`?")),
        "{got:?}"
    );
    let no_label = GOOD.replace(", label = \"Segment\"", "");
    let got = compile(&no_label).expect_err("refused");
    assert!(got.iter().any(|d| d.contains("`create` needs a `label`")), "{got:?}");
}

#[test]
fn add_missing_values_needs_type_enum() {
    let bad = GOOD.replace(
        "stageId = { column = \"Stage\", type = \"enum\" }",
        "stageId = { column = \"Stage\", add_missing_values = true }",
    );
    let got = compile(&bad).expect_err("refused");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with("m.toml:13:"), "{got:?}");
    assert!(got[0].contains("`add_missing_values` applies to type = \"enum\""), "{got:?}");
}

#[test]
fn an_enum_cell_becomes_a_pending_label() {
    let plan = compile(GOOD).expect("compiles");
    let record = b24import::source::Record {
        row: b24import::source::RowRef { file: "p.csv".into(), sheet: None, line: 2 },
        cells: csv::StringRecord::from(vec!["P1", "One", " Gold ", "New"]),
        problems: Vec::new(),
    };
    let row = plan.apply(&record).expect("valid");
    let labels: Vec<_> = row.pending.iter().flat_map(|p| p.values.iter().map(|v| v.marker())).collect();
    assert_eq!(labels, vec![serde_json::json!({"$label": "Gold"}), serde_json::json!({"$label": "New"})]);
}
