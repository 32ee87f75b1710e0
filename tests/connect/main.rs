//! Connecting to the portal: the transport's exact exchanges with a scripted server (batch
//! parsing, limits, ambiguous failures, auth), an unreachable portal, the OAuth path with its
//! token refresh, and credentials masked everywhere the user can see them.

#[path = "../common/mod.rs"]
mod common;

#[cfg(feature = "sandbox")] // runs against the embedded sandbox portal
mod secrets_masking;
#[cfg(feature = "sandbox")] // runs against the embedded sandbox portal
mod secrets_oauth;
mod stops_unreachable;
mod transport_batch;
