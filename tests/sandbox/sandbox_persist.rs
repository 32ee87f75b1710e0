//! `--state FILE` persistence across a restart, and the `b24import sandbox` command line.

use crate::common;

use crate::sandbox_common;

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

/// A `b24import sandbox` child on `port` with `args`: its webhook URL and stderr lines read so far.
struct SandboxProcess {
    child: std::process::Child,
    webhook: String,
    stderr: std::sync::mpsc::Receiver<String>,
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SandboxProcess {
    fn start(port: u16, args: &[&str]) -> SandboxProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_b24import"))
            .args([
                "sandbox",
                "--port",
                &port.to_string(),
                "--rate",
                "200",
                "--burst",
                "50",
                "--time-scale",
                "0",
            ])
            .args(args)
            .env_remove("B24IMPORT_SANDBOX_WEBHOOK_CODE")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let (tx, stderr) = std::sync::mpsc::channel();
        let err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let listening = lines.next().expect("a first line").expect("utf-8");
        assert!(listening.ends_with(&format!(":{port}")), "{listening}");
        let webhook = lines.next().expect("a second line").expect("utf-8");
        SandboxProcess { child, webhook, stderr }
    }

    /// Kills the process (the state is flushed after every request) and returns its stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        // The reader thread ends at the pipe's end (the process is gone): no timeout to outrun.
        for line in self.stderr.iter() {
            text.push_str(&line);
            text.push('\n');
        }
        text
    }
}

/// A port free right now (the sandbox restarts on the same one, as a user's would).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Imports 5 contacts through the binary with `webhook`; the exit code.
fn import(dir: &std::path::Path, webhook: &str) -> Option<i32> {
    let mapping = common::name_only_contacts(dir, 0, 5, "test");
    Command::new(env!("CARGO_BIN_EXE_b24import"))
        .arg("run")
        .arg(&mapping)
        .arg("--journal")
        .arg(dir.join("j.sqlite"))
        .args(["--webhook", webhook, "--rate", "200", "--burst", "50"])
        .env_remove("B24_ACCESS_TOKEN")
        .output()
        .expect("the binary runs")
        .status
        .code()
}

/// (HTTP status, items of entity type 3) through `webhook`.
fn list_contacts(webhook: &str) -> (u16, usize) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let resp = sandbox_common::client()
            .post(format!("{webhook}crm.item.list"))
            .json(&json!({"entityTypeId": 3}))
            .send()
            .await
            .expect("an answer");
        let status = resp.status().as_u16();
        let v: serde_json::Value = resp.json().await.expect("json");
        (status, v["result"]["items"].as_array().map_or(0, Vec::len))
    })
}

// Bug pinned: an explicit --webhook-code was not kept in --state, so a restart changed the URL.
#[test]
fn a_state_file_keeps_an_explicit_webhook_code_and_the_items_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("portal.db");
    let state_s = state.to_str().expect("utf-8");
    let port = free_port();
    let first = SandboxProcess::start(port, &["--state", state_s, "--webhook-code", "rehearsal42"]);
    let url = first.webhook.clone();
    assert!(url.ends_with("/rest/1/rehearsal42/"), "{url}");
    assert_eq!(import(dir.path(), &url), Some(0));
    first.stop();

    let second = SandboxProcess::start(port, &["--state", state_s]);
    assert_eq!(second.webhook, url, "the same webhook URL after a restart");
    assert_eq!(list_contacts(&url), (200, 5), "the same URL works and the items are there");
    assert_eq!(import(dir.path(), &url), Some(0), "a re-run finds every row done");
    assert_eq!(list_contacts(&url), (200, 5));
    second.stop();

    // Another explicit code than the kept one: the flag wins, with a note, and is kept.
    let third = SandboxProcess::start(port, &["--state", state_s, "--webhook-code", "another77"]);
    assert!(third.webhook.ends_with("/rest/1/another77/"), "{}", third.webhook);
    assert_eq!(list_contacts(&third.webhook), (200, 5));
    assert_eq!(list_contacts(&url).0, 401, "the old code no longer works");
    let stderr = third.stop();
    assert!(stderr.contains("note: --webhook-code differs"), "{stderr}");
    assert!(
        !stderr.contains("rehearsal42") && !stderr.contains("another77"),
        "no code in the note: {stderr}"
    );
    let fourth = SandboxProcess::start(port, &["--state", state_s]);
    assert!(fourth.webhook.ends_with("/rest/1/another77/"), "{}", fourth.webhook);
    fourth.stop();
}

#[test]
fn a_state_file_keeps_the_oauth_application_and_its_rotated_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("portal.db");
    let state_s = state.to_str().expect("utf-8");
    let exports = |port: u16| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_b24import"))
            .args(["sandbox", "--oauth", "--port", &port.to_string(), "--state", state_s])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary runs");
        let lines: Vec<String> = BufReader::new(child.stdout.take().expect("stdout"))
            .lines()
            .take(8)
            .map(|l| l.expect("utf-8"))
            .collect();
        (child, lines)
    };
    let port = free_port();
    let (mut child, first) = exports(port);
    assert_eq!(first.len(), 8, "{first:?}");
    let get = |lines: &[String], name: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("{name} in {lines:?}"))
            .to_string()
    };
    // Rotate the refresh token once, as a run would.
    let rotated: serde_json::Value =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(
            async {
                sandbox_common::client()
                    .get(format!(
                        "{}?grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
                        get(&first, "B24_OAUTH_ENDPOINT"),
                        get(&first, "B24_CLIENT_ID"),
                        get(&first, "B24_CLIENT_SECRET"),
                        get(&first, "B24_REFRESH_TOKEN")
                    ))
                    .send()
                    .await
                    .expect("answer")
                    .json()
                    .await
                    .expect("json")
            },
        );
    let _ = child.kill();
    let _ = child.wait();
    let (mut child, second) = exports(port);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(get(&second, "B24_CLIENT_SECRET"), get(&first, "B24_CLIENT_SECRET"));
    assert_eq!(get(&second, "B24_REFRESH_TOKEN"), rotated["refresh_token"].as_str().expect("rotated"));
    assert_eq!(get(&second, "B24_ACCESS_TOKEN"), rotated["access_token"].as_str().expect("rotated"));
}
