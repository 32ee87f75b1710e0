//! Credentials in URLs never leave the process: a webhook URL carrying a password, a webhook
//! code and a query token is masked in stdout, stderr (debug logs included), the journal, the
//! `--report` file and `status`, on the refused path and on the success path; a journal written
//! by an older version is masked when `status` shows it.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use b24import::sandbox::{Sandbox, SandboxConfig};

const PASSWORD: &str = "pa55w0rdxq";
const QUERY_TOKEN: &str = "qt0ken5ecretxq";
const RIGHT_CODE: &str = "r1ghtc0dexq";
const WRONG_CODE: &str = "wr0ngc0dexq";

fn b24import(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_b24import"))
        .args(args)
        .env("B24IMPORT_LOG", "debug")
        .env_remove("B24_WEBHOOK_URL")
        .env_remove("B24_ACCESS_TOKEN")
        .output()
        .expect("the binary runs")
}

/// Every place a secret could land: the outputs, the journal (and its WAL), the report.
fn assert_nothing_leaks(outputs: &[&Output], files: &[PathBuf], secrets: &[&str]) {
    let mut places: Vec<(String, Vec<u8>)> = Vec::new();
    for (i, o) in outputs.iter().enumerate() {
        places.push((format!("stdout #{i}"), o.stdout.clone()));
        places.push((format!("stderr #{i}"), o.stderr.clone()));
    }
    for f in files {
        if let Ok(bytes) = std::fs::read(f) {
            places.push((f.display().to_string(), bytes));
        }
    }
    for (name, bytes) in &places {
        for secret in secrets {
            let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "`{secret}` leaked into {name}:\n{}", String::from_utf8_lossy(bytes));
        }
    }
}

fn journal_files(journal: &Path) -> Vec<PathBuf> {
    let name = journal.file_name().expect("name").to_string_lossy().to_string();
    vec![journal.to_path_buf(), journal.with_file_name(format!("{name}-wal"))]
}

// Bug pinned: `user:pass@` and `?token=` were stored in the journal and printed by `status`.
#[tokio::test(flavor = "multi_thread")]
async fn a_password_a_webhook_code_and_a_query_token_never_leave_the_process() {
    let mut config = common::sandbox_config(b24import::transport::Rate { per_second: 200.0, burst: 50 });
    config.webhook.code = RIGHT_CODE.to_string();
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = common::name_only_contacts(dir.path(), 0, 5, "test");
    let port = sandbox.addr().port();
    let secrets = [PASSWORD, QUERY_TOKEN, RIGHT_CODE, WRONG_CODE];

    for (attempt, (code, want_exit)) in [(WRONG_CODE, 3), (RIGHT_CODE, 0)].into_iter().enumerate() {
        let journal = dir.path().join(format!("run{attempt}.sqlite"));
        let report = dir.path().join(format!("run{attempt}.json"));
        let url = format!("http://user:{PASSWORD}@127.0.0.1:{port}/rest/1/{code}/?token={QUERY_TOKEN}");
        let (mapping, journal_s, report_s) = (
            mapping.to_str().expect("utf-8").to_string(),
            journal.to_str().expect("utf-8").to_string(),
            report.to_str().expect("utf-8").to_string(),
        );
        let run = tokio::task::spawn_blocking(move || {
            b24import(&[
                "run",
                &mapping,
                "--journal",
                &journal_s,
                "--webhook",
                &url,
                "--report",
                &report_s,
                "--rate",
                "200",
                "--burst",
                "50",
            ])
        })
        .await
        .expect("join");
        assert_eq!(
            run.status.code(),
            Some(want_exit),
            "stdout: {}\nstderr: {}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        let journal_s = journal.to_str().expect("utf-8");
        let status = b24import(&["status", "--journal", journal_s]);
        let status_json = b24import(&["status", "--json", "--journal", journal_s]);
        assert!(
            String::from_utf8_lossy(&status.stdout).contains(&format!("127.0.0.1:{port}/rest/1/***/")),
            "status still says which portal: {}",
            String::from_utf8_lossy(&status.stdout)
        );
        let mut files = journal_files(&journal);
        files.push(report.clone());
        if want_exit == 0 {
            assert!(report.exists(), "the report was written");
        }
        assert_nothing_leaks(&[&run, &status, &status_json], &files, &secrets);
    }
    assert_eq!(sandbox.snapshot().items.get("3"), Some(&5), "the success path imported every row");
    sandbox.stop().await;
}

#[test]
fn status_masks_the_arguments_a_journal_from_an_older_version_kept() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("old.sqlite");
    {
        let mut j = b24import::journal::Journal::open(&journal).expect("journal");
        let run = j
            .begin_run(
                "import",
                &format!(
                    "people.toml --webhook https://u:{PASSWORD}@portal.example/rest/1/{RIGHT_CODE}/?token={QUERY_TOKEN} --batch-size 50"
                ),
            )
            .expect("run");
        j.finish_run(run, "ok").expect("finish");
    }
    let journal_s = journal.to_str().expect("utf-8");
    let status = b24import(&["status", "--journal", journal_s]);
    let status_json = b24import(&["status", "--json", "--journal", journal_s]);
    assert_eq!(status.status.code(), Some(0), "{}", String::from_utf8_lossy(&status.stderr));
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("--webhook https://***@portal.example/rest/1/***/?token=*** --batch-size 50"),
        "{text}"
    );
    assert_nothing_leaks(&[&status, &status_json], &[], &[PASSWORD, RIGHT_CODE, QUERY_TOKEN]);
}

#[test]
fn a_malformed_portal_url_is_refused_without_showing_its_credentials() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = common::name_only_contacts(dir.path(), 0, 5, "test");
    let mapping = mapping.to_str().expect("utf-8");
    for url in [
        format!("http://user:{PASSWORD}@portal.example/rest/1/{RIGHT_CODE}/?token={QUERY_TOKEN}"),
        format!("ftp://user:{PASSWORD}@portal.example/rest/1/{RIGHT_CODE}/?token={QUERY_TOKEN}"),
        format!("user:{PASSWORD}@portal.example/rest/1/{RIGHT_CODE}/?token={QUERY_TOKEN}"),
        format!("https://portal.example/rest/x/{RIGHT_CODE}/?token={QUERY_TOKEN}"),
    ] {
        let out = b24import(&["run", mapping, "--webhook", &url]);
        assert_eq!(out.status.code(), Some(2), "{url}: {}", String::from_utf8_lossy(&out.stderr));
        assert_nothing_leaks(&[&out], &[], &[PASSWORD, RIGHT_CODE, QUERY_TOKEN]);
    }
    // The same through OAuth's --portal and --oauth-endpoint.
    let out = Command::new(env!("CARGO_BIN_EXE_b24import"))
        .args([
            "run",
            mapping,
            "--portal",
            &format!("http://u:{PASSWORD}@portal.example/rest/?auth={QUERY_TOKEN}"),
        ])
        .env_remove("B24_WEBHOOK_URL")
        .env("B24_ACCESS_TOKEN", "a")
        .env("B24_REFRESH_TOKEN", "r")
        .env("B24_CLIENT_ID", "c")
        .env("B24_CLIENT_SECRET", "s")
        .env("B24IMPORT_LOG", "debug")
        .output()
        .expect("the binary runs");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert_nothing_leaks(&[&out], &[], &[PASSWORD, QUERY_TOKEN]);
}

#[test]
fn sandbox_config_debug_shows_no_secret() {
    let c = SandboxConfig::fast();
    let dbg = format!("{c:?}");
    for secret in [&c.webhook.code, &c.oauth.access_token, &c.oauth.refresh_token, &c.oauth.client_secret] {
        assert!(!dbg.contains(secret.as_str()), "{dbg}");
    }
}

#[test]
fn a_webhook_without_its_user_id_is_masked_by_every_command_that_echoes_it() {
    // Regression (issue 16): `https://portal/rest/CODE/` (no user ID) was echoed whole by the
    // parse error of `--webhook` in run, provision and validate --online.
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = common::name_only_contacts(dir.path(), 0, 5, "test");
    let mapping = mapping.to_str().expect("utf-8");
    for url in [
        format!("https://portal.example/rest/{RIGHT_CODE}/"),
        format!("https://portal.example/rest/{RIGHT_CODE}"),
        format!("https://portal.example/rest/{RIGHT_CODE}/crm.item.add"),
    ] {
        for cmd in [
            vec!["run", mapping, "--webhook", &url],
            vec!["run", mapping, "--webhook", &url, "--dry-run"],
            vec!["provision", mapping, "--webhook", &url],
            vec!["validate", mapping, "--online", "--webhook", &url],
        ] {
            let out = b24import(&cmd);
            assert_eq!(out.status.code(), Some(2), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
            assert!(String::from_utf8_lossy(&out.stderr).contains("portal.example/rest/***"), "{cmd:?}");
            assert_nothing_leaks(&[&out], &[], &[RIGHT_CODE]);
        }
    }
}

#[test]
fn a_portal_error_that_echoes_the_webhook_url_is_masked() {
    // Regression (issue 16): the portal's (or a proxy's) error description was shown as it came,
    // with the request's URL and its webhook code in it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}/rest/1/{RIGHT_CODE}/", listener.local_addr().expect("addr"));
    let body = format!(
        "{{\"error\":\"INVALID_CREDENTIALS\",\"error_description\":\"Invalid request credentials for {base}batch\"}}"
    );
    std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut buf = [0u8; 65536];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = common::name_only_contacts(dir.path(), 0, 5, "test");
    let journal = dir.path().join("j.sqlite");
    let report = dir.path().join("report.json");
    let out = b24import(&[
        "run",
        mapping.to_str().expect("utf-8"),
        "--webhook",
        &base,
        "--journal",
        journal.to_str().expect("utf-8"),
        "--report",
        report.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Invalid request credentials for http://"));
    let mut files = journal_files(&journal);
    files.push(report);
    assert_nothing_leaks(&[&out], &files, &[RIGHT_CODE]);
}
