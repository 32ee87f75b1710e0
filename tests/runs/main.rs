//! Running an import: `b24import run` end to end against the in-process sandbox portal. Every
//! row lands exactly once (requests in flight, pacing, duplicate control, 413 splits), under
//! seeded faults and SIGKILLs with a resume, and the run stops when told (SIGINT, SIGTERM).
#![cfg(feature = "sandbox")] // runs against the embedded sandbox portal

#[path = "../cli_support/mod.rs"]
mod cli_support;
#[path = "../common/mod.rs"]
mod common;

mod cli_output;
mod cli_run;
mod contact_photo;
mod crash_matrix;
mod deploy_recipes; // issue 23: the deploy/ recipes
mod duplicates_portal_rule;
mod duplicates_run;
mod early_reconcile; // issue 23: unknown rows looked up while the step sends
mod exactly_once;
mod flight_pacing;
mod flight_requests;
mod history_attached;
mod history_import;
mod job_file; // issue 23: run --job-file
mod plan_limits;
mod record_links;
// Issue 20: product rows.
mod record_products;
mod record_requisites;
mod ride_along;
mod run_e2e;
mod shared_bucket;
mod shared_pace; // issue 23: one pace per portal on this host
mod stops_signals;
mod stops_too_large;
mod time_models;
// Issue 21.
mod sample;
mod undo;
mod undo_attached;
