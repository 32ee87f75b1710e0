//! `crm.item.*` over HTTP: validation rules, fm semantics, list filters and paging, fields,
//! form bodies, the duplicates counter and the inspection endpoints.

use crate::sandbox_common;

use b24_sandbox::{SandboxConfig, SchemaFile};
use sandbox_common::Portal;
use serde_json::json;

#[tokio::test]
async fn add_returns_the_full_item_with_increasing_integer_ids() {
    let p = Portal::fast().await;
    let a = p
        .ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"title": "Deal A", "opportunity": 10.5}}))
        .await;
    let b = p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"title": "Deal B"}})).await;
    assert_eq!(a["result"]["item"]["id"], 1);
    assert_eq!(b["result"]["item"]["id"], 2);
    assert_eq!(a["result"]["item"]["title"], "Deal A");
    assert_eq!(a["result"]["item"]["opportunity"], 10.5);
    assert_eq!(a["result"]["item"]["stageId"], "NEW");
    for k in [
        "start",
        "finish",
        "duration",
        "processing",
        "date_start",
        "date_finish",
        "operating",
        "operating_reset_at",
    ] {
        assert!(a["time"].get(k).is_some(), "time.{k} missing in {}", a["time"]);
    }
}

#[tokio::test]
async fn an_unknown_entity_type_id_is_not_found() {
    let p = Portal::fast().await;
    assert_eq!(
        p.err("crm.item.add", json!({"entityTypeId": 999, "fields": {}})).await,
        (400, "NOT_FOUND".into())
    );
    assert_eq!(p.err("crm.item.fields", json!({"entityTypeId": 5})).await, (400, "NOT_FOUND".into()));
}

#[tokio::test]
async fn a_multiple_field_given_a_scalar_fails_with_error_100() {
    let p = Portal::fast().await;
    let r = p.err("crm.item.add", json!({"entityTypeId": 3, "fields": {"ufCrm_1700000001": "one"}})).await;
    assert_eq!(r, (400, "100".into()));
    p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"ufCrm_1700000001": ["one", "two"]}})).await;
}

#[tokio::test]
async fn a_file_field_must_be_a_name_and_valid_base64() {
    let p = Portal::fast().await;
    for bad in [json!("aGVsbG8="), json!(["a.txt", "not base64!!"]), json!(["a.txt"]), json!({"x": 1})] {
        let r = p.err("crm.item.add", json!({"entityTypeId": 3, "fields": {"ufCrm_1700000002": bad}})).await;
        assert_eq!(r, (400, "CRM_FIELD_ERROR_VALUE_NOT_VALID".into()), "{bad}");
    }
    let v = p
        .ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"ufCrm_1700000002": ["a.txt", "aGVsbG8="]}}))
        .await;
    let file = &v["result"]["item"]["ufCrm_1700000002"];
    assert!(file["id"].is_number() && file["url"].is_string() && file["urlMachine"].is_string());
}

#[tokio::test]
async fn an_enumeration_value_must_be_one_of_its_item_ids() {
    let p = Portal::fast().await;
    let r = p.err("crm.item.add", json!({"entityTypeId": 1, "fields": {"ufCrm_1700000004": "Gold"}})).await;
    assert_eq!(r, (400, "CRM_FIELD_ERROR_VALUE_NOT_VALID".into()));
    let r = p.err("crm.item.add", json!({"entityTypeId": 1, "fields": {"ufCrm_1700000004": 42}})).await;
    assert_eq!(r.1, "CRM_FIELD_ERROR_VALUE_NOT_VALID");
    let v = p.ok("crm.item.add", json!({"entityTypeId": 1, "fields": {"ufCrm_1700000004": "41"}})).await;
    assert_eq!(v["result"]["item"]["ufCrm_1700000004"], 41);
}

#[tokio::test]
async fn bad_dates_numbers_and_booleans_are_not_valid() {
    let p = Portal::fast().await;
    for (field, bad) in
        [("ufCrm_1700000005", "2025-02-30"), ("ufCrm_1700000007", "abc"), ("ufCrm_1700000006", "maybe")]
    {
        let r = p.err("crm.item.add", json!({"entityTypeId": 4, "fields": {field: bad}})).await;
        assert_eq!(r.1, "CRM_FIELD_ERROR_VALUE_NOT_VALID", "{field}={bad}");
    }
    let v = p
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 4, "fields": {"ufCrm_1700000005": "04/29/2025", "ufCrm_1700000007": "1.5", "ufCrm_1700000006": "Y", "ufCrm_1700000003": "300|EUR"}}),
        )
        .await;
    let item = &v["result"]["item"];
    assert_eq!(item["ufCrm_1700000005"], "2025-04-29T00:00:00+00:00");
    assert_eq!(item["ufCrm_1700000007"], 1.5);
    assert_eq!(item["ufCrm_1700000006"], "Y");
    assert_eq!(item["ufCrm_1700000003"], "300|EUR");
}

#[tokio::test]
async fn missing_required_fields_are_named_in_the_error() {
    let schema = SchemaFile::from_toml(
        "[[entity]]\nentity_type_id = 3\n[[entity.field]]\nname = \"lastName\"\nrequired = true\n[[entity.field]]\nname = \"ufCrm_1700000005\"\nrequired = true\n",
        "test",
    )
    .expect("schema");
    let p = Portal::start(SandboxConfig {
        rate: 1000.0,
        burst: 1000.0,
        schema: Some(schema),
        ..SandboxConfig::fast()
    })
    .await;
    let (status, v) = p.call("crm.item.add", json!({"entityTypeId": 3, "fields": {"name": "Ann"}})).await;
    assert_eq!(status, 400);
    assert_eq!(v["error"], "CRM_FIELD_ERROR_REQUIRED");
    // The page's text names the first missing field by its title (crm-item-batch-import.md).
    assert_eq!(v["error_description"], "The \"Last name\" field is required");
    let (status, v) = p
        .call("crm.item.add", json!({"entityTypeId": 3, "fields": {"name": "Ann", "lastName": "Lee"}}))
        .await;
    assert_eq!((status, v["error_description"].as_str()), (400, Some("The \"Signed on\" field is required")));
    let f = p.ok("crm.item.fields", json!({"entityTypeId": 3})).await;
    assert_eq!(f["result"]["fields"]["lastName"]["isRequired"], true);
}

#[tokio::test]
async fn unknown_fields_are_silently_ignored() {
    let p = Portal::fast().await;
    let v = p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"name": "A", "lastname": "typo", "UF_CRM_1700000001": ["x"]}})).await;
    let item = &v["result"]["item"];
    assert!(item.get("lastname").is_none());
    assert_eq!(item["lastName"], json!(null));
    assert_eq!(item["ufCrm_1700000001"], json!([]), "original names need useOriginalUfNames=Y");
}

#[tokio::test]
async fn use_original_uf_names_applies_to_request_and_response() {
    let p = Portal::fast().await;
    let v = p
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 3, "useOriginalUfNames": "Y", "fields": {"UF_CRM_1700000001": ["x"]}}),
        )
        .await;
    assert_eq!(v["result"]["item"]["UF_CRM_1700000001"], json!(["x"]));
    let f = p.ok("crm.item.fields", json!({"entityTypeId": 3, "useOriginalUfNames": "Y"})).await;
    assert!(f["result"]["fields"].get("UF_CRM_1700000004").is_some());
    let f = p.ok("crm.item.fields", json!({"entityTypeId": 3})).await;
    let tier = &f["result"]["fields"]["ufCrm_1700000004"];
    assert_eq!(tier["type"], "enumeration");
    assert_eq!(
        tier["items"],
        json!([{"ID":"41","VALUE":"Gold"},{"ID":"43","VALUE":"Silver"},{"ID":"45","VALUE":"Bronze"}])
    );
    assert_eq!(f["result"]["fields"]["ufCrm_1700000008"]["isMultiple"], true);
    assert_eq!(f["result"]["fields"]["ufCrm_1700000008"]["type"], "url");
}

#[tokio::test]
async fn fm_is_a_list_on_add_and_an_n0_or_id_keyed_object_on_update() {
    let p = Portal::fast().await;
    let v = p
        .ok(
            "crm.item.add",
            json!({"entityTypeId": 3, "fields": {"name": "A", "fm": [
                {"typeId": "PHONE", "valueType": "WORK", "value": "+1 555 0100"},
                {"typeId": "EMAIL", "valueType": "HOME", "value": "a@x.org"}]}}),
        )
        .await;
    let id = v["result"]["item"]["id"].clone();
    let fm = v["result"]["item"]["fm"].as_array().expect("fm").clone();
    assert_eq!(fm.len(), 2);
    let phone_id = fm[0]["id"].as_u64().expect("id").to_string();
    let email_id = fm[1]["id"].as_u64().expect("id").to_string();
    let v = p
        .ok(
            "crm.item.update",
            json!({"entityTypeId": 3, "id": id, "fields": {"fm": {
                "n0": {"typeId": "PHONE", "valueType": "MOBILE", "value": "+1 555 0199"},
                phone_id.clone(): {"value": "+1 555 0101"},
                email_id: {"value": ""}}}}),
        )
        .await;
    let fm = v["result"]["item"]["fm"].as_array().expect("fm").clone();
    let values: Vec<&str> = fm.iter().map(|e| e["value"].as_str().expect("value")).collect();
    assert_eq!(values, ["+1 555 0101", "+1 555 0199"]);
    // A string fm is silently ignored; an invalid typeId is not.
    let v = p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"fm": "+1 555"}})).await;
    assert_eq!(v["result"]["item"]["fm"], json!([]));
    let r = p
        .err("crm.item.add", json!({"entityTypeId": 3, "fields": {"fm": [{"typeId": "FAX", "value": "1"}]}}))
        .await;
    assert_eq!(r.1, "CRM_FIELD_ERROR_VALUE_NOT_VALID");
    // An array passed to update appends.
    let v = p
        .ok("crm.item.update", json!({"entityTypeId": 3, "id": id, "fields": {"fm": [{"typeId": "PHONE", "value": "+1 555 0101"}]}}))
        .await;
    assert_eq!(v["result"]["item"]["fm"].as_array().expect("fm").len(), 3);
}

#[tokio::test]
async fn list_filters_with_prefix_operators_on_any_stored_field() {
    let p = Portal::fast().await;
    for i in 1..=6 {
        p.ok(
            "crm.item.add",
            json!({"entityTypeId": 3, "fields": {"name": format!("Name{i}"), "originatorId": "csv", "originId": format!("K{i}"), "opened": if i % 2 == 0 {"Y"} else {"N"}}}),
        )
        .await;
    }
    let ids = |v: &serde_json::Value| -> Vec<u64> {
        v["result"]["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["id"].as_u64().expect("id"))
            .collect()
    };
    let q = |filter| json!({"entityTypeId": 3, "filter": filter, "select": ["id", "originId"]});
    assert_eq!(
        ids(&p.ok("crm.item.list", q(json!({"=originatorId": "csv", "@originId": ["K2", "K5"]}))).await),
        [2, 5]
    );
    assert_eq!(
        ids(&p.ok("crm.item.list", q(json!({"!@originId": ["K2", "K5"], ">id": 1, "<=id": 4}))).await),
        [3, 4]
    );
    assert_eq!(ids(&p.ok("crm.item.list", q(json!({">=id": 5}))).await), [5, 6]);
    assert_eq!(ids(&p.ok("crm.item.list", q(json!({"<id": 2}))).await), [1]);
    assert_eq!(ids(&p.ok("crm.item.list", q(json!({"!=originId": "K1", "%name": "ame6"}))).await), [6]);
    assert_eq!(ids(&p.ok("crm.item.list", q(json!({"opened": 1, "<id": 5}))).await), [2, 4]);
    let r = p.err("crm.item.list", q(json!({"nosuchfield": 1}))).await;
    assert_eq!(r.1, "INVALID_ARG_VALUE");
    let desc =
        p.ok("crm.item.list", json!({"entityTypeId": 3, "order": {"id": "DESC"}, "select": ["id"]})).await;
    assert_eq!(ids(&desc)[0], 6);
}

#[tokio::test]
async fn list_pages_by_50_with_next_and_total_and_start_minus_one_skips_the_total() {
    let p = Portal::fast().await;
    for i in 0..120 {
        p.ok("crm.item.add", json!({"entityTypeId": 1, "fields": {"title": format!("L{i}")}})).await;
    }
    let v = p.ok("crm.item.list", json!({"entityTypeId": 1, "select": ["id"]})).await;
    assert_eq!((v["total"].as_u64(), v["next"].as_u64()), (Some(120), Some(50)));
    let v = p.ok("crm.item.list", json!({"entityTypeId": 1, "select": ["id"], "start": 100})).await;
    assert_eq!(v["result"]["items"].as_array().expect("items").len(), 20);
    assert!(v.get("next").is_none());
    let v = p
        .ok("crm.item.list", json!({"entityTypeId": 1, "select": ["id"], "start": -1, "filter": {">id": 60}}))
        .await;
    assert_eq!(v["total"], 0);
    assert!(v.get("next").is_none());
    assert_eq!(v["result"]["items"][0]["id"], 61);
}

#[tokio::test]
async fn list_select_limits_the_fields_and_fm_comes_only_with_star() {
    let p = Portal::fast().await;
    p.ok(
        "crm.item.add",
        json!({"entityTypeId": 3, "fields": {"name": "A", "fm": [{"typeId": "EMAIL", "value": "a@x.org"}]}}),
    )
    .await;
    let v = p.ok("crm.item.list", json!({"entityTypeId": 3, "select": ["id", "name", "fm"]})).await;
    let item = v["result"]["items"][0].as_object().expect("item").clone();
    assert!(item.contains_key("name") && !item.contains_key("fm") && !item.contains_key("lastName"));
    let v = p.ok("crm.item.list", json!({"entityTypeId": 3, "select": ["*"]})).await;
    assert_eq!(v["result"]["items"][0]["fm"][0]["value"], "a@x.org");
}

#[tokio::test]
async fn update_get_and_delete_round_trip() {
    let p = Portal::fast().await;
    let id = p.ok("crm.item.add", json!({"entityTypeId": 31, "fields": {"title": "I", "xmlId": "X1"}})).await
        ["result"]["item"]["id"]
        .clone();
    p.ok("crm.item.update", json!({"entityTypeId": 31, "id": id, "fields": {"title": "I2"}})).await;
    let v = p.ok("crm.item.get", json!({"entityTypeId": 31, "id": id})).await;
    assert_eq!(v["result"]["item"]["title"], "I2");
    assert_eq!(v["result"]["item"]["xmlId"], "X1");
    let v = p.ok("crm.item.delete", json!({"entityTypeId": 31, "id": id})).await;
    assert_eq!(v["result"], json!([]));
    assert_eq!(p.err("crm.item.get", json!({"entityTypeId": 31, "id": id})).await, (400, "NOT_FOUND".into()));
    assert_eq!(
        p.err("crm.item.update", json!({"entityTypeId": 31, "id": 77, "fields": {}})).await.1,
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn an_unknown_method_is_404_error_method_not_found() {
    let p = Portal::fast().await;
    assert_eq!(p.err("crm.item.explode", json!({})).await, (404, "ERROR_METHOD_NOT_FOUND".into()));
    assert_eq!(p.handle.snapshot().refusals["ERROR_METHOD_NOT_FOUND"], 1);
}

#[tokio::test]
async fn a_form_encoded_body_with_php_style_nested_keys_is_accepted() {
    let p = Portal::fast().await;
    let (status, v) = p
        .form(
            "crm.item.add",
            "entityTypeId=3&fields[name]=Form+Ann&fields[ufCrm_1700000001][]=a&fields[ufCrm_1700000001][]=b&fields[fm][0][typeId]=EMAIL&fields[fm][0][value]=f%40x.org",
        )
        .await;
    assert_eq!(status, 200, "{v}");
    let item = &v["result"]["item"];
    assert_eq!(item["name"], "Form Ann");
    assert_eq!(item["ufCrm_1700000001"], json!(["a", "b"]));
    assert_eq!(item["fm"][0]["value"], "f@x.org");
    // `.json` suffix and query-string parameters work too.
    let url = format!("{}crm.item.get.json?entityTypeId=3&id=1", p.handle.webhook_url());
    let v: serde_json::Value = p.client.get(url).send().await.expect("answer").json().await.expect("json");
    assert_eq!(v["result"]["item"]["name"], "Form Ann");
}

#[tokio::test]
async fn the_duplicates_counter_counts_items_sharing_origin_keys_or_xml_id() {
    let p = Portal::fast().await;
    for _ in 0..3 {
        p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"originatorId": "csv", "originId": "7"}}))
            .await;
    }
    p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"originatorId": "other", "originId": "7"}}))
        .await;
    p.ok("crm.item.add", json!({"entityTypeId": 31, "fields": {"xmlId": "X"}})).await;
    p.ok("crm.item.add", json!({"entityTypeId": 31, "fields": {"xmlId": "X"}})).await;
    let s = p.inspect("state").await;
    assert_eq!(s["duplicates"]["items"], 3);
    assert_eq!(s["duplicates"]["users"], 0);
    assert_eq!(s["items"]["3"], 4);
    assert_eq!(s["duplicates"]["details"][0]["ids"], json!([1, 2, 3]));
    assert_eq!(p.handle.snapshot().duplicates.items, 3);
}

#[tokio::test]
async fn the_items_dump_and_reset_endpoints_work() {
    let p = Portal::fast().await;
    p.ok("crm.item.add", json!({"entityTypeId": 4, "fields": {"title": "Co"}})).await;
    let dump = p.inspect("items?entityTypeId=4").await;
    assert_eq!(dump["items"][0]["title"], "Co");
    let url = format!("{}/_sandbox/reset", p.handle.base_url());
    assert!(p.client.post(url).send().await.expect("answer").status().is_success());
    let s = p.inspect("state").await;
    assert_eq!(s["items"]["4"], 0);
    assert_eq!(s["requests"]["total"], 0);
    let v = p.ok("crm.item.add", json!({"entityTypeId": 4, "fields": {"title": "Co"}})).await;
    assert_eq!(v["result"]["item"]["id"], 1);
}
