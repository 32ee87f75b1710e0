//! One command's answer in a batch, as its row sees it, and the size of the next batch.
//!
//! Owns: reading a [`BatchOutcome`](crate::transport::BatchOutcome)'s entry for one command
//! ([`answer_of`]: done with an ID, refused, did not run, unknown) and the ID an add answers
//! with ([`created_id`]); [`BatchSize`], the commands per batch that keep a batch's portal time
//! well under the 60 s cap. Pure: no I/O. Must not decide what a row's journal record becomes
//! (that is the write path's [`Bracket`](super::Bracket)).

use std::time::Duration;

use serde_json::Value;

use crate::bitrix::json;
use crate::payload::Command;
use crate::transport::CommandOutcome;

/// A batch whose portal time passes this is slow: a third of the portal's 60 s cap per request.
pub const SLOW_BATCH: Duration = Duration::from_secs(20);

/// Fast batches in a row (under half of [`SLOW_BATCH`], full size) before the size grows a step.
pub const GROW_AFTER: u32 = 3;

/// The commands per batch that keep a batch's portal time well under the 60 s cap: shrunk
/// after a slow or timed-out batch (to what would have taken half of [`SLOW_BATCH`], at most
/// half the size), grown back by a quarter (at least one) after [`GROW_AFTER`] fast full
/// batches in a row, never above the step's `--batch-size`. Pure: the step reports each
/// batch's portal time (`time.duration`) and asks for the size before packing.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchSize {
    max: usize,
    current: usize,
    fast_in_a_row: u32,
}

impl BatchSize {
    pub fn new(max: usize) -> BatchSize {
        let max = max.max(1);
        BatchSize { max, current: max, fast_in_a_row: 0 }
    }

    /// Commands per batch now.
    pub fn current(&self) -> usize {
        self.current
    }

    /// A batch of `commands` took `took` of portal time; `None`: it timed out.
    pub fn after(&mut self, commands: usize, took: Option<Duration>) {
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
pub fn timed_out(reason: &str) -> bool {
    reason.contains("timed out") || reason.contains("504")
}

/// What the portal's answer says about one command of a batch.
#[derive(Debug, PartialEq)]
pub enum RowAnswer<'o> {
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
pub fn answer_of<'o>(outcome: Option<&'o CommandOutcome>, cmd: &Command) -> RowAnswer<'o> {
    match outcome {
        // batchImport answers each item on its own inside a command that ran: the one item of
        // a row's command is `result.items[0]`, `{"item": {"id"}}` or `{"error", "error_description"}`.
        Some(CommandOutcome::Done(v)) if cmd.method == crate::payload::Method::CrmItemBatchImport => {
            import_item(v.get("items").and_then(|i| i.get(0)), cmd)
        }
        // A delete (issue 21) answers `[]` (`universal/crm-item-delete.md`): done, the item it named.
        Some(CommandOutcome::Done(_)) if cmd.method.is_delete() => {
            match cmd.params.get("id").and_then(json::id) {
                Some(id) => RowAnswer::Done { id, update: false },
                None => RowAnswer::Unknown("a delete without an ID"),
            }
        }
        Some(CommandOutcome::Done(v)) => match created_id(cmd, v) {
            Some(id) => RowAnswer::Done { id, update: cmd.method.is_update() },
            None => RowAnswer::Unknown("the portal answered without an ID"),
        },
        Some(CommandOutcome::Failed { code, description }) => RowAnswer::Failed { code, description },
        Some(CommandOutcome::NotExecuted(_)) => RowAnswer::NotRun,
        None => RowAnswer::Unknown("missing from the batch answer"),
    }
}

/// One item of a `crm.item.batchImport` answer (`result.items[i]`): `{"item": {"id"}}` or
/// `{"error", "error_description"}` (its page).
fn import_item<'o>(item: Option<&'o Value>, cmd: &Command) -> RowAnswer<'o> {
    match item {
        Some(item) if item.get("error").is_some() => RowAnswer::Failed {
            code: item.get("error").and_then(Value::as_str).unwrap_or(""),
            description: item.get("error_description").and_then(Value::as_str).unwrap_or(""),
        },
        Some(item) => match created_id(cmd, item) {
            Some(id) => RowAnswer::Done { id, update: false },
            None => RowAnswer::Unknown("the portal answered without an ID"),
        },
        None => RowAnswer::Unknown("the portal answered without an ID"),
    }
}

/// The answers of each item of an import command of several items (`None`: `cmd` is no such
/// command, or it did not run: [`answer_of`] says what became of it whole).
pub fn group_answers<'o>(outcome: Option<&'o CommandOutcome>, cmd: &Command) -> Option<Vec<RowAnswer<'o>>> {
    let n = crate::payload::import_items(cmd);
    if n < 2 {
        return None;
    }
    let Some(CommandOutcome::Done(v)) = outcome else { return None };
    let items = v.get("items");
    Some((0..n).map(|i| import_item(items.and_then(|a| a.get(i)), cmd)).collect())
}

/// The ID of what an add created: `result.item.id` (crm.item.add) or the integer result
/// (user.add); IDs may come as strings.
pub fn created_id(cmd: &Command, result: &Value) -> Option<u64> {
    use crate::payload::Method;
    if let Some(id) = crate::payload::record::created_id(cmd, result) {
        return id;
    }
    if let Some(id) = crate::payload::products::created_id(cmd, result) {
        return id;
    }
    match cmd.method {
        // The integer result (their pages).
        Method::UserAdd | Method::CrmTimelineCommentAdd | Method::CrmActivityAdd => return json::id(result),
        // `true` (its page): the activity updated is the one named.
        Method::CrmActivityUpdate | Method::CrmTimelineCommentUpdate => {
            return if result == &Value::Bool(true) || json::id(result).is_some() {
                cmd.params.get("id").and_then(json::id)
            } else {
                None
            };
        }
        _ => {}
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
    #[case(Method::CrmItemAdd,    done(json!({"item": {"id": 5}})),            RowAnswer::Done { id: 5, update: false })]
    #[case(Method::CrmItemAdd,    done(json!({"item": {"id": "5"}})),          RowAnswer::Done { id: 5, update: false })]
    #[case(Method::CrmItemUpdate, done(json!({"item": {"id": 5}})),            RowAnswer::Done { id: 5, update: true })]
    #[case(Method::UserAdd,        done(json!(12)),                             RowAnswer::Done { id: 12, update: false })]
    #[case(Method::CrmItemAdd, done(Value::Null), RowAnswer::Unknown("the portal answered without an ID"))]
    #[case(Method::CrmItemAdd,    Some(CommandOutcome::Failed { code: "E".into(), description: "bad".into() }), RowAnswer::Failed { code: "E", description: "bad" })]
    #[case(Method::CrmItemAdd, Some(CommandOutcome::NotExecuted(NotExecuted::Skipped)), RowAnswer::NotRun)]
    #[case(Method::CrmItemAdd, None, RowAnswer::Unknown("missing from the batch answer"))]
    #[case(Method::CrmItemBatchImport, done(json!({"items": [{"item": {"id": 9}}]})), RowAnswer::Done { id: 9, update: false })]
    #[case(Method::CrmItemBatchImport, done(json!({"items": [{"error": "CRM_FIELD_ERROR_VALUE_NOT_VALID", "error_description": "bad date"}]})), RowAnswer::Failed { code: "CRM_FIELD_ERROR_VALUE_NOT_VALID", description: "bad date" })]
    #[case(Method::CrmItemBatchImport, done(json!({"items": []})), RowAnswer::Unknown("the portal answered without an ID"))]
    fn each_command_of_a_batch_answer_becomes_one_row_outcome(
        #[case] method: Method,
        #[case] outcome: Option<CommandOutcome>,
        #[case] expected: RowAnswer<'static>,
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
