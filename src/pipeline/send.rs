//! Sending a pack of commands and turning the portal's answer into row outcomes.
//!
//! Owns: the exactly-once bracket around a request (the pack's rows go `sent` in one
//! transaction before it and to their outcomes in one transaction after it), a batch answer ->
//! row outcomes (done with an ID, rejected, not executed -> resent, unknown -> reconciled,
//! "user already exists" -> the existing user), and the 413 rule: a pack refused as too large
//! is split in halves, a single command goes alone, and one still too large alone is rejected
//! `too_large`. Must not decide which rows to send (that is `admit`).
//!
//! Requests in flight: a pack is journaled `sent` and its request spawned as a task of its
//! own ([`Flights`]), which holds only the commands (the rows' journal side stays on the
//! step's task); answers are applied as they land, in any order. [`StepRunner::send`] returns
//! as soon as fewer requests are in flight than the transport's current limit, so with a limit
//! of 1 a pack's answer is recorded before the next pack is journaled, as before.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde_json::Value;

use super::step::{StepRunner, Stop};
use crate::bitrix::json;
use crate::journal::{FieldHashes, Outcome};
use crate::mapping::{Entity, OnExisting};
use crate::payload::Command;
use crate::transport::{BatchOutcome, CommandOutcome, Pack, Transport, TransportError};

/// A row waiting to be sent: its journal key, its command, and the hashes of its full field
/// object to store in the journal once the portal has it (for later upserts).
pub(super) struct Ready {
    pub(super) key: String,
    pub(super) cmd: Command,
    pub(super) resends: u32,
    pub(super) fields: Option<FieldHashes>,
}

/// What a packed command carries besides the command: its row key, field hashes to store, and
/// how many times it was sent again after it did not run.
pub(super) struct Item {
    pub(super) key: String,
    pub(super) fields: Option<FieldHashes>,
    pub(super) resends: u32,
}

impl Item {
    pub(super) fn new(key: String, fields: Option<FieldHashes>) -> Item {
        Item { key, fields, resends: 0 }
    }
}

/// A batch whose portal time passes this is slow: a third of the portal's 60 s cap per request.
pub(super) const SLOW_BATCH: Duration = Duration::from_secs(20);

/// Fast batches in a row (under half of [`SLOW_BATCH`], full size) before the size grows a step.
pub(super) const GROW_AFTER: u32 = 3;

/// The commands per batch that keep a batch's portal time well under the 60 s cap: shrunk
/// after a slow or timed-out batch (to what would have taken half of [`SLOW_BATCH`], at most
/// half the size), grown back by a quarter (at least one) after [`GROW_AFTER`] fast full
/// batches in a row, never above the step's `--batch-size`. Pure: the step reports each
/// batch's portal time (`time.duration`) and asks for the size before packing.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct BatchSize {
    max: usize,
    current: usize,
    fast_in_a_row: u32,
}

impl BatchSize {
    pub(super) fn new(max: usize) -> BatchSize {
        let max = max.max(1);
        BatchSize { max, current: max, fast_in_a_row: 0 }
    }

    /// Commands per batch now.
    pub(super) fn current(&self) -> usize {
        self.current
    }

    /// A batch of `commands` took `took` of portal time; `None`: it timed out.
    pub(super) fn after(&mut self, commands: usize, took: Option<Duration>) {
        let half = (self.current / 2).max(1);
        match took {
            None => {
                self.current = (commands.min(self.current) / 2).clamp(1, half);
                self.fast_in_a_row = 0;
            }
            Some(t) if t > SLOW_BATCH => {
                let fits = (commands as f64 * (SLOW_BATCH / 2).as_secs_f64() / t.as_secs_f64()).floor();
                self.current = (fits as usize).clamp(1, half);
                self.fast_in_a_row = 0;
            }
            Some(t) if t < SLOW_BATCH / 2 && commands >= self.current => {
                self.fast_in_a_row += 1;
                if self.fast_in_a_row >= GROW_AFTER && self.current < self.max {
                    self.current = (self.current + (self.current / 4).max(1)).min(self.max);
                    self.fast_in_a_row = 0;
                }
            }
            Some(_) => self.fast_in_a_row = 0,
        }
    }
}

/// Whether an ambiguous failure says the request ran out of time (a client timeout, or the
/// gateway's 504), as opposed to a dropped connection or a 5xx that says nothing of its length.
pub(super) fn timed_out(reason: &str) -> bool {
    reason.contains("timed out") || reason.contains("504")
}

/// What a request task gives back: its commands and the transport's answer.
type Landed = (Vec<(String, Command)>, Result<BatchOutcome, TransportError>);

/// The requests of a step that are on their way: one task each, holding only the commands;
/// the rows' items wait here, by task, for the answer.
#[derive(Default)]
pub(super) struct Flights {
    tasks: tokio::task::JoinSet<Landed>,
    items: HashMap<tokio::task::Id, (Vec<Item>, bool)>,
}

impl Flights {
    /// Requests not yet applied.
    pub(super) fn len(&self) -> usize {
        self.items.len()
    }

    /// Starts the request of `commands` (`alone`: one command sent as a direct call).
    fn launch(
        &mut self,
        transport: &Transport,
        items: Vec<Item>,
        commands: Vec<(String, Command)>,
        alone: bool,
    ) {
        let transport = transport.clone();
        let handle = self.tasks.spawn(async move {
            let answer = match commands.as_slice() {
                [(key, cmd)] if alone => transport.call_alone(key, cmd).await,
                commands => transport.call_batch(commands).await,
            };
            (commands, answer)
        });
        self.items.insert(handle.id(), (items, alone));
    }

    /// The next answer to land, with its pack; `None` when nothing is in flight. A task that
    /// failed (it cannot, short of a bug) gives its rows back with no commands and no answer.
    async fn next(&mut self) -> Option<(Pack<Item>, Option<Result<BatchOutcome, TransportError>>)> {
        let joined = self.tasks.join_next_with_id().await?;
        let (id, landed) = match joined {
            Ok((id, landed)) => (id, Some(landed)),
            Err(e) => (e.id(), None),
        };
        let (items, alone) = self.items.remove(&id).unwrap_or_default();
        Some(match landed {
            Some((commands, answer)) => (Pack { items, commands, alone }, Some(answer)),
            None => (Pack { items, commands: Vec::new(), alone }, None),
        })
    }
}

/// What the portal's answer says about one command of a batch.
#[derive(Debug, PartialEq)]
pub(super) enum Answer<'o> {
    /// It ran: created (or, `update`, updated) the item `id`.
    Done { id: u64, update: bool },
    /// It ran and the portal refused it.
    Failed { code: &'o str, description: &'o str },
    /// It did not run (a limit, a halt): safe to send again.
    NotRun,
    /// It may have run, but the answer does not say what it made: looked up by key later.
    Unknown(&'static str),
}

/// The answer for `cmd` in a batch answer (`None`: the answer does not mention it).
pub(super) fn answer_of<'o>(outcome: Option<&'o CommandOutcome>, cmd: &Command) -> Answer<'o> {
    match outcome {
        Some(CommandOutcome::Done(v)) => match created_id(cmd, v) {
            Some(id) => Answer::Done { id, update: cmd.method.is_update() },
            None => Answer::Unknown("the portal answered without an ID"),
        },
        Some(CommandOutcome::Failed { code, description }) => Answer::Failed { code, description },
        Some(CommandOutcome::NotExecuted(_)) => Answer::NotRun,
        None => Answer::Unknown("missing from the batch answer"),
    }
}

impl StepRunner<'_> {
    /// Journals one pack `sent` and starts its request; then, while as many requests are in
    /// flight as the transport allows now, records the answers that land (commands that did
    /// not run go to `retry`). Returns the first stop an answer brought.
    pub(super) async fn send(&mut self, pack: Pack<Item>, retry: &mut VecDeque<Ready>) -> Result<(), Stop> {
        if !self.ledger.is_writing() {
            // A dry run never writes to the portal (nothing reaches here: it only counts).
            return Ok(());
        }
        let keys: Vec<&str> = pack.items.iter().map(|i| i.key.as_str()).collect();
        self.ledger.mark_sent(&keys)?;
        let Pack { items, commands, alone } = pack;
        self.flights.launch(self.transport, items, commands, alone);
        let mut result = Ok(());
        while self.flights.len() >= self.transport.in_flight_limit().max(1) {
            let landed = self.land_next(retry).await;
            if result.is_ok() {
                result = landed;
            }
        }
        result
    }

    /// Records every answer still in flight; returns the first stop one brought.
    pub(super) async fn drain(&mut self, retry: &mut VecDeque<Ready>) -> Result<(), Stop> {
        let mut result = Ok(());
        while self.flights.len() > 0 {
            let landed = self.land_next(retry).await;
            if result.is_ok() {
                result = landed;
            }
        }
        result
    }

    /// Waits for the next answer and records it.
    async fn land_next(&mut self, retry: &mut VecDeque<Ready>) -> Result<(), Stop> {
        match self.flights.next().await {
            Some((pack, Some(answer))) => self.land(pack, answer, retry).await,
            Some((pack, None)) => {
                // The request's task failed: whether it reached the portal is not known.
                let outcomes: Vec<(&str, Outcome)> = pack
                    .items
                    .iter()
                    .map(|i| {
                        (i.key.as_str(), Outcome::Unknown { reason: "the request's task failed".into() })
                    })
                    .collect();
                self.ledger.record_outcomes(&outcomes)?;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records every row's outcome of a pack whose answer landed. A pack the portal refuses as
    /// too large (413) never ran: it is split in halves, a single command is sent alone, and one
    /// still too large alone is rejected `too_large`.
    async fn land(
        &mut self,
        pack: Pack<Item>,
        answer: Result<BatchOutcome, TransportError>,
        retry: &mut VecDeque<Ready>,
    ) -> Result<(), Stop> {
        let keys: Vec<&str> = pack.items.iter().map(|i| i.key.as_str()).collect();
        let mut outcomes: Vec<(&str, Outcome)> = Vec::with_capacity(keys.len());
        let mut stored: Vec<(&str, &FieldHashes)> = Vec::new();
        let mut stop = None;
        if let Err(TransportError::TooLarge { bytes, .. }) = &answer
            && !pack.alone
        {
            let bytes = *bytes;
            let back: Vec<(&str, Outcome)> = keys.iter().map(|k| (*k, Outcome::Retry)).collect();
            self.ledger.record_outcomes(&back)?;
            tracing::info!(
                bytes,
                commands = keys.len(),
                "request too large for the portal; sending it in smaller parts"
            );
            return self.send_smaller(pack, retry).await;
        }
        match &answer {
            Ok(batch) if !pack.alone => {
                let took = batch.time.and_then(|t| t.duration).filter(|d| d.is_finite() && *d >= 0.0);
                if let Some(took) = took {
                    self.sizer.after(keys.len(), Some(Duration::from_secs_f64(took)));
                }
            }
            Err(TransportError::Ambiguous { reason, .. }) if !pack.alone && timed_out(reason) => {
                self.sizer.after(keys.len(), None);
            }
            _ => {}
        }
        match answer {
            Ok(batch) => {
                for (item, (cmd_key, cmd)) in pack.items.iter().zip(&pack.commands) {
                    let row_key = item.key.as_str();
                    let outcome = match answer_of(batch.get(cmd_key), cmd) {
                        Answer::Done { id, update } => {
                            if update {
                                self.report.updated += 1;
                            } else {
                                self.report.created += 1;
                            }
                            if let Some(f) = &item.fields {
                                stored.push((row_key, f));
                            }
                            Outcome::Done { id, existing: update }
                        }
                        Answer::Failed { code, description } => self.failed(cmd, code, description).await?,
                        Answer::NotRun => {
                            retry.push_back(Ready {
                                key: row_key.to_string(),
                                cmd: cmd.clone(),
                                resends: item.resends,
                                fields: item.fields.clone(),
                            });
                            Outcome::Retry
                        }
                        Answer::Unknown(reason) => {
                            self.unknown.insert(row_key.to_string(), (cmd.clone(), item.fields.clone()));
                            Outcome::Unknown { reason: reason.into() }
                        }
                    };
                    outcomes.push((row_key, outcome));
                }
            }
            Err(TransportError::TooLarge { bytes, .. }) => {
                // Alone and still too large: the row's own size is the problem.
                for (item, (_, cmd)) in pack.items.iter().zip(&pack.commands) {
                    let text = self.too_large_text(cmd, bytes);
                    outcomes.push((
                        item.key.as_str(),
                        Outcome::Rejected { code: crate::mapping::Problem::TooLarge.as_str().into(), text },
                    ));
                }
            }
            Err(e @ TransportError::Interrupted { in_flight: true, .. }) => {
                // Abandoned on the wire: the rows stay `sent`, looked up on the next run.
                stop = Some(e);
            }
            Err(TransportError::Ambiguous { reason, .. }) => {
                for (item, (_, cmd)) in pack.items.iter().zip(&pack.commands) {
                    self.unknown.insert(item.key.clone(), (cmd.clone(), item.fields.clone()));
                    outcomes.push((item.key.as_str(), Outcome::Unknown { reason: reason.clone() }));
                }
            }
            Err(e) => {
                // Fatal refusals, exhausted limits and invalid batches never ran: back to pending.
                outcomes.extend(keys.iter().map(|k| (*k, Outcome::Retry)));
                stop = Some(e);
            }
        }
        for (_, o) in &outcomes {
            if let Outcome::Rejected { .. } = o {
                self.report.rejected += 1;
            }
        }
        self.ledger.record_outcomes(&outcomes)?;
        if !stored.is_empty() {
            self.ledger.set_field_hashes(&stored)?;
        }
        match stop {
            Some(e) => Err(Stop::Portal(e)),
            None => Ok(()),
        }
    }

    /// A pack refused as too large, sent again in halves (a single command: alone, as a
    /// direct call, which needs fewer bytes than inside a batch).
    pub(super) async fn send_smaller(
        &mut self,
        pack: Pack<Item>,
        retry: &mut VecDeque<Ready>,
    ) -> Result<(), Stop> {
        let Pack { mut items, mut commands, .. } = pack;
        if commands.len() == 1 {
            return Box::pin(self.send(Pack { items, commands, alone: true }, retry)).await;
        }
        let half = commands.len() / 2;
        let (items2, commands2) = (items.split_off(half), commands.split_off(half));
        Box::pin(self.send(Pack { items, commands, alone: false }, retry)).await?;
        Box::pin(self.send(Pack { items: items2, commands: commands2, alone: false }, retry)).await
    }

    /// Why a row is `too_large`: the request's size and the field that made it large.
    pub(super) fn too_large_text(&self, cmd: &Command, bytes: usize) -> String {
        let fields = match self.plan.target.entity {
            Entity::User => Some(&cmd.params),
            Entity::Crm(_) => cmd.params.get("fields"),
        };
        let biggest = fields
            .and_then(Value::as_object)
            .and_then(|m| m.iter().map(|(k, v)| (k, v.to_string().len())).max_by_key(|(_, n)| *n));
        let mib = |b: usize| b as f64 / (1024.0 * 1024.0);
        let mut text = format!(
            "the request for this row is {:.1} MiB ({bytes} bytes), more than the portal accepts \
             (HTTP 413 Request Entity Too Large)",
            mib(bytes)
        );
        if let Some((name, size)) = biggest {
            text.push_str(&format!("; the largest field is `{name}` ({:.1} MiB", mib(size)));
            if let Some(f) = self.plan.fields.iter().find(|f| &f.name == name) {
                text.push_str(&format!(", from `{}`", f.label));
            }
            text.push(')');
        }
        text.push_str(
            "; make the file smaller, or raise the request size limit of the portal's web server \
             (nginx client_max_body_size)",
        );
        text
    }

    /// A command the portal refused: rejected, unless it is a user that already exists and
    /// the step says to use existing users.
    pub(super) async fn failed(
        &mut self,
        cmd: &Command,
        code: &str,
        description: &str,
    ) -> Result<Outcome, Stop> {
        if cmd.method == crate::payload::Method::UserAdd
            && self.plan.target.on_existing == OnExisting::Use
            && description.to_lowercase().contains("already exists")
            && let Some(email) = cmd.params.get("EMAIL").and_then(Value::as_str)
            && let Ok(found) = self.portal().find_users(&[email.to_lowercase()]).await?
            && let Some(id) = found.get(&email.to_lowercase()).copied()
        {
            self.report.existing += 1;
            return Ok(Outcome::Done { id, existing: true });
        }
        Ok(Outcome::Rejected { code: code.to_string(), text: description.to_string() })
    }
}

/// The ID of what an add created: `result.item.id` (crm.item.add) or the integer result
/// (user.add); IDs may come as strings.
pub(super) fn created_id(cmd: &Command, result: &Value) -> Option<u64> {
    if cmd.method == crate::payload::Method::UserAdd {
        return json::id(result);
    }
    result
        .get("item")
        .and_then(|i| i.get("id"))
        .and_then(json::id)
        .or_else(|| result.get("id").and_then(json::id))
}

#[cfg(test)]
mod tests {
    use super::*;

    use rstest::rstest;
    use serde_json::json;

    use crate::payload::Method;
    use crate::transport::NotExecuted;

    fn cmd(method: Method) -> Command {
        Command { method, params: json!({}) }
    }

    fn done(v: Value) -> Option<CommandOutcome> {
        Some(CommandOutcome::Done(v))
    }

    #[rstest]
    // method            the batch answer for it                         -> row
    #[case(Method::CrmItemAdd,    done(json!({"item": {"id": 5}})),            Answer::Done { id: 5, update: false })]
    #[case(Method::CrmItemAdd,    done(json!({"item": {"id": "5"}})),          Answer::Done { id: 5, update: false })]
    #[case(Method::CrmItemUpdate, done(json!({"item": {"id": 5}})),            Answer::Done { id: 5, update: true })]
    #[case(Method::UserAdd,        done(json!(12)),                             Answer::Done { id: 12, update: false })]
    #[case(Method::CrmItemAdd, done(Value::Null), Answer::Unknown("the portal answered without an ID"))]
    #[case(Method::CrmItemAdd,    Some(CommandOutcome::Failed { code: "E".into(), description: "bad".into() }), Answer::Failed { code: "E", description: "bad" })]
    #[case(Method::CrmItemAdd, Some(CommandOutcome::NotExecuted(NotExecuted::Skipped)), Answer::NotRun)]
    #[case(Method::CrmItemAdd, None, Answer::Unknown("missing from the batch answer"))]
    fn each_command_of_a_batch_answer_becomes_one_row_outcome(
        #[case] method: Method,
        #[case] outcome: Option<CommandOutcome>,
        #[case] expected: Answer<'static>,
    ) {
        assert_eq!(answer_of(outcome.as_ref(), &cmd(method)), expected);
    }
}

#[cfg(test)]
mod batch_size_tests {
    use super::*;

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    #[test]
    fn a_slow_batch_shrinks_the_size_to_what_fits_half_the_slow_mark() {
        let mut b = BatchSize::new(50);
        b.after(50, secs(40)); // 0.8 s a command: 10 s is 12 commands
        assert_eq!(b.current(), 12);
        b.after(12, secs(5));
        assert_eq!(b.current(), 12, "one fast batch is not enough to grow");
    }

    #[test]
    fn a_timed_out_batch_halves_the_size_down_to_one() {
        let mut b = BatchSize::new(50);
        b.after(50, None);
        assert_eq!(b.current(), 25);
        for _ in 0..10 {
            b.after(b.current(), None);
        }
        assert_eq!(b.current(), 1);
    }

    #[test]
    fn a_slightly_slow_batch_still_shrinks_at_least_by_half() {
        let mut b = BatchSize::new(50);
        b.after(50, secs(21));
        assert_eq!(b.current(), 23); // 50 × 10 / 21
        b.after(23, secs(21));
        assert_eq!(b.current(), 10, "never more than half of the current size");
    }

    #[test]
    fn fast_full_batches_grow_the_size_back_gradually_never_above_the_maximum() {
        let mut b = BatchSize::new(50);
        b.after(50, None);
        b.after(25, None);
        assert_eq!(b.current(), 12);
        let mut sizes = Vec::new();
        for _ in 0..30 {
            b.after(b.current(), secs(1));
            sizes.push(b.current());
        }
        assert_eq!(&sizes[..9], &[12, 12, 15, 15, 15, 18, 18, 18, 22]);
        assert_eq!(b.current(), 50);
        assert!(sizes.iter().all(|s| *s <= 50));
    }

    #[test]
    fn partial_or_middling_batches_do_not_grow_the_size() {
        let mut b = BatchSize::new(50);
        b.after(50, None);
        for _ in 0..10 {
            b.after(3, secs(1)); // the end of a file: a small batch proves nothing
        }
        assert_eq!(b.current(), 25);
        for _ in 0..10 {
            b.after(25, secs(15)); // between half the slow mark and the mark: hold
        }
        assert_eq!(b.current(), 25);
    }

    #[test]
    fn only_timeouts_count_as_slow_failures() {
        assert!(timed_out("error sending request: operation timed out"));
        assert!(timed_out("HTTP 504 Gateway Timeout"));
        assert!(!timed_out("connection closed before message completed"));
        assert!(!timed_out("HTTP 500 INTERNAL_SERVER_ERROR"));
    }
}
