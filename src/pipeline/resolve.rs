//! Lookups and user IDs for deferred fields: a [`Draft`]'s pending values (`lookup` and `user`
//! fields) found in the journal or the portal, making the [`Command`] that is sent.
//!
//! Owns: the per-step caches (other steps' key -> ID from the journal, e-mail -> user ID from
//! the portal) and the rejection of a row whose lookup does not resolve. Must not write to
//! the journal or the portal.

use serde_json::{Value, json};

use std::collections::HashMap;

use super::ledger::Ledger;
use super::portal::Portal;
use super::step::Stop;
use crate::journal::JournalError;
use crate::mapping::{Pending, Problem};
use crate::payload::{Command, Draft};

/// What a step has found out so far, so that each step's IDs and each user are looked up once.
#[derive(Debug, Default)]
pub(super) struct Resolver {
    /// Other steps' key -> portal ID, loaded from the journal when first needed.
    lookups: HashMap<String, HashMap<String, u64>>,
    /// E-mail -> user ID (None: no such user).
    users: HashMap<String, Option<u64>>,
    /// Steps of this run a dry run did not write: their IDs do not exist yet (empty when writing).
    unwritten: Vec<String>,
}

impl Resolver {
    /// `unwritten`: the steps of a dry run (a lookup into them resolves to 0); empty when writing.
    pub(super) fn new(unwritten: Vec<String>) -> Resolver {
        Resolver { unwritten, ..Default::default() }
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
        for field in draft.pending() {
            let mut ids = Vec::with_capacity(field.values.len());
            for pending in &field.values {
                match self.id_of(pending, ledger, portal).await? {
                    Ok(id) => ids.push(id),
                    Err(rejection) => return Ok(Err(rejection)),
                }
            }
            values.push(field.value(ids));
        }
        Ok(Ok(draft.complete(values)))
    }

    /// The portal value of one pending value, or the row's rejection.
    async fn id_of(
        &mut self,
        pending: &Pending,
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
            Pending::Label { field, label } => Err((
                Problem::UnknownLabel,
                format!(
                    "field `{field}`: the label \"{label}\" cannot be resolved without the portal's lists"
                ),
            )),
        })
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
