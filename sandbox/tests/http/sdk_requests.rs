//! The requests three Bitrix24 client libraries send for a small flow, recorded from their
//! sources and replayed byte for byte against the sandbox (CI here cannot install them from a
//! registry). Each flow is the one `docs/sandbox.md` shows: create items, read them back in a
//! `batch`, and for b24jssdk the OAuth path with a token refresh.
//!
//! Where each request comes from (the libraries' sources, read at the commits the docs name):
//! - **fast_bitrix24** (`leshchenko1979/fast_bitrix24`): `srh.py` `request_attempt` POSTs
//!   `webhook + method` (method lower-cased, no `.json`) with the parameters as a JSON body;
//!   `user_request.py` `add_order_parameter` adds `order: {"ID": "ASC"}` to a `get_all` without
//!   an `order` of its own;
//!   `mult_request.py` `package_batch` sends `{"halt": 0, "cmd": {"cmd0000000000": ...}}` with
//!   each command built by `utils.http_build_query` (brackets literal, `quote`d values, a
//!   trailing `&`).
//! - **b24pysdk** (`bitrix24/b24pysdk`): `call_method.py` POSTs
//!   `https://{domain}/rest/{user_id}/{key}/{method}.json` with a JSON body and
//!   `Accept: application/json`, `Content-Type: application/json`; `call_batch.py` sends
//!   `{"cmd": {"0": ..., "1": ...}, "halt": false}` (a JSON boolean), each command built by
//!   `utils/encoding.py` `encode_params` (brackets literal, `quote_plus`d values).
//! - **b24jssdk** (`bitrix24/b24jssdk`): `core/http/abstract-http.ts` POSTs
//!   `{base}/{method}?bx24_request_id=…&bx24_sdk_ver=…&bx24_sdk_type=…` with a JSON body
//!   (axios); the webhook base is `{origin}/rest/{userId}/{secret}` (`hook/auth.ts`), the OAuth
//!   one the token's `client_endpoint` as given (so `…/rest//crm.item.list`) with `auth` in the
//!   body; `batch` sends `{"halt": 0, "cmd": {...}}` with commands built by `qs.stringify`
//!   (brackets percent-encoded); `oauth/auth.ts` refreshes with a form-encoded POST to
//!   `{server_endpoint without /rest/}/oauth/token/`.

use serde_json::{Value, json};

use crate::sandbox_common::Portal;

/// Sends one recorded request: `path_and_query` after `http://127.0.0.1:PORT`, the body as the
/// library serialises it, its content type. Answers (status, JSON).
async fn send(p: &Portal, path_and_query: &str, content_type: &str, body: &str) -> (u16, Value) {
    let url = format!("{}{path_and_query}", p.handle.base_url());
    let resp = p
        .client
        .post(url)
        .header("content-type", content_type)
        .header("accept", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("an answer");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// `/rest/1/CODE/` of the sandbox's webhook.
fn hook_path(p: &Portal) -> String {
    let cfg = p.handle.config();
    format!("/rest/{}/{}/", cfg.webhook.user_id, cfg.webhook.code)
}

#[tokio::test]
async fn fast_bitrix24_s_requests_answer_as_the_library_reads_them() {
    let p = Portal::fast().await;
    let hook = hook_path(&p);
    // b.call("crm.item.add", [{...}, {...}]): a list of items goes as one batch.
    let batch = r#"{"halt": 0, "cmd": {"cmd0000000000": "crm.item.add?entityTypeId=2&fields[title]=Deal%20A&", "cmd0000000001": "crm.item.add?entityTypeId=2&fields[title]=Deal%20B&fields[opportunity]=1500.5&"}}"#;
    let (status, v) = send(&p, &format!("{hook}batch"), "application/json", batch).await;
    assert_eq!(status, 200, "{v}");
    let results = &v["result"]["result"];
    assert_eq!(results["cmd0000000000"]["item"]["title"], "Deal A", "{v}");
    assert_eq!(results["cmd0000000001"]["item"]["opportunity"], 1500.5, "{v}");
    assert_eq!(v["result"]["result_error"], json!([]), "the empty section is `[]`: {v}");
    // fast_bitrix24 reads `time.operating` (its per-method throttler) when an answer has it
    // (`srh.py`: `"operating" in json["time"]`); a batch's own `time` has none (limits.md: the
    // outer `batch` call is not billed), so it must be absent or a number.
    assert!(v["time"].get("operating").is_none_or(Value::is_number), "{v}");
    // b.get_all("crm.item.list", {..., "order": {"id": "ASC"}}): with its own `order` the
    // library adds none. Without one it would add `order: {"ID": "ASC"}`, which a portal refuses
    // on the new-style list methods (`Unknown field definition I_D`: fast_bitrix24 issue #196,
    // for crm.type.list), hence the explicit order docs/sandbox.md shows.
    let list = r#"{"entityTypeId": 2, "select": ["id", "title"], "order": {"id": "ASC"}}"#;
    let (status, v) = send(&p, &format!("{hook}crm.item.list"), "application/json", list).await;
    assert_eq!(status, 200, "{v}");
    let titles: Vec<&str> =
        v["result"]["items"].as_array().expect("items").iter().filter_map(|i| i["title"].as_str()).collect();
    assert_eq!(titles, ["Deal A", "Deal B"]);
    assert_eq!(v["total"], 2, "get_all reads `total` to plan the remaining pages: {v}");
}

#[tokio::test]
async fn b24pysdk_s_requests_answer_as_the_library_reads_them() {
    let p = Portal::fast().await;
    let hook = hook_path(&p);
    // client.crm.item.add(entity_type_id=3, fields={...}).response: `<method>.json`, JSON body.
    let add = r#"{"entityTypeId": 3, "fields": {"name": "Ann", "lastName": "Lee"}}"#;
    let (status, v) = send(&p, &format!("{hook}crm.item.add.json"), "application/json", add).await;
    assert_eq!(status, 200, "{v}");
    let id = v["result"]["item"]["id"].as_u64().expect("the new contact's id");
    // client.call_batch({0: ..., 1: ...}, halt=False): numeric keys, a JSON boolean `halt`,
    // commands from encode_params (quote_plus).
    let batch = format!(
        r#"{{"cmd": {{"0": "crm.item.get?entityTypeId=3&id={id}", "1": "crm.item.list?entityTypeId=3&select[0]=id&select[1]=lastName&filter[%3DlastName]=Lee"}}, "halt": false}}"#
    );
    let (status, v) = send(&p, &format!("{hook}batch.json"), "application/json", &batch).await;
    assert_eq!(status, 200, "{v}");
    // Keys 0, 1, ... come back as a JSON list, as PHP encodes an array with sequential keys
    // (b24pysdk's batch response accepts a list or a mapping); a sparse one stays an object.
    assert_eq!(v["result"]["result"][0]["item"]["name"], "Ann", "{v}");
    assert_eq!(v["result"]["result"][1]["items"][0]["lastName"], "Lee", "{v}");
    assert_eq!(v["result"]["result_total"], json!({"1": 1}), "{v}");
    // The library raises BitrixAPIError from `error` / `error_description` of a refusal.
    let bad = r#"{"entityTypeId": 3, "fields": {"birthdate": "not a date"}}"#;
    let (status, v) = send(&p, &format!("{hook}crm.item.add.json"), "application/json", bad).await;
    assert_eq!((status, v["error"].as_str()), (400, Some("CRM_FIELD_ERROR_VALUE_NOT_VALID")), "{v}");
    assert!(v["error_description"].is_string());
}

#[tokio::test]
async fn b24jssdk_s_requests_answer_as_the_library_reads_them_webhook_and_oauth() {
    let p = Portal::fast().await;
    let hook = hook_path(&p);
    let telemetry =
        "bx24_request_id=5f0c8a8e-0d1b-4f43-9a8b-2f1d7c5e9b10&bx24_sdk_ver=1.0.0&bx24_sdk_type=b24-jssdk";
    // B24Hook (after the docs' one-line patch: the origin's own scheme): actions.v2.call.make.
    let add = r#"{"entityTypeId":4,"fields":{"title":"Acme"}}"#;
    let (status, v) = send(&p, &format!("{}crm.item.add?{telemetry}", hook), "application/json", add).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"]["item"]["title"], "Acme");
    // actions.v2.batch.make: commands from qs.stringify (brackets percent-encoded).
    let batch = r#"{"halt":0,"cmd":{"list":"crm.item.list?entityTypeId=4&select%5B0%5D=id&select%5B1%5D=title","fields":"crm.item.fields?entityTypeId=4"}}"#;
    let (status, v) = send(&p, &format!("{}batch?{telemetry}", hook), "application/json", batch).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"]["result"]["list"]["items"][0]["title"], "Acme", "{v}");
    assert!(v["result"]["result"]["fields"]["fields"]["title"].is_object(), "{v}");
    // The SDK's operating limiter reads `time.operating` and `operating_reset_at` where an
    // answer has them; a batch's own `time` has none (limits.md), a direct call's has both.
    assert!(v["time"].get("operating_reset_at").is_none_or(Value::is_number), "{v}");

    // B24OAuth: `client_endpoint` + "/" + method, `auth` in the body.
    let cfg = p.handle.config().oauth.clone();
    let list = format!(r#"{{"entityTypeId":4,"select":["id","title"],"auth":"{}"}}"#, cfg.access_token);
    let (status, v) = send(&p, &format!("/rest//crm.item.list?{telemetry}"), "application/json", &list).await;
    assert_eq!(status, 200, "the doubled slash reaches the method, as nginx merges it: {v}");
    assert_eq!(v["total"], 1);
    // refreshAuth: a form POST to `<server_endpoint without /rest/>/oauth/token/`.
    let form = format!(
        "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
        cfg.client_id, cfg.client_secret, cfg.refresh_token
    );
    let (status, t) = send(&p, "/oauth/token/", "application/x-www-form-urlencoded", &form).await;
    assert_eq!(status, 200, "{t}");
    for key in
        ["access_token", "refresh_token", "expires", "expires_in", "client_endpoint", "server_endpoint"]
    {
        assert!(t.get(key).is_some(), "the SDK reads {key}: {t}");
    }
    // The SDK derives the next refresh's host from server_endpoint by dropping `/rest/`.
    let server = t["server_endpoint"].as_str().expect("server_endpoint");
    assert!(server.ends_with("/rest/"), "as a portal's `https://oauth.bitrix.info/rest/`: {server}");
    let next_token_url = format!("{}/oauth/token/", server.replace("/rest/", ""));
    assert_eq!(next_token_url, p.handle.oauth_endpoint());
    // ...and keeps `client_endpoint` as its REST base from then on.
    assert_eq!(t["client_endpoint"].as_str(), Some(p.handle.client_endpoint().as_str()));
    let list = format!(r#"{{"entityTypeId":4,"auth":"{}"}}"#, t["access_token"].as_str().expect("token"));
    let (status, v) = send(
        &p,
        &format!("{}/crm.item.list?{telemetry}", p.handle.client_endpoint())
            .replace(&p.handle.base_url(), ""),
        "application/json",
        &list,
    )
    .await;
    assert_eq!(status, 200, "{v}");
}
