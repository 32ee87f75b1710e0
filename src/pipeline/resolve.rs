//! Lookups, user IDs and labels for deferred fields: a [`Draft`]'s pending values (`lookup`,
//! `user` and `type = "enum"` fields) found in the journal, the portal or the schema read at the
//! start of the run, making the [`Command`] that is sent.
//!
//! Owns: the per-step caches (other steps' key -> ID from the journal, e-mail -> user ID from
//! the portal, the step's [`LabelBook`]) and the rejection of a row whose lookup or label does
//! not resolve. A label costs no request: a stage is looked up within the row's own
//! `categoryId` (an ID, or a label resolved first), else the default pipeline. Must not write to
//! the journal or the portal.
//!
//! The rules that need no request ([`row_category`], [`label_value`], [`user_value`],
//! [`label_book`]) are free functions that `validate --online` calls too (through
//! [`super::steps`]), so that a row `validate --online` passes is a row the run resolves, with
//! the same rejection texts.

use serde_json::{Value, json};

use std::collections::HashMap;
use std::sync::Arc;

use super::ledger::Ledger;
use super::portal::Portal;
use super::stop::Stop;
use crate::journal::JournalError;
use crate::mapping::{Entity, MappingPlan, Pending, Problem};
use crate::payload::{Command, Draft};
use crate::schema::{LabelBook, PortalSchema};

/// A row's rejection: its kind and the text shown.
pub type Rejection = (Problem, String);

/// The label book of a step whose lists are in `schema`: `None` for a user step and for a
/// smart process the portal does not have (a schema gap that says so already).
pub fn label_book(schema: &Arc<PortalSchema>, plan: &MappingPlan) -> Option<LabelBook> {
    match plan.target.entity {
        Entity::Crm(etid) if !plan.is_unbound() => Some(LabelBook::new(schema.clone(), etid)),
        _ => None,
    }
}

/// The pipeline a row's stage labels are looked up in (see [`LabelBook::row_category`]); with
/// no book, the default one (0). `Err`: the row's `categoryId` label is unknown.
pub fn row_category(book: Option<&mut LabelBook>, draft: &Draft) -> Result<u64, Rejection> {
    match book {
        Some(book) => book.row_category(draft).map_err(|e| (Problem::UnknownLabel, e.0)),
        None => Ok(0),
    }
}

/// The ID `label` names in `field`'s list (stages: within `category`), or the row's rejection
/// listing the portal's values.
pub fn label_value(
    book: &mut LabelBook,
    field: &str,
    label: &str,
    category: u64,
) -> Result<Value, Rejection> {
    book.resolve(field, label, category).map_err(|e| (Problem::UnknownLabel, e.0))
}

/// The value of a `user = "email"` field once `email` was looked up: `found` is the user ID
/// (`None`: no such user), `Err` the lookup failed (the row is rejected with `lookup_failed`
/// rather than guessed).
pub fn user_value(email: &str, found: Result<Option<u64>, &str>) -> Result<Value, Rejection> {
    match found {
        Ok(Some(id)) => Ok(json!(id)),
        Ok(None) => Err((Problem::UserNotFound, format!("no portal user with e-mail {email}"))),
        Err(e) => Err((Problem::LookupFailed, format!("could not look up the user {email}: {e}"))),
    }
}

/// What a step has found out so far, so that each step's IDs and each user are looked up once.
#[derive(Debug, Default)]
pub(super) struct Resolver {
    /// Other steps' key -> portal ID, loaded from the journal when first needed.
    lookups: HashMap<String, HashMap<String, u64>>,
    /// E-mail -> user ID (None: no such user).
    users: HashMap<String, Option<u64>>,
    /// Steps of this run a dry run did not write: their IDs do not exist yet (empty when writing).
    unwritten: Vec<String>,
    /// Labels -> IDs from the schema the run read (`None`: the run read no schema).
    labels: Option<LabelBook>,
    /// Product rows' catalogue (issue 20), read when first needed (`Err`: the read failed).
    catalogue: Option<Result<super::catalogue::Catalogue, String>>,
}

impl Resolver {
    /// `unwritten`: the steps of a dry run (a lookup into them resolves to 0); empty when writing.
    pub(super) fn new(unwritten: Vec<String>) -> Resolver {
        Resolver { unwritten, ..Default::default() }
    }

    /// Resolves `type = "enum"` labels with `book` (the step's lists, read once).
    pub(super) fn with_labels(mut self, book: Option<LabelBook>) -> Resolver {
        self.labels = book;
        self
    }

    /// Completes `draft` with portal IDs for its pending fields: other steps' IDs from the
    /// `ledger`, users from the `portal`. The inner `Err` is the row's rejection (kind, text).
    pub(super) async fn resolve(
        &mut self,
        draft: Draft,
        ledger: &Ledger<'_>,
        portal: Portal<'_>,
    ) -> Result<Result<Command, Rejection>, Stop> {
        let mut values = Vec::with_capacity(draft.pending().len());
        let category = match self.category_of(&draft) {
            Ok(c) => c,
            Err(rejection) => return Ok(Err(rejection)),
        };
        for field in draft.pending() {
            let mut ids = Vec::with_capacity(field.values.len());
            for pending in &field.values {
                match self.id_of(pending, category, ledger, portal).await? {
                    Ok(id) => ids.push(id),
                    Err(rejection) => return Ok(Err(rejection)),
                }
            }
            values.push(field.value(ids));
        }
        Ok(Ok(draft.complete(values)))
    }

    /// The portal value of one pending value (a label within the row's `category`), or the
    /// row's rejection.
    async fn id_of(
        &mut self,
        pending: &Pending,
        category: u64,
        ledger: &Ledger<'_>,
        portal: Portal<'_>,
    ) -> Result<Result<Value, Rejection>, Stop> {
        Ok(match pending {
            Pending::Lookup { step, key } => match self.lookup(ledger, step, key)? {
                Some(id) => Ok(json!(id)),
                // A dry run wrote nothing, so IDs of this run's earlier steps do not exist yet.
                None if self.unwritten.contains(step) => Ok(json!(0)),
                None => Err((
                    Problem::LookupNotFound,
                    format!("step `{step}` has no imported row with key `{key}`"),
                )),
            },
            Pending::Parent { step, key } => match self.lookup(ledger, step, key)? {
                Some(id) => Ok(json!(id)),
                None if self.unwritten.contains(step) => Ok(json!(0)),
                // Not done (not imported yet, rejected, unknown): the row waits, never guesses.
                None => Err((
                    Problem::ParentPending,
                    format!("its parent `{key}` (step `{step}`) is not imported yet; the row waits for it"),
                )),
            },
            Pending::User { email } => {
                let found = self.user_id(portal, email).await?;
                user_value(email, found.as_ref().copied().map_err(String::as_str))
            }
            Pending::Label { field, label } => self.label(field, label, category),
            Pending::Product { by, value } => {
                if self.catalogue.is_none() {
                    self.catalogue = Some(super::catalogue::Catalogue::read(portal).await?);
                }
                match self.catalogue.as_ref().expect("read above") {
                    Ok(c) => c.find(*by, value).map(|id| json!(id)),
                    Err(e) => {
                        Err((Problem::LookupFailed, format!("could not read the catalogue products: {e}")))
                    }
                }
            }
        })
    }

    /// The pipeline a row's stage label is looked up in ([`row_category`]).
    fn category_of(&mut self, draft: &Draft) -> Result<u64, Rejection> {
        row_category(self.labels.as_mut(), draft)
    }

    /// The ID a label names in the step's schema ([`label_value`]); the run without a schema
    /// read cannot resolve any label.
    fn label(&mut self, field: &str, label: &str, category: u64) -> Result<Value, Rejection> {
        match self.labels.as_mut() {
            Some(book) => label_value(book, field, label, category),
            None => Err((
                Problem::UnknownLabel,
                format!(
                    "field `{field}`: the label \"{label}\" cannot be resolved: the portal's lists were not read"
                ),
            )),
        }
    }

    fn lookup(&mut self, ledger: &Ledger<'_>, step: &str, key: &str) -> Result<Option<u64>, JournalError> {
        if !self.lookups.contains_key(step) {
            let ids = ledger.ids_of_step(step)?;
            self.lookups.insert(step.to_string(), ids);
        }
        Ok(self.lookups.get(step).and_then(|m| m.get(key)).copied())
    }

    /// The user ID of `email`; `Err` when the lookup failed (the row is rejected with
    /// `lookup_failed` rather than guessed).
    async fn user_id(
        &mut self,
        portal: Portal<'_>,
        email: &str,
    ) -> Result<Result<Option<u64>, String>, Stop> {
        if let Some(found) = self.users.get(email) {
            return Ok(Ok(*found));
        }
        match portal.find_users(&[email.to_string()]).await? {
            Ok(mut found) => {
                let id = found.remove(email);
                self.users.insert(email.to_string(), id);
                Ok(Ok(id))
            }
            Err(e) => Ok(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `validate --online` and the run reject a row for its user by these texts; both call
    // `user_value`, so the texts cannot drift apart.
    #[test]
    fn a_user_resolves_to_its_id_or_to_the_rejection_validate_shows_too() {
        assert_eq!(user_value("a@x.io", Ok(Some(7))), Ok(json!(7)));
        assert_eq!(
            user_value("a@x.io", Ok(None)),
            Err((Problem::UserNotFound, "no portal user with e-mail a@x.io".to_string()))
        );
        assert_eq!(
            user_value("a@x.io", Err("HTTP 503")),
            Err((Problem::LookupFailed, "could not look up the user a@x.io: HTTP 503".to_string()))
        );
    }
}
