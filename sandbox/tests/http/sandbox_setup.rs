//! The sandbox behaves like the portal for the set-up methods and the values they govern
//! (issue 10, "The sandbox behaves like the portal here"): value checks on crm.item.*, fields
//! switched off by a smart-process flag, the deal fields of the crm.item.add page, the
//! crm.contact.userfield.update rules, crm.type.update's normalized answer, the pages' error
//! codes, the added methods and missing rights.

use crate::sandbox_common;

use b24_sandbox::{SETUP_METHODS, SandboxConfig};
use sandbox_common::Portal;
use serde_json::{Value, json};

const NOT_VALID: &str = "CRM_FIELD_ERROR_VALUE_NOT_VALID";

/// (status, error code, description) of a refused call.
async fn refusal(p: &Portal, method: &str, body: Value) -> (u16, String, String) {
    let (status, v) = p.call(method, body.clone()).await;
    assert_ne!(status, 200, "{method} {body} should fail, got {v}");
    let text = |k: &str| match &v[k] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    (status, text("error"), text("error_description"))
}

async fn add_deal(p: &Portal, fields: Value) -> (u16, Value) {
    p.call("crm.item.add", json!({"entityTypeId": 2, "fields": fields})).await
}

// Bug: the sandbox stored any stage, pipeline, currency or status code a portal refuses.
#[tokio::test]
async fn item_values_the_portal_looks_up_are_refused_when_the_portal_lacks_them() {
    let p = Portal::fast().await;
    for bad in [
        json!({"stageId": "NOPE"}),
        json!({"stageId": "C5:NEW"}),
        json!({"categoryId": 77}),
        json!({"currencyId": "XXX"}),
        json!({"sourceId": "CARRIER_PIGEON"}),
        json!({"typeId": "CLIENT"}),
    ] {
        let (status, v) = add_deal(&p, bad.clone()).await;
        assert_eq!((status, v["error"].as_str()), (400, Some(NOT_VALID)), "{bad} -> {v}");
    }
    for (etid, bad) in [
        (3, json!({"typeId": "SALE"})),
        (4, json!({"industry": "ALCHEMY"})),
        (4, json!({"employees": "EMPLOYEES_9"})),
        (3, json!({"honorific": "HNR_XX_1"})),
        (1, json!({"stageId": "WON"})),
    ] {
        let (status, v) = p.call("crm.item.add", json!({"entityTypeId": etid, "fields": bad})).await;
        assert_eq!((status, v["error"].as_str()), (400, Some(NOT_VALID)), "{etid} {bad} -> {v}");
    }
    let ok =
        add_deal(&p, json!({"stageId": "WON", "currencyId": "EUR", "sourceId": "WEB", "typeId": "SALE"}))
            .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    let id = ok.1["result"]["item"]["id"].clone();
    let (status, v) = p
        .call("crm.item.update", json!({"entityTypeId": 2, "id": id, "fields": {"stageId": "C9:NEW"}}))
        .await;
    assert_eq!((status, v["error"].as_str()), (400, Some(NOT_VALID)), "update checks too: {v}");
    assert_eq!(p.handle.snapshot().items["2"], 1, "nothing refused was stored");
    // The seeded directories hold what a fresh portal has, so realistic rows still pass.
    for fields in [
        json!({"currencyId": "RUB"}),
        json!({"currencyId": "USD"}),
        json!({"stageId": "PREPARATION"}),
        json!({"stageId": "LOSE"}),
        json!({"sourceId": "CALL"}),
        json!({"sourceId": "OTHER"}),
    ] {
        assert_eq!(add_deal(&p, fields.clone()).await.0, 200, "{fields}");
    }
}

#[tokio::test]
async fn a_stage_must_belong_to_the_item_s_pipeline_and_a_new_pipeline_starts_at_its_first_stage() {
    let p = Portal::fast().await;
    let cat = p.ok("crm.category.add", json!({"entityTypeId": 2, "fields": {"name": "Wholesale"}})).await;
    let cat_id = cat["result"]["category"]["id"].as_u64().expect("category id");
    let stage = format!("C{cat_id}:PREPARATION");
    let (status, _) = add_deal(&p, json!({"stageId": stage})).await;
    assert_eq!(status, 400, "the stage of another pipeline");
    let v = p
        .ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"categoryId": cat_id, "stageId": stage}}))
        .await;
    assert_eq!(v["result"]["item"]["stageId"], json!(stage));
    let id = p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"stageId": "PREPARATION"}})).await["result"]["item"]["id"].clone();
    let v =
        p.ok("crm.item.update", json!({"entityTypeId": 2, "id": id, "fields": {"categoryId": cat_id}})).await;
    assert_eq!(v["result"]["item"]["stageId"], json!(format!("C{cat_id}:NEW")));
    assert_eq!(v["result"]["item"]["stageSemanticId"], "P");
}

// Bug: fields of a switched-off smart-process feature were listed and stored.
#[tokio::test]
async fn fields_of_a_switched_off_flag_are_not_listed_not_stored_and_read_as_null() {
    let p = Portal::lenient().await; // companyId 5 and friends exist on no portal here
    p.ok("crm.type.add", json!({"fields": {"title": "Bare", "entityTypeId": 1036}})).await;
    let all_off = [
        "companyId",
        "contactId",
        "contactIds",
        "begindate",
        "closedate",
        "sourceId",
        "sourceDescription",
        "observers",
        "stageId",
        "previousStageId",
        "mycompanyId",
        "opportunity",
        "currencyId",
        "taxValue",
        "isManualOpportunity",
    ];
    let f = p.ok("crm.item.fields", json!({"entityTypeId": 1036})).await;
    for name in all_off {
        assert!(f["result"]["fields"].get(name).is_none(), "{name} is listed while its flag is off");
    }
    assert!(
        f["result"]["fields"].get("categoryId").is_some(),
        "the page documents categoryId without a flag"
    );
    let sent = json!({"title": "T", "companyId": 5, "contactIds": [4], "begindate": "2024-06-18", "sourceId": "WEB",
        "observers": [1], "mycompanyId": 3, "opportunity": 10, "currencyId": "USD"});
    let v = p.ok("crm.item.add", json!({"entityTypeId": 1036, "fields": sent})).await;
    let id = v["result"]["item"]["id"].clone();
    for name in [
        "companyId",
        "contactIds",
        "begindate",
        "sourceId",
        "observers",
        "mycompanyId",
        "opportunity",
        "currencyId",
        "stageId",
    ] {
        assert_eq!(v["result"]["item"][name], Value::Null, "{name} must read as null");
    }
    let t = p
        .ok("crm.type.update", json!({"id": 1, "fields": {"isClientEnabled": "Y", "isSourceEnabled": "Y"}}))
        .await;
    assert_eq!(t["result"]["type"]["isClientEnabled"], "Y");
    let got = p.ok("crm.item.get", json!({"entityTypeId": 1036, "id": id})).await;
    assert_eq!(got["result"]["item"]["companyId"], Value::Null, "the dropped value was not stored");
    let f = p.ok("crm.item.fields", json!({"entityTypeId": 1036})).await;
    assert!(
        f["result"]["fields"].get("companyId").is_some() && f["result"]["fields"].get("sourceId").is_some()
    );
    let v = p.ok("crm.item.update", json!({"entityTypeId": 1036, "id": id, "fields": {"companyId": 5, "sourceId": "WEB", "begindate": "2024-06-18"}})).await;
    assert_eq!(
        (v["result"]["item"]["companyId"].clone(), v["result"]["item"]["sourceId"].clone()),
        (json!(5), json!("WEB"))
    );
    assert_eq!(v["result"]["item"]["begindate"], Value::Null, "isBeginCloseDatesEnabled is still off");
}

// Bug: the deal lacked fields the crm.item.add page documents (utm*, taxValue, quoteId, ...).
#[tokio::test]
async fn the_deal_has_every_field_the_item_add_page_documents() {
    let p = Portal::lenient().await; // the page's quoteId 7 and parentId1220 2
    p.ok("crm.type.add", json!({"fields": {"title": "Parent", "entityTypeId": 1220, "relations": {"child": [{"entityTypeId": 2, "isChildrenListEnabled": "true"}]}}})).await;
    let f = p.ok("crm.item.fields", json!({"entityTypeId": 2})).await;
    for name in [
        "utmSource",
        "utmMedium",
        "utmCampaign",
        "utmContent",
        "utmTerm",
        "taxValue",
        "quoteId",
        "additionalInfo",
        "isRecurring",
        "parentId1220",
    ] {
        assert!(f["result"]["fields"].get(name).is_some(), "deal field {name} missing");
    }
    let v = p
        .ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"utmSource": "google", "taxValue": 9.5, "quoteId": 7, "additionalInfo": "x", "isRecurring": "Y", "parentId1220": 2}}))
        .await;
    let item = &v["result"]["item"];
    assert_eq!(
        (item["utmSource"].clone(), item["taxValue"].clone(), item["quoteId"].clone()),
        (json!("google"), json!(9.5), json!(7))
    );
    assert_eq!((item["isRecurring"].clone(), item["parentId1220"].clone()), (json!("Y"), json!(2)));
}

async fn string_field(p: &Portal) -> u64 {
    p.ok(
        "crm.contact.userfield.add",
        json!({"fields": {"FIELD_NAME": "NOTE", "USER_TYPE_ID": "string", "SETTINGS": {"DEFAULT_VALUE": "d", "ROWS": 3, "SIZE": 20}}}),
    )
    .await["result"]
        .as_u64()
        .expect("field id")
}

// Bug: SETTINGS were replaced whole, labels kept in one language, list flags and messages lost.
#[tokio::test]
async fn userfield_update_merges_settings_keeps_labels_per_language_and_stores_the_list_flags() {
    let p = Portal::fast().await;
    let id = string_field(&p).await;
    p.ok(
        "crm.contact.userfield.update",
        json!({"id": id, "fields": {"SETTINGS": {"ROWS": 0, "REGEXP": "x"}, "EDIT_IN_LIST": "N", "SHOW_IN_LIST": "N",
            "EDIT_FORM_LABEL": {"en": "Note", "de": "Notiz"}, "LIST_COLUMN_LABEL": "Col",
            "ERROR_MESSAGE": {"en": "Wrong"}, "HELP_MESSAGE": "Help", "SORT": 0}}),
    )
    .await;
    let f = p.ok("crm.contact.userfield.get", json!({"id": id})).await["result"].clone();
    assert_eq!(
        f["SETTINGS"],
        json!({"DEFAULT_VALUE": "d", "ROWS": 1, "SIZE": 20}),
        "merged, clamped, REGEXP not settable"
    );
    assert_eq!((f["EDIT_IN_LIST"].as_str(), f["SHOW_IN_LIST"].as_str()), (Some("N"), Some("N")));
    assert_eq!(f["EDIT_FORM_LABEL"], json!({"de": "Notiz", "en": "Note", "ru": ""}));
    assert_eq!(f["LIST_COLUMN_LABEL"], json!({"de": "Col", "en": "Col", "ru": "Col"}));
    assert_eq!(f["ERROR_MESSAGE"], json!({"de": "", "en": "Wrong", "ru": ""}));
    assert_eq!(f["HELP_MESSAGE"]["de"], "Help");
    assert_eq!(f["SORT"], "100", "SORT must be greater than zero: 0 is ignored");
    p.ok(
        "crm.contact.userfield.update",
        json!({"id": id, "fields": {"SETTINGS": {"ROWS": 99}, "SORT": 2000}}),
    )
    .await;
    let f = p.ok("crm.contact.userfield.get", json!({"id": id})).await["result"].clone();
    assert_eq!((f["SETTINGS"]["ROWS"].clone(), f["SORT"].clone()), (json!(50), json!("2000")));
    let list = p
        .ok("crm.contact.userfield.list", json!({"filter": {"FIELD_NAME": "UF_CRM_NOTE", "LANG": "de"}}))
        .await;
    assert_eq!(list["result"][0]["EDIT_FORM_LABEL"], "Notiz", "list gives the labels of one language");
    let fields = p.ok("crm.item.fields", json!({"entityTypeId": 3})).await;
    assert_eq!(fields["result"]["fields"]["ufCrmNote"]["formLabel"], "Note");
}

// Bug: LIST entries could touch items they did not name; a bad `fields` was accepted.
#[tokio::test]
async fn userfield_update_adds_list_items_without_touching_the_others_and_refuses_a_bad_request() {
    let p = Portal::fast().await;
    let id = p
        .ok(
            "crm.contact.userfield.add",
            json!({"fields": {"FIELD_NAME": "SEG", "USER_TYPE_ID": "enumeration",
            "LIST": [{"VALUE": "A", "XML_ID": "a", "DEF": "Y"}, {"VALUE": "B", "XML_ID": "b"}]}}),
        )
        .await["result"]
        .as_u64()
        .expect("id");
    p.ok(
        "crm.contact.userfield.update",
        json!({"id": id, "fields": {"LIST": [{"VALUE": "C", "XML_ID": "c"}, {"VALUE": ""}]}}),
    )
    .await;
    let f = p.ok("crm.contact.userfield.get", json!({"id": id})).await["result"].clone();
    let list: Vec<(String, String, String)> = f["LIST"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| {
            (
                i["VALUE"].as_str().unwrap_or("").into(),
                i["XML_ID"].as_str().unwrap_or("").into(),
                i["DEF"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        list,
        [
            ("A".into(), "a".into(), "Y".into()),
            ("B".into(), "b".into(), "N".into()),
            ("C".into(), "c".into(), "N".into())
        ]
    );
    let (_, code, text) = refusal(
        &p,
        "crm.contact.userfield.update",
        json!({"id": id, "fields": {"LIST": [{"VALUE": "D", "XML_ID": "a"}]}}),
    )
    .await;
    assert_eq!(
        (code.as_str(), text.as_str()),
        ("ERROR_CORE", "List item with value XML_ID=a already exists")
    );
    for (body, want) in [
        (json!({"id": id}), ("", "Parameter 'fields' must be array")),
        (json!({"id": id, "fields": "MANDATORY=Y"}), ("", "Parameter 'fields' must be array")),
        (json!({"fields": {"MANDATORY": "Y"}}), ("", "ID is not defined or invalid")),
        (json!({"id": -3, "fields": {"MANDATORY": "Y"}}), ("", "ID is not defined or invalid")),
        (
            json!({"id": 99999, "fields": {"MANDATORY": "Y"}}),
            ("ERROR_NOT_FOUND", "The entity with ID '99999' is not found"),
        ),
    ] {
        let (status, code, text) = refusal(&p, "crm.contact.userfield.update", body.clone()).await;
        assert_eq!((status, code.as_str(), text.as_str()), (400, want.0, want.1), "{body}");
    }
    let (_, code, text) =
        refusal(&p, "crm.deal.userfield.update", json!({"id": id, "fields": {"MANDATORY": "Y"}})).await;
    assert_eq!(
        (code.as_str(), text.as_str()),
        ("", "Access denied."),
        "a contact field through the deal method"
    );
}

// Bug: crm.type.update answered the raw values it was sent, without the documented keys.
#[tokio::test]
async fn crm_type_update_answers_the_documented_normalized_type() {
    let p = Portal::fast().await;
    let added = p.ok("crm.type.add", json!({"fields": {"title": "Projects", "isStagesEnabled": true}})).await;
    for key in sandbox_common::TYPE_KEYS {
        assert!(added["result"]["type"].get(key).is_some(), "crm.type.add lacks {key}");
    }
    let v = p
        .ok(
            "crm.type.update",
            json!({"id": 1, "fields": {"isClientEnabled": "true", "isSourceEnabled": 1,
            "relations": {"child": [{"entityTypeId": 2, "isChildrenListEnabled": "true"}]},
            "linkedUserFields": {"TASKS_TASK|UF_CRM_TASK": "true"}}}),
        )
        .await;
    let t = &v["result"]["type"];
    for key in sandbox_common::TYPE_KEYS {
        assert!(t.get(key).is_some(), "crm.type.update lacks {key}");
    }
    assert_eq!(
        (t["isClientEnabled"].as_str(), t["isSourceEnabled"].as_str(), t["isStagesEnabled"].as_str()),
        (Some("Y"), Some("Y"), Some("Y"))
    );
    assert_eq!(t["isDocumentsEnabled"], "N");
    assert_eq!(
        t["relations"],
        json!({"parent": [], "child": [{"entityTypeId": 2, "isChildrenListEnabled": "Y", "isPredefined": "N"}]})
    );
    assert_eq!(
        t["linkedUserFields"],
        json!({"CALENDAR_EVENT|UF_CRM_CAL_EVENT": "N", "TASKS_TASK|UF_CRM_TASK": "Y", "TASKS_TASK_TEMPLATE|UF_CRM_TASK": "N"})
    );
    assert_eq!(
        p.ok("crm.type.get", json!({"id": 1})).await["result"]["type"],
        *t,
        "get shows what update answered"
    );
    assert_eq!(p.ok("crm.type.list", json!({})).await["result"]["types"][0], *t, "list shows the same");
}

// Bug: the pages' error codes were replaced by INVALID_ARG_VALUE / NOT_FOUND everywhere.
#[tokio::test]
async fn the_set_up_pages_error_codes_and_texts_are_used() {
    let p = Portal::fast().await;
    assert_eq!(
        refusal(&p, "crm.automatedsolution.add", json!({"fields": {"typeIds": []}})).await,
        (400, "BX_EMPTY_REQUIRED".into(), "The required field 'Title' is not filled".into())
    );
    assert_eq!(
        refusal(&p, "crm.type.update", json!({"id": 20, "fields": {"title": "x"}})).await,
        (400, "0".into(), "SPA not found".into())
    );
    assert_eq!(
        refusal(&p, "crm.item.add", json!({"entityTypeId": 1302, "fields": {}})).await,
        (400, "NOT_FOUND".into(), "SPA not found".into())
    );
    p.ok("crm.type.add", json!({"fields": {"title": "S"}})).await;
    assert_eq!(
        refusal(&p, "crm.type.update", json!({"id": 1, "fields": {"isExternal": "Y"}})).await,
        (400, "0".into(), "Select a workplace where the SPA will be located".into())
    );
    assert_eq!(
        refusal(&p, "crm.automatedsolution.get", json!({"id": 5})).await,
        (400, "NOT_FOUND".into(), "Digital workplace with such id not found".into())
    );
}

#[tokio::test]
async fn workplaces_update_and_get_move_types_between_them() {
    let p = Portal::fast().await;
    for t in ["A", "B"] {
        p.ok("crm.type.add", json!({"fields": {"title": t}})).await;
    }
    let one = p.ok("crm.automatedsolution.add", json!({"fields": {"title": "One", "typeIds": [1, 2]}})).await;
    assert_eq!(one["result"]["automatedSolution"], json!({"id": 1, "title": "One", "typeIds": [1, 2]}));
    p.ok("crm.automatedsolution.add", json!({"fields": {"title": "Two"}})).await;
    let v = p.ok("crm.automatedsolution.update", json!({"id": 2, "fields": {"typeIds": [2]}})).await;
    assert_eq!(v["result"]["automatedSolution"], json!({"id": 2, "title": "Two", "typeIds": [2]}));
    let v = p.ok("crm.automatedsolution.get", json!({"id": 1})).await;
    assert_eq!(v["result"]["automatedSolution"]["typeIds"], json!([1]));
    assert_eq!(p.ok("crm.type.get", json!({"id": 2})).await["result"]["type"]["customSectionId"], 2);
    let v = p.ok("crm.automatedsolution.update", json!({"id": 1, "fields": {"title": "Uno"}})).await;
    assert_eq!(
        v["result"]["automatedSolution"],
        json!({"id": 1, "title": "Uno", "typeIds": [1]}),
        "typeIds omitted: kept"
    );
    p.ok("crm.automatedsolution.update", json!({"id": 1, "fields": {"typeIds": []}})).await;
    assert_eq!(
        p.ok("crm.type.get", json!({"id": 1})).await["result"]["type"]["customSectionId"],
        Value::Null
    );
    assert_eq!(
        refusal(&p, "crm.automatedsolution.update", json!({"id": 1, "fields": {"title": ""}})).await.1,
        "BX_EMPTY_REQUIRED"
    );
    assert_eq!(refusal(&p, "crm.automatedsolution.update", json!({"id": 1})).await.1, "BX_EMPTY_REQUIRED");
    let list = p.ok("crm.automatedsolution.list", json!({"filter": {"title": "Uno"}})).await;
    assert_eq!(
        (list["total"].clone(), list["result"]["automatedSolutions"][0]["id"].clone()),
        (json!(1), json!(1))
    );
}

#[tokio::test]
async fn crm_status_add_adds_stages_with_the_pipeline_prefix_and_answers_the_id() {
    let p = Portal::fast().await;
    let cat =
        p.ok("crm.category.add", json!({"entityTypeId": 2, "fields": {"name": "B2B", "sort": 200}})).await;
    assert_eq!(cat["result"]["category"]["sort"], 200);
    let cat_id = cat["result"]["category"]["id"].as_u64().expect("id");
    let id = p.ok("crm.status.add", json!({"fields": {"ENTITY_ID": format!("DEAL_STAGE_{cat_id}"), "STATUS_ID": "REVIEW", "NAME": "Review"}})).await;
    assert!(id["result"].as_u64().is_some(), "the new row's id: {id}");
    let rows = p
        .ok(
            "crm.status.list",
            json!({"filter": {"ENTITY_ID": format!("DEAL_STAGE_{cat_id}"), "NAME": "Review"}}),
        )
        .await;
    let row = &rows["result"][0];
    assert_eq!(
        (row["STATUS_ID"].clone(), row["SYSTEM"].clone(), row["CATEGORY_ID"].clone()),
        (json!(format!("C{cat_id}:REVIEW")), json!("N"), json!(cat_id.to_string()))
    );
    let v = p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"categoryId": cat_id, "stageId": format!("C{cat_id}:REVIEW")}})).await;
    assert_eq!(v["result"]["item"]["stageSemanticId"], "P");
    p.ok("crm.status.add", json!({"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "FAIR", "NAME": "Fair"}}))
        .await;
    assert_eq!(add_deal(&p, json!({"sourceId": "FAIR"})).await.0, 200);
    assert_eq!(
        refusal(
            &p,
            "crm.status.add",
            json!({"fields": {"ENTITY_ID": "SOURCE", "STATUS_ID": "FAIR", "NAME": "Again"}})
        )
        .await
        .1,
        "ERROR_CORE",
        "a duplicate is the page's ERROR_CORE"
    );
    for bad in [
        json!({"fields": {"ENTITY_ID": "SOURCE", "NAME": "No code"}}),
        json!({"fields": {"ENTITY_ID": "NO_SUCH_DIRECTORY", "STATUS_ID": "X", "NAME": "X"}}),
        json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "HAS SPACE", "NAME": "X"}}),
        json!({"fields": {"ENTITY_ID": "DEAL_STAGE", "STATUS_ID": "A_CODE_LONGER_THAN_22CH", "NAME": "X"}}),
    ] {
        let (status, code, _) = refusal(&p, "crm.status.add", bad.clone()).await;
        assert_eq!((status, code.as_str()), (400, ""), "{bad}");
    }
    assert_eq!(
        refusal(&p, "crm.category.add", json!({"entityTypeId": 1, "fields": {"name": "L"}})).await.1,
        "ENTITY_TYPE_NOT_SUPPORTED"
    );
    assert_eq!(refusal(&p, "crm.category.list", json!({"entityTypeId": 9999})).await.1, "NOT_FOUND");
}

#[tokio::test]
async fn userfieldconfig_update_changes_labels_and_adds_enum_items_of_a_smart_process_field() {
    let p = Portal::fast().await;
    p.ok("crm.type.add", json!({"fields": {"title": "S", "entityTypeId": 156}})).await;
    let v = p
        .ok("userfieldconfig.add", json!({"moduleId": "crm", "field": {"entityId": "CRM_1", "fieldName": "UF_CRM_1_SEG",
            "userTypeId": "enumeration", "editFormLabel": {"en": "Segment"}, "enum": [{"value": "Gold", "xmlId": "gold"}]}}))
        .await;
    let field = &v["result"]["field"];
    let id = field["id"].as_str().expect("string id").to_string();
    assert_eq!(
        (field["editFormLabel"]["en"].clone(), field["enum"][0]["value"].clone()),
        (json!("Segment"), json!("Gold"))
    );
    let gold = field["enum"][0]["id"].clone();
    let v = p
        .ok(
            "userfieldconfig.update",
            json!({"moduleId": "crm", "id": id, "field": {"userTypeId": "enumeration", "mandatory": "Y",
            "helpMessage": {"en": "Pick one"}, "enum": [{"id": gold, "value": "Gold", "xmlId": "gold"},
            {"value": "Silver", "xmlId": "silver"}]}}),
        )
        .await;
    let field = &v["result"]["field"];
    let values: Vec<(&str, &str)> = field["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .map(|e| (e["value"].as_str().unwrap_or(""), e["xmlId"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(values, [("Gold", "gold"), ("Silver", "silver")], "an item resent whole stays");
    assert_eq!(field["enum"][0]["id"], gold, "with its id");
    assert_eq!(
        (field["mandatory"].as_str(), field["helpMessage"]["en"].as_str()),
        (Some("Y"), Some("Pick one"))
    );
    let v = p
        .ok(
            "userfieldconfig.update",
            json!({"moduleId": "crm", "id": id, "field": {"enum": [{"value": "Bronze"}]}}),
        )
        .await;
    assert_eq!(
        v["result"]["field"]["enum"].as_array().map(Vec::len),
        Some(2),
        "enum needs userTypeId=enumeration"
    );
    let got = p.ok("userfieldconfig.get", json!({"moduleId": "crm", "id": id})).await;
    assert_eq!(got["result"]["field"], v["result"]["field"]);
    let silver = got["result"]["field"]["enum"][1].clone();
    let item = p.ok("crm.item.add", json!({"entityTypeId": 156, "fields": {"ufCrm1Seg": gold}})).await;
    assert_eq!(
        item["result"]["item"]["ufCrm1Seg"].to_string().trim_matches('"'),
        gold.as_str().unwrap_or("")
    );
    let list =
        p.ok("userfieldconfig.list", json!({"moduleId": "crm", "filter": {"entityId": "CRM_1"}})).await;
    let listed =
        list["result"]["fields"].as_array().and_then(|f| f.iter().find(|x| x["fieldName"] == "UF_CRM_1_SEG"));
    assert!(listed.is_some_and(|f| f.get("enum").is_none()), "userfieldconfig.list returns no enum: {list}");
    // Bug: the sandbox kept items userfieldconfig.update left out or sent as {id} alone; the
    // portal's core deletes them (enum is the whole list).
    let v = p
        .ok(
            "userfieldconfig.update",
            json!({"moduleId": "crm", "id": id, "field": {"userTypeId": "enumeration",
            "enum": [{"id": silver["id"]}, {"value": "Bronze", "xmlId": "bronze"}]}}),
        )
        .await;
    let values: Vec<&str> = v["result"]["field"]["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .map(|e| e["value"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(values, ["Bronze"], "Gold left out and Silver sent as {{id}} alone are deleted");
    let (status, code, text) =
        refusal(&p, "userfieldconfig.update", json!({"moduleId": "crm", "id": 99999, "field": {}})).await;
    assert_eq!(
        (status, code.as_str(), text.as_str()),
        (400, "", "You cannot change the settings of the user field")
    );
}

// Bug: no way to test a credential without rights for the set-up methods.
#[tokio::test]
async fn a_credential_without_rights_gets_each_set_up_method_s_documented_refusal() {
    let p = Portal::start(SandboxConfig {
        rate: 1000.0,
        burst: 1000.0,
        ..SandboxConfig::fast().without_rights(SETUP_METHODS)
    })
    .await;
    let cases = [
        ("crm.type.add", json!({"fields": {"title": "T"}}), "ACCESS_DENIED", "Access denied"),
        ("crm.type.update", json!({"id": 1, "fields": {}}), "ACCESS_DENIED", "Access denied"),
        (
            "crm.automatedsolution.add",
            json!({"fields": {"title": "HR"}}),
            "ACCESS_DENIED",
            "Insufficient permissions",
        ),
        ("crm.contact.userfield.update", json!({"id": 1, "fields": {}}), "", "Access denied."),
        ("crm.contact.userfield.add", json!({"fields": {"FIELD_NAME": "X"}}), "", "Access denied."),
        // Each as its own page's table says (the replay, `replay/*.toml`, checks the rows).
        ("userfieldconfig.add", json!({"moduleId": "crm", "field": {}}), "", "Access denied"),
        ("crm.status.add", json!({"fields": {}}), "", "Access denied."),
        (
            "crm.category.add",
            json!({"entityTypeId": 2, "fields": {"name": "x"}}),
            "ACCESS_DENIED",
            "Access denied",
        ),
    ];
    let count = cases.len() as u64;
    for (method, body, code, text) in cases {
        assert_eq!(refusal(&p, method, body).await, (400, code.to_string(), text.to_string()), "{method}");
    }
    assert_eq!(p.handle.snapshot().refusals.values().sum::<u64>(), count);
    p.ok("crm.type.list", json!({})).await;
    p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"name": "Ann"}})).await;
    let (_, v) = p.batch(false, json!({"a": "crm.type.add?fields[title]=T", "b": "crm.type.list"})).await;
    assert_eq!(v["result"]["result_error"]["a"]["error"], "ACCESS_DENIED", "inside a batch too: {v}");
}

// The crm.contact.userfield.update page's list example: LIST is not the whole list (unlike
// userfieldconfig.update's enum): DEL removes, an ID changes, an entry without ID adds, an item
// not named stays.
#[tokio::test]
async fn userfield_update_follows_the_pages_list_example_and_keeps_items_it_does_not_name() {
    let p = Portal::fast().await;
    let id = p
        .ok(
            "crm.contact.userfield.add",
            json!({"fields": {"FIELD_NAME": "EXAMPLE", "USER_TYPE_ID": "enumeration", "LIST": [
                {"VALUE": "List item #1", "XML_ID": "XML_ID_1", "SORT": 100, "DEF": "Y"},
                {"VALUE": "List item #2", "XML_ID": "XML_ID_2", "SORT": 200},
                {"VALUE": "List item #3", "XML_ID": "XML_ID_3", "SORT": 300},
                {"VALUE": "List item #4", "XML_ID": "XML_ID_4", "SORT": 400}]}}),
        )
        .await["result"]
        .as_u64()
        .expect("id");
    let f = p.ok("crm.contact.userfield.get", json!({"id": id})).await["result"].clone();
    let ids: Vec<Value> = f["LIST"].as_array().expect("list").iter().map(|i| i["ID"].clone()).collect();
    p.ok(
        "crm.contact.userfield.update",
        json!({"id": id, "fields": {"LIST": [{"ID": ids[0], "DEL": "Y"}, {"ID": ids[1], "DEL": "Y"},
            {"ID": ids[2], "VALUE": "List item #3 (changed)", "SORT": 50},
            {"VALUE": "List item #5", "XML_ID": "XML_ID_5", "SORT": 500}]}}),
    )
    .await;
    let f = p.ok("crm.contact.userfield.get", json!({"id": id})).await["result"].clone();
    let list: Vec<(Value, Value, Value)> = f["LIST"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| (i["ID"].clone(), i["VALUE"].clone(), i["XML_ID"].clone()))
        .collect();
    assert_eq!(list.len(), 3, "{list:?}");
    assert_eq!(list[0], (ids[2].clone(), json!("List item #3 (changed)"), json!("XML_ID_3")));
    assert_eq!(list[1], (ids[3].clone(), json!("List item #4"), json!("XML_ID_4")), "not named: stays");
    assert_eq!((list[2].1.clone(), list[2].2.clone()), (json!("List item #5"), json!("XML_ID_5")));
}

// Bug: nothing pinned that the sandbox, like the portal, drops a custom field spelled the other
// way than useOriginalUfNames asks (the crm.item.add page: "an incorrect field in fields will
// be ignored"; names are camelCase by default, UF_CRM_… with Y).
#[tokio::test]
async fn item_add_drops_a_custom_field_spelled_the_other_way_than_use_original_uf_names_asks() {
    let p = Portal::fast().await;
    let add = |fields: Value, original: &str| json!({"entityTypeId": 3, "useOriginalUfNames": original, "fields": fields});
    let cases = [
        (add(json!({"name": "A", "UF_CRM_1700000004": 41}), "N"), None),
        (add(json!({"name": "B", "ufcrm_1700000004": 41}), "N"), None),
        (add(json!({"name": "C", "ufCrm_1700000004": 41}), "N"), Some(41)),
        (add(json!({"name": "D", "ufCrm_1700000004": 41}), "Y"), None),
        (add(json!({"name": "E", "UF_CRM_1700000004": 41}), "Y"), Some(41)),
    ];
    for (body, want) in cases {
        let v = p.ok("crm.item.add", body.clone()).await;
        let id = v["result"]["item"]["id"].clone();
        let got = p.ok("crm.item.get", json!({"entityTypeId": 3, "id": id})).await;
        let tier = &got["result"]["item"]["ufCrm_1700000004"];
        let tier = tier.as_u64().or_else(|| tier.as_str().and_then(|s| s.parse().ok()));
        assert_eq!(tier, want, "{body}");
    }
}
