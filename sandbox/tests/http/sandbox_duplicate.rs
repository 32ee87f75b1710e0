//! `crm.duplicate.findbycomm` over HTTP (§3.7): at most 20 values, `entity_type`
//! LEAD/CONTACT/COMPANY, phones through the portal's normalisation (extensions ignored),
//! e-mails case-insensitively after NFC,
//! the per-type result shape, the documented errors, and the method inside `batch`.

use crate::sandbox_common;

use sandbox_common::Portal;
use serde_json::{Value, json};

/// Adds an item of `entity_type_id` with one phone and one e-mail; its ID.
async fn add(p: &Portal, entity_type_id: u64, phone: &str, email: &str) -> u64 {
    let body = p
        .ok(
            "crm.item.add",
            json!({"entityTypeId": entity_type_id, "fields": {"title": "x", "name": "x", "fm": [
                {"typeId": "PHONE", "valueType": "WORK", "value": phone},
                {"typeId": "EMAIL", "valueType": "WORK", "value": email}
            ]}}),
        )
        .await;
    body["result"]["item"]["id"].as_u64().expect("an ID")
}

async fn find(p: &Portal, params: Value) -> Value {
    p.ok("crm.duplicate.findbycomm", params).await["result"].clone()
}

#[tokio::test]
async fn phones_match_by_digits_with_extensions_ignored_and_emails_case_insensitively() {
    let p = Portal::fast().await;
    let c = add(&p, 3, "+7 (916) 123-45-67 ext. 12", "Ann@Example.com").await;
    let by_phone =
        find(&p, json!({"type": "PHONE", "values": ["79161234567"], "entity_type": "CONTACT"})).await;
    assert_eq!(by_phone, json!({"CONTACT": [c]}));
    let by_phone = find(&p, json!({"type": "PHONE", "values": ["+7 916 123 45 67 доб. 5"]})).await;
    assert_eq!(by_phone, json!({"CONTACT": [c]}));
    let by_mail =
        find(&p, json!({"type": "EMAIL", "values": ["ann@EXAMPLE.com"], "entity_type": "CONTACT"})).await;
    assert_eq!(by_mail, json!({"CONTACT": [c]}));
    let none = find(&p, json!({"type": "EMAIL", "values": ["bob@example.com"]})).await;
    assert_eq!(none, json!([]), "no match is an empty (PHP) array");
}

// Bug pinned: the sandbox compared phones by their digits, so `8 916 555 07 07` and
// `+7 (916) 555-07-07` were two numbers to it and one to the portal (its core's NormalizePhone),
// and an e-mail in NFD missed its NFC spelling: tests stayed green where the portal disagreed.
#[tokio::test]
async fn phones_compare_through_the_portal_normalisation_and_emails_after_nfc() {
    let p = Portal::fast().await;
    let c = add(&p, 3, "+7 (916) 555-07-07", "Caf\u{e9}@x.ru").await;
    let uk = add(&p, 3, "+44 20 7946 0000", "uk@x.ru").await;
    for asked in ["8 916 555 07 07", "79165550707", "+7 916 555 07 07 ext 9"] {
        let found = find(&p, json!({"type": "PHONE", "values": [asked], "entity_type": "CONTACT"})).await;
        assert_eq!(found, json!({"CONTACT": [c]}), "{asked}");
    }
    for asked in ["00 44 20 7946 0000", "011 44 20 7946 0000"] {
        let found = find(&p, json!({"type": "PHONE", "values": [asked], "entity_type": "CONTACT"})).await;
        assert_eq!(found, json!({"CONTACT": [uk]}), "{asked}");
    }
    let none = find(&p, json!({"type": "PHONE", "values": ["9165550707"], "entity_type": "CONTACT"})).await;
    assert_eq!(none, json!([]), "a national number is not completed by the documented rule");
    let by_mail =
        find(&p, json!({"type": "EMAIL", "values": [" CAFE\u{301}@x.ru "], "entity_type": "CONTACT"})).await;
    assert_eq!(by_mail, json!({"CONTACT": [c]}));
}

#[tokio::test]
async fn the_result_has_one_list_of_ids_per_entity_type_and_entity_type_narrows_it() {
    let p = Portal::fast().await;
    let lead = add(&p, 1, "+1 555 0100", "a@x.ru").await;
    let contact = add(&p, 3, "+1 555 0100", "b@x.ru").await;
    let company = add(&p, 4, "+1 555 0100", "c@x.ru").await;
    let deal = p.ok("crm.item.add", json!({"entityTypeId": 2, "fields": {"title": "d"}})).await;
    assert!(deal["result"]["item"]["id"].is_u64());
    let all = find(&p, json!({"type": "PHONE", "values": ["15550100"]})).await;
    assert_eq!(all, json!({"LEAD": [lead], "CONTACT": [contact], "COMPANY": [company]}));
    let only = find(&p, json!({"type": "PHONE", "values": ["15550100"], "entity_type": "COMPANY"})).await;
    assert_eq!(only, json!({"COMPANY": [company]}));
    let other = find(&p, json!({"type": "EMAIL", "values": ["a@x.ru"], "entity_type": "CONTACT"})).await;
    assert_eq!(other, json!([]), "a lead's e-mail is not a contact's");
}

#[tokio::test]
async fn more_than_20_values_and_a_missing_type_or_an_unknown_entity_type_are_refused() {
    let p = Portal::fast().await;
    let values: Vec<String> = (0..21).map(|i| format!("{i}@x.ru")).collect();
    let (status, code) = p.err("crm.duplicate.findbycomm", json!({"type": "EMAIL", "values": values})).await;
    assert_eq!(status, 400);
    assert!(code.contains("20"), "{code}");
    let twenty: Vec<String> = (0..20).map(|i| format!("{i}@x.ru")).collect();
    p.ok("crm.duplicate.findbycomm", json!({"type": "EMAIL", "values": twenty})).await;
    let (status, code) = p.err("crm.duplicate.findbycomm", json!({"values": ["a@x.ru"]})).await;
    assert_eq!((status, code.as_str()), (400, "Communication type is not defined"), "the page's text");
    let (status, _) = p.err("crm.duplicate.findbycomm", json!({"type": "WEB", "values": ["x.ru"]})).await;
    assert_eq!(status, 400);
    let (status, _) = p
        .err(
            "crm.duplicate.findbycomm",
            json!({"type": "EMAIL", "values": ["a@x.ru"], "entity_type": "DEAL"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = p.err("crm.duplicate.findbycomm", json!({"type": "EMAIL", "values": []})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn once_one_type_has_20_matches_the_remaining_types_are_not_returned() {
    let p = Portal::fast().await;
    for _ in 0..20 {
        add(&p, 1, "+1 555 0199", "lead@x.ru").await;
    }
    add(&p, 3, "+1 555 0199", "contact@x.ru").await;
    let all = find(&p, json!({"type": "PHONE", "values": ["15550199"]})).await;
    assert_eq!(all["LEAD"].as_array().map(Vec::len), Some(20));
    assert!(all.get("CONTACT").is_none(), "{all}");
    let contact = find(&p, json!({"type": "PHONE", "values": ["15550199"], "entity_type": "CONTACT"})).await;
    assert_eq!(contact["CONTACT"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn it_is_allowed_inside_batch_with_its_errors_per_command() {
    let p = Portal::fast().await;
    let c = add(&p, 3, "+44 20 7946 0000", "z@x.ru").await;
    let (status, body) = p
        .batch(
            false,
            json!({
                "a": "crm.duplicate.findbycomm?type=EMAIL&values[0]=Z@X.RU&entity_type=CONTACT",
                "b": "crm.duplicate.findbycomm?values[0]=z@x.ru",
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["result"]["a"], json!({"CONTACT": [c]}));
    assert_eq!(body["result"]["result_error"]["b"]["error"], "Communication type is not defined");
}
