//! The portal not being there is not a rate limit: a refused connection or a name that does
//! not resolve at the first request exits 3 within 15 s, naming the host and asking whether
//! the URL is right, never suggesting a lower --rate.

use crate::common;

use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

/// Runs the binary against `webhook`; kills it (and fails) after 30 s so a hang cannot stall
/// the suite. Returns exit code, stderr and the time taken.
fn run_against(webhook: &str) -> (Option<i32>, String, Duration) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = common::name_only_contacts(dir.path(), 1, 2, "stops");
    let err_path = dir.path().join("err.txt");
    let start = Instant::now();
    let mut child = Process::new(env!("CARGO_BIN_EXE_b24import"))
        .arg("run")
        .arg(&mapping)
        .arg("--journal")
        .arg(dir.path().join("j.sqlite"))
        .args(["--webhook", webhook])
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&err_path).expect("stderr file")))
        .spawn()
        .expect("binary starts");
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running after 30 s: {}", std::fs::read_to_string(&err_path).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), std::fs::read_to_string(&err_path).unwrap_or_default(), start.elapsed())
}

// Regression: a refused first connection was retried for a minute and then reported with
// "lower --rate".
#[test]
fn a_port_nobody_listens_on_exits_3_within_15_s_with_a_network_message() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let (code, err, took) = run_against(&format!("http://127.0.0.1:{port}/rest/1/secretcode/"));
    assert_eq!(code, Some(3), "{err}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(err.contains("cannot reach the portal at 127.0.0.1"), "{err}");
    assert!(err.contains("is the URL right? is the portal up?"), "{err}");
    assert!(!err.contains("--rate"), "not a rate limit: {err}");
    assert!(!err.contains("secretcode"), "the webhook code leaked: {err}");
}

#[test]
fn a_host_name_that_does_not_resolve_exits_3_within_15_s_with_a_network_message() {
    // RFC 6761: names under .invalid never resolve; the client knows it without asking DNS,
    // so this cannot hang on a machine without network.
    let (code, err, took) = run_against("https://portal.b24import-test.invalid/rest/1/secretcode/");
    assert_eq!(code, Some(3), "{err}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(err.contains("cannot reach the portal at portal.b24import-test.invalid"), "{err}");
    assert!(err.contains("does not resolve"), "{err}");
    assert!(err.contains("is the URL right? is the portal up?"), "{err}");
    assert!(!err.contains("--rate"), "not a rate limit: {err}");
}
