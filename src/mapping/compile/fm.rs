//! `[[fm]]` (phones, e-mails, web sites, messengers) and `[[require_any]]` checked.
//!
//! Owns: every rule about those two tables. Must not check `[fields]` or `[target]`.

use super::*;
use crate::mapping::diagnostic::suggest;
use crate::mapping::entity::{Entity, FM_TYPES};

impl Compiler<'_> {
    pub(super) fn fm(&mut self, entity: Entity) -> Vec<FmPlan> {
        let spec = &self.file.spec;
        if !spec.fm.is_empty() && !entity.has_multifields() && entity != Entity::Crm(0) {
            let span = spec.fm[0].span();
            self.err(
                span,
                format!("{} has no multifields ([[fm]] is for lead, contact and company)", entity.name()),
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for fm in &spec.fm {
            let f = fm.get_ref();
            let Some(kind) = &f.kind else {
                self.err(fm.span(), "[[fm]] needs `type` (PHONE, EMAIL, WEB, IM or LINK)");
                continue;
            };
            let Some(&(type_id, value_types)) =
                FM_TYPES.iter().find(|(t, _)| t.eq_ignore_ascii_case(kind.get_ref()))
            else {
                let hint = suggest(kind.get_ref(), FM_TYPES.iter().map(|(t, _)| *t));
                self.err(
                    kind.span(),
                    format!("unknown fm type `{}`{hint} (PHONE, EMAIL, WEB, IM, LINK)", kind.get_ref()),
                );
                continue;
            };
            let wanted = f.value_type.as_ref().map_or("WORK", |v| v.get_ref().as_str());
            let Some(&value_type) = value_types.iter().find(|v| v.eq_ignore_ascii_case(wanted)) else {
                let value_type = wanted.to_uppercase();
                let at = f.value_type.as_ref().map_or(fm.span(), |v| v.span());
                self.err(
                    at,
                    format!(
                        "value_type `{value_type}` is not valid for {type_id} (one of {})",
                        value_types.join(", ")
                    ),
                );
                continue;
            };
            let Some(col) = &f.column else {
                self.err(fm.span(), "[[fm]] needs `column`");
                continue;
            };
            if let Some(split) = &f.split
                && split.get_ref().is_empty()
            {
                self.err(split.span(), "[[fm]]: `split` must not be empty (e.g. \",\" or \";\")");
                continue;
            }
            if let Some(index) = self.column(col.get_ref(), col.span(), "[[fm]]") {
                out.push(FmPlan {
                    type_id,
                    value_type,
                    column: index,
                    column_name: col.get_ref().clone(),
                    split: f.split.as_ref().map(|s| s.get_ref().clone()),
                });
            }
        }
        out
    }

    pub(super) fn require_any(&mut self) -> Vec<RequireAnyPlan> {
        let mut out = Vec::new();
        for rule in &self.file.spec.require_any {
            let Some(cols) = &rule.get_ref().columns else {
                self.err(rule.span(), "[[require_any]] needs `columns = [\"...\", ...]`");
                continue;
            };
            if cols.get_ref().is_empty() {
                self.err(
                    cols.span(),
                    "[[require_any]]: `columns` is empty; list the columns of which one must be filled",
                );
                continue;
            }
            let columns: Vec<_> = cols
                .get_ref()
                .iter()
                .filter_map(|c| self.column(c, cols.span(), "[[require_any]]").map(|i| (i, c.clone())))
                .collect();
            if columns.len() != cols.get_ref().len() || columns.is_empty() {
                continue;
            }
            let message = rule.get_ref().message.clone().unwrap_or_else(|| {
                format!("all of {} are empty; at least one is needed", cols.get_ref().join(", "))
            });
            out.push(RequireAnyPlan { columns, message });
        }
        out
    }
}
