//! `batch` over HTTP: limits, sections, halt, references, form bodies, rate accounting.

use crate::sandbox_common;

use b24_sandbox::SandboxConfig;
use sandbox_common::{Portal, add_cmd};
use serde_json::{Map, Value, json};

fn many_adds(n: usize) -> Value {
    let mut cmd = Map::new();
    for i in 0..n {
        cmd.insert(format!("r{i:06}"), json!(add_cmd(3, json!({"name": format!("N{i}")}))));
    }
    Value::Object(cmd)
}

#[tokio::test]
async fn batch_with_51_commands_is_refused_with_error_batch_length_exceeded() {
    let p = Portal::fast().await;
    let (status, body) = p.batch(false, many_adds(51)).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "ERROR_BATCH_LENGTH_EXCEEDED");
    assert_eq!(p.handle.snapshot().items["3"], 0, "nothing may run");
    let (status, body) = p.batch(false, many_adds(50)).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["result"].as_object().expect("map").len(), 50);
}

#[tokio::test]
async fn batch_overflow_setting_runs_the_first_50_and_fails_the_rest() {
    let p = Portal::start(SandboxConfig {
        rate: 1000.0,
        burst: 1000.0,
        batch_overflow_runs_first_50: true,
        ..SandboxConfig::fast()
    })
    .await;
    let (status, body) = p.batch(false, many_adds(52)).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["result"].as_object().expect("map").len(), 50);
    assert_eq!(body["result"]["result_error"]["r000051"]["error"], "ERROR_BATCH_LENGTH_EXCEEDED");
    assert_eq!(p.handle.snapshot().items["3"], 50);
}

#[tokio::test]
async fn a_nested_batch_command_fails_with_error_batch_method_not_allowed() {
    let p = Portal::fast().await;
    let (status, body) = p.batch(false, json!({"a": "batch?cmd[x]=profile", "b": "profile"})).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"]["result_error"]["a"]["error"], "ERROR_BATCH_METHOD_NOT_ALLOWED");
    assert_eq!(body["result"]["result"]["b"]["ID"], "1");
}

#[tokio::test]
async fn empty_result_sections_come_back_as_empty_lists() {
    let p = Portal::fast().await;
    let (_, body) = p.batch(false, json!({"p": "profile"})).await;
    let r = &body["result"];
    assert_eq!(r["result_error"], json!([]));
    assert_eq!(r["result_total"], json!([]));
    assert_eq!(r["result_next"], json!([]));
    assert!(r["result"].is_object());
    assert!(r["result_time"]["p"]["duration"].is_number());
    assert!(body["time"]["operating_reset_at"].is_number() || body["time"]["start"].is_number());
}

#[tokio::test]
async fn halt_stops_at_the_first_failure_and_later_commands_are_in_neither_section() {
    let p = Portal::fast().await;
    let cmd = json!({
        "a": add_cmd(3, json!({"name": "A"})),
        "b": "crm.item.add?entityTypeId=999&fields[title]=x",
        "c": add_cmd(3, json!({"name": "C"})),
    });
    let (_, body) = p.batch(true, cmd.clone()).await;
    let r = &body["result"];
    assert!(r["result"]["a"]["item"]["id"].is_number());
    assert_eq!(r["result_error"]["b"]["error"], "NOT_FOUND");
    assert!(r["result"].get("c").is_none() && r["result_error"].get("c").is_none());
    assert!(r["result_time"].get("c").is_none());
    let (_, body) = p.batch(false, cmd).await;
    assert!(body["result"]["result"]["c"]["item"]["id"].is_number(), "halt=0 runs everything");
    assert_eq!(p.handle.snapshot().items["3"], 3);
}

#[tokio::test]
async fn result_references_resolve_to_earlier_results_and_unresolved_ones_stay_as_text() {
    let p = Portal::fast().await;
    let cmd = json!({
        "co": add_cmd(4, json!({"title": "Acme"})),
        "ct": "crm.item.add?entityTypeId=3&fields[name]=Ann&fields[companyId]=$result[co][item][id]&fields[comments]=from $result[co][item][title]",
        "bad": "crm.item.add?entityTypeId=3&fields[name]=$result[missing][item][id]",
    });
    let (_, body) = p.batch(true, cmd).await;
    let r = &body["result"]["result"];
    assert_eq!(r["ct"]["item"]["companyId"], r["co"]["item"]["id"]);
    assert_eq!(r["ct"]["item"]["comments"], "from Acme");
    assert_eq!(r["bad"]["item"]["name"], "$result[missing][item][id]");
}

#[tokio::test]
async fn list_commands_report_result_total_and_result_next() {
    let p = Portal::fast().await;
    p.batch(false, many_adds(50)).await;
    p.batch(false, many_adds(5)).await;
    let (_, body) = p.batch(false, json!({"l": "crm.item.list?entityTypeId=3&select[]=id", "f": "crm.item.list?entityTypeId=3&start=50"})).await;
    let r = &body["result"];
    assert_eq!(r["result_total"]["l"], 55);
    assert_eq!(r["result_next"]["l"], 50);
    assert_eq!(r["result"]["l"]["items"].as_array().expect("items").len(), 50);
    assert!(r["result_next"].get("f").is_none());
    assert_eq!(r["result"]["f"]["items"].as_array().expect("items").len(), 5);
}

#[tokio::test]
async fn a_batch_in_a_form_body_with_php_style_keys_runs_in_the_given_order() {
    let p = Portal::fast().await;
    let enc = |s: &str| b24_sandbox::phpquery::urlencode(s);
    let body = format!(
        "halt=1&cmd[z1]={}&cmd[a2]={}",
        enc("crm.item.add?entityTypeId=3&fields[name]=First"),
        enc("crm.item.get?entityTypeId=3&id=$result[z1][item][id]")
    );
    let (status, v) = p.form("batch", &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"]["result"]["a2"]["item"]["name"], "First");
}

#[tokio::test]
async fn cmd_given_as_a_list_gives_list_sections() {
    let p = Portal::fast().await;
    let (_, body) = p.batch(false, json!(["profile", "profile"])).await;
    assert!(body["result"]["result"].is_array());
    assert_eq!(body["result"]["result"][1]["ID"], "1");
}

#[tokio::test]
async fn a_batch_of_50_counts_as_one_request_for_the_rate_limit() {
    let p = Portal::start(SandboxConfig { rate: 0.001, burst: 3.0, ..SandboxConfig::fast() }).await;
    for _ in 0..3 {
        let (status, _) = p.batch(false, many_adds(50)).await;
        assert_eq!(status, 200);
    }
    let (status, body) = p.batch(false, many_adds(1)).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("QUERY_LIMIT_EXCEEDED")));
    let counts = p.handle.request_counts();
    assert_eq!(counts["batch"], 3);
    assert_eq!(counts["crm.item.add"], 150);
}

#[tokio::test]
async fn a_base64_file_inside_a_batch_command_is_accepted() {
    let p = Portal::fast().await;
    let cmd = json!({"f": add_cmd(3, json!({"name": "F", "ufCrm_1700000002": ["a.txt", "aGVsbG8="]}))});
    let (_, body) = p.batch(false, cmd).await;
    assert!(body["result"]["result"]["f"]["item"]["ufCrm_1700000002"]["id"].is_number(), "{body}");
}
