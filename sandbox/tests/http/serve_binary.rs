//! The package's binary, `b24-sandbox serve`, run as a user runs it: it prints where it
//! listens and the webhook on stdout, serves a REST call and the harness endpoints, keeps its
//! data in `--state`, and refuses a flag out of range with exit code 2.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

struct Served {
    child: Child,
    base: String,
    webhook: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_b24-sandbox"))
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a first line").expect("text");
    let base = first.strip_prefix("listening on ").expect("`listening on URL`").to_string();
    let webhook = lines.next().expect("a second line").expect("text");
    Served { child, base, webhook }
}

#[tokio::test]
async fn serve_prints_its_urls_answers_rest_and_the_harness_and_keeps_its_state() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("portal.db");
    let state = state.to_str().expect("a UTF-8 path");
    let client = crate::sandbox_common::client();
    let webhook = {
        let s = serve(&["--state", state, "--rate", "100", "--burst", "100"]);
        assert!(s.webhook.starts_with(&format!("{}/rest/1/", s.base)), "{}", s.webhook);
        let url = format!("{}crm.item.add", s.webhook);
        let v: Value = client
            .post(url)
            .json(&json!({"entityTypeId": 3, "fields": {"name": "Ann"}}))
            .send()
            .await
            .expect("an answer")
            .json()
            .await
            .expect("JSON");
        assert_eq!(v["result"]["item"]["name"], "Ann", "{v}");
        let state: Value = client
            .get(format!("{}/_sandbox/state", s.base))
            .send()
            .await
            .expect("state")
            .json()
            .await
            .expect("JSON");
        assert_eq!(state["items"]["3"], 1, "{state}");
        s.webhook.clone()
    };
    // A restart on the same state file answers with the same webhook code and the same data.
    let s = serve(&["--state", state]);
    assert_eq!(s.webhook.rsplit('/').nth(1), webhook.rsplit('/').nth(1), "the same code");
    let items: Value = client
        .get(format!("{}/_sandbox/items?entityTypeId=3", s.base))
        .send()
        .await
        .expect("items")
        .json()
        .await
        .expect("JSON");
    assert_eq!(items["items"][0]["name"], "Ann", "{items}");
}

#[test]
fn a_flag_out_of_range_exits_2_with_what_to_write() {
    let out = Command::new(env!("CARGO_BIN_EXE_b24-sandbox"))
        .args(["serve", "--operating-budget", "0"])
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--operating-budget must be"));
    let help =
        Command::new(env!("CARGO_BIN_EXE_b24-sandbox")).args(["serve", "--help"]).output().expect("runs");
    let text = String::from_utf8_lossy(&help.stdout);
    for needle in ["/_sandbox/state", "/_sandbox/reset", "--fail-500", "--state", "--oauth"] {
        assert!(text.contains(needle), "serve --help teaches {needle}");
    }
}
