//! One step of a run: the order of its work and the state it keeps while it runs.
//!
//! Owns: [`StepRunner`] (a step's plan, ledger, caches and report) and the order of a step:
//! check the mapping's fields against the portal, reconcile what an earlier run left
//! `sent`/`unknown`, stream the source (read and mapped on their own thread ahead of the
//! requests, through a bounded channel: flat memory), admit each row, pack, send, resend what
//! did not run, reconcile this run's unknown rows, list rows the source no longer holds.
//! The per-row decision is `admit`'s, carried out by `rows`; the request is `send`'s; lookups
//! are `resolve`'s, `portal`'s and `reconcile`'s. Must not hold the journal's connection
//! anywhere but in its [`Ledger`].
//!
//! Requests in flight: `send` starts a pack's request and returns while fewer are in flight
//! than the transport allows; every answer is recorded (`land_all`) before the step resends,
//! reconciles or ends, so the next step's lookups (`resolve`, from the journal) see every ID of
//! this one. A step never looks itself up (`steps` refuses the cycle), so no row's payload waits
//! for an answer still in flight.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};

use super::ledger::{Ledger, RunJournal};
use super::portal::{LOOKUP_CHUNK, Portal};
use super::prepare::{Prepared, Step};
use super::progress::{Progress, Snapshot};
use super::report::StepReport;
use super::resolve::Resolver;
use super::run::{RunError, RunOptions};
use super::send::{BatchSize, Flights, Item, Ready};
use crate::journal::{FieldHasher, FieldHashes, JournalError};
use crate::mapping::{Entity, MappingPlan};
use crate::payload::Command;
use crate::source::SourceError;
use crate::transport::{Transport, TransportError};

/// How many times one row is sent again after its command did not run (limits, halts).
pub(super) const MAX_NOT_EXECUTED_RESENDS: u32 = 20;

/// Rows read ahead of the requests.
pub(super) const READ_AHEAD: usize = 1024;

/// Keys of rows that disappeared from the source listed in the report (the count is exact).
pub(super) const MAX_MISSING_KEYS: usize = 10_000;

/// Why a step stopped before its end.
pub(super) enum Stop {
    /// The portal cannot be used (or a signal reached a request or a wait): the run stops.
    Portal(TransportError),
    /// Ctrl-C / SIGTERM seen between rows.
    Interrupted,
    /// The journal cannot record: the run stops (exit 4).
    Journal(JournalError),
}

impl From<JournalError> for Stop {
    fn from(e: JournalError) -> Self {
        Stop::Journal(e)
    }
}

/// A row with no journal record in upsert/update mode: looked up in the portal first.
pub(super) struct Unseen {
    pub(super) key: String,
    pub(super) row_ref: String,
    pub(super) hash: String,
    pub(super) cmd: Command,
}

/// What every step of a run shares.
#[derive(Clone, Copy)]
pub(super) struct RunContext<'a> {
    pub(super) transport: &'a Transport,
    pub(super) opts: &'a RunOptions,
    pub(super) progress: &'a Progress,
    /// Set by Ctrl-C / SIGTERM: stop reading, send nothing new.
    pub(super) interrupted: &'a AtomicBool,
    /// The names of every step of this run, in order.
    pub(super) steps: &'a [String],
    /// The portal's schema read before the run (labels -> IDs); `None` when no step needs it.
    pub(super) schema: Option<&'a std::sync::Arc<crate::schema::PortalSchema>>,
}

/// One step while it runs: its plan, its journal side, what it has looked up, and its figures.
pub(super) struct StepRunner<'a> {
    pub(super) plan: MappingPlan,
    /// Bytes of the source read so far, and its size (for progress).
    pub(super) bytes: crate::source::BytesRead,
    pub(super) size: u64,
    /// The journal side of the step (writing, or a dry run's read-only view).
    pub(super) ledger: Ledger<'a>,
    pub(super) transport: &'a Transport,
    pub(super) progress: &'a Progress,
    pub(super) interrupted: &'a AtomicBool,
    /// Commands per request (at most 10 for users, 50 otherwise).
    pub(super) batch_size: usize,
    pub(super) report: StepReport,
    /// Lookups and user IDs found so far.
    pub(super) resolver: Resolver,
    /// Commands of rows whose outcome became unknown in this run, kept until reconciled.
    pub(super) unknown: HashMap<String, (Command, Option<FieldHashes>)>,
    /// Hashes field values as the journal stores them.
    pub(super) hasher: FieldHasher,
    /// Upsert/update rows waiting for a portal lookup of their keys.
    pub(super) unseen: Vec<Unseen>,
    /// Hashes of the keys this run's source holds (to report rows that disappeared).
    pub(super) seen: std::collections::HashSet<u64>,
    /// Requests on their way; every one is landed (its answer recorded) before the step ends.
    pub(super) flights: Flights,
    /// Commands per batch now: shrinks after slow batches, never above `batch_size`.
    pub(super) sizer: BatchSize,
    /// Rows to create waiting for the duplicate check, and what it found (`on_duplicate`).
    pub(super) dups: super::matching::DupState,
}

impl<'a> StepRunner<'a> {
    pub(super) fn new(
        step: Step,
        order: usize,
        journal: &'a mut RunJournal,
        run: RunContext<'a>,
    ) -> Result<(StepRunner<'a>, super::prepare::Prepare), RunError> {
        let RunContext { transport, opts, progress, interrupted, steps, schema } = run;
        let entity = step.plan.target.entity;
        let mut report =
            StepReport { step: step.plan.name.clone(), entity: entity.name(), ..Default::default() };
        report.notes.extend(step.source.notes().iter().cloned());
        let ledger = journal.step(&step, order, &mut report.notes)?;
        let hasher = ledger.hasher();
        let batch_size =
            if entity == Entity::User { opts.batch_size.clamp(1, 10) } else { opts.batch_size.clamp(1, 50) };
        let (plan, rows, bytes, size) = step.prepare();
        let runner = StepRunner {
            plan,
            bytes,
            size,
            ledger,
            transport,
            progress,
            interrupted,
            batch_size,
            report,
            resolver: Resolver::new(if opts.dry_run { steps.to_vec() } else { Vec::new() }).with_labels(
                match (schema, entity) {
                    (Some(s), Entity::Crm(etid)) => Some(crate::schema::LabelBook::new(s.clone(), etid)),
                    _ => None,
                },
            ),
            unknown: HashMap::new(),
            hasher,
            unseen: Vec::new(),
            seen: std::collections::HashSet::new(),
            flights: Flights::default(),
            sizer: BatchSize::new(batch_size),
            dups: Default::default(),
        };
        Ok((runner, rows))
    }

    pub(super) fn writing(&self) -> bool {
        self.ledger.is_writing()
    }

    pub(super) async fn run(&mut self, rows: super::prepare::Prepare) -> Result<(), Stop> {
        let notes = self.portal().unknown_fields(&self.plan).await?;
        self.report.notes.extend(notes);
        if self.writing() {
            self.reconcile_leftovers().await?;
        }
        let bar = self.progress.step(&self.plan.name, self.size);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Prepared, SourceError>>(READ_AHEAD);
        let reader = std::thread::spawn(move || {
            for item in rows {
                let stop = item.is_err();
                if tx.blocking_send(item).is_err() || stop {
                    break;
                }
            }
        });
        let mut packer = self.transport.packer::<Item>(self.batch_size);
        let mut retry: VecDeque<Ready> = VecDeque::new();
        let mut result = Ok(());
        let mut read_all = true;
        while let Some(item) = rx.recv().await {
            if self.interrupted.load(Ordering::Relaxed) {
                result = Err(Stop::Interrupted);
                break;
            }
            let prepared = match item {
                Ok(p) => p,
                Err(e) => {
                    self.report.notes.push(format!("stopped reading: {e}"));
                    self.report.source_error = Some(e.to_string());
                    read_all = false;
                    break;
                }
            };
            self.report.rows_read += 1;
            let mut ready = match self.admit(prepared).await {
                Ok(ready) => ready,
                Err(stop) => {
                    result = Err(stop);
                    break;
                }
            };
            // Lookups of new keys go a few chunks at once (as many as may be in flight).
            if self.unseen.len() >= LOOKUP_CHUNK
                && self.unseen.len() >= LOOKUP_CHUNK * self.transport.in_flight_limit().clamp(1, 4)
            {
                match self.flush_unseen().await {
                    Ok(more) => ready.extend(more),
                    Err(stop) => {
                        result = Err(stop);
                        break;
                    }
                }
            }
            if self.dups.ready() {
                ready.extend(self.flush_duplicates(false).await?);
            }
            for r in ready {
                for pack in
                    push_sized(self.transport, &mut packer, Item::new(r.key, r.fields), r.cmd, &self.sizer)
                {
                    if let Err(stop) = self.send(pack, &mut retry).await {
                        result = Err(stop);
                        break;
                    }
                }
                if result.is_err() {
                    break;
                }
            }
            if result.is_err() {
                break;
            }
            bar.update(self.bytes.get(), self.report.rows_read, || self.snapshot());
        }
        drop(rx);
        let _ = reader.join();
        if result.is_ok() && read_all {
            self.ledger.set_source_rows(&self.plan.name, self.report.rows_read)?;
        }
        if result.is_ok() {
            match self.flush_before_end().await {
                Ok(ready) => {
                    for r in ready {
                        for pack in push_sized(
                            self.transport,
                            &mut packer,
                            Item::new(r.key, r.fields),
                            r.cmd,
                            &self.sizer,
                        ) {
                            if result.is_ok() {
                                result = self.send(pack, &mut retry).await;
                            }
                        }
                    }
                }
                Err(stop) => result = Err(stop),
            }
        }
        if result.is_ok()
            && let Some(pack) = packer.finish()
        {
            result = self.send(pack, &mut retry).await;
        }
        // Every answer on its way is recorded, whatever stopped the step (a journal error
        // aside: then the rows stay `sent` and the next run looks them up).
        result = self.land_all(result, &mut retry).await;
        // Commands that did not run (limits inside a batch, halts) go again, bounded.
        while result.is_ok() && !retry.is_empty() {
            let mut packer = self.transport.packer::<Item>(self.batch_size);
            let mut packs = Vec::new();
            while let Some(r) = retry.pop_front() {
                if r.resends >= MAX_NOT_EXECUTED_RESENDS {
                    self.report
                        .notes
                        .push(format!("row {} was refused by limits too often; left pending", r.key));
                    continue;
                }
                let item = Item { key: r.key, fields: r.fields, resends: r.resends + 1 };
                packs.extend(push_sized(self.transport, &mut packer, item, r.cmd, &self.sizer));
            }
            packs.extend(packer.finish());
            for pack in packs {
                if let Err(stop) = self.send(pack, &mut retry).await {
                    result = Err(stop);
                    break;
                }
            }
            result = self.land_all(result, &mut retry).await;
        }
        if result.is_ok() {
            result = self.settle_duplicates().await;
        }
        if result.is_ok() && self.writing() {
            result = self.reconcile_this_run().await;
        }
        if result.is_ok() {
            self.report_missing()?;
        }
        bar.finish();
        self.finish_counts()?;
        result
    }

    /// Records every answer still in flight after `result`; the first stop wins. A journal
    /// error does not wait: the requests are left to finish and their rows stay `sent`.
    pub(super) async fn land_all(
        &mut self,
        result: Result<(), Stop>,
        retry: &mut VecDeque<Ready>,
    ) -> Result<(), Stop> {
        if let Err(Stop::Journal(_)) = result {
            return result;
        }
        let drained = self.drain(retry).await;
        result.and(drained)
    }

    /// The portal, for lookups.
    pub(super) fn portal(&self) -> Portal<'a> {
        Portal::new(self.transport)
    }

    /// The figures a progress line shows now.
    fn snapshot(&self) -> Snapshot {
        let r = &self.report;
        let stats = self.transport.stats();
        Snapshot {
            rows_read: r.rows_read,
            created: r.created,
            updated: r.updated,
            existing: r.existing,
            rejected: r.rejected_total(),
            skipped: r.skipped,
            requests: stats.requests,
            limit_refusals: stats.query_limit_refusals + stats.operating_refusals,
            limit_wait: stats.limit_wait,
            rate: stats.rate,
            in_flight: stats.in_flight,
            in_flight_limit: stats.in_flight_limit,
            operating_left: self.transport.operating_left(),
        }
    }

    /// Fills `pending`/`unknown` of the report from the journal.
    pub(super) fn finish_counts(&mut self) -> Result<(), JournalError> {
        if let Some(c) = self.ledger.counts()? {
            self.report.pending += c.pending + c.sent;
            self.report.unknown = c.unknown;
        }
        Ok(())
    }

    /// Lists the done rows of this step whose keys the source no longer has (never deleted).
    pub(super) fn report_missing(&mut self) -> Result<(), JournalError> {
        for (key, _) in self.ledger.done_ids()? {
            if !self.seen.contains(&key_hash(&key)) {
                self.report.missing += 1;
                if self.report.missing_keys.len() < MAX_MISSING_KEYS {
                    self.report.missing_keys.push(key);
                }
            }
        }
        Ok(())
    }
}

/// A 64-bit hash of a row key (the set of keys a source holds, at 8 bytes a key).
pub(super) fn key_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// Packs `cmd` at the batch size the step's [`BatchSize`] allows now.
/// Also at most what keeps one batch a small share of the operating budget, so pacing does
/// not leave much of a window unused (it matters only for small budgets).
pub(super) fn push_sized(
    transport: &Transport,
    packer: &mut crate::transport::Packer<Item>,
    item: Item,
    cmd: Command,
    sizer: &BatchSize,
) -> Vec<crate::transport::Pack<Item>> {
    // The size is settled when a batch starts (not on every row: it costs the budget's lock).
    if packer.is_empty() {
        let fitting = transport.fitting_commands(cmd.method.as_str()).unwrap_or(usize::MAX);
        packer.set_max_commands(sizer.current().min(fitting));
    }
    packer.push(item, cmd)
}
