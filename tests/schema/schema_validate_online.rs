//! `validate --online`: reads the portal only, names every problem of the schema (exit 2,
//! including what `provision` would still do) and of the rows (exit 1, rows in `--rejects`).

use crate::cli_support;
use crate::common;

use std::path::Path;

use b24import::sandbox::Sandbox;
use b24import::transport::Rate;
use cli_support::{b24, shown};
use serde_json::json;

const RATE: Rate = Rate { per_second: 200.0, burst: 50 };

fn s(p: &Path) -> String {
    p.display().to_string()
}

async fn validate_online(dir: &Path, mapping: &Path, webhook: &str, extra: &[&str]) -> std::process::Output {
    let mut args: Vec<String> =
        ["validate", &s(mapping), "--online", "--webhook", webhook].iter().map(|x| x.to_string()).collect();
    args.extend(extra.iter().map(|x| x.to_string()));
    b24(dir, args).await
}

/// Contacts with a Tier label (a list custom field: Gold, Silver, Bronze) and an owner e-mail.
fn contacts(dir: &Path, rows: &[(&str, &str, &str)]) -> std::path::PathBuf {
    let mut csv = String::from("Code,Name,Tier,Owner\n");
    for (code, tier, owner) in rows {
        csv.push_str(&format!("{code},Name {code},{tier},{owner}\n"));
    }
    std::fs::write(dir.join("people.csv"), csv).expect("csv");
    let mapping = dir.join("people.toml");
    std::fs::write(
        &mapping,
        "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
         [fields]\nname = \"Name\"\nufCrm_1700000004 = { column = \"Tier\", type = \"enum\" }\n\
         assignedById = { column = \"Owner\", user = \"email\" }\n",
    )
    .expect("mapping");
    mapping
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ready_portal_and_good_rows_exit_0() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts(
        dir.path(),
        &[("P1", "gold", "admin@sandbox.local"), ("P2", "Silver", "ADMIN@sandbox.local")],
    );
    let out = validate_online(dir.path(), &mapping, &sandbox.webhook_url(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_labels_and_users_are_row_problems_with_exit_1_and_rejects() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let rows = [
        ("P1", "Gold", "admin@sandbox.local"),
        ("P2", "Platinum", "admin@sandbox.local"),
        ("P3", "Bronze", "nobody@example.com"),
    ];
    let mapping = contacts(dir.path(), &rows);
    let rejects = dir.path().join("rejects.csv");
    let out =
        validate_online(dir.path(), &mapping, &sandbox.webhook_url(), &["--rejects", &s(&rejects)]).await;
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let text = shown(&out);
    assert!(
        text.contains("\"Platinum\" is not in the portal's list: \"Gold\", \"Silver\", \"Bronze\""),
        "{text}"
    );
    assert!(text.contains("no portal user with e-mail nobody@example.com"), "{text}");
    let csv = std::fs::read_to_string(&rejects).expect("rejects");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[1].starts_with("P2,") && lines[1].contains("is not in the portal's list"), "{csv}");
    assert!(lines[2].starts_with("P3,") && lines[2].contains("no portal user"), "{csv}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pre_flight_names_each_problem_of_a_smart_process_step() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let transport = common::webhook_transport(&sandbox, RATE);
    transport
        .call(
            "crm.type.add",
            &json!({"fields": {"title": "Projects", "entityTypeId": 1040, "isStagesEnabled": "Y", "isSourceEnabled": "N"}}),
        )
        .await
        .expect("type added");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("p.csv"),
        "Code,Title,Stage,Source,Segment\nX1,One,Start,Website,Gold\nX2,Two,Launch,Call,Gold\n",
    )
    .expect("csv");
    let mapping = dir.path().join("p.toml");
    std::fs::write(
        &mapping,
        "name = \"projects\"\n[source]\npath = \"p.csv\"\nkey = \"Code\"\n[target]\nsmart_process = \"Projects\"\n\
         [target.provision]\nworkspace = \"Delivery\"\n[fields]\ntitle = \"Title\"\ntitel = \"Title\"\n\
         sourceId = { column = \"Source\", type = \"enum\" }\nstageId = { column = \"Stage\", type = \"enum\" }\n\
         UF_CRM_SEGMENT = { column = \"Segment\", type = \"enum\", create = { type = \"enumeration\", label = \"Segment\" }, add_missing_values = true }\n",
    )
    .expect("mapping");
    let out = validate_online(dir.path(), &mapping, &sandbox.webhook_url(), &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    let text = shown(&out);
    for expected in [
        "the portal has no digital workspace titled \"Delivery\"",
        "field `sourceId` is switched off by the smart-process flag isSourceEnabled",
        "field `titel` is not a field of this entity in the portal; the portal would drop it (did you mean `title`?)",
        "field `stageId`: the portal's list (pipeline",
        "lacks \"Launch\"; rows using them are rejected",
        // Named as the requests spell it (useOriginalUfNames = N: the portal's camelCase).
        "field `ufCrmSegment` does not exist; `b24import provision` creates it (enumeration \"Segment\")",
        "field `ufCrmSegment`: the portal's list lacks \"Gold\"; `b24import provision` adds them",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    // The missing smart process itself.
    let other = std::fs::read_to_string(&mapping).expect("mapping").replace("\"Projects\"", "\"Robots\"");
    std::fs::write(&mapping, other).expect("mapping");
    let out = validate_online(dir.path(), &mapping, &sandbox.webhook_url(), &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        shown(&out)
            .contains("the portal has no smart process titled \"Robots\"; `b24import provision` creates it"),
        "{}",
        shown(&out)
    );
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_exits_2_before_writing_when_the_portal_lacks_the_smart_process() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("p.csv"), "Code,Title\nX1,One\n").expect("csv");
    let mapping = dir.path().join("p.toml");
    std::fs::write(
        &mapping,
        "name = \"projects\"\n[source]\npath = \"p.csv\"\nkey = \"Code\"\n[target]\nsmart_process = \"Projects\"\n\
         [fields]\ntitle = \"Title\"\n",
    )
    .expect("mapping");
    let journal = dir.path().join("j.sqlite");
    let out = cli_support::run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &s(&journal), &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    let text = shown(&out);
    assert!(text.contains("step `projects`: the portal has no smart process titled \"Projects\""), "{text}");
    assert!(text.contains("run `b24import provision` with the same mappings first"), "{text}");
    assert!(!journal.exists());
    sandbox.stop().await;
}

/// Contacts keyed by code with an e-mail, checked against the portal's existing contacts.
fn contacts_with_emails(dir: &Path, rows: &[(&str, &str)], on_ambiguous: &str) -> std::path::PathBuf {
    let mut csv = String::from("Code,Name,Email\n");
    for (code, email) in rows {
        csv.push_str(&format!("{code},Name {code},{email}\n"));
    }
    std::fs::write(dir.join("dups.csv"), csv).expect("csv");
    let mapping = dir.join("dups.toml");
    std::fs::write(
        &mapping,
        format!(
            "name = \"dups\"\n[source]\npath = \"dups.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
             on_duplicate = \"skip\"\non_ambiguous = \"{on_ambiguous}\"\n[fields]\nname = \"Name\"\n\
             [[fm]]\ntype = \"EMAIL\"\ncolumn = \"Email\"\n"
        ),
    )
    .expect("mapping");
    mapping
}

/// Creates a contact holding `email`, as another client would.
async fn existing_contact(sandbox: &b24import::sandbox::SandboxHandle, email: &str) {
    let url = format!("{}crm.item.add", sandbox.webhook_url());
    let body = json!({"entityTypeId": 3, "fields": {"name": "Existing", "fm": [
        {"typeId": "EMAIL", "valueType": "WORK", "value": email}]}});
    let answer: serde_json::Value =
        reqwest::Client::new().post(url).json(&body).send().await.expect("send").json().await.expect("json");
    assert!(answer["result"]["item"]["id"].as_u64().is_some(), "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_matching_existing_items_are_counted_without_writing() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    existing_contact(&sandbox, "ann@example.com").await;
    let items_before = sandbox.snapshot().items.get("3").copied();
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping =
        contacts_with_emails(dir.path(), &[("C1", "ANN@example.com"), ("C2", "bob@example.com")], "reject");
    let out = validate_online(dir.path(), &mapping, &sandbox.webhook_url(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let text = shown(&out);
    assert!(text.contains("duplicate check: 2 row(s) checked"), "{text}");
    assert!(text.contains("matched existing items: 1 skipped, 0 merged, 0 updated, 0 ambiguous"), "{text}");
    assert_eq!(sandbox.snapshot().items.get("3").copied(), items_before, "validate wrote nothing");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rows_matching_several_existing_items_under_reject_exit_1() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    existing_contact(&sandbox, "ann@example.com").await;
    existing_contact(&sandbox, "ann@example.com").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts_with_emails(dir.path(), &[("C1", "ann@example.com")], "reject");
    let out = validate_online(dir.path(), &mapping, &sandbox.webhook_url(), &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(shown(&out).contains("1 ambiguous"), "{}", shown(&out));
    let mapping = contacts_with_emails(dir.path(), &[("C1", "ann@example.com")], "first");
    let out = validate_online(dir.path(), &mapping, &sandbox.webhook_url(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "on_ambiguous = \"first\" rejects nothing: {}", shown(&out));
    sandbox.stop().await;
}
