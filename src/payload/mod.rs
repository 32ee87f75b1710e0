//! Payloads: pure functions from a mapped row to the exact JSON a portal method receives.
