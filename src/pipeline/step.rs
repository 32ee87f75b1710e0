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
//! Sending: one [`Dispatcher`] per step carries every write of the step (its rows, the
//! duplicates settled at its end, the rows its reconciliation found absent); the step is its
//! [`Bracket`](crate::portal::Bracket) (`send`). Every answer is recorded
//! ([`Dispatcher::finish`]) before the step reconciles or ends, so the next step's lookups
//! (`resolve`, from the journal) see every ID of this one. A step never looks itself up
//! (`steps` refuses the cycle), so no row's payload waits for an answer still in flight.

use std::collections::HashMap;

use super::ledger::{Ledger, RunJournal};
use super::portal::{LOOKUP_CHUNK, Portal};
use super::prepare::{Prepared, Step};
use super::progress::{Progress, Snapshot};
use super::report::StepReport;
use super::resolve::Resolver;
use super::run::{RunError, RunOptions};
use super::send::{Item, Ready};
use crate::journal::{FieldHasher, FieldHashes, JournalError};
use crate::mapping::{Entity, MappingPlan};
use crate::payload::Command;
use crate::portal::{Dispatcher, Reads};
use crate::source::SourceError;
use crate::transport::TransportError;

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

impl From<TransportError> for Stop {
    fn from(e: TransportError) -> Self {
        Stop::Portal(e)
    }
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
    /// The portal, read under the one read rule (and shared with the step's dispatcher).
    pub(super) reads: &'a Reads,
    pub(super) opts: &'a RunOptions,
    pub(super) progress: &'a Progress,
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
    pub(super) reads: &'a Reads,
    pub(super) progress: &'a Progress,
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
        let RunContext { reads, opts, progress, steps, schema } = run;
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
            reads,
            progress,
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
        let mut sender = Dispatcher::new(self.reads.shared(), self.batch_size);
        let mut result = Ok(());
        let mut read_all = true;
        while let Some(item) = rx.recv().await {
            // Ctrl-C / SIGTERM (the portal's one stop handle): stop reading, send nothing new.
            if self.reads.portal().shutdown().is_stopped() {
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
            result = self.admit_and_send(prepared, &mut sender).await;
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
            result = match self.flush_before_end().await {
                Ok(ready) => self.send(&mut sender, ready).await,
                Err(stop) => Err(stop),
            };
        }
        // Every answer on its way is recorded, whatever stopped the step (a journal error
        // aside: then the rows stay `sent` and the next run looks them up); what did not run
        // goes again, bounded.
        result = match result {
            Ok(()) => sender.finish(self).await,
            Err(Stop::Journal(e)) => Err(Stop::Journal(e)),
            Err(stop) => {
                let _ = sender.drain(self).await;
                Err(stop)
            }
        };
        if result.is_ok() {
            result = self.settle_duplicates(&mut sender).await;
        }
        if result.is_ok() && self.writing() {
            result = self.reconcile_this_run(&mut sender).await;
        }
        if result.is_ok() {
            self.report_missing()?;
        }
        bar.finish();
        self.finish_counts()?;
        result
    }

    /// One source row: admitted (or rejected, or held for a lookup or the duplicate check),
    /// and what is ready to be sent handed to the step's dispatcher.
    async fn admit_and_send(
        &mut self,
        prepared: Prepared,
        sender: &mut Dispatcher<Item>,
    ) -> Result<(), Stop> {
        let mut ready = self.admit(prepared).await?;
        // Lookups of new keys go a few chunks at once (as many as may be in flight).
        if self.unseen.len() >= LOOKUP_CHUNK
            && self.unseen.len() >= LOOKUP_CHUNK * self.reads.portal().in_flight_limit().clamp(1, 4)
        {
            ready.extend(self.flush_unseen().await?);
        }
        if self.dups.ready() {
            ready.extend(self.flush_duplicates(false).await?);
        }
        self.send(sender, ready).await
    }

    /// Hands `ready` rows to the dispatcher (requests leave as they fill). A dry run never
    /// writes to the portal (nothing reaches here: it only counts).
    pub(super) async fn send(
        &mut self,
        sender: &mut Dispatcher<Item>,
        ready: Vec<Ready>,
    ) -> Result<(), Stop> {
        if !self.writing() {
            return Ok(());
        }
        for r in ready {
            sender.push(self, Item { key: r.key, fields: r.fields }, r.cmd).await?;
        }
        Ok(())
    }

    /// The portal, for lookups.
    pub(super) fn portal(&self) -> Portal<'a> {
        Portal::new(self.reads)
    }

    /// The figures a progress line shows now.
    fn snapshot(&self) -> Snapshot {
        let r = &self.report;
        let stats = self.reads.portal().stats();
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
            operating_left: self.reads.portal().operating_left(),
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
