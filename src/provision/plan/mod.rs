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

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::bitrix::entity as bitrix;
use crate::mapping::{CreatePlan, Entity, MappingPlan};
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
    AddStatus { entity_id: String, status_id: String, name: String },
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
            Action::AddStatus { entity_id, status_id, name } => {
                format!("status \"{name}\" ({status_id}) in {entity_id}")
            }
            Action::AddCategory { entity_type_id, name } => {
                format!("pipeline \"{name}\" of entity type {entity_type_id}")
            }
        }
    }

    /// Folds `other` into `self` when both are the same write (same type, workspace, field,
    /// status or pipeline); returns whether it did.
    fn absorb(&mut self, other: &Action) -> bool {
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
            for l in labels {
                let status_id = status_id(&prefix, l, &taken);
                taken.insert(status_id.clone());
                out.push(i, Action::AddStatus { entity_id: entity_id.clone(), status_id, name: l.clone() });
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

/// The `FIELD_NAME` of a custom field as a mapping names it, by the portal's rule
/// ([`crate::mapping::names::upper`]): `UF_CRM_SEGMENT` as is, `ufCrm7Segment` ->
/// `UF_CRM_7_SEGMENT`, `ufCrm_1700000004` -> `UF_CRM_1700000004`.
pub fn upper_field_name(name: &str) -> String {
    crate::mapping::names::upper(name).unwrap_or_else(|| name.to_ascii_uppercase())
}

/// The `XML_ID` provision gives a new list item: `b24i_` and 16 hex digits of the SHA-256 of
/// the normalized value. The same value always gets the same code, so two runs (or two steps)
/// can never add it twice: the portal refuses a second item with a used `XML_ID`.
pub fn xml_id(value: &str) -> String {
    let digest = Sha256::digest(normalize(value).as_bytes());
    format!("b24i_{}", hex::encode(&digest[..8]))
}

/// The prefix of the codes of a status directory: what its statuses share before `:`
/// (`DT1032_5:`, `C3:`), or what the portal uses for a new pipeline's stages
/// (`DYNAMIC_1032_STAGE_5` -> `DT1032_5:`, `DEAL_STAGE_3` -> `C3:`); none for other directories.
fn stage_prefix(schema: &PortalSchema, entity_id: &str) -> String {
    let prefixes: BTreeSet<&str> =
        schema.statuses_of(entity_id).map(|s| s.status_id.split_once(':').map_or("", |(p, _)| p)).collect();
    if prefixes.len() == 1
        && let Some(p) = prefixes.first()
    {
        return if p.is_empty() { String::new() } else { format!("{p}:") };
    }
    bitrix::stage_prefix(entity_id).unwrap_or_default()
}

/// The `STATUS_ID` of a new status named `name`: the prefix, then the name in upper-case
/// `A-Z0-9_` (at most 20 characters), or `B24I_` and a hash when the name has no such
/// characters or the code is taken.
pub fn status_id(prefix: &str, name: &str, taken: &BTreeSet<String>) -> String {
    let mut code = String::new();
    for c in normalize(name).chars() {
        if c.is_ascii_alphanumeric() {
            code.push(c.to_ascii_uppercase());
        } else if !code.ends_with('_') && !code.is_empty() {
            code.push('_');
        }
    }
    let code: String = code.trim_end_matches('_').chars().take(20).collect();
    let hashed = || format!("B24I_{}", &xml_id(name)[5..13].to_ascii_uppercase());
    let first = if code.is_empty() { hashed() } else { code };
    let candidate = format!("{prefix}{first}");
    if !taken.contains(&candidate) {
        return candidate;
    }
    format!("{prefix}{}", hashed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitrix::entity::UfEntity;
    use crate::schema::UsedLabels;
    use crate::schema::{CustomField, EntitySchema, ListItem, SmartProcess, Status, Workspace, compare};
    use std::path::Path;

    fn mapping(target: &str, fields: &str) -> MappingPlan {
        let text = format!(
            "name = \"s\"\n[source]\npath = \"s.csv\"\nkey = \"Code\"\n[target]\n{target}\n[fields]\n{fields}\n"
        );
        let file = crate::mapping::spec::parse(Path::new("s.toml"), text).expect("parses");
        let headers: Vec<String> = ["Code", "Title", "Segment", "Stage", "Pipeline", "Source"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        file.compile(&headers).unwrap_or_else(|d| panic!("{d}"))
    }

    fn used(pairs: &[(&str, &str)]) -> UsedLabels {
        let mut u = UsedLabels::default();
        for (f, l) in pairs {
            u.add_label(f, l, None);
        }
        u
    }

    fn field(name: &str, upper: &str, kind: &str) -> crate::schema::PortalField {
        crate::schema::PortalField {
            name: name.into(),
            upper_name: upper.into(),
            kind: kind.into(),
            title: name.into(),
            ..Default::default()
        }
    }

    /// "Projects" (type id 7, entityTypeId 1032): stages on, source off, not in a workspace;
    /// the workspace "Delivery" holds type 3; contacts have the list field UF_CRM_TIER.
    fn portal() -> PortalSchema {
        let mut spa = EntitySchema { entity_type_id: 1032, ..Default::default() };
        for f in [field("title", "TITLE", "string"), field("stageId", "STAGE_ID", "crm_status")] {
            spa.fields.insert(f.name.clone(), f);
        }
        spa.categories = vec![crate::schema::Category { id: 5, name: "General".into(), is_default: true }];
        let mut contact = EntitySchema { entity_type_id: 3, ..Default::default() };
        let mut tier = field("ufCrmTier", "UF_CRM_TIER", "enumeration");
        tier.items = vec![ListItem { id: "41".into(), value: "Gold".into(), xml_id: None }];
        contact.fields.insert(tier.name.clone(), tier);
        contact.fields.insert("name".into(), field("name", "NAME", "string"));
        contact.custom = vec![CustomField {
            id: 90,
            field_name: "UF_CRM_TIER".into(),
            user_type: "enumeration".into(),
            items: vec![ListItem { id: "41".into(), value: "Gold".into(), xml_id: Some("GOLD".into()) }],
            ..Default::default()
        }];
        let flags = [("isStagesEnabled".to_string(), true), ("isSourceEnabled".to_string(), false)]
            .into_iter()
            .collect();
        PortalSchema {
            smart_processes: vec![SmartProcess {
                id: 7,
                entity_type_id: 1032,
                title: "Projects".into(),
                flags,
                workspace_id: None,
            }],
            workspaces: vec![Workspace { id: 2, title: "Delivery".into(), type_ids: vec![3] }],
            entities: [(1032, spa), (3, contact)].into_iter().collect(),
            statuses: vec![Status {
                entity_id: "DYNAMIC_1032_STAGE_5".into(),
                status_id: "DT1032_5:NEW".into(),
                name: "New".into(),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn plan_of(p: &MappingPlan, schema: &PortalSchema, u: &UsedLabels) -> Plan {
        let gaps = compare(p, schema, u);
        plan(&[StepInput { name: "s", plan: p, gaps: &gaps }], schema)
    }

    #[test]
    fn an_existing_smart_process_gets_only_its_off_flags_and_is_added_to_the_workspace_keeping_its_types() {
        let p = mapping(
            "smart_process = \"projects\"\n[target.provision]\nworkspace = \"Delivery\"",
            "title = \"Title\"\nstageId = { column = \"Stage\", type = \"enum\" }\nsourceId = \"Source\"",
        );
        let got = plan_of(&p, &portal(), &used(&[("stageId", "new")]));
        assert_eq!(
            got.actions,
            vec![
                Action::AddToWorkspace {
                    workspace_id: 2,
                    title: "Delivery".into(),
                    keep: vec![3],
                    add: vec![7]
                },
                Action::SwitchFlags { type_id: 7, title: "Projects".into(), flags: vec!["isSourceEnabled"] },
            ]
        );
        assert!(got.steps[0].exists.iter().any(|e| e.contains("smart process \"Projects\"")), "{got:?}");
        assert!(got.steps[0].exists.iter().any(|e| e == "flags on: isStagesEnabled"), "{got:?}");
        assert!(got.steps[0].later.is_empty());
    }

    #[test]
    fn a_missing_smart_process_is_created_with_its_flags_and_the_rest_waits_for_it() {
        let p = mapping(
            "smart_process = \"Robots\"\n[target.provision]\nworkspace = \"Factory\"\nflags = [\"isObserversEnabled\"]",
            "title = \"Title\"\nstageId = { column = \"Stage\", type = \"enum\", add_missing_values = true }\n\
             UF_CRM_9_SEGMENT = { column = \"Segment\", type = \"enum\", create = { type = \"enumeration\", label = \"Segment\" }, add_missing_values = true }",
        );
        let got = plan_of(&p, &portal(), &used(&[("stageId", "Start"), ("ufCrm9Segment", "Gold")]));
        assert_eq!(
            got.actions,
            vec![Action::CreateType {
                title: "Robots".into(),
                flags: vec!["isStagesEnabled", "isObserversEnabled"]
            }]
        );
        let later = got.steps[0].later.join("\n");
        assert!(later.contains("creates the digital workspace \"Factory\""), "{later}");
        assert!(later.contains("creates field `ufCrm9Segment` (enumeration \"Segment\")"), "{later}");
        assert!(later.contains("field `stageId`: adds \"Start\""), "{later}");
        assert!(!got.is_done());
    }

    #[test]
    fn list_values_go_with_a_new_field_or_are_added_to_an_existing_one_without_touching_its_items() {
        let p = mapping(
            "entity = \"contact\"",
            "name = \"Title\"\nUF_CRM_TIER = { column = \"Segment\", type = \"enum\", add_missing_values = true }\n\
             UF_CRM_AREA = { column = \"Source\", type = \"enum\", create = { type = \"enumeration\", label = \"Area\" }, add_missing_values = true }",
        );
        let got = plan_of(
            &p,
            &portal(),
            &used(&[
                ("ufCrmTier", "gold"),
                ("ufCrmTier", "Silver"),
                ("ufCrmArea", "North"),
                ("ufCrmArea", "north "),
            ]),
        );
        assert_eq!(
            got.actions,
            vec![
                Action::CreateField {
                    owner: Owner::Crm(UfEntity::Contact),
                    field: "UF_CRM_AREA".into(),
                    create: CreatePlan {
                        kind: crate::mapping::spec::UfType::Enumeration,
                        label: "Area".into(),
                        multiple: false,
                        required: false
                    },
                    values: vec!["North".into()],
                },
                Action::AddValues {
                    owner: Owner::Crm(UfEntity::Contact),
                    field_id: 90,
                    field: "UF_CRM_TIER".into(),
                    values: vec!["Silver".into()],
                },
            ]
        );
    }

    #[test]
    fn the_same_write_asked_by_two_steps_is_made_once_and_listed_under_both() {
        let a = mapping("smart_process = \"Robots\"", "title = \"Title\"\nstageId = \"Stage\"");
        let b = mapping("smart_process = \"robots \"", "title = \"Title\"\nsourceId = \"Source\"");
        let schema = portal();
        let (ga, gb) = (compare(&a, &schema, &used(&[])), compare(&b, &schema, &used(&[])));
        let got = plan(
            &[StepInput { name: "a", plan: &a, gaps: &ga }, StepInput { name: "b", plan: &b, gaps: &gb }],
            &schema,
        );
        assert_eq!(
            got.actions,
            vec![Action::CreateType {
                title: "Robots".into(),
                flags: vec!["isStagesEnabled", "isSourceEnabled"]
            }]
        );
        assert_eq!((got.steps[0].actions.clone(), got.steps[1].actions.clone()), (vec![0], vec![0]));
    }

    #[test]
    fn new_stages_get_the_pipelines_prefix_and_stable_codes() {
        let p = mapping(
            "smart_process = \"Projects\"",
            "title = \"Title\"\nstageId = { column = \"Stage\", type = \"enum\", add_missing_values = true }",
        );
        let got = plan_of(
            &p,
            &portal(),
            &used(&[("stageId", "New"), ("stageId", "In  review"), ("stageId", "Готово")]),
        );
        let codes: Vec<(String, String)> = got
            .actions
            .iter()
            .map(|a| match a {
                Action::AddStatus { entity_id, status_id, .. } => (entity_id.clone(), status_id.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(codes[0], ("DYNAMIC_1032_STAGE_5".into(), "DT1032_5:IN_REVIEW".into()));
        assert!(codes[1].1.starts_with("DT1032_5:B24I_"), "{codes:?}");
        assert_eq!(codes.len(), 2);
        let taken: BTreeSet<String> = ["NEW".to_string()].into_iter().collect();
        assert_eq!(
            status_id("", "new!", &taken),
            format!("B24I_{}", xml_id("new!")[5..13].to_ascii_uppercase())
        );
    }

    #[test]
    fn stages_wait_for_the_pipelines_their_rows_name() {
        let p = mapping(
            "smart_process = \"Projects\"",
            "title = \"Title\"\ncategoryId = { column = \"Pipeline\", type = \"enum\", add_missing_values = true }\n\
             stageId = { column = \"Stage\", type = \"enum\", add_missing_values = true }",
        );
        let mut schema = portal();
        schema
            .entities
            .get_mut(&1032)
            .expect("spa")
            .fields
            .insert("categoryId".into(), field("categoryId", "CATEGORY_ID", "crm_category"));
        if let Some(t) = schema.smart_processes.first_mut() {
            t.flags.insert("isCategoriesEnabled".into(), true);
        }
        let got = plan_of(&p, &schema, &used(&[("categoryId", "Wholesale"), ("stageId", "Review")]));
        assert_eq!(got.actions, vec![Action::AddCategory { entity_type_id: 1032, name: "Wholesale".into() }]);
        assert!(
            got.steps[0].later.iter().any(|l| l.contains("once the pipelines the rows name exist")),
            "{got:?}"
        );
    }

    #[test]
    fn xml_ids_depend_on_the_value_only_as_labels_match() {
        assert_eq!(xml_id("  Gold  Plus "), xml_id("gold plus"));
        assert_ne!(xml_id("Gold"), xml_id("Silver"));
        assert!(xml_id("Gold").starts_with("b24i_") && xml_id("Gold").len() == 21);
    }

    #[test]
    fn custom_field_names_are_upper_cased_as_the_portal_names_them() {
        assert_eq!(upper_field_name("UF_CRM_SEGMENT"), "UF_CRM_SEGMENT");
        assert_eq!(upper_field_name("ufCrm7Segment"), "UF_CRM_7_SEGMENT");
        assert_eq!(upper_field_name("ufCrmSegment"), "UF_CRM_SEGMENT");
        assert_eq!(upper_field_name("ufCrm_1700000004"), "UF_CRM_1700000004");
    }
}
