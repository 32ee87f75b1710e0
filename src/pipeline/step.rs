//! One step of a run: the order of its work and the state it keeps while it runs.
//!
//! Owns: [`StepRunner`], the sequencer of a step's phases over its components, and nothing
//! else: check the mapping's fields against the portal, reconcile what an earlier run left
//! `sent`/`unknown`, stream the source (read and mapped on their own thread ahead of the
//! requests, through a bounded channel: flat memory), admit each row, send, land every answer,
//! settle duplicates within the source, reconcile this run's unknown rows, list rows the source
//! no longer holds. The components own their state and their rules: [`Core`] (plan, journal
//! side, portal, report: `core`), admission (`rows`, with `admit`'s pure decision and
//! `resolve`'s lookups), the duplicate check (`matching`), the unknown rows (`reconcile`) and
//! the journal bracket (`send`). Must not decide anything about a row itself, nor hold the
//! journal's connection anywhere but in the core's ledger.
//!
//! Sending: one [`Dispatcher`] per step carries every write of the step (its rows, the
//! duplicates settled at its end, the rows its reconciliation found absent); the step is its
//! [`Bracket`](crate::portal::Bracket) (`send`). Every answer is recorded
//! ([`Dispatcher::finish`]) before the step reconciles or ends, so the next step's lookups
//! (`resolve`, from the journal) see every ID of this one. A step never looks itself up
//! (`steps` refuses the cycle), so no row's payload waits for an answer still in flight.
//!
//! An import step (`method = "import"`) stages its rows instead of sending them as they are
//! read ([`ImportOrder`]), and once the source has been read sends them oldest first through
//! its dispatcher in the ordered mode, settling every unknown outcome (reconciled by key, the
//! absent rows sent again) before a later row leaves.

use super::core::{Core, Item, Ready, Unknowns};
use super::early::EarlyLookups;
use super::job::{RunError, RunOptions};
use super::ledger::RunJournal;
use super::matching::DupState;
use super::order::ImportOrder;
use super::portal::LOOKUP_CHUNK;
use super::prepare::{Prepared, Step};
use super::progress::{Progress, Snapshot};
use super::report::StepReport;
use super::resolve::Resolver;
use super::rows::Admission;
use super::send::Landing;
use super::stop::Stop;
use crate::journal::JournalError;
use crate::mapping::{CreateMethod, Entity};
use crate::portal::{Dispatcher, Reads};
use crate::source::SourceError;

/// Rows read ahead of the requests.
pub(super) const READ_AHEAD: usize = 1024;

/// An import command of several rows is kept under this size (encoded): larger rows go one a
/// command, so that a request too large splits by rows, not by groups.
const MAX_GROUP_BYTES: usize = 1024 * 1024;

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
    /// `--sample` (issue 21): the rows this run takes; `None`: every row.
    pub(super) sample: Option<&'a super::sample::Sample>,
}

/// One step while it runs: the order of its work over its components.
pub(super) struct StepRunner<'a> {
    /// What every component works on: plan, journal side, portal, report.
    pub(super) core: Core<'a>,
    /// Taking source rows in: lookups, upsert look-ups by key, the keys seen.
    admission: Admission,
    /// Rows to create waiting for the duplicate check, and what it found (`on_duplicate`).
    dups: DupState,
    /// Rows whose outcome became unknown in this run, until reconciled.
    unknowns: Unknowns,

    /// Bytes of the source read so far, and its size (for progress).
    bytes: crate::source::BytesRead,
    size: u64,
    progress: &'a Progress,
    /// Commands per request (at most 10 for users, 50 otherwise).
    batch_size: usize,
    /// An import step's rows until the source has been read (`None` for every other step).
    order: Option<ImportOrder>,
    /// `--sample` (issue 21): the rows this run takes; `None`: every row.
    sample: Option<&'a super::sample::Sample>,
    /// A product-rows step's rows by parent until the source has been read (issue 20).
    products: Option<super::products::ProductSets>,
}

impl<'a> StepRunner<'a> {
    pub(super) fn new(
        step: Step,
        order: usize,
        journal: &'a mut RunJournal,
        run: RunContext<'a>,
    ) -> Result<(StepRunner<'a>, super::prepare::Prepare), RunError> {
        let RunContext { reads, opts, progress, steps, schema, sample } = run;
        let entity = step.plan.target.entity;
        let mut report =
            StepReport { step: step.plan.name.clone(), entity: entity.name(), ..Default::default() };
        report.notes.extend(step.source.notes().iter().cloned());
        let mut ledger = journal.step(&step, order, &mut report.notes)?;
        if let Some(sample) = sample {
            // The journal remembers the rows a sample took (issue 21).
            ledger.record_sampled(&sample.keys_of(&step.plan.name))?;
        }
        let hasher = ledger.hasher();
        let batch_size =
            if entity == Entity::User { opts.batch_size.clamp(1, 10) } else { opts.batch_size.clamp(1, 50) };
        let order = if step.plan.target.method == CreateMethod::Import && !opts.dry_run {
            Some(ImportOrder::new()?)
        } else {
            None
        };
        let products =
            if entity == Entity::ProductRows { Some(super::products::ProductSets::new()?) } else { None };
        let (plan, rows, bytes, size) = step.prepare();
        // Labels are resolved as `validate --online` resolves them (one rule, in `resolve`).
        let labels = schema.and_then(|s| super::resolve::label_book(s, &plan));
        let resolver =
            Resolver::new(if opts.dry_run { steps.to_vec() } else { Vec::new() }).with_labels(labels);
        let runner = StepRunner {
            core: Core {
                plan,
                ledger,
                reads,
                report,
                hasher,
                followups: Vec::new(),
                followup_tries: Default::default(),
            },
            admission: Admission::new(resolver),
            dups: DupState::default(),
            unknowns: Unknowns::default(),

            bytes,
            size,
            progress,
            batch_size,
            order,
            sample,
            products,
        };
        Ok((runner, rows))
    }

    /// The step's report so far.
    pub(super) fn take_report(&mut self) -> StepReport {
        std::mem::take(&mut self.core.report)
    }

    /// The step's phases, in order: the field check, the leftovers of an earlier run, the
    /// source's rows (admitted and sent as they come), the look-ups waiting at the end, every
    /// answer landed, the duplicates within the source, this run's unknown rows, the rows the
    /// source no longer has.
    pub(super) async fn run(&mut self, rows: super::prepare::Prepare) -> Result<(), Stop> {
        let core = &mut self.core;
        // The field check runs beside the step's first requests (it only adds notes): one
        // latency less before the first batch (issue 23). Its notes keep their place.
        let notes_at = core.report.notes.len();
        let fields_check = {
            let (reads, plan) = (core.reads.clone(), core.plan.clone());
            tokio::spawn(async move { super::portal::Portal::new(&reads).unknown_fields(&plan).await })
        };
        if core.writing() {
            self.unknowns.reconcile_leftovers(core).await?;
        }
        let bar = self.progress.step(&self.core.plan.name, self.size);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Prepared, SourceError>>(READ_AHEAD);
        let reader = std::thread::spawn(move || {
            for item in rows {
                let stop = item.is_err();
                if tx.blocking_send(item).is_err() || stop {
                    break;
                }
            }
        });
        let mut sender = Dispatcher::new(self.core.reads.shared(), self.batch_size);
        if self.order.is_some() {
            sender = sender.ordered();
        }
        let mut result = Ok(());
        let mut read_all = true;
        if EarlyLookups::applies(&self.core, self.order.is_some()) {
            self.unknowns.early = Some(EarlyLookups::default());
        }
        while let Some(item) = rx.recv().await {
            // Ctrl-C / SIGTERM (the portal's one stop handle): stop reading, send nothing new.
            if self.core.reads.portal().shutdown().is_stopped() {
                result = Err(Stop::Interrupted);
                break;
            }
            let prepared = match item {
                Ok(p) => p,
                Err(e) => {
                    self.core.report.notes.push(format!("stopped reading: {e}"));
                    self.core.report.source_error = Some(e.to_string());
                    read_all = false;
                    break;
                }
            };
            self.core.report.rows_read += 1;
            if let Some(sample) = self.sample
                && !sample.takes(&self.core.plan.name, &super::job::journal_key(&prepared))
            {
                self.core.report.not_sampled += 1;
                continue;
            }
            result = self.admit_and_send(prepared, &mut sender).await;
            if result.is_ok() {
                result = EarlyLookups::land(&mut self.unknowns, &mut self.core, &mut sender, false).await;
            }
            if result.is_err() {
                break;
            }
            bar.update(self.bytes.get(), self.core.report.rows_read, || self.snapshot());
        }
        drop(rx);
        let _ = reader.join();
        if result.is_ok() && read_all {
            let core = &mut self.core;
            core.ledger.set_source_rows(&core.plan.name, core.report.rows_read)?;
        }
        if result.is_ok() {
            result = match self.flush_before_end().await {
                Ok(ready) => self.hand_over(&mut sender, ready).await,
                Err(stop) => Err(stop),
            };
        }
        if result.is_ok() && self.order.is_some() {
            result = self.send_in_order(&mut sender, &bar).await;
        }
        if let Some(sets) = self.products.take()
            && result.is_ok()
        {
            // Issue 20: one set per parent, only from a source read whole.
            if read_all {
                result =
                    super::products::send_sets(sets, &mut self.core, &mut self.unknowns, &mut sender).await;
            } else {
                self.core.report.notes.push(
                    "no product rows were sent: the source was not read to its end (a parent's set \
                     replaces its rows)"
                        .into(),
                );
            }
        }
        // Every answer on its way is recorded, whatever stopped the step (a journal error
        // aside: then the rows stay `sent` and the next run looks them up); what did not run
        // goes again, bounded.
        result = match result {
            Ok(()) => match self.landing().finish_all(&mut sender).await {
                // The lookup still in flight lands; the absent rows it found go again.
                Ok(()) if self.unknowns.early.is_some() => {
                    let landed =
                        EarlyLookups::land(&mut self.unknowns, &mut self.core, &mut sender, true).await;
                    // From here on the step's reconciliation settles what is unknown.
                    self.unknowns.early = None;
                    match landed {
                        Ok(()) => self.landing().finish_all(&mut sender).await,
                        Err(stop) => Err(stop),
                    }
                }
                other => other,
            },
            Err(Stop::Journal(e)) => Err(Stop::Journal(e)),
            Err(stop) => {
                let _ = sender.drain(&mut self.landing()).await;
                Err(stop)
            }
        };
        if result.is_ok() {
            result = self.dups.settle_duplicates(&mut self.core, &mut self.unknowns, &mut sender).await;
        }
        if result.is_ok() && self.core.writing() {
            result = self.unknowns.reconcile_this_run(&mut self.core, &mut sender).await;
        }
        if result.is_ok() && !self.core.followups.is_empty() {
            // What the reconciliation found is owed its follow-ups too.
            sender.resume();
            result = self.landing().send_all(&mut sender, Vec::new()).await;
        }
        // A sample sees only its rows: the others are not "no longer in the source".
        if result.is_ok() && self.sample.is_none() {
            self.admission.report_missing(&mut self.core)?;
        }
        match fields_check.await {
            Ok(Ok(notes)) => {
                let at = notes_at.min(self.core.report.notes.len());
                self.core.report.notes.splice(at..at, notes);
            }
            // The portal could not be used at all (credentials, overload): the step stops.
            Ok(Err(stop)) if result.is_ok() => result = Err(stop),
            _ => {}
        }
        if self.core.report.not_sampled > 0 {
            self.core.report.notes.push(format!(
                "{} row(s) not in the sample (--sample): a run without --sample on this journal takes them",
                self.core.report.not_sampled
            ));
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
        let (core, dups) = (&mut self.core, &mut self.dups);
        if let Some(sets) = self.products.as_mut() {
            let ready = super::products::take(sets, core, &mut self.admission, dups, prepared).await?;
            return self.hand_over(sender, ready).await;
        }
        let mut ready = self.admission.admit(core, dups, prepared).await?;
        // Lookups of new keys go a few chunks at once (as many as may be in flight).
        let waiting = self.admission.unseen.len();
        if waiting >= LOOKUP_CHUNK
            && waiting >= LOOKUP_CHUNK * core.reads.portal().in_flight_limit().clamp(1, 4)
        {
            ready.extend(self.admission.flush_unseen(core, dups).await?);
        }
        if dups.ready() {
            ready.extend(dups.flush_duplicates(core, false).await?);
        }
        self.hand_over(sender, ready).await
    }

    /// Rows ready to be sent: to the dispatcher, or staged (an import step).
    async fn hand_over(&mut self, sender: &mut Dispatcher<Item>, ready: Vec<Ready>) -> Result<(), Stop> {
        match &mut self.order {
            Some(order) => Ok(order.push(ready)?),
            None => self.landing().send(sender, ready).await,
        }
    }

    /// An import step's staged rows, oldest first, through the ordered dispatcher: an unknown
    /// outcome is settled (this run's unknown rows reconciled by key, the absent ones sent
    /// again, ahead of every later row) before anything else leaves.
    async fn send_in_order(
        &mut self,
        sender: &mut Dispatcher<Item>,
        bar: &super::progress::StepBar,
    ) -> Result<(), Stop> {
        let Some(mut order) = self.order.take() else { return Ok(()) };
        let mut sent = 0u64;
        let mut group: Vec<Ready> = Vec::with_capacity(crate::payload::MAX_IMPORT_ITEMS);
        loop {
            let chunk = order.next_chunk()?;
            let last = chunk.is_empty();
            for ready in chunk {
                group.push(ready);
                if group.len() < crate::payload::MAX_IMPORT_ITEMS {
                    continue;
                }
                sent += group.len() as u64;
                self.send_group(sender, std::mem::take(&mut group)).await?;
                bar.update(self.bytes.get(), self.core.report.rows_read.max(sent), || self.snapshot());
            }
            if last {
                break;
            }
        }
        if !group.is_empty() {
            self.send_group(sender, group).await?;
        }
        loop {
            self.landing().finish_all(sender).await?;
            if !sender.paused() {
                return Ok(());
            }
            self.settle_unknowns(sender).await?;
        }
    }

    /// Up to [`crate::payload::MAX_IMPORT_ITEMS`] staged rows, in order, as one
    /// `crm.item.batchImport` command (50 such commands a request: 1,000 items), or one by one
    /// when they cannot share a command (an update among them, a large group); an unknown
    /// outcome is settled before anything else leaves.
    async fn send_group(&mut self, sender: &mut Dispatcher<Item>, rows: Vec<Ready>) -> Result<(), Stop> {
        if self.core.reads.portal().shutdown().is_stopped() {
            return Err(Stop::Interrupted);
        }
        let cmds: Vec<&crate::payload::Command> = rows.iter().map(|r| &r.cmd).collect();
        let merged = crate::payload::import_group(&cmds)
            .filter(|m| crate::payload::batch::encode_command(m).len() <= MAX_GROUP_BYTES);
        match merged {
            Some(cmd) if rows.len() > 1 => {
                let mut rows = rows.into_iter();
                let first = rows.next().expect("more than one row");
                let group = rows.map(|r| (r.key, r.fields)).collect();
                let item = Item { key: first.key, fields: first.fields, followup: false, group };
                sender.push(&mut self.landing(), item, cmd).await?;
                if sender.paused() {
                    self.settle_unknowns(sender).await?;
                }
            }
            _ => {
                for ready in rows {
                    self.landing().send(sender, vec![ready]).await?;
                    if sender.paused() {
                        self.settle_unknowns(sender).await?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The ordered dispatcher paused on an unknown outcome: every row in it is looked up by key
    /// and the absent ones sent again through a dispatcher of their own (so they leave before
    /// the rows still waiting in `sender`), then `sender` resumes.
    async fn settle_unknowns(&mut self, sender: &mut Dispatcher<Item>) -> Result<(), Stop> {
        let mut first = Dispatcher::new(self.core.reads.shared(), self.batch_size).ordered();
        self.unknowns.reconcile_this_run(&mut self.core, &mut first).await?;
        sender.resume();
        Ok(())
    }

    /// The look-ups waiting at the end of the step's rows: by key first (their absent rows may
    /// join the duplicate check), then every waiting duplicate check.
    async fn flush_before_end(&mut self) -> Result<Vec<Ready>, Stop> {
        let mut ready = self.admission.flush_unseen(&mut self.core, &mut self.dups).await?;
        ready.extend(self.dups.flush_duplicates(&mut self.core, true).await?);
        Ok(ready)
    }

    /// The step's bracket of the send loop.
    fn landing(&mut self) -> Landing<'_, 'a> {
        Landing { core: &mut self.core, unknowns: &mut self.unknowns }
    }

    /// The figures a progress line shows now.
    fn snapshot(&self) -> Snapshot {
        let r = &self.core.report;
        let stats = self.core.reads.portal().stats();
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
            operating_left: self.core.reads.portal().operating_left(),
        }
    }

    /// Fills `pending`/`unknown` of the report from the journal.
    fn finish_counts(&mut self) -> Result<(), JournalError> {
        if let Some(c) = self.core.ledger.counts()? {
            self.core.report.pending += c.pending + c.sent;
            self.core.report.unknown = c.unknown;
        }
        Ok(())
    }
}
