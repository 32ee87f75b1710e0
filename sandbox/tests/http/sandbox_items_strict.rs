//! `crm.item.add` / `update` as strict as the portal (issue 18): `fields` (and `id` on update)
//! required, stage-dependent required fields (config and schema file), references that must
//! exist (and the flag that stores them anyway), every field of the page's tables with its
//! documented default.

use crate::sandbox_common;

use b24_sandbox::{SandboxConfig, SchemaFile, StageRequirement};
use sandbox_common::{Portal, add_cmd};
use serde_json::{Value, json};

async fn with(config: SandboxConfig) -> Portal {
    Portal::start(SandboxConfig { rate: 1000.0, burst: 1000.0, ..config }).await
}

fn requiring(rules: &[&str]) -> SandboxConfig {
    let mut c = SandboxConfig::fast();
    c.items.stage_required = rules.iter().map(|r| r.parse::<StageRequirement>().expect("a rule")).collect();
    c
}

/// (status, error, error_description) of a refused call.
async fn refused(p: &Portal, method: &str, body: Value) -> (u16, String, String) {
    let (status, v) = p.call(method, body.clone()).await;
    assert_ne!(status, 200, "{method} {body} should fail, got {v}");
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    (status, s("error"), s("error_description"))
}

#[tokio::test]
async fn add_and_update_without_fields_answer_the_binders_error_and_create_nothing() {
    let p = Portal::fast().await;
    assert_eq!(
        refused(&p, "crm.item.add", json!({"entityTypeId": 2})).await,
        (400, "100".into(), "Could not find value for parameter {fields}".into())
    );
    let (status, code, text) = refused(&p, "crm.item.add", json!({"entityTypeId": 2, "fields": "x"})).await;
    assert_eq!((status, code.as_str()), (400, "100"));
    assert_eq!(text, "Invalid value x to match with parameter {fields}. Should be value of type array");
    // A batch command without `fields` is the same call.
    let (_, v) = p.batch(false, json!({"a": "crm.item.add?entityTypeId=3"})).await;
    assert_eq!(v["result"]["result_error"]["a"]["error"], "100");
    assert_eq!(p.handle.snapshot().items["2"] + p.handle.snapshot().items["3"], 0, "nothing was created");
    let id =
        p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {}})).await["result"]["item"]["id"].clone();
    assert_eq!(
        refused(&p, "crm.item.update", json!({"entityTypeId": 2, "id": id})).await,
        (400, "100".into(), "Could not find value for parameter {fields}".into())
    );
    assert_eq!(
        refused(&p, "crm.item.update", json!({"entityTypeId": 2, "fields": {"title": "x"}})).await,
        (400, "100".into(), "Could not find value for parameter {id}".into())
    );
}

#[tokio::test]
async fn a_stage_that_requires_fields_refuses_an_item_without_them() {
    let p = with(requiring(&["deal:WON=opportunity,closedate", "lead=lastName"])).await;
    let won = json!({"entityTypeId": 2, "fields": {"title": "D", "stageId": "WON"}});
    assert_eq!(
        refused(&p, "crm.item.add", won).await,
        (400, "CRM_FIELD_ERROR_REQUIRED".into(), "The \"Amount\" field is required".into())
    );
    // A stage the rule does not name needs nothing; the same deal moved to WON does.
    let v =
        p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"title": "D", "opportunity": 0}})).await;
    let id = v["result"]["item"]["id"].clone();
    assert_eq!(
        refused(
            &p,
            "crm.item.update",
            json!({"entityTypeId": 2, "id": id, "fields": {"stageId": "WON", "opportunity": ""}})
        )
        .await
        .1,
        "CRM_FIELD_ERROR_REQUIRED"
    );
    let v = p
        .ok(
            "crm.item.update",
            json!({"entityTypeId": 2, "id": id, "fields": {"stageId": "WON", "opportunity": 5}}),
        )
        .await;
    assert_eq!(v["result"]["item"]["stageId"], "WON", "closedate has its default (creation + 7 days)");
    // Once on the stage, clearing a field it requires is refused; changing another is not.
    let clear = json!({"entityTypeId": 2, "id": id, "fields": {"closedate": ""}});
    assert_eq!(refused(&p, "crm.item.update", clear).await.2, "The \"End date\" field is required");
    p.ok("crm.item.update", json!({"entityTypeId": 2, "id": id, "fields": {"title": "E"}})).await;
    // A rule without a stage applies to every item of the entity; a pipeline's WON is WON too.
    assert_eq!(
        refused(&p, "crm.item.add", json!({"entityTypeId": 1, "fields": {"name": "A"}})).await.2,
        "The \"Last name\" field is required"
    );
    let cat = p.ok("crm.category.add", json!({"entityTypeId": 2, "fields": {"name": "P"}})).await["result"]["category"]
        ["id"]
        .as_u64()
        .expect("id");
    let other = json!({"entityTypeId": 2, "fields": {"categoryId": cat, "stageId": format!("C{cat}:WON")}});
    assert_eq!(refused(&p, "crm.item.add", other).await.1, "CRM_FIELD_ERROR_REQUIRED");
}

#[tokio::test]
async fn without_a_rule_the_same_items_are_accepted() {
    let p = Portal::fast().await;
    p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"title": "D", "stageId": "WON"}})).await;
    p.ok("crm.item.add", json!({"entityTypeId": 1, "fields": {"name": "A"}})).await;
}

#[tokio::test]
async fn the_schema_file_can_require_fields_on_a_stage() {
    let schema = SchemaFile::from_toml(
        "[[entity]]\nentity_type_id = 2\n[[entity.require]]\nstage = \"LOSE\"\nfields = [\"comments\"]\n",
        "test",
    )
    .expect("schema");
    let p = with(SandboxConfig { schema: Some(schema), ..SandboxConfig::fast() }).await;
    let lost = json!({"entityTypeId": 2, "fields": {"stageId": "LOSE"}});
    assert_eq!(refused(&p, "crm.item.add", lost).await.2, "The \"Comment\" field is required");
    p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"stageId": "LOSE", "comments": "why"}})).await;
    assert!(
        SchemaFile::from_toml("[[entity]]\nentity_type_id = 2\n[[entity.require]]\nstage = \"X\"\n", "t")
            .is_err()
    );
}

#[tokio::test]
async fn references_to_records_that_do_not_exist_are_refused() {
    let p = Portal::fast().await;
    let company = p.ok("crm.item.add", json!({"entityTypeId": 4, "fields": {"title": "C"}})).await["result"]
        ["item"]["id"]
        .clone();
    let contact = p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"name": "N"}})).await["result"]["item"]
        ["id"]
        .clone();
    let ok = json!({"entityTypeId": 2, "fields": {"companyId": company, "contactIds": [contact], "assignedById": 1,
        "observers": [1], "leadId": 0}});
    p.ok("crm.item.add", ok).await;
    for (field, value, title) in [
        ("companyId", json!(99), "Company"),
        ("contactId", json!(99), "Contact"),
        ("contactIds", json!([contact, 98]), "Contacts"),
        ("assignedById", json!(42), "Responsible person"),
        ("observers", json!([1, 42]), "Observers"),
        ("leadId", json!(7), "Lead"),
        ("quoteId", json!(7), "Estimate"),
    ] {
        let (status, code, text) =
            refused(&p, "crm.item.add", json!({"entityTypeId": 2, "fields": {field: value}})).await;
        assert_eq!((status, code.as_str()), (400, "CRM_FIELD_ERROR_VALUE_NOT_VALID"), "{field}");
        assert_eq!(text, format!("Invalid value for field \"{title}\" ({field})"));
    }
    let deal =
        p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {}})).await["result"]["item"]["id"].clone();
    let dangling = json!({"entityTypeId": 2, "id": deal, "fields": {"companyId": 99}});
    assert_eq!(refused(&p, "crm.item.update", dangling).await.1, "CRM_FIELD_ERROR_VALUE_NOT_VALID");
    let quote = json!({"entityTypeId": 7, "fields": {"dealId": 55}});
    assert_eq!(refused(&p, "crm.item.add", quote).await.1, "CRM_FIELD_ERROR_VALUE_NOT_VALID");
    let (_, v) = p.batch(false, json!({"a": add_cmd(3, json!({"companyId": 99}))})).await;
    assert_eq!(v["result"]["result_error"]["a"]["error"], "CRM_FIELD_ERROR_VALUE_NOT_VALID");
}

#[tokio::test]
async fn accept_dangling_refs_stores_them_as_sent() {
    let p = Portal::lenient().await;
    let v = p
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 2, "fields": {"companyId": 99, "assignedById": 42, "quoteId": 7}}),
        )
        .await;
    let item = &v["result"]["item"];
    assert_eq!((item["companyId"].clone(), item["assignedById"].clone()), (json!(99), json!(42)));
}

#[tokio::test]
async fn every_field_of_the_pages_tables_exists() {
    let p = Portal::fast().await;
    // The 19 the sandbox lacked (issue 18), per entity type.
    for (etid, names) in [
        (1, &["statusDescription", "contactId", "webformId"][..]),
        (3, &["photo", "leadId", "originVersion"][..]),
        (4, &["logo", "bankingDetails", "leadId", "originVersion"][..]),
        (
            7,
            &["storageTypeId", "storageElementIds", "webformId", "contactId", "locationId", "actualDate"][..],
        ),
        (31, &["webformId", "locationId"][..]),
    ] {
        let f = p.ok("crm.item.fields", json!({"entityTypeId": etid})).await;
        for name in names {
            assert!(f["result"]["fields"].get(*name).is_some(), "{etid}: {name} missing");
        }
    }
    p.ok("crm.type.add", json!({"fields": {"title": "S", "entityTypeId": 1040}})).await;
    let f = p.ok("crm.item.fields", json!({"entityTypeId": 1040})).await;
    assert!(f["result"]["fields"].get("webformId").is_some());
    // A logo and a photo are files: [name, base64].
    let logo = json!(["logo.png", "iVBORw0KGgo="]);
    let v = p
        .ok("crm.item.add", json!({"entityTypeId": 4, "fields": {"logo": logo, "bankingDetails": "IBAN"}}))
        .await;
    assert!(v["result"]["item"]["logo"]["urlMachine"].is_string());
    assert_eq!(v["result"]["item"]["bankingDetails"], "IBAN");
    // The contact's photo is a file on add, but crm.item.update refuses to set it
    // (how-to-make-contact-edit-card.md), in either form.
    let v = p
        .ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"photo": ["me.png", "iVBORw0KGgo="]}}))
        .await;
    let id = v["result"]["item"]["id"].clone();
    assert!(v["result"]["item"]["photo"]["urlMachine"].is_string());
    for photo in [json!(["me.png", "iVBORw0KGgo="]), json!({"fileData": ["me.png", "iVBORw0KGgo="]})] {
        let body = json!({"entityTypeId": 3, "id": id, "fields": {"photo": photo}});
        assert_eq!(refused(&p, "crm.item.update", body).await.1, "CRM_FIELD_ERROR_VALUE_NOT_VALID");
    }
}

#[tokio::test]
async fn an_empty_item_gets_the_documented_defaults() {
    let p = Portal::fast().await;
    let item = |v: Value| v["result"]["item"].clone();
    let company = item(p.ok("crm.item.add", json!({"entityTypeId": 4, "fields": {}})).await);
    for (k, want) in [
        ("typeId", json!("CUSTOMER")),
        ("industry", json!("IT")),
        ("employees", json!("EMPLOYEES_1")),
        ("currencyId", json!("RUB")),
        ("isMyCompany", json!("N")),
        ("revenue", json!(0.0)),
        ("opened", json!("Y")),
        ("assignedById", json!(1)),
        ("title", json!("Company #1")),
    ] {
        assert_eq!(company[k], want, "company {k}");
    }
    let deal = item(p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {}})).await);
    let created = deal["createdTime"].as_str().expect("createdTime")[..10].to_string();
    assert!(deal["begindate"].as_str().is_some_and(|d| d.starts_with(&created)), "{}", deal["begindate"]);
    let close =
        chrono::NaiveDate::parse_from_str(&deal["closedate"].as_str().expect("closedate")[..10], "%Y-%m-%d")
            .expect("a date");
    let begin = chrono::NaiveDate::parse_from_str(&created, "%Y-%m-%d").expect("a date");
    assert_eq!((close - begin).num_days(), 7, "closedate: creation + 7 days");
    for (k, want) in [("typeId", json!("SALE")), ("sourceId", json!("CALL")), ("stageId", json!("NEW"))] {
        assert_eq!(deal[k], want, "deal {k}");
    }
    let contact = item(p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {}})).await);
    assert_eq!((contact["typeId"].clone(), contact["export"].clone()), (json!("CLIENT"), json!("Y")));
    assert_eq!(contact["honorific"], Value::Null, "honorific: by default null");
    let quote = item(p.ok("crm.item.add", json!({"entityTypeId": 7, "fields": {}})).await);
    assert_eq!(quote["storageTypeId"], 3);
    assert!(quote["actualDate"].is_string());
    // mycompanyId: the first "my" company, once there is one.
    let mine = item(p.ok("crm.item.add", json!({"entityTypeId": 4, "fields": {"isMyCompany": "Y"}})).await);
    let invoice = item(p.ok("crm.item.add", json!({"entityTypeId": 31, "fields": {}})).await);
    assert_eq!(invoice["mycompanyId"], mine["id"]);
    // A value sent is never replaced by a default.
    let sent = item(p.ok("crm.item.add", json!({"entityTypeId": 4, "fields": {"typeId": "PARTNER"}})).await);
    assert_eq!(sent["typeId"], "PARTNER");
}

#[tokio::test]
async fn a_smart_process_has_the_fields_of_the_item_fields_page_and_its_items_answer_them() {
    let p = Portal::fast().await;
    p.ok("crm.type.add", json!({"fields": {"title": "S", "entityTypeId": 1042, "isStagesEnabled": "Y", "isClientEnabled": "Y"}}))
        .await;
    let f = p.ok("crm.item.fields", json!({"entityTypeId": 1042})).await;
    let fields = &f["result"]["fields"];
    // (name, type, isReadOnly, isMultiple) as api-reference/crm/universal/crm-item-fields.md shows them.
    for (name, ty, read_only, multiple) in [
        ("contacts", "crm_contact", false, true),
        ("movedTime", "datetime", true, false),
        ("movedBy", "user", true, false),
        ("lastActivityBy", "user", true, false),
        ("lastActivityTime", "datetime", true, false),
        ("webformId", "integer", false, false),
    ] {
        let d = &fields[name];
        assert_eq!(d["type"], ty, "{name}: {d}");
        assert_eq!(d["isReadOnly"], read_only, "{name}: {d}");
        assert_eq!(d["isMultiple"], multiple, "{name}: {d}");
    }
    let v = p.ok("crm.item.add", json!({"entityTypeId": 1042, "fields": {"title": "A", "movedBy": 5}})).await;
    let item = &v["result"]["item"];
    assert_eq!((&item["movedBy"], &item["lastActivityBy"]), (&json!(1), &json!(1)), "{item}");
    assert_eq!(item["movedTime"], item["createdTime"]);
    assert_eq!(item["lastActivityTime"], item["createdTime"]);
    assert!(item.get("contacts").is_none(), "no item answer carries `contacts`: {item}");
    let id = item["id"].clone();
    let got = p.ok("crm.item.get", json!({"entityTypeId": 1042, "id": id})).await;
    assert_eq!(got["result"]["item"]["movedBy"], 1);
    assert!(got["result"]["item"].get("contacts").is_none());
    let listed = p.ok("crm.item.list", json!({"entityTypeId": 1042})).await;
    assert_eq!(listed["result"]["items"][0]["lastActivityBy"], 1);
    // Client fields switched off hide `contacts` with the others.
    p.ok("crm.type.update", json!({"id": 1, "fields": {"isClientEnabled": "N"}})).await;
    let f = p.ok("crm.item.fields", json!({"entityTypeId": 1042})).await;
    assert!(
        f["result"]["fields"].get("contacts").is_none() && f["result"]["fields"].get("contactIds").is_none()
    );
}

#[tokio::test]
async fn a_scalar_sent_to_a_multiple_field_names_its_php_type() {
    let p = Portal::fast().await;
    for (value, php) in
        [(json!("x"), "string"), (json!(5), "integer"), (json!(2.5), "double"), (json!(true), "boolean")]
    {
        let body = json!({"entityTypeId": 2, "fields": {"contactIds": value}});
        assert_eq!(
            refused(&p, "crm.item.add", body).await,
            (400, "100".into(), format!("Expected iterable value for multiple field, but got {php} instead"))
        );
    }
}

#[tokio::test]
async fn deal_pipelines_are_numbered_apart_from_other_types_from_1() {
    let p = Portal::fast().await;
    let deal =
        p.ok("crm.category.add", json!({"entityTypeId": 2, "fields": {"name": "Funnel", "sort": 300}})).await;
    assert_eq!(deal["result"]["category"]["id"], 1, "{deal}");
    assert_eq!(deal["result"]["category"]["entityTypeId"], 2, "{deal}");
    assert_eq!(deal["result"]["category"]["sort"], 300, "{deal}");
    let invoice = p.ok("crm.category.add", json!({"entityTypeId": 31, "fields": {"name": "More"}})).await;
    assert_eq!(
        invoice["result"]["category"]["id"], 2,
        "the smart invoice's default pipeline is 1: {invoice}"
    );
    let deal = p.ok("crm.category.add", json!({"entityTypeId": 2, "fields": {"name": "Second"}})).await;
    assert_eq!(deal["result"]["category"]["id"], 2);
    let deals = p.ok("crm.category.list", json!({"entityTypeId": 2})).await;
    let ids: Vec<&Value> =
        deals["result"]["categories"].as_array().expect("a list").iter().map(|c| &c["id"]).collect();
    assert_eq!(ids, [&json!(0), &json!(1), &json!(2)]);
    // The crm-status-add.md example's directory exists, and a deal takes its stages.
    let body = json!({"fields": {"ENTITY_ID": "DEAL_STAGE_1", "STATUS_ID": "DECISION", "NAME": "Decision", "SORT": 55}});
    assert!(p.ok("crm.status.add", body).await["result"].is_number());
    let v = p
        .ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"categoryId": 1, "stageId": "C1:DECISION"}}))
        .await;
    assert_eq!(v["result"]["item"]["stageId"], "C1:DECISION");
}
