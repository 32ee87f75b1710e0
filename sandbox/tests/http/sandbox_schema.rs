//! Users, smart processes, workplaces, directories, custom fields and duplicate search over HTTP.

use crate::sandbox_common;

use sandbox_common::Portal;
use serde_json::json;

#[tokio::test]
async fn user_add_requires_a_well_formed_unused_email_and_a_department_or_extranet_group() {
    let p = Portal::fast().await;
    for email in [json!(null), json!(""), json!("not-an-email"), json!("a@b")] {
        let (status, v) = p.call("user.add", json!({"EMAIL": email, "UF_DEPARTMENT": [1]})).await;
        assert_eq!(
            (status, v["error"].as_str(), v["error_description"].as_str()),
            (400, Some("ERROR_ARGUMENT"), Some("wrong_email"))
        );
    }
    let v = p.ok("user.add", json!({"EMAIL": "ann@x.org", "NAME": "Ann", "UF_DEPARTMENT": [1]})).await;
    assert_eq!(v["result"], 2, "user.add answers the integer id");
    let (_, v) = p.call("user.add", json!({"EMAIL": "ANN@x.org", "UF_DEPARTMENT": [1]})).await;
    assert_eq!(v["error"], "ERROR_ARGUMENT");
    assert_eq!(v["error_description"], "User with this email already exists");
    assert_eq!(p.err("user.add", json!({"EMAIL": "bob@x.org"})).await.1, "ERROR_ARGUMENT");
    assert_eq!(p.err("user.add", json!({"EMAIL": "bob@x.org", "EXTRANET": "Y"})).await.1, "ERROR_GROUPID");
    // A fresh portal has no extranet workgroup (issue 18: ERROR_NO_GROUP).
    assert_eq!(
        p.err("user.add", json!({"EMAIL": "bob@x.org", "EXTRANET": "Y", "SONET_GROUP_ID": [3]})).await.1,
        "ERROR_NO_GROUP"
    );
    assert_eq!(p.handle.snapshot().users, 1);
}

#[tokio::test]
async fn user_get_filters_by_id_email_and_at_email_with_ids_as_strings() {
    let p = Portal::fast().await;
    for e in ["a@x.org", "b@x.org", "c@x.org"] {
        p.ok("user.add", json!({"EMAIL": e, "UF_DEPARTMENT": [1]})).await;
    }
    let v = p.ok("user.get", json!({"filter": {"EMAIL": "b@x.org"}})).await;
    assert_eq!(v["result"][0]["ID"], "3");
    assert_eq!(v["total"], 1);
    let v = p.ok("user.get", json!({"FILTER": {"@EMAIL": ["a@x.org", "c@x.org"]}})).await;
    let ids: Vec<&str> =
        v["result"].as_array().expect("list").iter().map(|u| u["ID"].as_str().expect("string id")).collect();
    assert_eq!(ids, ["2", "4"]);
    let v = p.ok("user.get", json!({"ID": 4})).await;
    assert_eq!(v["result"][0]["EMAIL"], "c@x.org");
    let v = p.ok("user.fields", json!({})).await;
    assert!(v["result"]["EMAIL"].is_string());
    let v = p.ok("profile", json!({})).await;
    assert_eq!((v["result"]["ID"].as_str(), v["result"]["ADMIN"].as_bool()), (Some("1"), Some(true)));
}

#[tokio::test]
async fn crm_type_add_validates_the_entity_type_id_and_creates_a_usable_item_type() {
    let p = Portal::fast().await;
    for bad in [1031, 1000, 200] {
        let r = p.err("crm.type.add", json!({"fields": {"title": "T", "entityTypeId": bad}})).await;
        assert_eq!(r, (400, "INVALID_ARG_VALUE".into()), "{bad}");
    }
    let v = p
        .ok(
            "crm.type.add",
            json!({"fields": {"title": "Projects", "entityTypeId": 1032, "isStagesEnabled": "Y"}}),
        )
        .await;
    let ty = &v["result"]["type"];
    assert_eq!((ty["id"].as_u64(), ty["entityTypeId"].as_u64()), (Some(1), Some(1032)));
    assert_eq!(
        p.err("crm.type.add", json!({"fields": {"title": "T", "entityTypeId": 1032}})).await.1,
        "INVALID_ARG_VALUE"
    );
    let auto = p.ok("crm.type.add", json!({"fields": {"title": "Auto"}})).await;
    assert_eq!(auto["result"]["type"]["entityTypeId"], 1030, "the smallest unused even id from 1030");
    let f = p.ok("crm.item.fields", json!({"entityTypeId": 1032})).await;
    assert!(f["result"]["fields"].get("ufCrm1_1700000004").is_some());
    assert!(f["result"]["fields"].get("xmlId").is_some());
    let item =
        p.ok("crm.item.add", json!({"entityTypeId": 1032, "fields": {"title": "P", "xmlId": "X1"}})).await;
    assert_eq!(item["result"]["item"]["stageId"], "DT1032_2:NEW");
    let list = p.ok("crm.type.list", json!({})).await;
    assert_eq!(list["result"]["types"].as_array().expect("types").len(), 2);
    let got = p.ok("crm.type.get", json!({"id": 1})).await;
    assert_eq!(got["result"]["type"]["title"], "Projects");
    p.ok("crm.type.update", json!({"id": 1, "fields": {"title": "Projects 2"}})).await;
    let got = p.ok("crm.type.getByEntityTypeId", json!({"entityTypeId": 1032})).await;
    assert_eq!(got["result"]["type"]["title"], "Projects 2");
    let cats = p.ok("crm.category.list", json!({"entityTypeId": 1032})).await;
    assert_eq!(cats["result"]["categories"][0]["isDefault"], "Y");
}

#[tokio::test]
async fn an_automated_solution_takes_types_away_from_other_solutions() {
    let p = Portal::fast().await;
    p.ok("crm.type.add", json!({"fields": {"title": "A"}})).await;
    p.ok("crm.automatedsolution.add", json!({"fields": {"title": "One", "typeIds": [1]}})).await;
    let v = p.ok("crm.automatedsolution.add", json!({"fields": {"title": "Two", "typeIds": [1]}})).await;
    assert_eq!(v["result"]["automatedSolution"]["typeIds"], json!([1]));
    let list = p.ok("crm.automatedsolution.list", json!({})).await;
    assert_eq!(list["result"]["automatedSolutions"][0]["typeIds"], json!([]));
    assert_eq!(list["total"], 2);
}

#[tokio::test]
async fn status_and_category_lists_answer_the_directories() {
    let p = Portal::fast().await;
    let v = p
        .ok("crm.status.list", json!({"filter": {"ENTITY_ID": "DEAL_STAGE"}, "order": {"SORT": "ASC"}}))
        .await;
    let ids: Vec<&str> =
        v["result"].as_array().expect("rows").iter().map(|r| r["STATUS_ID"].as_str().expect("id")).collect();
    assert_eq!(ids.first(), Some(&"NEW"));
    assert!(ids.contains(&"WON"));
    let v = p.ok("crm.category.list", json!({"entityTypeId": 2})).await;
    assert_eq!(v["result"]["categories"][0]["id"], 0);
    let v = p.ok("crm.status.list", json!({"filter": {"ENTITY_ID": "SOURCE"}})).await;
    assert!(v["result"].as_array().expect("rows").iter().any(|r| r["STATUS_ID"] == "WEB"));
}

#[tokio::test]
async fn a_contact_userfield_with_list_items_appears_in_crm_item_fields() {
    let p = Portal::fast().await;
    let v = p
        .ok(
            "crm.contact.userfield.add",
            json!({"fields": {"FIELD_NAME": "segment", "USER_TYPE_ID": "enumeration", "LIST": [{"VALUE": "A", "XML_ID": "a"}, {"VALUE": "B", "XML_ID": "b"}]}}),
        )
        .await;
    let id = v["result"].as_u64().expect("id");
    let f = p.ok("crm.item.fields", json!({"entityTypeId": 3})).await;
    let items = f["result"]["fields"]["ufCrmSegment"]["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 2);
    let a_id = items[0]["ID"].as_str().expect("id").to_string();
    p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"ufCrmSegment": a_id.clone()}})).await;
    let r = p
        .err(
            "crm.contact.userfield.update",
            json!({"id": id, "fields": {"LIST": [{"VALUE": "C", "XML_ID": "a"}]}}),
        )
        .await;
    assert_eq!(r.1, "ERROR_CORE", "XML_ID must stay unique");
    p.ok(
        "crm.contact.userfield.update",
        json!({"id": id, "fields": {"LIST": [{"ID": a_id, "DEL": "Y"}, {"VALUE": "C"}]}}),
    )
    .await;
    let v = p.ok("crm.contact.userfield.list", json!({"filter": {"FIELD_NAME": "UF_CRM_SEGMENT"}})).await;
    let values: Vec<&str> = v["result"][0]["LIST"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["VALUE"].as_str().expect("v"))
        .collect();
    assert_eq!(values, ["B", "C"]);
    assert_eq!(
        p.err(
            "crm.contact.userfield.add",
            json!({"fields": {"FIELD_NAME": "bad-name!", "USER_TYPE_ID": "string"}})
        )
        .await
        .1,
        "ERROR_CORE"
    );
    assert_eq!(
        p.err(
            "crm.contact.userfield.add",
            json!({"fields": {"FIELD_NAME": "SEGMENT", "USER_TYPE_ID": "string"}})
        )
        .await
        .1,
        "ERROR_CORE"
    );
}

#[tokio::test]
async fn userfieldconfig_add_for_a_smart_process_uses_its_type_id() {
    let p = Portal::fast().await;
    p.ok("crm.type.add", json!({"fields": {"title": "S", "entityTypeId": 156}})).await;
    let v = p
        .ok(
            "userfieldconfig.add",
            json!({"moduleId": "crm", "field": {"entityId": "CRM_1", "fieldName": "UF_CRM_1_COLOR", "userTypeId": "string", "multiple": "N"}}),
        )
        .await;
    assert_eq!(v["result"]["field"]["fieldName"], "UF_CRM_1_COLOR");
    let f = p.ok("crm.item.fields", json!({"entityTypeId": 156})).await;
    assert!(f["result"]["fields"].get("ufCrm1Color").is_some());
    let list =
        p.ok("userfieldconfig.list", json!({"moduleId": "crm", "filter": {"entityId": "CRM_1"}})).await;
    assert!(
        list["result"]["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .any(|f| f["fieldName"] == "UF_CRM_1_COLOR")
    );
    assert_eq!(p.err("userfieldconfig.add", json!({"field": {}})).await.1, "ERROR_ARGUMENT");
}

#[tokio::test]
async fn findbycomm_finds_leads_contacts_and_companies_by_phone_or_email() {
    let p = Portal::fast().await;
    p.ok(
        "crm.item.add",
        json!({"entityTypeId": 3, "fields": {"fm": [{"typeId": "PHONE", "value": "+1 (555) 010-0000"}]}}),
    )
    .await;
    p.ok(
        "crm.item.add",
        json!({"entityTypeId": 1, "fields": {"fm": [{"typeId": "EMAIL", "value": "Lead@X.org"}]}}),
    )
    .await;
    let v =
        p.ok("crm.duplicate.findbycomm", json!({"type": "PHONE", "values": ["15550100000 ext. 7"]})).await;
    assert_eq!(v["result"], json!({"CONTACT": [1]}));
    let v = p
        .ok(
            "crm.duplicate.findbycomm",
            json!({"type": "EMAIL", "values": ["lead@x.org"], "entity_type": "CONTACT"}),
        )
        .await;
    assert_eq!(v["result"], json!([]));
    let v = p.ok("crm.duplicate.findbycomm", json!({"type": "EMAIL", "values": ["lead@x.org"]})).await;
    assert_eq!(v["result"], json!({"LEAD": [1]}));
    let many: Vec<String> = (0..21).map(|i| format!("{i}@x.org")).collect();
    assert_eq!(p.err("crm.duplicate.findbycomm", json!({"type": "EMAIL", "values": many})).await.0, 400);
    assert_eq!(p.err("crm.duplicate.findbycomm", json!({"type": "FAX", "values": ["1"]})).await.0, 400);
}
