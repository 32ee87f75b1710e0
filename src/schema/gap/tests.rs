//! Unit tests of [`compare`] and of label resolution against a small hand-built schema.

use super::*;
use crate::mapping::MappingPlan;
use crate::schema::labels::{CategoryRef, LabelBook, UsedLabels};
use crate::schema::model::*;
use std::path::Path;
use std::sync::Arc;

fn plan(target: &str, fields: &str) -> MappingPlan {
    let text = format!(
        "name = \"s\"\n[source]\npath = \"s.csv\"\nkey = \"Code\"\n[target]\n{target}\n[fields]\n{fields}\n"
    );
    let file = crate::mapping::spec::parse(Path::new("s.toml"), text).expect("parses");
    let headers: Vec<String> = ["Code", "Title", "Segment", "Stage", "Source", "Pipeline", "Tags"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    file.compile(&headers).unwrap_or_else(|d| panic!("{d}"))
}

fn field(name: &str, kind: &str) -> PortalField {
    PortalField {
        name: name.into(),
        upper_name: name.to_uppercase(),
        kind: kind.into(),
        title: name.into(),
        ..Default::default()
    }
}

fn item(id: &str, value: &str, xml: Option<&str>) -> ListItem {
    ListItem { id: id.into(), value: value.into(), xml_id: xml.map(str::to_string) }
}

fn status(entity: &str, id: &str, name: &str) -> Status {
    Status { entity_id: entity.into(), status_id: id.into(), name: name.into(), ..Default::default() }
}

/// A portal with the smart process "Projects" (1032, type id 7), stages on, source off,
/// not in any workspace; a deal entity with two pipelines.
fn portal() -> PortalSchema {
    let mut spa = EntitySchema { entity_type_id: 1032, ..Default::default() };
    for f in [field("title", "string"), field("stageId", "crm_status"), field("categoryId", "crm_category")] {
        spa.fields.insert(f.name.clone(), f);
    }
    let mut seg = field("ufCrm7Segment", "enumeration");
    seg.upper_name = "UF_CRM_7_SEGMENT".into();
    seg.items = vec![item("11", "Gold", None), item("12", "Silver", None)];
    spa.fields.insert(seg.name.clone(), seg);
    let mut ro = field("createdTime", "datetime");
    ro.read_only = true;
    spa.fields.insert(ro.name.clone(), ro);
    let mut req = field("ufCrm7Contract", "string");
    req.required = true;
    req.title = "Contract".into();
    spa.fields.insert(req.name.clone(), req);
    let mut multi = field("ufCrm7Tags", "string");
    multi.upper_name = "UF_CRM_7_TAGS".into();
    multi.multiple = true;
    spa.fields.insert(multi.name.clone(), multi);
    spa.categories = vec![Category { id: 5, name: "Main".into(), is_default: true }];
    spa.custom = vec![CustomField {
        id: 301,
        field_name: "UF_CRM_7_SEGMENT".into(),
        user_type: "enumeration".into(),
        items: vec![item("11", "Gold", Some("gold")), item("12", "Silver", Some("SILVER-X"))],
        ..Default::default()
    }];
    let mut deal = EntitySchema { entity_type_id: 2, ..Default::default() };
    for f in [field("title", "string"), field("stageId", "crm_status"), field("categoryId", "crm_category")] {
        deal.fields.insert(f.name.clone(), f);
    }
    deal.categories = vec![
        Category { id: 0, name: "General".into(), is_default: true },
        Category { id: 3, name: "Wholesale".into(), is_default: false },
    ];
    let mut flags = std::collections::BTreeMap::new();
    flags.insert("isStagesEnabled".to_string(), true);
    flags.insert("isSourceEnabled".to_string(), false);
    flags.insert("isCategoriesEnabled".to_string(), true);
    PortalSchema {
        smart_processes: vec![SmartProcess {
            id: 7,
            entity_type_id: 1032,
            title: "Projects".into(),
            flags,
            workspace_id: None,
        }],
        workspaces: vec![Workspace { id: 1, title: "Delivery".into(), type_ids: vec![] }],
        entities: [(1032, spa), (2, deal)].into_iter().collect(),
        statuses: vec![
            status("DYNAMIC_1032_STAGE_5", "DT1032_5:NEW", "New"),
            status("DYNAMIC_1032_STAGE_5", "DT1032_5:WORK", "In work"),
            status("DEAL_STAGE", "NEW", "New deal"),
            status("DEAL_STAGE_3", "C3:NEW", "Wholesale new"),
        ],
        currencies: vec![Currency { code: "RUB".into(), name: "Russian ruble".into() }],
        unread: Vec::new(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> UsedLabels {
    let mut used = UsedLabels::default();
    for (f, l) in pairs {
        used.add_label(f, l, None);
    }
    used
}

#[test]
fn a_missing_smart_process_brings_what_provision_creates_with_it() {
    let p = plan(
        "smart_process = \"Robots\"\n[target.provision]\nworkspace = \"Factory\"\nflags = [\"isObserversEnabled\"]",
        "title = \"Title\"\nstageId = { column = \"Stage\", type = \"enum\" }\n\
             UF_CRM_9_SEGMENT = { column = \"Segment\", type = \"enum\", create = { type = \"enumeration\", label = \"Segment\" }, add_missing_values = true }",
    );
    let gaps = compare(&p, &portal(), &labels(&[("ufCrm9Segment", "Gold")]));
    assert_eq!(gaps[0], Gap::SmartProcessMissing { title: "Robots".into() });
    assert_eq!(gaps[1], Gap::WorkspaceMissing { title: "Factory".into() });
    assert!(
        gaps.contains(&Gap::FlagOff { flag: "isStagesEnabled", fields: vec!["stageId".into()] }),
        "{gaps:?}"
    );
    assert!(gaps.contains(&Gap::FlagOff { flag: "isObserversEnabled", fields: vec![] }), "{gaps:?}");
    assert!(gaps.iter().any(|g| matches!(g, Gap::FieldMissing { field, .. } if field == "ufCrm9Segment")));
    assert!(
        gaps.iter().any(|g| matches!(g, Gap::ValuesMissing { labels, add: true, .. } if labels == &["Gold"]))
    );
    assert!(gaps.iter().all(Gap::provision_fixes), "{gaps:?}");
}

#[test]
fn an_existing_smart_process_reports_each_kind_of_gap() {
    let p = plan(
        "smart_process = \"  projects \"\n[target.provision]\nworkspace = \"delivery\"",
        "title = \"Title\"\nsourceId = \"Source\"\ntitel2 = \"Title\"\ncreatedTime = \"Title\"\n\
             UF_CRM_7_TAGS = \"Tags\"\nUF_CRM_7_SEGMENT = { column = \"Segment\", type = \"enum\" }\n\
             stageId = { column = \"Stage\", type = \"enum\" }",
    );
    let used = labels(&[("ufCrm7Segment", "gold"), ("ufCrm7Segment", "Bronze"), ("stageId", "in  WORK")]);
    let gaps = compare(&p, &portal(), &used);
    let expected = vec![
        Gap::NotInWorkspace { workspace: "Delivery".into(), workspace_id: 1, type_id: Some(7) },
        Gap::FlagOff { flag: "isSourceEnabled", fields: vec!["sourceId".into()] },
        Gap::ValuesMissing {
            field: "ufCrm7Segment".into(),
            list: ListRef::CustomField { upper_name: "UF_CRM_7_SEGMENT".into(), field_id: Some(301) },
            labels: vec!["Bronze".into()],
            add: false,
        },
        Gap::MultipleMismatch { field: "ufCrm7Tags".into(), portal_multiple: true },
        Gap::ReadOnly { field: "createdTime".into() },
        Gap::UnknownField { field: "titel2".into(), suggestion: Some("title".into()) },
        Gap::RequiredWithoutRule { field: "ufCrm7Contract".into(), title: "Contract".into() },
    ];
    assert_eq!(gaps, expected);
    let fixable: Vec<bool> = gaps.iter().map(Gap::provision_fixes).collect();
    assert_eq!(fixable, [true, true, false, false, false, false, false]);
    assert!(gaps[2].is_row_level());
    assert!(
        gaps[1].to_string().contains("`sourceId` is switched off by the smart-process flag isSourceEnabled")
    );
}

#[test]
fn stages_are_checked_within_the_rows_pipeline() {
    let p = plan(
        "entity = \"deal\"",
        "title = \"Title\"\ncategoryId = { column = \"Pipeline\", type = \"enum\" }\nstageId = { column = \"Stage\", type = \"enum\", add_missing_values = true }",
    );
    let mut used = UsedLabels::default();
    used.add_label("categoryId", "wholesale", None);
    used.add_label("stageId", "Wholesale new", Some(CategoryRef::Label("WHOLESALE".into())));
    used.add_label("stageId", "Wholesale new", None);
    used.add_label("stageId", "new deal", Some(CategoryRef::Id(0)));
    let gaps = compare(&p, &portal(), &used);
    assert_eq!(
        gaps,
        vec![Gap::ValuesMissing {
            field: "stageId".into(),
            list: ListRef::Status { entity_id: "DEAL_STAGE".into(), category_id: Some(0) },
            labels: vec!["Wholesale new".into()],
            add: true,
        }]
    );
    assert!(gaps[0].provision_fixes());
}

#[test]
fn an_enum_on_a_field_without_a_list_is_named() {
    let p = plan("entity = \"deal\"", "title = { column = \"Title\", type = \"enum\" }");
    assert_eq!(
        compare(&p, &portal(), &labels(&[("title", "x")])),
        vec![Gap::NotAList { field: "title".into(), portal_type: "string".into() }]
    );
}

#[test]
fn a_refused_read_is_a_gap_naming_the_method_when_the_step_needs_it_and_a_note_otherwise() {
    let mut schema = portal();
    schema.unread.push(Refusal {
        method: "crm.status.list".into(),
        code: "ACCESS_DENIED".into(),
        description: "Access denied".into(),
    });
    let needs =
        plan("entity = \"deal\"", "title = \"Title\"\nstageId = { column = \"Stage\", type = \"enum\" }");
    let gaps = compare(&needs, &schema, &UsedLabels::default());
    assert!(matches!(&gaps[0], Gap::Unreadable(_)), "{gaps:?}");
    assert!(gaps[0].to_string().contains("crm.status.list: ACCESS_DENIED"), "{}", gaps[0]);
    assert!(!gaps[0].provision_fixes() && gaps[0].is_blocking());
    // Bug: a refused read no field of the step needs stopped it as "not ready".
    let gaps = compare(&plan("entity = \"deal\"", "title = \"Title\""), &schema, &UsedLabels::default());
    assert_eq!(gaps.len(), 1);
    assert!(gaps[0].is_note() && !gaps[0].is_blocking(), "{gaps:?}");
}

#[test]
fn labels_resolve_by_value_xml_id_or_id_ignoring_case_and_spaces() {
    let mut book = LabelBook::new(Arc::new(portal()), 1032);
    for (label, id) in [(" gold ", 11), ("SILVER-x", 12), ("12", 12), ("Silver", 12)] {
        assert_eq!(book.resolve("ufCrm7Segment", label, 0), Ok(serde_json::json!(id)), "{label}");
    }
    let cat = book.category(None);
    assert_eq!(cat, 5);
    assert_eq!(book.resolve("stageId", "In   work", cat), Ok(serde_json::json!("DT1032_5:WORK")));
    let err = book.resolve("ufCrm7Segment", "Bronze", 0).expect_err("unknown");
    assert!(err.0.contains("\"Bronze\" is not in the portal's list: \"Gold\", \"Silver\""), "{}", err.0);
    let mut deals = LabelBook::new(Arc::new(portal()), 2);
    let cat = deals.category(Some(&CategoryRef::Label("wholesale".into())));
    assert_eq!(cat, 3);
    assert_eq!(deals.resolve("stageId", "wholesale NEW", cat), Ok(serde_json::json!("C3:NEW")));
    assert!(deals.resolve("stageId", "wholesale NEW", 0).is_err());
}
