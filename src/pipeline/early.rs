//! Unknown outcomes settled while the step still sends (issue 23: "reconciliation rounds that
//! wait for each other").
//!
//! Owns [`EarlyLookups`]: this run's rows whose answer was lost (a dropped connection, a 5xx)
//! are looked up by their external key while later batches are still in flight, instead of in
//! rounds after the step's last answer. The lookup is a task of its own whose reads ride in the
//! next write batches (no request of their own, [`crate::portal::Reads::riding`]); what it
//! finds is recorded as `reconcile` records it (found -> done, absent -> sent again with the
//! rows still streaming). The exactly-once rule is `reconcile`'s, unchanged: nothing whose
//! outcome is unknown is sent again before a lookup shows it absent.
//!
//! Decisions, written down here:
//! - A row is asked [`SETTLE`] after its answer was lost, never before: a portal that answered
//!   500 or whose answer was lost on the way has finished what that request ran by then. A row
//!   whose request timed out (the client's timeout, a 504) may still be running on the portal:
//!   it is left to the step's end, as before.
//! - Only steps whose rows are found by a key and sent in any order: not an import step (its
//!   ordered dispatcher pauses on an unknown outcome), not comments (found by text), addresses
//!   or product rows (sent again whole), not a step with duplicate control (its end settles
//!   duplicates within the source first), not a dry run.
//! - A lookup that fails changes nothing: its rows stay unknown for the step's end.
//!
//! Must not: resend a row it did not find absent, or hold the step's loop for an answer.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use tokio::task::JoinHandle;

use super::core::{Core, Item, Ready, Unknowns};
use super::portal::{LOOKUP_CHUNK, Portal};
use super::send::Landing;
use super::stop::Stop;
use crate::journal::Outcome;
use crate::mapping::{Entity, KeyField};
use crate::payload::Command;
use crate::portal::Dispatcher;

/// How long after its answer was lost a row is looked up mid-step.
pub(super) const SETTLE: Duration = Duration::from_secs(1);

/// How long a mid-step lookup waits for a batch with room to ride in: the batches already
/// packed wait for their turn at the bucket before it (several seconds of them at a low rate),
/// and nothing hurries a lookup; at the step's end one still waiting is dropped (its rows are
/// asked at once then).
pub(super) const RIDE_WAIT: Duration = Duration::from_secs(15);

/// How many times one row is sent again by a mid-step lookup; lost again after that, it waits
/// for the step's reconciliation (bounded rounds), so a portal that loses every answer of a row
/// cannot keep it circling.
const MAX_EARLY_RESENDS: u32 = 3;

/// Keys one mid-step lookup asks at most (one `crm.item.list` call per [`LOOKUP_CHUNK`]).
const KEYS_PER_LOOKUP: usize = LOOKUP_CHUNK * 4;

/// What one lookup task answers: key -> (portal ID, item), or why it failed.
type Found = Result<Result<HashMap<String, (u64, Value)>, String>, Stop>;

/// A lookup on its way: the journal keys it asks, in order.
struct Running {
    keys: Vec<String>,
    task: JoinHandle<Found>,
}

/// The step's mid-step lookups of unknown rows (kept in [`Unknowns::early`] when the step
/// [applies](EarlyLookups::applies) them).
#[derive(Default)]
pub(super) struct EarlyLookups {
    /// Rows whose answer was lost other than by a timeout, not yet asked.
    lost: Vec<String>,
    running: Vec<Running>,
    /// Rows sent again by a mid-step lookup, and how often.
    resent: HashMap<String, u32>,
}

impl EarlyLookups {
    /// Whether a step of `core` may settle unknown rows while it sends.
    pub(super) fn applies(core: &Core<'_>, ordered: bool) -> bool {
        let entity = core.plan.target.entity;
        core.writing()
            && !ordered
            && !core.plan.duplicates.checks()
            && entity.key_field() != KeyField::None
            && !matches!(entity, Entity::Comment | Entity::Address | Entity::ProductRows)
    }

    /// Row `key`'s answer was lost just now (`reason`): asked soon unless it timed out.
    pub(super) fn lost(&mut self, key: &str, cmd: &Command, reason: &str) {
        if !crate::portal::answer::timed_out(reason)
            && !cmd.method.is_update()
            && !crate::journal::keys::is_by_line(key)
            && self.resent.get(key).copied().unwrap_or(0) < MAX_EARLY_RESENDS
        {
            self.lost.push(key.to_string());
        }
    }

    /// Starts a lookup of the rows lost so far (recorded unknown in the journal already): it
    /// waits [`SETTLE`], then asks, its reads riding in the next write batches. Called as an
    /// answer lands, also while the step's last requests land.
    pub(super) fn start(&mut self, core: &Core<'_>) {
        while !self.lost.is_empty() {
            let n = self.lost.len().min(KEYS_PER_LOOKUP);
            let keys: Vec<String> = self.lost.drain(..n).collect();
            // The portal holds a row's source key (a journal key is its text, `\#7` for `#7`).
            let external: Vec<String> = keys.iter().map(|k| crate::journal::keys::shown(k)).collect();
            let reads = core.reads.riding(RIDE_WAIT);
            let target = core.plan.target.clone();
            let task = tokio::spawn(async move {
                reads.portal().pause(SETTLE).await.map_err(Stop::Portal)?;
                Portal::new(&reads).find_items(&target, &external, false).await
            });
            self.running.push(Running { keys, task });
        }
    }

    /// Lands the lookups that have answered (found rows done, absent ones handed to `sender`
    /// again). At the step's `end` (every answer landed, no batch left to ride in) the others
    /// are dropped: their rows are still unknown and the step's reconciliation asks them at
    /// once, instead of after a settling pause and a wait for a ride. The rows a failed lookup
    /// asked stay unknown for that reconciliation too.
    pub(super) async fn land(
        unknowns: &mut Unknowns,
        core: &mut Core<'_>,
        sender: &mut Dispatcher<Item>,
        end: bool,
    ) -> Result<(), Stop> {
        let Some(early) = unknowns.early.as_mut() else { return Ok(()) };
        // Called after every source row: nothing to do is the common case.
        if !end && !early.running.iter().any(|r| r.task.is_finished()) {
            return Ok(());
        }
        let (done, running): (Vec<Running>, Vec<Running>) =
            std::mem::take(&mut early.running).into_iter().partition(|r| r.task.is_finished());
        if end {
            early.lost.clear();
            // Reads only: dropping one loses nothing.
            running.iter().for_each(|r| r.task.abort());
        } else {
            early.running = running;
        }
        let mut again = Vec::new();
        for Running { keys, task } in done {
            let found = match task.await {
                Ok(found) => found?,
                Err(e) => Err(format!("the lookup task failed: {e}")),
            };
            // A failed lookup settles nothing: the rows stay for the step's end.
            let Ok(found) = found else { continue };
            let user = core.plan.target.entity == Entity::User;
            let mut outcomes = Vec::new();
            let mut owed = Vec::new();
            for key in &keys {
                // Settled meanwhile by something else: leave it.
                let Some((cmd, fields)) = unknowns.rows.remove(key) else { continue };
                match super::reconcile::found_id(&found, &crate::journal::keys::shown(key), user) {
                    Some(id) => {
                        outcomes.push((key.as_str(), Outcome::Done { id, existing: false }));
                        owed.push((key.clone(), cmd, id));
                    }
                    None => {
                        outcomes.push((key.as_str(), Outcome::Retry));
                        *early.resent.entry(key.clone()).or_default() += 1;
                        again.push(Ready { key: key.clone(), cmd, fields });
                    }
                }
            }
            core.ledger.record_outcomes(&outcomes)?;
            core.report.created += owed.len() as u64;
            for (key, cmd, id) in owed {
                // Found: what its answer would have made is owed now.
                core.owe_followup(&key, &cmd, id);
            }
        }
        if again.is_empty() && core.followups.is_empty() {
            return Ok(());
        }
        Landing { core, unknowns }.send(sender, again).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitrix::Method;
    use serde_json::json;

    fn add() -> Command {
        Command { method: Method::CrmItemAdd, params: json!({"entityTypeId": 3, "fields": {}}) }
    }

    #[test]
    fn only_rows_lost_without_a_timeout_and_not_yet_sent_again_too_often_are_asked_mid_step() {
        let mut early = EarlyLookups::default();
        early.lost("a", &add(), "HTTP 500 INTERNAL_SERVER_ERROR");
        early.lost("b", &add(), "connection closed before message completed");
        // A timed-out request may still be running on the portal: the step's end asks it.
        early.lost("c", &add(), "the request timed out after 60 s");
        early.lost("d", &add(), "HTTP 504 Gateway Timeout");
        // An update is sent again as it is, at the step's end (idempotent).
        let update = Command { method: Method::CrmItemUpdate, params: json!({"id": 1, "fields": {}}) };
        early.lost("e", &update, "HTTP 500");
        // A row sent again by mid-step lookups as often as allowed waits for the step's end.
        early.resent.insert("f".into(), MAX_EARLY_RESENDS);
        early.lost("f", &add(), "HTTP 500");
        early.resent.insert("g".into(), MAX_EARLY_RESENDS - 1);
        early.lost("g", &add(), "HTTP 500");
        assert_eq!(early.lost, ["a", "b", "g"]);
    }
}
