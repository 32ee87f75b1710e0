//! Preparing the portal: the schema read, `validate --online`, `b24import provision` (dry runs,
//! custom-field names, faults and kills) and what stops a run on the schema, against the
//! in-process sandbox portal.
#![cfg(feature = "sandbox")] // runs against the embedded sandbox portal

#[path = "../cli_support/mod.rs"]
mod cli_support;
#[path = "../common/mod.rs"]
mod common;

mod provision_faults;
mod provision_sandbox;
mod provision_uf_names;
mod schema_read;
mod schema_run;
mod schema_stops;
mod schema_validate_online;
