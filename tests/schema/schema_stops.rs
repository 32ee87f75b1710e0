//! What stops `provision`, `validate --online` and `run` on the schema, through the real
//! binary: a refused read no mapping needs is a note (not "the portal is not ready"), and
//! `run` stops before writing on every schema-level mistake `validate --online` stops on.

use crate::cli_support;

use std::path::{Path, PathBuf};

use b24import::sandbox::Sandbox;
use cli_support::{b24, s, shown};

/// Contacts whose Tier is the sandbox's list field `ufCrm_1700000004` (Gold, Silver, Bronze),
/// plus `extra` fields.
fn contacts(dir: &Path, tier: &str, extra: &str) -> PathBuf {
    std::fs::write(dir.join("people.csv"), "Code,Name,Tier\nP1,Ann,Gold\nP2,Bob,Silver\nP3,Cy,Gold\n")
        .expect("csv");
    let mapping = dir.join("people.toml");
    std::fs::write(
        &mapping,
        format!(
            "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
             origin = \"test\"\n[fields]\nufCrm_1700000004 = {tier}\n{extra}"
        ),
    )
    .expect("mapping");
    mapping
}

fn with_portal(command: &str, mapping: &Path, webhook: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        [command, &s(mapping), "--webhook", webhook, "--rate", "200", "--burst", "50"]
            .iter()
            .map(|x| x.to_string())
            .collect();
    args.extend(extra.iter().map(|x| x.to_string()));
    args
}

// Bug: a webhook that may not read the currency list got "the portal is not ready" (exit 1)
// from provision and exit 2 from validate --online, though no mapping uses a currency.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_read_no_mapping_needs_is_a_note_for_provision_and_validate() {
    let sandbox = Sandbox::start(cli_support::sandbox_config().without_rights(&["crm.currency.list"]))
        .await
        .expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = contacts(
        dir.path(),
        "{ column = \"Tier\", type = \"enum\", add_missing_values = true }",
        "name = \"Name\"\n",
    );
    let webhook = sandbox.webhook_url();
    let out = b24(dir.path(), with_portal("provision", &mapping, &webhook, &[])).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("could not read crm.currency.list"), "{stdout}");
    assert!(stdout.contains("the portal is ready for these mappings"), "{stdout}");
    let out = b24(dir.path(), with_portal("validate", &mapping, &webhook, &["--online"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(shown(&out).contains("note     could not read crm.currency.list"), "{}", shown(&out));
    sandbox.stop().await;
}

// Bug: a text field mapped as a list made validate --online stop (exit 2) while run passed
// its pre-flight and rejected every row one by one.
#[tokio::test(flavor = "multi_thread")]
async fn run_stops_before_writing_on_a_field_that_is_not_a_list_as_validate_online_does() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = contacts(dir.path(), "\"Tier\"", "name = { column = \"Name\", type = \"enum\" }\n");
    let webhook = sandbox.webhook_url();
    let out = b24(dir.path(), with_portal("validate", &mapping, &webhook, &["--online"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        shown(&out).contains("field `name` is a string field in the portal, not a list"),
        "{}",
        shown(&out)
    );
    let out = b24(dir.path(), with_portal("run", &mapping, &webhook, &["--journal", "j.sqlite"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        shown(&out).contains("field `name` is a string field in the portal, not a list"),
        "{}",
        shown(&out)
    );
    assert!(shown(&out).contains("nothing was written"), "{}", shown(&out));
    let counts = sandbox.request_counts();
    assert_eq!((counts.get("crm.item.add"), counts.get("crm.contact.add")), (None, None), "{counts:?}");
    sandbox.stop().await;
}

// Bug: a label the portal's list lacks, used on every row, printed the same problem once per
// row (as many lines as --max-problems allows) instead of once with a count.
#[tokio::test(flavor = "multi_thread")]
async fn a_row_error_repeated_on_every_row_for_one_schema_cause_is_one_line_with_a_count() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = contacts(dir.path(), "{ column = \"Tier\", type = \"enum\" }", "name = \"Name\"\n");
    let mut csv = String::from("Code,Name,Tier\n");
    for i in 0..30 {
        csv.push_str(&format!("P{i},N{i},Platinum\n"));
    }
    std::fs::write(dir.path().join("people.csv"), csv).expect("csv");
    let out = b24(dir.path(), with_portal("validate", &mapping, &sandbox.webhook_url(), &["--online"])).await;
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| l.trim_start().starts_with("people.csv:")).collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(lines[0].contains("(and 29 more row(s) with the same problem)"), "{stdout}");
    sandbox.stop().await;
}

// Bug: `entity_type_id = N` naming no smart process of the portal was stopped by
// validate --online (exit 2) but passed run's pre-flight, and every row was refused one by one.
#[tokio::test(flavor = "multi_thread")]
async fn run_stops_before_writing_on_an_entity_type_id_the_portal_lacks() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("p.csv"), "Code,Title\nX1,One\nX2,Two\n").expect("csv");
    let mapping = dir.path().join("p.toml");
    std::fs::write(
        &mapping,
        "name = \"projects\"\n[source]\npath = \"p.csv\"\nkey = \"Code\"\n[target]\nentity_type_id = 1040\n\
         [fields]\ntitle = \"Title\"\n",
    )
    .expect("mapping");
    let webhook = sandbox.webhook_url();
    let out = b24(dir.path(), with_portal("validate", &mapping, &webhook, &["--online"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    let out = b24(dir.path(), with_portal("run", &mapping, &webhook, &["--journal", "j.sqlite"])).await;
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(
        shown(&out).contains("entity_type_id 1040 is not a smart process of this portal"),
        "{}",
        shown(&out)
    );
    assert_eq!(sandbox.request_counts().get("crm.item.add"), None, "nothing was written");
    sandbox.stop().await;
}
