//! The only place that knows every stage: wiring, concurrency, shutdown, progress.
//!
//! Owns: the order of a run (its steps, each step's phases) and every decision about a row
//! (admit, resolve, duplicate check, reconcile, what its fate becomes in the journal). Must
//! not: build HTTP requests or retry them (`transport`), pack or resend requests (`portal`),
//! write SQL (`journal`, through the ledger), or know TOML (`mapping`).
//!
//! [`prepare`] turns one mapping's source rows into commands or row problems (used offline by
//! `validate` and by the run); [`run()`](fn@run) lands prepared rows in a portal, recording every
//! row's fate in the journal. Every request a step writes with goes through the step's one
//! [`Dispatcher`](crate::portal::Dispatcher) (its rows, the duplicates settled at its end, the
//! rows its reconciliation found absent), every read through [`Reads`](crate::portal::Reads).
//! The run is split by role:
//!
//! | file | one job |
//! |---|---|
//! | [`run`](mod@run) | `run()`: open the steps, check them, loop over them, begin and finish the journal run |
//! | `job` | what a run is asked to do ([`RunOptions`]), why it cannot proceed ([`RunError`]), the names it gives rows and steps in the journal |
//! | `stop` | why a step stops before its end |
//! | [`steps`] | opening the steps of a job and the checks between them (shared by `validate` and `run`) |
//! | `step` | one step's order of work: the sequencer of its components |
//! | `core` | what every component of a step works on (plan, journal side, portal, report) and the types they pass each other |
//! | `import_check` | the pre-flight of import steps: the permission, an administrator, no newer item in the portal |
//! | `attached` | what comments and activities need from the portal: a comment found by its text, an activity's communications |
//! | `admit` | the pure per-row decision: skip / reject / create / update / look up first |
//! | `rows` | carrying that decision out (journal records, the look-up-first queue) |
//! | `ledger` | the journal side of a run and a step; a dry run is a variant, not a flag |
//! | `send` | the step's journal bracket of the send loop: each row's fate -> its journal record and the report (incl. "user already exists", `too_large`) |
//! | `resolve` | lookups and user IDs for deferred fields |
//! | `portal` | read-only queries of the portal (items and users by key, field lists), under [`crate::portal::Reads`] |
//! | `reconcile` | finding rows with an unknown outcome in the portal by key |
//! | [`report`] | the run and step reports and the ideal-time arithmetic |
//! | [`progress`] | bars or log lines, drawn from a snapshot value |
//! | [`upsert`] | what changed in a row since it was last sent |
//! | `comm` | a phone or e-mail as the portal's duplicate search compares it; `fm` additions by that rule |
//! | `step_tests` | the step's run loop driven through a scripted portal, checked in the journal |
//! | [`duplicates`] | duplicate control against the portal's items: packing, attribution, the per-row decision |
//! | `matching` | carrying the duplicate check out (asking, reading, recording, within-source rows) |
//! | [`parents`] | attached steps (comments, activities) bound to their parent step and its entity |
//! | `order` | an import step's rows staged and drained oldest first (`method = "import"`) |
//! | [`sample`] | `run --sample` (issue 21): which rows a sample takes, a consistent slice across steps |
//! | [`undo`] | `undo` (issue 21): what a run created, deleted in reverse step order; the one match on a step's kind |
//! | `undo_send` | undo's journal bracket of the send loop: each delete's fate -> `undone`, `done` again, or checked by ID |

mod admit;
mod attached;
pub mod catalogue;
mod comm;
mod core;
pub mod duplicates;
mod early;
mod import_check;
mod job;
mod ledger;
mod matching;
mod order;
pub mod parents;
mod portal;
pub mod prepare;
mod products;
pub mod progress;
mod reconcile;
// The whole record (issue 20): presets, records found by XML_ID, immutable fields.
pub mod record;
pub mod report;
mod resolve;
mod rows;
pub mod run;
mod send;
mod step;
#[cfg(test)]
mod step_tests;
pub mod steps;
mod stop;
pub mod upsert;
// Issue 21: undo (what a run created, deleted through the one send loop).
pub mod sample;
pub mod undo;
mod undo_send;

pub use duplicates::DuplicateFigures;
pub use prepare::{Prepare, Prepared, Step, StepError, load_mapping};
pub use report::{PlanRate, RunReport, StepReport, Stopped};
pub use run::{RunError, RunOptions, run};
pub use steps::{OpenError, check_job, open_steps};
