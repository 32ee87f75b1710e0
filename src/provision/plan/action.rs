//! The writes provision makes ([`Action`], one request each): what each says in the plan's
//! listing, and how the same write asked by two steps becomes one ([`Action::absorb`]).
//!
//! Owns: the actions and their descriptions. Must not decide which actions a step needs (that
//! is [`super::plan`]) nor send them (that is `provision::apply`).

use super::Owner;
use crate::mapping::CreatePlan;
use crate::schema::normalize;

/// One write provision makes (one request).
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `crm.type.add` with the flags its fields need switched on at once.
    CreateType { title: String, flags: Vec<&'static str> },
    /// `crm.type.update` sending only these flags, each `"Y"`.
    SwitchFlags { type_id: u64, title: String, flags: Vec<&'static str> },
    /// `crm.automatedsolution.add` with these smart-process type ids.
    CreateWorkspace { title: String, type_ids: Vec<u64> },
    /// `crm.automatedsolution.update`: `typeIds` = `keep` (the types it holds) + `add`.
    AddToWorkspace { workspace_id: u64, title: String, keep: Vec<u64>, add: Vec<u64> },
    /// `crm.<entity>.userfield.add` / `userfieldconfig.add`, with its first list values.
    CreateField { owner: Owner, field: String, create: CreatePlan, values: Vec<String> },
    /// `crm.<entity>.userfield.update` / `userfieldconfig.update` adding list values
    /// (`userfieldconfig.update` deletes the items its `enum` leaves out: `apply` reads the
    /// field's items with `userfieldconfig.get` right before and resends every one of them).
    AddValues { owner: Owner, field_id: u64, field: String, values: Vec<String> },
    /// `crm.status.add`: a status of directory `entity_id` (a stage: in progress).
    AddStatus {
        entity_id: String,
        status_id: String,
        name: String,
        /// Its place among the stages ([`super::codes::stage_sort`]); `None` sends no `SORT`.
        sort: Option<i64>,
    },
    /// `crm.category.add`: a pipeline of entity type `entity_type_id`.
    AddCategory { entity_type_id: u32, name: String },
}

impl Action {
    /// Whether it creates something (`creates`) or changes what exists (`changes`).
    pub fn verb(&self) -> &'static str {
        match self {
            Action::SwitchFlags { .. } | Action::AddToWorkspace { .. } | Action::AddValues { .. } => {
                "changes"
            }
            _ => "creates",
        }
    }

    /// What it does, as the report shows it.
    pub fn describe(&self) -> String {
        let list = |v: &[String]| v.iter().map(|l| format!("\"{l}\"")).collect::<Vec<_>>().join(", ");
        match self {
            Action::CreateType { title, flags } if flags.is_empty() => format!("smart process \"{title}\""),
            Action::CreateType { title, flags } => {
                format!("smart process \"{title}\" with {} on", flags.join(", "))
            }
            Action::SwitchFlags { title, flags, .. } => {
                format!("smart process \"{title}\": switches on {}", flags.join(", "))
            }
            Action::CreateWorkspace { title, .. } => {
                format!("digital workspace \"{title}\" holding the smart process")
            }
            Action::AddToWorkspace { title, .. } => {
                format!("digital workspace \"{title}\": adds the smart process to it")
            }
            Action::CreateField { field, create, values, .. } => {
                let mut s = format!("field `{field}` ({} \"{}\"", create.kind.as_str(), create.label);
                if create.multiple {
                    s.push_str(", multiple");
                }
                if create.required {
                    s.push_str(", required");
                }
                s.push(')');
                if !values.is_empty() {
                    s.push_str(&format!(" with the values {}", list(values)));
                }
                s
            }
            Action::AddValues { field, values, .. } => {
                format!("field `{field}`: adds {} to its list", list(values))
            }
            Action::AddStatus { entity_id, status_id, name, .. } => {
                format!("status \"{name}\" ({status_id}) in {entity_id}")
            }
            Action::AddCategory { entity_type_id, name } => {
                format!("pipeline \"{name}\" of entity type {entity_type_id}")
            }
        }
    }

    /// Folds `other` into `self` when both are the same write (same type, workspace, field,
    /// status or pipeline); returns whether it did.
    pub(super) fn absorb(&mut self, other: &Action) -> bool {
        fn union<T: Clone + PartialEq>(into: &mut Vec<T>, from: &[T]) {
            for x in from {
                if !into.contains(x) {
                    into.push(x.clone());
                }
            }
        }
        fn union_labels(into: &mut Vec<String>, from: &[String]) {
            for x in from {
                if !into.iter().any(|l| normalize(l) == normalize(x)) {
                    into.push(x.clone());
                }
            }
        }
        match (self, other) {
            (Action::CreateType { title, flags }, Action::CreateType { title: t, flags: f })
                if normalize(title) == normalize(t) =>
            {
                union(flags, f);
                true
            }
            (
                Action::SwitchFlags { type_id, flags, .. },
                Action::SwitchFlags { type_id: t, flags: f, .. },
            ) if type_id == t => {
                union(flags, f);
                true
            }
            (
                Action::CreateWorkspace { title, type_ids },
                Action::CreateWorkspace { title: t, type_ids: i },
            ) if normalize(title) == normalize(t) => {
                union(type_ids, i);
                true
            }
            (
                Action::AddToWorkspace { workspace_id, add, .. },
                Action::AddToWorkspace { workspace_id: w, add: a, .. },
            ) if workspace_id == w => {
                union(add, a);
                true
            }
            (
                Action::CreateField { owner, field, values, .. },
                Action::CreateField { owner: o, field: f, values: v, .. },
            ) if owner == o && field.eq_ignore_ascii_case(f) => {
                union_labels(values, v);
                true
            }
            (
                Action::AddValues { owner, field_id, values, .. },
                Action::AddValues { owner: o, field_id: f, values: v, .. },
            ) if owner == o && field_id == f => {
                union_labels(values, v);
                true
            }
            (Action::AddStatus { entity_id, name, .. }, Action::AddStatus { entity_id: e, name: n, .. }) => {
                entity_id == e && normalize(name) == normalize(n)
            }
            (
                Action::AddCategory { entity_type_id, name },
                Action::AddCategory { entity_type_id: e, name: n },
            ) => entity_type_id == e && normalize(name) == normalize(n),
            _ => false,
        }
    }
}
