//! The sandbox portal with the importer: `--state` persistence across a restart and the
//! `b24import sandbox` command line, and the check that the sandbox's Bitrix24 facts and the
//! importer's agree. The sandbox's own black-box tests are `sandbox/tests/http/`
//! (`cargo test -p b24-sandbox`).
#![cfg(feature = "sandbox")] // runs against the embedded sandbox portal

#[path = "../common/mod.rs"]
mod common;
#[path = "../../sandbox/tests/common/mod.rs"]
mod sandbox_common;

mod facts_agree;
mod sandbox_persist;
