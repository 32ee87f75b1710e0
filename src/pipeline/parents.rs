//! Attached records' parents (`parent = { step, column }`): which step each attached step hangs
//! on, and that step's entity, known before any row is prepared.
//!
//! Owns [`bind_parents`]: one mechanism for every attached kind (comments and activities;
//! requisites on companies and contacts, bank details and addresses on requisites: issue 20).
//! The parent step is one of the job's steps that runs before the attached one, or a step an
//! earlier run recorded in the journal (its entity from there); a parent that is neither, or of
//! a kind the step cannot hang on ([`Entity::takes_parent`]), is refused with the mapping's
//! `path:line:col`. The parent rows' portal IDs come from the journal as the rows are
//! resolved (`resolve`), never from here. Must not read rows or the portal.

use super::prepare::Step;
use crate::mapping::{Diagnostics, Entity};

/// A step the journal knows: its name and its entity label (`deal`, `spa:1032`).
pub struct KnownStep<'a> {
    pub name: &'a str,
    pub entity: &'a str,
}

/// The entity a journal's step label names (`contact`, `spa:1032`, `user`).
fn entity_of_label(label: &str) -> Option<Entity> {
    match label.strip_prefix("spa:") {
        Some(id) => id.parse().ok().map(Entity::Crm),
        None => Entity::from_name(label),
    }
}

/// Gives every attached step its parent step's entity; the problems, one per step that cannot
/// be bound.
pub fn bind_parents(steps: &mut [Step], known: &[KnownStep<'_>]) -> Diagnostics {
    let mut diags = Diagnostics::default();
    let found: Vec<Result<Option<Entity>, String>> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let Some(parent) = &step.plan.target.parent else { return Ok(None) };
            let (entity, position) = match steps.iter().position(|s| s.plan.name == parent.step) {
                Some(at) => (Some(steps[at].plan.target.entity), Some(at)),
                None => (
                    known.iter().find(|k| k.name == parent.step).and_then(|k| entity_of_label(k.entity)),
                    None,
                ),
            };
            if position.is_some_and(|at| at >= i) {
                return Err(format!(
                    "step `{}` hangs on step `{}`, which runs after it (or is itself): give {} before {}",
                    step.plan.name,
                    parent.step,
                    steps[position.unwrap_or(i)].file.path.display(),
                    step.file.path.display()
                ));
            }
            let kind = step.plan.target.entity;
            match entity {
                Some(e) if kind.takes_parent(e) => Ok(Some(e)),
                Some(other) => Err(format!(
                    "step `{}` hangs on step `{}`, a {} step: {}",
                    step.plan.name,
                    parent.step,
                    other.name(),
                    parents_taken(kind)
                )),
                None => Err(format!(
                    "step `{}` hangs on step `{}`, which is neither among these mappings nor in the journal: \
                     give its mapping before this one (or use the journal of the job that imported it)",
                    step.plan.name, parent.step
                )),
            }
        })
        .collect();
    for (step, found) in steps.iter_mut().zip(found) {
        match found {
            Ok(Some(entity)) => step.plan.bind_parent(entity),
            Ok(None) => {}
            Err(message) => {
                let span = step.file.spec.target.parent.as_ref().map_or(0..0, |p| p.span());
                diags.push(step.file.diag(span, message));
            }
        }
    }
    diags
}

/// Which parents a step of `kind` takes ([`Entity::takes_parent`]), in words.
fn parents_taken(kind: Entity) -> &'static str {
    match kind {
        Entity::Requisite => "a requisite's parent must be a company or contact step",
        Entity::BankDetail | Entity::Address => {
            "the parent of bank details and addresses must be a requisite step (entity = \"requisite\")"
        }
        Entity::ProductRows => {
            "the parent of product rows must be a lead, deal, quote, invoice or smart process step"
        }
        _ => "a parent must be a CRM step (lead, deal, contact, company, quote, invoice or a smart process)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_label_names_its_entity() {
        assert_eq!(entity_of_label("deal"), Some(Entity::Crm(2)));
        assert_eq!(entity_of_label("spa:1032"), Some(Entity::Crm(1032)));
        assert_eq!(entity_of_label("user"), Some(Entity::User));
        assert_eq!(entity_of_label("spa:x"), None);
    }
}
