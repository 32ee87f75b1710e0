//! The journal seen from the command line: one run at a time (exit 4 naming the holder),
//! readers that work during a run and change nothing, files that are not journals refused by
//! every command and left untouched, and a step name that keeps its entity (exit 2).

use crate::common;

use std::path::Path;
use std::process::{Command as Process, Output};

use b24import::journal::Journal;
use b24import::sandbox::Sandbox;
use b24import::transport::Rate;

const RATE: Rate = Rate { per_second: 200.0, burst: 50 };

fn b24import(args: &[&str], cwd: &Path) -> Output {
    Process::new(env!("CARGO_BIN_EXE_b24import"))
        .args(args)
        .current_dir(cwd)
        .env_remove("B24_WEBHOOK_URL")
        .output()
        .expect("binary runs")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Every entry of `dir` (recursively) with its bytes, mode and modification time.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>, u32, std::time::SystemTime)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("dir") {
            let e = e.expect("entry");
            let meta = e.metadata().expect("meta");
            if meta.is_dir() {
                todo.push(e.path());
            }
            let bytes = if meta.is_file() { std::fs::read(e.path()).expect("read") } else { Vec::new() };
            out.push((
                e.path().display().to_string(),
                bytes,
                meta.permissions().mode(),
                meta.modified().expect("mtime"),
            ));
        }
    }
    out.sort();
    out
}

/// A tiny mapping and source (nothing is sent by the commands that use it here).
fn mapping(dir: &Path, name: &str, entity: &str, csv: &str) -> String {
    std::fs::write(dir.join(csv), "Code,Name\nA1,Alpha\nA2,Beta\n").expect("csv");
    let field = if entity == "company" { "title" } else { "name" };
    let path = dir.join(format!("{csv}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\n[source]\npath = \"{csv}\"\nkey = \"Code\"\n[target]\nentity = \"{entity}\"\n[fields]\n{field} = \"Name\"\n"
        ),
    )
    .expect("mapping");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_run_exits_4_naming_the_holder_while_readers_keep_working() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("j.sqlite");
    let j = journal.display().to_string();
    let m = mapping(dir.path(), "people", "contact", "people.csv");
    // This test process holds the journal as a run would.
    let held = Journal::open(&journal).expect("journal");
    let started = std::time::Instant::now();
    let out =
        b24import(&["run", &m, "--journal", &j, "--webhook", "http://127.0.0.1:9/rest/1/abc/"], dir.path());
    assert_eq!(out.status.code(), Some(4), "{}", text(&out));
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "refused at once");
    let msg = text(&out);
    assert!(msg.contains(&format!("pid {}", std::process::id())), "names the holder: {msg}");
    assert!(msg.contains("started") && msg.contains("in use by another b24import run"), "{msg}");
    // Readers need no lock.
    let out = b24import(&["status", "--journal", &j], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = b24import(&["ids", "--journal", &j, "--out", "ids.csv"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = b24import(&["rejects", "--journal", &j, "--out", "rejects.csv"], dir.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let (jj, h, cwd) = (j.clone(), sandbox.webhook_url(), dir.path().to_path_buf());
    let out = tokio::task::spawn_blocking(move || {
        b24import(&["run", &m, "--journal", &jj, "--dry-run", "--webhook", &h], &cwd)
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(0), "a dry run only reads: {}", text(&out));
    drop(held);
    sandbox.stop().await;
}

#[test]
fn status_rejects_and_ids_never_create_migrate_or_chmod_a_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("temp dir");
    let jdir = dir.path().join("journal");
    let journal = jdir.join("j.sqlite");
    let j = journal.display().to_string();
    drop(Journal::open(&journal).expect("journal"));
    std::fs::set_permissions(&journal, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let before = snapshot(&jdir);
    for cmd in [vec!["status", "--journal", &j], vec!["status", "--json", "--journal", &j]] {
        let out = b24import(&cmd, dir.path());
        assert_eq!(out.status.code(), Some(0), "{cmd:?}: {}", text(&out));
    }
    let out = b24import(&["ids", "--journal", &j, "--out", "../ids.csv"], &jdir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = b24import(&["rejects", "--journal", &j, "--out", "../rejects.csv"], &jdir);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(snapshot(&jdir), before, "the journal's directory is exactly as it was");

    // A missing journal is a journal error (4) and is not created, nor its directory.
    for cmd in ["status", "ids", "rejects"] {
        let mut args = vec![cmd, "--journal", "nowhere/j.sqlite"];
        if cmd != "status" {
            args.extend(["--out", "x.csv"]);
        }
        let out = b24import(&args, dir.path());
        assert_eq!(out.status.code(), Some(4), "{cmd}: {}", text(&out));
        assert!(text(&out).contains("no journal at nowhere/j.sqlite"), "{cmd}: {}", text(&out));
        assert!(!dir.path().join("nowhere").exists(), "{cmd} created something");
    }
}

#[test]
fn files_that_are_not_journals_are_refused_by_every_command_and_left_untouched() {
    let dir = tempfile::tempdir().expect("temp dir");
    let m = mapping(dir.path(), "people", "contact", "people.csv");
    let bad = dir.path().join("bad");
    std::fs::create_dir(&bad).expect("dir");
    {
        let conn = rusqlite::Connection::open(bad.join("other-app.sqlite")).expect("sqlite");
        conn.execute_batch(
            "PRAGMA application_id = 1234; CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');",
        )
        .expect("create");
    }
    std::fs::write(bad.join("empty.sqlite"), b"").expect("write");
    std::fs::write(bad.join("notes.sqlite"), b"this is a text file\n").expect("write");
    let before = snapshot(&bad);
    for name in ["other-app.sqlite", "empty.sqlite", "notes.sqlite"] {
        let j = bad.join(name).display().to_string();
        let webhook = "http://127.0.0.1:9/rest/1/abc/";
        let commands: Vec<Vec<&str>> = vec![
            vec!["run", &m, "--journal", &j, "--webhook", webhook],
            vec!["run", &m, "--journal", &j, "--webhook", webhook, "--dry-run"],
            vec!["status", "--journal", &j],
            vec!["ids", "--journal", &j, "--out", "ids.csv"],
            vec!["rejects", "--journal", &j, "--out", "rejects.csv"],
        ];
        for cmd in commands {
            let out = b24import(&cmd, dir.path());
            assert_eq!(out.status.code(), Some(4), "{name} {cmd:?}: {}", text(&out));
            assert!(text(&out).contains("is not a b24import journal"), "{name} {cmd:?}: {}", text(&out));
        }
    }
    assert_eq!(snapshot(&bad), before, "byte for byte, same mtime and mode, no lock file");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_step_name_reused_for_another_entity_is_refused_with_exit_2() {
    // Regression: a reused step name marked contacts "done" with company IDs.
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("j.sqlite").display().to_string();
    let companies = mapping(dir.path(), "partners", "company", "companies.csv");
    let contacts = mapping(dir.path(), "partners", "contact", "contacts.csv");
    let hook = sandbox.webhook_url();
    let cwd = dir.path().to_path_buf();
    let run = move |m: String| {
        let (j, h, cwd) = (journal.clone(), hook.clone(), cwd.clone());
        tokio::task::spawn_blocking(move || b24import(&["run", &m, "--journal", &j, "--webhook", &h], &cwd))
    };
    let first = run(companies).await.expect("join");
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let adds = sandbox.request_counts().get("crm.item.add").copied().unwrap_or(0);
    let second = run(contacts.clone()).await.expect("join");
    assert_eq!(second.status.code(), Some(2), "{}", text(&second));
    let msg = text(&second);
    assert!(msg.contains("step `partners`") && msg.contains("has it as a company step"), "{msg}");
    assert!(msg.contains("now imports contact") && msg.contains("another `name`"), "{msg}");
    assert_eq!(sandbox.request_counts().get("crm.item.add").copied().unwrap_or(0), adds, "nothing sent");
    assert_eq!(sandbox.snapshot().items.get("3").copied().unwrap_or(0), 0, "no contact created");
    // A dry run says the same.
    let dry = {
        let (j, h, cwd) = (
            dir.path().join("j.sqlite").display().to_string(),
            sandbox.webhook_url(),
            dir.path().to_path_buf(),
        );
        tokio::task::spawn_blocking(move || {
            b24import(&["run", &contacts, "--journal", &j, "--webhook", &h, "--dry-run"], &cwd)
        })
        .await
        .expect("join")
    };
    assert_eq!(dry.status.code(), Some(2), "{}", text(&dry));
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nightly_file_with_the_date_in_its_name_is_the_next_version_of_its_step() {
    // Regression (issue 16): `contacts-2026-12-06.csv` after `contacts-2026-12-05.csv` (the old
    // one kept) was refused as another source (exit 2); only another entity, origin or key is.
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let j = dir.path().join("j.sqlite").display().to_string();
    let hook = sandbox.webhook_url();
    let cwd = dir.path().to_path_buf();
    let run = |m: String| {
        let (j, h, cwd) = (j.clone(), hook.clone(), cwd.clone());
        tokio::task::spawn_blocking(move || b24import(&["run", &m, "--journal", &j, "--webhook", &h], &cwd))
    };
    let first = run(mapping(dir.path(), "people", "contact", "people-2026-12-05.csv")).await.expect("join");
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    let adds = sandbox.request_counts().get("crm.item.add").copied().unwrap_or(0);
    // Tonight's file: the same two rows and a new one; yesterday's is still there.
    let tonight = mapping(dir.path(), "people", "contact", "people-2026-12-06.csv");
    std::fs::write(dir.path().join("people-2026-12-06.csv"), "Code,Name\nA1,Alpha\nA2,Beta\nA3,Gamma\n")
        .expect("csv");
    let out = run(tonight.clone()).await.expect("join");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("source now")
            && shown.contains("people-2026-12-06.csv (was ")
            && shown.contains("people-2026-12-05.csv)"),
        "{shown}"
    );
    assert!(shown.contains("3 read: 1 created, 0 updated, 0 existing, 0 rejected"), "{shown}");
    assert_eq!(
        sandbox.request_counts().get("crm.item.add").copied().unwrap_or(0),
        adds + 1,
        "only the new row"
    );
    // Another key for the same name: refused before anything is sent.
    let rekeyed =
        std::fs::read_to_string(&tonight).expect("mapping").replace("key = \"Code\"", "key = \"Name\"");
    std::fs::write(&tonight, rekeyed).expect("mapping");
    let out = run(tonight).await.expect("join");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("key Code") && text(&out).contains("now says origin"), "{}", text(&out));
    sandbox.stop().await;
}

#[test]
fn a_symlink_or_another_spelling_of_a_held_journal_is_refused_with_exit_4() {
    // Regression (issue 16): the lock sat beside the name given, so a symlink or `dir/../j.sqlite`
    // let two runs write one journal (10 duplicates).
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(dir.path().join("sub")).expect("sub");
    let journal = dir.path().join("j.sqlite");
    let m = mapping(dir.path(), "people", "contact", "people.csv");
    let held = Journal::open(&journal).expect("journal");
    std::os::unix::fs::symlink(&journal, dir.path().join("link.sqlite")).expect("symlink");
    for other in ["link.sqlite", "sub/../j.sqlite"] {
        let out = b24import(
            &["run", &m, "--journal", other, "--webhook", "http://127.0.0.1:9/rest/1/abc/"],
            dir.path(),
        );
        assert_eq!(out.status.code(), Some(4), "{other}: {}", text(&out));
        assert!(text(&out).contains("in use by another b24import run"), "{other}: {}", text(&out));
    }
    drop(held);
}
