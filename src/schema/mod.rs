//! The portal's schema as a run needs it, read-only: which smart processes and workspaces
//! exist, each step's fields (types, read-only, required, multiple, list items, status
//! directories), custom fields, statuses, categories and currencies.
//!
//! Owns: reading it in a few batched requests ([`PortalSchema::read`], in `read`), the plain
//! data ([`model`]), the pure comparison of a step's mapping with it ([`compare`] -> [`Gap`]s,
//! each saying whether `b24import provision` fixes it), and labels -> IDs ([`labels`]: the
//! matching rule, the labels the rows use, and the run's per-step [`LabelBook`]). Must not
//! write to the portal (that is `provision`'s) and must not know the journal.
//!
//! | file | one job |
//! |---|---|
//! | `model` | [`PortalSchema`] and its parts, parsed tolerantly from the portal's rows |
//! | `read` | the requests: which read methods, packed into `batch`, paged by 50 |
//! | `gap` | [`compare`]: a step's mapping against the schema, as [`Gap`]s |
//! | `needs` | which reads a step needs (a refused one it does not need is a note) |
//! | `labels` | [`choices`], [`UsedLabels`], [`LabelBook`]: labels -> IDs |

mod gap;
pub mod labels;
pub mod model;
mod needs;
mod read;

/// Kept here for the callers that name it with the schema; the fact is `bitrix`'s.
pub use crate::bitrix::entity::stage_directory;
pub use gap::{Gap, compare};
pub use labels::{CategoryRef, Choices, LabelBook, ListRef, UnknownLabel, UsedLabels, choices, normalize};
pub use model::{
    Category, Currency, CustomField, EntitySchema, ListItem, PortalField, PortalSchema, Refusal,
    SmartProcess, Status, Workspace,
};

use crate::transport::TransportError;

/// Why the schema could not be read at all (a refused single read is a [`Gap::Unreadable`]).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The portal cannot be used (unreachable, credentials refused, gave up).
    #[error("{0}")]
    Transport(TransportError),
    /// The portal refused the `batch` request itself.
    #[error("the portal refused the schema read ({method}): {code}: {description}")]
    Refused { method: String, code: String, description: String },
    /// An answer that cannot be read as a batch answer.
    #[error(
        "the portal's answer to the schema read cannot be understood: {0}; is the URL a Bitrix24 REST endpoint?"
    )]
    Answer(String),
}
