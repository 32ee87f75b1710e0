//! The sandbox portal as a black box over real HTTP: auth, `batch`, `crm.item.*`, duplicate
//! search, the set-up methods (with every request example of their reference pages replayed),
//! faults, the rate and operating-time limits and the time model; the replay of every documented
//! case of the method pages (`replay.rs`, cases in `replay/*.toml`), the requests three client
//! libraries send (`sdk_requests.rs`) and the package's binary `b24-sandbox serve`
//! (`serve_binary.rs`). `--state` persistence with the `b24import sandbox` command line is the
//! importer's `tests/sandbox/` (it runs the importer's binary).

#[path = "../common/mod.rs"]
mod sandbox_common;

// History (issue 19): import, timeline comments, activities, deletes.
mod history;
// The whole record (issue 20): product rows, products, requisites, bank details, addresses.
mod record;
mod replay;
mod sandbox_access;
mod sandbox_auth;
mod sandbox_batch;
mod sandbox_duplicate;
mod sandbox_faults;
mod sandbox_items;
mod sandbox_items_strict;
mod sandbox_limits;
mod sandbox_lists;
mod sandbox_schema;
mod sandbox_seed_replay;
mod sandbox_setup;
mod sandbox_strict_setup;
mod sandbox_time;
mod sdk_requests;
mod serve_binary;
