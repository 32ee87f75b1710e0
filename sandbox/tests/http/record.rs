//! Issue 20, the whole record, through HTTP: product rows (`set` replaces, owners checked,
//! `ownerType` short codes including a smart process's `T` + hex), the catalogue's
//! `crm.product.list` filters (products seeded by the schema file's `[[products]]`),
//! requisites (owner and preset immutable, XML_ID filter, presets), bank details, addresses
//! (adding one that exists is refused) and the cascades.

use crate::sandbox_common;

use b24_sandbox::{SandboxConfig, SchemaFile};
use sandbox_common::Portal;
use serde_json::{Value, json};

async fn item(p: &Portal, etid: u64, fields: Value) -> u64 {
    let v = p.ok("crm.item.add", json!({"entityTypeId": etid, "fields": fields})).await;
    v["result"]["item"]["id"].as_u64().expect("an id")
}

async fn requisite(p: &Portal, etid: u64, owner: u64, xml_id: &str) -> u64 {
    let fields = json!({"ENTITY_TYPE_ID": etid, "ENTITY_ID": owner, "PRESET_ID": 1, "NAME": "Org", "XML_ID": xml_id, "RQ_INN": "7701"});
    p.ok("crm.requisite.add", json!({"fields": fields})).await["result"].as_u64().expect("an ID")
}

fn names(v: &Value) -> Vec<String> {
    v["result"]["productRows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["productName"].as_str().unwrap_or_default().to_string())
        .collect()
}

// crm-item-productrow-set.md: "this method will overwrite all existing product rows".
#[tokio::test]
async fn productrow_set_replaces_every_row_of_the_owner_and_an_empty_list_clears_them() {
    let p = Portal::fast().await;
    let deal = item(&p, 2, json!({"title": "D"})).await;
    let other = item(&p, 2, json!({"title": "E"})).await;
    let rows = |names: &[&str]| -> Value {
        names.iter().map(|n| json!({"productName": n, "price": 100, "quantity": 2})).collect()
    };
    p.ok(
        "crm.item.productrow.set",
        json!({"ownerType": "D", "ownerId": other, "productRows": rows(&["keep"])}),
    )
    .await;
    p.ok(
        "crm.item.productrow.set",
        json!({"ownerType": "D", "ownerId": deal, "productRows": rows(&["a", "b"])}),
    )
    .await;
    let v = p
        .ok(
            "crm.item.productrow.set",
            json!({"ownerType": "D", "ownerId": deal, "productRows": rows(&["c"])}),
        )
        .await;
    assert_eq!(names(&v), ["c"]);
    let list = |owner: u64| json!({"filter": {"=ownerType": "D", "=ownerId": owner}});
    let v = p.ok("crm.item.productrow.list", list(deal)).await;
    assert_eq!((names(&v), v["total"].clone()), (vec!["c".to_string()], json!(1)));
    p.ok("crm.item.productrow.set", json!({"ownerType": "D", "ownerId": deal, "productRows": []})).await;
    assert_eq!(p.ok("crm.item.productrow.list", list(deal)).await["total"], json!(0));
    assert_eq!(names(&p.ok("crm.item.productrow.list", list(other)).await), ["keep"]);
}

// crm-item-productrow-add.md's answer: the derived prices and the defaults.
#[tokio::test]
async fn productrow_add_computes_the_derived_prices_as_the_page_answers() {
    let p = Portal::fast().await;
    let deal = item(&p, 2, json!({"title": "D"})).await;
    let fields = json!({"ownerId": deal, "ownerType": "D", "productName": "x", "price": 80000, "quantity": 2, "discountTypeId": 2, "discountRate": 20, "taxRate": 20, "taxIncluded": "Y", "measureCode": 796});
    let v = p.ok("crm.item.productrow.add", json!({"fields": fields})).await;
    let row = &v["result"]["productRow"];
    assert_eq!(row["priceExclusive"], json!(66666.67));
    assert_eq!(row["priceNetto"], json!(83333.34));
    assert_eq!(row["priceBrutto"], json!(100000.01));
    assert_eq!(row["discountSum"], json!(16666.67));
    assert_eq!(row["measureName"], json!("pcs"));
    let v = p.ok("crm.item.productrow.add", json!({"fields": {"ownerId": deal, "ownerType": "D"}})).await;
    let row = &v["result"]["productRow"];
    assert_eq!((row["quantity"].clone(), row["discountTypeId"].clone()), (json!(1), json!(2)));
    assert_eq!(row["taxIncluded"], json!("N"));
}

// data-types.md#object_type: L, D, Q, SI, T + hex; contacts and companies have no rows.
#[tokio::test]
async fn productrow_owner_types_are_the_short_codes_and_the_owner_must_exist() {
    let p = Portal::fast().await;
    p.ok(
        "crm.type.add",
        json!({"fields": {"title": "P", "entityTypeId": 156, "isLinkWithProductsEnabled": "Y"}}),
    )
    .await;
    p.ok(
        "crm.type.add",
        json!({"fields": {"title": "N", "entityTypeId": 158, "isLinkWithProductsEnabled": "N"}}),
    )
    .await;
    for (code, etid) in [("L", 1), ("D", 2), ("Q", 7), ("SI", 31), ("T9c", 156)] {
        let id = item(&p, etid, json!({"title": "x"})).await;
        let v = p
            .ok(
                "crm.item.productrow.add",
                json!({"fields": {"ownerType": code, "ownerId": id, "productName": code}}),
            )
            .await;
        assert_eq!(v["result"]["productRow"]["ownerType"], json!(code));
        let v =
            p.ok("crm.item.productrow.list", json!({"filter": {"=ownerType": code, "=ownerId": id}})).await;
        assert_eq!(names(&v), [code], "{code}");
    }
    let spa_off = item(&p, 158, json!({"title": "x"})).await;
    let company = item(&p, 4, json!({"title": "x"})).await;
    for (code, id) in [("CO", company), ("C", 1), ("T9e", spa_off), ("T9d", 1), ("X", 1)] {
        let (status, v) = p
            .call("crm.item.productrow.set", json!({"ownerType": code, "ownerId": id, "productRows": []}))
            .await;
        assert_eq!((status, v["error"].as_str()), (400, Some("ENTITY_TYPE_NOT_SUPPORTED")), "{code}: {v}");
    }
    let (status, v) =
        p.call("crm.item.productrow.set", json!({"ownerType": "D", "ownerId": 999, "productRows": []})).await;
    assert_eq!(
        (status, v["error"].clone(), v["error_description"].clone()),
        (400, json!("OWNER_NOT_FOUND"), json!("Owner was not found"))
    );
    let (status, v) = p.call("crm.item.productrow.set", json!({"ownerType": "D", "productRows": []})).await;
    assert_eq!((status, v["error"].clone()), (400, json!("100")));
}

// crm-item-productrow-update.md: INVALID_ARG_VALUE for a field not available for update;
// crm.item.delete removes the item's rows.
#[tokio::test]
async fn productrow_update_refuses_moving_a_row_and_deleting_the_owner_removes_its_rows() {
    let p = Portal::fast().await;
    let deal = item(&p, 2, json!({"title": "D"})).await;
    let v = p
        .ok("crm.item.productrow.add", json!({"fields": {"ownerType": "D", "ownerId": deal, "price": 5}}))
        .await;
    let id = v["result"]["productRow"]["id"].as_u64().expect("an id");
    let (status, v) = p.call("crm.item.productrow.update", json!({"id": id, "fields": {"ownerId": 3}})).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("INVALID_ARG_VALUE")), "{v}");
    let v = p
        .ok(
            "crm.item.productrow.update",
            json!({"id": id, "fields": {"price": 90000, "discountRate": 10, "taxRate": 10}}),
        )
        .await;
    assert_eq!(v["result"]["productRow"]["priceNetto"], json!(90909.09));
    p.ok("crm.item.delete", json!({"entityTypeId": 2, "id": deal})).await;
    let (status, v) = p.call("crm.item.productrow.get", json!({"id": id})).await;
    assert_eq!(
        (status, v["error"].clone(), v["error_description"].clone()),
        (400, json!("NOT_FOUND"), json!("Item not found"))
    );
}

// crm-product-list.md: read-only, filter by NAME and XML_ID, select; seeded by `[[products]]`.
#[tokio::test]
async fn product_list_filters_the_seeded_catalogue_by_name_and_xml_id() {
    let schema = SchemaFile::from_toml(
        "[[products]]\nname = \"Widget\"\nxml_id = \"SKU-1\"\nprice = 10.5\n\n[[products]]\nid = 40\nname = \"Gadget\"\nxml_id = \"SKU-2\"\nmeasure_code = 166\n",
        "test",
    )
    .expect("valid schema");
    let p = Portal::start(SandboxConfig {
        rate: 1000.0,
        burst: 1000.0,
        schema: Some(schema),
        ..SandboxConfig::fast()
    })
    .await;
    let v = p.ok("crm.product.list", json!({"filter": {"XML_ID": "SKU-2"}, "select": ["ID", "NAME"]})).await;
    assert_eq!(v["result"], json!([{"ID": "40", "NAME": "Gadget"}]));
    let v = p.ok("crm.product.list", json!({"filter": {"NAME": "Widget"}})).await;
    assert_eq!(
        (v["result"][0]["XML_ID"].clone(), v["result"][0]["PRICE"].clone()),
        (json!("SKU-1"), json!("10.5"))
    );
    assert_eq!(p.ok("crm.product.list", json!({})).await["total"], json!(2));
    // A row naming a catalogue product takes its name and unit.
    let deal = item(&p, 2, json!({"title": "D"})).await;
    let v = p
        .ok(
            "crm.item.productrow.add",
            json!({"fields": {"ownerType": "D", "ownerId": deal, "productId": 40}}),
        )
        .await;
    let row = &v["result"]["productRow"];
    assert_eq!((row["productName"].clone(), row["measureName"].clone()), (json!("Gadget"), json!("kg")));
}

// crm-requisite-add.md's table; crm-requisite-fields.md: owner and preset isImmutable.
#[tokio::test]
async fn requisite_owner_and_preset_are_checked_on_add_and_never_change() {
    let p = Portal::fast().await;
    let company = item(&p, 4, json!({"title": "C"})).await;
    let contact = item(&p, 3, json!({"name": "N"})).await;
    for (fields, text) in [
        (
            json!({"ENTITY_TYPE_ID": 2, "ENTITY_ID": company, "PRESET_ID": 1}),
            "ENTITY_TYPE_ID is not defined or invalid.",
        ),
        (json!({"ENTITY_TYPE_ID": 4, "PRESET_ID": 1}), "ENTITY_ID is not defined or invalid."),
        (
            json!({"ENTITY_TYPE_ID": 4, "ENTITY_ID": company, "PRESET_ID": 99}),
            "PRESET_ID is not defined or invalid.",
        ),
        (json!({"ENTITY_TYPE_ID": 4, "ENTITY_ID": 999, "PRESET_ID": 1}), "Entity not found."),
    ] {
        let (status, v) = p.call("crm.requisite.add", json!({"fields": fields})).await;
        assert_eq!(
            (status, v["error"].clone(), v["error_description"].clone()),
            (400, json!(""), json!(text))
        );
    }
    let id = requisite(&p, 4, company, "RQ-1").await;
    let v = p.ok("crm.requisite.update", json!({"id": id, "fields": {"ENTITY_TYPE_ID": 3, "ENTITY_ID": contact, "PRESET_ID": 2, "RQ_KPP": "7705"}})).await;
    assert_eq!(v["result"], json!(true));
    let r = p.ok("crm.requisite.get", json!({"id": id})).await;
    let r = &r["result"];
    assert_eq!(
        (r["ENTITY_TYPE_ID"].clone(), r["ENTITY_ID"].clone()),
        (json!("4"), json!(company.to_string()))
    );
    assert_eq!((r["PRESET_ID"].clone(), r["RQ_KPP"].clone()), (json!("1"), json!("7705")));
    let (status, v) = p.call("crm.requisite.get", json!({"id": 57})).await;
    assert_eq!(
        (status, v["error_description"].clone()),
        (400, json!("The Requisite with ID '57' is not found"))
    );
    let presets = p
        .ok(
            "crm.requisite.preset.list",
            json!({"filter": {"NAME": "Organization"}, "select": ["ID", "NAME"]}),
        )
        .await;
    assert_eq!(presets["result"], json!([{"ID": "1", "NAME": "Organization"}]));
}

// crm-requisite-list.md and crm-requisite-bank-detail-list.md: filters by XML_ID.
#[tokio::test]
async fn requisites_and_bank_details_are_found_by_xml_id() {
    let p = Portal::fast().await;
    let company = item(&p, 4, json!({"title": "C"})).await;
    requisite(&p, 4, company, "RQ-A").await;
    let b = requisite(&p, 4, company, "RQ-B").await;
    let v =
        p.ok("crm.requisite.list", json!({"filter": {"XML_ID": "RQ-B"}, "select": ["ID", "XML_ID"]})).await;
    assert_eq!(v["result"], json!([{"ID": b.to_string(), "XML_ID": "RQ-B"}]));
    let (status, v) =
        p.call("crm.requisite.bankdetail.add", json!({"fields": {"ENTITY_ID": 999, "NAME": "Bank"}})).await;
    assert_eq!(
        (status, v["error_description"].clone()),
        (400, json!("ENTITY_ID is not defined or invalid."))
    );
    for xml in ["BK-1", "BK-2"] {
        p.ok(
            "crm.requisite.bankdetail.add",
            json!({"fields": {"ENTITY_ID": b, "NAME": xml, "XML_ID": xml, "RQ_BIK": "0445"}}),
        )
        .await;
    }
    let v = p.ok("crm.requisite.bankdetail.list", json!({"filter": {"XML_ID": "BK-2"}})).await;
    assert_eq!(
        (v["total"].clone(), v["result"][0]["NAME"].clone(), v["result"][0]["COUNTRY_ID"].clone()),
        (json!(1), json!("BK-2"), json!("1"))
    );
    let id = v["result"][0]["ID"].as_str().expect("ID").parse::<u64>().expect("a number");
    p.ok(
        "crm.requisite.bankdetail.update",
        json!({"id": id, "fields": {"ENTITY_ID": 1, "RQ_ACC_NUM": "4070"}}),
    )
    .await;
    let v = p.ok("crm.requisite.bankdetail.get", json!({"id": id})).await;
    assert_eq!(
        (v["result"]["ENTITY_ID"].clone(), v["result"]["RQ_ACC_NUM"].clone()),
        (json!(b.to_string()), json!("4070"))
    );
}

// crm-address-add.md: "TypeAddress exists"; the key is (TYPE_ID, ENTITY_TYPE_ID, ENTITY_ID).
#[tokio::test]
async fn adding_an_address_that_exists_is_refused_and_update_changes_it() {
    let p = Portal::fast().await;
    let company = item(&p, 4, json!({"title": "C"})).await;
    let rq = requisite(&p, 4, company, "RQ").await;
    let key = json!({"TYPE_ID": 6, "ENTITY_TYPE_ID": 8, "ENTITY_ID": rq});
    let mut fields = key.clone();
    fields["CITY"] = json!("Riga");
    assert_eq!(p.ok("crm.address.add", json!({"fields": fields})).await["result"], json!(true));
    let (status, v) = p.call("crm.address.add", json!({"fields": fields})).await;
    assert_eq!(
        (status, v["error"].clone(), v["error_description"].clone()),
        (400, json!(""), json!("TypeAddress exists."))
    );
    fields["CITY"] = json!("Tallinn");
    p.ok("crm.address.update", json!({"fields": fields})).await;
    let mut other = key.clone();
    other["TYPE_ID"] = json!(1);
    p.ok("crm.address.add", json!({"fields": other})).await;
    let v = p
        .ok("crm.address.list", json!({"filter": {"ENTITY_TYPE_ID": 8, "ENTITY_ID": rq, "TYPE_ID": 6}}))
        .await;
    assert_eq!((v["total"].clone(), v["result"][0]["CITY"].clone()), (json!(1), json!("Tallinn")));
    assert_eq!(
        (v["result"][0]["ANCHOR_TYPE_ID"].clone(), v["result"][0]["ANCHOR_ID"].clone()),
        (json!("4"), json!(company.to_string()))
    );
    for (bad, text) in [
        (json!({"TYPE_ID": 2, "ENTITY_TYPE_ID": 8, "ENTITY_ID": rq}), "TYPE_ID is not defined or invalid."),
        (
            json!({"TYPE_ID": 1, "ENTITY_TYPE_ID": 3, "ENTITY_ID": 1}),
            "ENTITY_TYPE_ID is not defined or invalid.",
        ),
        (
            json!({"TYPE_ID": 1, "ENTITY_TYPE_ID": 8, "ENTITY_ID": 999}),
            "ENTITY_ID is not defined or invalid.",
        ),
    ] {
        let (status, v) = p.call("crm.address.add", json!({"fields": bad})).await;
        assert_eq!((status, v["error_description"].clone()), (400, json!(text)));
    }
    let mut gone = key.clone();
    gone["TYPE_ID"] = json!(9);
    let (status, v) = p.call("crm.address.update", json!({"fields": gone})).await;
    assert_eq!((status, v["error_description"].clone()), (400, json!("TypeAddress not found.")));
}

// crm-requisite-delete.md: "deletes a requisite and all associated objects (... addresses,
// bank details)"; a company's deletion takes its requisites with it.
#[tokio::test]
async fn deleting_a_requisite_or_its_company_removes_what_hangs_on_it() {
    let p = Portal::fast().await;
    let company = item(&p, 4, json!({"title": "C"})).await;
    let a = requisite(&p, 4, company, "A").await;
    let b = requisite(&p, 4, company, "B").await;
    for rq in [a, b] {
        p.ok("crm.requisite.bankdetail.add", json!({"fields": {"ENTITY_ID": rq, "NAME": "Bank"}})).await;
        p.ok("crm.address.add", json!({"fields": {"TYPE_ID": 1, "ENTITY_TYPE_ID": 8, "ENTITY_ID": rq}}))
            .await;
    }
    assert_eq!(p.ok("crm.requisite.delete", json!({"id": a})).await["result"], json!(true));
    let banks = p.ok("crm.requisite.bankdetail.list", json!({})).await;
    assert_eq!(
        (banks["total"].clone(), banks["result"][0]["ENTITY_ID"].clone()),
        (json!(1), json!(b.to_string()))
    );
    assert_eq!(p.ok("crm.address.list", json!({"filter": {"ENTITY_ID": a}})).await["total"], json!(0));
    let (status, v) = p.call("crm.requisite.delete", json!({"id": a})).await;
    assert_eq!(
        (status, v["error_description"].clone()),
        (400, json!(format!("The Requisite with ID '{a}' is not found")))
    );
    p.ok("crm.item.delete", json!({"entityTypeId": 4, "id": company})).await;
    for method in ["crm.requisite.list", "crm.requisite.bankdetail.list", "crm.address.list"] {
        assert_eq!(p.ok(method, json!({})).await["total"], json!(0), "{method}");
    }
}

// The record methods run inside batch like any other.
#[tokio::test]
async fn record_methods_run_inside_batch() {
    let p = Portal::fast().await;
    let company = item(&p, 4, json!({"title": "C"})).await;
    let cmd = format!(
        "crm.requisite.add?fields[ENTITY_TYPE_ID]=4&fields[ENTITY_ID]={company}&fields[PRESET_ID]=1&fields[NAME]=X&fields[XML_ID]=K"
    );
    let (status, v) = p.batch(true, json!({"r1": cmd, "r2": "crm.requisite.list?filter[XML_ID]=K"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"]["result"]["r2"][0]["XML_ID"], json!("K"), "{v}");
}
