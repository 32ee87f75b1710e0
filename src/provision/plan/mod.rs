//! The pure half of `provision`: the gaps the pre-flight found -> the writes that close them.
//!
//! Owns: [`plan`] (per step, what exists, what it creates or changes, and what must wait for an
//! earlier write), the merging of the same write asked by several steps (one smart process, one
//! workspace, one list value, written once), and the codes provision invents: the stable
//! `XML_ID` of a new list item ([`xml_id`]) and the `STATUS_ID` of a new stage or status
//! ([`status_id`]). Must not do I/O: `apply` sends what this decides.
//!
//! Decisions the issue leaves open, written down here:
//! - What depends on a smart process that does not exist yet (its custom fields, their values,
//!   its stages and categories, its workspace) is a [`StepPlan::later`] line: provision creates
//!   the type, reads the schema again and plans the rest with the real type id.
//! - Stages whose rows name a pipeline that provision is about to create wait for it the same
//!   way (otherwise they would land in the default pipeline).
//! - Gaps provision cannot fix (an unknown field, a read-only one...) are listed per step as
//!   [`StepPlan::left`]; they are `validate --online`'s to explain and do not stop provision.
//!
//! Split by role: this file (the per-step planning and the merged [`Plan`]), `action` (the
//! writes and their merging), `codes` (field names, `XML_ID`s, `STATUS_ID`s); `tests`.

mod action;
mod codes;

pub use action::Action;
use codes::stage_prefix;
pub use codes::{status_id, upper_field_name, xml_id};

use std::collections::BTreeSet;

use crate::mapping::{Entity, MappingPlan};
use crate::schema::{Gap, ListRef, PortalSchema, Refusal, normalize};

/// One step as the planner sees it.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    pub name: &'a str,
    pub plan: &'a MappingPlan,
    pub gaps: &'a [Gap],
}

/// Where a custom field lives, which decides the methods that create and complete it (the
/// portal's table, in `bitrix`).
pub use crate::bitrix::entity::FieldOwner as Owner;

/// The owner of entity type `etid`'s custom fields (`None`: a smart process the schema does
/// not know).
fn owner_of(etid: u32, schema: &PortalSchema) -> Option<Owner> {
    Owner::of(etid, || schema.smart_process_by_type(etid).map(|t| t.id))
}

/// What provision found and will do for one step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepPlan {
    pub name: String,
    /// What the step needs that the portal has already.
    pub exists: Vec<String>,
    /// Indices into [`Plan::actions`] (a write several steps need is listed under each).
    pub actions: Vec<usize>,
    /// What waits for an earlier write of this run (the smart process, a pipeline).
    pub later: Vec<String>,
    /// Gaps provision does not fix (`validate --online` explains them).
    pub left: Vec<String>,
}

/// Every write of one round, merged, and each step's share.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub steps: Vec<StepPlan>,
    pub actions: Vec<Action>,
    /// Reads the portal refused, once per method.
    pub unread: Vec<Refusal>,
}

impl Plan {
    /// Nothing to write and nothing waiting.
    pub fn is_done(&self) -> bool {
        self.actions.is_empty() && self.steps.iter().all(|s| s.later.is_empty())
    }

    fn push(&mut self, step: usize, action: Action) {
        let index = match self.actions.iter_mut().position(|a| a.absorb(&action)) {
            Some(i) => i,
            None => {
                self.actions.push(action);
                self.actions.len() - 1
            }
        };
        if !self.steps[step].actions.contains(&index) {
            self.steps[step].actions.push(index);
        }
    }
}

/// The writes that close every gap provision fixes, per step, merged across steps.
pub fn plan(steps: &[StepInput<'_>], schema: &PortalSchema) -> Plan {
    let mut out = Plan::default();
    for (i, step) in steps.iter().enumerate() {
        out.steps.push(StepPlan { name: step.name.to_string(), ..Default::default() });
        plan_step(&mut out, i, step, schema);
    }
    out
}

fn plan_step(out: &mut Plan, i: usize, step: &StepInput<'_>, schema: &PortalSchema) {
    let p = step.plan;
    let gaps = step.gaps;
    let etid = schema.entity_type_id(p).filter(|id| *id != crate::mapping::compile::UNBOUND_SMART_PROCESS);
    let spa = match (&p.target.smart_process, p.target.entity) {
        (Some(title), _) => schema.smart_process(title),
        (None, Entity::Crm(id)) if !Entity::is_builtin_type_id(id) => schema.smart_process_by_type(id),
        _ => None,
    };
    let type_missing = gaps.iter().any(|g| matches!(g, Gap::SmartProcessMissing { .. }));
    // Pipelines created in this round: stages of this step wait for them.
    let adds_categories = gaps.iter().any(|g| {
        matches!(g, Gap::ValuesMissing { list: ListRef::Category { entity_type_id }, add: true, .. } if *entity_type_id != 0)
    });
    let exists = exists_lines(p, gaps, spa);
    out.steps[i].exists = exists;
    for gap in gaps {
        match gap {
            Gap::Unreadable(r) => {
                if !out.unread.contains(r) {
                    out.unread.push(r.clone());
                }
            }
            Gap::SmartProcessMissing { title } => {
                let flags = gaps
                    .iter()
                    .filter_map(|g| match g {
                        Gap::FlagOff { flag, .. } => Some(*flag),
                        _ => None,
                    })
                    .collect();
                out.push(i, Action::CreateType { title: title.clone(), flags });
                if let Some(ws) = &p.target.provision.workspace {
                    let what = match schema.workspace(ws) {
                        Some(_) => format!("digital workspace \"{ws}\": adds the smart process to it"),
                        None => format!("creates the digital workspace \"{ws}\" holding the smart process"),
                    };
                    out.steps[i].later.push(format!("{what} (once the smart process exists)"));
                }
            }
            Gap::WorkspaceMissing { title } if !type_missing => {
                let type_ids = spa.map(|t| vec![t.id]).unwrap_or_default();
                out.push(i, Action::CreateWorkspace { title: title.clone(), type_ids });
            }
            Gap::NotInWorkspace { workspace, workspace_id, type_id: Some(type_id) } => {
                let keep = schema
                    .workspaces
                    .iter()
                    .find(|w| w.id == *workspace_id)
                    .map(|w| w.type_ids.clone())
                    .unwrap_or_default();
                out.push(
                    i,
                    Action::AddToWorkspace {
                        workspace_id: *workspace_id,
                        title: workspace.clone(),
                        keep,
                        add: vec![*type_id],
                    },
                );
            }
            Gap::FlagOff { flag, .. } if !type_missing => {
                if let Some(t) = spa {
                    out.push(
                        i,
                        Action::SwitchFlags { type_id: t.id, title: t.title.clone(), flags: vec![*flag] },
                    );
                }
            }
            Gap::FieldMissing { field, create } => {
                match etid.and_then(|e| owner_of(e, schema)).filter(|_| !type_missing) {
                    Some(owner) => out.push(
                        i,
                        Action::CreateField {
                            owner,
                            field: upper_field_name(field),
                            create: create.clone(),
                            values: Vec::new(),
                        },
                    ),
                    None => out.steps[i].later.push(format!(
                        "creates field `{field}` ({} \"{}\") once the smart process exists",
                        create.kind.as_str(),
                        create.label
                    )),
                }
            }
            Gap::ValuesMissing { field, list, labels, add: true } if gap.provision_fixes() => {
                values_missing(out, i, field, list, labels, etid, schema, type_missing, adds_categories);
            }
            // Folded into crm.type.add, or waiting for the type.
            Gap::WorkspaceMissing { .. } | Gap::FlagOff { .. } => {}
            other => out.steps[i].left.push(other.to_string()),
        }
    }
}

#[allow(clippy::too_many_arguments)] // one gap's context; a struct would only rename the list
fn values_missing(
    out: &mut Plan,
    i: usize,
    field: &str,
    list: &ListRef,
    labels: &[String],
    etid: Option<u32>,
    schema: &PortalSchema,
    type_missing: bool,
    adds_categories: bool,
) {
    let quoted = labels.iter().map(|l| format!("\"{l}\"")).collect::<Vec<_>>().join(", ");
    let later = |out: &mut Plan, after: &str| {
        out.steps[i].later.push(format!("field `{field}`: adds {quoted} {after}"));
    };
    match list {
        _ if type_missing => later(out, "once the smart process exists"),
        ListRef::CustomField { upper_name, field_id: None } => {
            // The field is created in this round: its values go with it.
            let owner = etid.and_then(|e| owner_of(e, schema));
            match owner {
                Some(owner) => {
                    let name = upper_field_name(if upper_name.is_empty() { field } else { upper_name });
                    let create = out.actions.iter_mut().find(|a| {
                        matches!(a, Action::CreateField { owner: o, field: f, .. } if *o == owner && f.eq_ignore_ascii_case(&name))
                    });
                    match create {
                        Some(Action::CreateField { values, .. }) => {
                            for l in labels {
                                if !values.iter().any(|v| normalize(v) == normalize(l)) {
                                    values.push(l.clone());
                                }
                            }
                        }
                        _ => later(out, "once the field exists"),
                    }
                }
                None => later(out, "once the field exists"),
            }
        }
        ListRef::CustomField { upper_name, field_id: Some(id) } => {
            let Some(owner) = etid.and_then(|e| owner_of(e, schema)) else {
                return later(out, "once the smart process exists");
            };
            out.push(
                i,
                Action::AddValues {
                    owner,
                    field_id: *id,
                    field: upper_name.clone(),
                    values: labels.to_vec(),
                },
            );
        }
        ListRef::Status { entity_id, .. } if entity_id.is_empty() => {
            later(out, "once the smart process exists")
        }
        ListRef::Status { .. } if field == "stageId" && adds_categories => {
            later(out, "once the pipelines the rows name exist")
        }
        ListRef::Status { entity_id, .. } => {
            let mut taken: BTreeSet<String> =
                schema.statuses_of(entity_id).map(|s| s.status_id.clone()).collect();
            let prefix = stage_prefix(schema, entity_id);
            for (n, l) in labels.iter().enumerate() {
                let status_id = status_id(&prefix, l, &taken);
                taken.insert(status_id.clone());
                let sort = codes::stage_sort(schema.statuses_of(entity_id), n);
                out.push(
                    i,
                    Action::AddStatus { entity_id: entity_id.clone(), status_id, name: l.clone(), sort },
                );
            }
        }
        ListRef::Category { entity_type_id } if *entity_type_id == 0 => {
            later(out, "once the smart process exists")
        }
        ListRef::Category { entity_type_id } => {
            for l in labels {
                out.push(i, Action::AddCategory { entity_type_id: *entity_type_id, name: l.clone() });
            }
        }
        ListRef::Currency => {}
    }
}

/// What the step needs that is there already: the smart process, its workspace, the flags on,
/// the fields it would create, the lists it would complete.
fn exists_lines(p: &MappingPlan, gaps: &[Gap], spa: Option<&crate::schema::SmartProcess>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = spa {
        out.push(format!("smart process \"{}\" (entityTypeId {}, id {})", t.title, t.entity_type_id, t.id));
        if let Some(ws) = &p.target.provision.workspace
            && !gaps.iter().any(|g| matches!(g, Gap::WorkspaceMissing { .. } | Gap::NotInWorkspace { .. }))
        {
            out.push(format!("digital workspace \"{ws}\" holding it"));
        }
        let mut on: Vec<&str> =
            p.fields.iter().filter_map(|f| crate::mapping::spa::flag_for_field(&f.name)).collect();
        on.extend(p.target.provision.flags.iter().copied());
        on.sort_unstable();
        on.dedup();
        on.retain(|f| t.flag(f));
        if !on.is_empty() {
            out.push(format!("flags on: {}", on.join(", ")));
        }
    }
    // A field can exist only on an entity that exists.
    let entity_exists =
        spa.is_some() || matches!(p.target.entity, Entity::Crm(id) if Entity::is_builtin_type_id(id));
    for f in &p.fields {
        let missing = gaps.iter().any(|g| g.field() == Some(f.name.as_str()));
        if f.create.is_some() && !missing && entity_exists {
            out.push(format!("field `{}`", f.name));
        } else if f.add_missing_values && !missing {
            out.push(format!("field `{}`: its list holds every label the rows use", f.name));
        }
    }
    out
}

#[cfg(test)]
mod tests;
