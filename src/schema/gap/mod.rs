//! The pure comparison of one step's mapping with the portal's schema: what the step needs that
//! the portal lacks, as typed [`Gap`]s, each saying whether `b24import provision` can fix it.
//!
//! Owns: [`compare`] and the decisions behind it (written beside each check). Must not read
//! the portal: it takes the [`PortalSchema`](super::PortalSchema) read once and the labels the rows use.
//!
//! Split by role: this file ([`Gap`]: the kinds, their classes and their texts), `compare`
//! (the checks that find them); `tests`.

mod compare;

pub use compare::compare;

use std::fmt;

use super::labels::ListRef;
use super::model::Refusal;
use crate::mapping::CreatePlan;

/// One thing a step needs that the portal lacks.
#[derive(Debug, Clone, PartialEq)]
pub enum Gap {
    /// A read of the schema was refused (rights, unknown method): what depends on it is unknown.
    Unreadable(Refusal),
    /// A refused read of something this step does not need (a currency list without a
    /// currency field, a custom-field list it takes no ID from): a note, not a gap.
    UnreadNotNeeded(Refusal),
    /// Several smart processes (or workspaces) have the title the step names: which one is
    /// meant cannot be known (two provisions at once made both); a person must remove one.
    AmbiguousTitle { what: &'static str, title: String, ids: Vec<u64> },
    /// `smart_process = "<title>"`: no smart process has this title (provision: `crm.type.add`).
    SmartProcessMissing { title: String },
    /// `entity_type_id = N` names no smart process of this portal (provision cannot guess one).
    UnknownEntityType { entity_type_id: u32 },
    /// `[target.provision] workspace`: no workspace has this title
    /// (provision: `crm.automatedsolution.add` with the type).
    WorkspaceMissing { title: String },
    /// The workspace exists but does not hold the smart process (provision: add the type to it).
    NotInWorkspace { workspace: String, workspace_id: u64, type_id: Option<u64> },
    /// A smart-process flag that is off; `fields` are the mapped fields that need it (empty: it
    /// is named in `[target.provision] flags`). While it is off, those fields are absent from
    /// `crm.item.fields` and dropped by the portal (provision: `crm.type.update`).
    FlagOff { flag: &'static str, fields: Vec<String> },
    /// A custom field the portal lacks, with how to create it (provision: `*.userfield.add` /
    /// `userfieldconfig.add`).
    FieldMissing { field: String, create: CreatePlan },
    /// A mapped field the portal does not have and the mapping does not create: the portal would
    /// drop it silently.
    UnknownField { field: String, suggestion: Option<String> },
    /// A mapped field the portal does not let anyone write.
    ReadOnly { field: String },
    /// A field the portal requires that the mapping does not fill.
    RequiredWithoutRule { field: String, title: String },
    /// The mapping sends one value to a multiple field (`portal_multiple`), or an array to a
    /// single one.
    MultipleMismatch { field: String, portal_multiple: bool },
    /// `type = "enum"` on a field that holds no list.
    NotAList { field: String, portal_type: String },
    /// Labels the rows use that the field's list lacks. `add` is the rule's
    /// `add_missing_values`: with it, provision adds them (a custom field's items, stages,
    /// categories, other statuses; never currencies); without it, each row using one is rejected.
    ValuesMissing { field: String, list: ListRef, labels: Vec<String>, add: bool },
}

impl Gap {
    /// Whether `b24import provision` can make this gap go away.
    pub fn provision_fixes(&self) -> bool {
        match self {
            Gap::SmartProcessMissing { .. }
            | Gap::WorkspaceMissing { .. }
            | Gap::NotInWorkspace { .. }
            | Gap::FlagOff { .. }
            | Gap::FieldMissing { .. } => true,
            Gap::ValuesMissing { list, add, .. } => *add && *list != ListRef::Currency,
            Gap::Unreadable(_)
            | Gap::UnreadNotNeeded(_)
            | Gap::AmbiguousTitle { .. }
            | Gap::UnknownEntityType { .. }
            | Gap::UnknownField { .. }
            | Gap::ReadOnly { .. }
            | Gap::RequiredWithoutRule { .. }
            | Gap::MultipleMismatch { .. }
            | Gap::NotAList { .. } => false,
        }
    }

    /// Whether the gap concerns rows rather than the mapping: labels missing from a list that
    /// provision will not add reject only the rows that use them (exit 1, rows in `--rejects`).
    pub fn is_row_level(&self) -> bool {
        matches!(self, Gap::ValuesMissing { .. }) && !self.provision_fixes()
    }

    /// A note only: nothing the step needs is missing.
    pub fn is_note(&self) -> bool {
        matches!(self, Gap::UnreadNotNeeded(_))
    }

    /// What stops a run before it writes and `validate --online` with exit 2: every gap but
    /// notes and labels that reject only their rows.
    pub fn is_blocking(&self) -> bool {
        !self.is_note() && !self.is_row_level()
    }

    /// The mapped field concerned, if any.
    pub fn field(&self) -> Option<&str> {
        match self {
            Gap::FieldMissing { field, .. }
            | Gap::UnknownField { field, .. }
            | Gap::ReadOnly { field }
            | Gap::RequiredWithoutRule { field, .. }
            | Gap::MultipleMismatch { field, .. }
            | Gap::NotAList { field, .. }
            | Gap::ValuesMissing { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = |v: &[String]| v.iter().map(|l| format!("\"{l}\"")).collect::<Vec<_>>().join(", ");
        match self {
            Gap::Unreadable(r) => write!(
                f,
                "could not read the portal's schema with {}: {}: {} (the webhook may lack the rights or scope for it)",
                r.method, r.code, r.description
            ),
            Gap::UnreadNotNeeded(r) => write!(
                f,
                "could not read {} ({}: {}); this step does not need it",
                r.method, r.code, r.description
            ),
            Gap::AmbiguousTitle { what, title, ids } => write!(
                f,
                "the portal has {} {what}es titled \"{title}\" (ids {}); which one is meant cannot be known: \
                 remove or rename all but one in the portal, then run again",
                ids.len(),
                ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            ),
            Gap::SmartProcessMissing { title } => {
                write!(
                    f,
                    "the portal has no smart process titled \"{title}\"; `b24import provision` creates it"
                )
            }
            Gap::UnknownEntityType { entity_type_id } => write!(
                f,
                "entity_type_id {entity_type_id} is not a smart process of this portal; correct it, or name the \
                 smart process by title (smart_process = \"<title>\") so that `b24import provision` can create it"
            ),
            Gap::WorkspaceMissing { title } => write!(
                f,
                "the portal has no digital workspace titled \"{title}\"; `b24import provision` creates it with the smart process"
            ),
            Gap::NotInWorkspace { workspace, .. } => write!(
                f,
                "the smart process is not in the workspace \"{workspace}\"; `b24import provision` adds it"
            ),
            Gap::FlagOff { flag, fields } if fields.is_empty() => {
                write!(
                    f,
                    "smart-process flag {flag} is off ([target.provision] flags); `b24import provision` switches it on"
                )
            }
            Gap::FlagOff { flag, fields } => write!(
                f,
                "field{} {} switched off by the smart-process flag {flag} (the portal drops them); `b24import provision` switches it on",
                if fields.len() > 1 { "s" } else { "" },
                fields.iter().map(|x| format!("`{x}`")).collect::<Vec<_>>().join(", ")
                    + if fields.len() > 1 { " are" } else { " is" }
            ),
            Gap::FieldMissing { field, create } => write!(
                f,
                "field `{field}` does not exist; `b24import provision` creates it ({} \"{}\"{})",
                create.kind.as_str(),
                create.label,
                if create.multiple { ", multiple" } else { "" }
            ),
            Gap::UnknownField { field, suggestion } => {
                write!(
                    f,
                    "field `{field}` is not a field of this entity in the portal; the portal would drop it"
                )?;
                match suggestion {
                    Some(s) => write!(f, " (did you mean `{s}`?)"),
                    None => write!(
                        f,
                        " (add `create = {{ type, label }}` to have `b24import provision` create a custom field)"
                    ),
                }
            }
            Gap::ReadOnly { field } => {
                write!(f, "field `{field}` is read-only in the portal; drop it from [fields]")
            }
            Gap::RequiredWithoutRule { field, title } => write!(
                f,
                "field `{field}` (\"{title}\") is required by the portal but the mapping does not fill it; add a rule for it"
            ),
            Gap::MultipleMismatch { field, portal_multiple: true } => write!(
                f,
                "field `{field}` is multiple in the portal but the mapping sends one value; set `multiple = true`"
            ),
            Gap::MultipleMismatch { field, portal_multiple: false } => write!(
                f,
                "field `{field}` takes one value in the portal but the mapping sends an array; drop `multiple = true`"
            ),
            Gap::NotAList { field, portal_type } => write!(
                f,
                "field `{field}` is a {portal_type} field in the portal, not a list: drop type = \"enum\""
            ),
            Gap::ValuesMissing { field, list, labels, add } => {
                let within = match list {
                    ListRef::Status { category_id: Some(c), .. } => format!(" (pipeline {c})"),
                    _ => String::new(),
                };
                write!(f, "field `{field}`: the portal's list{within} lacks {}", quoted(labels))?;
                if *add && self.provision_fixes() {
                    write!(f, "; `b24import provision` adds them (add_missing_values = true)")
                } else if *list == ListRef::Currency {
                    write!(
                        f,
                        "; rows using them are rejected (currencies are set up in the portal, not by provision)"
                    )
                } else {
                    write!(
                        f,
                        "; rows using them are rejected (set add_missing_values = true and run `b24import provision` to add them)"
                    )
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
