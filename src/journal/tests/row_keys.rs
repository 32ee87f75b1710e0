//! Typed row keys in the file: a source key that reads like a line is its own row, and the keys
//! of journals from before (schema 3) keep the meaning they had, migrated or only read.
use super::*;

/// A schema-3 journal holding rows under the old key texts: (key, where the row was seen, ID).
fn old_journal(path: &Path, rows: &[(&str, &str, i64)]) {
    let mut conn = Connection::open(path).expect("open");
    schema::migrate_to(&mut conn, 3).expect("version 3");
    conn.pragma_update(None, "application_id", APPLICATION_ID).expect("ours");
    conn.execute_batch(
        "INSERT INTO steps (id, name, mapping_path, entity, ord) VALUES (1, 'contacts', 'm.toml', 'contact', 0);",
    )
    .expect("step");
    for (key, row_ref, id) in rows {
        conn.execute(
            "INSERT INTO rows (step_id, row_key, row_ref, payload_hash, state, portal_id, created_at, updated_at)
             VALUES (1, ?1, ?2, 'h', 'done', ?3, 1, 1)",
            params![key, row_ref, id],
        )
        .expect("row");
    }
}

/// What the old journal meant by each row, as the run now names it: (key text, ID).
fn meant() -> Vec<(String, u64)> {
    let mut want = vec![
        (keys::row_key("#3", 2, false), 1),   // the source key `#3`, on line 2
        (keys::row_key("", 7, false), 2),     // the row without a key on line 7
        (keys::row_key("k", 9, true), 3),     // the repeat of `k` on line 9
        (keys::row_key("#9#k", 4, false), 4), // a source key that reads like a new repeat
        (keys::row_key("k#dup@5", 3, false), 5),
        (keys::row_key("\\x", 6, false), 6),
        (keys::row_key("#A-1", 8, false), 7),
        (keys::row_key("plain", 10, false), 8),
    ];
    want.sort();
    want
}

const OLD_ROWS: &[(&str, &str, i64)] = &[
    ("#3", "c.csv:2", 1),
    ("#7", "c.csv:7", 2),
    ("k#dup@9", "c.csv:9", 3),
    ("#9#k", "c.csv:4", 4),
    ("k#dup@5", "c.csv:3", 5),
    ("\\x", "c.csv:6", 6),
    ("#A-1", "c.csv:8", 7),
    ("plain", "c.csv:10", 8),
];

#[test]
fn a_source_key_like_a_line_and_that_line_are_two_rows() {
    // Regression (issue 17): the source key `#3` and the key-less row on line 3 were one row.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut j = open_in(&dir);
    let s = step(&mut j, "contacts");
    let keyed = keys::row_key("#3", 2, false);
    let keyless = keys::row_key("", 3, false);
    j.mark_pending(
        s,
        &[
            NewRow { key: &keyed, row_ref: "c.csv:2", payload_hash: "h1" },
            NewRow { key: &keyless, row_ref: "c.csv:3", payload_hash: "h2" },
        ],
    )
    .expect("two rows");
    j.mark_sent(s, &[&keyed, &keyless]).expect("sent");
    j.record_outcomes(
        s,
        &[
            (&keyed, Outcome::Done { id: 1, existing: false }),
            (&keyless, Outcome::Done { id: 2, existing: false }),
        ],
    )
    .expect("done");
    assert_eq!(j.counts(s).expect("counts").done, 2);
    let shown: Vec<(String, u64)> =
        j.ids(s).expect("ids").into_iter().map(|(k, id)| (keys::shown(&k), id)).collect();
    assert!(
        shown.contains(&("#3".into(), 1)) && shown.contains(&("#3".into(), 2)),
        "both shown as before: {shown:?}"
    );
    assert_eq!(j.row_state(s, &keyless).expect("q").expect("row").row_key(), RowKey::Line(3));
}

#[test]
fn an_old_journal_read_without_migrating_gives_the_keys_their_meaning() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    old_journal(&path, OLD_ROWS);
    let j = Journal::open_read_only(&path).expect("read");
    assert_eq!(j.schema_version().expect("version"), 3);
    let mut ids = j.ids(StepId(1)).expect("ids");
    ids.sort();
    assert_eq!(ids, meant());
    for (key, id) in meant() {
        let row = j.row_state(StepId(1), &key).expect("q").unwrap_or_else(|| panic!("{key} found"));
        assert_eq!((row.key.as_str(), row.portal_id), (key.as_str(), Some(id)));
    }
}

#[test]
fn migrating_an_old_journal_keeps_what_each_key_meant() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    old_journal(&path, OLD_ROWS);
    let mut j = Journal::open(&path).expect("migrated");
    assert_eq!(j.schema_version().expect("version"), SCHEMA_VERSION);
    let mut ids = j.ids(StepId(1)).expect("ids");
    ids.sort();
    assert_eq!(ids, meant());
    let rows = j.rows_in_state(StepId(1), RowState::Done).expect("rows");
    assert_eq!(rows.len(), OLD_ROWS.len(), "no row lost or merged");
    // Rows keep everything else; the source key `#3` on line 2 is apart from line 3 now.
    let row = j.row_state(StepId(1), &keys::row_key("#3", 2, false)).expect("q").expect("row");
    assert_eq!((row.row_ref.as_str(), row.payload_hash.as_str(), row.portal_id), ("c.csv:2", "h", Some(1)));
    assert_eq!(j.row_state(StepId(1), &keys::row_key("", 3, false)).expect("q"), None);
    j.mark_pending(StepId(1), &rows_of(&[keys::row_key("", 3, false)])).expect("line 3 is a row of its own");
}

fn rows_of(keys: &[String]) -> Vec<NewRow<'_>> {
    keys.iter().map(|k| NewRow { key: k, row_ref: "c.csv:3", payload_hash: "h" }).collect()
}
