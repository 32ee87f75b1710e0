//! A refusal that every row would get — the portal's plan (its user limit, no smart processes),
//! an extranet user's webhook — stops the run with exit 3 and leaves the rows pending, instead
//! of rejecting them: a rejected row is not sent again while its source row is unchanged, so
//! the rows would be lost once the plan is changed. Through the binary, against the sandbox's
//! plan limits (`b24-sandbox`'s `plan.rs`: user-add.md's `user_count_exceeded`).

use crate::cli_support::{self, s, shown};

use b24import::journal::Journal;
use b24import::sandbox::Sandbox;

fn counts(journal: &std::path::Path, step: &str) -> b24import::journal::Counts {
    let j = Journal::open(journal).expect("journal");
    let s = j.steps().expect("steps").into_iter().find(|s| s.name == step).expect("step in journal");
    j.counts(s.id).expect("counts")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_user_limit_stops_the_run_and_the_rest_is_created_once_the_limit_is_raised() {
    let mut config = cli_support::sandbox_config();
    // The administrator and two more.
    config.plan.max_users = Some(3);
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut csv = String::from("Email,Name,Department\n");
    for i in 0..6 {
        csv.push_str(&format!("u{i}@example.com,User {i},1\n"));
    }
    std::fs::write(dir.path().join("users.csv"), csv).expect("csv");
    std::fs::write(
        dir.path().join("users.toml"),
        "name = \"users\"\n[source]\npath = \"users.csv\"\n[target]\nentity = \"user\"\n\
         [fields]\nEMAIL = \"Email\"\nNAME = \"Name\"\nUF_DEPARTMENT = \"Department\"\n",
    )
    .expect("mapping");
    let journal = s(&dir.path().join("j.sqlite"));
    let webhook = sandbox.webhook_url();
    let out = cli_support::run(dir.path(), "users.toml", &webhook, &journal, &["--batch-size", "2"]).await;
    assert_eq!(out.status.code(), Some(3), "{}", shown(&out));
    let text = shown(&out);
    assert!(text.contains("user_count_exceeded") && text.contains("plan"), "names the limit: {text}");
    let c = counts(&dir.path().join("j.sqlite"), "users");
    assert_eq!((c.done, c.rejected), (2, 0), "two created, none rejected: {c:?}");
    assert_eq!(sandbox.snapshot().users, 2);

    // The plan is changed: the next run creates the other four, and nothing twice.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = format!("{}/_sandbox/plan", sandbox.base_url());
    let resp = reqwest::Client::new().post(url).json(&serde_json::json!({})).send().await.expect("plan");
    assert!(resp.status().is_success());
    let out = cli_support::run(dir.path(), "users.toml", &webhook, &journal, &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(sandbox.snapshot().users, 6);
    assert_eq!(sandbox.snapshot().duplicates.users, 0);
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_extranet_users_webhook_stops_the_run_before_any_row_is_rejected() {
    let sandbox =
        Sandbox::start(cli_support::sandbox_config().with_extranet_webhook()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("temp dir");
    cli_support::people(dir.path(), 5, "create");
    let journal = s(&dir.path().join("j.sqlite"));
    let webhook = sandbox.extranet_webhook_url().expect("extranet webhook");
    let out = cli_support::run(dir.path(), "people.toml", &webhook, &journal, &[]).await;
    assert_eq!(out.status.code(), Some(3), "{}", shown(&out));
    assert!(shown(&out).contains("allowed_only_intranet_user"), "{}", shown(&out));
    assert!(!shown(&out).contains(webhook.split('/').nth(5).expect("code")), "no secret in the output");
    assert_eq!(sandbox.snapshot().items.values().sum::<u64>(), 0);
    sandbox.stop().await;
}
