//! The Bitrix24 portal as the importer knows it: the importer's only copy of the portal's facts.
//!
//! Owns: every REST method the product calls ([`Method`]: reads, writes, set-up), one call as
//! a method and its parameters ([`Call`]), the entity tables ([`entity`]: entityTypeIds, the
//! short codes of the entities with their own methods, who owns an entity's custom fields, the
//! names of stage directories) and the one reader of the IDs and counts in the portal's answers
//! ([`json::id`]). Facts: `docs/portal-protocol.md`.
//!
//! Must not: do I/O, know about mappings, rows or the journal (those stages use these facts,
//! not the other way round). The sandbox (the package `sandbox/`) keeps its own copy of these facts on
//! purpose (it follows the portal, not this code) and must not import this module.

pub mod entity;
pub mod json;
pub mod method;

pub use method::{Call, Method};
