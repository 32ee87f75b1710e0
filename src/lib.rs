//! # b24import: spreadsheets into a Bitrix24 portal
//!
//! A staged pipeline; each stage is a folder and talks to the next through small types:
//!
//! - [`source`] reads CSV (any encoding and delimiter) and spreadsheets (calamine) as a stream
//!   of [`source::Record`]s, each with a [`source::RowRef`] that names the row the way the user
//!   finds it (`contacts.csv:42`, `deals.xlsx:Deals!17`).
//! - [`mapping`] turns a declarative TOML file ([`mapping::MappingSpec`], as written) into a
//!   checked [`mapping::MappingPlan`] (columns resolved to indices, transforms bound) and applies
//!   it to a record, giving a [`mapping::MappedRow`] (values the run must find, such as
//!   lookups, kept apart as [`mapping::Pending`]) or the row's problems, each of a
//!   [`mapping::Problem`] kind. Its [`mapping::entity`] holds what a mapping may target
//!   (entity names, standard fields and their value types, key fields).
//! - [`bitrix`] is the importer's only copy of the portal's facts: every REST method it calls
//!   ([`bitrix::Method`], one call a [`bitrix::Call`]), the entity tables (type ids, short codes,
//!   custom-field owners, stage directories) and the one parser of IDs in answers
//!   ([`bitrix::json::id`]). Every stage that names a method or reads an ID uses it.
//! - [`payload`] builds the exact JSON a portal method receives (`crm.item.add`, `user.add`)
//!   and encodes a command into a `batch` `cmd` string. A row's command is first a
//!   [`payload::Draft`]; only the run, having found its pending IDs, makes it a
//!   [`payload::Command`] that can be sent.
//! - [`transport`] talks to the portal: credentials (webhook or OAuth with refresh), the
//!   request-rate limiter, the operating-time budget, retries and the `batch` call, every error
//!   classified (retry now, retry later, never, outcome unknown).
//! - [`portal`] is the one way to talk to the portal: every write path sends through its
//!   [`portal::Dispatcher`] (packing, requests in flight, resends, 413 splits, the journal
//!   bracket), every read goes through [`portal::Reads`] (one retry rule), and both see the
//!   portal as a [`portal::Portal`] (the transport, or a scripted fake in unit tests).
//! - [`journal`] is the local SQLite record of every run, step and row, so that a run resumes
//!   where it stopped and never blindly resends. Rows are kept under typed keys
//!   ([`journal::RowKey`]: a source key can never be taken for a line number) and change state
//!   only by typed [`journal::Transition`]s, applied in one transaction each; a transition the
//!   row's state does not allow is refused.
//! - [`pipeline`] (a folder of files, one role each) is the only place that knows every stage:
//!   opening and ordering the steps (shared by `validate` and `run`), a step's phases (a
//!   sequencer over components that own their state: admission, the duplicate check, the
//!   unknown rows, the journal bracket of the send loop), progress and the run's report.
//! - [`sandbox`] (cargo feature `sandbox`, on by default) is an embedded emulator of the
//!   Bitrix24 REST API for `demo`, the `sandbox` subcommand, rehearsals and tests: the workspace
//!   package `b24-sandbox` (folder `sandbox/`), re-exported here. It never depends on the
//!   importer, and the importer builds without it (`--no-default-features`).
//! - [`host_state`] is what b24import keeps per user on this host whatever the journal: the
//!   state directory (OAuth refresh tokens) and the lock files by which processes that talk to
//!   one portal take turns (one `provision`, one duplicate check per entity type).
//! - [`cli`] is the command-line edge (the only place that uses `anyhow`).
//!
//! The portal facts all of this relies on are summarised in `docs/portal-protocol.md`.
//!
//! Invariants: `mapping` and `payload` do no I/O except reading file-field contents, and never
//! panic on cell content; a bad row is data (a problem list), never control flow.

pub mod bitrix;
pub mod cli;
pub mod host_state;
pub mod journal;
pub mod mapping;
pub mod payload;
pub mod pipeline;
pub mod portal;
pub mod provision;
// issue 22: the HTML report of a run or a validation.
pub mod report;
#[cfg(feature = "sandbox")]
pub use b24_sandbox as sandbox;
pub mod schema;
pub mod source;
pub mod transport;
