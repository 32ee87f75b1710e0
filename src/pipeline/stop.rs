//! Why a step (and with it the run) stops before its end.
//!
//! Owns: [`Stop`] and how transport and journal errors become one. Must not: decide what a stop
//! means for the run's report or exit code (`run`'s and the command line's).

use crate::journal::JournalError;
use crate::transport::TransportError;

/// Why a step stopped before its end.
pub(super) enum Stop {
    /// The portal cannot be used (or a signal reached a request or a wait): the run stops.
    Portal(TransportError),
    /// Ctrl-C / SIGTERM seen between rows.
    Interrupted,
    /// The journal cannot record: the run stops (exit 4).
    Journal(JournalError),
}

impl From<TransportError> for Stop {
    fn from(e: TransportError) -> Self {
        Stop::Portal(e)
    }
}

impl From<JournalError> for Stop {
    fn from(e: JournalError) -> Self {
        Stop::Journal(e)
    }
}
