//! Lookups and user IDs for deferred fields: the `{"$lookup": ...}` / `{"$user": ...}` values
//! of a command replaced with portal IDs before it is sent.
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
use crate::mapping::Entity;
use crate::payload::Command;

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

    /// Replaces `{"$lookup": step, "key": k}` and `{"$user": email}` markers in a command for
    /// `entity` with portal IDs: other steps' IDs from the `ledger`, users from the `portal`.
    /// The inner `Err` is the row's rejection (code, text).
    pub(super) async fn resolve(
        &mut self,
        cmd: &mut Command,
        entity: Entity,
        ledger: &Ledger<'_>,
        portal: Portal<'_>,
    ) -> Result<Result<(), (&'static str, String)>, Stop> {
        let fields = match entity {
            Entity::User => &mut cmd.params,
            Entity::Crm(_) => match cmd.params.get_mut("fields") {
                Some(f) => f,
                None => return Ok(Ok(())),
            },
        };
        let Some(map) = fields.as_object_mut() else { return Ok(Ok(())) };
        for value in map.values_mut() {
            let slots: Vec<&mut Value> = match value {
                Value::Array(items) => items.iter_mut().collect(),
                other => vec![other],
            };
            for slot in slots {
                let replacement = if let Some(step) = slot.get("$lookup").and_then(Value::as_str) {
                    let key = slot.get("key").and_then(Value::as_str).unwrap_or_default().to_string();
                    let step = step.to_string();
                    match self.lookup(ledger, &step, &key)? {
                        Some(id) => json!(id),
                        // A dry run wrote nothing, so IDs of this run's earlier steps do not exist yet.
                        None if self.unwritten.contains(&step) => json!(0),
                        None => {
                            return Ok(Err((
                                "lookup_not_found",
                                format!("step `{step}` has no imported row with key `{key}`"),
                            )));
                        }
                    }
                } else if let Some(email) = slot.get("$user").and_then(Value::as_str) {
                    let email = email.to_string();
                    match self.user_id(portal, &email).await? {
                        Ok(Some(id)) => json!(id),
                        Ok(None) => {
                            return Ok(Err((
                                "user_not_found",
                                format!("no portal user with e-mail {email}"),
                            )));
                        }
                        Err(e) => {
                            return Ok(Err((
                                "lookup_failed",
                                format!("could not look up the user {email}: {e}"),
                            )));
                        }
                    }
                } else {
                    continue;
                };
                *slot = replacement;
            }
        }
        Ok(Ok(()))
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
