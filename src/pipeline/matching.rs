//! Carrying the duplicate check out (`on_duplicate`): rows to create wait in a queue, their
//! phones and e-mails are asked in full requests, the items found are read, and each row is
//! created, recorded as the existing item, merged into it, updated, rejected or passed over.
//!
//! Owns: the step's [`DupState`] (the queue, the items read, which row of this run holds which
//! value, which row decides which item under `merge` / `update`, the rows waiting for a row of
//! this run, the host's check lock, `host_state`), the requests of the check (values the
//! attribution could not explain asked again one by one), and the end of step pass that
//! handles duplicates within the source once their first row has an ID. The decisions are
//! `duplicates'` (pure); creating and sending are `rows'` and `send`'s. Must not look anything
//! up by phone or e-mail for reconciliation: that stays by `originId`.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::core::{Core, Item, Ready, Unknowns, Unseen};
use super::duplicates::{
    self, AMBIGUOUS_CODE, CheckQueue, Comm, Found, IDS_PER_READ, IDS_PER_READ_REQUEST, Verdict,
};
use super::send::Landing;
use super::stop::Stop;
use super::upsert;
use crate::bitrix::json;
use crate::host_state::{self, HostLock};
use crate::journal::keys::shown;
use crate::journal::{NewRow, RowState};
use crate::mapping::{Entity, OnDuplicate};
use crate::payload::{self, Command};
use crate::portal::Dispatcher;
use crate::portal::reads::BatchRead;

/// What a step keeps for the duplicate check while it runs.
#[derive(Default)]
pub(super) struct DupState {
    /// Rows to create waiting for their check.
    queue: CheckQueue<Unseen>,
    /// Items the check found, as read, while a waiting row may still need them.
    items: HashMap<u64, Value>,
    /// Calls whose answer named items not read yet: the call's values and the items' IDs.
    unread: Vec<(Vec<Comm>, Vec<u64>)>,
    /// A value -> the key of the first row of this run that holds it (created or linked).
    index: HashMap<Comm, String>,
    /// Rows holding a value of an earlier row of this run: handled by the mode once that row
    /// (its key) has an ID, at the end of the step.
    after_first: Vec<(Unseen, String, OnDuplicate)>,
    /// With `merge` / `update`: an existing item -> the row (key, as shown) that decides it
    /// (of this run, or done by an earlier one); a later row matching it is a duplicate within
    /// the source.
    claimed: HashMap<u64, (String, String)>,
    /// Whether the items of the step's done rows are in `claimed` yet.
    claims_read: bool,
    /// The key of a row this run indexed -> the row as shown (`contacts.csv:4`), for messages.
    shown: HashMap<String, String>,
    /// The host's lock on this portal's and entity type's duplicate check, held from the
    /// step's first check to its end (`host_state`, `locks/dup-<portal>-<type>.lock`).
    lock: Option<HostLock>,
    /// The lock file could not be opened: the check goes on uncoordinated (said in a note).
    unlocked: bool,
}

impl DupState {
    /// Whether a full request of checks is waiting.
    pub(super) fn ready(&self) -> bool {
        self.queue.ready()
    }

    /// A row about to be created: created now, or, when the step checks for duplicates and the
    /// row has phones/e-mails to match, queued for the check.
    pub(super) fn create_checked(
        &mut self,
        core: &mut Core<'_>,
        key: String,
        row_ref: &str,
        hash: &str,
        cmd: Command,
    ) -> Result<Vec<Ready>, Stop> {
        let rule = &core.plan.duplicates;
        let comms =
            if rule.checks() { duplicates::comms_of(upsert::fields_of(&cmd), &rule.by) } else { Vec::new() };
        if comms.is_empty() {
            return Ok(core.create(key, row_ref, hash, cmd)?.into_iter().collect());
        }
        core.report.duplicates.rows_checked += 1;
        let row = Unseen { key, row_ref: row_ref.to_string(), hash: hash.to_string(), cmd };
        let index = &self.index;
        self.queue.push(row, comms, |c| index.contains_key(c));
        Ok(Vec::new())
    }

    /// Sends the waiting checks (full requests only, unless `all`), reads the items they named
    /// (a full read request at a time, unless `all` or too many rows wait) and decides every row
    /// whose values are all answered. A check or read that fails leaves its rows out of the
    /// journal: they are never created blindly, and the next run checks them again.
    pub(super) async fn flush_duplicates(
        &mut self,
        core: &mut Core<'_>,
        all: bool,
    ) -> Result<Vec<Ready>, Stop> {
        let mut ready = Vec::new();
        loop {
            let crowded = self.queue.crowded();
            let calls = self.queue.next_calls(all || (crowded && self.unread.is_empty()));
            let mut failed = None;
            if !calls.is_empty() {
                self.hold_check_lock(core).await?;
            }
            if !calls.is_empty()
                && let Err(e) = self.check(core, calls.clone()).await?
            {
                failed = Some(e);
            }
            let named: HashSet<u64> = self.unread.iter().flat_map(|(_, ids)| ids.iter().copied()).collect();
            let read = failed.is_none()
                && !named.is_empty()
                && (named.len() >= IDS_PER_READ_REQUEST || crowded || (all && calls.is_empty()));
            if read && let Err(e) = self.attribute(core, named).await? {
                failed = Some(e);
            }
            if let Some(e) = failed {
                let rows = self.queue.drain();
                self.unread.clear();
                self.items.clear();
                core.report.notes.push(format!(
                    "could not check {} new row(s) for duplicates in the portal ({e}); they were not \
                     created: run again",
                    rows.len()
                ));
                core.report.pending += rows.len() as u64;
                return Ok(ready);
            }
            for (row, comms, portal) in self.queue.decidable() {
                ready.extend(self.checked(core, row, &comms, portal)?);
            }
            let mut keep = self.queue.named_ids();
            keep.extend(self.unread.iter().flat_map(|(_, ids)| ids.iter().copied()));
            self.items.retain(|id, _| keep.contains(id));
            if calls.is_empty() && !read {
                return Ok(ready);
            }
        }
    }

    /// Takes the host's lock on this portal's and entity type's duplicate check before the
    /// step's first check (a writing run only), waiting while another run holds it: that run's
    /// creates land before this run asks, so both never create the same row.
    async fn hold_check_lock(&mut self, core: &mut Core<'_>) -> Result<(), Stop> {
        if self.lock.is_some() || self.unlocked || !core.writing() {
            return Ok(());
        }
        let Entity::Crm(entity_type_id) = core.plan.target.entity else { return Ok(()) };
        let path =
            host_state::lock_path("dup", &core.reads.portal().address(), Some(&entity_type_id.to_string()));
        let started = std::time::Instant::now();
        let mut told = false;
        loop {
            match HostLock::try_take(&path) {
                Ok(Some(lock)) => {
                    self.lock = Some(lock);
                    if told {
                        core.report.notes.push(format!(
                            "waited {:.1}s for another run's duplicate check of this portal's {} items",
                            started.elapsed().as_secs_f64(),
                            core.plan.target.entity.name()
                        ));
                    }
                    return Ok(());
                }
                Ok(None) => {
                    if !told {
                        tracing::info!(
                            lock = %path.display(),
                            "another b24import run on this host is checking this portal's items of this type for \
                             duplicates; waiting for its step to end"
                        );
                        told = true;
                    }
                    core.reads
                        .portal()
                        .pause(std::time::Duration::from_millis(100))
                        .await
                        .map_err(Stop::Portal)?;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "duplicate check not coordinated with other runs");
                    core.report.notes.push(format!(
                        "{e}: this duplicate check was not coordinated with other runs on this host (set \
                         {} to a writable directory)",
                        host_state::STATE_DIR_ENV
                    ));
                    self.unlocked = true;
                    return Ok(());
                }
            }
        }
    }

    /// Asks one request of checks: values no item holds are answered now, calls that name
    /// items wait for those items to be read (`unread`).
    async fn check(
        &mut self,
        core: &mut Core<'_>,
        calls: Vec<Vec<Comm>>,
    ) -> Result<Result<(), String>, Stop> {
        let Entity::Crm(entity_type_id) = core.plan.target.entity else { return Ok(Ok(())) };
        let Some(entity_type) = duplicates::entity_type_name(entity_type_id) else { return Ok(Ok(())) };
        let commands: Vec<Command> =
            calls.iter().map(|c| duplicates::check_command(c, entity_type)).collect();
        let (answers, requests) = Self::read_batch(core, &commands).await?;
        core.report.duplicates.check_requests += requests;
        let answers = match answers {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        core.report.duplicates.values_checked += calls.iter().map(|c| c.len() as u64).sum::<u64>();
        let mut none = HashMap::new();
        for (call, answer) in calls.into_iter().zip(&answers) {
            let ids = duplicates::ids_in(answer, entity_type);
            if ids.is_empty() {
                none.extend(call.into_iter().map(|c| (c, Vec::new())));
            } else {
                self.unread.push((call, ids));
            }
        }
        self.queue.answer(none);
        Ok(Ok(()))
    }

    /// Reads the items the checks named (`named`) and answers their calls: which value is
    /// held by which item.
    async fn attribute(
        &mut self,
        core: &mut Core<'_>,
        named: HashSet<u64>,
    ) -> Result<Result<(), String>, Stop> {
        let Entity::Crm(entity_type_id) = core.plan.target.entity else { return Ok(Ok(())) };
        let mut ids: Vec<u64> = named.into_iter().filter(|id| !self.items.contains_key(id)).collect();
        ids.sort_unstable();
        match self.read_items(core, entity_type_id, &ids).await? {
            Ok(items) => self.items.extend(items),
            Err(e) => return Ok(Err(e)),
        }
        let (calls, ids): (Vec<Vec<Comm>>, Vec<Vec<u64>>) =
            std::mem::take(&mut self.unread).into_iter().unzip();
        let attribution = duplicates::attribute(&calls, &ids, &self.items);
        if !attribution.again.is_empty() {
            tracing::debug!(
                values = attribution.again.len(),
                "the portal named an item no value of its call explains; asking those values one by one"
            );
        }
        self.queue.answer(attribution.answers);
        self.queue.ask_alone(attribution.again);
        Ok(Ok(()))
    }

    /// Reads items by ID (`crm.item.list`, 50 a call, 50 calls a request).
    async fn read_items(
        &mut self,
        core: &mut Core<'_>,
        entity_type_id: u32,
        ids: &[u64],
    ) -> Result<Result<HashMap<u64, Value>, String>, Stop> {
        let commands: Vec<Command> =
            ids.chunks(IDS_PER_READ).map(|c| duplicates::read_command(entity_type_id, c)).collect();
        let (answers, requests) = Self::read_batch(core, &commands).await?;
        core.report.duplicates.read_requests += requests;
        let answers = match answers {
            Ok(a) => a,
            Err(e) => return Ok(Err(e)),
        };
        let mut out = HashMap::new();
        for answer in answers {
            for item in answer.get("items").and_then(Value::as_array).into_iter().flatten() {
                if let Some(id) = item.get("id").and_then(json::id) {
                    out.insert(id, item.clone());
                }
            }
        }
        Ok(Ok(out))
    }

    /// Sends read-only `commands` under the read rule, 50 a `batch`; their results in order,
    /// and the requests made. A command the portal refuses fails the whole read (`Err`), as
    /// does one still without an answer: it is never taken for "nothing found".
    async fn read_batch(
        core: &Core<'_>,
        commands: &[Command],
    ) -> Result<(Result<Vec<Value>, String>, u64), Stop> {
        let (answers, requests) = core.reads.batch(commands).await.map_err(Stop::Portal)?;
        let answers = match answers {
            Ok(a) => a,
            Err(e) => return Ok((Err(e), requests)),
        };
        let mut out = Vec::with_capacity(answers.len());
        for (answer, cmd) in answers.into_iter().zip(commands) {
            match answer {
                BatchRead::Done(v, _) => out.push(v),
                BatchRead::Refused { code, description } => {
                    return Ok((Err(format!("{} refused: {code}: {description}", cmd.method)), requests));
                }
            }
        }
        Ok((Ok(out), requests))
    }

    /// Carries out the decision for one checked row.
    fn checked(
        &mut self,
        core: &mut Core<'_>,
        row: Unseen,
        comms: &[Comm],
        portal: Vec<(u64, Vec<Comm>)>,
    ) -> Result<Option<Ready>, Stop> {
        let entity = core.plan.target.entity.name();
        let in_source = comms.iter().find_map(|c| self.index.get(c).map(|k| (k.clone(), c.clone())));
        let found = Found { portal, in_source };
        let verdict = duplicates::decide(&found, &core.plan.duplicates, &entity);
        let at = format!("{} (key {})", row.row_ref, shown(&row.key));
        // With merge / update one row decides an item: a later row matching it is not used.
        if let Verdict::Existing { id, how } = verdict
            && how != OnDuplicate::Skip
            && let Some((first_key, first_ref)) = self.claim(core, id, &row)?
        {
            let text = in_source_text(&first_ref, &shown(&first_key), &format!("{entity} {id}"), how);
            self.index(comms, &first_key, None);
            core.report.duplicates.in_source += 1;
            core.report.duplicates.line(format!("{at}: {text}"));
            core.reject(&row.key, &row.row_ref, &row.hash, IN_SOURCE_CODE, &text, false)?;
            return Ok(None);
        }
        match &verdict {
            Verdict::AfterFirst { first_key, .. } => self.index(comms, &first_key.clone(), None),
            Verdict::Create | Verdict::Existing { .. } => self.index(comms, &row.key, Some(&row.row_ref)),
            Verdict::Reject { .. } | Verdict::Pass { .. } => {}
        }
        match verdict {
            Verdict::Create => Ok(core.create(row.key, &row.row_ref, &row.hash, row.cmd)?),
            Verdict::Existing { id, how } => {
                let text = duplicates::matched_text(&found.portal, &entity);
                core.report.duplicates.line(format!("{at}: {text}; {} {entity} {id}", done_as(how)));
                let item = self.items.get(&id).cloned().unwrap_or(Value::Null);
                self.use_existing(core, row, id, how, &item)
            }
            Verdict::Reject { text } => {
                core.report.duplicates.ambiguous += 1;
                core.report.duplicates.line(format!("{at}: {text}"));
                core.reject(&row.key, &row.row_ref, &row.hash, AMBIGUOUS_CODE, &text, false)?;
                Ok(None)
            }
            Verdict::Pass { text } => {
                core.report.duplicates.ambiguous += 1;
                core.report.duplicates.line(format!("{at}: {text}"));
                core.report.skipped_ambiguous += 1;
                Ok(None)
            }
            Verdict::AfterFirst { first_key, how } => {
                core.report.duplicates.in_source += 1;
                let value = found.in_source.as_ref().map(|(_, c)| c.to_string()).unwrap_or_default();
                core.report.duplicates.line(format!(
                    "{at}: {value} is also in row {} of this source (a duplicate within the source); \
                     {} its {entity}",
                    shown(&first_key),
                    done_as(how)
                ));
                self.after_first.push((row, first_key, how));
                Ok(None)
            }
        }
    }

    /// Records that `comms` belong to the row `key` of this run (shown as `row_ref`) unless an
    /// earlier row has them.
    fn index(&mut self, comms: &[Comm], key: &str, row_ref: Option<&str>) {
        for c in comms {
            self.index.entry(c.clone()).or_insert_with(|| key.to_string());
        }
        if let Some(r) = row_ref {
            self.shown.entry(key.to_string()).or_insert_with(|| r.to_string());
        }
    }

    /// The item `id` is to be merged into or updated by `row`: `None` if no other row decides it
    /// (then `row` does from now on), else that row's key and how it is shown. Rows of earlier
    /// runs recorded as an item decide it too (read from the journal once a step).
    fn claim(
        &mut self,
        core: &mut Core<'_>,
        id: u64,
        row: &Unseen,
    ) -> Result<Option<(String, String)>, Stop> {
        if !self.claims_read {
            self.claims_read = true;
            for (key, done) in core.ledger.done_ids()? {
                self.claimed.entry(done).or_insert_with(|| (key, "imported by an earlier run".into()));
            }
        }
        match self.claimed.get(&id) {
            Some((key, shown)) if *key != row.key => Ok(Some((key.clone(), shown.clone()))),
            _ => {
                self.claimed.insert(id, (row.key.clone(), row.row_ref.clone()));
                Ok(None)
            }
        }
    }

    /// A row handled as the existing item `id` (as read: `item`) by `how`: recorded as that item
    /// (skip, or nothing to change), or recorded and returned as an update.
    fn use_existing(
        &mut self,
        core: &mut Core<'_>,
        row: Unseen,
        id: u64,
        how: OnDuplicate,
        item: &Value,
    ) -> Result<Option<Ready>, Stop> {
        let fields = duplicates::fields_for(how, upsert::fields_of(&row.cmd), item);
        core.report.duplicates.count(how);
        if !core.writing() {
            if !fields.is_empty() {
                core.report.would_send += 1;
            }
            return Ok(None);
        }
        let new_row = NewRow { key: &row.key, row_ref: &row.row_ref, payload_hash: &row.hash };
        let hashes = core.hasher.hashes(upsert::fields_of(&row.cmd));
        if fields.is_empty() {
            core.ledger.record_existing(new_row, id, &hashes)?;
            core.report.existing += 1;
            return Ok(None);
        }
        // As an upsert's found item: pending with that ID in one transaction (a re-run after a
        // crash updates it again, never creates it).
        let base = core.hasher.hashes(&upsert::baseline_for_update(upsert::fields_of(&row.cmd), &fields));
        core.ledger.record_to_update(new_row, id, &base)?;
        let update = payload::update_command(&core.plan.target, id, fields);
        Ok(Some(Ready { key: row.key, cmd: update, fields: Some(hashes) }))
    }

    /// The end of the step: rows that hold a value of an earlier row of this run are handled by
    /// the mode with that row's item (created, or rejected: then created themselves; not done
    /// yet: left for the next run), and sent.
    pub(super) async fn settle_duplicates(
        &mut self,
        core: &mut Core<'_>,
        unknowns: &mut Unknowns,
        sender: &mut Dispatcher<Item>,
    ) -> Result<(), Stop> {
        let rows = std::mem::take(&mut self.after_first);
        if rows.is_empty() || !core.writing() {
            return Ok(()); // a dry run counted them when checked
        }
        let entity = core.plan.target.entity.name();
        let mut ready = Vec::new();
        let mut linked = Vec::new();
        for (row, first_key, how) in rows {
            let first = core.ledger.row_state(&first_key)?;
            match first {
                // One row decides an item's fields: the first; the others are not mixed in.
                Some(k) if k.state == RowState::Done && how != OnDuplicate::Skip => {
                    let first_ref = self.shown.get(&first_key).cloned().unwrap_or_else(|| first_key.clone());
                    let what =
                        format!("{entity}{}", k.portal_id.map(|id| format!(" {id}")).unwrap_or_default());
                    let text = in_source_text(&first_ref, &shown(&first_key), &what, how);
                    core.reject(&row.key, &row.row_ref, &row.hash, IN_SOURCE_CODE, &text, false)?;
                }
                Some(k) if k.state == RowState::Done && k.portal_id.is_some() => {
                    linked.push((row, k.portal_id.unwrap_or_default(), how));
                }
                Some(k) if k.state == RowState::Rejected => {
                    ready.extend(core.create(row.key, &row.row_ref, &row.hash, row.cmd)?);
                }
                _ => {
                    core.report.pending += 1;
                    core.report.notes.push(format!(
                        "row {} waits for row {} of this source (same phone or e-mail), which has no \
                         item yet; run again",
                        row.row_ref,
                        shown(&first_key)
                    ));
                }
            }
        }
        let mut ids: Vec<u64> =
            linked.iter().filter(|(_, _, how)| *how != OnDuplicate::Skip).map(|r| r.1).collect();
        ids.sort_unstable();
        ids.dedup();
        let Entity::Crm(entity_type_id) = core.plan.target.entity else { return Ok(()) };
        let items = match self.read_items(core, entity_type_id, &ids).await? {
            Ok(items) => items,
            Err(e) => {
                core.report.notes.push(format!(
                    "could not read {} item(s) to merge duplicates within the source into ({e}); run again",
                    ids.len()
                ));
                core.report.pending += linked.len() as u64;
                return Landing { core, unknowns }.send_all(sender, ready).await;
            }
        };
        for (row, id, how) in linked {
            let item = items.get(&id).cloned().unwrap_or(Value::Null);
            ready.extend(self.use_existing(core, row, id, how, &item)?);
        }
        Landing { core, unknowns }.send_all(sender, ready).await
    }
}

/// The code of a row rejected because an earlier row of the source decides its item.
const IN_SOURCE_CODE: &str = crate::mapping::Problem::DuplicateInSource.as_str();

/// Why a later row matching the item `what` an earlier row (`first_ref`, key `first_key`)
/// decides is not used.
fn in_source_text(first_ref: &str, first_key: &str, what: &str, how: OnDuplicate) -> String {
    format!(
        "the same {what} as row {first_ref} (key {first_key}) of this source, which decides its fields \
         (on_duplicate = \"{}\"): this row was not used; merge the rows in the source, or give each its own \
         phone and e-mail",
        mode_name(how)
    )
}

fn mode_name(how: OnDuplicate) -> &'static str {
    match how {
        OnDuplicate::Skip => "skip",
        OnDuplicate::Merge => "merge",
        OnDuplicate::Update => "update",
        OnDuplicate::Create => "create",
    }
}

/// How a report line names what was done with the existing item.
fn done_as(how: OnDuplicate) -> &'static str {
    match how {
        OnDuplicate::Skip => "skipped: recorded as",
        OnDuplicate::Merge => "merged into",
        OnDuplicate::Update => "updated",
        OnDuplicate::Create => "created beside",
    }
}
