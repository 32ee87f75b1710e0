//! The history methods over HTTP (issues 19 and 21): `crm.item.import` / `batchImport` (dates
//! and authors kept, the order rule, per-item errors, the import and administrator rights, no
//! automation), timeline comments and activities (owner checks, the list filters a client
//! reconciles with, the e-mail "sent" counter) and the deletes, with an item's comments and
//! activities going with it. Every rule is asserted with the status, code and text its page
//! documents (or the one the sandbox chose where a page is silent, see the methods' docs).

use crate::sandbox_common::Portal;

use b24_sandbox::{HistoryConfig, SandboxConfig};
use serde_json::{Value, json};

async fn portal_with(history: HistoryConfig) -> Portal {
    Portal::start(SandboxConfig { rate: 1000.0, burst: 1000.0, history, ..SandboxConfig::fast() }).await
}

async fn counter(p: &Portal, name: &str) -> u64 {
    p.inspect("state").await["history"][name]
        .as_u64()
        .unwrap_or_else(|| panic!("history.{name} in the state"))
}

/// (status, error, error_description).
async fn refusal(p: &Portal, method: &str, body: Value) -> (u16, String, String) {
    let (status, v) = p.call(method, body).await;
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    (status, text("error"), text("error_description"))
}

fn not_valid(title: &str, name: &str) -> (u16, String, String) {
    (400, "CRM_FIELD_ERROR_VALUE_NOT_VALID".into(), format!("Invalid value for field \"{title}\" ({name})"))
}

async fn add_user(p: &Portal, email: &str) -> u64 {
    let v = p.ok("user.add", json!({"EMAIL": email, "UF_DEPARTMENT": [1]})).await;
    v["result"].as_u64().expect("a user id")
}

async fn add_deal(p: &Portal) -> u64 {
    let v = p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"title": "Parent"}})).await;
    v["result"]["item"]["id"].as_u64().expect("an id")
}

#[tokio::test]
async fn import_keeps_the_original_dates_and_authors_and_answers_only_the_id() {
    let p = Portal::fast().await;
    let author = add_user(&p, "author@example.com").await;
    let fields = json!({"title": "Old deal", "createdTime": "2020-01-10T10:00:00+00:00", "createdBy": author,
                        "updatedTime": "2020-02-01 09:30:00", "updatedBy": 1});
    let v = p.ok("crm.item.import", json!({"entityTypeId": 2, "fields": fields})).await;
    assert_eq!(v["result"], json!({"item": {"id": 1}}), "the page's answer: the id only");
    let item = &p.ok("crm.item.get", json!({"entityTypeId": 2, "id": 1})).await["result"]["item"];
    assert_eq!(item["createdTime"], "2020-01-10T10:00:00+00:00");
    assert_eq!(item["updatedTime"], "2020-02-01T09:30:00+00:00");
    assert_eq!(item["createdBy"], json!(author));
    assert_eq!(item["updatedBy"], json!(1));
    assert_eq!(item["movedTime"], "2020-01-10T10:00:00+00:00", "an unsent movedTime is the creation");
    assert_eq!(item["movedBy"], json!(author), "an unsent movedBy is the creator");
    assert_eq!(item["title"], "Old deal");
    // Visible to the list like any other item.
    let list = p.ok("crm.item.list", json!({"entityTypeId": 2, "filter": {"createdBy": author}})).await;
    assert_eq!(list["total"], 1);
}

#[tokio::test]
async fn import_runs_no_automation_while_add_runs_it_once_per_item() {
    let p = Portal::fast().await;
    p.ok("crm.item.import", json!({"entityTypeId": 2, "fields": {"title": "A"}})).await;
    let data: Vec<Value> = (0..3).map(|i| json!({"title": format!("B{i}")})).collect();
    p.ok("crm.item.batchImport", json!({"entityTypeId": 3, "data": data})).await;
    assert_eq!(counter(&p, "automation_runs").await, 0, "import never runs automation");
    p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"title": "C"}})).await;
    p.ok("crm.item.add", json!({"entityTypeId": 4, "fields": {"title": "D"}})).await;
    assert_eq!(counter(&p, "automation_runs").await, 2, "one run per item crm.item.add created");
    // A refused add creates nothing and runs nothing.
    p.err("crm.item.add", json!({"entityTypeId": 2, "fields": {"stageId": "NOPE"}})).await;
    assert_eq!(counter(&p, "automation_runs").await, 2);
    assert_eq!(p.inspect("state").await["items"]["2"], 2);
}

#[tokio::test]
async fn import_refuses_an_item_created_before_the_types_newest_item() {
    let p = Portal::fast().await;
    let at = |t: &str| json!({"entityTypeId": 2, "fields": {"createdTime": t}});
    p.ok("crm.item.import", at("2021-05-01T00:00:00+00:00")).await;
    p.ok("crm.item.import", at("2021-05-01T00:00:00+00:00")).await; // equal is not earlier
    assert_eq!(
        refusal(&p, "crm.item.import", at("2021-04-30T23:59:59+00:00")).await,
        not_valid("Created on", "createdTime")
    );
    // Another type has its own newest item.
    p.ok(
        "crm.item.import",
        json!({"entityTypeId": 3, "fields": {"createdTime": "2019-01-01T00:00:00+00:00"}}),
    )
    .await;
    // An item added now is the newest: nothing older can be imported after it.
    p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {}})).await;
    assert_eq!(
        refusal(&p, "crm.item.import", at("2022-01-01T00:00:00+00:00")).await,
        not_valid("Created on", "createdTime")
    );
    assert_eq!(p.inspect("state").await["items"]["2"], 3);
}

#[tokio::test]
async fn import_checks_the_date_rules_of_the_overview() {
    let p = Portal::fast().await;
    let import = |f: Value| refusal(&p, "crm.item.import", json!({"entityTypeId": 2, "fields": f}));
    assert_eq!(
        import(json!({"createdTime": "2999-01-01T00:00:00+00:00"})).await,
        not_valid("Created on", "createdTime")
    );
    assert_eq!(
        import(
            json!({"createdTime": "2020-01-02T00:00:00+00:00", "updatedTime": "2020-01-01T00:00:00+00:00"})
        )
        .await,
        not_valid("Modified on", "updatedTime")
    );
    assert_eq!(
        import(
            json!({"createdTime": "2020-01-02T00:00:00+00:00", "updatedTime": "2999-01-01T00:00:00+00:00"})
        )
        .await,
        not_valid("Modified on", "updatedTime")
    );
    assert_eq!(
        import(
            json!({"createdTime": "2020-01-02T00:00:00+00:00", "updatedTime": "2020-01-05T00:00:00+00:00",
                      "movedTime": "2020-01-06T00:00:00+00:00"})
        )
        .await,
        not_valid("movedTime", "movedTime") // the deal schema titles it by its name
    );
    assert_eq!(import(json!({"createdTime": "yesterday"})).await, not_valid("Created on", "createdTime"));
    assert_eq!(import(json!({"createdBy": 777})).await, not_valid("Created by", "createdBy"));
    assert_eq!(p.inspect("state").await["items"]["2"], 0, "nothing refused was created");
}

#[tokio::test]
async fn batch_import_answers_each_item_on_its_own() {
    let p = Portal::fast().await;
    let data = json!([
        {"title": "ok", "createdTime": "2020-01-01T00:00:00+00:00"},
        {"title": "bad stage", "stageId": "NOPE"},
        {"title": "older than the first", "createdTime": "2019-01-01T00:00:00+00:00"},
        {"title": "ok too", "createdTime": "2020-06-01T00:00:00+00:00"}
    ]);
    let v = p.ok("crm.item.batchImport", json!({"entityTypeId": 2, "data": data})).await;
    let items = v["result"]["items"].as_array().expect("items");
    assert_eq!(items.len(), 4);
    assert_eq!(items[0], json!({"item": {"id": 1}}));
    assert_eq!(items[1]["error"], "CRM_FIELD_ERROR_VALUE_NOT_VALID");
    assert_eq!(items[2]["error_description"], "Invalid value for field \"Created on\" (createdTime)");
    assert_eq!(items[3], json!({"item": {"id": 2}}));
    let too_many: Vec<Value> = (0..21).map(|_| json!({})).collect();
    assert_eq!(
        refusal(&p, "crm.item.batchImport", json!({"entityTypeId": 2, "data": too_many})).await,
        (400, "MAX_IMPORT_BATCH_SIZE_EXCEEDED".into(), "You cannot import more than 20 items".into())
    );
    let twenty: Vec<Value> = (0..20).map(|_| json!({})).collect();
    p.ok("crm.item.batchImport", json!({"entityTypeId": 2, "data": twenty})).await;
    assert_eq!(
        refusal(&p, "crm.item.batchImport", json!({"entityTypeId": 2})).await,
        (400, "100".into(), "Could not find value for parameter {data}".into())
    );
    assert_eq!(
        refusal(&p, "crm.item.batchImport", json!({"entityTypeId": 1304, "data": []})).await,
        (400, "NOT_FOUND".into(), "SPA not found".into())
    );
}

#[tokio::test]
async fn batch_import_runs_inside_batch() {
    let p = Portal::fast().await;
    let query =
        b24_sandbox::phpquery::encode(&json!({"entityTypeId": 2, "data": [{"title": "x"}, {"title": "y"}]}));
    let (status, v) = p.batch(false, json!({"r1": format!("crm.item.batchImport?{query}")})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"]["result"]["r1"]["items"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(counter(&p, "automation_runs").await, 0);
}

#[tokio::test]
async fn without_the_import_permission_both_methods_are_denied() {
    let p = portal_with(HistoryConfig { import_denied: true, ..HistoryConfig::default() }).await;
    let denied = (400, "ACCESS_DENIED".to_string(), "Access denied".to_string());
    assert_eq!(refusal(&p, "crm.item.import", json!({"entityTypeId": 2, "fields": {}})).await, denied);
    assert_eq!(refusal(&p, "crm.item.batchImport", json!({"entityTypeId": 2, "data": [{}]})).await, denied);
    p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {}})).await;
    // Granted by default.
    let q = Portal::fast().await;
    q.ok("crm.item.import", json!({"entityTypeId": 2, "fields": {}})).await;
}

#[tokio::test]
async fn a_non_administrator_may_import_but_not_set_dates_or_authors() {
    let p = portal_with(HistoryConfig { not_admin: true, ..HistoryConfig::default() }).await;
    p.ok("crm.item.import", json!({"entityTypeId": 2, "fields": {"title": "plain"}})).await;
    for (name, title, value) in [
        ("createdTime", "Created on", json!("2020-01-01T00:00:00+00:00")),
        ("updatedBy", "Modified by", json!(1)),
    ] {
        assert_eq!(
            refusal(&p, "crm.item.import", json!({"entityTypeId": 2, "fields": {name: value}})).await,
            not_valid(title, name)
        );
    }
    let v = p.ok("crm.item.batchImport", json!({"entityTypeId": 2, "data": [{"createdBy": 1}, {}]})).await;
    assert_eq!(v["result"]["items"][0]["error"], "CRM_FIELD_ERROR_VALUE_NOT_VALID");
    assert!(v["result"]["items"][1]["item"]["id"].is_u64());
    // `profile` says so (api-reference/common/users/profile.md: ADMIN).
    assert_eq!(p.ok("profile", json!({})).await["result"]["ADMIN"], false);
    // An administrator (the default) may.
    let q = Portal::fast().await;
    q.ok("crm.item.import", json!({"entityTypeId": 2, "fields": {"createdBy": 1}})).await;
    assert_eq!(q.ok("profile", json!({})).await["result"]["ADMIN"], true);
}

#[tokio::test]
async fn a_comment_needs_an_existing_owner_and_a_text() {
    let p = Portal::fast().await;
    let deal = add_deal(&p).await;
    let add = |f: Value| refusal(&p, "crm.timeline.comment.add", json!({"fields": f}));
    let owner = (400, "OWNER_NOT_FOUND".to_string(), "Owner of the item not found".to_string());
    assert_eq!(add(json!({"ENTITY_TYPE": "deal", "ENTITY_ID": deal + 1, "COMMENT": "x"})).await, owner);
    assert_eq!(add(json!({"ENTITY_TYPE": "contact", "ENTITY_ID": deal, "COMMENT": "x"})).await, owner);
    assert_eq!(add(json!({"ENTITY_TYPE": "nonsense", "ENTITY_ID": deal, "COMMENT": "x"})).await, owner);
    assert_eq!(
        add(json!({"ENTITY_TYPE": "deal", "ENTITY_ID": deal, "COMMENT": "  "})).await,
        (400, "INVALID_ARG_VALUE".into(), "Empty comment".into())
    );
    assert_eq!(
        refusal(&p, "crm.timeline.comment.add", json!({"FIELDS": {"ENTITY_TYPE": "deal"}})).await,
        (400, "100".into(), "Could not find value for parameter {fields}".into()),
        "only the lower-case `fields` is read"
    );
    let v = p
        .ok(
            "crm.timeline.comment.add",
            json!({"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal, "COMMENT": "Called", "AUTHOR_ID": 1,
                              "CREATED": "2001-01-01T00:00:00+00:00"}}),
        )
        .await;
    let id = v["result"].as_u64().expect("the comment's id");
    let got = p.ok("crm.timeline.comment.get", json!({"id": id})).await;
    assert_eq!(got["result"]["COMMENT"], "Called");
    assert_eq!(got["result"]["ENTITY_TYPE"], "deal");
    assert_eq!(got["result"]["ENTITY_ID"], deal.to_string());
    assert_ne!(got["result"]["CREATED"], "2001-01-01T00:00:00+00:00", "CREATED is read-only");
    assert_eq!(counter(&p, "comments").await, 1);
}

#[tokio::test]
async fn comments_list_by_owner_and_match_text_and_author() {
    let p = Portal::fast().await;
    let a = add_deal(&p).await;
    let b = add_deal(&p).await;
    let other = add_user(&p, "other@example.com").await;
    for (deal, text, author) in [(a, "one", 1), (a, "two", other), (b, "one", 1)] {
        p.ok(
            "crm.timeline.comment.add",
            json!({"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal, "COMMENT": text, "AUTHOR_ID": author}}),
        )
        .await;
    }
    let v =
        p.ok("crm.timeline.comment.list", json!({"filter": {"ENTITY_ID": a, "ENTITY_TYPE": "deal"}})).await;
    assert_eq!(v["total"], 2);
    let texts: Vec<&str> =
        v["result"].as_array().unwrap().iter().filter_map(|c| c["COMMENT"].as_str()).collect();
    assert_eq!(texts, ["one", "two"]);
    let v = p
        .ok(
            "crm.timeline.comment.list",
            json!({"filter": {"ENTITY_ID": a, "ENTITY_TYPE": "deal", "AUTHOR_ID": other}, "select": ["ID", "COMMENT"]}),
        )
        .await;
    assert_eq!(v["result"], json!([{"ID": "2", "COMMENT": "two"}]));
    let v = p
        .ok(
            "crm.timeline.comment.list",
            json!({"filter": {"ENTITY_ID": a, "ENTITY_TYPE": "deal"}, "order": {"ID": "DESC"}}),
        )
        .await;
    assert_eq!(v["result"][0]["ID"], "2");
    assert_eq!(
        refusal(&p, "crm.timeline.comment.list", json!({"filter": {"ENTITY_ID": a}})).await,
        (400, String::new(), "ENTITY_TYPE is not defined or invalid.".into())
    );
}

#[tokio::test]
async fn comments_update_get_and_delete_answer_their_pages_errors() {
    let p = Portal::fast().await;
    let deal = add_deal(&p).await;
    let v = p
        .ok(
            "crm.timeline.comment.add",
            json!({"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal, "COMMENT": "a"}}),
        )
        .await;
    let id = v["result"].as_u64().unwrap();
    assert_eq!(
        p.ok("crm.timeline.comment.update", json!({"id": id, "fields": {"COMMENT": "b"}})).await["result"],
        json!(id)
    );
    assert_eq!(p.ok("crm.timeline.comment.get", json!({"id": id})).await["result"]["COMMENT"], "b");
    let not_found = (400, "NOT_FOUND".to_string(), "Not found.".to_string());
    assert_eq!(
        refusal(&p, "crm.timeline.comment.update", json!({"id": 99, "fields": {"COMMENT": "b"}})).await,
        not_found
    );
    assert_eq!(
        refusal(&p, "crm.timeline.comment.update", json!({"id": id, "fields": {"COMMENT": ""}})).await,
        (400, "INVALID_ARG_VALUE".into(), "Empty comment".into())
    );
    assert_eq!(
        refusal(&p, "crm.timeline.comment.delete", json!({"id": id, "ownerTypeId": 2, "ownerId": deal + 5}))
            .await,
        (400, "OWNER_NOT_FOUND".into(), "Owner of the item not found".into())
    );
    let v = p.ok("crm.timeline.comment.delete", json!({"id": id, "ownerTypeId": 2, "ownerId": deal})).await;
    assert_eq!(v["result"], Value::Null);
    assert_eq!(refusal(&p, "crm.timeline.comment.delete", json!({"id": id})).await, not_found);
    assert_eq!(
        refusal(&p, "crm.timeline.comment.get", json!({"id": id})).await,
        (400, String::new(), "Not found.".into())
    );
    assert_eq!(
        refusal(&p, "crm.timeline.comment.get", json!({})).await,
        (400, String::new(), "ID is not defined or invalid.".into())
    );
}

fn call_fields(owner: u64) -> Value {
    json!({"OWNER_TYPE_ID": 2, "OWNER_ID": owner, "TYPE_ID": 2, "SUBJECT": "Call", "RESPONSIBLE_ID": 1,
           "COMMUNICATIONS": [{"VALUE": "+15550100"}], "START_TIME": "2020-03-01 10:00:00",
           "END_TIME": "2020-03-01 10:30:00", "COMPLETED": "Y", "DIRECTION": 1,
           "ORIGINATOR_ID": "old-crm", "ORIGIN_ID": "call-1"})
}

#[tokio::test]
async fn an_activity_needs_its_owner_type_subject_responsible_and_communications() {
    let p = Portal::fast().await;
    let deal = add_deal(&p).await;
    let refuse = |mut f: Value, k: &str, v: Value| {
        f[k] = v;
        refusal(&p, "crm.activity.add", json!({"fields": f}))
    };
    let text = |t: &str| (400, String::new(), t.to_string());
    assert_eq!(
        refuse(call_fields(deal), "OWNER_ID", json!(deal + 1)).await,
        text(
            "Could not build binding. Please ensure that owner info and communications are defined correctly"
        )
    );
    assert_eq!(
        refuse(call_fields(deal), "TYPE_ID", json!(9)).await,
        text("The field TYPE_ID is not defined or invalid")
    );
    assert_eq!(
        refuse(call_fields(deal), "SUBJECT", json!("")).await,
        text("The field SUBJECT is not defined or empty")
    );
    assert_eq!(
        refuse(call_fields(deal), "RESPONSIBLE_ID", json!(55)).await,
        text("The field RESPONSIBLE_ID is not defined or invalid")
    );
    assert_eq!(
        refuse(call_fields(deal), "COMMUNICATIONS", json!([])).await,
        text("The field COMMUNICATIONS is not defined or invalid")
    );
    assert_eq!(
        refuse(call_fields(deal), "COMMUNICATIONS", json!([{"VALUE": "+1"}, {"VALUE": "+2"}])).await,
        text("The only one communication is allowed for activity of specified type")
    );
    let v = p.ok("crm.activity.add", json!({"fields": call_fields(deal)})).await;
    let id = v["result"].as_u64().expect("an id");
    let a = &p.ok("crm.activity.get", json!({"id": id})).await["result"];
    assert_eq!(a["START_TIME"], "2020-03-01T10:00:00+00:00");
    assert_eq!(a["DEADLINE"], "2020-03-01T10:00:00+00:00", "a call's deadline is its start");
    assert_eq!((a["COMPLETED"].as_str(), a["STATUS"].as_str()), (Some("Y"), Some("2")));
    assert_eq!(a["OWNER_ID"], deal.to_string());
    assert_eq!(refusal(&p, "crm.activity.get", json!({"id": id + 1})).await, text("Activity is not found"));
}

#[tokio::test]
async fn activities_are_found_by_originator_and_origin_and_by_binding() {
    let p = Portal::fast().await;
    let a = add_deal(&p).await;
    let b = add_deal(&p).await;
    for (deal, origin) in [(a, "call-1"), (a, "call-2"), (b, "call-3")] {
        let mut f = call_fields(deal);
        f["ORIGIN_ID"] = json!(origin);
        p.ok("crm.activity.add", json!({"fields": f})).await;
    }
    let v = p
        .ok("crm.activity.list", json!({"filter": {"ORIGINATOR_ID": "old-crm", "ORIGIN_ID": "call-2"}}))
        .await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["result"][0]["ORIGIN_ID"], "call-2");
    assert!(v["result"][0].get("COMMUNICATIONS").is_none(), "listed only when selected");
    let v = p
        .ok("crm.activity.list", json!({"filter": {"BINDINGS": [{"OWNER_TYPE_ID": 2, "OWNER_ID": b}]}, "select": ["*", "COMMUNICATIONS"]}))
        .await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["result"][0]["COMMUNICATIONS"][0]["VALUE"], "+15550100");
    let v = p
        .ok(
            "crm.activity.list",
            json!({"filter": {"OWNER_TYPE_ID": 2, "OWNER_ID": a}, "order": {"ID": "DESC"}}),
        )
        .await;
    assert_eq!(v["result"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["result"][0]["ORIGIN_ID"], "call-2");
}

#[tokio::test]
async fn an_outgoing_email_added_completed_is_sent_and_one_completed_later_is_not() {
    let p = Portal::fast().await;
    let deal = add_deal(&p).await;
    let email = |completed: &str| {
        json!({"fields": {"OWNER_TYPE_ID": 2, "OWNER_ID": deal, "TYPE_ID": 4, "SUBJECT": "Hello", "RESPONSIBLE_ID": 1,
                          "COMMUNICATIONS": [{"VALUE": "client@example.com"}], "DIRECTION": 2, "COMPLETED": completed}})
    };
    let v = p.ok("crm.activity.add", email("N")).await;
    let id = v["result"].as_u64().unwrap();
    assert_eq!(counter(&p, "emails_sent").await, 0, "COMPLETED = N is not sent (the add page)");
    assert_eq!(
        p.ok("crm.activity.update", json!({"id": id, "fields": {"COMPLETED": "Y"}})).await["result"],
        true
    );
    assert_eq!(p.ok("crm.activity.get", json!({"id": id})).await["result"]["COMPLETED"], "Y");
    assert_eq!(counter(&p, "emails_sent").await, 0, "marking it completed sends nothing");
    p.ok("crm.activity.add", email("Y")).await;
    assert_eq!(counter(&p, "emails_sent").await, 1, "an outgoing e-mail added completed is sent");
    let mut incoming = email("Y");
    incoming["fields"]["DIRECTION"] = json!(1);
    p.ok("crm.activity.add", incoming).await;
    assert_eq!(counter(&p, "emails_sent").await, 1, "an incoming e-mail is never sent");
}

#[tokio::test]
async fn deleting_an_item_takes_its_comments_and_activities_with_it() {
    let p = Portal::fast().await;
    let gone = add_deal(&p).await;
    let kept = add_deal(&p).await;
    for deal in [gone, kept] {
        p.ok(
            "crm.timeline.comment.add",
            json!({"fields": {"ENTITY_TYPE": "deal", "ENTITY_ID": deal, "COMMENT": "x"}}),
        )
        .await;
        p.ok("crm.activity.add", json!({"fields": call_fields(deal)})).await;
    }
    let v = p.ok("crm.item.delete", json!({"entityTypeId": 2, "id": gone})).await;
    assert_eq!(v["result"], json!([]), "crm-item-delete.md's answer");
    assert_eq!((counter(&p, "comments").await, counter(&p, "activities").await), (1, 1));
    let v = p
        .ok("crm.timeline.comment.list", json!({"filter": {"ENTITY_ID": gone, "ENTITY_TYPE": "deal"}}))
        .await;
    assert_eq!(v["total"], 0);
    let v = p.ok("crm.activity.list", json!({"filter": {"OWNER_ID": kept}})).await;
    assert_eq!(v["total"], 1);
    assert_eq!(
        refusal(&p, "crm.item.delete", json!({"entityTypeId": 2, "id": gone})).await,
        (400, "NOT_FOUND".into(), "Item not found".into())
    );
}

#[tokio::test]
async fn activity_and_comment_deletes_of_unknown_ids_answer_their_pages_errors() {
    let p = Portal::fast().await;
    let deal = add_deal(&p).await;
    let v = p.ok("crm.activity.add", json!({"fields": call_fields(deal)})).await;
    let id = v["result"].as_u64().unwrap();
    assert_eq!(p.ok("crm.activity.delete", json!({"id": id})).await["result"], true);
    assert_eq!(
        refusal(&p, "crm.activity.delete", json!({"id": id})).await,
        (400, String::new(), "Activity is not found".into())
    );
    assert_eq!(
        refusal(&p, "crm.timeline.comment.delete", json!({"id": 5})).await,
        (400, "NOT_FOUND".into(), "Not found.".into())
    );
    assert_eq!(
        refusal(&p, "crm.timeline.comment.delete", json!({})).await,
        (400, "100".into(), "Could not find value for parameter {id}".into())
    );
}

#[tokio::test]
async fn workflow_templates_list_by_filter_and_only_for_an_administrator() {
    use b24_sandbox::WorkflowTemplate;
    let mut lead = WorkflowTemplate::on_create(3, "LEAD");
    lead.auto_execute = 2;
    let history = HistoryConfig {
        workflows: vec![WorkflowTemplate::on_create(1, "DEAL"), WorkflowTemplate::on_create(2, "deal"), lead],
        ..HistoryConfig::default()
    };
    let p = portal_with(history.clone()).await;
    let v = p
        .ok(
            "bizproc.workflow.template.list",
            json!({"select": ["ID", "NAME", "AUTO_EXECUTE"], "filter": {"MODULE_ID": "crm", "DOCUMENT_TYPE": "DEAL", ">AUTO_EXECUTE": 0}, "order": {"ID": "DESC"}}),
        )
        .await;
    assert_eq!(v["total"], 2);
    assert_eq!(v["result"][0], json!({"ID": "2", "NAME": "Welcome sequence 2", "AUTO_EXECUTE": "1"}));
    // Upper-case parameters, as the page's table names them; the default select is the ID.
    let v = p.ok("bizproc.workflow.template.list", json!({"FILTER": {"document_type": "LEAD"}})).await;
    assert_eq!(v["result"], json!([{"ID": "3"}]));
    // Administrators only (the page's table).
    let q = portal_with(HistoryConfig { not_admin: true, ..history }).await;
    assert_eq!(
        refusal(&q, "bizproc.workflow.template.list", json!({})).await,
        (400, "ACCESS_DENIED".to_string(), "Access denied!".to_string())
    );
}
