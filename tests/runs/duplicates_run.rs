//! Duplicate control against items the portal already holds (`on_duplicate`), end to end
//! against the in-process sandbox: items created beforehand by another client are skipped and
//! linked, merged, updated, or (several) rejected with their IDs; new rows are created; a
//! duplicate within the source follows its first row; a re-run sends nothing; a dry run counts.

use crate::common;

use std::path::{Path, PathBuf};

use b24import::journal::Journal;
use b24import::pipeline::RunReport;
use b24import::sandbox::{Sandbox, SandboxHandle};
use b24import::transport::{Rate, Transport};
use serde_json::{Value, json};

const RATE: Rate = Rate { per_second: 500.0, burst: 100 };

const PEOPLE: &str = "Code,Name,Last,Email,Phone\n\
    C1,Ann,Lee,Ann@X.ru,+7 916 000 00 01\n\
    C2,Bob,Ray,bob@x.ru,+7 916 000 00 02\n\
    C3,Cid,Sun,cid@x.ru,+7 916 000 00 03\n";

/// The portal, the importer's transport, and another client's transport.
async fn portal() -> (SandboxHandle, Transport, Transport) {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let importer = common::webhook_transport(&sandbox, RATE);
    let other = common::webhook_transport(&sandbox, RATE);
    (sandbox, importer, other)
}

/// A plain `crm.item.add` by another client; the new ID.
async fn add(other: &Transport, entity_type_id: u32, fields: Value) -> u64 {
    let r = other
        .call("crm.item.add", &json!({"entityTypeId": entity_type_id, "fields": fields}))
        .await
        .expect("added");
    r["item"]["id"].as_u64().expect("an ID")
}

fn email(v: &str) -> Value {
    json!({"typeId": "EMAIL", "valueType": "WORK", "value": v})
}

fn phone(v: &str) -> Value {
    json!({"typeId": "PHONE", "valueType": "WORK", "value": v})
}

/// Items a sales rep made by hand: Ann's e-mail (no last name), Bob's phone (with a last
/// name), and a lead with Cid's e-mail (another entity type: does not count).
async fn seed(other: &Transport) -> (u64, u64) {
    let ann = add(other, 3, json!({"name": "Old1", "fm": [email("ann@x.ru")]})).await;
    let bob = add(other, 3, json!({"name": "Old2", "lastName": "Kept", "fm": [phone("+79160000002")]})).await;
    add(other, 1, json!({"title": "a lead", "fm": [email("cid@x.ru")]})).await;
    (ann, bob)
}

async fn item(other: &Transport, entity_type_id: u32, id: u64) -> Value {
    other.call("crm.item.get", &json!({"entityTypeId": entity_type_id, "id": id})).await.expect("item")["item"]
        .clone()
}

/// The values of type `kind` an item holds.
fn fm_values(item: &Value, kind: &str) -> Vec<String> {
    item["fm"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["typeId"] == kind)
        .filter_map(|e| e["value"].as_str().map(str::to_string))
        .collect()
}

/// `people.csv` (`csv`) and its mapping with `target` lines added to [target] (also used by
/// `duplicates_portal_rule`).
pub(crate) fn people(dir: &Path, csv: &str, target: &str) -> PathBuf {
    std::fs::write(dir.join("people.csv"), csv).expect("csv");
    let mapping = dir.join("people.toml");
    std::fs::write(
        &mapping,
        format!(
            "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
             origin = \"test\"\n{target}\n[fields]\nname = \"Name\"\nlastName = \"Last\"\n\
             [[fm]]\ntype = \"EMAIL\"\ncolumn = \"Email\"\n[[fm]]\ntype = \"PHONE\"\ncolumn = \"Phone\"\n"
        ),
    )
    .expect("mapping");
    mapping
}

/// Deals D1..D3 linked to people C1..C3.
fn deals(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("deals.csv"), "Code,Title,Person\nD1,Deal1,C1\nD2,Deal2,C2\nD3,Deal3,C3\n")
        .expect("csv");
    let mapping = dir.join("deals.toml");
    std::fs::write(
        &mapping,
        "name = \"deals\"\n[source]\npath = \"deals.csv\"\nkey = \"Code\"\n[target]\nentity = \"deal\"\n\
         origin = \"test\"\n[fields]\ntitle = \"Title\"\ncontactId = { column = \"Person\", lookup = \"people\" }\n",
    )
    .expect("mapping");
    mapping
}

async fn run(mappings: &[PathBuf], journal: &Path, transport: &Transport) -> RunReport {
    common::run_in_process(mappings, journal, transport, RATE).await
}

fn sent(report: &RunReport) -> (u64, u64) {
    (report.steps.iter().map(|s| s.created).sum(), report.steps.iter().map(|s| s.updated).sum())
}

#[tokio::test]
async fn skip_creates_nothing_for_existing_items_and_later_deals_link_to_them() {
    let (sandbox, importer, other) = portal().await;
    let (ann, bob) = seed(&other).await;
    let dir = tempfile::tempdir().expect("dir");
    let steps = vec![people(dir.path(), PEOPLE, "on_duplicate = \"skip\""), deals(dir.path())];
    let journal = dir.path().join("j.sqlite");
    let report = run(&steps, &journal, &importer).await;
    let p = &report.steps[0];
    assert_eq!((p.created, p.existing, p.updated, p.rejected), (1, 2, 0, 0), "{p:?}");
    assert_eq!(p.duplicates.skipped, 2);
    assert!(p.duplicates.matches.iter().any(|l| l.contains("EMAIL ann@x.ru -> contact") && l.contains("C1")));
    let contacts = common::sandbox_items(&sandbox, 3).await;
    assert_eq!(contacts.len(), 3, "only Cid is new");
    assert_eq!(item(&other, 3, ann).await["name"], "Old1", "skip leaves the item as it is");
    let deal_contact = |title: &str, deals: &[Value]| {
        deals.iter().find(|d| d["title"] == title).map(|d| d["contactId"].clone()).unwrap_or_default()
    };
    let deals = common::sandbox_items(&sandbox, 2).await;
    assert_eq!(deal_contact("Deal1", &deals), json!(ann));
    assert_eq!(deal_contact("Deal2", &deals), json!(bob));
    let cid = deal_contact("Deal3", &deals);
    assert!(cid != json!(ann) && cid != json!(bob) && !cid.is_null(), "{cid}");

    let again = run(&steps, &journal, &importer).await;
    assert_eq!(sent(&again), (0, 0), "a re-run creates and updates nothing");
    assert_eq!(again.steps[0].duplicates.rows_checked, 0);
    assert_eq!(common::sandbox_items(&sandbox, 3).await.len(), 3);
    sandbox.stop().await;
}

#[tokio::test]
async fn merge_fills_only_the_fields_empty_in_the_portal_and_adds_missing_phones() {
    let (sandbox, importer, other) = portal().await;
    let (ann, bob) = seed(&other).await;
    let dir = tempfile::tempdir().expect("dir");
    let steps = vec![people(dir.path(), PEOPLE, "on_duplicate = \"merge\"")];
    let journal = dir.path().join("j.sqlite");
    let report = run(&steps, &journal, &importer).await;
    assert_eq!(sent(&report), (1, 2));
    assert_eq!(report.steps[0].duplicates.merged, 2);
    let a = item(&other, 3, ann).await;
    assert_eq!((a["name"].as_str(), a["lastName"].as_str()), (Some("Old1"), Some("Lee")));
    assert_eq!(fm_values(&a, "EMAIL").len(), 1, "the e-mail it has is not added again: {a}");
    assert_eq!(fm_values(&a, "PHONE").len(), 1, "the row's phone is added: {a}");
    let b = item(&other, 3, bob).await;
    assert_eq!((b["name"].as_str(), b["lastName"].as_str()), (Some("Old2"), Some("Kept")));
    assert_eq!(fm_values(&b, "EMAIL"), vec!["bob@x.ru".to_string()]);
    assert_eq!(common::sandbox_items(&sandbox, 3).await.len(), 3);

    let again = run(&steps, &journal, &importer).await;
    assert_eq!(sent(&again), (0, 0), "a re-run creates and updates nothing");
    sandbox.stop().await;
}

#[tokio::test]
async fn update_overwrites_every_mapped_field_and_only_adds_phones() {
    let (sandbox, importer, other) = portal().await;
    let (ann, bob) = seed(&other).await;
    let dir = tempfile::tempdir().expect("dir");
    let steps = vec![people(dir.path(), PEOPLE, "on_duplicate = \"update\"")];
    let journal = dir.path().join("j.sqlite");
    let report = run(&steps, &journal, &importer).await;
    assert_eq!(sent(&report), (1, 2));
    assert_eq!(report.steps[0].duplicates.updated, 2);
    let a = item(&other, 3, ann).await;
    assert_eq!((a["name"].as_str(), a["lastName"].as_str()), (Some("Ann"), Some("Lee")));
    assert_eq!(fm_values(&a, "EMAIL").len(), 1, "{a}");
    let b = item(&other, 3, bob).await;
    assert_eq!((b["name"].as_str(), b["lastName"].as_str()), (Some("Bob"), Some("Ray")));
    assert_eq!(fm_values(&b, "PHONE"), vec!["+79160000002".to_string()], "the phone it has is kept once");
    assert!(b.get("originId").is_none_or(|o| o.is_null() || o == ""), "an existing item keeps its key: {b}");

    let again = run(&steps, &journal, &importer).await;
    assert_eq!(sent(&again), (0, 0), "a re-run creates and updates nothing");
    assert_eq!(common::sandbox_items(&sandbox, 3).await.len(), 3);
    sandbox.stop().await;
}

#[tokio::test]
async fn several_matching_items_reject_the_row_naming_their_ids_and_values() {
    let (sandbox, importer, other) = portal().await;
    let (ann, _) = seed(&other).await;
    let ann2 = add(&other, 3, json!({"name": "Ann again", "fm": [email("ANN@x.ru")]})).await;
    let dir = tempfile::tempdir().expect("dir");
    let steps = vec![people(dir.path(), PEOPLE, "on_duplicate = \"skip\"\non_ambiguous = \"reject\"")];
    let journal = dir.path().join("j.sqlite");
    let report = run(&steps, &journal, &importer).await;
    let p = &report.steps[0];
    assert_eq!((p.created, p.existing, p.rejected), (1, 1, 1), "{p:?}");
    let j = Journal::open(&journal).expect("journal");
    let step = j.steps().expect("steps")[0].id;
    let rejected = j.rejected_rows(step).expect("rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].key, "C1");
    assert_eq!(rejected[0].error_code.as_deref(), Some("duplicate_ambiguous"));
    let text = rejected[0].error_text.clone().unwrap_or_default();
    assert!(text.contains(&format!("IDs {ann}, {ann2}")), "{text}");
    assert!(text.contains(&format!("EMAIL ann@x.ru -> contact {ann}, {ann2}")), "{text}");
    assert_eq!(common::sandbox_items(&sandbox, 3).await.len(), 4, "nothing created for C1");
    sandbox.stop().await;
}

#[tokio::test]
async fn on_ambiguous_first_uses_the_lowest_id() {
    let (sandbox, importer, other) = portal().await;
    let (ann, _) = seed(&other).await;
    add(&other, 3, json!({"name": "Ann again", "fm": [email("ann@x.ru")]})).await;
    let dir = tempfile::tempdir().expect("dir");
    let steps = vec![people(dir.path(), PEOPLE, "on_duplicate = \"skip\"\non_ambiguous = \"first\"")];
    let journal = dir.path().join("j.sqlite");
    let report = run(&steps, &journal, &importer).await;
    assert_eq!((report.steps[0].existing, report.steps[0].rejected), (2, 0));
    let j = Journal::open(&journal).expect("journal");
    let step = j.steps().expect("steps")[0].id;
    let ids = j.ids(step).expect("ids");
    assert!(ids.contains(&("C1".to_string(), ann)), "{ids:?}");
    sandbox.stop().await;
}

// With `skip` a later row follows the earlier row's item (nothing is written to it); with
// `merge` / `update` it is rejected as `duplicate_in_source` (`duplicates_portal_rule.rs`).
#[tokio::test]
async fn a_row_matching_a_row_created_earlier_in_the_run_follows_it() {
    let (sandbox, importer, _other) = portal().await;
    let dir = tempfile::tempdir().expect("dir");
    let csv = format!("{PEOPLE}C4,Cid2,Sun2,CID@x.ru,+7 916 000 00 04\n");
    let steps = vec![people(dir.path(), &csv, "on_duplicate = \"skip\""), deals(dir.path())];
    let journal = dir.path().join("j.sqlite");
    let report = run(&steps, &journal, &importer).await;
    let p = &report.steps[0];
    assert_eq!(p.created, 3, "{p:?}");
    assert_eq!(p.duplicates.in_source, 1);
    assert!(
        p.duplicates.matches.iter().any(|l| l.contains("(key C4)") && l.contains("row C3")),
        "{:?}",
        p.duplicates.matches
    );
    let j = Journal::open(&journal).expect("journal");
    let step = j.steps().expect("steps").into_iter().find(|s| s.name == "people").expect("people").id;
    let ids: std::collections::HashMap<String, u64> = j.ids(step).expect("ids").into_iter().collect();
    assert_eq!(ids.get("C4"), ids.get("C3"), "C4 is C3's contact");
    drop(j);
    let c3 = item(&_other, 3, ids["C3"]).await;
    assert_eq!(fm_values(&c3, "PHONE").len(), 1, "skip writes nothing to it: {c3}");
    assert_eq!(common::sandbox_items(&sandbox, 3).await.len(), 3);

    let again = run(&steps, &journal, &importer).await;
    assert_eq!(sent(&again), (0, 0), "a re-run creates and updates nothing");
    sandbox.stop().await;
}

#[tokio::test]
async fn a_dry_run_counts_the_rows_that_would_match_without_writing() {
    let (sandbox, importer, other) = portal().await;
    seed(&other).await;
    let dir = tempfile::tempdir().expect("dir");
    let steps = vec![people(dir.path(), PEOPLE, "on_duplicate = \"merge\"")];
    let opts = b24import::pipeline::RunOptions {
        dry_run: true,
        ..b24import::pipeline::RunOptions::new(steps, dir.path().join("j.sqlite"), "test")
    };
    let report = b24import::pipeline::run(
        &opts,
        &importer,
        b24import::pipeline::PlanRate { per_second: RATE.per_second, burst: RATE.burst },
    )
    .await
    .expect("dry run");
    let d = &report.steps[0].duplicates;
    assert_eq!((d.rows_checked, d.merged, d.skipped, d.ambiguous), (3, 2, 0, 0), "{d:?}");
    assert_eq!(sent(&report), (0, 0));
    assert_eq!(common::sandbox_items(&sandbox, 3).await.len(), 2, "nothing written");
    sandbox.stop().await;
}

#[tokio::test]
async fn without_on_duplicate_rows_are_created_as_before_and_nothing_is_checked() {
    let (sandbox, importer, other) = portal().await;
    seed(&other).await;
    let dir = tempfile::tempdir().expect("dir");
    let steps = vec![people(dir.path(), PEOPLE, "")];
    let report = run(&steps, &dir.path().join("j.sqlite"), &importer).await;
    assert_eq!(sent(&report), (3, 0));
    assert_eq!(report.steps[0].duplicates.check_requests, 0);
    assert_eq!(common::sandbox_items(&sandbox, 3).await.len(), 5);
    sandbox.stop().await;
}

#[tokio::test]
async fn in_upsert_rows_the_journal_knows_are_updated_as_before_and_only_new_rows_are_checked() {
    let (sandbox, importer, other) = portal().await;
    let (ann, bob) = seed(&other).await;
    let dir = tempfile::tempdir().expect("dir");
    let target = "mode = \"upsert\"\non_duplicate = \"skip\"";
    let cid_only = "Code,Name,Last,Email,Phone\nC3,Cid,Sun,cid@x.ru,+7 916 000 00 03\n";
    let journal = dir.path().join("j.sqlite");
    let first = run(&[people(dir.path(), cid_only, target)], &journal, &importer).await;
    assert_eq!(sent(&first), (1, 0));
    let changed = PEOPLE.replace("C3,Cid,", "C3,Cidney,");
    let second = run(&[people(dir.path(), &changed, target)], &journal, &importer).await;
    let p = &second.steps[0];
    assert_eq!((p.created, p.updated, p.existing), (0, 1, 2), "{p:?}");
    assert_eq!(p.duplicates.rows_checked, 2, "only C1 and C2 are new to the journal");
    let j = Journal::open(&journal).expect("journal");
    let step = j.steps().expect("steps")[0].id;
    let ids: std::collections::HashMap<String, u64> = j.ids(step).expect("ids").into_iter().collect();
    assert_eq!((ids.get("C1"), ids.get("C2")), (Some(&ann), Some(&bob)));
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_faults_every_row_ends_created_once_or_linked_to_its_existing_item() {
    for seed in [3, 17] {
        let dir = tempfile::tempdir().expect("dir");
        let mut config = common::sandbox_config(RATE);
        config.state_file = Some(dir.path().join("portal.sqlite"));
        // Another client creates 20 of the 60 contacts first, on a portal without faults.
        let clean = Sandbox::start(config.clone()).await.expect("sandbox");
        let other = common::webhook_transport(&clean, RATE);
        let mut existing = Vec::new();
        for i in 0..20 {
            existing.push(
                add(&other, 3, json!({"name": format!("Hand{i}"), "fm": [email(&format!("P{i}@x.ru"))]}))
                    .await,
            );
        }
        clean.stop().await;
        config.faults.seed = seed;
        config.faults.fail_500 = 0.1;
        config.faults.drop_after_commit = 0.1;
        config.faults.html_error = 0.05;
        let sandbox = Sandbox::start(config).await.expect("sandbox");
        let importer = common::webhook_transport(&sandbox, RATE);
        let mut csv = String::from("Code,Name,Last,Email,Phone\n");
        for i in 0..60 {
            csv.push_str(&format!("C{i},Name{i},Last{i},p{i}@x.ru,+7 916 100 {i:04}\n"));
        }
        let steps = vec![people(dir.path(), &csv, "on_duplicate = \"skip\"")];
        let journal = dir.path().join("j.sqlite");
        for _ in 0..6 {
            let report = run(&steps, &journal, &importer).await;
            if report.unfinished() == 0 && report.steps[0].rows_read == 60 {
                break;
            }
        }
        let state = sandbox.snapshot();
        assert!(state.faults.values().sum::<u64>() > 0, "faults were injected");
        assert_eq!(state.items.get("3"), Some(&60), "seed {seed}: 20 existing + 40 created");
        assert_eq!(state.duplicates.items, 0, "seed {seed}: {:?}", state.duplicates.details);
        let j = Journal::open(&journal).expect("journal");
        let step = j.steps().expect("steps")[0].id;
        let ids: std::collections::HashMap<String, u64> = j.ids(step).expect("ids").into_iter().collect();
        assert_eq!(ids.len(), 60, "seed {seed}: every row done");
        for (i, id) in existing.iter().enumerate() {
            assert_eq!(ids.get(&format!("C{i}")), Some(id), "seed {seed}: C{i} linked to its existing item");
        }
        drop(j);
        sandbox.stop().await;
    }
}
