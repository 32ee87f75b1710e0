//! `b24import provision` through the real binary against the in-process sandbox: a dry run
//! writes nothing, provision calls `crm.type.update`, `crm.automatedsolution.add` and
//! `crm.contact.userfield.update` with the shapes their pages document, a second provision
//! makes no write request, a smart process is created from nothing, refusals are named per
//! method (exit 1), and an unreachable portal exits 3.

use crate::cli_support;

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::call;
use b24import::sandbox::{Sandbox, SandboxHandle};
use cli_support::{b24, s, shown};
use serde_json::{Value, json};

/// Every write method provision may use.
const WRITES: &[&str] = &[
    "crm.type.add",
    "crm.type.update",
    "crm.automatedsolution.add",
    "crm.automatedsolution.update",
    "crm.contact.userfield.add",
    "crm.contact.userfield.update",
    "userfieldconfig.add",
    "userfieldconfig.update",
    "crm.status.add",
    "crm.category.add",
];

/// Write requests the sandbox served so far, per method.
fn writes(sandbox: &SandboxHandle) -> Vec<(String, u64)> {
    let counts = sandbox.request_counts();
    WRITES.iter().filter_map(|m| counts.get(*m).map(|n| (m.to_string(), *n))).collect()
}

/// A smart-process field as `userfieldconfig.get` shows it (`userfieldconfig.list` has no
/// `enum`).
async fn config_field(sandbox: &SandboxHandle, entity_id: &str, name: &str) -> Value {
    let fields =
        call(sandbox, "userfieldconfig.list", json!({"moduleId": "crm", "filter": {"entityId": entity_id}}))
            .await;
    let id = fields["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["fieldName"] == json!(name)))
        .map(|f| f["id"].clone())
        .unwrap_or_else(|| panic!("{name} exists: {fields}"));
    call(sandbox, "userfieldconfig.get", json!({"moduleId": "crm", "id": id})).await["field"].clone()
}

/// A list field's items as (id, value, xmlId).
fn enum_items(field: &Value) -> Vec<(String, String, String)> {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_string);
    field["enum"]
        .as_array()
        .map(|e| e.iter().map(|i| (text(&i["id"]), text(&i["value"]), text(&i["xmlId"]))).collect())
        .unwrap_or_default()
}

async fn provision(dir: &Path, mappings: &[&PathBuf], webhook: &str, extra: &[&str]) -> Output {
    let mut args = vec!["provision".to_string()];
    args.extend(mappings.iter().map(|m| s(m)));
    args.extend(["--webhook", webhook, "--rate", "200", "--burst", "50"].iter().map(|x| x.to_string()));
    args.extend(extra.iter().map(|x| x.to_string()));
    b24(dir, args).await
}

/// Contacts whose Tier (the sandbox's list field `ufCrm_1700000004`: Gold, Silver, Bronze) uses
/// one label the list lacks ("Platinum"), under add_missing_values.
fn contacts(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("people.csv"), "Code,Name,Tier\nP1,Ann,Gold\nP2,Bob,platinum\nP3,Cy,Platinum \n")
        .expect("csv");
    let mapping = dir.join("people.toml");
    std::fs::write(
        &mapping,
        "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
         origin = \"test\"\n[fields]\nname = \"Name\"\n\
         ufCrm_1700000004 = { column = \"Tier\", type = \"enum\", add_missing_values = true }\n",
    )
    .expect("mapping");
    mapping
}

/// Projects of the smart process "Projects" in the workspace "Delivery": stages and start/end
/// dates need two flags, `flags` asks for a third.
fn projects(dir: &Path, extra_fields: &str) -> PathBuf {
    std::fs::write(
        dir.join("projects.csv"),
        "Code,Title,Stage,Start,Priority\nX1,First,NEW,2026-01-02,High\n",
    )
    .expect("csv");
    let mapping = dir.join("projects.toml");
    std::fs::write(
        &mapping,
        format!(
            "name = \"projects\"\n[source]\npath = \"projects.csv\"\nkey = \"Code\"\n[target]\n\
             smart_process = \"Projects\"\n[target.provision]\nworkspace = \"Delivery\"\nflags = [\"isObserversEnabled\"]\n\
             [fields]\ntitle = \"Title\"\nstageId = \"Stage\"\nbegindate = {{ column = \"Start\", type = \"date\" }}\n{extra_fields}"
        ),
    )
    .expect("mapping");
    mapping
}

/// The sandbox with the smart process "Projects" (every flag off, no workspace): its type id.
async fn with_projects(sandbox: &SandboxHandle) -> u64 {
    let t = call(sandbox, "crm.type.add", json!({"fields": {"title": "Projects"}})).await;
    t["type"]["id"].as_u64().expect("type id")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_reads_and_writes_nothing() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    with_projects(&sandbox).await;
    let before = writes(&sandbox);
    let dir = tempfile::tempdir().expect("tempdir");
    let (people, projects) = (contacts(dir.path()), projects(dir.path(), ""));
    let out = provision(dir.path(), &[&people, &projects], &sandbox.webhook_url(), &["--dry-run"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(writes(&sandbox), before, "no write request: {}", shown(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("dry run: nothing is written to the portal"), "{stdout}");
    assert!(
        stdout.contains("field `UF_CRM_1700000004`: adds \"platinum\" to its list: would be done"),
        "{stdout}"
    );
    assert!(
        stdout.contains("digital workspace \"Delivery\" holding the smart process: would be done"),
        "{stdout}"
    );
    assert!(stdout.contains("0 write request(s)"), "{stdout}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn provision_switches_on_only_the_needed_flags_creates_the_workspace_and_adds_list_values_then_writes_nothing_again()
 {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let type_id = with_projects(&sandbox).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (people, projects) = (contacts(dir.path()), projects(dir.path(), ""));
    let out = provision(dir.path(), &[&people, &projects], &sandbox.webhook_url(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("the portal is ready for these mappings"), "{stdout}");
    let counts: std::collections::BTreeMap<String, u64> = writes(&sandbox).into_iter().collect();
    assert_eq!(counts.get("crm.type.update"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("crm.automatedsolution.add"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("crm.contact.userfield.update"), Some(&1), "{counts:?}");

    // crm.type.update: the needed flags on, every other flag as it was.
    let t = &call(&sandbox, "crm.type.get", json!({"id": type_id})).await["type"];
    for flag in ["isStagesEnabled", "isBeginCloseDatesEnabled", "isObserversEnabled"] {
        assert_eq!(t[flag], json!("Y"), "{flag}: {t}");
    }
    for flag in ["isClientEnabled", "isSourceEnabled", "isAutomationEnabled", "isDocumentsEnabled"] {
        assert_eq!(t[flag], json!("N"), "{flag}: {t}");
    }
    // crm.automatedsolution.add: the workspace holds the smart process.
    let ws = call(&sandbox, "crm.automatedsolution.list", json!({})).await;
    let ws = &ws["automatedSolutions"][0];
    assert_eq!((ws["title"].clone(), ws["typeIds"].clone()), (json!("Delivery"), json!([type_id])), "{ws}");
    // crm.contact.userfield.update: one new item with a stable XML_ID; the others untouched.
    let fields =
        call(&sandbox, "crm.contact.userfield.list", json!({"filter": {"FIELD_NAME": "UF_CRM_1700000004"}}))
            .await;
    let list = fields[0]["LIST"].as_array().expect("list").clone();
    let values: Vec<&str> = list.iter().filter_map(|i| i["VALUE"].as_str()).collect();
    assert_eq!(values, ["Gold", "Silver", "Bronze", "platinum"], "{list:?}");
    assert_eq!(list[3]["XML_ID"], json!(b24import::provision::plan::xml_id("Platinum")));
    assert_eq!(list[0]["ID"], json!("41"));

    // A second provision finds everything and makes no write request.
    let before = writes(&sandbox);
    let again = provision(dir.path(), &[&people, &projects], &sandbox.webhook_url(), &[]).await;
    assert_eq!(again.status.code(), Some(0), "{}", shown(&again));
    assert_eq!(writes(&sandbox), before, "{}", shown(&again));
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(stdout.contains("0 write request(s)"), "{stdout}");
    assert!(stdout.contains("exists    digital workspace \"Delivery\" holding it"), "{stdout}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_smart_process_is_created_with_its_flags_workspace_and_list_field() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    // The first smart process of an empty sandbox gets type id 1: its fields are UF_CRM_1_...
    let mapping = projects(
        dir.path(),
        "UF_CRM_1_PRIORITY = { column = \"Priority\", type = \"enum\", create = { type = \"enumeration\", label = \"Priority\" }, add_missing_values = true }\n",
    );
    let out = provision(dir.path(), &[&mapping], &sandbox.webhook_url(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let types = call(&sandbox, "crm.type.list", json!({})).await;
    let t = &types["types"][0];
    assert_eq!((t["title"].clone(), t["id"].clone()), (json!("Projects"), json!(1)), "{types}");
    assert_eq!(t["isStagesEnabled"], json!("Y"), "created with its flags: {t}");
    let ws = call(&sandbox, "crm.automatedsolution.list", json!({})).await;
    assert_eq!(ws["automatedSolutions"][0]["typeIds"], json!([1]), "{ws}");
    let field = config_field(&sandbox, "CRM_1", "UF_CRM_1_PRIORITY").await;
    assert_eq!(field["userTypeId"], json!("enumeration"), "{field}");
    assert_eq!(field["enum"][0]["value"], json!("High"), "{field}");
    assert_eq!(field["enum"][0]["xmlId"], json!(b24import::provision::plan::xml_id("High")));
    let before = writes(&sandbox);
    let again = provision(dir.path(), &[&mapping], &sandbox.webhook_url(), &[]).await;
    assert_eq!(again.status.code(), Some(0), "{}", shown(&again));
    assert_eq!(writes(&sandbox), before, "{}", shown(&again));
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_smart_process_is_added_to_an_existing_workspace_keeping_the_types_it_holds() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let other =
        call(&sandbox, "crm.type.add", json!({"fields": {"title": "Other"}})).await["type"]["id"].clone();
    call(&sandbox, "crm.automatedsolution.add", json!({"fields": {"title": "Delivery", "typeIds": [other]}}))
        .await;
    let type_id = with_projects(&sandbox).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = projects(dir.path(), "");
    let out = provision(dir.path(), &[&mapping], &sandbox.webhook_url(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let ws = call(&sandbox, "crm.automatedsolution.list", json!({})).await;
    assert_eq!(ws["automatedSolutions"][0]["typeIds"], json!([other, type_id]), "{ws}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_rights_are_reported_per_method_with_exit_1() {
    // A webhook whose user lacks the rights for the three writes this job needs (the smart
    // process itself is made by an administrator beforehand).
    const WRITES: [&str; 3] =
        ["crm.type.update", "crm.automatedsolution.add", "crm.contact.userfield.update"];
    let sandbox =
        Sandbox::start(cli_support::sandbox_config().without_rights(&WRITES)).await.expect("sandbox");
    with_projects(&sandbox).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (people, projects) = (contacts(dir.path()), projects(dir.path(), ""));
    let webhook = sandbox.webhook_url();
    let out = provision(dir.path(), &[&people, &projects], &webhook, &[]).await;
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for method in ["crm.type.update", "crm.automatedsolution.add", "crm.contact.userfield.update"] {
        assert!(stdout.contains(&format!("refused write: {method}: ")), "{method}: {stdout}");
    }
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_portal_exits_3_without_the_webhook_code() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = projects(dir.path(), "");
    let out =
        provision(dir.path(), &[&mapping], &format!("http://127.0.0.1:{port}/rest/1/secretcode/"), &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", shown(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gave up on the portal"), "{err}");
    assert!(!shown(&out).contains("secretcode"), "the webhook code leaked: {}", shown(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mapping_error_exits_2_before_any_request() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = projects(dir.path(), "nosuch = { column = \"Nope\" }\n");
    let out = provision(dir.path(), &[&mapping], &sandbox.webhook_url(), &[]).await;
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert_eq!(sandbox.snapshot().requests.total, 0);
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn after_provision_the_import_stores_ids_for_labels_and_the_fields_a_switched_off_flag_dropped() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let type_id = with_projects(&sandbox).await;
    let etid = call(&sandbox, "crm.type.get", json!({"id": type_id})).await["type"]["entityTypeId"].clone();
    let dir = tempfile::tempdir().expect("tempdir");
    let people = contacts(dir.path());
    std::fs::write(dir.path().join("projects.csv"), "Code,Title,Stage,Start\nX1,First,start,2026-01-02\n")
        .expect("csv");
    let projects = dir.path().join("projects.toml");
    std::fs::write(
        &projects,
        "name = \"projects\"\n[source]\npath = \"projects.csv\"\nkey = \"Code\"\n[target]\n\
         smart_process = \"Projects\"\n[target.provision]\nworkspace = \"Delivery\"\n[fields]\ntitle = \"Title\"\n\
         stageId = { column = \"Stage\", type = \"enum\" }\nbegindate = { column = \"Start\", type = \"date\" }\n",
    )
    .expect("mapping");
    // Before provision, the run refuses to start: the flags and the list value are missing.
    let args: Vec<String> = ["run", &s(&people), &s(&projects), "--webhook", &sandbox.webhook_url()]
        .iter()
        .map(|x| x.to_string())
        .chain(["--rate", "200", "--burst", "50"].iter().map(|x| x.to_string()))
        .collect();
    let refused = b24(dir.path(), args.clone()).await;
    assert_eq!(refused.status.code(), Some(2), "{}", shown(&refused));
    assert!(shown(&refused).contains("b24import provision"), "{}", shown(&refused));
    let out = provision(dir.path(), &[&people, &projects], &sandbox.webhook_url(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let out = b24(dir.path(), args).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    // The project keeps its stage and start date (dropped while their flags were off).
    let items = call(&sandbox, "crm.item.list", json!({"entityTypeId": etid, "select": ["*"]})).await;
    let item = &items["items"][0];
    assert!(item["stageId"].as_str().is_some_and(|s| s.ends_with(":NEW")), "{item}");
    assert!(item["begindate"].as_str().is_some_and(|d| d.starts_with("2026-01-02")), "{item}");
    // Contacts carry the list item IDs, "platinum" the one provision added.
    let fields =
        call(&sandbox, "crm.contact.userfield.list", json!({"filter": {"FIELD_NAME": "UF_CRM_1700000004"}}))
            .await;
    let list = fields[0]["LIST"].as_array().expect("list").clone();
    let id_of =
        |v: &str| list.iter().find(|i| i["VALUE"] == json!(v)).map(|i| i["ID"].clone()).expect("item");
    let contacts = call(&sandbox, "crm.item.list", json!({"entityTypeId": 3, "select": ["*"]})).await;
    let tiers: Vec<String> = contacts["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["ufCrm_1700000004"].to_string().trim_matches('"').to_string())
        .collect();
    let want: Vec<String> = [id_of("Gold"), id_of("platinum"), id_of("platinum")]
        .iter()
        .map(|v| v.to_string().trim_matches('"').to_string())
        .collect();
    assert_eq!(tiers, want, "{contacts}");
    sandbox.stop().await;
}

// Bug: adding a value to a smart-process list field sent the existing items as `{id}` alone,
// which userfieldconfig.update deletes: they came back with new IDs and XML_IDs.
#[tokio::test(flavor = "multi_thread")]
async fn missing_stages_and_smart_process_list_values_are_added_keeping_every_existing_item_then_nothing_again()
 {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let projects = |stages: &str, priorities: &str| {
        let mut csv = String::from("Code,Title,Stage,Priority\n");
        for (i, (stage, priority)) in stages.split(',').zip(priorities.split(',')).enumerate() {
            csv.push_str(&format!("X{i},Project {i},{stage},{priority}\n"));
        }
        std::fs::write(dir.path().join("projects.csv"), csv).expect("csv");
        let mapping = dir.path().join("projects.toml");
        std::fs::write(
            &mapping,
            "name = \"projects\"\n[source]\npath = \"projects.csv\"\nkey = \"Code\"\n[target]\n\
             smart_process = \"Projects\"\nuse_original_uf_names = true\n[fields]\ntitle = \"Title\"\n\
             stageId = { column = \"Stage\", type = \"enum\", add_missing_values = true }\n\
             UF_CRM_1_PRIORITY = { column = \"Priority\", type = \"enum\", create = { type = \"enumeration\", label = \"Priority\" }, add_missing_values = true }\n",
        )
        .expect("mapping");
        mapping
    };
    // First: the smart process, its field with High and Low, and the default stages.
    let mapping = projects("Start,Start", "High,Low");
    let out = provision(dir.path(), &[&mapping], &sandbox.webhook_url(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let before = writes(&sandbox).into_iter().collect::<std::collections::BTreeMap<_, _>>();
    let first = enum_items(&config_field(&sandbox, "CRM_1", "UF_CRM_1_PRIORITY").await);
    assert_eq!(first.len(), 2, "{first:?}");
    // Then the source gains a stage and a priority the portal lacks.
    let mapping = projects("Start,Review", "High,Urgent");
    let out = provision(dir.path(), &[&mapping], &sandbox.webhook_url(), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let after = writes(&sandbox).into_iter().collect::<std::collections::BTreeMap<_, _>>();
    let added = |m: &str| after.get(m).copied().unwrap_or(0) - before.get(m).copied().unwrap_or(0);
    assert_eq!(added("crm.status.add"), 1, "{}", shown(&out));
    assert_eq!(added("userfieldconfig.update"), 1, "{}", shown(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("the portal is ready"), "{}", shown(&out));
    // The list keeps High and Low with their IDs and XML_IDs and gains Urgent; the stage
    // "Review" exists.
    let after = enum_items(&config_field(&sandbox, "CRM_1", "UF_CRM_1_PRIORITY").await);
    let values: Vec<&str> = after.iter().map(|(_, v, _)| v.as_str()).collect();
    assert_eq!(values, ["High", "Low", "Urgent"], "{after:?}");
    assert_eq!(after[..2], first[..], "the existing items keep their IDs and XML_IDs");
    let etid = call(&sandbox, "crm.type.get", json!({"id": 1})).await["type"]["entityTypeId"].clone();
    let categories = call(&sandbox, "crm.category.list", json!({"entityTypeId": etid})).await;
    let category = categories["categories"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["isDefault"] == json!("Y") || c["isDefault"] == json!(true)))
        .map(|c| c["id"].clone())
        .unwrap_or_else(|| panic!("a default pipeline: {categories}"));
    let entity_id = format!("DYNAMIC_{etid}_STAGE_{category}");
    let stages = call(&sandbox, "crm.status.list", json!({"filter": {"ENTITY_ID": entity_id}})).await;
    let names: Vec<&str> =
        stages.as_array().expect("stages").iter().filter_map(|s| s["NAME"].as_str()).collect();
    assert!(names.contains(&"Review") && names.contains(&"Start"), "the stage Review was added: {names:?}");
    // Issue 18: an unsent SORT is 10 on a portal (crm.status.add's page), which put Review
    // first in its pipeline; it goes after the last in-progress stage, before the success one.
    let sort_of = |name: &str| {
        let row = stages.as_array().and_then(|s| s.iter().find(|s| s["NAME"] == name)).expect("a stage");
        row["SORT"].as_str().and_then(|s| s.parse::<i64>().ok()).expect("SORT")
    };
    let success = stages
        .as_array()
        .and_then(|s| s.iter().find(|s| s["SEMANTICS"] == "S"))
        .and_then(|s| s["SORT"].as_str())
        .and_then(|s| s.parse::<i64>().ok())
        .expect("a success stage");
    let in_progress = stages
        .as_array()
        .expect("stages")
        .iter()
        .filter(|s| s["SEMANTICS"].is_null() && s["NAME"] != "Review")
        .filter_map(|s| s["SORT"].as_str().and_then(|v| v.parse::<i64>().ok()))
        .max()
        .expect("in-progress stages");
    assert!(in_progress < sort_of("Review") && sort_of("Review") < success, "{stages}");
    // A third provision has nothing to do.
    let settled = writes(&sandbox);
    let again = provision(dir.path(), &[&mapping], &sandbox.webhook_url(), &[]).await;
    assert_eq!(again.status.code(), Some(0), "{}", shown(&again));
    assert_eq!(writes(&sandbox), settled, "{}", shown(&again));
    sandbox.stop().await;
}
