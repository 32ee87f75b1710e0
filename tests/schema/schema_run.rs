//! Issue 10 in the run: labels are stored as the IDs the portal wants (resolved from the schema
//! read once), an unknown label rejects its row listing the portal's values, and the run refuses
//! to start when the portal lacks what a mapping declares.

use crate::common;

use std::path::{Path, PathBuf};

use b24import::journal::Journal;
use b24import::pipeline::{self, PlanRate, RunError, RunOptions};
use b24import::sandbox::Sandbox;
use b24import::transport::{Rate, Transport};
use serde_json::json;

const RATE: Rate = Rate { per_second: 200.0, burst: 50 };

fn options(mappings: Vec<PathBuf>, journal: &Path) -> RunOptions {
    RunOptions::new(mappings, journal.to_path_buf(), "test")
}

async fn run(opts: &RunOptions, transport: &Transport) -> Result<pipeline::RunReport, RunError> {
    pipeline::run(opts, transport, PlanRate { per_second: RATE.per_second, burst: RATE.burst }).await
}

/// Contacts whose Tier (a list custom field: Gold 41, Silver 43, Bronze 45, XML_IDs upper-case)
/// and Source (a status: `WEB` is "Website") are labels.
fn contacts(dir: &Path, rows: &[(&str, &str, &str)], tier_rule: &str) -> PathBuf {
    let mut csv = String::from("Code,Name,Tier,Source\n");
    for (code, tier, source) in rows {
        csv.push_str(&format!("{code},Name {code},{tier},{source}\n"));
    }
    std::fs::write(dir.join("people.csv"), csv).expect("csv");
    let mapping = dir.join("people.toml");
    std::fs::write(
        &mapping,
        format!(
            "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
             origin = \"test\"\n[fields]\nname = \"Name\"\nufCrm_1700000004 = {{ column = \"Tier\", type = \"enum\"{tier_rule} }}\n\
             sourceId = {{ column = \"Source\", type = \"enum\" }}\n"
        ),
    )
    .expect("mapping");
    mapping
}

#[tokio::test(flavor = "multi_thread")]
async fn labels_are_stored_as_the_ids_the_portal_wants() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let transport = common::webhook_transport(&sandbox, RATE);
    let dir = tempfile::tempdir().expect("temp dir");
    let rows = [
        ("P1", "gold", "Website"),
        ("P2", "  Silver ", "call"),
        ("P3", "BRONZE", "WEB"),
        ("P4", "45", "e-mail"),
    ];
    let mapping = contacts(dir.path(), &rows, "");
    let report = run(&options(vec![mapping], &dir.path().join("j.sqlite")), &transport).await.expect("runs");
    assert_eq!((report.steps[0].created, report.steps[0].rejected), (4, 0), "{report:?}");
    let mut items = common::sandbox_items(&sandbox, 3).await;
    items.sort_by_key(|i| i["originId"].as_str().map(str::to_string));
    let got: Vec<(serde_json::Value, serde_json::Value)> =
        items.iter().map(|i| (i["ufCrm_1700000004"].clone(), i["sourceId"].clone())).collect();
    assert_eq!(
        got,
        vec![
            (json!(41), json!("WEB")),
            (json!(43), json!("CALL")),
            (json!(45), json!("WEB")),
            (json!(45), json!("EMAIL"))
        ]
    );
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_label_rejects_its_row_with_the_portals_values() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let transport = common::webhook_transport(&sandbox, RATE);
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts(dir.path(), &[("P1", "Gold", "Website"), ("P2", "Platinum", "Website")], "");
    let journal = dir.path().join("j.sqlite");
    let report = run(&options(vec![mapping], &journal), &transport).await.expect("runs");
    assert_eq!((report.steps[0].created, report.steps[0].rejected), (1, 1), "{report:?}");
    let j = Journal::open(&journal).expect("journal");
    let step = j.steps().expect("steps")[0].id;
    let rejected = j.rejected_rows(step).expect("rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].key, "P2");
    assert_eq!(rejected[0].error_code.as_deref(), Some("unknown_label"));
    let text = rejected[0].error_text.clone().unwrap_or_default();
    assert!(
        text.contains("\"Platinum\" is not in the portal's list: \"Gold\", \"Silver\", \"Bronze\""),
        "{text}"
    );
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_refuses_to_start_when_a_list_value_under_add_missing_values_is_missing() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let transport = common::webhook_transport(&sandbox, RATE);
    let dir = tempfile::tempdir().expect("temp dir");
    let mapping = contacts(
        dir.path(),
        &[("P1", "Gold", "Website"), ("P2", "Platinum", "Website")],
        ", add_missing_values = true",
    );
    let err =
        run(&options(vec![mapping], &dir.path().join("j.sqlite")), &transport).await.expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, RunError::NotProvisioned(_)), "{text}");
    assert!(text.contains("field `ufCrm_1700000004`: the portal's list lacks \"Platinum\""), "{text}");
    assert!(text.contains("run `b24import provision`"), "{text}");
    assert!(common::sandbox_items(&sandbox, 3).await.is_empty());
    sandbox.stop().await;
}

fn projects(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("projects.csv"), "Code,Title,Stage\nX1,First,start\nX2,Second,Client\n")
        .expect("csv");
    let mapping = dir.join("projects.toml");
    std::fs::write(
        &mapping,
        "name = \"projects\"\n[source]\npath = \"projects.csv\"\nkey = \"Code\"\n[target]\nsmart_process = \"Projects\"\n\
         [fields]\ntitle = \"Title\"\nstageId = { column = \"Stage\", type = \"enum\" }\n",
    )
    .expect("mapping");
    mapping
}

#[tokio::test(flavor = "multi_thread")]
async fn run_refuses_to_start_when_the_smart_process_is_missing() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let transport = common::webhook_transport(&sandbox, RATE);
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("j.sqlite");
    let err = run(&options(vec![projects(dir.path())], &journal), &transport).await.expect_err("refused");
    let text = err.to_string();
    assert!(text.contains("the portal has no smart process titled \"Projects\""), "{text}");
    assert!(text.contains("nothing was written"), "{text}");
    assert!(!journal.exists(), "no journal is written before the portal is ready");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_smart_process_by_title_is_found_and_its_stage_labels_resolved() {
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let transport = common::webhook_transport(&sandbox, RATE);
    let created = transport
        .call(
            "crm.type.add",
            &json!({"fields": {"title": "Projects", "entityTypeId": 1036, "isStagesEnabled": "Y"}}),
        )
        .await
        .expect("type added");
    assert_eq!(created["type"]["entityTypeId"], json!(1036));
    let dir = tempfile::tempdir().expect("temp dir");
    let report = run(&options(vec![projects(dir.path())], &dir.path().join("j.sqlite")), &transport)
        .await
        .expect("runs");
    assert_eq!((report.steps[0].created, report.steps[0].rejected), (2, 0), "{report:?}");
    let mut stages: Vec<String> = common::sandbox_items(&sandbox, 1036)
        .await
        .iter()
        .map(|i| i["stageId"].as_str().unwrap_or_default().to_string())
        .collect();
    stages.sort();
    assert_eq!(stages.len(), 2);
    assert!(stages[0].ends_with(":CLIENT") && stages[1].ends_with(":NEW"), "{stages:?}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_portal_during_the_pre_flight_stops_the_run_as_a_portal_failure() {
    // A port nothing listens on: the schema read cannot connect.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    let mut tc = b24import::transport::TransportConfig::new(
        b24import::transport::Credentials::Webhook(
            b24import::transport::Webhook::parse(&format!("http://127.0.0.1:{port}/rest/1/abc/"))
                .expect("url"),
        ),
        b24import::transport::Plan::Standard,
    );
    tc.limiter.rate = RATE;
    tc.timeout = std::time::Duration::from_secs(2);
    let transport = Transport::new(tc).expect("transport");
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = dir.path().join("j.sqlite");
    let report = run(&options(vec![projects(dir.path())], &journal), &transport).await.expect("a report");
    assert!(report.stopped.is_some(), "{report:?}");
    assert!(!journal.exists());
}
