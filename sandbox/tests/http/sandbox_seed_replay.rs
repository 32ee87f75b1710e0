//! Replays every request example of the five method pages in `shared/seeds/` (the cURL bodies,
//! webhook and OAuth variants; the JS/PHP variants send the same bodies, where they differ they
//! are replayed too) against the sandbox, and checks the documented answer shape and errors.
//!
//! The portal is first brought to the state the examples assume: smart processes 1..=20 (so
//! `typeIds: [1,2,3]` and `id: 20` exist; 20 has the page's initial relations), deal pipeline 9
//! with the stage `C9:UC_KN8KFI`, the SPA 1302 with the page's `ufCrm44_…` fields, the deal
//! field `ufCrm_1721244707107`, and enumeration items 115..=118. Only the user-field id 536 is
//! replaced by the id of the field the test creates (the sandbox numbers its fields itself).

use crate::sandbox_common;

use b24_sandbox::{SETUP_METHODS, SandboxConfig, SchemaFile};
use sandbox_common::Portal;
use serde_json::{Value, json};

const TOKEN: &str = "**put_access_token_here**";

// crm.automatedsolution.add
const WS_WITH_TYPES: &str = r#"{"fields":{"title":"HR","typeIds":[1,2,3]}}"#;
const WS_WITH_TYPES_OAUTH: &str =
    r#"{"fields":{"title":"HR","typeIds":[1,2,3]},"auth":"**put_access_token_here**"}"#;
const WS_BARE: &str = r#"{"fields":{"title":"HR"}}"#;
const WS_BARE_OAUTH: &str = r#"{"fields":{"title":"HR"},"auth":"**put_access_token_here**"}"#;

// crm.type.update
const TYPE_FLAGS: &str = r#"{"id":20,"fields":{"isAutomationEnabled":"N","isBeginCloseDatesEnabled":"N","isClientEnabled":"N","isObserversEnabled":"N","isSourceEnabled":"Y","isStagesEnabled":"Y","isUseInUserfieldEnabled":"Y","linkedUserFields":{"TASKS_TASK|UF_CRM_TASK":"true"}}}"#;
const TYPE_FLAGS_OAUTH: &str = r#"{"id":20,"fields":{"isAutomationEnabled":"N","isBeginCloseDatesEnabled":"N","isClientEnabled":"N","isObserversEnabled":"N","isSourceEnabled":"Y","isStagesEnabled":"Y","isUseInUserfieldEnabled":"Y","linkedUserFields":{"TASKS_TASK|UF_CRM_TASK":"true"}},"auth":"**put_access_token_here**"}"#;
const TYPE_RELATIONS: &str = r#"{"id":20,"fields":{"relations":{"parent":[],"child":[{"entityTypeId":1,"isChildrenListEnabled":"true"},{"entityTypeId":2,"isChildrenListEnabled":"false"}]}}}"#;
const TYPE_RELATIONS_OAUTH: &str = r#"{"id":20,"fields":{"relations":{"parent":[],"child":[{"entityTypeId":1,"isChildrenListEnabled":"true"},{"entityTypeId":2,"isChildrenListEnabled":"false"}]}},"auth":"**put_access_token_here**"}"#;
/// The page's "Note" example (its SPA id 128 stands for "the SPA to change": replayed on 20).
const TYPE_NOTE: &str = r#"{"id":20,"fields":{"isDocumentsEnabled":"N"}}"#;

// crm.contact.userfield.update (the string field's id 536 is replaced by the created field's)
const UF_STRING: &str = r#"{"id":536,"fields":{"MANDATORY":"N","SHOW_FILTER":"N","SETTINGS":{"DEFAULT_VALUE":"Hello, World! Default value (changed)","ROWS":10},"SORT":2000,"EDIT_IN_LIST":"N","LIST_FILTER_LABEL":"Hello, World! Filter (changed)","LIST_COLUMN_LABEL":{"en":"Hello, World! Column (changed)","de":"Hallo, Welt! Spalte (geändert)"},"EDIT_FORM_LABEL":{"en":"Hello, World! Edit (changed)","de":"Hallo, Welt! Bearbeiten (geändert)"},"ERROR_MESSAGE":{"en":"Hello, World! Error (changed)","de":"Hallo, Welt! Fehler (geändert)"},"HELP_MESSAGE":{"en":"Hello, World! Help (changed)","de":"Hallo, Welt! Hilfe (geändert)"}}}"#;
const UF_STRING_OAUTH: &str = r#"{"id":536,"fields":{"MANDATORY":"N","SHOW_FILTER":"N","SETTINGS":{"DEFAULT_VALUE":"Hello, World! Default value (changed)","ROWS":10},"SORT":2000,"EDIT_IN_LIST":"N","LIST_FILTER_LABEL":"Hello, World! Filter (changed)","LIST_COLUMN_LABEL":{"en":"Hello, World! Column (changed)","de":"Hallo, Welt! Spalte (geändert)"},"EDIT_FORM_LABEL":{"en":"Hello, World! Edit (changed)","de":"Hallo, Welt! Bearbeiten (geändert)"},"ERROR_MESSAGE":{"en":"Hello, World! Error (changed)","de":"Hallo, Welt! Fehler (geändert)"},"HELP_MESSAGE":{"en":"Hello, World! Help (changed)","de":"Hallo, Welt! Hilfe (geändert)"}}, "auth":"**put_access_token_here**"}"#;
/// The PHP SDK example (its id 123 is replaced too; `LIST` and `SETTINGS` are empty strings).
const UF_SDK: &str = r#"{"id":123,"fields":{"FIELD_NAME":"New Field Name","USER_TYPE_ID":"string","SORT":"100","MULTIPLE":"N","MANDATORY":"N","SHOW_FILTER":"Y","SHOW_IN_LIST":"Y","EDIT_IN_LIST":"Y","IS_SEARCHABLE":"Y","EDIT_FORM_LABEL":"New Label","LIST_COLUMN_LABEL":"Column Label","LIST_FILTER_LABEL":"Filter Label","ERROR_MESSAGE":"Error Message","HELP_MESSAGE":"Help Message","LIST":"","SETTINGS":""}}"#;
/// The list example, as published: it has no `id`.
const UF_LIST: &str = r#"{"fields":{"MANDATORY":"N","SHOW_FILTER":"Y","LIST":[{"ID":115,"DEL":"Y"},{"ID":116,"DEL":"Y"},{"ID":117,"VALUE":"List item #3 (changed)","SORT":50},{"VALUE":"List item #5","XML_ID":"XML_ID_5","SORT":500}],"SETTINGS":{"DISPLAY":"DIALOG","LIST_HEIGHT":3},"SORT":1000}}"#;
const UF_LIST_OAUTH: &str = r#"{"fields":{"MANDATORY":"N","SHOW_FILTER":"Y","LIST":[{"ID":115,"DEL":"Y"},{"ID":116,"DEL":"Y"},{"ID":117,"VALUE":"List item #3 (changed)","SORT":50},{"VALUE":"List item #5","XML_ID":"XML_ID_5","SORT":500}],"SETTINGS":{"DISPLAY":"DIALOG","LIST_HEIGHT":3},"SORT":1000},"auth":"**put_access_token_here**"}"#;

// crm.item.add (the cURL deal example sends the JS expressions `formatDate(...)` literally)
const DEAL_CURL: &str = r#"{"entityTypeId":2,"fields":{"title":"New deal (specifically for the REST methods example)","typeId":"SERVICE","categoryId":9,"stageId":"C9:UC_KN8KFI","isReccurring":"Y","probability":50,"currencyId":"USD","isManualOpportunity":"Y","opportunity":999.99,"taxValue":99.9,"companyId":5,"contactId":4,"contactIds":[4,5],"quoteId":7,"begindate":"formatDate(monthAgo)","closedate":"formatDate(twelveDaysInAdvance)","opened":"N","comments":"commentsExample","assignedById":6,"sourceId":"WEB","sourceDescription":"There should be additional description about the source","leadId":102,"additionalInfo":"There should be additional information","observers":[2,3],"utmSource":"google","utmMedium":"CPC","ufCrm_1721244707107":1111.1,"parentId1220":2}}"#;
const DEAL_CURL_OAUTH: &str = r#"{"entityTypeId":2,"fields":{"title":"New deal (specifically for the REST methods example)","typeId":"SERVICE","categoryId":9,"stageId":"C9:UC_KN8KFI","isReccurring":"Y","probability":50,"currencyId":"USD","isManualOpportunity":"Y","opportunity":999.99,"taxValue":99.9,"companyId":5,"contactId":4,"contactIds":[4,5],"quoteId":7,"begindate":"formatDate(monthAgo)","closedate":"formatDate(twelveDaysInAdvance)","opened":"N","comments":"commentsExample","assignedById":6,"sourceId":"WEB","sourceDescription":"There should be additional description about the source","leadId":102,"additionalInfo":"There should be additional information","observers":[2,3],"utmSource":"google","utmMedium":"CPC","ufCrm_1721244707107":1111.1,"parentId1220":2},"auth":"**put_access_token_here**"}"#;
/// The JS/PHP deal example: the same fields with the dates computed.
const DEAL_JS: &str = r#"{"entityTypeId":2,"fields":{"title":"New deal (specifically for the REST methods example)","typeId":"SERVICE","categoryId":9,"stageId":"C9:UC_KN8KFI","isReccurring":"Y","probability":50,"currencyId":"USD","isManualOpportunity":"Y","opportunity":999.99,"taxValue":99.9,"companyId":5,"contactId":4,"contactIds":[4,5],"quoteId":7,"begindate":"2024-06-18","closedate":"2024-07-30","opened":"N","comments":"\nExample comment within the deal\n[B]Bold text[/B]\n","assignedById":6,"sourceId":"WEB","sourceDescription":"There should be additional description about the source","leadId":102,"additionalInfo":"There should be additional information","observers":[2,3],"utmSource":"google","utmMedium":"CPC","ufCrm_1721244707107":1111.1,"parentId1220":2}}"#;
/// The PHP SDK example (a lead with times and dates; `createdTime`/`updatedTime` are read-only).
const LEAD_SDK: &str = r#"{"entityTypeId":1,"fields":{"title":"New Item","createdTime":"2024-07-24T10:00:00+00:00","updatedTime":"2024-07-24T10:00:00+00:00","begindate":"2024-07-24T10:00:00+00:00","closedate":"2024-07-24T10:00:00+00:00"}}"#;
/// The SPA example with a set of custom fields (`$(date '+%Y-%m-%d')` replaced by a date).
const SPA_ITEM: &str = r#"{"entityTypeId":1302,"fields":{"ufCrm44_1721812760630":"String for custom field of type String","ufCrm44_1721812814433":81,"ufCrm44_1721812853419":"2024-07-24","ufCrm44_1721812885588":["example.com","second-example.com"],"ufCrm44_1721812898903":["green_pixel.png","iVBORw0KGgoAAAANSUhEUgAAAIAAAAAMCAYAAACqTLVoAAAALklEQVR42u3SAQEAAAQDsEsuOj3YMqwy6fBWCSCAAAIgAAIgAAIgAAIgAAJw3QLOrRH1U/gU4gAAAABJRU5ErkJggg=="],"ufCrm44_1721812915476":"300|USD","ufCrm44_1721812935209":"Y","ufCrm44_1721812948498":9999.9}}"#;
const SPA_ITEM_OAUTH: &str = r#"{"entityTypeId":1302,"fields":{"ufCrm44_1721812760630":"String for custom field of type String","ufCrm44_1721812814433":81,"ufCrm44_1721812853419":"2024-07-24","ufCrm44_1721812885588":["example.com","second-example.com"],"ufCrm44_1721812898903":["green_pixel.png","iVBORw0KGgoAAAANSUhEUgAAAIAAAAAMCAYAAACqTLVoAAAALklEQVR42u3SAQEAAAQDsEsuOj3YMqwy6fBWCSCAAAIgAAIgAAIgAAIgAAJw3QLOrRH1U/gU4gAAAABJRU5ErkJggg=="],"ufCrm44_1721812915476":"300|USD","ufCrm44_1721812935209":"Y","ufCrm44_1721812948498":9999.9},"auth":"**put_access_token_here**"}"#;

// user.add
const USER: &str = r#"{"EMAIL":"newuser1@example.com","UF_DEPARTMENT":[1]}"#;
const USER_OAUTH: &str =
    r#"{"EMAIL":"newuser1@example.com","UF_DEPARTMENT":[1],"auth":"**put_access_token_here**"}"#;

/// Every key of the deal in the crm.item.add page's answer.
const DEAL_KEYS: [&str; 69] = [
    "id",
    "createdTime",
    "dateCreateShort",
    "updatedTime",
    "dateModifyShort",
    "createdBy",
    "updatedBy",
    "assignedById",
    "opened",
    "leadId",
    "companyId",
    "contactId",
    "quoteId",
    "title",
    "productId",
    "categoryId",
    "stageId",
    "stageSemanticId",
    "isNew",
    "isRecurring",
    "isReturnCustomer",
    "isRepeatedApproach",
    "closed",
    "typeId",
    "opportunity",
    "isManualOpportunity",
    "taxValue",
    "currencyId",
    "probability",
    "comments",
    "begindate",
    "begindateShort",
    "closedate",
    "closedateShort",
    "eventDate",
    "eventDateShort",
    "eventId",
    "eventDescription",
    "locationId",
    "webformId",
    "sourceId",
    "sourceDescription",
    "originatorId",
    "originId",
    "additionalInfo",
    "searchContent",
    "orderStage",
    "movedBy",
    "movedTime",
    "lastActivityBy",
    "lastActivityTime",
    "isWork",
    "isWon",
    "isLose",
    "receivedAmount",
    "lostAmount",
    "hasProducts",
    "ufCrm_1721244707107",
    "parentId1220",
    "utmSource",
    "utmMedium",
    "utmCampaign",
    "utmContent",
    "utmTerm",
    "observers",
    "contactIds",
    "entityTypeId",
    "id",
    "title",
];

fn body(text: &str) -> Value {
    serde_json::from_str(text).expect("the page's example is JSON")
}

/// Replays one example: OAuth bodies (with the page's token placeholder) go to the OAuth
/// endpoint with the sandbox's token, the others to the webhook. `id` replaces the body's `id`.
async fn replay(p: &Portal, method: &str, text: &str, id: Option<u64>) -> (u16, Value) {
    let mut b = body(text);
    if let Some(id) = id {
        b["id"] = json!(id);
    }
    if b.get("auth").and_then(Value::as_str) == Some(TOKEN) {
        b["auth"] = json!(p.handle.config().oauth.access_token);
        let url = format!("{}{method}", p.handle.client_endpoint());
        let resp = p.client.post(url).json(&b).send().await.expect("an answer");
        let status = resp.status().as_u16();
        return (status, resp.json().await.expect("a JSON answer"));
    }
    p.call(method, b).await
}

async fn ok(p: &Portal, method: &str, text: &str, id: Option<u64>) -> Value {
    let (status, v) = replay(p, method, text, id).await;
    assert_eq!(status, 200, "{method} {text} -> {v}");
    assert!(v["time"]["start"].is_number() && v["time"]["operating"].is_number(), "the answer's time: {v}");
    v["result"].clone()
}

async fn refused(p: &Portal, method: &str, text: &str, id: Option<u64>) -> (u16, String, String) {
    let (status, v) = replay(p, method, text, id).await;
    let s = |k: &str| v[k].as_str().map(str::to_string).unwrap_or_else(|| v[k].to_string());
    (status, s("error"), s("error_description"))
}

/// The state the examples assume (see the module documentation).
async fn portal() -> Portal {
    let schema = SchemaFile::from_toml(sandbox_common::SPA_SCHEMA, "seed-replay").expect("valid schema");
    let mut config =
        SandboxConfig { rate: 1000.0, burst: 1000.0, schema: Some(schema), ..SandboxConfig::fast() };
    // The examples link records of their author's portal (company 5, contacts 4 and 5, quote 7,
    // lead 102, users 2, 3 and 6): a portal holding them is what the documented answer assumes.
    config.items.accept_dangling_refs = true;
    let p = Portal::start(config).await;
    let mut deal_category = 0;
    while deal_category < 9 {
        let v = p.ok("crm.category.add", json!({"entityTypeId": 2, "fields": {"name": "Funnel"}})).await;
        deal_category = v["result"]["category"]["id"].as_u64().expect("category id");
    }
    assert_eq!(deal_category, 9, "the deal pipeline of the example");
    p.ok(
        "crm.status.add",
        json!({"fields": {"ENTITY_ID": "DEAL_STAGE_9", "STATUS_ID": "UC_KN8KFI", "NAME": "Negotiation"}}),
    )
    .await;
    for (n, v) in (1..).zip(sandbox_common::add_page_smart_processes(&p).await) {
        assert_eq!(v["result"]["type"]["id"], n);
    }
    p.ok(
        "crm.deal.userfield.add",
        json!({"fields": {"FIELD_NAME": "1721244707107", "USER_TYPE_ID": "double"}}),
    )
    .await;
    p
}

#[tokio::test]
async fn the_automatedsolution_add_examples_answer_the_documented_workspace() {
    let p = portal().await;
    let r = ok(&p, "crm.automatedsolution.add", WS_WITH_TYPES, None).await;
    assert_eq!(r, json!({"automatedSolution": {"id": 1, "title": "HR", "typeIds": [1, 2, 3]}}));
    let r = ok(&p, "crm.automatedsolution.add", WS_WITH_TYPES_OAUTH, None).await;
    assert_eq!(r, json!({"automatedSolution": {"id": 2, "title": "HR", "typeIds": [1, 2, 3]}}));
    let first = p.ok("crm.automatedsolution.get", json!({"id": 1})).await;
    assert_eq!(first["result"]["automatedSolution"]["typeIds"], json!([]), "linking moves the SPAs");
    let r = ok(&p, "crm.automatedsolution.add", WS_BARE, None).await;
    assert_eq!(r, json!({"automatedSolution": {"id": 3, "title": "HR", "typeIds": []}}));
    let r = ok(&p, "crm.automatedsolution.add", WS_BARE_OAUTH, None).await;
    assert_eq!(r["automatedSolution"]["id"], 4);
    let list = p.ok("crm.automatedsolution.list", json!({})).await;
    assert_eq!(list["total"], 4);
    // The page's error example: a workspace without a title.
    assert_eq!(
        refused(&p, "crm.automatedsolution.add", r#"{"fields":{"typeIds":[1]}}"#, None).await,
        (400, "BX_EMPTY_REQUIRED".into(), "The required field 'Title' is not filled".into())
    );
}

#[tokio::test]
async fn the_crm_type_update_examples_answer_the_documented_type() {
    let p = portal().await;
    for text in [TYPE_FLAGS, TYPE_FLAGS_OAUTH] {
        let r = ok(&p, "crm.type.update", text, None).await;
        let t = &r["type"];
        for key in sandbox_common::TYPE_KEYS {
            assert!(t.get(key).is_some(), "the answer lacks {key}: {t}");
        }
        assert_eq!(
            (t["id"].clone(), t["entityTypeId"].clone(), t["title"].clone()),
            (json!(20), json!(1220), json!("SPA #3"))
        );
        for (flag, want) in [
            ("isAutomationEnabled", "N"),
            ("isBeginCloseDatesEnabled", "N"),
            ("isClientEnabled", "N"),
            ("isObserversEnabled", "N"),
            ("isSourceEnabled", "Y"),
            ("isStagesEnabled", "Y"),
            ("isUseInUserfieldEnabled", "Y"),
        ] {
            assert_eq!(t[flag], want, "{flag}");
        }
        assert_eq!(
            t["linkedUserFields"],
            json!({"CALENDAR_EVENT|UF_CRM_CAL_EVENT": "N", "TASKS_TASK|UF_CRM_TASK": "Y", "TASKS_TASK_TEMPLATE|UF_CRM_TASK": "N"})
        );
    }
    for text in [TYPE_RELATIONS, TYPE_RELATIONS_OAUTH] {
        let r = ok(&p, "crm.type.update", text, None).await;
        assert_eq!(
            r["type"]["relations"],
            json!({"parent": [], "child": [
                {"entityTypeId": 1, "isChildrenListEnabled": "Y", "isPredefined": "N"},
                {"entityTypeId": 2, "isChildrenListEnabled": "N", "isPredefined": "N"}]})
        );
    }
    let r = ok(&p, "crm.type.update", TYPE_NOTE, None).await;
    assert_eq!(
        (r["type"]["isDocumentsEnabled"].as_str(), r["type"]["isSourceEnabled"].as_str()),
        (Some("N"), Some("Y")),
        "only what is sent changes"
    );
    let f = p.ok("crm.item.fields", json!({"entityTypeId": 1220})).await;
    assert!(
        f["result"]["fields"].get("sourceId").is_some() && f["result"]["fields"].get("companyId").is_none()
    );
    assert!(f["result"]["fields"].get("parentId31").is_none(), "the parent relation was removed");
    // The page's error example: an unknown SPA.
    assert_eq!(
        refused(&p, "crm.type.update", TYPE_NOTE, Some(9999)).await,
        (400, "0".into(), "SPA not found".into())
    );
}

#[tokio::test]
async fn the_contact_userfield_update_examples_change_what_the_page_says() {
    let p = portal().await;
    let field = p
        .ok(
            "crm.contact.userfield.add",
            json!({"fields": {"FIELD_NAME": "HELLO", "USER_TYPE_ID": "string",
        "SETTINGS": {"DEFAULT_VALUE": "Hello", "ROWS": 1, "SIZE": 20, "MAX_LENGTH": 0}}}),
        )
        .await["result"]
        .as_u64()
        .expect("id");
    for text in [UF_STRING, UF_STRING_OAUTH] {
        assert_eq!(ok(&p, "crm.contact.userfield.update", text, Some(field)).await, json!(true));
    }
    let f = p.ok("crm.contact.userfield.get", json!({"id": field})).await["result"].clone();
    assert_eq!(
        f["SETTINGS"],
        json!({"DEFAULT_VALUE": "Hello, World! Default value (changed)", "ROWS": 10, "SIZE": 20, "MAX_LENGTH": 0})
    );
    assert_eq!(
        (f["SORT"].as_str(), f["EDIT_IN_LIST"].as_str(), f["MANDATORY"].as_str(), f["SHOW_FILTER"].as_str()),
        (Some("2000"), Some("N"), Some("N"), Some("N"))
    );
    assert_eq!(
        f["LIST_FILTER_LABEL"]["de"], "Hello, World! Filter (changed)",
        "a string is set for each language"
    );
    assert_eq!(
        f["LIST_COLUMN_LABEL"],
        json!({"en": "Hello, World! Column (changed)", "de": "Hallo, Welt! Spalte (geändert)", "ru": ""})
    );
    assert_eq!(f["EDIT_FORM_LABEL"]["de"], "Hallo, Welt! Bearbeiten (geändert)");
    assert_eq!(f["ERROR_MESSAGE"]["en"], "Hello, World! Error (changed)");
    assert_eq!(f["HELP_MESSAGE"]["de"], "Hallo, Welt! Hilfe (geändert)");

    assert_eq!(ok(&p, "crm.contact.userfield.update", UF_SDK, Some(field)).await, json!(true));
    let f = p.ok("crm.contact.userfield.get", json!({"id": field})).await["result"].clone();
    assert_eq!(
        (f["FIELD_NAME"].as_str(), f["USER_TYPE_ID"].as_str()),
        (Some("UF_CRM_HELLO"), Some("string")),
        "not changeable"
    );
    assert_eq!(
        (f["EDIT_FORM_LABEL"]["ru"].as_str(), f["IS_SEARCHABLE"].as_str(), f["SORT"].as_str()),
        (Some("New Label"), Some("Y"), Some("100"))
    );
    assert_eq!(f["SETTINGS"]["ROWS"], 10, "an empty SETTINGS changes nothing");

    // Enumeration items 115..=118 as on the page: a first list takes ids 101..=114.
    let filler: Vec<Value> = (1..=14).map(|i| json!({"VALUE": format!("Filler {i}")})).collect();
    p.ok(
        "crm.contact.userfield.add",
        json!({"fields": {"FIELD_NAME": "FILLER", "USER_TYPE_ID": "enumeration", "LIST": filler}}),
    )
    .await;
    let items: Vec<Value> = (1..=4)
        .map(|i| json!({"VALUE": format!("List item #{i}"), "SORT": 100 * i, "DEF": if i == 1 { "Y" } else { "N" }, "XML_ID": format!("XML_ID_{i}")}))
        .collect();
    let list_field = p
        .ok(
            "crm.contact.userfield.add",
            json!({"fields": {"FIELD_NAME": "LISTED", "USER_TYPE_ID": "enumeration", "LIST": items}}),
        )
        .await["result"]
        .as_u64()
        .expect("id");
    let before = p.ok("crm.contact.userfield.get", json!({"id": list_field})).await;
    let ids: Vec<&str> = before["result"]["LIST"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["ID"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["115", "116", "117", "118"]);
    // As published the list example has no id: the page's "ID is not defined or invalid".
    for text in [UF_LIST, UF_LIST_OAUTH] {
        assert_eq!(
            refused(&p, "crm.contact.userfield.update", text, None).await,
            (400, String::new(), "ID is not defined or invalid".into())
        );
    }
    assert_eq!(ok(&p, "crm.contact.userfield.update", UF_LIST, Some(list_field)).await, json!(true));
    let f = p.ok("crm.contact.userfield.get", json!({"id": list_field})).await["result"].clone();
    let list: Vec<(String, String, String, String)> = f["LIST"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| {
            let s = |k: &str| i[k].as_str().unwrap_or("").to_string();
            (s("ID"), s("VALUE"), s("SORT"), s("XML_ID"))
        })
        .collect();
    assert_eq!(
        list[..2],
        [
            (
                "117".to_string(),
                "List item #3 (changed)".to_string(),
                "50".to_string(),
                "XML_ID_3".to_string()
            ),
            ("118".to_string(), "List item #4".to_string(), "400".to_string(), "XML_ID_4".to_string()),
        ]
    );
    assert_eq!((list.len(), list[2].1.as_str(), list[2].3.as_str()), (3, "List item #5", "XML_ID_5"));
    assert_eq!(f["SETTINGS"], json!({"DISPLAY": "DIALOG", "LIST_HEIGHT": 3}));
    assert_eq!((f["SORT"].as_str(), f["SHOW_FILTER"].as_str()), (Some("1000"), Some("Y")));
    // The page's other errors: a duplicate XML_ID, an unknown id, and no rights.
    let dup = r#"{"fields":{"LIST":[{"VALUE":"Again","XML_ID":"XML_ID_5"}]}}"#;
    assert_eq!(
        refused(&p, "crm.contact.userfield.update", dup, Some(list_field)).await,
        (400, "ERROR_CORE".into(), "List item with value XML_ID=XML_ID_5 already exists".into())
    );
    assert_eq!(
        refused(&p, "crm.contact.userfield.update", UF_STRING, None).await.1,
        "ERROR_NOT_FOUND",
        "id 536 does not exist here"
    );
    let denied = Portal::start(SandboxConfig::fast().without_rights(SETUP_METHODS)).await;
    assert_eq!(
        refused(&denied, "crm.contact.userfield.update", UF_STRING, None).await,
        (400, String::new(), "Access denied.".into())
    );
}

#[tokio::test]
async fn the_crm_item_add_examples_answer_the_documented_item() {
    let p = portal().await;
    // The cURL variants send `formatDate(monthAgo)` as the date: the page's value error.
    for text in [DEAL_CURL, DEAL_CURL_OAUTH] {
        let (status, code, description) = refused(&p, "crm.item.add", text, None).await;
        assert_eq!((status, code.as_str()), (400, "CRM_FIELD_ERROR_VALUE_NOT_VALID"), "{description}");
        assert!(description.starts_with("Invalid value for field"), "{description}");
    }
    let r = ok(&p, "crm.item.add", DEAL_JS, None).await;
    let item = &r["item"];
    for key in DEAL_KEYS {
        assert!(item.get(key).is_some(), "the deal lacks {key}");
    }
    for (key, want) in [
        ("typeId", json!("SERVICE")),
        ("categoryId", json!(9)),
        ("stageId", json!("C9:UC_KN8KFI")),
        ("stageSemanticId", json!("P")),
        ("isRecurring", json!("N")),
        ("probability", json!(50)),
        ("currencyId", json!("USD")),
        ("isManualOpportunity", json!("Y")),
        ("opportunity", json!(999.99)),
        ("taxValue", json!(99.9)),
        ("quoteId", json!(7)),
        ("opened", json!("N")),
        ("sourceId", json!("WEB")),
        ("additionalInfo", json!("There should be additional information")),
        ("utmSource", json!("google")),
        ("utmMedium", json!("CPC")),
        ("ufCrm_1721244707107", json!(1111.1)),
        ("parentId1220", json!(2)),
        ("observers", json!([2, 3])),
        ("contactIds", json!([4, 5])),
        ("entityTypeId", json!(2)),
        ("utmCampaign", Value::Null),
    ] {
        assert_eq!(item[key], want, "{key}");
    }
    let r = ok(&p, "crm.item.add", LEAD_SDK, None).await;
    assert_eq!(r["item"]["title"], "New Item");
    assert_ne!(r["item"]["createdTime"], "2024-07-24T10:00:00+00:00", "createdTime is read-only");
    for text in [SPA_ITEM, SPA_ITEM_OAUTH] {
        let r = ok(&p, "crm.item.add", text, None).await;
        let item = &r["item"];
        assert_eq!(item["entityTypeId"], 1302);
        assert_eq!(item["ufCrm44_1721812814433"], 81);
        assert_eq!(item["ufCrm44_1721812885588"], json!(["example.com", "second-example.com"]));
        assert_eq!(
            (item["ufCrm44_1721812915476"].as_str(), item["ufCrm44_1721812935209"].as_str()),
            (Some("300|USD"), Some("Y"))
        );
        assert_eq!(item["ufCrm44_1721812948498"], 9999.9);
        assert!(
            item["ufCrm44_1721812898903"]["urlMachine"].is_string(),
            "a file reads back as {{id, url, urlMachine}}"
        );
        assert!(item["ufCrm44_1721812853419"].as_str().is_some_and(|d| d.starts_with("2024-07-24")));
    }
    // The page's errors: an unknown entity type, a list item the field lacks.
    assert_eq!(
        refused(&p, "crm.item.add", r#"{"entityTypeId":1304,"fields":{}}"#, None).await,
        (400, "NOT_FOUND".into(), "SPA not found".into())
    );
    let bad_item = r#"{"entityTypeId":1302,"fields":{"ufCrm44_1721812814433":83}}"#;
    assert_eq!(refused(&p, "crm.item.add", bad_item, None).await.1, "CRM_FIELD_ERROR_VALUE_NOT_VALID");
    let scalar = r#"{"entityTypeId":1302,"fields":{"ufCrm44_1721812885588":"example.com"}}"#;
    assert_eq!(refused(&p, "crm.item.add", scalar, None).await.1, "100");
}

#[tokio::test]
async fn the_user_add_examples_answer_the_new_id_then_the_documented_duplicate() {
    let p = portal().await;
    assert_eq!(ok(&p, "user.add", USER, None).await, json!(2));
    assert_eq!(
        refused(&p, "user.add", USER_OAUTH, None).await,
        (400, "ERROR_ARGUMENT".into(), "User with this email already exists".into())
    );
    let fresh = Portal::fast().await;
    assert_eq!(ok(&fresh, "user.add", USER_OAUTH, None).await, json!(2));
    assert_eq!(
        refused(&fresh, "user.add", r#"{"EMAIL":"not-an-email","UF_DEPARTMENT":[1]}"#, None).await,
        (400, "ERROR_ARGUMENT".into(), "wrong_email".into())
    );
}
