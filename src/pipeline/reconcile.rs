//! Finding rows with an unknown outcome in the portal by their external key.
//!
//! Owns: the exactly-once rule that nothing whose outcome is unknown is resent before a
//! lookup shows it absent: rows an earlier run left `sent`/`unknown` (looked up before the
//! step reads its source) and this run's unknown rows (looked up, the absent ones resent, a
//! few rounds at most). A failed lookup changes nothing: the rows stay unknown.

use super::core::{Core, Item, Ready, Unknowns};
use super::send::Landing;
use super::stop::Stop;
use crate::journal::Outcome;
use crate::mapping::{Entity, KeyField};
use crate::portal::Dispatcher;

/// Rounds of "look up unknown rows, resend the absent ones" at the end of a step.
pub(super) const MAX_RECONCILE_ROUNDS: u32 = 5;

impl Unknowns {
    /// Rows an earlier run left `sent` or `unknown` are looked up by their external key:
    /// found -> done; absent -> pending (sent again when the source reaches them). An update
    /// (the row has a portal ID) is simply sent again: updates are idempotent.
    pub(super) async fn reconcile_leftovers(&mut self, core: &mut Core<'_>) -> Result<(), Stop> {
        let rows = core.ledger.rows_to_reconcile()?;
        if rows.is_empty() {
            return Ok(());
        }
        let (updates, creates): (Vec<_>, Vec<_>) = rows.into_iter().partition(|r| r.portal_id.is_some());
        let retry: Vec<(&str, Outcome)> = updates.iter().map(|r| (r.key.as_str(), Outcome::Retry)).collect();
        core.ledger.record_outcomes(&retry)?;
        let keys: Vec<String> = creates.into_iter().map(|r| r.key).collect();
        // A comment is looked up by its text, known only once its source row is read again
        // (`rows`, at admission).
        if core.plan.target.entity == Entity::Comment {
            return Ok(());
        }
        let (found, absent) = Self::reconcile(core, &keys).await?;
        core.report.reconciled_found += found as u64;
        core.report.reconciled_absent += (absent.len() + updates.len()) as u64;
        Ok(())
    }

    /// Looks up this run's unknown rows; resends the absent ones (and unknown updates), a few
    /// rounds at most, through the step's dispatcher (what did not run goes again there).
    pub(super) async fn reconcile_this_run(
        &mut self,
        core: &mut Core<'_>,
        sender: &mut Dispatcher<Item>,
    ) -> Result<(), Stop> {
        for _ in 0..MAX_RECONCILE_ROUNDS {
            if self.rows.is_empty() {
                return Ok(());
            }
            let (updates, creates): (Vec<String>, Vec<String>) =
                self.rows.keys().cloned().partition(|k| self.rows[k].0.method.is_update());
            let (found, mut absent) = if core.plan.target.entity == Entity::Comment {
                self.reconcile_comments(core, &creates).await?
            } else {
                Self::reconcile(core, &creates).await?
            };
            core.report.created += found as u64;
            if !updates.is_empty() {
                let retry: Vec<(&str, Outcome)> =
                    updates.iter().map(|k| (k.as_str(), Outcome::Retry)).collect();
                core.ledger.record_outcomes(&retry)?;
                absent.extend(updates);
            }
            let absent: std::collections::HashSet<String> = absent.into_iter().collect();
            let mut again = Vec::new();
            for (key, (cmd, fields)) in std::mem::take(&mut self.rows) {
                if absent.contains(&key) {
                    again.push(Ready { key, cmd, fields });
                } else if core.ledger.still_unknown(&key)? {
                    self.rows.insert(key, (cmd, fields));
                } else if let Some(id) = core.ledger.row_state(&key)?.and_then(|s| s.portal_id) {
                    // Found: what its answer would have made is owed now.
                    core.owe_followup(&key, &cmd, id);
                }
            }
            if again.is_empty() && !self.rows.is_empty() {
                // Nothing could be decided (no key to look them up by, or the lookup failed):
                // try the lookup again after a pause, then leave them unknown and report.
                core.reads
                    .portal()
                    .pause(std::time::Duration::from_millis(500))
                    .await
                    .map_err(Stop::Portal)?;
                continue;
            }
            // An import step's rows go oldest first (the portal refuses an item older than its
            // newest); the map holds them in no order.
            again.sort_by_key(|r| super::order::created_at(&r.cmd).unwrap_or(i64::MAX));
            // An ordered dispatcher paused on these unknown rows: they are settled now.
            sender.resume();
            Landing { core, unknowns: self }.send_all(sender, again).await?;
        }
        Ok(())
    }

    /// This run's comments with an unknown outcome, each looked up by its text and author among
    /// its parent's comments (`attached::find_comment`); recorded as [`Self::reconcile`] does.
    async fn reconcile_comments(
        &self,
        core: &mut Core<'_>,
        keys: &[String],
    ) -> Result<(usize, Vec<String>), Stop> {
        let mut taken: std::collections::HashSet<u64> =
            core.ledger.ids_of_step(&core.plan.name)?.into_values().collect();
        let mut outcomes = Vec::new();
        let mut absent = Vec::new();
        for key in keys {
            let Some((cmd, _)) = self.rows.get(key) else { continue };
            match super::attached::find_comment(core, cmd, &taken).await? {
                Ok(Some(id)) => {
                    taken.insert(id);
                    outcomes.push((key.as_str(), Outcome::Done { id, existing: false }));
                }
                Ok(None) => {
                    outcomes.push((key.as_str(), Outcome::Retry));
                    absent.push(key.clone());
                }
                Err(e) => {
                    let _ = Self::lookup_failed(core, &e);
                }
            }
        }
        let found = outcomes.len() - absent.len();
        core.ledger.record_outcomes(&outcomes)?;
        Ok((found, absent))
    }

    /// Looks `keys` up in the portal by their external key and records what it finds.
    /// Returns (found count, absent keys). Keys that cannot be looked up stay as they are.
    pub(super) async fn reconcile(
        core: &mut Core<'_>,
        keys: &[String],
    ) -> Result<(usize, Vec<String>), Stop> {
        if keys.is_empty() {
            return Ok((0, Vec::new()));
        }
        if matches!(core.plan.target.entity, Entity::Address | Entity::ProductRows) {
            // Adding an address again is safe (`pipeline::record`): every unknown one is resent;
            // so is a parent's product-row set (`set` replaces its rows: `pipeline::products`).
            let outcomes: Vec<(&str, Outcome)> = keys.iter().map(|k| (k.as_str(), Outcome::Retry)).collect();
            core.ledger.record_outcomes(&outcomes)?;
            return Ok((0, keys.to_vec()));
        }
        if core.plan.target.entity.key_field() == KeyField::None {
            core.report.notes.push(format!(
                "{} row(s) have an unknown outcome and {} items have no external key to look them up by; \
                 check them in the portal",
                keys.len(),
                core.plan.target.entity.name()
            ));
            return Ok((0, Vec::new()));
        }
        let lookable: Vec<String> =
            keys.iter().filter(|k| !crate::journal::keys::is_by_line(k)).cloned().collect();
        // The portal holds a row's source key (a journal key is its text, `\#7` for `#7`).
        let external: Vec<String> = lookable.iter().map(|k| crate::journal::keys::shown(k)).collect();
        let found = match core.portal().find_items(&core.plan.target, &external, false).await? {
            Ok(found) => found,
            Err(e) => return Ok(Self::lookup_failed(core, &e)),
        };
        let user = core.plan.target.entity == Entity::User;
        let mut outcomes = Vec::new();
        let mut absent = Vec::new();
        for (key, external) in lookable.iter().zip(&external) {
            match found_id(&found, external, user) {
                Some(id) => outcomes.push((key.as_str(), Outcome::Done { id, existing: false })),
                None => {
                    outcomes.push((key.as_str(), Outcome::Retry));
                    absent.push(key.clone());
                }
            }
        }
        let found_count = outcomes.len() - absent.len();
        core.ledger.record_outcomes(&outcomes)?;
        Ok((found_count, absent))
    }

    /// A lookup that failed changes nothing: the rows stay `sent`/`unknown` for a later try.
    pub(super) fn lookup_failed(core: &mut Core<'_>, error: &str) -> (usize, Vec<String>) {
        core.report
            .notes
            .push(format!("could not look up rows with an unknown outcome ({error}); they stay unknown"));
        (0, Vec::new())
    }
}

/// The portal ID a lookup found for the external key `external` (a user's e-mail compares in
/// lower case, as `user.get` lists it), if any.
pub(super) fn found_id(
    found: &std::collections::HashMap<String, (u64, serde_json::Value)>,
    external: &str,
    user: bool,
) -> Option<u64> {
    let id = if user { found.get(&external.to_lowercase()) } else { found.get(external) };
    id.map(|(id, _)| *id)
}
