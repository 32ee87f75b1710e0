//! `b24import run` through the real binary: the exit code and the summary tell the truth on a
//! re-run, output paths and `--batch-size` are checked before any request, and the advice given
//! for a changed source can never create rows twice.

use crate::cli_support;

use b24import::sandbox::Sandbox;
use cli_support::{b24, people, people_line, run, s, shown, spoil_two_rows};

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_with_rows_rejected_earlier_exits_1_and_counts_them_as_rejected() {
    // Regression (issue 8): a re-run printed "N skipped (done before)" and exited 0 while rows
    // were still missing from the portal.
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 10, "create");
    spoil_two_rows(dir.path());
    let journal = s(&dir.path().join("j.sqlite"));

    let first = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &[]).await;
    assert_eq!(first.status.code(), Some(1), "{}", shown(&first));
    assert_eq!(
        people_line(&first),
        "people       contact    10 read: 8 created, 0 updated, 0 existing, 2 rejected, 0 unknown, 0 skipped (done before)"
    );

    let adds = sandbox.request_counts().get("batch").copied().unwrap_or(0);
    let second = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &[]).await;
    assert_eq!(second.status.code(), Some(1), "rows are still rejected: {}", shown(&second));
    assert_eq!(
        people_line(&second),
        "people       contact    10 read: 0 created, 0 updated, 0 existing, 2 rejected (2 in earlier runs), \
         0 unknown, 8 skipped (done before)"
    );
    assert_eq!(sandbox.request_counts().get("batch").copied().unwrap_or(0), adds, "nothing was sent again");
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("b24import rejects --journal"), "{stdout}");

    // Fixed in the source: the rows are sent again, and the run is clean.
    cli_support::edit_csv(dir.path(), "+7 916 002 0002,77", "+7 916 002 0002,41");
    cli_support::edit_csv(dir.path(), "not-an-email", "p5@example.com");
    let third = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &[]).await;
    assert_eq!(third.status.code(), Some(0), "{}", shown(&third));
    assert!(
        people_line(&third).contains("2 created, 0 updated, 0 existing, 0 rejected, "),
        "{}",
        shown(&third)
    );
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_summary_counts_updated_rows_of_an_upsert() {
    // Regression (issue 8): the summary line had no `updated` count.
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 5, "upsert");
    let journal = s(&dir.path().join("j.sqlite"));
    let first = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &[]).await;
    assert_eq!(first.status.code(), Some(0), "{}", shown(&first));
    cli_support::edit_csv(dir.path(), "Name3,", "Renamed3,");
    let second = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &[]).await;
    assert_eq!(second.status.code(), Some(0), "{}", shown(&second));
    assert_eq!(
        people_line(&second),
        "people       contact    5 read: 0 created, 1 updated, 0 existing, 0 rejected, 0 unknown, 4 skipped (done before)"
    );
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_path_that_cannot_be_written_exits_2_before_any_request() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 3, "create");
    let journal = dir.path().join("j.sqlite");
    for report in [dir.path().join("no-such-dir").join("report.json"), dir.path().to_path_buf()] {
        let out =
            run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &s(&journal), &["--report", &s(&report)])
                .await;
        assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--report"), "{err}");
    }
    assert!(sandbox.request_counts().values().all(|n| *n == 0), "{:?}", sandbox.request_counts());
    assert!(!journal.exists(), "no journal was started");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_size_outside_1_to_50_is_a_usage_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 1, "create");
    for size in ["0", "51"] {
        let out = b24(
            dir.path(),
            vec![
                "run".into(),
                s(&mapping),
                "--webhook".into(),
                "http://127.0.0.1:9/rest/1/x/".into(),
                "--batch-size".into(),
                size.into(),
            ],
        )
        .await;
        assert_eq!(out.status.code(), Some(2), "--batch-size {size}: {}", shown(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--batch-size"), "{}", shown(&out));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn output_paths_of_validate_rejects_and_ids_are_checked_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 2, "create");
    let missing = s(&dir.path().join("missing").join("out.csv"));
    for flag in ["--rejects", "--emit"] {
        let out = b24(dir.path(), vec!["validate".into(), s(&mapping), flag.into(), missing.clone()]).await;
        assert_eq!(out.status.code(), Some(2), "validate {flag}: {}", shown(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(flag), "{}", shown(&out));
        assert!(out.stdout.is_empty(), "nothing was validated: {}", shown(&out));
    }
    for cmd in ["rejects", "ids"] {
        let out = b24(
            dir.path(),
            vec![
                cmd.into(),
                "--journal".into(),
                s(&dir.path().join("j.sqlite")),
                "--out".into(),
                missing.clone(),
            ],
        )
        .await;
        assert_eq!(out.status.code(), Some(2), "{cmd} --out: {}", shown(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("--out"), "{}", shown(&out));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_source_in_create_mode_suggests_upsert_never_a_new_journal() {
    // Regression (issue 8): the advice "start a new journal (--journal)" creates every row again.
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 4, "create");
    let journal = s(&dir.path().join("j.sqlite"));
    let first = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &[]).await;
    assert_eq!(first.status.code(), Some(0), "{}", shown(&first));
    cli_support::edit_csv(dir.path(), "Name1,", "Renamed1,");
    let second = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &[]).await;
    assert_eq!(second.status.code(), Some(0), "{}", shown(&second));
    let all = shown(&second);
    assert!(all.contains("changed since the journal recorded it"), "{all}");
    assert!(all.contains("set mode = \"upsert\""), "{all}");
    assert!(!all.contains("new journal (--journal)") && !all.contains("start a new journal"), "{all}");
    assert!(all.contains("1 row(s) changed in the source but were not updated"), "{all}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_composite_key_a_journal_holds_in_the_old_unescaped_form_is_not_created_again() {
    // Regression (issue 8): escaping `|` inside composite keys gave rows that an earlier
    // version journaled as `a|b|c` a new key, so a create-mode re-run created them twice.
    use b24import::journal::{Journal, StepSpec, Transition};
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("two.csv"), "Region,Code,Name\n\"a|b\",c,Old\nx,y,New\n").expect("csv");
    let mapping = dir.path().join("two.toml");
    std::fs::write(
        &mapping,
        "name = \"two\"\n[source]\npath = \"two.csv\"\nkey = [\"Region\", \"Code\"]\n[target]\n\
         entity = \"contact\"\norigin = \"test\"\n[fields]\nname = \"Name\"\n",
    )
    .expect("mapping");
    let journal = dir.path().join("j.sqlite");
    {
        // What an earlier version left: the first row done under the plain join.
        let mut j = Journal::open(&journal).expect("journal");
        j.begin_run("import", "two.toml").expect("run");
        let step = j
            .upsert_step(&StepSpec {
                name: "two",
                mapping_path: &mapping,
                entity: "contact",
                order: 0,
                source: &dir.path().join("two.csv").canonicalize().expect("source"),
                source_sha256: None,
            })
            .expect("step");
        j.apply(step, &[("a|b|c", Transition::Pending { row_ref: "two.csv:2", payload_hash: "old" })])
            .expect("pending");
        j.apply(step, &[("a|b|c", Transition::Sent)]).expect("sent");
        j.apply(step, &[("a|b|c", Transition::Done { id: 4242, existing: false })]).expect("done");
    }
    let out = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &s(&journal), &[]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("two ") && l.contains(" read: "))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no summary line\n{}", shown(&out)));
    assert!(line.contains("2 read: 1 created,"), "only the new row is created: {line}");
    assert!(line.contains("1 skipped (done before)"), "{line}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_the_portal_refused_on_its_budget_never_reports_100_percent_of_ideal() {
    // Regression (issue 16): with 48 OPERATION_TIME_LIMIT refusals the summary said "every
    // request fitted in the rate limit's burst" and "the rate limit binds, 100% of its ideal".
    let mut config = cli_support::sandbox_config();
    config.operating.budget_secs = 0.3;
    config.operating.window = std::time::Duration::from_secs(2);
    config.operating.buckets = 10;
    config.operating.cost_secs.insert("crm.item.add".into(), 0.01);
    let sandbox = Sandbox::start(config).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 100, "create");
    let journal = s(&dir.path().join("j.sqlite"));
    // The flags claim the whole window as budget: the portal's 0.3 s refuses what they allow.
    let extra = ["--operating-budget", "2", "--operating-window", "2", "--batch-size", "10"];
    let out = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &extra).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    // On a loaded machine a row can be refused by the budget more often than the resend limit
    // allows: it is then left pending (exit 1), by design. The summary is what this test is about.
    let gave_up = stdout.contains("refused by limits too often; left pending");
    assert!(out.status.code() == Some(0) || (gave_up && out.status.code() == Some(1)), "{}", shown(&out));
    assert!(!stdout.contains("(0 QUERY_LIMIT_EXCEEDED, 0 OPERATION_TIME_LIMIT)"), "refused: {stdout}");
    assert!(stdout.contains("the operating budget binds"), "{stdout}");
    assert!(!stdout.contains("100% of"), "{stdout}");
    sandbox.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operating_budget_above_its_window_is_a_usage_error() {
    // Regression (issue 16): `--operating-budget 900 --operating-window 600` was accepted.
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 1, "create");
    for cmd in ["run", "provision"] {
        let args =
            [cmd, &s(&mapping), "--webhook", "http://127.0.0.1:9/rest/1/abc/", "--operating-budget", "900"];
        let out = b24(dir.path(), args.iter().map(|a| a.to_string()).collect()).await;
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", shown(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--operating-budget 900 is above --operating-window 600"), "{cmd}: {err}");
    }
}
