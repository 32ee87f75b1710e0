//! The allowed-transitions table of `rows`, pair by pair: every allowed (state, transition)
//! works and ends in the right state; every other one is refused and changes nothing.
use super::*;
use rstest::rstest;

/// Every state a row can be in before a transition; `None`: not in the journal.
const FROM: [Option<RowState>; 8] = [
    None,
    Some(RowState::Pending),
    Some(RowState::Sent),
    Some(RowState::Done),
    Some(RowState::Rejected),
    Some(RowState::Unknown),
    Some(RowState::Undoing),
    Some(RowState::Undone),
];

/// Puts the row `key` in `state` by the way a run gets it there.
fn put_in(j: &mut Journal, s: StepId, key: &str, state: Option<RowState>) {
    let Some(state) = state else { return };
    let mut path = vec![Transition::Pending { row_ref: "c.csv:2", payload_hash: "h" }];
    match state {
        RowState::Pending => {}
        RowState::Sent => path.push(Transition::Sent),
        RowState::Done => path.extend([Transition::Sent, Transition::Done { id: 41, existing: false }]),
        RowState::Rejected => path.push(Transition::Rejected { code: "E", text: "refused" }),
        RowState::Unknown => path.extend([Transition::Sent, Transition::Unknown { reason: "timeout" }]),
        RowState::Undoing => {
            path.extend([Transition::Sent, Transition::Done { id: 41, existing: false }, Transition::Undoing])
        }
        RowState::Undone => path.extend([
            Transition::Sent,
            Transition::Done { id: 41, existing: false },
            Transition::Undoing,
            Transition::Undone,
        ]),
    }
    for step in path {
        j.apply(s, &[(key, step)]).expect("a run's way to the state");
    }
    assert_eq!(j.row_state(s, key).expect("q").map(|r| r.state), Some(state));
}

/// One transition of each kind.
fn transition<'a>(name: &str, hashes: &'a FieldHashes) -> Transition<'a> {
    match name {
        "Pending" => Transition::Pending { row_ref: "c.csv:3", payload_hash: "h2" },
        "Reopen" => Transition::Reopen { row_ref: "c.csv:3", payload_hash: "h2" },
        "Sent" => Transition::Sent,
        "Done" => Transition::Done { id: 42, existing: true },
        "Rejected" => Transition::Rejected { code: "400", text: "bad field" },
        "Unknown" => Transition::Unknown { reason: "connection closed" },
        "NotRun" => Transition::NotRun,
        "FoundExisting" => {
            Transition::FoundExisting { row_ref: "c.csv:3", payload_hash: "h2", id: 43, fields: hashes }
        }
        "FoundToUpdate" => {
            Transition::FoundToUpdate { row_ref: "c.csv:3", payload_hash: "h2", id: 44, baseline: hashes }
        }
        "Confirmed" => Transition::Confirmed { fields: hashes },
        "Undoing" => Transition::Undoing,
        "Undone" => Transition::Undone,
        "Restored" => Transition::Restored,
        other => panic!("no transition {other}"),
    }
}

#[rstest]
#[case::pending("Pending", &[None, Some(RowState::Pending), Some(RowState::Undone)], RowState::Pending)]
#[case::reopen("Reopen", &[Some(RowState::Pending), Some(RowState::Done), Some(RowState::Rejected), Some(RowState::Undone)], RowState::Pending)]
#[case::sent("Sent", &[Some(RowState::Pending)], RowState::Sent)]
#[case::done("Done", &[Some(RowState::Sent), Some(RowState::Unknown)], RowState::Done)]
#[case::rejected("Rejected", &[Some(RowState::Pending), Some(RowState::Sent)], RowState::Rejected)]
#[case::unknown("Unknown", &[Some(RowState::Sent)], RowState::Unknown)]
#[case::not_run("NotRun", &[Some(RowState::Sent), Some(RowState::Unknown)], RowState::Pending)]
#[case::found_existing(
    "FoundExisting",
    &FROM,
    RowState::Done
)]
#[case::found_to_update("FoundToUpdate", &[None, Some(RowState::Pending), Some(RowState::Undone)], RowState::Pending)]
#[case::confirmed("Confirmed", &[Some(RowState::Done)], RowState::Done)]
#[case::undoing("Undoing", &[Some(RowState::Done)], RowState::Undoing)]
#[case::undone("Undone", &[Some(RowState::Undoing)], RowState::Undone)]
#[case::restored("Restored", &[Some(RowState::Undoing)], RowState::Done)]
fn a_transition_is_made_only_from_the_states_the_table_allows(
    #[case] name: &str,
    #[case] allowed: &[Option<RowState>],
    #[case] to: RowState,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut j = open_in(&dir);
    let s = step(&mut j, "contacts");
    let hashes = j.field_hasher().hashes(serde_json::json!({"name": "Ann"}).as_object().expect("object"));
    let change = transition(name, &hashes);
    assert_eq!(change.name(), name);
    for (n, from) in FROM.into_iter().enumerate() {
        let key = format!("row{n}");
        put_in(&mut j, s, &key, from);
        let before = j.row_state(s, &key).expect("q");
        let result = j.apply(s, &[(&key, change)]);
        let after = j.row_state(s, &key).expect("q");
        assert_eq!(change.allowed_from(from), allowed.contains(&from), "{name} from {from:?}: the table");
        if allowed.contains(&from) {
            result.unwrap_or_else(|e| panic!("{name} from {from:?}: {e}"));
            let row = after.expect("row present");
            assert_eq!((row.state, change.to()), (to, to), "{name} from {from:?}");
            let sends = u32::from(name == "Sent" || name == "Undoing");
            assert_eq!(row.attempts, before.as_ref().map_or(0, |b| b.attempts) + sends);
        } else {
            let err = result.expect_err(&format!("{name} from {from:?} is refused"));
            match from {
                None => assert!(matches!(err, JournalError::UnknownRow { .. }), "{name}: {err}"),
                Some(state) => {
                    assert!(
                        matches!(&err, JournalError::NotAllowed { state: st, transition, .. }
                            if *st == state && *transition == name),
                        "{name} from {state}: {err}"
                    );
                    assert!(err.to_string().contains(name), "{err}");
                }
            }
            assert_eq!(after, before, "{name} from {from:?} changed nothing");
        }
    }
}

#[test]
fn a_refused_transition_undoes_the_whole_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut j = open_in(&dir);
    let s = step(&mut j, "contacts");
    put_in(&mut j, s, "a", Some(RowState::Pending));
    put_in(&mut j, s, "done", Some(RowState::Done));
    let before = (j.row_state(s, "a").expect("q"), j.row_state(s, "done").expect("q"));
    let err = j
        .apply(
            s,
            &[
                ("a", Transition::Sent),
                ("new", Transition::Pending { row_ref: "c.csv:9", payload_hash: "h" }),
                ("done", Transition::Sent),
            ],
        )
        .expect_err("a done row is never sent");
    assert!(
        matches!(err, JournalError::NotAllowed { state: RowState::Done, transition: "Sent", .. }),
        "{err}"
    );
    assert_eq!((j.row_state(s, "a").expect("q"), j.row_state(s, "done").expect("q")), before);
    assert_eq!(j.row_state(s, "new").expect("q"), None);
}

#[test]
fn one_row_may_change_twice_in_one_batch() {
    // What `Ledger::reject` does: a row enters and is refused in one transaction.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut j = open_in(&dir);
    let s = step(&mut j, "contacts");
    j.apply(
        s,
        &[
            ("k", Transition::Pending { row_ref: "c.csv:2", payload_hash: "cells:1" }),
            ("k", Transition::Rejected { code: "invalid_phone", text: "not a phone" }),
        ],
    )
    .expect("entered and refused");
    let row = j.row_state(s, "k").expect("q").expect("row");
    assert_eq!((row.state, row.error_code.as_deref()), (RowState::Rejected, Some("invalid_phone")));
}

#[test]
fn a_row_that_may_have_reached_the_portal_is_never_resent_before_a_lookup() {
    // The exactly-once rule, as the table keeps it: `sent`/`unknown` rows are not sent or
    // reopened; a lookup decides them (`Done`, or `NotRun` when absent, which keeps the ID).
    let dir = tempfile::tempdir().expect("tempdir");
    let mut j = open_in(&dir);
    let s = step(&mut j, "contacts");
    put_in(&mut j, s, "u", Some(RowState::Unknown));
    let reopen = Transition::Reopen { row_ref: "c.csv:2", payload_hash: "h2" };
    for change in [Transition::Sent, reopen] {
        assert!(j.apply(s, &[("u", change)]).is_err(), "{change:?}");
    }
    j.apply(s, &[("u", Transition::NotRun)]).expect("looked up: absent");
    j.apply(s, &[("u", Transition::Sent)]).expect("then sent again");
    let row = j.row_state(s, "u").expect("q").expect("row");
    assert_eq!((row.state, row.attempts), (RowState::Sent, 2));
}

#[test]
fn a_create_records_its_run_and_an_undone_row_is_created_again_as_new() {
    // Issue 21: only a create on a row without an ID is b24import's creation (what undo deletes);
    // an undone row loses its ID, so the next run creates it and records that run.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut j = open_in(&dir);
    let s = step(&mut j, "contacts");
    let run = j.begin_run("import", "run").expect("run");
    put_in(&mut j, s, "made", Some(RowState::Done));
    let hashes = j.field_hasher().hashes(serde_json::json!({"name": "Ann"}).as_object().expect("object"));
    let found = Transition::FoundExisting { row_ref: "c.csv:3", payload_hash: "h", id: 9, fields: &hashes };
    j.apply(s, &[("matched", found)]).expect("matched");
    let rows = j.undo_rows(s).expect("rows");
    let created: Vec<(&str, Option<i64>)> = rows.iter().map(|r| (r.key.as_str(), r.created_run)).collect();
    assert_eq!(created, [("made", Some(run.0)), ("matched", None)]);
    j.apply(s, &[("made", Transition::Undoing), ("made", Transition::Undone)]).expect("undone");
    let row = j.row_state(s, "made").expect("q").expect("row");
    assert_eq!((row.state, row.portal_id), (RowState::Undone, None));
    assert_eq!(j.undo_rows(s).expect("rows").len(), 1, "an undone row is no longer undone again");
    let again = j.begin_run("import", "run").expect("run");
    for t in [
        Transition::Pending { row_ref: "c.csv:2", payload_hash: "h" },
        Transition::Sent,
        Transition::Done { id: 50, existing: false },
    ] {
        j.apply(s, &[("made", t)]).expect("created again");
    }
    let made = j.undo_rows(s).expect("rows").into_iter().find(|r| r.key == "made").expect("made");
    assert_eq!((made.portal_id, made.created_run), (50, Some(again.0)));
}
