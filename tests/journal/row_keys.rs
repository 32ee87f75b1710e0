//! A source key that reads like a line number (`#3`) and the row without a key on line 3 are
//! two rows of the journal, and so are a source key `K4#dup@5` and the repeat of `K4` on line
//! 5: each row keeps its own fate, and `ids` and `rejects` show them as the user knows them.

use crate::cli_support::{self, b24, shown};
use crate::common;

use b24import::journal::{Journal, RowKey, RowState};
use b24import::sandbox::Sandbox;
use b24import::transport::Rate;

const RATE: Rate = Rate { per_second: 200.0, burst: 50 };

/// Line 2: the key `#3`; line 3: no key; line 5 repeats `K4`; line 6 has the key `K4#dup@5`.
const CSV: &str = "Code,Name\n#3,Ann Keyed\n,Bob Keyless\nK4,Cy Plain\nK4,Dee Again\nK4#dup@5,Eve Odd\n";

#[tokio::test(flavor = "multi_thread")]
async fn keys_that_read_like_lines_are_rows_of_their_own() {
    // Regression (issue 17): the journal kept `#3` and the key-less row on line 3 under one key
    // `#3` (and `K4#dup@5` with the repeat on line 5): the second row of each pair was taken
    // for the first, so the key-less row was skipped instead of rejected.
    let sandbox = Sandbox::start(common::sandbox_config(RATE)).await.expect("sandbox");
    let transport = common::webhook_transport(&sandbox, RATE);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("people.csv"), CSV).expect("csv");
    let mapping = dir.path().join("people.toml");
    std::fs::write(
        &mapping,
        "name = \"people\"\n[source]\npath = \"people.csv\"\nkey = \"Code\"\n[target]\nentity = \"contact\"\n\
         origin = \"test\"\n[fields]\nname = \"Name\"\n",
    )
    .expect("mapping");
    let journal = dir.path().join("j.sqlite");
    let first = common::run_in_process(std::slice::from_ref(&mapping), &journal, &transport, RATE).await;
    let step = &first.steps[0];
    assert_eq!((step.created, step.rejected, step.skipped), (3, 2, 0), "{first:?}");
    let mut names: Vec<String> = common::sandbox_items(&sandbox, 3)
        .await
        .iter()
        .filter_map(|i| i["name"].as_str().map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names, ["Ann Keyed", "Cy Plain", "Eve Odd"]);

    {
        let j = Journal::open_read_only(&journal).expect("journal");
        let step = j.steps().expect("steps")[0].id;
        let mut rows: Vec<(RowKey, RowState)> = RowState::ALL
            .into_iter()
            .flat_map(|s| j.rows_in_state(step, s).expect("rows"))
            .map(|r| (r.row_key(), r.state))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            rows,
            [
                (RowKey::Source("#3".into()), RowState::Done),
                (RowKey::Source("K4".into()), RowState::Done),
                (RowKey::Source("K4#dup@5".into()), RowState::Done),
                (RowKey::Line(3), RowState::Rejected),
                (RowKey::Repeat { key: "K4".into(), line: 5 }, RowState::Rejected),
            ]
        );
    }

    // Run again: every row is known, nothing is sent twice.
    let again = common::run_in_process(std::slice::from_ref(&mapping), &journal, &transport, RATE).await;
    assert_eq!(again.steps[0].created, 0, "{again:?}");
    assert_eq!(common::sandbox_items(&sandbox, 3).await.len(), 3);

    // `ids` shows the keys as before; `rejects` pairs each rejected row with its own source row.
    let ids_csv = dir.path().join("ids.csv");
    let journal_arg = cli_support::s(&journal);
    let ids = b24(
        dir.path(),
        vec!["ids".into(), "--journal".into(), journal_arg.clone(), "--out".into(), cli_support::s(&ids_csv)],
    )
    .await;
    assert_eq!(ids.status.code(), Some(0), "{}", shown(&ids));
    let ids = cli_support::read_csv(&ids_csv);
    let keys: Vec<&str> = ids.iter().skip(1).map(|r| r[1].as_str()).collect();
    assert_eq!(keys, ["#3", "K4", "K4#dup@5"], "{ids:?}");
    let rejects_csv = dir.path().join("rejects.csv");
    let rejects = b24(
        dir.path(),
        vec!["rejects".into(), "--journal".into(), journal_arg, "--out".into(), cli_support::s(&rejects_csv)],
    )
    .await;
    assert_eq!(rejects.status.code(), Some(0), "{}", shown(&rejects));
    let rejected = cli_support::read_csv(&rejects_csv);
    let lines: Vec<(&str, &str)> = rejected.iter().skip(1).map(|r| (r[1].as_str(), r[2].as_str())).collect();
    assert_eq!(lines, [("Bob Keyless", "people.csv:3"), ("Dee Again", "people.csv:5")], "{rejected:?}");
    sandbox.stop().await;
}
