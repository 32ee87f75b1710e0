//! The one send loop of every write path: pack, send with requests in flight, land answers in
//! any order, resend what did not run, split what was too large, and bracket each request with
//! the write path's journal records.
//!
//! Owns:
//! - **packing** by count (the write path's batch size, shrunk by [`BatchSize`] after slow
//!   batches and by the operating budget's fitting commands) and by bytes (the portal's budget),
//!   with room kept for reads waiting to ride in the request ([`Portal::reserve_riders`](super::Portal::reserve_riders));
//! - **requests in flight**: each request is a task of its own; [`Dispatcher::push`] returns
//!   while fewer are in flight than the portal allows now (with a limit of 1 a request's answer
//!   is recorded before the next request is journaled); answers land in any order;
//! - **the bracket** ([`Bracket`]): a request's rows are reported [`Bracket::sent`] before it
//!   leaves and [`Bracket::landed`] once its answer is in, every row with its [`Fate`];
//! - **the resend rule**, one for every write path: a command that did not run goes again when
//!   the path calls [`Dispatcher::finish`], at most [`MAX_NOT_RUN_RESENDS`] times (then
//!   [`Fate::GaveUp`]); a request refused as too large (413) is sent again in halves, a single
//!   command alone as a direct call, and one still too large alone is [`Fate::TooLarge`];
//! - **the ordered mode** ([`Dispatcher::ordered`], the import steps: the portal refuses an
//!   item older than its newest): one request at a time, a command that did not run goes again
//!   at once ahead of every later row, and after an answer with an unknown outcome nothing more
//!   leaves until the write path has [resolved](Dispatcher::resume) it (reconciled by key, the
//!   absent rows sent again first);
//! - **stopping**: after a stop (a fatal answer, a refusal by the bracket) nothing new is sent,
//!   every request in flight is still landed (unless the bracket says the stop
//!   [abandons](Bracket::abandons) them: its journal cannot record), and the first stop is
//!   returned.
//!
//! Must not: decide which rows to send, or what a row's journal record becomes (the bracket's).

use std::collections::VecDeque;
use std::time::Duration;

use super::SharedPortal;
use super::answer::{BatchSize, RowAnswer, answer_of, group_answers, timed_out};
use crate::payload::Command;
use crate::transport::{BatchOutcome, Pack, Packer, TransportError};

/// How many times one row is sent again after its command did not run (limits, halts).
pub const MAX_NOT_RUN_RESENDS: u32 = 20;

/// What became of one row of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// It ran: created (or, `update`, updated) the item `id`.
    Done { id: u64, update: bool },
    /// It ran and the portal refused it.
    Refused { code: String, description: String },
    /// It did not run; it goes again at [`Dispatcher::finish`].
    NotRun,
    /// It did not run, [`MAX_NOT_RUN_RESENDS`] times: not sent again.
    GaveUp,
    /// It did not run and the run stops (a fatal refusal, exhausted limits): not sent again.
    Stopped,
    /// Its request was too large and goes again in smaller requests.
    Split,
    /// Alone and still too large for the portal (`bytes`: the request's size).
    TooLarge { bytes: usize },
    /// It may have run: its outcome is unknown (to be looked up by key).
    Unknown { reason: String },
    /// Its request was abandoned on the wire (a second Ctrl-C): it may have run; nothing is
    /// known, nothing should be recorded (the row stays `sent`).
    Abandoned,
    /// An import command of several items ran: each item's own fate, in order (`Done`,
    /// `Refused`, `Stopped` or `Unknown`; the command as a whole ran).
    Group(Vec<Fate>),
}

/// One row of a landed request: the write path's item, its command, and its fate.
#[derive(Debug)]
pub struct Landed<'a, I> {
    pub item: &'a I,
    pub cmd: &'a Command,
    pub fate: Fate,
}

/// A write path's journal side of the send loop.
#[allow(async_fn_in_trait)] // used through generics only, on the step's own task
pub trait Bracket<I> {
    /// Why the write path stops.
    type Stop: From<TransportError>;

    /// The rows of a request about to leave (journal them `sent`, in one transaction).
    fn sent(&mut self, items: &[&I]) -> Result<(), Self::Stop>;

    /// The rows of a request whose answer landed, with their fates (journal them, in one
    /// transaction). Rows that are [`Fate::NotRun`] or [`Fate::Split`] go again afterwards.
    async fn landed(&mut self, rows: Vec<Landed<'_, I>>) -> Result<(), Self::Stop>;

    /// Whether after `stop` the requests in flight are left unrecorded (their rows stay
    /// `sent`): when the journal itself cannot record.
    fn abandons(_stop: &Self::Stop) -> bool {
        false
    }
}

/// A row's item as the dispatcher carries it: with the times it was sent again.
struct Carried<I> {
    item: I,
    resends: u32,
}

type Flight<I> = (Vec<Carried<I>>, Vec<(String, Command)>, bool, Result<BatchOutcome, TransportError>);

/// The send loop of one write path (a step, its reconciliation, its duplicate settlement).
pub struct Dispatcher<I> {
    portal: SharedPortal,
    packer: Packer<Carried<I>>,
    sizer: BatchSize,
    /// Packs ready to leave (full, or the halves of a pack refused as too large).
    waiting: VecDeque<Pack<Carried<I>>>,
    /// Rows that did not run, to be sent again at `finish`.
    again: VecDeque<(Carried<I>, Command)>,
    flights: tokio::task::JoinSet<Flight<I>>,
    /// One request at a time, in the order rows were pushed (see the module's doc).
    ordered: bool,
    /// Ordered mode: an answer left rows unknown; nothing leaves until [`Dispatcher::resume`].
    paused: bool,
}

impl<I: Send + 'static> Dispatcher<I> {
    /// A send loop of at most `max_commands` a request (by bytes: the portal's budget).
    pub fn new(portal: SharedPortal, max_commands: usize) -> Dispatcher<I> {
        let packer = Packer::new(max_commands, portal.max_batch_bytes());
        Dispatcher {
            portal,
            packer,
            sizer: BatchSize::new(max_commands),
            waiting: VecDeque::new(),
            again: VecDeque::new(),
            flights: tokio::task::JoinSet::new(),
            ordered: false,
            paused: false,
        }
    }

    /// The same send loop in the ordered mode: one request at a time, rows leave in the order
    /// they were pushed (what did not run goes again first), and an unknown outcome pauses it.
    pub fn ordered(mut self) -> Dispatcher<I> {
        self.ordered = true;
        self
    }

    /// Ordered mode: whether an unknown outcome holds everything back until [`Self::resume`].
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Ordered mode: the unknown outcomes are settled; rows may leave again.
    pub fn resume(&mut self) {
        self.paused = false;
    }

    /// Nothing queued, waiting or in flight.
    pub fn idle(&self) -> bool {
        self.packer.is_empty() && self.waiting.is_empty() && self.again.is_empty() && self.flights.is_empty()
    }

    /// Requests on their way.
    pub fn in_flight(&self) -> usize {
        self.flights.len()
    }

    /// Commands per batch now.
    pub fn batch_size(&self) -> usize {
        self.sizer.current()
    }

    /// Queues `cmd` for `item`; sends the requests that became full, returning while fewer are
    /// in flight than the portal allows now.
    pub async fn push<B: Bracket<I>>(&mut self, b: &mut B, item: I, cmd: Command) -> Result<(), B::Stop> {
        self.pack(Carried { item, resends: 0 }, cmd);
        self.pump(b, false).await
    }

    /// Sends every row queued, lands every answer, and sends again what did not run until
    /// nothing is left (each row at most [`MAX_NOT_RUN_RESENDS`] more times).
    pub async fn finish<B: Bracket<I>>(&mut self, b: &mut B) -> Result<(), B::Stop> {
        loop {
            self.waiting.extend(self.packer.finish());
            self.pump(b, true).await?;
            if self.paused || self.again.is_empty() {
                return Ok(());
            }
            for (carried, cmd) in std::mem::take(&mut self.again) {
                self.pack(carried, cmd);
            }
        }
    }

    /// Lands every answer in flight, sending nothing new (the write path stops); the first
    /// stop an answer brought.
    pub async fn drain<B: Bracket<I>>(&mut self, b: &mut B) -> Result<(), B::Stop> {
        self.waiting.clear();
        let mut result = Ok(());
        while !self.flights.is_empty() {
            let landed = self.land_next(b).await;
            if result.is_ok() {
                result = landed;
            }
            if let Err(stop) = &result
                && B::abandons(stop)
            {
                return result;
            }
        }
        result
    }

    fn pack(&mut self, carried: Carried<I>, cmd: Command) {
        // The size is settled when a batch starts (not on every row: it costs the budget's lock).
        if self.packer.is_empty() {
            let fitting = self.portal.fitting_commands(cmd.method).unwrap_or(usize::MAX);
            // Reads waiting to ride get their room in this request (a batch holds 50 commands:
            // one row fewer each where the rows would fill it, at most half of them): in a
            // full batch they would each cost a request of their own.
            let size = self.sizer.current().min(fitting);
            let room = crate::transport::batch::MAX_COMMANDS.saturating_sub(self.portal.reserve_riders());
            self.packer.set_max_commands(size.min(room.max(size / 2)).max(1));
        }
        self.waiting.extend(self.packer.push(carried, cmd));
    }

    /// Launches waiting packs while fewer requests are in flight than allowed, landing answers
    /// to make room; `all`: until nothing waits and nothing is in flight.
    async fn pump<B: Bracket<I>>(&mut self, b: &mut B, all: bool) -> Result<(), B::Stop> {
        loop {
            if self.paused {
                return Ok(());
            }
            let limit = if self.ordered { 1 } else { self.portal.in_flight_limit().max(1) };
            while self.flights.len() < limit
                && let Some(pack) = self.waiting.pop_front()
            {
                if let Err(stop) = self.launch(b, pack) {
                    return self.stopped(b, stop).await;
                }
            }
            let room = self.flights.len() < limit;
            if self.flights.is_empty() || (room && self.waiting.is_empty() && !all) {
                return Ok(());
            }
            if let Err(stop) = self.land_next(b).await {
                return self.stopped(b, stop).await;
            }
        }
    }

    /// After `stop`: nothing new leaves; what is in flight is landed (unless abandoned).
    async fn stopped<B: Bracket<I>>(&mut self, b: &mut B, stop: B::Stop) -> Result<(), B::Stop> {
        if B::abandons(&stop) {
            return Err(stop);
        }
        let _ = self.drain(b).await;
        Err(stop)
    }

    fn launch<B: Bracket<I>>(&mut self, b: &mut B, pack: Pack<Carried<I>>) -> Result<(), B::Stop> {
        let items: Vec<&I> = pack.items.iter().map(|c| &c.item).collect();
        b.sent(&items)?;
        let Pack { items, commands, alone } = pack;
        let request = self.portal.send(commands.clone(), alone);
        self.flights.spawn(async move {
            let answer = request.await;
            (items, commands, alone, answer)
        });
        Ok(())
    }

    /// Waits for the next answer and hands its rows to the bracket; then queues what goes
    /// again (rows that did not run; the halves of a pack too large).
    async fn land_next<B: Bracket<I>>(&mut self, b: &mut B) -> Result<(), B::Stop> {
        let Some(joined) = self.flights.join_next().await else { return Ok(()) };
        let (items, commands, alone, answer) = match joined {
            Ok(flight) => flight,
            // A request's task cannot fail short of a bug; its rows are then lost to this
            // run's memory (they stay `sent` and the next run looks them up).
            Err(e) => {
                tracing::error!(error = %e, "a request's task failed; its rows stay `sent`");
                return Ok(());
            }
        };
        let count = commands.len();
        match &answer {
            Ok(batch) if !alone => {
                let took = batch.time.and_then(|t| t.duration).filter(|d| d.is_finite() && *d >= 0.0);
                if let Some(took) = took {
                    self.sizer.after(count, Some(Duration::from_secs_f64(took)));
                }
            }
            Err(TransportError::Ambiguous { reason, .. }) if !alone && timed_out(reason) => {
                self.sizer.after(count, None);
            }
            _ => {}
        }
        let mut stop = None;
        let all = |fate: Fate| vec![fate; count];
        let mut fate_of = |answer: RowAnswer<'_>, cmd: &Command, resends: u32| match answer {
            RowAnswer::Done { id, update } => Fate::Done { id, update },
            RowAnswer::Failed { code, description } => {
                match crate::transport::stopping_refusal(cmd.method.as_str(), code, description) {
                    // Every row would get it: the run stops, the row stays pending.
                    Some(e) => {
                        stop.get_or_insert(e);
                        Fate::Stopped
                    }
                    None => Fate::Refused { code: code.to_string(), description: description.to_string() },
                }
            }
            RowAnswer::NotRun if resends >= MAX_NOT_RUN_RESENDS => Fate::GaveUp,
            RowAnswer::NotRun => Fate::NotRun,
            RowAnswer::Unknown(reason) => Fate::Unknown { reason: reason.to_string() },
        };
        let fates: Vec<Fate> = match answer {
            Ok(batch) => items
                .iter()
                .zip(&commands)
                .map(|(carried, (key, cmd))| match group_answers(batch.get(key), cmd) {
                    Some(parts) => {
                        Fate::Group(parts.into_iter().map(|a| fate_of(a, cmd, carried.resends)).collect())
                    }
                    None => fate_of(answer_of(batch.get(key), cmd), cmd, carried.resends),
                })
                .collect(),
            Err(TransportError::TooLarge { bytes, .. }) if !alone => {
                tracing::info!(
                    bytes,
                    commands = count,
                    "request too large for the portal; sending it in smaller parts"
                );
                all(Fate::Split)
            }
            // Alone and still too large: the row's own size is the problem.
            Err(TransportError::TooLarge { bytes, .. }) => all(Fate::TooLarge { bytes }),
            Err(e @ TransportError::Interrupted { in_flight: true, .. }) => {
                stop = Some(e);
                all(Fate::Abandoned)
            }
            Err(TransportError::Ambiguous { reason, .. }) => all(Fate::Unknown { reason }),
            Err(e) => {
                // Fatal refusals, exhausted limits and invalid batches never ran.
                stop = Some(e);
                all(Fate::Stopped)
            }
        };
        let rows: Vec<Landed<'_, I>> = items
            .iter()
            .zip(&commands)
            .zip(&fates)
            .map(|((carried, (_, cmd)), fate)| Landed { item: &carried.item, cmd, fate: fate.clone() })
            .collect();
        let recorded = b.landed(rows).await;
        let mut split = (Vec::new(), Vec::new());
        let mut not_run = (Vec::new(), Vec::new());
        for ((carried, command), fate) in items.into_iter().zip(commands).zip(fates) {
            match fate {
                Fate::Unknown { .. } if self.ordered => self.paused = true,
                Fate::Group(parts)
                    if self.ordered && parts.iter().any(|f| matches!(f, Fate::Unknown { .. })) =>
                {
                    self.paused = true;
                }
                Fate::NotRun if self.ordered => {
                    not_run.0.push(Carried { item: carried.item, resends: carried.resends + 1 });
                    not_run.1.push(command);
                }
                Fate::NotRun => {
                    let again = Carried { item: carried.item, resends: carried.resends + 1 };
                    self.again.push_back((again, command.1));
                }
                Fate::Split => {
                    split.0.push(carried);
                    split.1.push(command);
                }
                _ => {}
            }
        }
        if !not_run.1.is_empty() {
            // Ordered: ahead of every later row (packs leave from the front of `waiting`).
            self.waiting.push_front(Pack { items: not_run.0, commands: not_run.1, alone: false });
        }
        let (mut items, mut commands) = split;
        if commands.len() == 1 {
            self.waiting.push_front(Pack { items, commands, alone: true });
        } else if !commands.is_empty() {
            let half = commands.len() / 2;
            let (items2, commands2) = (items.split_off(half), commands.split_off(half));
            self.waiting.push_front(Pack { items: items2, commands: commands2, alone: false });
            self.waiting.push_front(Pack { items, commands, alone: false });
        }
        recorded?;
        match stop {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::bitrix::Method;
    use crate::portal::fake::{Scripted, ScriptedPortal};

    /// A bracket that writes down what it is told, in order; refuses `sent` once asked to.
    #[derive(Default)]
    struct Log {
        events: Vec<String>,
        refuse_sent_after: Option<usize>,
    }

    #[derive(Debug)]
    enum Halt {
        Portal,
        Journal,
    }

    impl From<TransportError> for Halt {
        fn from(_: TransportError) -> Self {
            Halt::Portal
        }
    }

    impl Bracket<u32> for Log {
        type Stop = Halt;

        fn sent(&mut self, items: &[&u32]) -> Result<(), Halt> {
            if let Some(n) = self.refuse_sent_after
                && self.events.iter().filter(|e| e.starts_with("sent")).count() >= n
            {
                return Err(Halt::Journal);
            }
            self.events.push(format!("sent {items:?}"));
            Ok(())
        }

        async fn landed(&mut self, rows: Vec<Landed<'_, u32>>) -> Result<(), Halt> {
            for r in rows {
                self.events.push(format!("{} {:?}", r.item, r.fate));
            }
            Ok(())
        }

        fn abandons(stop: &Halt) -> bool {
            matches!(stop, Halt::Journal)
        }
    }

    fn add(n: u32) -> Command {
        Command {
            method: Method::CrmItemAdd,
            params: json!({"entityTypeId": 3, "fields": {"originatorId": "t", "originId": n.to_string()}}),
        }
    }

    async fn send_all(script: Vec<Scripted>, rows: u32, batch: usize, log: &mut Log) -> Result<(), Halt> {
        let portal = Arc::new(ScriptedPortal::new(script));
        let mut d = Dispatcher::new(portal, batch);
        for n in 1..=rows {
            d.push(log, n, add(n)).await?;
        }
        d.finish(log).await
    }

    #[tokio::test]
    async fn each_request_is_bracketed_sent_before_and_landed_after_and_what_did_not_run_goes_again() {
        let mut log = Log::default();
        send_all(vec![Scripted::NotRun(vec![0]), Scripted::TooLargeAbove(1)], 4, 2, &mut log).await.unwrap();
        assert_eq!(
            log.events,
            [
                "sent [1, 2]",
                "1 NotRun",
                "2 Done { id: 1, update: false }",
                "sent [3, 4]",
                "3 Split",
                "4 Split",
                "sent [3]",
                "3 Done { id: 2, update: false }",
                "sent [4]",
                "4 Done { id: 3, update: false }",
                "sent [1]",
                "1 Done { id: 4, update: false }",
            ]
        );
    }

    #[tokio::test]
    async fn reads_waiting_to_ride_get_room_in_a_full_batch_but_never_more_than_half_of_it() {
        let sizes = |riders: usize, batch: usize, rows: u32| async move {
            let portal = Arc::new(ScriptedPortal::new(vec![]).with_riders(riders));
            let mut d = Dispatcher::new(portal.clone(), batch);
            let mut log = Log::default();
            for n in 1..=rows {
                d.push(&mut log, n, add(n)).await.unwrap();
            }
            d.finish(&mut log).await.unwrap();
            portal.requests().iter().map(|r| r.commands).collect::<Vec<_>>()
        };
        // Batches of 50 fill the request: two riders take two rows' places, in one batch only.
        assert_eq!(sizes(2, 50, 100).await, [48, 50, 2]);
        // A smaller batch leaves the request room: nothing moves.
        assert_eq!(sizes(2, 12, 24).await, [12, 12]);
        // However many wait, the rows keep half of the batch.
        assert_eq!(sizes(40, 50, 50).await, [25, 25]);
    }

    #[tokio::test]
    async fn a_row_that_never_runs_is_given_up_after_the_resend_limit() {
        let mut log = Log::default();
        let script = vec![Scripted::NotRun(vec![0]); MAX_NOT_RUN_RESENDS as usize + 1];
        send_all(script, 1, 1, &mut log).await.unwrap();
        let sent = log.events.iter().filter(|e| e.starts_with("sent")).count();
        assert_eq!(sent, MAX_NOT_RUN_RESENDS as usize + 1);
        assert_eq!(log.events.last().map(String::as_str), Some("1 GaveUp"));
    }

    #[tokio::test]
    async fn a_fatal_answer_stops_sending_and_a_journal_stop_abandons_what_is_in_flight() {
        let mut log = Log::default();
        let stop = send_all(vec![Scripted::Fatal], 4, 2, &mut log).await;
        assert!(matches!(stop, Err(Halt::Portal)));
        assert_eq!(log.events, ["sent [1, 2]", "1 Stopped", "2 Stopped"]);

        let mut log = Log { refuse_sent_after: Some(1), ..Default::default() };
        let stop = send_all(vec![], 4, 2, &mut log).await;
        assert!(matches!(stop, Err(Halt::Journal)));
        assert_eq!(log.events[0], "sent [1, 2]");
        assert!(!log.events.iter().any(|e| e.starts_with("sent [3")), "{:?}", log.events);
    }

    #[tokio::test]
    async fn a_refusal_every_row_would_get_stops_the_run_and_leaves_the_row_unrejected() {
        // The plan: the row stays pending (`Stopped`), the others of the batch keep their fates,
        // and nothing more is sent.
        let mut log = Log::default();
        let stop =
            send_all(vec![Scripted::Refuse(1, "CREATE_DYNAMIC_ITEM_RESTRICTED")], 4, 2, &mut log).await;
        assert!(matches!(stop, Err(Halt::Portal)), "{stop:?}");
        assert_eq!(log.events, ["sent [1, 2]", "1 Done { id: 1, update: false }", "2 Stopped"]);

        // A row's own refusal is a rejection, and the run goes on.
        let mut log = Log::default();
        send_all(vec![Scripted::Refuse(1, "ERROR_CORE")], 4, 2, &mut log).await.unwrap();
        assert!(log.events.iter().any(|e| e.starts_with("2 Refused")), "{:?}", log.events);
        assert!(log.events.iter().any(|e| e == "sent [3, 4]"), "{:?}", log.events);
    }

    #[tokio::test]
    async fn ordered_a_row_that_did_not_run_goes_again_before_any_later_row() {
        let mut log = Log::default();
        let portal = Arc::new(ScriptedPortal::new(vec![Scripted::NotRun(vec![1])]));
        let mut d = Dispatcher::new(portal, 2).ordered();
        for n in 1..=6 {
            d.push(&mut log, n, add(n)).await.unwrap();
        }
        d.finish(&mut log).await.unwrap();
        let sent: Vec<&String> = log.events.iter().filter(|e| e.starts_with("sent")).collect();
        assert_eq!(sent, ["sent [1, 2]", "sent [2]", "sent [3, 4]", "sent [5, 6]"], "{:?}", log.events);
    }

    #[tokio::test]
    async fn ordered_an_unknown_outcome_pauses_until_resumed_and_in_flight_is_one() {
        let mut log = Log::default();
        let portal = Arc::new(ScriptedPortal::new(vec![Scripted::Run, Scripted::LostAfterRun]));
        let mut d = Dispatcher::new(portal, 2).ordered();
        for n in 1..=4 {
            d.push(&mut log, n, add(n)).await.unwrap();
        }
        assert!(d.paused(), "{:?}", log.events);
        // Rows pushed while paused wait; finish sends nothing either.
        for n in 5..=8 {
            d.push(&mut log, n, add(n)).await.unwrap();
        }
        d.finish(&mut log).await.unwrap();
        assert!(!log.events.iter().any(|e| e.starts_with("sent [5")), "{:?}", log.events);
        assert!(!d.idle());
        d.resume();
        d.finish(&mut log).await.unwrap();
        assert!(d.idle());
        let sent: Vec<&String> = log.events.iter().filter(|e| e.starts_with("sent")).collect();
        assert_eq!(sent, ["sent [1, 2]", "sent [3, 4]", "sent [5, 6]", "sent [7, 8]"]);
        assert!(log.events.iter().any(|e| e.starts_with("3 Unknown")), "{:?}", log.events);
    }
}
