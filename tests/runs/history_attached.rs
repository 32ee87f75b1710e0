//! Timeline comments and activities (issue 19) through the binary: attached to the rows of
//! their parent steps, exactly once under seeded faults and SIGKILLs (a comment has no key on
//! the portal: it is found again by its text), a row whose parent is not done waits, and an
//! imported e-mail is never sent (added not completed, completed afterwards).

use crate::cli_support::{faulty, finish, kill_at, read};
use crate::common;

use std::path::{Path, PathBuf};

use b24import::journal::Journal;
use b24import::sandbox::{Sandbox, SandboxHandle};
use b24import::transport::Rate;
use serde_json::{Value, json};

const RATE: Rate = Rate { per_second: 400.0, burst: 100 };

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// A job of `n` contacts, `n` deals (imported, one per contact), 2 notes per deal and 3
/// activities per contact (a call, a meeting, a completed outgoing e-mail). The mappings, in
/// order.
pub(crate) fn job(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut contacts = String::from("Code,Name,Phone,Email\n");
    let mut deals = String::from("Deal,Title,Contact,Created\n");
    let mut notes = String::from("Note,Deal,Text,Author\n");
    let mut calls = String::from("Call,Contact,Kind,Subject,Start,End,Done,Direction,Owner,Notes\n");
    for i in 0..n {
        contacts.push_str(&format!("C{i},Person {i},+7 900 {i:07},p{i}@example.com\n"));
        deals.push_str(&format!("D{i},Deal {i},C{i},2021-01-01 {:02}:{:02}:00\n", (i / 60) % 24, i % 60));
        for k in 0..2 {
            notes.push_str(&format!(
                "N{i}-{k},D{i},\"Note {k} of deal {i}, with a comma\",admin@sandbox.local\n"
            ));
        }
        for (k, kind) in ["call", "meeting", "email"].iter().enumerate() {
            calls.push_str(&format!(
                "A{i}-{k},C{i},{kind},{kind} with {i},2021-02-01 10:00,2021-02-01 10:30,yes,out,admin@sandbox.local,n{i}\n"
            ));
        }
    }
    write(dir, "contacts.csv", &contacts);
    write(dir, "deals.csv", &deals);
    write(dir, "notes.csv", &notes);
    write(dir, "calls.csv", &calls);
    vec![
        write(
            dir,
            "contacts.toml",
            "name = \"contacts\"\n[source]\npath = \"contacts.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
             origin = \"att\"\n[fields]\nname = \"Name\"\n[[fm]]\ntype = \"PHONE\"\ncolumn = \"Phone\"\n\
             [[fm]]\ntype = \"EMAIL\"\ncolumn = \"Email\"\n",
        ),
        write(
            dir,
            "deals.toml",
            "name = \"deals\"\n[source]\npath = \"deals.csv\"\nkey = \"Deal\"\n[target]\nentity = \"deal\"\n\
             origin = \"att\"\nmethod = \"import\"\n[fields]\ntitle = \"Title\"\n\
             contactId = { column = \"Contact\", lookup = \"contacts\" }\n\
             createdTime = { column = \"Created\", type = \"datetime\", formats = [\"%Y-%m-%d %H:%M:%S\"] }\n",
        ),
        write(
            dir,
            "notes.toml",
            "name = \"deal_notes\"\n[source]\npath = \"notes.csv\"\nkey = \"Note\"\n[target]\nentity = \"comment\"\n\
             parent = { step = \"deals\", column = \"Deal\" }\n[fields]\nCOMMENT = { column = \"Text\", required = true }\n\
             AUTHOR_ID = { column = \"Author\", user = \"email\" }\n",
        ),
        write(
            dir,
            "calls.toml",
            "name = \"calls\"\n[source]\npath = \"calls.csv\"\nkey = \"Call\"\n[target]\nentity = \"activity\"\n\
             origin = \"att\"\nparent = { step = \"contacts\", column = \"Contact\" }\n[fields]\n\
             TYPE_ID = { column = \"Kind\", map = { call = \"2\", meeting = \"1\", email = \"4\" } }\n\
             SUBJECT = \"Subject\"\n\
             START_TIME = { column = \"Start\", type = \"datetime\", formats = [\"%Y-%m-%d %H:%M\"] }\n\
             END_TIME = { column = \"End\", type = \"datetime\", formats = [\"%Y-%m-%d %H:%M\"] }\n\
             COMPLETED = { column = \"Done\", type = \"bool\" }\n\
             DIRECTION = { column = \"Direction\", map = { in = \"1\", out = \"2\" } }\n\
             RESPONSIBLE_ID = { column = \"Owner\", user = \"email\" }\nDESCRIPTION = \"Notes\"\n",
        ),
    ]
}

fn args(mappings: &[PathBuf], journal: &Path, sandbox: &SandboxHandle) -> Vec<String> {
    let mut a: Vec<String> = vec!["run".into()];
    a.extend(mappings.iter().map(|m| m.display().to_string()));
    a.extend(["--journal".into(), journal.display().to_string(), "--batch-size".into(), "20".into()]);
    a.extend(["--webhook".into(), sandbox.webhook_url(), "--rate".into(), "400".into()]);
    a.extend(["--burst".into(), "100".into()]);
    a
}

/// Every activity b24import created (origin `att`), all pages.
async fn activities(sandbox: &SandboxHandle) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let page = read(
            sandbox,
            "crm.activity.list",
            json!({"filter": {"ORIGINATOR_ID": "att"}, "select": ["*", "COMMUNICATIONS"], "start": out.len()}),
        )
        .await;
        let page = page.as_array().cloned().unwrap_or_default();
        let done = page.len() < 50;
        out.extend(page);
        if done {
            return out;
        }
    }
}

/// The comments of deal `id`.
async fn comments_of(sandbox: &SandboxHandle, id: u64) -> Vec<Value> {
    let v = read(
        sandbox,
        "crm.timeline.comment.list",
        json!({"filter": {"ENTITY_ID": id, "ENTITY_TYPE": "deal"}}),
    )
    .await;
    v.as_array().cloned().unwrap_or_default()
}

/// Exactly the job's comments and activities, each on its parent, none twice, no e-mail sent.
async fn assert_history(sandbox: &SandboxHandle, n: usize, what: &str) {
    let state = sandbox.snapshot();
    assert_eq!(state.history.comments as usize, 2 * n, "{what}: comments {:?}", state.history);
    assert_eq!(state.history.activities as usize, 3 * n, "{what}: activities {:?}", state.history);
    assert_eq!(state.history.emails_sent, 0, "{what}: an imported e-mail was sent");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let deals = common::sandbox_items(sandbox, 2).await;
    assert_eq!(deals.len(), n, "{what}: deals");
    let contacts = common::sandbox_items(sandbox, 3).await;
    for d in deals.iter().take(5) {
        let i: usize = d["originId"].as_str().and_then(|k| k.strip_prefix('D')?.parse().ok()).expect("key");
        let mut texts: Vec<String> = comments_of(sandbox, d["id"].as_u64().expect("id"))
            .await
            .iter()
            .map(|c| c["COMMENT"].as_str().unwrap_or_default().to_string())
            .collect();
        texts.sort();
        assert_eq!(
            texts,
            [format!("Note 0 of deal {i}, with a comma"), format!("Note 1 of deal {i}, with a comma")],
            "{what}: D{i}"
        );
    }
    let list = activities(sandbox).await;
    assert_eq!(list.len(), 3 * n, "{what}: activities by origin");
    for a in &list {
        let key = a["ORIGIN_ID"].as_str().expect("ORIGIN_ID");
        let i: usize = key.strip_prefix('A').and_then(|k| k.split('-').next()?.parse().ok()).expect("key");
        let contact = contacts.iter().find(|c| c["originId"] == format!("C{i}")).expect("contact");
        assert_eq!(
            a["OWNER_ID"].as_str().and_then(|s| s.parse::<u64>().ok()),
            contact["id"].as_u64(),
            "{what}: {key}'s owner"
        );
        assert_eq!(a["COMPLETED"], "Y", "{what}: {key} completed");
        let comm = a["COMMUNICATIONS"][0]["VALUE"].as_str().unwrap_or_default().to_string();
        let want = if a["TYPE_ID"] == "4" { format!("p{i}@example.com") } else { format!("+7 900 {i:07}") };
        assert_eq!(comm.replace(' ', ""), want.replace(' ', ""), "{what}: {key}'s communication");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn comments_and_activities_land_on_their_parents_once_and_an_imported_email_is_never_sent() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let n = 30;
    let a = args(&job(dir.path(), n), &dir.path().join("j.sqlite"), &sandbox);
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_history(&sandbox, n, "first run").await;
    let before = sandbox.snapshot().requests.total;
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    let more = sandbox.snapshot().requests.total - before;
    assert!(more < 12, "a re-run made {more} requests: {out}");
    assert_history(&sandbox, n, "re-run").await;
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn comments_and_activities_killed_three_times_under_faults_land_exactly_once() {
    let sandbox = Sandbox::start(faulty(51, RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let n = 80;
    let journal = dir.path().join("j.sqlite");
    let a = args(&job(dir.path(), n), &journal, &sandbox);
    kill_at(&sandbox, &a, &[20, 45, 30]).await;
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_history(&sandbox, n, "after three kills under faults").await;
    let j = Journal::open_read_only(&journal).expect("journal");
    for s in j.steps().expect("steps") {
        let c = j.counts(s.id).expect("counts");
        assert_eq!(c.pending + c.sent + c.unknown + c.rejected, 0, "step {}: {c:?}", s.name);
    }
    assert!(sandbox.snapshot().faults.values().sum::<u64>() > 0, "no fault was injected");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_whose_parent_is_not_done_waits_and_lands_once_the_parent_does() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let n = 5;
    let mappings = job(dir.path(), n);
    // Deal D2's date cannot be read: the deal is rejected, its two notes wait.
    let deals = std::fs::read_to_string(dir.path().join("deals.csv")).expect("csv");
    let broken: String = deals
        .lines()
        .map(|l| if l.starts_with("D2,") { "D2,Deal 2,C2,not a date".to_string() } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("deals.csv"), broken + "\n").expect("csv");
    let journal = dir.path().join("j.sqlite");
    let a = args(&mappings, &journal, &sandbox);
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("is not imported yet") && out.contains("`D2`"), "the waiting rows are named: {out}");
    assert_eq!(sandbox.snapshot().history.comments as usize, 2 * n - 2);
    let j = Journal::open_read_only(&journal).expect("journal");
    let notes = j.steps().expect("steps").into_iter().find(|s| s.name == "deal_notes").expect("step");
    assert_eq!(j.counts(notes.id).expect("counts").pending, 2);
    drop(j);
    // The deal fixed (created after the others: the portal's order rule holds): the notes land.
    std::fs::write(dir.path().join("deals.csv"), deals.replace("2021-01-01 00:02:00", "2021-06-01 00:00:00"))
        .expect("csv");
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}");
    assert_history(&sandbox, n, "after the parent was fixed").await;
    sandbox.stop().await;
}
