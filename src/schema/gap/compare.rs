//! [`compare`]: one step's mapping against the schema read once, check by check, with the
//! decision behind each written beside it.
//!
//! Owns: which gaps a step has. Must not read the portal, and must not word the gaps (their
//! texts and classes are [`Gap`]'s, in `gap/mod.rs`).

use super::Gap;
use crate::bitrix::{Method, json};
use crate::mapping::diagnostic::closest;
use crate::mapping::{Entity, MappingPlan, spa};
use crate::schema::labels::{CategoryRef, Choices, ListRef, NoList, UsedLabels, choices, normalize};
use crate::schema::model::PortalSchema;

/// Fields the run fills itself on create (never "required without a rule").
const SET_BY_THE_RUN: &[&str] = &["id", "originatorId", "originId", "xmlId", "fm"];

/// Everything `plan` needs that `schema` lacks, given the labels its rows use. A step whose
/// smart process is missing reports what provision will create with it (the flags its fields
/// need, fields with `create`, labels under `add_missing_values`) and nothing it cannot know.
pub fn compare(plan: &MappingPlan, schema: &PortalSchema, used: &UsedLabels) -> Vec<Gap> {
    let mut gaps: Vec<Gap> = schema
        .unread
        .iter()
        .map(|r| {
            if crate::schema::needs::needs_read(plan, schema, &r.method) {
                Gap::Unreadable(r.clone())
            } else {
                Gap::UnreadNotNeeded(r.clone())
            }
        })
        .collect();
    let Entity::Crm(_) = plan.target.entity else { return gaps };
    if let Some(title) = &plan.target.smart_process {
        let ids: Vec<u64> = schema
            .smart_processes
            .iter()
            .filter(|t| normalize(&t.title) == normalize(title))
            .map(|t| t.id)
            .collect();
        if ids.len() > 1 {
            gaps.push(Gap::AmbiguousTitle { what: "smart process", title: title.clone(), ids });
            return gaps;
        }
    }
    let ws_ambiguous = match &plan.target.provision.workspace {
        Some(ws) => {
            let ids: Vec<u64> = schema
                .workspaces
                .iter()
                .filter(|w| normalize(&w.title) == normalize(ws))
                .map(|w| w.id)
                .collect();
            let many = ids.len() > 1;
            if many {
                gaps.push(Gap::AmbiguousTitle { what: "digital workspace", title: ws.clone(), ids });
            }
            many
        }
        None => false,
    };
    let spa = match (&plan.target.smart_process, plan.target.entity) {
        (Some(title), _) => match schema.smart_process(title) {
            Some(t) => Some(t),
            // The type list could not be read (reported above): "missing" would be a guess.
            None if schema.unread.iter().any(|r| r.method == Method::CrmTypeList.as_str()) => return gaps,
            None => {
                gaps.push(Gap::SmartProcessMissing { title: title.clone() });
                if let Some(ws) = &plan.target.provision.workspace
                    && !ws_ambiguous
                    && schema.workspace(ws).is_none()
                {
                    gaps.push(Gap::WorkspaceMissing { title: ws.clone() });
                }
                // The new type gets every flag its fields need, and only those (plus `flags`).
                for (flag, fields) in needed_flags(plan) {
                    gaps.push(Gap::FlagOff { flag, fields });
                }
                for f in &plan.fields {
                    if let Some(create) = &f.create {
                        gaps.push(Gap::FieldMissing { field: f.name.clone(), create: create.clone() });
                    }
                }
                for f in plan.fields.iter().filter(|f| f.add_missing_values) {
                    let labels: Vec<String> = used.of(&f.name).iter().map(|u| u.label.clone()).collect();
                    if !labels.is_empty() {
                        let list = match f.name.as_str() {
                            "categoryId" => ListRef::Category { entity_type_id: 0 },
                            "stageId" => ListRef::Status { entity_id: String::new(), category_id: None },
                            _ => ListRef::CustomField {
                                upper_name: crate::schema::needs::upper_of(&f.name),
                                field_id: None,
                            },
                        };
                        gaps.push(Gap::ValuesMissing { field: f.name.clone(), list, labels, add: true });
                    }
                }
                return gaps;
            }
        },
        (None, Entity::Crm(id)) if !Entity::is_builtin_type_id(id) => {
            match schema.smart_process_by_type(id) {
                Some(t) => Some(t),
                // The type list may be unreadable (reported above); only a list read says "absent".
                None if schema.unread.iter().any(|r| r.method == Method::CrmTypeList.as_str()) => None,
                None => {
                    gaps.push(Gap::UnknownEntityType { entity_type_id: id });
                    return gaps;
                }
            }
        }
        _ => None,
    };
    if let Some(t) = spa {
        if let Some(ws) = plan.target.provision.workspace.as_ref().filter(|_| !ws_ambiguous) {
            match schema.workspace(ws) {
                None => gaps.push(Gap::WorkspaceMissing { title: ws.clone() }),
                Some(w) if !w.type_ids.contains(&t.id) => gaps.push(Gap::NotInWorkspace {
                    workspace: w.title.clone(),
                    workspace_id: w.id,
                    type_id: Some(t.id),
                }),
                Some(_) => {}
            }
        }
        for (flag, fields) in needed_flags(plan) {
            if !t.flag(flag) {
                gaps.push(Gap::FlagOff { flag, fields });
            }
        }
    }
    let Some(etid) = schema.entity_type_id(plan) else { return gaps };
    let Some(entity) = schema.entities.get(&etid) else { return gaps };
    let flag_off =
        |name: &str| spa.is_some_and(|t| spa::flag_for_field(name).is_some_and(|flag| !t.flag(flag)));
    for f in &plan.fields {
        let Some(pf) = entity.field(&f.name) else {
            if flag_off(&f.name) {
                continue; // Named by its FlagOff gap.
            }
            match &f.create {
                Some(create) => {
                    gaps.push(Gap::FieldMissing { field: f.name.clone(), create: create.clone() });
                    let labels: Vec<String> = used.of(&f.name).iter().map(|u| u.label.clone()).collect();
                    if f.add_missing_values && !labels.is_empty() {
                        let list = ListRef::CustomField {
                            upper_name: crate::schema::needs::upper_of(&f.name),
                            field_id: None,
                        };
                        gaps.push(Gap::ValuesMissing { field: f.name.clone(), list, labels, add: true });
                    }
                }
                None => {
                    let names = entity.fields.keys().map(String::as_str);
                    let suggestion = closest(&f.name, names).map(str::to_string);
                    gaps.push(Gap::UnknownField { field: f.name.clone(), suggestion });
                }
            }
            continue;
        };
        // The original dates and authors are read-only for crm.item.add and what
        // crm.item.batchImport is for (the import overview's table).
        let imported = plan.target.method == crate::mapping::CreateMethod::Import
            && crate::payload::HISTORY_FIELDS.contains(&f.name.as_str());
        if pf.read_only && !imported {
            gaps.push(Gap::ReadOnly { field: f.name.clone() });
            continue;
        }
        // Files: one file is a pair, several an array of pairs; `multiple` says which.
        if pf.multiple != f.multiple && pf.kind != "crm_multifield" {
            gaps.push(Gap::MultipleMismatch { field: f.name.clone(), portal_multiple: pf.multiple });
        }
        if f.deferred == Some(crate::mapping::Deferred::Label) {
            values_missing(schema, etid, f, used, &mut gaps);
        }
    }
    for (name, pf) in &entity.fields {
        let filled = plan.fields.iter().any(|f| f.name == *name || f.name == pf.upper_name);
        if pf.required && !pf.read_only && !filled && !SET_BY_THE_RUN.contains(&name.as_str()) {
            gaps.push(Gap::RequiredWithoutRule { field: name.clone(), title: pf.title.clone() });
        }
    }
    gaps
}

/// The flags a step's fields need and those `[target.provision] flags` names, each once, with
/// the fields that need it.
fn needed_flags(plan: &MappingPlan) -> Vec<(&'static str, Vec<String>)> {
    let mut out: Vec<(&'static str, Vec<String>)> = Vec::new();
    for f in &plan.fields {
        if let Some(flag) = spa::flag_for_field(&f.name) {
            match out.iter_mut().find(|(x, _)| *x == flag) {
                Some((_, fields)) => fields.push(f.name.clone()),
                None => out.push((flag, vec![f.name.clone()])),
            }
        }
    }
    for flag in &plan.target.provision.flags {
        if !out.iter().any(|(x, _)| x == flag) {
            out.push((flag, Vec::new()));
        }
    }
    out
}

/// The labels of an enum field that its list lacks (stages: per category of the rows).
fn values_missing(
    schema: &PortalSchema,
    etid: u32,
    f: &crate::mapping::FieldPlan,
    used: &UsedLabels,
    gaps: &mut Vec<Gap>,
) {
    let entity = schema.entities.get(&etid);
    let default = entity.map_or(0, |e| e.default_category());
    let category_of = |c: &Option<CategoryRef>| -> u64 {
        match c {
            Some(CategoryRef::Id(id)) => *id,
            Some(CategoryRef::Label(l)) => choices(schema, etid, "categoryId", 0)
                .ok()
                .and_then(|ch| ch.find(l).and_then(json::id))
                .unwrap_or(default),
            None => default,
        }
    };
    // Group the labels by the list they belong to (one list, or one per pipeline for stages).
    let mut by_list: Vec<(u64, Vec<String>)> = Vec::new();
    for u in used.of(&f.name) {
        let cat = if f.name == "stageId" { category_of(&u.category) } else { 0 };
        match by_list.iter_mut().find(|(c, _)| *c == cat) {
            Some((_, labels)) => {
                if !labels.iter().any(|l| normalize(l) == normalize(&u.label)) {
                    labels.push(u.label.clone());
                }
            }
            None => by_list.push((cat, vec![u.label.clone()])),
        }
    }
    if by_list.is_empty() {
        // No row uses a label yet: still say when the field holds no list at all.
        if let Err(NoList::NotAList(kind)) = choices(schema, etid, &f.name, default) {
            gaps.push(Gap::NotAList { field: f.name.clone(), portal_type: kind });
        }
        return;
    }
    for (cat, labels) in by_list {
        let list: Choices = match choices(schema, etid, &f.name, cat) {
            Ok(l) => l,
            Err(NoList::NotAList(kind)) => {
                gaps.push(Gap::NotAList { field: f.name.clone(), portal_type: kind });
                return;
            }
            Err(NoList::NoField) => return,
        };
        let missing: Vec<String> = labels.into_iter().filter(|l| list.find(l).is_none()).collect();
        if !missing.is_empty() {
            gaps.push(Gap::ValuesMissing {
                field: f.name.clone(),
                list: list.list,
                labels: missing,
                add: f.add_missing_values,
            });
        }
    }
}
