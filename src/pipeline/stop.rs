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

/// What a step's stop means for the loop over steps (run and undo alike).
pub(super) enum StepEnd {
    /// The step finished: on to the next.
    Next,
    /// Ctrl-C / SIGTERM (between rows, or reaching the transport in a wait or a request: not a
    /// portal failure): exit 130.
    Interrupted,
    /// The portal cannot be used: exit 3.
    Stopped(super::report::Stopped),
    /// The journal cannot record: exit 4.
    Journal(JournalError),
}

impl StepEnd {
    pub(super) fn of(result: Result<(), Stop>) -> StepEnd {
        match result {
            Ok(()) => StepEnd::Next,
            Err(Stop::Portal(e)) if e.is_interrupted() => StepEnd::Interrupted,
            Err(Stop::Portal(e)) => StepEnd::Stopped(e.into()),
            Err(Stop::Interrupted) => StepEnd::Interrupted,
            Err(Stop::Journal(e)) => StepEnd::Journal(e),
        }
    }
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
