//! Issue 18: the legacy list methods (`crm.deal.list`, `crm.contact.list`, `crm.company.list`,
//! `crm.lead.list`) over the items `crm.item.*` holds, with their pages' parameters and answer
//! shape; and `crm.item.list` refusing an unknown filter or order field, a malformed filter
//! value and a bad sort direction with its page's errors.

use crate::sandbox_common;

use sandbox_common::Portal;
use serde_json::{Value, json};

async fn item(p: &Portal, etid: u64, fields: Value) -> u64 {
    let v = p.ok("crm.item.add", json!({"entityTypeId": etid, "fields": fields})).await;
    v["result"]["item"]["id"].as_u64().expect("an id")
}

fn ids(v: &Value) -> Vec<String> {
    v["result"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|r| r["ID"].as_str().expect("ID as text").to_string())
        .collect()
}

// api-reference/crm/deals/crm-deal-list.md: the request example's shape and answer.
#[tokio::test]
async fn crm_deal_list_answers_upper_case_rows_of_the_items_crm_item_holds() {
    let p = Portal::fast().await;
    let a = item(&p, 2, json!({"title": "[A] Deal", "opportunity": 19999.99, "isManualOpportunity": "Y", "assignedById": 1, "typeId": "COMPLEX"})).await;
    let b = item(
        &p,
        2,
        json!({"title": "[B] Sale", "opportunity": 12500, "isManualOpportunity": "Y", "typeId": "COMPLEX"}),
    )
    .await;
    item(&p, 2, json!({"title": "[C] Deal", "opportunity": 30000, "typeId": "COMPLEX"})).await;
    let v = p
        .ok(
            "crm.deal.list",
            json!({"SELECT": ["ID", "TITLE", "TYPE_ID", "CATEGORY_ID", "STAGE_ID", "OPPORTUNITY", "IS_MANUAL_OPPORTUNITY", "ASSIGNED_BY_ID", "DATE_CREATE"],
                "FILTER": {"TYPE_ID": "COMPLEX", ">OPPORTUNITY": 10000, "<=OPPORTUNITY": 20000, "IS_MANUAL_OPPORTUNITY": "Y"},
                "ORDER": {"TITLE": "DESC"}}),
        )
        .await;
    assert_eq!(ids(&v), vec![b.to_string(), a.to_string()], "{v}");
    assert_eq!(v["total"], 2);
    assert!(v.get("next").is_none(), "no next below 50: {v}");
    let row = &v["result"][1];
    assert_eq!(row["TITLE"], "[A] Deal");
    assert_eq!(row["OPPORTUNITY"], "19999.99");
    assert_eq!(row["CATEGORY_ID"], "0");
    assert_eq!(row["STAGE_ID"], "NEW");
    assert_eq!(row["ASSIGNED_BY_ID"], "1");
    assert_eq!(row["IS_MANUAL_OPPORTUNITY"], "Y");
    assert!(row["DATE_CREATE"].as_str().is_some_and(|d| d.contains('T')), "{row}");
    let keys: Vec<&String> = row.as_object().expect("a row").keys().collect();
    assert_eq!(keys.len(), 9, "only what was selected: {keys:?}");
    // The default selection: '*' + 'UF_*', no multiple fields.
    let v = p.ok("crm.deal.list", json!({"filter": {"ID": a}})).await;
    let row = &v["result"][0];
    assert_eq!(row["TITLE"], "[A] Deal");
    assert!(
        row.get("CONTACT_IDS").is_none() && row.get("UF_CRM_1700000001").is_none(),
        "multiple fields only by name: {row}"
    );
    assert!(row.get("UF_CRM_1700000004").is_some(), "single custom fields with UF_*: {row}");
    assert!(
        row.get("CREATED_BY_ID").is_some()
            && row.get("MODIFY_BY_ID").is_some()
            && row.get("DATE_MODIFY").is_some(),
        "{row}"
    );
}

#[tokio::test]
async fn legacy_lists_page_by_50_with_start_and_next() {
    let p = Portal::fast().await;
    for n in 0..55 {
        item(&p, 3, json!({"name": format!("N{n}"), "lastName": "L"})).await;
    }
    let v = p.ok("crm.contact.list", json!({"select": ["ID", "NAME"]})).await;
    assert_eq!(
        (v["result"].as_array().map(Vec::len), v["total"].clone(), v["next"].clone()),
        (Some(50), json!(55), json!(50))
    );
    let v = p.ok("crm.contact.list", json!({"select": ["ID", "NAME"], "start": 50})).await;
    assert_eq!(ids(&v), (51..=55).map(|n| n.to_string()).collect::<Vec<_>>());
    assert!(v.get("next").is_none());
}

#[tokio::test]
async fn legacy_lists_show_multifields_by_name_and_filter_on_them() {
    let p = Portal::fast().await;
    let id = item(&p, 3, json!({"name": "Ann", "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+79001234567"}, {"typeId": "EMAIL", "valueType": "WORK", "value": "ann@x.org"}]})).await;
    item(&p, 3, json!({"name": "Bob"})).await;
    let v = p
        .ok(
            "crm.contact.list",
            json!({"filter": {"EMAIL": "ann@x.org"}, "select": ["ID", "NAME", "EMAIL", "PHONE"]}),
        )
        .await;
    assert_eq!(ids(&v), vec![id.to_string()]);
    let row = &v["result"][0];
    assert_eq!(row["EMAIL"][0]["VALUE"], "ann@x.org");
    assert_eq!(row["EMAIL"][0]["TYPE_ID"], "EMAIL");
    assert_eq!(row["PHONE"][0]["VALUE_TYPE"], "WORK");
    let v = p.ok("crm.contact.list", json!({"filter": {"ID": id}})).await;
    assert!(v["result"][0].get("PHONE").is_none(), "not in '*': {v}");
    // A company and a lead answer the same way; the lead's stage is STATUS_ID.
    item(&p, 4, json!({"title": "Acme", "industry": "IT"})).await;
    let v = p.ok("crm.company.list", json!({"select": ["ID", "TITLE", "INDUSTRY"]})).await;
    assert_eq!(
        (v["result"][0]["TITLE"].clone(), v["result"][0]["INDUSTRY"].clone()),
        (json!("Acme"), json!("IT"))
    );
    item(&p, 1, json!({"title": "Lead"})).await;
    let v = p.ok("crm.lead.list", json!({"select": ["ID", "STATUS_ID"]})).await;
    assert_eq!(v["result"][0]["STATUS_ID"], "NEW", "{v}");
}

// The legacy pages' errors; and what the legacy core does with keys it does not know.
#[tokio::test]
async fn legacy_lists_refuse_a_filter_or_order_that_is_not_an_object_and_ignore_unknown_keys() {
    let p = Portal::fast().await;
    item(&p, 2, json!({"title": "One"})).await;
    item(&p, 2, json!({"title": "Two"})).await;
    for (param, text) in
        [("filter", "Parameter 'filter' must be array."), ("order", "Parameter 'order' must be array.")]
    {
        let (status, v) = p.call("crm.deal.list", json!({ param: "TITLE" })).await;
        assert_eq!(
            (status, v["error"].as_str(), v["error_description"].as_str()),
            (400, Some(""), Some(text)),
            "{v}"
        );
    }
    let v =
        p.ok("crm.deal.list", json!({"filter": {"NO_SUCH_FIELD": 1}, "order": {"NO_SUCH": "DESC"}})).await;
    assert_eq!(v["total"], 2, "unknown keys are ignored, as the legacy core does: {v}");
    let v = p.ok("crm.deal.list", json!({"order": {"TITLE": "sideways"}, "select": ["TITLE"]})).await;
    assert_eq!(v["result"][0]["TITLE"], "One", "an unknown direction sorts ascending");
    assert!(p.handle.snapshot().items["2"] == 2, "read-only");
}

// api-reference/crm/universal/crm-item-list.md, "Possible Error Codes".
#[tokio::test]
async fn crm_item_list_refuses_unknown_fields_bad_values_and_bad_directions_as_its_page_says() {
    let p = Portal::fast().await;
    item(&p, 2, json!({"title": "One", "opportunity": 10})).await;
    let cases = [
        (json!({"filter": {"bogus": 1}}), "Invalid filter: field 'bogus' is not allowed in filter"),
        (json!({"filter": {">=bogus": 1}}), "Invalid filter: field 'bogus' is not allowed in filter"),
        (
            json!({"filter": {">opportunity": "lots"}}),
            "Invalid filter: field 'opportunity' has invalid value",
        ),
        (json!({"filter": {"@id": ["1", "two"]}}), "Invalid filter: field 'id' has invalid value"),
        (
            json!({"filter": {">=createdTime": "yesterday"}}),
            "Invalid filter: field 'createdTime' has invalid value",
        ),
        (
            json!({"filter": {"isManualOpportunity": "perhaps"}}),
            "Invalid filter: field 'isManualOpportunity' has invalid value",
        ),
        (
            json!({"filter": {"0": {"logic": "OR", "nope": 1}}}),
            "Invalid filter: field 'nope' is not allowed in filter",
        ),
        (json!({"order": {"bogus": "ASC"}}), "Invalid order: field 'bogus' is not allowed in order"),
        (
            json!({"order": {"title": "UP"}}),
            "Invalid order: allowed sort directions are ASC, DESC. But got 'UP' for field 'title'",
        ),
    ];
    for (extra, text) in cases {
        let mut body = json!({"entityTypeId": 2});
        for (k, v) in extra.as_object().expect("params") {
            body[k] = v.clone();
        }
        let (status, v) = p.call("crm.item.list", body.clone()).await;
        assert_eq!(
            (status, v["error"].as_str(), v["error_description"].as_str()),
            (400, Some("INVALID_ARG_VALUE"), Some(text)),
            "{body}"
        );
    }
    // What the importer and the page's example send still passes.
    let v = p
        .ok("crm.item.list", json!({"entityTypeId": 2, "filter": {">=opportunity": "5", "@id": [1, "2"], "=originatorId": "", "!=title": "", ">createdTime": "2020-01-01"}, "order": {"title": "asc", "id": "DESC"}}))
        .await;
    assert_eq!(v["total"], 1, "{v}");
    // Inside a batch the command is refused alone.
    let (_, v) = p.batch(false, json!({"bad": "crm.item.list?entityTypeId=2&order[title]=UP", "ok": "crm.item.list?entityTypeId=2"})).await;
    assert_eq!(v["result"]["result_error"]["bad"]["error"], "INVALID_ARG_VALUE", "{v}");
    assert_eq!(v["result"]["result_total"]["ok"], 1, "{v}");
}
