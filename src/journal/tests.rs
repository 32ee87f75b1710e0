//! Journal tests: state transitions, resume semantics, crash safety, fingerprints, file modes.
use super::*;

fn open_in(dir: &tempfile::TempDir) -> Journal {
    Journal::open(&dir.path().join(".b24import").join("job.sqlite")).expect("open journal")
}

fn step(j: &mut Journal, name: &str) -> StepId {
    j.upsert_step(&StepSpec { name, mapping_path: Path::new("m/contacts.toml"), entity: "contact", order: 0 })
        .expect("step")
}

fn rows(keys: &[&'static str]) -> Vec<NewRow<'static>> {
    keys.iter().map(|k| NewRow { key: k, row_ref: "contacts.csv:2", payload_hash: "h" }).collect()
}

fn state(j: &Journal, s: StepId, key: &str) -> RowState {
    j.row_state(s, key).expect("query").expect("row present").state
}

#[test]
fn new_journal_has_the_current_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = open_in(&dir);
    assert_eq!(j.schema_version().expect("version"), SCHEMA_VERSION);
    drop(j);
    // Reopening does not re-run migrations.
    let j = open_in(&dir);
    assert_eq!(j.schema_version().expect("version"), SCHEMA_VERSION);
}

#[test]
fn journal_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    {
        let conn = Connection::open(&path).expect("open");
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).expect("set version");
    }
    assert!(matches!(Journal::open(&path), Err(JournalError::TooNew { .. })));
}

#[test]
fn journal_runs_in_wal_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = open_in(&dir);
    let mode: String = j.conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("pragma");
    assert_eq!(mode, "wal");
    let sync: i64 = j.conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).expect("pragma");
    assert_eq!(sync, 1, "NORMAL");
}

#[cfg(unix)]
#[test]
fn journal_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let j = open_in(&dir);
    let mode = std::fs::metadata(j.path()).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let parent = std::fs::metadata(dir.path().join(".b24import")).expect("meta").permissions().mode();
    assert_eq!(parent & 0o777, 0o700);
}

#[test]
fn default_path_sits_next_to_the_first_mapping() {
    assert_eq!(
        default_path(Path::new("jobs/crm/contacts.toml"), "spring import"),
        PathBuf::from("jobs/crm/.b24import/spring_import.sqlite")
    );
}

#[test]
fn rows_move_pending_sent_done() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut j = open_in(&dir);
    let s = step(&mut j, "contacts");
    j.mark_pending(s, &rows(&["a", "b", "c", "d"])).expect("pending");
    assert_eq!(state(&j, s, "a"), RowState::Pending);
    j.mark_sent(s, &["a", "b", "c", "d"]).expect("sent");
    assert_eq!(state(&j, s, "a"), RowState::Sent);
    j.record_outcomes(
        s,
        &[
            ("a", Outcome::Done { id: 101, existing: false }),
            ("b", Outcome::Rejected { code: "100".into(), text: "bad phone".into() }),
            ("c", Outcome::Unknown { reason: "timeout after 120 s".into() }),
            ("d", Outcome::Retry),
        ],
    )
    .expect("outcomes");
    let a = j.row_state(s, "a").expect("q").expect("row");
    assert_eq!((a.state, a.portal_id, a.attempts), (RowState::Done, Some(101), 1));
    let b = j.row_state(s, "b").expect("q").expect("row");
    assert_eq!(b.state, RowState::Rejected);
    assert_eq!(b.error_code.as_deref(), Some("100"));
    assert_eq!(b.error_text.as_deref(), Some("bad phone"));
    assert_eq!(state(&j, s, "c"), RowState::Unknown);
    assert_eq!(state(&j, s, "d"), RowState::Pending);
    let c = j.counts(s).expect("counts");
    assert_eq!(c, Counts { pending: 1, sent: 0, done: 1, rejected: 1, unknown: 1, created: 1, updated: 0 });
    assert_eq!(c.total(), 4);
    assert_eq!(j.ids(s).expect("ids"), vec![("a".to_string(), 101)]);
    assert_eq!(j.rejected_rows(s).expect("rejects").len(), 1);
    assert!(j.last_error(s).expect("last").is_some());
}

#[test]
fn final_rows_refuse_new_states_and_change_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut j = open_in(&dir);
    let s = step(&mut j, "contacts");
    j.mark_pending(s, &rows(&["a", "b"])).expect("pending");
    j.mark_sent(s, &["a"]).expect("sent");
    j.record_outcomes(s, &[("a", Outcome::Done { id: 7, existing: true })]).expect("done");
    // The whole transaction is refused: b stays pending.
    let err = j.mark_sent(s, &["b", "a"]).expect_err("a is done");
    assert!(matches!(err, JournalError::Final { state: RowState::Done, .. }), "{err}");
    assert_eq!(state(&j, s, "b"), RowState::Pending);
    let err = j.record_outcomes(s, &[("a", Outcome::Retry)]).expect_err("final");
    assert!(matches!(err, JournalError::Final { .. }));
    let err = j.mark_sent(s, &["zzz"]).expect_err("missing");
    assert!(matches!(err, JournalError::UnknownRow { .. }));
    assert_eq!(j.counts(s).expect("counts").updated, 1);
}

#[test]
fn resume_skips_done_and_rejected_and_surfaces_sent_and_unknown() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s;
    {
        let mut j = open_in(&dir);
        s = step(&mut j, "contacts");
        j.mark_pending(s, &rows(&["a", "b", "c", "d", "e"])).expect("pending");
        j.mark_sent(s, &["a", "b", "c", "d"]).expect("sent");
        j.record_outcomes(
            s,
            &[
                ("a", Outcome::Done { id: 1, existing: false }),
                ("b", Outcome::Rejected { code: "X".into(), text: "no".into() }),
                ("c", Outcome::Unknown { reason: "connection dropped".into() }),
            ],
        )
        .expect("outcomes");
    }
    let mut j = open_in(&dir);
    // The same step name keeps its id and rows.
    assert_eq!(step(&mut j, "contacts"), s);
    // Seeing the rows again (a new run) does not reset what was decided.
    j.mark_pending(s, &rows(&["a", "b", "c", "d", "e"])).expect("pending again");
    assert!(state(&j, s, "a").is_final());
    assert!(state(&j, s, "b").is_final());
    let reconcile: Vec<_> = j.rows_to_reconcile(s).expect("q").into_iter().map(|r| r.key).collect();
    assert_eq!(reconcile, ["d", "c"]);
    assert!(state(&j, s, "c").needs_reconciliation());
    let work: Vec<_> = j.rows_in_state(s, RowState::Pending).expect("q").into_iter().map(|r| r.key).collect();
    assert_eq!(work, ["e"]);
}

#[test]
fn crash_between_sent_and_outcome_leaves_rows_sent() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s;
    {
        let mut j = open_in(&dir);
        s = step(&mut j, "contacts");
        j.mark_pending(s, &rows(&["a", "b"])).expect("pending");
        j.mark_sent(s, &["a", "b"]).expect("sent");
        // Simulated crash: the connection goes away without an outcome (no checkpoint, no close).
        std::mem::forget(j);
    }
    let j = open_in(&dir);
    assert_eq!(state(&j, s, "a"), RowState::Sent);
    assert_eq!(state(&j, s, "b"), RowState::Sent);
    assert_eq!(j.counts(s).expect("counts").sent, 2);
}

#[test]
fn changed_source_is_detected_and_explained() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("contacts.csv");
    std::fs::write(&src, "key,name\n1,Ann\n").expect("write");
    let mut j = open_in(&dir);
    let fp = Fingerprint::of_file(&src).expect("hash");
    assert_eq!(j.check_fingerprint(&src, &fp).expect("check"), FingerprintCheck::New);
    j.record_fingerprint(&src, &fp).expect("record");
    assert_eq!(j.check_fingerprint(&src, &fp).expect("check"), FingerprintCheck::Unchanged);
    std::fs::write(&src, "key,name\n1,Anna\n").expect("write");
    let fp2 = Fingerprint::of_file(&src).expect("hash");
    match j.check_fingerprint(&src, &fp2).expect("check") {
        FingerprintCheck::Changed(c) => {
            assert_eq!((c.recorded.size, c.current.size), (15, 16));
            let msg = c.to_string();
            assert!(msg.contains("contacts.csv changed since the journal recorded it"), "{msg}");
            assert!(msg.contains("15 -> 16 bytes"), "{msg}");
        }
        other => panic!("expected a change, got {other:?}"),
    }
}

#[test]
fn runs_and_meta_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut j = open_in(&dir);
    let run = j.begin_run("spring", "run contacts.toml --plan standard").expect("run");
    j.finish_run(run, "completed").expect("finish");
    let runs = j.runs().expect("runs");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome.as_deref(), Some("completed"));
    assert!(runs[0].finished_at.is_some());
    assert_eq!(j.get_meta("oauth.refresh_token").expect("get"), None);
    j.set_meta("oauth.refresh_token", "r1").expect("set");
    j.set_meta("oauth.refresh_token", "r2").expect("set");
    assert_eq!(j.get_meta("oauth.refresh_token").expect("get").as_deref(), Some("r2"));
    j.delete_meta("oauth.refresh_token").expect("delete");
    assert_eq!(j.get_meta("oauth.refresh_token").expect("get"), None);
    assert_eq!(j.steps().expect("steps").len(), 0);
}

#[test]
fn payload_hash_changes_with_the_payload_only() {
    use crate::payload::Command;
    let a = Command { method: "crm.item.add", params: serde_json::json!({"fields": {"a": 1, "b": 2}}) };
    let same = Command { method: "crm.item.add", params: serde_json::json!({"fields": {"b": 2, "a": 1}}) };
    let other = Command { method: "crm.item.add", params: serde_json::json!({"fields": {"a": 1, "b": 3}}) };
    assert_eq!(payload_hash(&a), payload_hash(&same));
    assert_ne!(payload_hash(&a), payload_hash(&other));
    assert_eq!(payload_hash(&a).len(), 64);
}
