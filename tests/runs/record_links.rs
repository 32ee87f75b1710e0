//! Several links in one cell (issue 20) through the binary: a deal's `contactIds` from a split
//! lookup carries every contact's portal ID, its `observers` every user found by e-mail; a key
//! that finds nothing rejects the row (`lookup_not_found` naming the key) and a re-run sends
//! nothing.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use b24import::journal::Journal;
use b24import::sandbox::{Sandbox, SandboxHandle};
use b24import::transport::Rate;
use serde_json::json;

const RATE: Rate = Rate { per_second: 400.0, burst: 100 };

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn job(dir: &Path) -> Vec<PathBuf> {
    write(dir, "contacts.csv", "Code,Name\nC0,Ann\nC1,Bob\nC2,Cid\n");
    write(
        dir,
        "deals.csv",
        "Deal,Title,Contacts,Watchers\nD0,Two,C0;C1,admin@sandbox.local;second@example.com\n\
         D1,One,C2,\nD2,Broken,C1; CX ,\nD3,None,,second@example.com\n",
    );
    vec![
        write(
            dir,
            "contacts.toml",
            "name = \"contacts\"\n[source]\npath = \"contacts.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
             origin = \"links\"\n[fields]\nname = \"Name\"\n",
        ),
        write(
            dir,
            "deals.toml",
            "name = \"deals\"\n[source]\npath = \"deals.csv\"\nkey = \"Deal\"\n[target]\nentity = \"deal\"\n\
             origin = \"links\"\n[fields]\ntitle = \"Title\"\n\
             contactIds = { column = \"Contacts\", lookup = \"contacts\", split = \";\" }\n\
             observers = { column = \"Watchers\", user = \"email\", split = \";\" }\n",
        ),
    ]
}

fn args(mappings: &[PathBuf], journal: &Path, sandbox: &SandboxHandle) -> Vec<String> {
    let mut a: Vec<String> = vec!["run".into()];
    a.extend(mappings.iter().map(|m| m.display().to_string()));
    a.extend(["--journal".into(), journal.display().to_string()]);
    a.extend(["--webhook".into(), sandbox.webhook_url(), "--rate".into(), "400".into()]);
    a
}

async fn finish(args: &[String]) -> (Option<i32>, String) {
    let args = args.to_vec();
    let out = tokio::task::spawn_blocking(move || {
        Process::new(env!("CARGO_BIN_EXE_b24import")).args(&args).output().expect("binary")
    })
    .await
    .expect("join");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_split_lookup_links_every_contact_and_a_missing_key_rejects_the_row_naming_it() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let second = common::call(
        &sandbox,
        "user.add",
        json!({"EMAIL": "second@example.com", "NAME": "Second", "UF_DEPARTMENT": [1]}),
    )
    .await
    .as_u64()
    .expect("user id");
    let dir = tempfile::tempdir().expect("dir");
    let journal = dir.path().join("j.sqlite");
    let a = args(&job(dir.path()), &journal, &sandbox);
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(1), "one row is rejected: {out}");
    let contacts = common::sandbox_items(&sandbox, 3).await;
    let id_of = |key: &str| {
        contacts.iter().find(|c| c["originId"] == key).and_then(|c| c["id"].as_u64()).expect("contact")
    };
    let deals = common::sandbox_items(&sandbox, 2).await;
    assert_eq!(deals.len(), 3, "D2 is rejected: {deals:?}");
    let deal = |key: &str| deals.iter().find(|d| d["originId"] == key).cloned().expect("deal");
    let ids = |v: &serde_json::Value| {
        let mut ids: Vec<u64> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_u64().or_else(|| x.as_str()?.parse().ok()))
            .collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(ids(&deal("D0")["contactIds"]), [id_of("C0"), id_of("C1")], "{}", deal("D0"));
    assert_eq!(ids(&deal("D0")["observers"]), [1, second]);
    assert_eq!(ids(&deal("D1")["contactIds"]), [id_of("C2")]);
    assert_eq!(ids(&deal("D3")["observers"]), [second]);
    let j = Journal::open_read_only(&journal).expect("journal");
    let step = j.steps().expect("steps").into_iter().find(|s| s.name == "deals").expect("step");
    let rejected = j.rejected_rows(step.id).expect("rejected");
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].error_code.as_deref(), Some("lookup_not_found"), "{rejected:?}");
    let text = rejected[0].error_text.clone().unwrap_or_default();
    assert!(text.contains("`CX`") && text.contains("`contacts`"), "the missing key is named: {text}");
    drop(j);
    let before = sandbox.snapshot().requests.total;
    let (code, out) = finish(&a).await;
    assert_eq!(code, Some(1), "{out}");
    let writes = sandbox.snapshot().requests.total - before;
    assert!(writes < 6, "a re-run made {writes} requests: {out}");
    assert_eq!(common::sandbox_items(&sandbox, 2).await.len(), 3);
    sandbox.stop().await;
}
