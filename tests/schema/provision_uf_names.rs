//! A custom field written `UF_CRM_X` or in camelCase is one field, through the real binary:
//! provision creates it once, a second provision finds it, and the run's values arrive
//! whichever way the mapping spells it (the portal drops a name spelled the other way than the
//! request's `useOriginalUfNames` asks, as the `crm.item.add` page says).

use crate::cli_support;

use std::path::{Path, PathBuf};

use crate::common::call;
use b24import::sandbox::{Sandbox, SandboxHandle};
use cli_support::{b24, s, shown};
use serde_json::{Value, json};

/// Contacts with `fields` (a TOML `[fields]` body) over `Code,Name,Tier,Note`.
fn contacts(dir: &Path, fields: &str) -> PathBuf {
    std::fs::write(dir.join("people.csv"), "Code,Name,Tier,Note\nP1,Ann,41,hello\nP2,Bob,43,world\n")
        .expect("csv");
    let mapping = dir.join("people.toml");
    std::fs::write(
        &mapping,
        format!(
            "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
             origin = \"test\"\n[fields]\nname = \"Name\"\n{fields}"
        ),
    )
    .expect("mapping");
    mapping
}

fn with_portal(command: &str, mapping: &Path, webhook: &str) -> Vec<String> {
    let mut args: Vec<String> =
        [command, &s(mapping), "--webhook", webhook, "--rate", "200", "--burst", "50"]
            .iter()
            .map(|x| x.to_string())
            .collect();
    if command == "run" {
        args.extend(["--journal".to_string(), "j.sqlite".to_string()]);
    }
    args
}

async fn contacts_field(sandbox: &SandboxHandle, name: &str) -> Vec<Value> {
    let got = call(sandbox, "crm.item.list", json!({"entityTypeId": 3, "select": ["*"]})).await;
    got["items"].as_array().map(|i| i.iter().map(|c| c[name].clone()).collect()).unwrap_or_default()
}

// Bug: `UF_CRM_1700000004` without use_original_uf_names was sent as written with
// useOriginalUfNames = N, and the portal dropped every value.
#[tokio::test(flavor = "multi_thread")]
async fn an_upper_case_custom_field_without_original_names_reaches_the_portal() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = contacts(dir.path(), "UF_CRM_1700000004 = \"Tier\"\n");
    let out = b24(dir.path(), with_portal("run", &mapping, &sandbox.webhook_url())).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let tiers = contacts_field(&sandbox, "ufCrm_1700000004").await;
    let tiers: Vec<String> = tiers.iter().map(|v| v.to_string().trim_matches('"').to_string()).collect();
    assert_eq!(tiers, ["41", "43"], "the values arrived");
    sandbox.stop().await;
}

// Bug: `ufCrm_NOTE` with `create` was created as UF_CRM_NOTE (camelCase `ufCrmNote` on the
// portal), never found under the name the mapping gave, and refused as "already exists" on every
// later provision.
#[tokio::test(flavor = "multi_thread")]
async fn a_camel_case_custom_field_with_create_is_created_once_and_then_found() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = contacts(
        dir.path(),
        "ufCrm_NOTE = { column = \"Note\", create = { type = \"string\", label = \"Note\" } }\n",
    );
    let webhook = sandbox.webhook_url();
    let out = b24(dir.path(), with_portal("provision", &mapping, &webhook)).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let again = b24(dir.path(), with_portal("provision", &mapping, &webhook)).await;
    assert_eq!(again.status.code(), Some(0), "{}", shown(&again));
    assert!(String::from_utf8_lossy(&again.stdout).contains("0 write request(s)"), "{}", shown(&again));
    assert_eq!(sandbox.request_counts().get("crm.contact.userfield.add"), Some(&1));
    let out = b24(dir.path(), with_portal("run", &mapping, &webhook)).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(contacts_field(&sandbox, "ufCrmNote").await, [json!("hello"), json!("world")]);
    sandbox.stop().await;
}

// Bug: a field name over the portal's 50 characters was only refused by the portal, after the
// run had started; one field written in two spellings was sent twice.
#[tokio::test(flavor = "multi_thread")]
async fn names_the_portal_cannot_hold_are_mapping_errors_before_any_request() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let long = format!("UF_CRM_{}", "A".repeat(44));
    let mapping = contacts(
        dir.path(),
        &format!(
            "{long} = {{ column = \"Note\", create = {{ type = \"string\", label = \"Long\" }} }}\n\
             UF_CRM_1700000004 = \"Tier\"\nufCrm_1700000004 = \"Tier\"\n"
        ),
    );
    let out = b24(dir.path(), with_portal("provision", &mapping, &sandbox.webhook_url())).await;
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("people.toml:10:1") && err.contains("at most 50 characters"), "{err}");
    assert!(
        err.contains("people.toml:12:1") && err.contains("is the custom field `UF_CRM_1700000004` again"),
        "{err}"
    );
    assert_eq!(sandbox.snapshot().requests.total, 0);
    let out = b24(dir.path(), vec!["validate".to_string(), s(&mapping)]).await;
    assert_eq!(out.status.code(), Some(2), "offline too: {}", shown(&out));
    sandbox.stop().await;
}
