//! The only place that knows every stage: wiring, concurrency, shutdown, progress.
//!
//! [`prepare`] turns one mapping's source rows into commands or row problems (used offline by
//! `validate` and by the run); [`run`] lands prepared rows in a portal through the transport,
//! recording every row's fate in the journal.

mod admit;
mod ledger;
mod portal;
pub mod prepare;
pub mod progress;
mod reconcile;
pub mod report;
mod resolve;
mod rows;
pub mod run;
mod send;
mod step;
pub mod steps;
pub mod upsert;

pub use prepare::{Prepare, Prepared, Step, StepError, load_mapping};
pub use report::{PlanRate, RunReport, StepReport, Stopped};
pub use run::{RunError, RunOptions, run};
pub use steps::check_job;
