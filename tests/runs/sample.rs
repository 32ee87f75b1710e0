//! `run --sample` (issue 21) through the binary: the same rows on every try whatever the
//! journal, a later step takes only the rows whose lookups fall in the sample, the journal
//! remembers them, a later full run takes the rest, and an undo takes the sample back.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use b24import::journal::Journal;
use b24import::sandbox::Sandbox;
use b24import::transport::Rate;

use super::undo::{args, finish, items, job};

const RATE: Rate = Rate { per_second: 400.0, burst: 100 };

/// The keys `validate --sample 5 --emit` would take, per step (`companies`, `contacts`).
async fn emitted(mappings: &[std::path::PathBuf], dir: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut a: Vec<String> = vec!["validate".into()];
    a.extend(mappings.iter().map(|m| m.display().to_string()));
    let emit = dir.join("emit.jsonl");
    a.extend(["--sample".into(), "5".into(), "--emit".into(), emit.display().to_string()]);
    let (code, out, err) = finish(&a).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("5 of 30 row(s) would be taken"), "{out}");
    let (mut companies, mut contacts) = (BTreeSet::new(), BTreeSet::new());
    for line in std::fs::read_to_string(&emit).expect("emit").lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("json");
        let key = v["key"].as_str().expect("key").to_string();
        if v["params"]["entityTypeId"] == 4 {
            companies.insert(key)
        } else {
            contacts.insert(key)
        };
    }
    (companies, contacts)
}

fn sampled(journal: &Path, step: &str) -> u64 {
    let j = Journal::open_read_only(journal).expect("journal");
    let s = j.steps().expect("steps").into_iter().find(|s| s.name == step).expect("step");
    j.sampled_count(s.id).expect("sampled")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sample_is_the_same_consistent_slice_every_time_and_a_full_run_takes_the_rest() {
    // The test's own HTTP client needs the process's TLS provider, as the transport installs it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let m = job(dir.path(), 30, "");
    let journal = dir.path().join("j.sqlite");
    let (companies, contacts) = emitted(&m, dir.path()).await;
    assert_eq!(companies.len(), 5);
    // Contact P{i} looks up company K{i}: exactly the contacts of the sampled companies.
    let expected: BTreeSet<String> = companies.iter().map(|k| k.replacen('K', "P", 1)).collect();
    assert_eq!(contacts, expected, "the later step takes the rows whose lookups fall in the sample");

    let (code, out, err) =
        finish(&args("run", &m, &journal, &sandbox, &["--sample", "5", "--dry-run"])).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("5 would be sent"), "{out}");
    let (code, out, err) = finish(&args("run", &m, &journal, &sandbox, &["--sample", "5"])).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!((items(&sandbox, 4), items(&sandbox, 3)), (5, 5), "{out}");
    let list = common::sandbox_items(&sandbox, 4).await;
    let made: BTreeSet<String> =
        list.iter().filter_map(|c| c["originId"].as_str().map(str::to_string)).collect();
    assert_eq!(made, companies);
    let company_ids: BTreeSet<u64> = list.iter().filter_map(|c| c["id"].as_u64()).collect();
    for c in common::sandbox_items(&sandbox, 3).await {
        assert!(c["companyId"].as_u64().is_some_and(|id| company_ids.contains(&id)), "{c}");
    }
    assert_eq!((sampled(&journal, "companies"), sampled(&journal, "contacts")), (5, 5));
    // The same rows whatever the journal holds now.
    assert_eq!(emitted(&m, dir.path()).await, (companies, contacts));

    let (code, out, err) = finish(&args("run", &m, &journal, &sandbox, &[])).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!((items(&sandbox, 4), items(&sandbox, 3)), (30, 30), "{out}");
    assert_eq!(sandbox.snapshot().duplicates.items, 0);
    assert!(out.contains("5 skipped (done before)"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undo_after_a_sample_takes_it_back() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("dir");
    let m = job(dir.path(), 40, "");
    let journal = dir.path().join("j.sqlite");
    let (code, out, err) = finish(&args("run", &m, &journal, &sandbox, &["--sample", "10%"])).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!((items(&sandbox, 4), items(&sandbox, 3)), (4, 4), "{out}");
    // The full run (run 2) takes the rest; `undo --run 2` takes back only what it created.
    let (code, out, err) = finish(&args("run", &m, &journal, &sandbox, &[])).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!((items(&sandbox, 4), items(&sandbox, 3)), (40, 40), "{out}");
    let (code, out, err) = finish(&args("undo", &m, &journal, &sandbox, &["--dry-run"])).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("run 1: ") && out.contains("--sample 10%") && out.contains("run 2: "), "{out}");
    let (code, out, err) = finish(&args("undo", &m, &journal, &sandbox, &["--run", "2"])).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!((items(&sandbox, 4), items(&sandbox, 3)), (4, 4), "the sample stays: {out}");
    assert!(out.contains("36 deleted") && out.contains("4 left alone"), "{out}");
    let (code, _, err) = finish(&args("undo", &m, &journal, &sandbox, &["--run", "99"])).await;
    assert_eq!(code, Some(2), "an unknown run is a usage error: {err}");
    let (code, out, err) = finish(&args("undo", &m, &journal, &sandbox, &[])).await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert_eq!((items(&sandbox, 4), items(&sandbox, 3)), (0, 0), "{out}");
    assert!(out.contains("4 deleted"), "{out}");
}
