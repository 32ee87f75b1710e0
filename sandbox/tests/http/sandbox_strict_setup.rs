//! Issue 18, "As strict as the portal": `crm.status.add`, `userfieldconfig.add` and `user.add`
//! answer every refusal their pages document, with the page's code and text. Each test fails
//! against the sandbox before issue 18 (which accepted a stage after the final one, any
//! `UF_` name on a smart process, any extranet group, and answered other codes and texts).

use crate::sandbox_common;

use b24_sandbox::{SandboxConfig, SetupConfig};
use sandbox_common::Portal;
use serde_json::{Value, json};

/// (status, `error`, `error_description`) of a refused call, and the whole body.
async fn refused(p: &Portal, method: &str, body: Value) -> (u16, String, String, Value) {
    let (status, v) = p.call(method, body.clone()).await;
    assert_ne!(status, 200, "{method} {body} should fail, got {v}");
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    (status, text("error"), text("error_description"), v)
}

async fn status_add(p: &Portal, fields: Value) -> (u16, String, String) {
    let (s, c, d, _) = refused(p, "crm.status.add", json!({ "fields": fields })).await;
    (s, c, d)
}

const AFTER_FINAL: &str = "Cannot create more stages after the final stage because the final successful stage already exists. Try using sort order values less than that of the final stage.";

// api-reference/crm/status/crm-status-add.md, "Possible Error Codes".
#[tokio::test]
async fn crm_status_add_answers_each_error_of_its_page() {
    let p = Portal::fast().await;
    let e = |d: &str| (400u16, String::new(), d.to_string());
    let (s, c, d, _) = refused(&p, "crm.status.add", json!({"fields": "x"})).await;
    assert_eq!((s, c, d), e("Parameter 'fields' must be array."));
    assert_eq!(
        status_add(&p, json!({"NAME": "X", "STATUS_ID": "X"})).await,
        e("The field ENTITY_ID is required.")
    );
    assert_eq!(
        status_add(&p, json!({"NAME": "X", "ENTITY_ID": "SOURCE"})).await,
        e("The field STATUS_ID is required.")
    );
    let both = status_add(&p, json!({"NAME": "X"})).await;
    assert!(
        both.2.contains("The field ENTITY_ID is required.")
            && both.2.contains("The field STATUS_ID is required."),
        "both messages in one answer: {both:?}"
    );
    assert_eq!(
        status_add(&p, json!({"ENTITY_ID": "NO_SUCH", "STATUS_ID": "X", "NAME": "X"})).await,
        e("Specified entity type is not supported.")
    );
    assert_eq!(
        status_add(&p, json!({"ENTITY_ID": "SOURCE", "STATUS_ID": "X"})).await,
        e("The field Title is required.")
    );
    // A duplicate is the one documented error with a code.
    assert_eq!(
        status_add(&p, json!({"ENTITY_ID": "SOURCE", "STATUS_ID": "WEB", "NAME": "Web again"})).await,
        (400, "ERROR_CORE".to_string(), "The specified status ID already exists.".to_string())
    );
    // DEAL_STAGE: WON has SORT 60; an in-progress stage after it is refused, before it is not.
    assert_eq!(
        status_add(&p, json!({"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "LATE", "NAME": "Late", "SORT": 70}))
            .await,
        e(AFTER_FINAL)
    );
    assert_eq!(
        status_add(&p, json!({"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "LATE", "NAME": "Late", "SORT": 61, "SEMANTICS": "S"}))
            .await,
        e(AFTER_FINAL),
        "a second success stage after the final one too"
    );
    p.ok(
        "crm.status.add",
        json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "REVIEW", "NAME": "Review", "SORT": 55}}),
    )
    .await;
    // A failure stage belongs after the success stage.
    p.ok("crm.status.add", json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "LOST2", "NAME": "Lost 2", "SORT": 90, "SEMANTICS": "F"}}))
        .await;
    // The page states the rule for `DEAL_STAGE` only, and its own example adds a stage at SORT 70
    // (after WON) to `DEAL_STAGE_1` with success: a pipeline of its own is not held to it.
    let cat = p.ok("crm.category.add", json!({"entityTypeId": 2, "fields": {"name": "B2B"}})).await;
    let cat = cat["result"]["category"]["id"].as_u64().expect("id");
    p.ok(
        "crm.status.add",
        json!({"fields": {"ENTITY_ID": format!("DEAL_STAGE_{cat}"), "STATUS_ID": "LATE", "NAME": "Late", "SORT": 500}}),
    )
    .await;
    let rows = p.ok("crm.status.list", json!({"filter": {"ENTITY_ID": "DEAL_STAGE"}})).await;
    let codes: Vec<&str> =
        rows["result"].as_array().expect("rows").iter().filter_map(|r| r["STATUS_ID"].as_str()).collect();
    assert!(!codes.contains(&"LATE"), "nothing refused was stored: {codes:?}");
}

// The page's "SORT: Default is 10".
#[tokio::test]
async fn crm_status_add_sorts_at_10_by_default() {
    let p = Portal::fast().await;
    p.ok(
        "crm.status.add",
        json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "REVIEW", "NAME": "Review"}}),
    )
    .await;
    p.ok("crm.status.add", json!({"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "FAIR", "NAME": "Fair"}}))
        .await;
    for (dir, code) in [("DEAL_STAGE", "REVIEW"), ("SOURCE", "FAIR")] {
        let rows = p.ok("crm.status.list", json!({"filter": {"ENTITY_ID": dir, "STATUS_ID": code}})).await;
        assert_eq!(rows["result"][0]["SORT"], "10", "{dir}: {rows}");
    }
}

// api-reference/crm/universal/userfieldconfig/userfieldconfig-add.md, "Possible Error Codes":
// every refusal has an empty code.
#[tokio::test]
async fn userfieldconfig_add_wants_the_entity_s_prefix_and_answers_empty_codes() {
    let p = Portal::fast().await;
    p.ok("crm.type.add", json!({"fields": {"title": "Projects", "entityTypeId": 1032}})).await;
    let add = |field: Value| json!({"moduleId": "crm", "field": field});
    let e = |d: &str| (400u16, String::new(), d.to_string());
    let cases = [
        (json!({"entityId": "CRM_1", "userTypeId": "string"}), "The 'FIELD_NAME' field is not found"),
        (json!({"entityId": "CRM_1", "fieldName": "UF_CRM_1_X"}), "The 'USER_TYPE_ID' field is not found"),
        // A smart process's fields are UF_CRM_<its type id>_...
        (
            json!({"entityId": "CRM_1", "fieldName": "UF_CRM_PRIORITY", "userTypeId": "string"}),
            "You cannot create custom fields",
        ),
        (
            json!({"entityId": "CRM_1", "fieldName": "UF_CRM_2_PRIORITY", "userTypeId": "string"}),
            "You cannot create custom fields",
        ),
        (
            json!({"entityId": "CRM_1", "fieldName": "UF_PRIORITY", "userTypeId": "string"}),
            "You cannot create custom fields",
        ),
        (
            json!({"entityId": "CRM_99", "fieldName": "UF_CRM_99_X", "userTypeId": "string"}),
            "You cannot create custom fields",
        ),
        (
            json!({"entityId": "CRM_DEAL", "fieldName": "UF_DEAL_X", "userTypeId": "string"}),
            "You cannot create custom fields",
        ),
    ];
    for (field, text) in cases {
        let (s, c, d, _) = refused(&p, "userfieldconfig.add", add(field.clone())).await;
        assert_eq!((s, c, d), e(text), "{field}");
    }
    p.ok(
        "userfieldconfig.add",
        add(json!({"entityId": "CRM_1", "fieldName": "UF_CRM_1_PRIORITY", "userTypeId": "string"})),
    )
    .await;
    p.ok(
        "userfieldconfig.add",
        add(json!({"entityId": "CRM_DEAL", "fieldName": "UF_CRM_PRIORITY", "userTypeId": "string"})),
    )
    .await;
    p.ok(
        "userfieldconfig.add",
        add(json!({"entityId": "CRM_SMART_INVOICE", "fieldName": "UF_CRM_SMART_INVOICE_PO", "userTypeId": "string"})),
    )
    .await;
    let (s, c, d, _) = refused(
        &p,
        "userfieldconfig.add",
        add(json!({"entityId": "CRM_1", "fieldName": "UF_CRM_1_PRIORITY", "userTypeId": "string"})),
    )
    .await;
    assert_eq!((s, c.as_str()), (400, ""), "{d}");
    assert!(d.starts_with("Field ") && d.ends_with("already exists"), "{d}");
    let (_, c, _, _) = refused(
        &p,
        "userfieldconfig.add",
        add(json!({"entityId": "CRM_1", "fieldName": "UF_CRM_1_BAD NAME", "userTypeId": "string"})),
    )
    .await;
    assert_eq!(c, "", "the core's checks answer with an empty code too");
}

// The user.add page: extranet users need an existing group (ERROR_NO_GROUP), and its
// ERROR_ARGUMENT answers carry `argument`.
#[tokio::test]
async fn user_add_wants_an_existing_extranet_group_and_its_argument_errors_carry_argument() {
    let p = Portal::start(SandboxConfig {
        rate: 1000.0,
        burst: 1000.0,
        setup: SetupConfig::default().with_extranet_groups([12]),
        ..SandboxConfig::fast()
    })
    .await;
    let (s, c, d, v) = refused(&p, "user.add", json!({"EMAIL": "bad", "UF_DEPARTMENT": [1]})).await;
    assert_eq!((s, c.as_str(), d.as_str()), (400, "ERROR_ARGUMENT", "wrong_email"));
    assert_eq!(v["argument"], json!(""), "the page's example: {v}");
    let (_, c, d, v) = refused(&p, "user.add", json!({"EMAIL": "a@x.org"})).await;
    assert_eq!(
        (c.as_str(), d.as_str(), v["argument"].clone()),
        ("ERROR_ARGUMENT", "no_extranet_field", json!(""))
    );
    let (_, c, d, v) = refused(&p, "user.add", json!({"EMAIL": "a@x.org", "EXTRANET": "Y"})).await;
    assert_eq!((c.as_str(), d.as_str()), ("ERROR_GROUPID", "Group code not specified"));
    assert!(v.get("argument").is_none(), "only ERROR_ARGUMENT carries it: {v}");
    let (_, c, d, _) =
        refused(&p, "user.add", json!({"EMAIL": "a@x.org", "EXTRANET": "Y", "SONET_GROUP_ID": [3]})).await;
    assert_eq!((c.as_str(), d.as_str()), ("ERROR_NO_GROUP", "Group specified incorrectly"));
    p.ok("user.add", json!({"EMAIL": "a@x.org", "EXTRANET": "Y", "SONET_GROUP_ID": [3, 12]})).await;
    let (_, c, d, v) = refused(&p, "user.add", json!({"EMAIL": "A@x.org", "UF_DEPARTMENT": [1]})).await;
    assert_eq!(
        (c.as_str(), d.as_str(), v["argument"].clone()),
        ("ERROR_ARGUMENT", "User with this email already exists", json!(""))
    );
    // Inside a batch the command's error carries it too.
    let (_, v) = p.batch(false, json!({"u": "user.add?EMAIL=bad&UF_DEPARTMENT[]=1"})).await;
    assert_eq!(v["result"]["result_error"]["u"]["argument"], json!(""), "{v}");
    assert_eq!(p.handle.snapshot().users, 1);
}

// A fresh portal has no workgroups: by default every extranet invitation is refused.
#[tokio::test]
async fn a_default_portal_has_no_extranet_group() {
    let p = Portal::fast().await;
    let (_, c, _, _) =
        refused(&p, "user.add", json!({"EMAIL": "a@x.org", "EXTRANET": "Y", "SONET_GROUP_ID": [1]})).await;
    assert_eq!(c, "ERROR_NO_GROUP");
}
