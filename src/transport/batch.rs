//! `batch`: packing commands into requests (at most 50 and at most a byte budget, string keys
//! `r000001`…), building the request body, and reading the answer into a per-command outcome.
//!
//! Owns: the packing rule (a command too large to share a batch goes alone, as a direct JSON
//! call), the tolerant response parser (`[]` or `{}` for every section, `docs/portal-protocol.md`
//! §1.3) and the done / failed / not-executed split. Must not send anything or decide retries.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::bitrix::json;
use crate::payload::Command;
use crate::payload::batch::{encode_command, encoded_len};

use super::error::is_limit_code;

/// The portal's hard cap on commands per batch (`ERROR_BATCH_LENGTH_EXCEEDED` beyond).
pub const MAX_COMMANDS: usize = 50;
/// Default byte budget of one batch body. No limit is documented; this keeps requests well
/// inside the portal's 60 s cap while letting 50 ordinary commands share a request.
pub const DEFAULT_MAX_BYTES: usize = 1024 * 1024;
/// Bytes of a batch body besides its commands: `{"halt":0,"cmd":{…},"auth":"<token>"}`.
pub const BODY_OVERHEAD: usize = 256;

/// The key of the `n`-th command of a batch (1-based): `r000001`.
pub fn command_key(n: usize) -> String {
    format!("r{n:06}")
}

/// A request's worth of commands, each with its key and the caller's item (e.g. a row key).
#[derive(Debug, Clone, PartialEq)]
pub struct Pack<T> {
    pub items: Vec<T>,
    pub commands: Vec<(String, Command)>,
    /// One command too large to share a batch: the transport sends it as a direct call.
    pub alone: bool,
}

/// Packs commands in arrival order into batches bounded by count and bytes.
#[derive(Debug)]
pub struct Packer<T> {
    max_commands: usize,
    max_bytes: usize,
    items: Vec<T>,
    commands: Vec<(String, Command)>,
    bytes: usize,
}

impl<T> Packer<T> {
    /// `max_commands` is capped at [`MAX_COMMANDS`] (and at least 1).
    pub fn new(max_commands: usize, max_bytes: usize) -> Packer<T> {
        Packer {
            max_commands: max_commands.clamp(1, MAX_COMMANDS),
            max_bytes,
            items: Vec::new(),
            commands: Vec::new(),
            bytes: BODY_OVERHEAD,
        }
    }

    /// Adds a command; returns the packs that became complete (none, one, or two when an
    /// oversize command flushes the current batch and then goes alone).
    pub fn push(&mut self, item: T, cmd: Command) -> Vec<Pack<T>> {
        let mut ready = Vec::new();
        let len = encoded_len(&encode_command(&cmd), &command_key(1));
        if BODY_OVERHEAD + len > self.max_bytes {
            ready.extend(self.finish());
            ready.push(Pack { items: vec![item], commands: vec![(command_key(1), cmd)], alone: true });
            return ready;
        }
        if self.bytes + len > self.max_bytes {
            ready.extend(self.finish());
        }
        if self.commands.len() >= self.max_commands {
            ready.extend(self.finish());
        }
        self.commands.push((command_key(self.commands.len() + 1), cmd));
        self.items.push(item);
        self.bytes += len;
        if self.commands.len() >= self.max_commands {
            ready.extend(self.finish());
        }
        ready
    }

    /// Changes the commands per batch from the next command on (capped at [`MAX_COMMANDS`],
    /// at least 1); a batch already fuller than that goes out with the next push.
    pub fn set_max_commands(&mut self, max_commands: usize) {
        self.max_commands = max_commands.clamp(1, MAX_COMMANDS);
    }

    /// No command waits in the current batch (the next push starts one).
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// The partly filled batch, if any.
    pub fn finish(&mut self) -> Option<Pack<T>> {
        if self.commands.is_empty() {
            return None;
        }
        self.bytes = BODY_OVERHEAD;
        Some(Pack {
            items: std::mem::take(&mut self.items),
            commands: std::mem::take(&mut self.commands),
            alone: false,
        })
    }
}

/// Encoded commands and the body size of a batch of `cmds` (without `auth`).
pub(crate) fn encode_batch(cmds: &[(String, Command)]) -> (Map<String, Value>, usize) {
    let mut cmd = Map::new();
    let mut bytes = BODY_OVERHEAD;
    for (key, c) in cmds {
        let s = encode_command(c);
        bytes += encoded_len(&s, key);
        cmd.insert(key.clone(), Value::String(s));
    }
    (cmd, bytes)
}

/// What happened to one command of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandOutcome {
    /// It ran; its result (may be `null`).
    Done(Value),
    /// It ran and the portal refused it: the row is rejected with this code and text.
    Failed { code: String, description: String },
    /// It did not run; safe to send again.
    NotExecuted(NotExecuted),
}

/// Why a command did not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotExecuted {
    /// In neither `result` nor `result_error` (after a `halt`, or skipped by the portal).
    Skipped,
    /// Refused by a limit (`QUERY_LIMIT_EXCEEDED`, `OPERATION_TIME_LIMIT`); its method is parked.
    Limited { code: String },
}

/// Timing the portal reports (`time` of a response, or one entry of `result_time`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimeInfo {
    /// Seconds the method spent in the current window (absent on self-hosted portals).
    pub operating: Option<f64>,
    /// Unix time when the oldest window bucket expires.
    pub operating_reset_at: Option<i64>,
    /// Seconds the request (or command) took.
    pub duration: Option<f64>,
    /// Seconds of processing the portal counts against the operating budget (`processing`;
    /// absent on some portals, where `duration` stands in for it).
    pub processing: Option<f64>,
}

impl TimeInfo {
    /// Reads the fields leniently (numbers or numeric strings); `None` when none is present.
    pub fn from_value(v: &Value) -> Option<TimeInfo> {
        let obj = v.as_object()?;
        let num = |k: &str| match obj.get(k)? {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        let t = TimeInfo {
            operating: num("operating"),
            operating_reset_at: num("operating_reset_at").map(|f| f as i64),
            duration: num("duration"),
            processing: num("processing"),
        };
        (t != TimeInfo::default()).then_some(t)
    }

    /// The processing seconds to bill: `processing`, else `duration`.
    pub fn spent(&self) -> Option<f64> {
        self.processing.or(self.duration).filter(|s| s.is_finite() && *s >= 0.0)
    }
}

/// The answer to one `call_batch`, in the order the commands were given.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BatchOutcome {
    pub commands: Vec<(String, CommandOutcome)>,
    /// `result_total` of list commands.
    pub totals: HashMap<String, u64>,
    /// `result_next` of list commands that have another page.
    pub next: HashMap<String, u64>,
    /// Per-command timing (`result_time`).
    pub times: HashMap<String, TimeInfo>,
    /// The request's own `time`.
    pub time: Option<TimeInfo>,
}

impl BatchOutcome {
    pub fn get(&self, key: &str) -> Option<&CommandOutcome> {
        self.commands.iter().find(|(k, _)| k == key).map(|(_, o)| o)
    }
}

/// A section that may be `{}`, `[]`, a list (keys are indices) or absent.
fn section(v: Option<&Value>) -> Result<Map<String, Value>, String> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(Value::Array(items)) => {
            Ok(items.iter().enumerate().map(|(i, v)| (i.to_string(), v.clone())).collect())
        }
        Some(other) => Err(format!("a batch section is neither a map nor a list: {}", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Reads a batch answer (the whole JSON body) for the commands `keys`. An answer without a
/// `result` map is an error (the caller treats it as ambiguous).
pub fn parse_answer(body: &Value, keys: &[&str]) -> Result<BatchOutcome, String> {
    let outer = body.get("result").ok_or("the batch answer has no `result`")?;
    if !outer.is_object() {
        return Err(format!("the batch answer's `result` is {}", kind(outer)));
    }
    let results = section(outer.get("result"))?;
    let errors = section(outer.get("result_error"))?;
    let totals = section(outer.get("result_total"))?;
    let next = section(outer.get("result_next"))?;
    let times = section(outer.get("result_time"))?;
    let commands = keys
        .iter()
        .map(|key| {
            let outcome = if let Some(v) = results.get(*key) {
                CommandOutcome::Done(v.clone())
            } else if let Some(e) = errors.get(*key) {
                let (code, description) = match e {
                    Value::Object(m) => (
                        text(m.get("error")).unwrap_or_else(|| "UNKNOWN".into()),
                        text(m.get("error_description")).unwrap_or_default(),
                    ),
                    other => ("UNKNOWN".into(), text(Some(other)).unwrap_or_default()),
                };
                if is_limit_code(&code) {
                    CommandOutcome::NotExecuted(NotExecuted::Limited { code })
                } else {
                    CommandOutcome::Failed { code, description }
                }
            } else {
                CommandOutcome::NotExecuted(NotExecuted::Skipped)
            };
            (key.to_string(), outcome)
        })
        .collect();
    Ok(BatchOutcome {
        commands,
        totals: totals.iter().filter_map(|(k, v)| Some((k.clone(), json::id(v)?))).collect(),
        next: next.iter().filter_map(|(k, v)| Some((k.clone(), json::id(v)?))).collect(),
        times: times.iter().filter_map(|(k, v)| Some((k.clone(), TimeInfo::from_value(v)?))).collect(),
        time: body.get("time").and_then(TimeInfo::from_value),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cmd(title: &str) -> Command {
        Command {
            method: crate::payload::Method::CrmItemAdd,
            params: json!({"entityTypeId": 3, "fields": {"title": title}}),
        }
    }

    #[test]
    fn keys_are_r_and_six_digits() {
        assert_eq!(command_key(1), "r000001");
        assert_eq!(command_key(50), "r000050");
    }

    #[test]
    fn packer_closes_a_batch_at_fifty_commands() {
        let mut p = Packer::new(100, DEFAULT_MAX_BYTES);
        let mut packs = Vec::new();
        for i in 0..120 {
            packs.extend(p.push(i, cmd("x")));
        }
        packs.extend(p.finish());
        let sizes: Vec<_> = packs.iter().map(|p| p.commands.len()).collect();
        assert_eq!(sizes, [50, 50, 20]);
        assert_eq!(packs[1].items[0], 50);
        let keys: Vec<_> = packs[2].commands.iter().map(|(k, _)| k.as_str()).take(2).collect();
        assert_eq!(keys, ["r000001", "r000002"]);
        assert!(packs.iter().all(|p| !p.alone));
    }

    #[test]
    fn packer_respects_the_byte_budget() {
        let big = "y".repeat(1000);
        let budget = 4000;
        let mut p = Packer::new(50, budget);
        let mut packs = Vec::new();
        for i in 0..10 {
            packs.extend(p.push(i, cmd(&big)));
        }
        packs.extend(p.finish());
        assert!(packs.len() > 1);
        for pack in &packs {
            let (_, bytes) = encode_batch(&pack.commands);
            assert!(bytes <= budget, "{bytes} > {budget}");
        }
        assert_eq!(packs.iter().map(|p| p.items.len()).sum::<usize>(), 10);
    }

    #[test]
    fn oversize_command_goes_alone_after_flushing_the_current_batch() {
        let mut p = Packer::new(50, 2000);
        assert!(p.push(1, cmd("small")).is_empty());
        let packs = p.push(2, cmd(&"z".repeat(5000)));
        assert_eq!(packs.len(), 2);
        assert_eq!((packs[0].items.clone(), packs[0].alone), (vec![1], false));
        assert_eq!((packs[1].items.clone(), packs[1].alone), (vec![2], true));
        assert!(p.finish().is_none());
    }

    #[test]
    fn empty_sections_parse_as_lists_or_maps() {
        for empty in [json!([]), json!({})] {
            let body = json!({"result": {"result": {"r000001": {"item": {"id": 5}}}, "result_error": empty,
                "result_total": empty, "result_next": empty, "result_time": empty}, "time": {"operating": 1.5}});
            let out = parse_answer(&body, &["r000001"]).expect("parse");
            assert_eq!(out.get("r000001"), Some(&CommandOutcome::Done(json!({"item": {"id": 5}}))));
            assert_eq!(out.time.and_then(|t| t.operating), Some(1.5));
        }
        let all_empty = json!({"result": {"result": [], "result_error": [], "result_total": [],
            "result_next": [], "result_time": []}});
        let out = parse_answer(&all_empty, &["r000001"]).expect("parse");
        assert_eq!(out.get("r000001"), Some(&CommandOutcome::NotExecuted(NotExecuted::Skipped)));
    }

    #[test]
    fn commands_split_into_done_failed_limited_and_skipped() {
        let body = json!({"result": {
            "result": {"r000001": null},
            "result_error": {
                "r000002": {"error": "CRM_FIELD_ERROR_VALUE_NOT_VALID", "error_description": "bad"},
                "r000003": {"error": "operation_time_limit", "error_description": "blocked"}},
            "result_total": {"r000001": "7"}, "result_next": [],
            "result_time": {"r000001": {"operating": 3, "operating_reset_at": 1700000000}}}});
        let out = parse_answer(&body, &["r000001", "r000002", "r000003", "r000004"]).expect("parse");
        assert_eq!(out.get("r000001"), Some(&CommandOutcome::Done(Value::Null)));
        assert_eq!(
            out.get("r000002"),
            Some(&CommandOutcome::Failed {
                code: "CRM_FIELD_ERROR_VALUE_NOT_VALID".into(),
                description: "bad".into()
            })
        );
        assert!(matches!(out.get("r000003"), Some(CommandOutcome::NotExecuted(NotExecuted::Limited { .. }))));
        assert_eq!(out.get("r000004"), Some(&CommandOutcome::NotExecuted(NotExecuted::Skipped)));
        assert_eq!(out.totals.get("r000001"), Some(&7));
        assert_eq!(out.times["r000001"].operating_reset_at, Some(1_700_000_000));
    }

    #[test]
    fn answer_without_result_is_an_error() {
        assert!(parse_answer(&json!({"time": {}}), &["r000001"]).is_err());
        assert!(parse_answer(&json!({"result": "x"}), &["r000001"]).is_err());
    }
}
