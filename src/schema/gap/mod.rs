//! The pure comparison of one step's mapping with the portal's schema: what the step needs that
//! the portal lacks, as typed [`Gap`]s, each saying whether `b24import provision` can fix it.
//!
//! Owns: [`compare`] and the decisions behind it (written beside each check). Must not read
//! the portal: it takes the [`PortalSchema`] read once and the labels the rows use.

use std::fmt;

use super::labels::{CategoryRef, Choices, ListRef, NoList, UsedLabels, choices, normalize};
use super::model::{PortalSchema, Refusal};
use crate::bitrix::{Method, json};
use crate::mapping::diagnostic::closest;
use crate::mapping::{CreatePlan, Entity, MappingPlan, spa};

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
            if super::needs::needs_read(plan, schema, &r.method) {
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
                                upper_name: super::needs::upper_of(&f.name),
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
                            upper_name: super::needs::upper_of(&f.name),
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
        if pf.read_only {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::labels::LabelBook;
    use crate::schema::model::*;
    use std::path::Path;
    use std::sync::Arc;

    fn plan(target: &str, fields: &str) -> MappingPlan {
        let text = format!(
            "name = \"s\"\n[source]\npath = \"s.csv\"\nkey = \"Code\"\n[target]\n{target}\n[fields]\n{fields}\n"
        );
        let file = crate::mapping::spec::parse(Path::new("s.toml"), text).expect("parses");
        let headers: Vec<String> = ["Code", "Title", "Segment", "Stage", "Source", "Pipeline", "Tags"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        file.compile(&headers).unwrap_or_else(|d| panic!("{d}"))
    }

    fn field(name: &str, kind: &str) -> PortalField {
        PortalField {
            name: name.into(),
            upper_name: name.to_uppercase(),
            kind: kind.into(),
            title: name.into(),
            ..Default::default()
        }
    }

    fn item(id: &str, value: &str, xml: Option<&str>) -> ListItem {
        ListItem { id: id.into(), value: value.into(), xml_id: xml.map(str::to_string) }
    }

    fn status(entity: &str, id: &str, name: &str) -> Status {
        Status { entity_id: entity.into(), status_id: id.into(), name: name.into(), ..Default::default() }
    }

    /// A portal with the smart process "Projects" (1032, type id 7), stages on, source off,
    /// not in any workspace; a deal entity with two pipelines.
    fn portal() -> PortalSchema {
        let mut spa = EntitySchema { entity_type_id: 1032, ..Default::default() };
        for f in
            [field("title", "string"), field("stageId", "crm_status"), field("categoryId", "crm_category")]
        {
            spa.fields.insert(f.name.clone(), f);
        }
        let mut seg = field("ufCrm7Segment", "enumeration");
        seg.upper_name = "UF_CRM_7_SEGMENT".into();
        seg.items = vec![item("11", "Gold", None), item("12", "Silver", None)];
        spa.fields.insert(seg.name.clone(), seg);
        let mut ro = field("createdTime", "datetime");
        ro.read_only = true;
        spa.fields.insert(ro.name.clone(), ro);
        let mut req = field("ufCrm7Contract", "string");
        req.required = true;
        req.title = "Contract".into();
        spa.fields.insert(req.name.clone(), req);
        let mut multi = field("ufCrm7Tags", "string");
        multi.upper_name = "UF_CRM_7_TAGS".into();
        multi.multiple = true;
        spa.fields.insert(multi.name.clone(), multi);
        spa.categories = vec![Category { id: 5, name: "Main".into(), is_default: true }];
        spa.custom = vec![CustomField {
            id: 301,
            field_name: "UF_CRM_7_SEGMENT".into(),
            user_type: "enumeration".into(),
            items: vec![item("11", "Gold", Some("gold")), item("12", "Silver", Some("SILVER-X"))],
            ..Default::default()
        }];
        let mut deal = EntitySchema { entity_type_id: 2, ..Default::default() };
        for f in
            [field("title", "string"), field("stageId", "crm_status"), field("categoryId", "crm_category")]
        {
            deal.fields.insert(f.name.clone(), f);
        }
        deal.categories = vec![
            Category { id: 0, name: "General".into(), is_default: true },
            Category { id: 3, name: "Wholesale".into(), is_default: false },
        ];
        let mut flags = std::collections::BTreeMap::new();
        flags.insert("isStagesEnabled".to_string(), true);
        flags.insert("isSourceEnabled".to_string(), false);
        flags.insert("isCategoriesEnabled".to_string(), true);
        PortalSchema {
            smart_processes: vec![SmartProcess {
                id: 7,
                entity_type_id: 1032,
                title: "Projects".into(),
                flags,
                workspace_id: None,
            }],
            workspaces: vec![Workspace { id: 1, title: "Delivery".into(), type_ids: vec![] }],
            entities: [(1032, spa), (2, deal)].into_iter().collect(),
            statuses: vec![
                status("DYNAMIC_1032_STAGE_5", "DT1032_5:NEW", "New"),
                status("DYNAMIC_1032_STAGE_5", "DT1032_5:WORK", "In work"),
                status("DEAL_STAGE", "NEW", "New deal"),
                status("DEAL_STAGE_3", "C3:NEW", "Wholesale new"),
            ],
            currencies: vec![Currency { code: "RUB".into(), name: "Russian ruble".into() }],
            unread: Vec::new(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> UsedLabels {
        let mut used = UsedLabels::default();
        for (f, l) in pairs {
            used.add_label(f, l, None);
        }
        used
    }

    #[test]
    fn a_missing_smart_process_brings_what_provision_creates_with_it() {
        let p = plan(
            "smart_process = \"Robots\"\n[target.provision]\nworkspace = \"Factory\"\nflags = [\"isObserversEnabled\"]",
            "title = \"Title\"\nstageId = { column = \"Stage\", type = \"enum\" }\n\
             UF_CRM_9_SEGMENT = { column = \"Segment\", type = \"enum\", create = { type = \"enumeration\", label = \"Segment\" }, add_missing_values = true }",
        );
        let gaps = compare(&p, &portal(), &labels(&[("ufCrm9Segment", "Gold")]));
        assert_eq!(gaps[0], Gap::SmartProcessMissing { title: "Robots".into() });
        assert_eq!(gaps[1], Gap::WorkspaceMissing { title: "Factory".into() });
        assert!(
            gaps.contains(&Gap::FlagOff { flag: "isStagesEnabled", fields: vec!["stageId".into()] }),
            "{gaps:?}"
        );
        assert!(gaps.contains(&Gap::FlagOff { flag: "isObserversEnabled", fields: vec![] }), "{gaps:?}");
        assert!(
            gaps.iter().any(|g| matches!(g, Gap::FieldMissing { field, .. } if field == "ufCrm9Segment"))
        );
        assert!(
            gaps.iter()
                .any(|g| matches!(g, Gap::ValuesMissing { labels, add: true, .. } if labels == &["Gold"]))
        );
        assert!(gaps.iter().all(Gap::provision_fixes), "{gaps:?}");
    }

    #[test]
    fn an_existing_smart_process_reports_each_kind_of_gap() {
        let p = plan(
            "smart_process = \"  projects \"\n[target.provision]\nworkspace = \"delivery\"",
            "title = \"Title\"\nsourceId = \"Source\"\ntitel2 = \"Title\"\ncreatedTime = \"Title\"\n\
             UF_CRM_7_TAGS = \"Tags\"\nUF_CRM_7_SEGMENT = { column = \"Segment\", type = \"enum\" }\n\
             stageId = { column = \"Stage\", type = \"enum\" }",
        );
        let used = labels(&[("ufCrm7Segment", "gold"), ("ufCrm7Segment", "Bronze"), ("stageId", "in  WORK")]);
        let gaps = compare(&p, &portal(), &used);
        let expected = vec![
            Gap::NotInWorkspace { workspace: "Delivery".into(), workspace_id: 1, type_id: Some(7) },
            Gap::FlagOff { flag: "isSourceEnabled", fields: vec!["sourceId".into()] },
            Gap::ValuesMissing {
                field: "ufCrm7Segment".into(),
                list: ListRef::CustomField { upper_name: "UF_CRM_7_SEGMENT".into(), field_id: Some(301) },
                labels: vec!["Bronze".into()],
                add: false,
            },
            Gap::MultipleMismatch { field: "ufCrm7Tags".into(), portal_multiple: true },
            Gap::ReadOnly { field: "createdTime".into() },
            Gap::UnknownField { field: "titel2".into(), suggestion: Some("title".into()) },
            Gap::RequiredWithoutRule { field: "ufCrm7Contract".into(), title: "Contract".into() },
        ];
        assert_eq!(gaps, expected);
        let fixable: Vec<bool> = gaps.iter().map(Gap::provision_fixes).collect();
        assert_eq!(fixable, [true, true, false, false, false, false, false]);
        assert!(gaps[2].is_row_level());
        assert!(
            gaps[1]
                .to_string()
                .contains("`sourceId` is switched off by the smart-process flag isSourceEnabled")
        );
    }

    #[test]
    fn stages_are_checked_within_the_rows_pipeline() {
        let p = plan(
            "entity = \"deal\"",
            "title = \"Title\"\ncategoryId = { column = \"Pipeline\", type = \"enum\" }\nstageId = { column = \"Stage\", type = \"enum\", add_missing_values = true }",
        );
        let mut used = UsedLabels::default();
        used.add_label("categoryId", "wholesale", None);
        used.add_label("stageId", "Wholesale new", Some(CategoryRef::Label("WHOLESALE".into())));
        used.add_label("stageId", "Wholesale new", None);
        used.add_label("stageId", "new deal", Some(CategoryRef::Id(0)));
        let gaps = compare(&p, &portal(), &used);
        assert_eq!(
            gaps,
            vec![Gap::ValuesMissing {
                field: "stageId".into(),
                list: ListRef::Status { entity_id: "DEAL_STAGE".into(), category_id: Some(0) },
                labels: vec!["Wholesale new".into()],
                add: true,
            }]
        );
        assert!(gaps[0].provision_fixes());
    }

    #[test]
    fn an_enum_on_a_field_without_a_list_is_named() {
        let p = plan("entity = \"deal\"", "title = { column = \"Title\", type = \"enum\" }");
        assert_eq!(
            compare(&p, &portal(), &labels(&[("title", "x")])),
            vec![Gap::NotAList { field: "title".into(), portal_type: "string".into() }]
        );
    }

    #[test]
    fn a_refused_read_is_a_gap_naming_the_method_when_the_step_needs_it_and_a_note_otherwise() {
        let mut schema = portal();
        schema.unread.push(Refusal {
            method: "crm.status.list".into(),
            code: "ACCESS_DENIED".into(),
            description: "Access denied".into(),
        });
        let needs =
            plan("entity = \"deal\"", "title = \"Title\"\nstageId = { column = \"Stage\", type = \"enum\" }");
        let gaps = compare(&needs, &schema, &UsedLabels::default());
        assert!(matches!(&gaps[0], Gap::Unreadable(_)), "{gaps:?}");
        assert!(gaps[0].to_string().contains("crm.status.list: ACCESS_DENIED"), "{}", gaps[0]);
        assert!(!gaps[0].provision_fixes() && gaps[0].is_blocking());
        // Bug: a refused read no field of the step needs stopped it as "not ready".
        let gaps = compare(&plan("entity = \"deal\"", "title = \"Title\""), &schema, &UsedLabels::default());
        assert_eq!(gaps.len(), 1);
        assert!(gaps[0].is_note() && !gaps[0].is_blocking(), "{gaps:?}");
    }

    #[test]
    fn labels_resolve_by_value_xml_id_or_id_ignoring_case_and_spaces() {
        let mut book = LabelBook::new(Arc::new(portal()), 1032);
        for (label, id) in [(" gold ", 11), ("SILVER-x", 12), ("12", 12), ("Silver", 12)] {
            assert_eq!(book.resolve("ufCrm7Segment", label, 0), Ok(serde_json::json!(id)), "{label}");
        }
        let cat = book.category(None);
        assert_eq!(cat, 5);
        assert_eq!(book.resolve("stageId", "In   work", cat), Ok(serde_json::json!("DT1032_5:WORK")));
        let err = book.resolve("ufCrm7Segment", "Bronze", 0).expect_err("unknown");
        assert!(err.0.contains("\"Bronze\" is not in the portal's list: \"Gold\", \"Silver\""), "{}", err.0);
        let mut deals = LabelBook::new(Arc::new(portal()), 2);
        let cat = deals.category(Some(&CategoryRef::Label("wholesale".into())));
        assert_eq!(cat, 3);
        assert_eq!(deals.resolve("stageId", "wholesale NEW", cat), Ok(serde_json::json!("C3:NEW")));
        assert!(deals.resolve("stageId", "wholesale NEW", 0).is_err());
    }
}
