//! Journal tests: state transitions, resume semantics, crash safety, fingerprints, file modes.
use super::*;

fn open_in(dir: &tempfile::TempDir) -> Journal {
    Journal::open(&dir.path().join(".b24import").join("job.sqlite")).expect("open journal")
}

fn spec<'a>(name: &'a str, entity: &'a str, source: &'a Path) -> StepSpec<'a> {
    StepSpec {
        name,
        mapping_path: Path::new("m/contacts.toml"),
        entity,
        order: 0,
        source,
        source_sha256: None,
    }
}

fn step(j: &mut Journal, name: &str) -> StepId {
    j.upsert_step(&spec(name, "contact", Path::new("/data/contacts.csv"))).expect("step")
}

/// What a killed process leaves: the connection never closed, the lock dropped by the OS.
fn crash(j: Journal) {
    let mut j = std::mem::ManuallyDrop::new(j);
    if let Some(lock) = j.lock.take() {
        lock.release_as_if_killed();
    }
}

fn rows(keys: &[&'static str]) -> Vec<NewRow<'static>> {
    keys.iter().map(|k| NewRow { key: k, row_ref: "contacts.csv:2", payload_hash: "h" }).collect()
}

/// The run's batch calls as transitions (what `pipeline::ledger` makes of them).
trait Batches {
    fn mark_pending(&mut self, s: StepId, rows: &[NewRow<'_>]) -> Result<(), JournalError>;
    fn mark_sent(&mut self, s: StepId, keys: &[&str]) -> Result<(), JournalError>;
    fn record_outcomes(&mut self, s: StepId, outcomes: &[(&str, Outcome)]) -> Result<(), JournalError>;
    fn reopen(&mut self, s: StepId, rows: &[NewRow<'_>]) -> Result<(), JournalError>;
    /// `FoundToUpdate` when `to_update`, else `FoundExisting`.
    fn record_found(
        &mut self,
        s: StepId,
        row: &NewRow<'_>,
        id: u64,
        fields: &FieldHashes,
        to_update: bool,
    ) -> Result<(), JournalError>;
}

impl Batches for Journal {
    fn mark_pending(&mut self, s: StepId, rows: &[NewRow<'_>]) -> Result<(), JournalError> {
        let changes: Vec<_> = rows
            .iter()
            .map(|r| (r.key, Transition::Pending { row_ref: r.row_ref, payload_hash: r.payload_hash }))
            .collect();
        self.apply(s, &changes)
    }

    fn mark_sent(&mut self, s: StepId, keys: &[&str]) -> Result<(), JournalError> {
        let changes: Vec<_> = keys.iter().map(|k| (*k, Transition::Sent)).collect();
        self.apply(s, &changes)
    }

    fn record_outcomes(&mut self, s: StepId, outcomes: &[(&str, Outcome)]) -> Result<(), JournalError> {
        let changes: Vec<_> = outcomes.iter().map(|(k, o)| (*k, o.transition())).collect();
        self.apply(s, &changes)
    }

    fn reopen(&mut self, s: StepId, rows: &[NewRow<'_>]) -> Result<(), JournalError> {
        let changes: Vec<_> = rows
            .iter()
            .map(|r| (r.key, Transition::Reopen { row_ref: r.row_ref, payload_hash: r.payload_hash }))
            .collect();
        self.apply(s, &changes)
    }

    fn record_found(
        &mut self,
        s: StepId,
        row: &NewRow<'_>,
        id: u64,
        fields: &FieldHashes,
        to_update: bool,
    ) -> Result<(), JournalError> {
        let (row_ref, payload_hash) = (row.row_ref, row.payload_hash);
        let change = if to_update {
            Transition::FoundToUpdate { row_ref, payload_hash, id, baseline: fields }
        } else {
            Transition::FoundExisting { row_ref, payload_hash, id, fields }
        };
        self.apply(s, &[(row.key, change)])
    }
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
        conn.pragma_update(None, "application_id", APPLICATION_ID).expect("a newer build marks it too");
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
    assert_eq!(
        c,
        Counts {
            pending: 1,
            sent: 0,
            done: 1,
            rejected: 1,
            unknown: 1,
            created: 1,
            updated: 0,
            ..Counts::default()
        }
    );
    assert_eq!(c.total(), 4);
    assert_eq!(j.ids(s).expect("ids"), vec![("a".to_string(), 101)]);
    assert_eq!(j.rejected_rows(s).expect("rejects").len(), 1);
    assert!(j.last_error(s).expect("last").is_some());
}

#[test]
fn an_update_that_did_not_run_or_was_cut_off_or_refused_keeps_its_portal_id() {
    // Regression (issue 16): an outcome without an ID wrote NULL over the row's portal ID, so the
    // next run created an item the portal already held (150 duplicates in 2,000 upserts).
    let dir = tempfile::tempdir().expect("tempdir");
    let mut j = open_in(&dir);
    let s = step(&mut j, "contacts");
    let keys = ["retry", "unknown", "rejected"];
    j.mark_pending(s, &rows(&keys)).expect("pending");
    j.mark_sent(s, &keys).expect("sent");
    let done: Vec<(&str, Outcome)> = keys
        .iter()
        .enumerate()
        .map(|(n, k)| (*k, Outcome::Done { id: 200 + n as u64, existing: false }))
        .collect();
    j.record_outcomes(s, &done).expect("created");
    // The source changed: each row is reopened for an update of its item, sent, and then ...
    j.reopen(s, &rows(&keys)).expect("reopened");
    j.mark_sent(s, &keys).expect("sent");
    j.record_outcomes(
        s,
        &[
            ("retry", Outcome::Retry),
            ("unknown", Outcome::Unknown { reason: "connection closed".into() }),
            ("rejected", Outcome::Rejected { code: "400".into(), text: "bad field".into() }),
        ],
    )
    .expect("outcomes");
    for (n, key) in keys.iter().enumerate() {
        let row = j.row_state(s, key).expect("q").expect("row");
        assert_eq!(row.portal_id, Some(200 + n as u64), "{key}: {row:?}");
    }
    assert_eq!(state(&j, s, "retry"), RowState::Pending);
    assert_eq!(state(&j, s, "unknown"), RowState::Unknown);
    assert_eq!(state(&j, s, "rejected"), RowState::Rejected);
}

#[test]
fn a_row_found_to_be_updated_holds_its_id_in_one_transition() {
    // Regression (issue 16): "found, to be updated" was three commits; a kill between the first
    // two left the row pending without an ID, and the next run created it.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut j = open_in(&dir);
    let s = step(&mut j, "contacts");
    let row = NewRow { key: "k", row_ref: "contacts.csv:2", payload_hash: "h1" };
    let hashes = j.field_hasher().hashes(&serde_json::Map::new());
    j.record_found(s, &row, 77, &hashes, true).expect("found");
    let r = j.row_state(s, "k").expect("q").expect("row");
    assert_eq!((r.state, r.portal_id, r.existing), (RowState::Pending, Some(77), true));
    let row = NewRow { payload_hash: "h2", ..row };
    j.record_found(s, &row, 77, &hashes, false).expect("recorded");
    let r = j.row_state(s, "k").expect("q").expect("row");
    assert_eq!((r.state, r.portal_id, r.payload_hash.as_str()), (RowState::Done, Some(77), "h2"));
    assert!(r.field_hashes.is_some());
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
    assert!(matches!(err, JournalError::NotAllowed { state: RowState::Done, .. }), "{err}");
    assert_eq!(state(&j, s, "b"), RowState::Pending);
    let err = j.record_outcomes(s, &[("a", Outcome::Retry)]).expect_err("final");
    assert!(matches!(err, JournalError::NotAllowed { .. }));
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
    // Seeing the rows again (a new run) does not reset what was decided: `Pending` is refused
    // for rows done, rejected or in flight, and a pending row stays pending.
    for row in rows(&["a", "b", "c", "d"]) {
        j.mark_pending(s, std::slice::from_ref(&row)).expect_err("decided or in flight");
    }
    j.mark_pending(s, &rows(&["e"])).expect("pending again");
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
        crash(j);
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
    let a = Command {
        method: crate::payload::Method::CrmItemAdd,
        params: serde_json::json!({"fields": {"a": 1, "b": 2}}),
    };
    let same = Command {
        method: crate::payload::Method::CrmItemAdd,
        params: serde_json::json!({"fields": {"b": 2, "a": 1}}),
    };
    let other = Command {
        method: crate::payload::Method::CrmItemAdd,
        params: serde_json::json!({"fields": {"a": 1, "b": 3}}),
    };
    assert_eq!(payload_hash(&a), payload_hash(&same));
    assert_ne!(payload_hash(&a), payload_hash(&other));
    assert_eq!(payload_hash(&a).len(), 64);
}

/// Every file in `dir` with its bytes, mode and modification time.
fn files_in(dir: &Path) -> Vec<(String, Vec<u8>, u32, std::time::SystemTime)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| {
            let e = e.expect("entry");
            let meta = e.metadata().expect("meta");
            let bytes = if meta.is_file() { std::fs::read(e.path()).expect("read") } else { Vec::new() };
            (
                e.file_name().to_string_lossy().into_owned(),
                bytes,
                meta.permissions().mode(),
                meta.modified().expect("mtime"),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_second_writer_is_refused_while_readers_still_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    let mut j = Journal::open(&path).expect("first");
    let s = step(&mut j, "contacts");
    j.mark_pending(s, &rows(&["a"])).expect("pending");
    let err = Journal::open(&path).expect_err("the lock is held");
    assert!(
        matches!(&err, JournalError::Locked { holder: Some(h), .. } if h.pid == std::process::id()),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&format!("pid {}", std::process::id())) && msg.contains("started"), "{msg}");
    let reader = Journal::open_read_only(&path).expect("readers take no lock");
    assert_eq!(reader.counts(reader.steps().expect("steps")[0].id).expect("counts").pending, 1);
    drop(j);
    Journal::open(&path).expect("free again once the writer is gone");
}

#[test]
fn a_crashed_writer_leaves_no_lock_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    crash(Journal::open(&path).expect("first"));
    let j = Journal::open(&path).expect("taken over");
    assert_eq!(j.taken_over_from().map(|h| h.pid), Some(std::process::id()));
}

#[cfg(unix)]
#[test]
fn reading_a_journal_changes_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    {
        let mut j = Journal::open(&path).expect("open");
        let s = step(&mut j, "contacts");
        j.mark_pending(s, &rows(&["a"])).expect("pending");
    }
    // A group-readable journal stays so: a reader never chmods.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let before = files_in(dir.path());
    {
        let mut j = Journal::open_read_only(&path).expect("read");
        assert_eq!(j.steps().expect("steps").len(), 1);
        assert!(j.mark_pending(StepId(1), &rows(&["b"])).is_err(), "read-only");
    }
    assert_eq!(files_in(dir.path()), before);
    // The same for a journal left in WAL mode by an older build (no -wal beside it).
    {
        let conn = Connection::open(&path).expect("open");
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).expect("wal");
    }
    let before = files_in(dir.path());
    Journal::open_read_only(&path).expect("read").steps().expect("steps");
    assert_eq!(files_in(dir.path()), before);
    // A missing journal is not created.
    let missing = dir.path().join("nope").join("j.sqlite");
    assert!(matches!(Journal::open_read_only(&missing), Err(JournalError::Missing { .. })));
    assert!(!dir.path().join("nope").exists());
}

#[test]
fn files_that_are_not_journals_are_refused_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let foreign = dir.path().join("other.sqlite");
    {
        let conn = Connection::open(&foreign).expect("open");
        conn.execute_batch("PRAGMA application_id = 42; CREATE TABLE notes (x);").expect("create");
    }
    let plain = dir.path().join("plain.sqlite");
    Connection::open(&plain).expect("open").execute_batch("CREATE TABLE rows (x);").expect("create");
    std::fs::write(dir.path().join("empty.sqlite"), b"").expect("write");
    std::fs::write(dir.path().join("text.sqlite"), b"key,name\n1,Ann\n").expect("write");
    let before = files_in(dir.path());
    for (name, why) in [
        ("other.sqlite", "another application, application_id 0x0000002a"),
        ("plain.sqlite", "without b24import's tables"),
        ("empty.sqlite", "the file is empty"),
        ("text.sqlite", "a text file"),
    ] {
        let path = dir.path().join(name);
        for err in [Journal::open(&path).expect_err(name), Journal::open_read_only(&path).expect_err(name)] {
            assert!(matches!(err, JournalError::NotAJournal { .. }), "{name}: {err}");
            let msg = err.to_string();
            assert!(msg.contains(why) && msg.contains("left untouched"), "{name}: {msg}");
        }
    }
    assert_eq!(files_in(dir.path()), before, "not a byte, not a lock file");
}

#[test]
fn a_step_keeps_its_entity_origin_and_key_but_may_change_its_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut j = open_in(&dir);
    let a = dir.path().join("a.csv");
    let b = dir.path().join("b.csv");
    std::fs::write(&a, "k\n1\n").expect("write");
    std::fs::write(&b, "k\n2\n").expect("write");
    let id = crate::journal::step_identity("b24import", &["Code"]);
    j.upsert_step(&spec("contacts", "contact", &a)).expect("step");
    j.record_step_identity("contacts", &id).expect("identity");
    // Regression: a reused name marked contacts "done" with company IDs.
    let err = j.check_step(&spec("contacts", "company", &a), &id).expect("query").expect_err("entity");
    let msg = err.to_string();
    assert!(msg.contains("has it as a contact step") && msg.contains("now imports company"), "{msg}");
    assert!(msg.contains("another `name`") && msg.contains("--journal"), "{msg}");
    assert!(matches!(j.upsert_step(&spec("contacts", "company", &a)), Err(JournalError::StepEntity { .. })));
    // Same path: fine, nothing moved.
    assert_eq!(j.check_step(&spec("contacts", "contact", &a), &id).expect("query"), Ok(None));
    // Regression (issue 16): tonight's file with the date in its name was refused while
    // yesterday's still existed; it is the next version of the same step.
    let moved = j.check_step(&spec("contacts", "contact", &b), &id).expect("query").expect("next version");
    assert_eq!(moved.as_deref(), Some(a.to_str().expect("utf-8")));
    // Another key or origin: refused, naming both.
    let other = crate::journal::step_identity("b24import", &["Email"]);
    let err = j.check_step(&spec("contacts", "contact", &b), &other).expect("query").expect_err("key");
    assert!(err.to_string().contains("key Code") && err.to_string().contains("key Email"), "{err}");
    // An unknown name is always fine.
    assert_eq!(j.check_step(&spec("deals", "deal", &a), &id).expect("query"), Ok(None));
}

#[test]
fn a_new_journal_appears_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("j.sqlite");
    drop(Journal::open(&path).expect("create"));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("e").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| n == "j.sqlite" || n == "j.sqlite.lock"), "{names:?}");
    assert!(file::inspect(&path).is_ok());
}

mod migrations;
mod row_keys;
mod transitions;
