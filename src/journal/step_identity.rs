//! What a step is, for the journal: its name, its entity (or smart process), its origin and its
//! key columns. The source file is not part of it: a nightly file with the date in its name
//! (`contacts-2026-12-06.csv` after `contacts-2026-12-05.csv`) is the next version of the same
//! step, and the run says "source now X (was Y)".
//!
//! Owns: [`StepConflict`] (a name the journal knows as another entity, origin or key) and the
//! check made before anything is written ([`Journal::check_step`]); the identity is kept in the
//! `meta` table (`step_identity:<name>`), so no schema change was needed. Must not: refuse a
//! step for its source path alone.

use std::path::Path;

use rusqlite::{OptionalExtension, params};

use super::{Journal, JournalError, StepSpec};

/// A step name the journal knows as another entity, or with another origin or key: refused
/// (exit 2), as mixing them would mark rows of one kind done with the IDs of another, or pair
/// rows by a key they were never recorded under.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepConflict {
    #[error(
        "step `{name}`: the journal {journal} has it as a {recorded} step (mapping {recorded_mapping}), \
         but {mapping} now imports {entity}. A step name always means one entity: give this mapping \
         another `name`, or use another journal (--journal FILE or --job NAME)"
    )]
    Entity {
        name: String,
        journal: String,
        recorded: String,
        recorded_mapping: String,
        mapping: String,
        entity: String,
    },
    #[error(
        "step `{name}`: the journal {journal} has it with {recorded}, but {mapping} now says {now}. \
         A step's rows are paired by their origin and key: give this mapping another `name` (or use \
         another journal: --journal FILE or --job NAME), or put the origin and key back"
    )]
    Identity { name: String, journal: String, recorded: String, mapping: String, now: String },
}

/// The origin and key columns of a step as the journal records them (`origin "crm-import",
/// key Code+Region`; `key: the row number` for a keyless step).
pub fn step_identity(origin: &str, key_columns: &[&str]) -> String {
    let key = if key_columns.is_empty() {
        "key: the row number".to_string()
    } else {
        format!("key {}", key_columns.join("+"))
    };
    format!("origin \"{origin}\", {key}")
}

fn meta_key(name: &str) -> String {
    format!("step_identity:{name}")
}

impl Journal {
    /// Whether `step`, whose origin and key are `identity` ([`step_identity`]), may use the
    /// journal's step of that name: the same entity, and the same identity when one is
    /// recorded. `Ok(Some(previous))`: accepted, and the source moved from `previous` (a
    /// nightly file with a new name is the next version of the same step). The outer error is
    /// the journal's.
    pub fn check_step(
        &self,
        step: &StepSpec<'_>,
        identity: &str,
    ) -> Result<Result<Option<String>, StepConflict>, JournalError> {
        let source_column = if self.version >= 3 { "source_path" } else { "NULL" };
        let recorded = self
            .conn
            .query_row(
                &format!("SELECT entity, mapping_path, {source_column} FROM steps WHERE name = ?1"),
                params![step.name],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?)),
            )
            .optional()?;
        let Some((entity, mapping, source)) = recorded else { return Ok(Ok(None)) };
        if entity != step.entity {
            return Ok(Err(StepConflict::Entity {
                name: step.name.to_string(),
                journal: self.path.display().to_string(),
                recorded: entity,
                recorded_mapping: mapping,
                mapping: step.mapping_path.display().to_string(),
                entity: step.entity.to_string(),
            }));
        }
        if let Some(recorded) = self.get_meta(&meta_key(step.name))?
            && recorded != identity
        {
            return Ok(Err(StepConflict::Identity {
                name: step.name.to_string(),
                journal: self.path.display().to_string(),
                recorded,
                mapping: step.mapping_path.display().to_string(),
                now: identity.to_string(),
            }));
        }
        Ok(Ok(source.filter(|s| Path::new(s) != step.source)))
    }

    /// Records the origin and key of step `name` (after [`Journal::check_step`] accepted it).
    pub fn record_step_identity(&mut self, name: &str, identity: &str) -> Result<(), JournalError> {
        self.set_meta(&meta_key(name), identity)
    }
}
