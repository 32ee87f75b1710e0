//! A contact's `photo` is set when the contact is created and never sent in an update: a portal
//! refuses it in `crm.item.update` (tutorials/crm/how-to-edit-crm-objects/how-to-make-contact-edit-card.md),
//! so a nightly upsert whose photo changed updates the rest of the row instead of rejecting it.

use crate::common;

use b24import::sandbox::Sandbox;
use b24import::transport::Rate;

const RATE: Rate = Rate { per_second: 400.0, burst: 100 };

#[tokio::test]
async fn an_upsert_whose_photo_changed_updates_the_rest_and_rejects_nothing() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let t = common::webhook_transport(&sandbox, RATE);
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("a.jpg"), b"first photo").expect("file");
    std::fs::write(dir.path().join("b.jpg"), b"second photo").expect("file");
    let csv = dir.path().join("contacts.csv");
    std::fs::write(&csv, "Code,Name,Photo\nC1,Ann,a.jpg\nC2,Bob,a.jpg\n").expect("csv");
    let mapping = dir.path().join("contacts.toml");
    std::fs::write(
        &mapping,
        "name = \"contacts\"\n[source]\npath = \"contacts.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
         origin = \"photo-test\"\nmode = \"upsert\"\n[fields]\nname = \"Name\"\n\
         photo = { column = \"Photo\", type = \"file\", base_dir = \".\" }\n",
    )
    .expect("mapping");
    let journal = dir.path().join("j.sqlite");
    let first = common::run_in_process(std::slice::from_ref(&mapping), &journal, &t, RATE).await;
    assert_eq!((first.steps[0].created, first.steps[0].rejected_total()), (2, 0), "{first:?}");

    // C1: a new name and a new photo; C2: only a new photo.
    std::fs::write(&csv, "Code,Name,Photo\nC1,Anna,b.jpg\nC2,Bob,b.jpg\n").expect("csv");
    let updates_before = sandbox.request_counts().get("crm.item.update").copied().unwrap_or(0);
    let nightly = common::run_in_process(std::slice::from_ref(&mapping), &journal, &t, RATE).await;
    let step = &nightly.steps[0];
    assert_eq!(step.rejected_total(), 0, "a photo the portal cannot update rejects nothing: {step:?}");
    assert_eq!(step.updated, 1, "C1's name is updated; C2 has nothing an update may carry: {step:?}");
    let updates = sandbox.request_counts().get("crm.item.update").copied().unwrap_or(0) - updates_before;
    assert_eq!(updates, 1, "one update request, for C1");
    let item = common::call(
        &sandbox,
        "crm.item.list",
        serde_json::json!({"entityTypeId": 3, "filter": {"=originId": "C1"}, "select": ["name"]}),
    )
    .await;
    assert_eq!(item["items"][0]["name"], "Anna", "{item}");
}
