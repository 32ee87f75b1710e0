//! Journals of older versions: adopted, migrated to the current schema, their row values wiped.
use super::*;

#[test]
fn journals_carry_the_application_id_and_old_ones_are_adopted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    {
        let mut conn = Connection::open(&path).expect("open");
        schema::migrate_to(&mut conn, 2).expect("a version-2 journal, from before application_id");
    }
    let ro = Journal::open_read_only(&path).expect("adopted for reading");
    assert_eq!(ro.schema_version().expect("version"), 2, "a reader never migrates");
    drop(ro);
    let j = Journal::open(&path).expect("adopted");
    let id: i32 = j.conn.query_row("PRAGMA application_id", [], |r| r.get(0)).expect("pragma");
    assert_eq!(id, APPLICATION_ID);
    assert_eq!(j.schema_version().expect("version"), SCHEMA_VERSION);
}

#[test]
fn migrating_a_journal_keeps_hashes_and_wipes_the_values() {
    // Regression: rows.fields kept every row's payload (names, phones, base64 of files).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    let secret_name = "Zebediah-Quorrington";
    let fields = serde_json::json!({
        "name": secret_name, "originId": "K1",
        "fm": [{"typeId": "PHONE", "valueType": "WORK", "value": "+7 999 8765432"}],
        "ufCrm_1": ["cv.pdf", "UVVPUlJJTkdUT04tRklMRS1CT0RZ".repeat(200)]
    });
    {
        let mut conn = Connection::open(&path).expect("open");
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).expect("wal");
        schema::migrate_to(&mut conn, 2).expect("version 2");
        conn.execute_batch(
            "INSERT INTO steps (id, name, mapping_path, entity, ord) VALUES (1, 'contacts', 'm.toml', 'contact', 0);
             INSERT INTO runs (job, args, started_at) VALUES ('import', 'm.toml --webhook https://x.bitrix24.ru/rest/1/sekretcode123/ --batch-size 50', 1);",
        )
        .expect("insert");
        conn.execute(
            "INSERT INTO rows (step_id, row_key, row_ref, payload_hash, state, portal_id, created_at, updated_at, fields)
             VALUES (1, 'K1', 'c.csv:2', 'h', 'done', 7, 1, 1, ?1)",
            [fields.to_string()],
        )
        .expect("row");
        // Killed: the values may sit in the -wal too.
        std::mem::forget(conn);
    }
    let mut j = Journal::open(&path).expect("migrated");
    let s = j.steps().expect("steps")[0].id;
    let row = j.row_state(s, "K1").expect("q").expect("row");
    let hashes = row.field_hashes.expect("hashes kept");
    // The same fields compare as unchanged; a changed name is the only change.
    let new = fields.as_object().expect("object").clone();
    assert!(crate::pipeline::upsert::changed_fields(&new, &hashes, j.field_hasher()).is_empty());
    let mut renamed = new.clone();
    renamed.insert("name".into(), serde_json::json!("Ann"));
    let changed = crate::pipeline::upsert::changed_fields(&renamed, &hashes, j.field_hasher());
    assert_eq!(changed.keys().collect::<Vec<_>>(), ["name"]);
    assert_eq!(j.runs().expect("runs")[0].args.matches("sekretcode123").count(), 0);
    j.set_meta("x", "y").expect("still writable");
    drop(j);
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let p = entry.expect("entry").path();
        let bytes = std::fs::read(&p).expect("read");
        for needle in [secret_name, "8765432", "UVVPUlJJTkdUT04tRklMRS1CT0RZ", "sekretcode123"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in {}",
                p.display()
            );
        }
    }
}

#[test]
fn a_version_4_journal_learns_which_rows_b24import_created() {
    // Issue 21: a done row that was not found or matched (`existing = 0`) was a create: undo
    // deletes it (created_run 0); a matched or updated one is never deleted.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    {
        let mut conn = Connection::open(&path).expect("open");
        schema::migrate_to(&mut conn, 4).expect("version 4");
        conn.execute_batch(
            "INSERT INTO steps (id, name, mapping_path, entity, ord) VALUES (1, 'contacts', 'm.toml', 'contact', 0);
             INSERT INTO rows (step_id, row_key, row_ref, payload_hash, state, portal_id, existing, created_at, updated_at)
             VALUES (1, 'made', 'c.csv:2', 'h', 'done', 7, 0, 1, 1),
                    (1, 'matched', 'c.csv:3', 'h', 'done', 8, 1, 1, 1),
                    (1, 'waiting', 'c.csv:4', 'h', 'pending', NULL, 0, 1, 1);",
        )
        .expect("rows");
    }
    let expected = [("made".to_string(), Some(0)), ("matched".to_string(), None)];
    {
        // A dry run reads it as it is (no migration): the same answer.
        let ro = Journal::open_read_only(&path).expect("read as it is");
        let s = ro.steps().expect("steps")[0].id;
        let rows: Vec<(String, Option<i64>)> =
            ro.undo_rows(s).expect("rows").into_iter().map(|r| (r.key, r.created_run)).collect();
        assert_eq!(rows, expected);
    }
    let mut j = Journal::open(&path).expect("migrated");
    let s = j.steps().expect("steps")[0].id;
    let rows: Vec<(String, Option<i64>)> =
        j.undo_rows(s).expect("rows").into_iter().map(|r| (r.key, r.created_run)).collect();
    assert_eq!(rows, expected);
    j.apply(s, &[("made", Transition::Undoing), ("made", Transition::Undone)])
        .expect("undone after migration");
    assert_eq!(j.counts(s).expect("counts").undone, 1);
}
