//! `--state FILE` persistence across a restart, and the `b24import sandbox` command line.

mod sandbox_common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use b24import::sandbox::SandboxConfig;
use sandbox_common::Portal;
use serde_json::json;

#[tokio::test]
async fn state_survives_a_restart_with_a_state_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("portal.db");
    let cfg = SandboxConfig {
        rate: 1000.0,
        burst: 1000.0,
        state_file: Some(path.clone()),
        ..SandboxConfig::fast()
    };
    let p = Portal::start(cfg.clone()).await;
    p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"name": "Ann", "fm": [{"typeId": "EMAIL", "value": "a@x.org"}]}})).await;
    p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"name": "Bob"}})).await;
    p.ok("crm.item.delete", json!({"entityTypeId": 3, "id": 2})).await;
    p.ok("user.add", json!({"EMAIL": "u@x.org", "UF_DEPARTMENT": [1]})).await;
    p.ok("crm.type.add", json!({"fields": {"title": "Projects", "entityTypeId": 1040}})).await;
    p.ok("crm.item.add", json!({"entityTypeId": 1040, "fields": {"title": "P1"}})).await;
    p.ok("crm.contact.userfield.add", json!({"fields": {"FIELD_NAME": "KEPT", "USER_TYPE_ID": "string"}}))
        .await;
    p.handle.stop().await;

    let p = Portal::start(cfg).await;
    let s = p.handle.snapshot();
    assert_eq!((s.items["3"], s.items["1040"], s.users), (1, 1, 1));
    let v = p.ok("crm.item.get", json!({"entityTypeId": 3, "id": 1})).await;
    assert_eq!(v["result"]["item"]["fm"][0]["value"], "a@x.org");
    let v = p.ok("crm.item.add", json!({"entityTypeId": 3, "fields": {"ufCrmKept": "yes"}})).await;
    assert_eq!(v["result"]["item"]["id"], 3, "ids continue and are never reused");
    assert_eq!(v["result"]["item"]["ufCrmKept"], "yes");
    assert_eq!(p.ok("user.add", json!({"EMAIL": "v@x.org", "UF_DEPARTMENT": [1]})).await["result"], 3);
    assert_eq!(
        p.err("user.add", json!({"EMAIL": "u@x.org", "UF_DEPARTMENT": [1]})).await.1,
        "ERROR_ARGUMENT"
    );
    p.handle.stop().await;
}

#[test]
fn the_cli_prints_the_listening_line_then_the_webhook_url() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_b24import"))
        .args(["sandbox", "--port", "0", "--rate", "20", "--burst", "10", "--seed", "7"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a first line").expect("utf-8");
    let second = lines.next().expect("a second line").expect("utf-8");
    let _ = child.kill();
    let _ = child.wait();
    let base = first.strip_prefix("listening on http://127.0.0.1:").expect("listening line");
    assert!(base.parse::<u16>().is_ok_and(|p| p > 0), "{first}");
    let prefix = format!("http://127.0.0.1:{base}/rest/1/");
    assert!(
        second.starts_with(&prefix) && second.ends_with('/') && second.len() > prefix.len() + 1,
        "{second}"
    );
}
