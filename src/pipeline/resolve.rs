//! Lookups, user IDs and labels for deferred fields: a [`Draft`]'s pending values (`lookup`,
//! `user` and `type = "enum"` fields) found in the journal, the portal or the schema read at the
//! start of the run, making the [`Command`] that is sent.
//!
//! Owns: the per-step caches (other steps' key -> ID from the journal, e-mail -> user ID from
//! the portal, the step's [`LabelBook`]) and the rejection of a row whose lookup or label does
//! not resolve. A label costs no request: a stage is looked up within the row's own
//! `categoryId` (an ID, or a label resolved first), else the default pipeline. Must not write to
//! the journal or the portal.

use serde_json::{Value, json};

use std::collections::HashMap;

use super::ledger::Ledger;
use super::portal::Portal;
use super::step::Stop;
use crate::journal::JournalError;
use crate::mapping::{Pending, Problem};
use crate::payload::{Command, Draft};
use crate::schema::LabelBook;

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
    ) -> Result<Result<Command, (Problem, String)>, Stop> {
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
    ) -> Result<Result<Value, (Problem, String)>, Stop> {
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
            Pending::User { email } => match self.user_id(portal, email).await? {
                Ok(Some(id)) => Ok(json!(id)),
                Ok(None) => Err((Problem::UserNotFound, format!("no portal user with e-mail {email}"))),
                Err(e) => Err((Problem::LookupFailed, format!("could not look up the user {email}: {e}"))),
            },
            Pending::Label { field, label } => self.label(field, label, category),
        })
    }

    /// The pipeline a row's stage label is looked up in (see [`LabelBook::row_category`]).
    fn category_of(&mut self, draft: &Draft) -> Result<u64, (Problem, String)> {
        match self.labels.as_mut() {
            Some(book) => book.row_category(draft).map_err(|e| (Problem::UnknownLabel, e.0)),
            None => Ok(0),
        }
    }

    /// The ID a label names in the step's schema, or the row's rejection listing the values.
    fn label(&mut self, field: &str, label: &str, category: u64) -> Result<Value, (Problem, String)> {
        match self.labels.as_mut() {
            Some(book) => book.resolve(field, label, category).map_err(|e| (Problem::UnknownLabel, e.0)),
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
