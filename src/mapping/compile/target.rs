//! `[target]` checked: the entity (by name, `entity_type_id` or smart-process title), mode,
//! `[target.provision]`, and the duplicate rule (`on_duplicate`, `duplicate_by`, `on_ambiguous`).
//!
//! Owns: every rule about what `[target]` may say. Must not look at fields beyond what the
//! duplicate rule needs (the `[[fm]]` it compares), nor at the source.

use std::ops::Range;

use toml::Spanned;

use super::*;
use crate::mapping::diagnostic::suggest;
use crate::mapping::entity::{ENTITY_NAMES, Entity};
use crate::mapping::spa;
use crate::mapping::spec::{CreateMethod, Mode, OnDuplicate};

impl Compiler<'_> {
    pub(super) fn target(&mut self) -> TargetPlan {
        let t = &self.file.spec.target;
        let given: Vec<(&str, Range<usize>)> = [
            t.entity.as_ref().map(|e| ("entity", e.span())),
            t.entity_type_id.as_ref().map(|e| ("entity_type_id", e.span())),
            t.smart_process.as_ref().map(|e| ("smart_process", e.span())),
        ]
        .into_iter()
        .flatten()
        .collect();
        if given.len() > 1 {
            let names: Vec<String> = given.iter().map(|(n, _)| format!("`{n}`")).collect();
            self.err(
                given[1].1.clone(),
                format!(
                    "set only one of `entity`, `entity_type_id` or `smart_process` in [target], not {}",
                    names.join(" and ")
                ),
            );
        }
        let mut smart_process = None;
        let entity = match (&t.entity, &t.entity_type_id, &t.smart_process) {
            _ if given.len() > 1 => Entity::Crm(0),
            (Some(e), None, None) => Entity::from_name(e.get_ref()).unwrap_or_else(|| {
                let hint = suggest(e.get_ref(), ENTITY_NAMES.iter().copied());
                self.err(
                    e.span(),
                    format!(
                        "unknown entity `{}`{hint} (one of {}, or entity_type_id = N for a smart process)",
                        e.get_ref(),
                        ENTITY_NAMES.join(", ")
                    ),
                );
                Entity::Crm(0)
            }),
            (None, Some(id), None) => match whole_number(id.get_ref(), 1..=i64::from(u32::MAX)) {
                Some(id_value) => {
                    let id_value = u32::try_from(id_value).expect("checked to fit in the range above");
                    let builtin = Entity::is_builtin_type_id(id_value);
                    if !builtin && !Entity::is_valid_spa_id(id_value) {
                        self.err(
                            id.span(),
                            format!(
                                "entity_type_id {id_value} is not a smart process id (even and >= 1030, or 128..=192)"
                            ),
                        );
                    }
                    Entity::Crm(id_value)
                }
                None => {
                    self.err(
                        id.span(),
                        format!(
                            "`entity_type_id` must be a whole number, a smart process's entityTypeId (even and \
                             >= 1030, or 128..=192), found {}",
                            self.file.found(id.span(), id.get_ref())
                        ),
                    );
                    Entity::Crm(0)
                }
            },
            (None, None, Some(title)) => {
                let name = title.get_ref().trim();
                if name.is_empty() {
                    self.err(title.span(), "`smart_process` is empty: give the smart process's title");
                } else {
                    smart_process = Some(name.to_string());
                }
                Entity::Crm(UNBOUND_SMART_PROCESS)
            }
            _ => {
                self.err(
                    0..0,
                    "missing [target] `entity = \"contact\"` (or `entity_type_id = N`, or `smart_process = \"<title>\"`)",
                );
                Entity::Crm(0)
            }
        };
        let provision = self.provision(entity, smart_process.is_some());
        let origin =
            t.origin.as_ref().map_or_else(|| "b24import".to_string(), |o| o.get_ref().trim().to_string());
        if let Some(o) = &t.origin
            && origin.is_empty()
        {
            self.err(o.span(), "origin must not be empty");
        }
        if let Some(oe) = &t.on_existing
            && entity != Entity::User
        {
            self.err(oe.span(), "on_existing applies to user steps only");
        }
        let method = self.create_method(entity);
        let parent = self.parent(entity);
        let preset = self.preset(entity);
        if entity == Entity::Comment
            && let Some(m) = &t.mode
            && *m.get_ref() != Mode::Create
        {
            // The portal keeps no key of a comment: an upsert could not tell which one it is.
            self.err(
                m.span(),
                "a comment step imports new comments only (mode = \"create\"): the portal keeps no key \
                 of a comment to find it by",
            );
        }
        TargetPlan {
            entity,
            method,
            origin,
            use_original_uf_names: t.use_original_uf_names,
            mode: t.mode.as_ref().map(|m| *m.get_ref()).unwrap_or_default(),
            on_existing: t.on_existing.as_ref().map(|m| *m.get_ref()).unwrap_or_default(),
            smart_process,
            provision,
            parent,
            preset,
        }
    }

    /// `parent = { step, column }`: required by attached records (comments, activities), refused
    /// elsewhere; the column must be in the header.
    fn parent(&mut self, entity: Entity) -> Option<ParentPlan> {
        let t = &self.file.spec.target;
        let Some(spec) = t.parent.clone() else {
            if entity.is_attached() {
                self.err(
                    t.entity.as_ref().map_or(0..0, Spanned::span),
                    format!(
                        "a {} step needs its parent item: parent = {{ step = \"deals\", column = \"Deal\" }} \
                         (the step that imported the parents, and the column holding each row's parent key)",
                        entity.name()
                    ),
                );
            }
            return None;
        };
        if !entity.is_attached() {
            self.err(
                spec.span(),
                format!(
                    "parent applies to attached records (entity = \"comment\", \"activity\", \"requisite\", \
                     \"bank_detail\", \"address\" or \"product_rows\"), not to a {} step",
                    entity.name()
                ),
            );
            return None;
        }
        let p = spec.get_ref();
        let step = p.step.get_ref().trim().to_string();
        if step.is_empty() {
            self.err(p.step.span(), "parent step is empty: name the step that imported the parent items");
        }
        let label = p.column.get_ref().clone();
        let column = self.column(&label, p.column.span(), "parent column")?;
        Some(ParentPlan { step, column, label, entity: None })
    }

    /// `method = "add" | "import"`: import is a CRM item's (users are always `user.add`); the
    /// six history fields are kept only by an import (the portal ignores them in `crm.item.add`),
    /// which a note says once.
    fn create_method(&mut self, entity: Entity) -> CreateMethod {
        let t = &self.file.spec.target;
        let method = t.method.as_ref().map(|m| *m.get_ref()).unwrap_or_default();
        if let Some(m) = &t.method
            && method == CreateMethod::Import
            && (entity == Entity::User || entity.is_attached())
        {
            let by = match entity {
                Entity::Comment => "comments are created with crm.timeline.comment.add",
                Entity::Activity => "activities are created with crm.activity.add",
                Entity::Requisite => "requisites are created with crm.requisite.add",
                Entity::BankDetail => "bank details are created with crm.requisite.bankdetail.add",
                Entity::Address => "addresses are created with crm.address.add",
                Entity::ProductRows => "product rows are sent with crm.item.productrow.set",
                _ => "users are created with user.add",
            };
            self.err(m.span(), format!("method = \"import\" applies to CRM items only ({by})"));
        }
        if method == CreateMethod::Add && entity != Entity::User {
            let history: Vec<&str> = self
                .file
                .spec
                .fields
                .iter()
                .map(|(name, _)| name.get_ref().as_str())
                .filter(|n| crate::payload::HISTORY_FIELDS.contains(n))
                .collect();
            if !history.is_empty() {
                self.notes.push(format!(
                    "{} mapped, but crm.item.add sets the creation date and author itself (now, the \
                     webhook's user) and runs the portal's automation rules: set method = \"import\" \
                     in [target] to keep the original dates and authors",
                    history.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        method
    }

    /// `[target.provision]`: a workspace and flags make sense for smart processes only; flags
    /// must be ones the `crm.type.update` page documents.
    fn provision(&mut self, entity: Entity, by_title: bool) -> ProvisionPlan {
        let Some(p) = &self.file.spec.target.provision else { return ProvisionPlan::default() };
        let spa = by_title || matches!(entity, Entity::Crm(id) if !Entity::is_builtin_type_id(id));
        if !spa && entity != Entity::Crm(0) {
            self.err(
                p.span(),
                format!(
                    "[target.provision] applies to smart processes (smart_process = \"<title>\"), not to {}",
                    entity.name()
                ),
            );
        }
        let p = p.get_ref();
        let workspace = p.workspace.as_ref().and_then(|w| {
            let title = w.get_ref().trim();
            if title.is_empty() {
                self.err(w.span(), "`workspace` is empty: give the digital workspace's title");
            }
            (!title.is_empty()).then(|| title.to_string())
        });
        let mut flags = Vec::new();
        for f in &p.flags {
            match spa::FLAGS.iter().find(|known| **known == f.get_ref().as_str()) {
                Some(known) => {
                    if !flags.contains(known) {
                        flags.push(*known);
                    }
                }
                None => {
                    let hint = suggest(f.get_ref(), spa::FLAGS.iter().copied());
                    let hint =
                        if hint.is_empty() { format!(" (one of {})", spa::FLAGS.join(", ")) } else { hint };
                    self.err(f.span(), format!("unknown smart-process flag `{}`{hint}", f.get_ref()));
                }
            }
        }
        ProvisionPlan { workspace, flags }
    }

    /// `on_duplicate`, `duplicate_by`, `on_ambiguous`: for lead, contact and company only (the
    /// portal matches by phone and e-mail); `duplicate_by` names `[[fm]]` types the mapping
    /// has, and defaults to the PHONE/EMAIL types it has.
    pub(super) fn duplicates(&mut self, target: &TargetPlan, fm: &[FmPlan]) -> DuplicateRule {
        let t = &self.file.spec.target;
        let on_duplicate = t.on_duplicate.as_ref().map(|m| *m.get_ref()).unwrap_or_default();
        let on_ambiguous = t.on_ambiguous.as_ref().map(|m| *m.get_ref()).unwrap_or_default();
        let set = [
            ("on_duplicate", t.on_duplicate.as_ref().map(Spanned::span)),
            ("duplicate_by", t.duplicate_by.as_ref().map(Spanned::span)),
            ("on_ambiguous", t.on_ambiguous.as_ref().map(Spanned::span)),
        ];
        if !target.entity.has_multifields() {
            if target.entity != Entity::Crm(0) {
                for (key, span) in set.iter().filter_map(|(k, s)| Some((k, s.clone()?))) {
                    self.err(
                        span,
                        format!(
                            "{key} applies to lead, contact and company steps only (the portal matches \
                             duplicates by phone and e-mail); remove it from this {} step",
                            target.entity.name()
                        ),
                    );
                }
            }
            return DuplicateRule::default();
        }
        let mut have: Vec<&'static str> = Vec::new();
        for f in fm {
            if matches!(f.type_id, "EMAIL" | "PHONE") && !have.contains(&f.type_id) {
                have.push(f.type_id);
            }
        }
        let mut by = Vec::new();
        match &t.duplicate_by {
            None => by.clone_from(&have),
            Some(list) if list.get_ref().is_empty() => {
                self.err(list.span(), "duplicate_by needs at least one of \"EMAIL\", \"PHONE\"");
            }
            Some(list) => {
                for v in list.get_ref() {
                    let upper = v.get_ref().trim().to_uppercase();
                    let Some(kind) = ["EMAIL", "PHONE"].into_iter().find(|k| *k == upper) else {
                        let hint = suggest(v.get_ref(), ["EMAIL", "PHONE"]);
                        self.err(
                            v.span(),
                            format!(
                                "unknown duplicate_by `{}`{hint} (EMAIL or PHONE: the portal matches \
                                 duplicates by communication only)",
                                v.get_ref()
                            ),
                        );
                        continue;
                    };
                    if !have.contains(&kind) {
                        self.err(
                            v.span(),
                            format!(
                                "duplicate_by names {kind}, but the mapping has no [[fm]] of type {kind}; \
                                 add one or remove {kind} from duplicate_by"
                            ),
                        );
                    } else if !by.contains(&kind) {
                        by.push(kind);
                    }
                }
            }
        }
        if on_duplicate != OnDuplicate::Create
            && target.method == CreateMethod::Import
            && let Some(span) = set[0].1.clone()
        {
            // The import page: "no duplicate check"; and the rows must go in creation order,
            // which a row held back for a check would break.
            self.err(
                span,
                "on_duplicate does not combine with method = \"import\" (crm.item.batchImport makes no \
                 duplicate check, and items must reach the portal oldest first); remove on_duplicate, or \
                 use method = \"add\"",
            );
            return DuplicateRule::default();
        }
        if on_duplicate != OnDuplicate::Create
            && have.is_empty()
            && let Some(span) = set[0].1.clone()
        {
            self.err(
                span,
                "on_duplicate needs a PHONE or EMAIL [[fm]] column to match by; add one, or remove on_duplicate",
            );
        }
        if on_duplicate == OnDuplicate::Create && (set[1].1.is_some() || set[2].1.is_some()) {
            self.notes.push(
                "duplicate_by and on_ambiguous have no effect while on_duplicate = \"create\" (no check is made)"
                    .into(),
            );
        } else if on_duplicate != OnDuplicate::Create && target.mode == Mode::Update {
            self.notes
                .push("on_duplicate has no effect in mode = \"update\" (it never creates items)".into());
        }
        DuplicateRule { on_duplicate, by, on_ambiguous }
    }
}
