//! The run loop of one step driven through a scripted portal ([`crate::portal::fake`]): each
//! request's answer is chosen by the test (did not run, lost, too large, refused, fatal), and
//! the journal's rows are checked afterwards: every row lands exactly once in the state its
//! answers say, and nothing is created twice.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::ledger::RunJournal;
use super::progress::Progress;
use super::run::RunOptions;
use super::step::{RunContext, StepRunner};
use super::steps::open_steps;
use super::stop::Stop;
use crate::journal::{Journal, RowState};
use crate::portal::Reads;
use crate::portal::fake::{Scripted, ScriptedPortal, Seen};

/// A contacts step of `rows` rows (keys `C1`...), sent `batch` commands a request.
fn contacts(dir: &Path, rows: usize) -> PathBuf {
    let mut csv = String::from("Code,Name\n");
    for i in 1..=rows {
        csv.push_str(&format!("C{i},Name {i}\n"));
    }
    std::fs::write(dir.join("contacts.csv"), csv).unwrap();
    let mapping = dir.join("contacts.toml");
    std::fs::write(
        &mapping,
        "name = \"contacts\"\n[source]\npath = \"contacts.csv\"\nkey = \"Code\"\n\
         [target]\nentity = \"contact\"\norigin = \"legacy\"\n[fields]\nname = \"Name\"\n",
    )
    .unwrap();
    mapping
}

/// Runs the one step of `mapping` against `portal`; the step's result and report.
async fn run_step(
    mapping: &Path,
    journal: &Path,
    batch: usize,
    portal: Arc<ScriptedPortal>,
) -> (Result<(), Stop>, super::report::StepReport) {
    let opts =
        RunOptions { batch_size: batch, ..RunOptions::new(vec![mapping.to_path_buf()], journal.into(), "t") };
    let mut steps = open_steps(&opts.mappings).unwrap_or_else(|_| panic!("the mapping opens"));
    let mut run_journal = RunJournal::open(&opts).unwrap();
    let reads = Reads::new(portal);
    let progress = Progress::new(false);
    let names = vec!["contacts".to_string()];
    let context = RunContext {
        reads: &reads,
        opts: &opts,
        progress: &progress,
        steps: &names,
        schema: None,
        sample: None,
    };
    let (mut runner, rows) = StepRunner::new(steps.remove(0), 0, &mut run_journal, context).unwrap();
    let result = runner.run(rows).await;
    (result, runner.take_report())
}

/// Every row of the step as the journal holds it: key -> (state, portal ID, error code).
fn rows_of(journal: &Path) -> Vec<(String, RowState, Option<u64>, Option<String>)> {
    let j = Journal::open_read_only(journal).unwrap();
    let step = j.steps().unwrap().remove(0).id;
    let mut out = Vec::new();
    for state in [RowState::Pending, RowState::Sent, RowState::Done, RowState::Rejected, RowState::Unknown] {
        for r in j.rows_in_state(step, state).unwrap() {
            out.push((r.key.clone(), r.state, r.portal_id, r.error_code.clone()));
        }
    }
    out.sort_by_key(|(k, ..)| k[1..].parse::<u32>().unwrap_or(0));
    out
}

fn seen(commands: usize) -> Seen {
    Seen { commands, alone: false }
}

#[tokio::test]
async fn not_run_lost_too_large_and_refused_answers_each_land_once_in_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = contacts(dir.path(), 10);
    let journal = dir.path().join("j.sqlite");
    // Requests: [C1..C4] [C5..C8] [C9 C10] -> split [C9] [C10]; then C2 again.
    let portal = Arc::new(ScriptedPortal::new(vec![
        Scripted::NotRun(vec![1]),  // C2 did not run: pending, sent again at the end
        Scripted::LostAfterRun,     // C5..C8 created, answer lost: unknown, then found by key
        Scripted::TooLargeAbove(1), // 413: back to pending, sent again in halves
        Scripted::Refuse(0, "ERROR_CORE"),
        Scripted::Run,
    ]));
    let (result, report) = run_step(&mapping, &journal, 4, portal.clone()).await;
    assert!(result.is_ok());
    assert_eq!(portal.requests(), vec![seen(4), seen(4), seen(2), seen(1), seen(1), seen(1)]);
    let rows = rows_of(&journal);
    let done: Vec<&str> = rows.iter().filter(|r| r.1 == RowState::Done).map(|r| r.0.as_str()).collect();
    assert_eq!(done, ["C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C10"]);
    let rejected: Vec<_> = rows.iter().filter(|r| r.1 == RowState::Rejected).collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!((rejected[0].0.as_str(), rejected[0].3.as_deref()), ("C9", Some("ERROR_CORE")));
    // Each row's item exists once, and the journal holds its ID.
    let items = portal.items();
    assert_eq!(items.len(), 9, "no row was created twice: {items:?}");
    for (key, state, id, _) in &rows {
        if *state == RowState::Done {
            let made = items.iter().find(|(_, _, k)| k == key).map(|(id, ..)| *id);
            assert_eq!(*id, made, "{key}");
        }
    }
    assert_eq!((report.created, report.rejected), (9, 1));
}

#[tokio::test]
async fn a_row_too_large_even_alone_is_rejected_too_large_and_a_lost_request_is_not_resent_blindly() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = contacts(dir.path(), 3);
    let journal = dir.path().join("j.sqlite");
    let portal = Arc::new(ScriptedPortal::new(vec![
        Scripted::LostBeforeRun, // [C1] lost before the portal saw it: unknown, absent, resent
        Scripted::TooLargeAbove(0), // [C2]: 413 as a batch
        Scripted::TooLargeAbove(0), // [C2] alone: 413 again -> too_large
    ]));
    let (result, _) = run_step(&mapping, &journal, 1, portal.clone()).await;
    assert!(result.is_ok());
    let rows = rows_of(&journal);
    let states: Vec<(&str, RowState, Option<&str>)> =
        rows.iter().map(|r| (r.0.as_str(), r.1, r.3.as_deref())).collect();
    assert_eq!(
        states,
        [
            ("C1", RowState::Done, None),
            ("C2", RowState::Rejected, Some("too_large")),
            ("C3", RowState::Done, None)
        ]
    );
    let requests = portal.requests();
    assert_eq!(requests[1..3], [seen(1), Seen { commands: 1, alone: true }]);
    // C1 was looked up (absent) before it was sent again: created once.
    assert_eq!(portal.items().iter().filter(|(_, _, k)| k == "C1").count(), 1);
}

#[tokio::test]
async fn a_fatal_answer_stops_the_step_and_leaves_its_rows_pending_and_the_next_run_finishes_them() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = contacts(dir.path(), 6);
    let journal = dir.path().join("j.sqlite");
    let portal = Arc::new(ScriptedPortal::new(vec![Scripted::Run, Scripted::Fatal]));
    let (result, _) = run_step(&mapping, &journal, 2, portal.clone()).await;
    assert!(matches!(result, Err(Stop::Portal(e)) if e.is_fatal()));
    let rows = rows_of(&journal);
    let states: Vec<(&str, RowState)> = rows.iter().map(|r| (r.0.as_str(), r.1)).collect();
    assert_eq!(
        states,
        [
            ("C1", RowState::Done),
            ("C2", RowState::Done),
            ("C3", RowState::Pending),
            ("C4", RowState::Pending)
        ]
    );
    // The next run, on the same journal and portal, sends only what is left.
    let (result, report) = run_step(&mapping, &journal, 2, portal.clone()).await;
    assert!(result.is_ok());
    assert_eq!(report.created, 4);
    assert_eq!(portal.items().len(), 6);
    assert!(rows_of(&journal).iter().all(|r| r.1 == RowState::Done));
}

#[tokio::test]
async fn with_requests_in_flight_every_answer_lands_before_the_step_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = contacts(dir.path(), 40);
    let journal = dir.path().join("j.sqlite");
    let script =
        (0..10).map(|i| if i % 3 == 1 { Scripted::NotRun(vec![0, 2]) } else { Scripted::Run }).collect();
    let portal = Arc::new(ScriptedPortal::new(script).with_in_flight(4));
    let (result, report) = run_step(&mapping, &journal, 5, portal.clone()).await;
    assert!(result.is_ok());
    assert_eq!(report.created, 40);
    assert_eq!(portal.items().len(), 40);
    assert!(rows_of(&journal).iter().all(|r| r.1 == RowState::Done && r.2.is_some()));
}
