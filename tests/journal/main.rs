//! After a run: `b24import status` and `rejects` read the journal, one run holds it at a time,
//! files that are not journals are refused, and no row data is ever written into it.

#[path = "../cli_support/mod.rs"]
mod cli_support;
#[cfg(feature = "sandbox")] // runs against the embedded sandbox portal
#[path = "../common/mod.rs"]
mod common;

#[cfg(feature = "sandbox")] // runs against the embedded sandbox portal
mod cli_rejects;
mod cli_status;
#[cfg(feature = "sandbox")] // runs against the embedded sandbox portal
mod journal_cli;
#[cfg(feature = "sandbox")] // runs against the embedded sandbox portal
mod journal_contents;
#[cfg(feature = "sandbox")] // runs against the embedded sandbox portal
mod row_keys;
