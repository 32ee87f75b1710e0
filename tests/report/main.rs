//! The HTML report (issue 22) through the real binary: `run --report FILE.html`,
//! `b24import report` (from the journal alone) and `validate --report FILE.html`. The page holds
//! every step and every reason, loads nothing from anywhere (no `http(s)://` resource, no script),
//! never shows the webhook's secret, stays small for 200,000 invalid rows, and renders in headless
//! Chromium where one is installed (skipped with a message where it is not).
#![cfg(feature = "sandbox")] // runs against the embedded sandbox portal

#[path = "../cli_support/mod.rs"]
mod cli_support;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use b24import::journal::Journal;
use b24import::sandbox::Sandbox;
use cli_support::{b24, people, run, s, shown, spoil_two_rows};

/// What no page may hold: a network resource (in any tag or the style sheet), a script, a
/// style or font fetched from elsewhere. A URL in the text (the command line's webhook) is
/// only ever the masked one: see the secret checks.
fn assert_self_contained(html: &str) {
    let lower = html.to_ascii_lowercase();
    for banned in ["<script", "<link", "<iframe", "<img", "<object", "@import", "url(", "src=", "href="] {
        assert!(!lower.contains(banned), "the page holds {banned:?}");
    }
    let style = &lower[lower.find("<style>").expect("a style")..lower.find("</style>").expect("style ends")];
    let mut markup: Vec<&str> = lower.split('<').skip(1).map(|t| t.split('>').next().unwrap_or(t)).collect();
    markup.push(style);
    for part in markup {
        for scheme in ["http://", "https://", "//cdn"] {
            assert!(!part.contains(scheme), "a network resource in {part:?}");
        }
    }
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..80.min(html.len())]);
    assert!(
        html.contains("prefers-color-scheme:dark") && html.contains("@page{size:A4"),
        "both schemes and A4"
    );
}

/// The sections in the order the issue lists them.
fn assert_in_order(html: &str, sections: &[&str]) {
    let mut at = 0;
    for s in sections {
        let found = html[at..].find(s).unwrap_or_else(|| panic!("{s:?} missing or out of order"));
        at += found + s.len();
    }
}

/// Every reason code of every rejected row of `journal`, per step.
fn rejected_codes(journal: &Path) -> Vec<(String, String)> {
    let j = Journal::open_read_only(journal).expect("journal");
    let mut out = Vec::new();
    for step in j.steps().expect("steps") {
        j.each_rejected(step.id, |r| {
            if !out.contains(&(step.name.clone(), r.code.clone())) {
                out.push((step.name.clone(), r.code));
            }
        })
        .expect("rows");
    }
    out
}

/// The webhook's secret code (`http://host/rest/1/CODE/`).
fn secret_of(webhook: &str) -> String {
    webhook.trim_end_matches('/').rsplit('/').next().expect("code").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn run_report_html_holds_every_step_and_reason_and_no_resource_or_secret() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 30, "create");
    spoil_two_rows(dir.path());
    let journal = dir.path().join("j.sqlite");
    let page = dir.path().join("run.html");
    let webhook = sandbox.webhook_url();
    let out = run(dir.path(), &s(&mapping), &webhook, &s(&journal), &["--report", &s(&page)]).await;
    assert_eq!(out.status.code(), Some(1), "two rows are rejected: {}", shown(&out));
    let html = std::fs::read_to_string(&page).expect("the page is written");

    assert_self_contained(&html);
    let secret = secret_of(&webhook);
    assert!(secret.len() >= 8, "{webhook}");
    assert!(!html.contains(&secret), "the webhook's code is on the page");
    let masked = webhook.replace(&secret, "***");
    assert!(
        html.contains(&format!("--webhook {masked}")),
        "the command line with the masked webhook: {html}"
    );
    assert_in_order(
        &html,
        &["Per step", "The run over time", "Rejected rows by reason", "Settings", "What a re-run would do"],
    );
    // Per step: every outcome as a number, and the bar.
    for outcome in ["read", "created", "updated", "existing", "rejected", "unknown", "skipped"] {
        assert!(html.contains(&format!(">{outcome}</th>")), "no {outcome} column");
    }
    assert!(
        html.contains("<td>people</td><td>contact</td><td class=\"n\">30</td><td class=\"n\">28</td>"),
        "{html}"
    );
    assert!(html.contains("class=\"bar\""));
    // The chart (sampled ten times a second at first), with the ideal line of the binding wall.
    assert!(
        html.contains("<svg") && html.contains("items per second") && html.contains("ideal pace"),
        "{html}"
    );
    assert!(html.contains("the rate limit binds") || html.contains("the operating budget binds"));
    for panel in ["requests in flight", "limit refusals", "operating time in use"] {
        assert!(html.contains(panel), "no {panel} panel");
    }
    // Every reason, with its rows (file and line, key, column, value) and what to do.
    let codes = rejected_codes(&journal);
    assert_eq!(codes.len(), 2, "{codes:?}");
    for (step, code) in &codes {
        assert!(
            html.contains(&format!("{step}: <span class=\"code\">{code}</span>")),
            "no group {step}/{code}"
        );
    }
    assert!(
        html.contains("<td>people.csv:7</td><td>P00005</td><td>Email</td><td>not-an-email</td>"),
        "{html}"
    );
    assert_eq!(html.matches("What to do: </b>").count(), 2);
    // Settings: the plan, the rate, the batch size, the mapping and the source's fingerprint.
    for setting in ["plan", "rate", "batch size", "requests in flight", "operating budget", "command line"] {
        assert!(html.contains(&format!("<td>{setting}</td>")), "no {setting} setting");
    }
    let sha = b24import::journal::Fingerprint::of_file(&dir.path().join("people.csv")).expect("fingerprint");
    assert!(html.contains(&sha.sha256), "the source's SHA-256");
    assert!(html.contains("people.toml"));

    // `b24import report` renders the same run from the journal alone, without the portal.
    sandbox.stop().await;
    let again = dir.path().join("again.html");
    let out = b24(dir.path(), args(&["report", "--journal", &s(&journal), "--out", &s(&again)])).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(std::fs::read_to_string(&again).expect("page"), html, "the same page from the journal");
    let by_id = dir.path().join("run1.html");
    let out =
        b24(dir.path(), args(&["report", "--journal", &s(&journal), "--run", "1", "--out", &s(&by_id)]))
            .await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert_eq!(std::fs::read_to_string(&by_id).expect("page"), html);

    let out =
        b24(dir.path(), args(&["report", "--journal", &s(&journal), "--run", "7", "--out", &s(&by_id)]))
            .await;
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run 7; its runs: 1"), "{}", shown(&out));
    let out = b24(dir.path(), args(&["report", "--journal", &s(&journal), "--out", "page.json"])).await;
    assert_eq!(out.status.code(), Some(2), "the report command writes HTML only: {}", shown(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_of_an_earlier_run_shows_that_run_and_the_journal_now() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 10, "create");
    spoil_two_rows(dir.path());
    let journal = s(&dir.path().join("j.sqlite"));
    let first = dir.path().join("first.html");
    let out =
        run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &["--report", &s(&first)]).await;
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    // Fixed and run again: run 2 creates the two rows; run 1's page still shows run 1's counts.
    cli_support::edit_csv(dir.path(), "+7 916 002 0002,77", "+7 916 002 0002,41");
    cli_support::edit_csv(dir.path(), "not-an-email", "p5@example.com");
    let json = dir.path().join("second.json");
    let out = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &["--report", &s(&json)]).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).expect("json"))
        .expect(".json stays the JSON report");
    assert!(report["steps"].is_array(), "{report}");
    sandbox.stop().await;

    let page = dir.path().join("run1.html");
    let out =
        b24(dir.path(), args(&["report", "--journal", &journal, "--run", "1", "--out", &s(&page)])).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let html = std::fs::read_to_string(&page).expect("page");
    assert_self_contained(&html);
    assert!(html.contains("b24import run 1 of job"), "{html}");
    assert!(
        html.contains("<td>people</td><td>contact</td><td class=\"n\">10</td><td class=\"n\">8</td>"),
        "{html}"
    );
    // The rejected rows are the journal's now: none are left.
    assert!(html.contains("Rejected rows by reason</h2>") && html.contains("<p>None.</p>"), "{html}");
    let last = dir.path().join("last.html");
    let out = b24(dir.path(), args(&["report", "--journal", &journal, "--out", &s(&last)])).await;
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let html = std::fs::read_to_string(&last).expect("page");
    assert!(html.contains("b24import run 2 of job"), "the last run by default");
    assert!(html.contains("<td class=\"n\">10</td><td class=\"n\">2</td>"), "run 2 created 2: {html}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dry_run_s_page_says_what_would_be_sent_and_writes_no_journal() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 10, "create");
    spoil_two_rows(dir.path());
    let journal = dir.path().join("j.sqlite");
    let page = dir.path().join("dry.html");
    let webhook = sandbox.webhook_url();
    let out =
        run(dir.path(), &s(&mapping), &webhook, &s(&journal), &["--dry-run", "--report", &s(&page)]).await;
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", shown(&out));
    sandbox.stop().await;
    assert!(!journal.exists(), "a dry run writes no journal");
    let html = std::fs::read_to_string(&page).expect("page");
    assert_self_contained(&html);
    assert!(html.contains("<title>b24import dry run</title>"), "{html}");
    assert!(
        html.contains(">would send</th>") && html.contains("A dry run records no figures over time."),
        "{html}"
    );
    assert!(html.contains("A dry run keeps no rows") && !html.contains("<p>None.</p>"), "{html}");
    assert!(!html.contains(&secret_of(&webhook)));
}

/// `people.csv` of `n` rows for `validate`: every third row's e-mail is not one, every
/// seventh repeats the key of the row before, every eleventh has no name; the rest are valid.
fn many_invalid_rows(dir: &Path, n: usize) -> PathBuf {
    let mapping = people(dir, 0, "create");
    let mut csv = std::io::BufWriter::new(std::fs::File::create(dir.join("people.csv")).expect("csv"));
    writeln!(csv, "Code,Name,Last,Email,Phone,Tier").expect("write");
    for i in 0..n {
        let code = if i % 7 == 6 { i - 1 } else { i };
        let email =
            if i % 3 == 0 { format!("broken{i}-at-example.com") } else { format!("p{i}@example.com") };
        writeln!(csv, "P{code:06},Name{i},Last{i},{email},+7 916 000 0000,41").expect("write");
    }
    csv.flush().expect("flush");
    mapping
}

#[tokio::test(flavor = "multi_thread")]
async fn a_validation_of_200000_rows_makes_a_small_page_with_every_step_and_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = many_invalid_rows(dir.path(), 200_000);
    let page = dir.path().join("validate.html");
    let out = b24(dir.path(), args(&["validate", &s(&mapping), "--report", &s(&page)])).await;
    assert_eq!(out.status.code(), Some(1), "rows are invalid: {}", shown(&out));
    let html = std::fs::read_to_string(&page).expect("page");
    assert_self_contained(&html);
    assert!(html.len() < 64_000, "the page of 200,000 rows is {} bytes", html.len());
    assert_in_order(&html, &["Per step", "Invalid rows by reason", "Settings", "What a run would do"]);
    assert!(!html.contains("The run over time"), "a validation has no run over time");
    assert!(html.contains("<td>people</td><td>contact</td><td class=\"n\">200000</td>"), "{}", &html[..4000]);
    for code in ["invalid_email", "duplicate_key"] {
        assert!(html.contains(&format!("people: <span class=\"code\">{code}</span>")), "no group {code}");
    }
    // A group shows its count and its first rows, never every row.
    assert!(html.contains("66667 row(s)"), "the e-mail group counts every row");
    assert!(
        html.contains("<td>people.csv:2</td><td>P000000</td><td>Email</td><td>broken0-at-example.com</td>")
    );
    assert!(!html.contains("people.csv:2000"), "row 1999 is past the group's first rows");
    assert!(html.contains("more row(s) with this reason"));
    assert!(html.contains("<td>portal</td><td>not contacted</td>"));

    // Any other name keeps the JSON summary (as --json prints it).
    let json = dir.path().join("validate.json");
    let small = many_invalid_rows(dir.path(), 50);
    let out = b24(dir.path(), args(&["validate", &s(&small), "--report", &s(&json)])).await;
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("json")).expect("json");
    assert_eq!(summary["ok"], false, "{summary}");
    assert_eq!(summary["steps"][0]["rows_read"], 50, "{summary}");
}

/// Chromium (or Chrome) on this machine, if any: `B24_CHROMIUM` first, then the usual names.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("B24_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_renders_in_headless_chromium_where_it_is_installed() {
    let Some(browser) = chromium() else {
        eprintln!("skipped: no chromium found (set B24_CHROMIUM to render the report page in a browser)");
        return;
    };
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    let mapping = people(dir.path(), 20, "create");
    spoil_two_rows(dir.path());
    let page = dir.path().join("run.html");
    let journal = s(&dir.path().join("j.sqlite"));
    let out = run(dir.path(), &s(&mapping), &sandbox.webhook_url(), &journal, &["--report", &s(&page)]).await;
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    sandbox.stop().await;
    let shot = dir.path().join("run.png");
    let started = std::time::Instant::now();
    let rendered = std::process::Command::new(&browser)
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--window-size=1100,1400"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs");
    assert!(rendered.status.success(), "{}", String::from_utf8_lossy(&rendered.stderr));
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "{} bytes", png.len());
    eprintln!("rendered {} in {:?} with {}", page.display(), started.elapsed(), browser.display());
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn validate_online_puts_the_portal_s_gaps_and_row_reasons_on_the_page() {
    let sandbox = Sandbox::start(cli_support::sandbox_config()).await.expect("sandbox");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("people.csv"),
        "Code,Name,Tier,Owner\nP1,Ann,Gold,admin@sandbox.local\nP2,Bob,Platinum,admin@sandbox.local\n\
         P3,Cid,Bronze,nobody@example.com\n",
    )
    .expect("csv");
    let mapping = dir.path().join("people.toml");
    std::fs::write(
        &mapping,
        "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
         [fields]\nname = \"Name\"\nufCrm_1700000004 = { column = \"Tier\", type = \"enum\" }\n\
         assignedById = { column = \"Owner\", user = \"email\" }\n",
    )
    .expect("mapping");
    let page = dir.path().join("online.html");
    let webhook = sandbox.webhook_url();
    let out = b24(
        dir.path(),
        args(&["validate", &s(&mapping), "--online", "--webhook", &webhook, "--report", &s(&page)]),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    sandbox.stop().await;
    let html = std::fs::read_to_string(&page).expect("page");
    assert_self_contained(&html);
    assert!(!html.contains(&secret_of(&webhook)), "the webhook's code is on the page");
    assert!(html.contains("offline and against the portal (--online, read only)"), "{html}");
    assert!(
        html.contains("<td>people</td><td>contact</td><td class=\"n\">3</td><td class=\"n\">1</td>"),
        "{html}"
    );
    assert!(
        html.contains("is not in the portal&#39;s list") || html.contains("is not in the portal's list"),
        "{html}"
    );
    assert!(html.contains("no portal user with e-mail"), "{html}");
    assert!(
        html.contains("<h2>Notes</h2>") && html.contains("user IDs are found by e-mail at run time"),
        "{html}"
    );
    assert_eq!(html.matches("What to do: </b>").count(), 2, "{html}");
}
