//! The sandbox portal as a black box over real HTTP: auth, `batch`, `crm.item.*`, duplicate
//! search, the set-up methods (with every request example of their reference pages replayed),
//! faults, the rate and operating-time limits, the time model, and `--state` persistence.
#![cfg(feature = "sandbox")] // runs against the embedded sandbox portal

#[path = "../common/mod.rs"]
mod common;
#[path = "../sandbox_common/mod.rs"]
mod sandbox_common;

mod sandbox_auth;
mod sandbox_batch;
mod sandbox_duplicate;
mod sandbox_faults;
mod sandbox_items;
mod sandbox_limits;
mod sandbox_persist;
mod sandbox_schema;
mod sandbox_seed_replay;
mod sandbox_setup;
mod sandbox_time;
