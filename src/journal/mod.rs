//! The journal: a local SQLite file recording every run, step, source fingerprint and the fate
//! of every row, so that a run that dies resumes where it stopped and never blindly resends.
//!
//! Owns: the connection (one [`Journal`] value; the API is synchronous. The run owns the one
//! read-write `Journal` for its whole length and calls it directly from its async task, between
//! `.await`s: each call is a short local transaction (one per batch), so it blocks the runtime
//! thread only briefly, and the connection is never shared between tasks), the row state machine
//! (`pending -> sent -> done | rejected | unknown`, `done` and `rejected` final; a portal ID
//! once known is kept through every later transition, so an update never becomes a create),
//! the resume
//! queries, the one-writer lock ([`Journal::open`]; readers use [`Journal::open_read_only`],
//! which never creates, migrates or chmods a file) and the identity of a step
//! (`step_identity`: a name keeps its entity, origin and key; its source file may change).
//! Must not store secrets (webhook codes and tokens never reach this file; URLs in run
//! arguments are masked) nor row data: keys, states, portal IDs, errors and
//! salted hashes of the fields, nothing from which a row could be rebuilt.

pub mod field_hashes;
mod file;
mod fingerprint;
pub mod keys;
mod lock;
mod schema;
mod step_identity;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::{Connection, OptionalExtension, params};

pub use field_hashes::{FieldHasher, FieldHashes};
pub use fingerprint::{Fingerprint, FingerprintCheck, SourceChanged};
pub use lock::{LockHolder, lock_path};
pub use schema::{APPLICATION_ID, VERSION as SCHEMA_VERSION};
pub use step_identity::{StepConflict, step_identity};

/// The row query with `$hashes` as its last column, then `$rest` (a constant: the run asks it
/// once per source row).
macro_rules! row_query {
    ($hashes:literal, $rest:literal) => {
        concat!(
            "SELECT row_key, row_ref, payload_hash, state, portal_id, error_code, error_text, attempts, \
             existing, created_at, updated_at, ",
            $hashes,
            " FROM rows ",
            $rest
        )
    };
}
const ROW_SELECT: &str = row_query!("field_hashes", "");
const ROW_SELECT_WITHOUT_HASHES: &str = row_query!("NULL", "");

/// Why the journal cannot be used (exit code 4).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("journal database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error(
        "no journal at {}: run `b24import run` first, or pass --journal FILE (or --job NAME)",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error(
        "{} is not a b24import journal ({why}); it was left untouched. Pass another --journal FILE \
         (or --job NAME)",
        path.display()
    )]
    NotAJournal { path: PathBuf, why: String },
    #[error(
        "journal {} is in use by another b24import run ({}); wait for it to finish or stop it, then \
         run again (two runs on one journal would send the same rows twice). `status` works meanwhile",
        path.display(),
        holder.as_ref().map_or_else(|| "it has only just started".to_string(), |h| h.to_string())
    )]
    Locked { path: PathBuf, holder: Option<LockHolder> },
    #[error(
        "the journal was written by a newer b24import (schema {found}, this build knows {supported}); \
         upgrade b24import to continue this job (another --journal would not know which rows \
         this one imported, and would create them again)"
    )]
    TooNew { found: i64, supported: i64 },
    #[error("row `{key}` of step {step} is not in the journal")]
    UnknownRow { step: i64, key: String },
    #[error("row `{key}` of step {step} is already {state}; it cannot become {to}")]
    Final { step: i64, key: String, state: RowState, to: RowState },
    #[error("journal holds an unknown row state `{0}`")]
    BadState(String),
    #[error("step `{name}` is in the journal with another entity")]
    StepEntity { name: String },
}

/// A row's state in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowState {
    /// Prepared, not sent yet: safe to send.
    Pending,
    /// In a request whose answer was not recorded (a crash): needs reconciliation.
    Sent,
    /// Created or matched in the portal; the portal ID is known. Final.
    Done,
    /// Refused by the portal or by the mapping, with a code and text. Final.
    Rejected,
    /// The request's fate is unknown (timeout, dropped connection, 5xx): needs reconciliation.
    Unknown,
}

impl RowState {
    pub const ALL: [RowState; 5] =
        [RowState::Pending, RowState::Sent, RowState::Done, RowState::Rejected, RowState::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Pending => "pending",
            RowState::Sent => "sent",
            RowState::Done => "done",
            RowState::Rejected => "rejected",
            RowState::Unknown => "unknown",
        }
    }

    /// `done` and `rejected` never change again and are never sent again.
    pub fn is_final(self) -> bool {
        matches!(self, RowState::Done | RowState::Rejected)
    }

    /// `sent` and `unknown` may have reached the portal: look them up before resending.
    pub fn needs_reconciliation(self) -> bool {
        matches!(self, RowState::Sent | RowState::Unknown)
    }
}

impl fmt::Display for RowState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RowState {
    type Err = JournalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RowState::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| JournalError::BadState(s.into()))
    }
}

/// Identifies a run in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunId(pub i64);

/// Identifies a step (one mapping file) in the journal; stable across runs of the same job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StepId(pub i64);

/// A step as the run declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepSpec<'a> {
    /// Unique within the job (the mapping's name).
    pub name: &'a str,
    pub mapping_path: &'a Path,
    /// Entity shown to the user (`contact`, `deal`, `user`, `spa:1032`).
    pub entity: &'a str,
    /// Position in the job, 0-based.
    pub order: i64,
    /// The source file, absolute (canonical) where it can be.
    pub source: &'a Path,
    /// The source's SHA-256 now (hex), when known.
    pub source_sha256: Option<&'a str>,
}

/// A row entering the journal as `pending`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRow<'a> {
    pub key: &'a str,
    /// Where the user finds the row (`contacts.csv:42`).
    pub row_ref: &'a str,
    /// Hash of the command payload (detects a row that changed between runs).
    pub payload_hash: &'a str,
}

/// What happened to a sent row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The row exists in the portal as `id`; `existing` when it was found rather than created.
    Done { id: u64, existing: bool },
    /// The portal (or the mapping) refused it.
    Rejected { code: String, text: String },
    /// The request may or may not have run.
    Unknown { reason: String },
    /// Known not to have run (halted batch, limit): back to `pending`.
    Retry,
}

impl Outcome {
    fn state(&self) -> RowState {
        match self {
            Outcome::Done { .. } => RowState::Done,
            Outcome::Rejected { .. } => RowState::Rejected,
            Outcome::Unknown { .. } => RowState::Unknown,
            Outcome::Retry => RowState::Pending,
        }
    }
}

/// How a row found in the portal is recorded ([`Journal::record_found`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FoundAs {
    /// The item holds what the row says: `done`.
    Done,
    /// An update of the item is about to be sent: `pending` with the item's ID.
    ToUpdate,
}

/// A row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowStatus {
    pub key: String,
    pub row_ref: String,
    pub payload_hash: String,
    pub state: RowState,
    pub portal_id: Option<u64>,
    pub error_code: Option<String>,
    pub error_text: Option<String>,
    pub attempts: u32,
    pub existing: bool,
    /// Unix ms.
    pub created_at: i64,
    pub updated_at: i64,
    /// Hashes of the fields last confirmed in the portal, for upserts (none for a row found in
    /// the portal without a record, or read from a journal older than schema 3).
    pub field_hashes: Option<FieldHashes>,
}

/// Row counts of one step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub pending: u64,
    pub sent: u64,
    pub done: u64,
    pub rejected: u64,
    pub unknown: u64,
    /// `done` rows the run created.
    pub created: u64,
    /// `done` rows that already existed in the portal (matched or updated).
    pub updated: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.pending + self.sent + self.done + self.rejected + self.unknown
    }
}

/// A step as stored, for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepRecord {
    pub id: StepId,
    pub name: String,
    pub mapping_path: String,
    pub entity: String,
    pub order: i64,
}

/// A run as stored, for `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    pub id: RunId,
    pub job: String,
    pub args: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: Option<String>,
}

/// The open journal file. One value owns the connection; a read-write one also holds the lock.
pub struct Journal {
    /// Declared before `lock`: the connection closes before the lock is released.
    conn: Connection,
    path: PathBuf,
    /// The schema version of the file (older than [`SCHEMA_VERSION`] only when read-only).
    version: i64,
    hasher: FieldHasher,
    /// Held by a read-write journal only: `None` means opened read-only.
    lock: Option<lock::JournalLock>,
}

impl Drop for Journal {
    fn drop(&mut self) {
        if self.lock.is_some() {
            // Back to rollback mode at a clean end: the file then stands alone (no -wal/-shm),
            // so a reader creates nothing. Skipped at once (no waiting) while a reader is open.
            let _ = self.conn.busy_timeout(std::time::Duration::ZERO);
            let _ = self.conn.query_row("PRAGMA journal_mode=DELETE", [], |r| r.get::<_, String>(0));
        }
    }
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).finish_non_exhaustive()
    }
}

/// `<first mapping's dir>/.b24import/<job>.sqlite`; the job name is reduced to `[A-Za-z0-9._-]`.
pub fn default_path(first_mapping: &Path, job: &str) -> PathBuf {
    let dir = first_mapping.parent().unwrap_or_else(|| Path::new("."));
    let name: String =
        job.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    let name = if name.is_empty() { "job".to_string() } else { name };
    dir.join(".b24import").join(format!("{name}.sqlite"))
}

/// The payload hash stored per row: SHA-256 (hex) of the method and its parameters as
/// serialized JSON (object keys sorted), so an edited row is recognized on resume.
pub fn payload_hash(cmd: &crate::payload::Command) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(cmd.method.as_str().as_bytes());
    h.update(b"\n");
    h.update(cmd.params.to_string().as_bytes());
    hex::encode(h.finalize())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Journal {
    /// Opens the journal at `path` for a run, or creates it (parent directories too, mode 0700;
    /// the file 0600): takes the exclusive lock `<path>.lock` for the life of the value (another
    /// run holding it: [`JournalError::Locked`], at once), refuses a file that is not a journal
    /// without touching it, migrates to the current schema, and writes in WAL mode with
    /// `synchronous=NORMAL`. The lock and the database are the journal's real file (symlinks and
    /// `..` resolved), so two names of one journal are one journal, never two writers.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let io = |source| JournalError::Io { path: path.to_path_buf(), source };
        if path.exists() {
            file::inspect(path)?; // a foreign file is refused before a lock file appears beside it
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(io)?;
        }
        let lock = lock::JournalLock::acquire(path).map_err(|e| match e {
            lock::LockError::Held(holder) => JournalError::Locked { path: path.to_path_buf(), holder },
            lock::LockError::Io(source) => JournalError::Io { path: lock::lock_path(path), source },
        })?;
        if let Some(left) = &lock.taken_over {
            tracing::warn!(
                journal = %path.display(),
                "the run before ({left}) ended without finishing; taking over its journal (rows it left in \
                 flight are looked up in the portal before anything is sent again)"
            );
        }
        if !path.exists() {
            create_journal(path)?;
        }
        let header = file::inspect(path)?;
        narrow_to_owner(path).map_err(io)?;
        let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        // The real file, so that its `-wal` is the one every name of the journal shares.
        let mut conn = Connection::open_with_flags(lock::real_path(path), flags)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        file::check_tables(&conn, path, &header)?;
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        let hasher = load_hasher(&conn)?;
        Ok(Journal { conn, path: path.to_path_buf(), version: schema::VERSION, hasher, lock: Some(lock) })
    }

    /// Opens an existing journal for reading only (`status`, `rejects`, `ids`, a dry run): no
    /// lock (works while a run holds it), no migration (an older schema is read as it is), no
    /// file created or changed. A missing file, a file that is not a journal, or a journal of a
    /// newer build is an error.
    pub fn open_read_only(path: &Path) -> Result<Journal, JournalError> {
        let header = file::inspect(path)?;
        let conn = file::connect_read_only(path, &header)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        file::check_tables(&conn, path, &header)?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > schema::VERSION {
            return Err(JournalError::TooNew { found: version, supported: schema::VERSION });
        }
        let hasher = load_hasher(&conn)?;
        Ok(Journal { conn, path: path.to_path_buf(), version, hasher, lock: None })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Hashes field values the way this journal stores them (its salt).
    pub fn field_hasher(&self) -> &FieldHasher {
        &self.hasher
    }

    /// The run that held the lock before and did not release it (killed), if any.
    pub fn taken_over_from(&self) -> Option<&LockHolder> {
        self.lock.as_ref().and_then(|l| l.taken_over.as_ref())
    }

    /// The schema version stored in the file (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, JournalError> {
        Ok(self.version)
    }

    // ----- runs and steps -----

    /// Records the start of a run. `args` is a summary of the command line WITHOUT secrets.
    pub fn begin_run(&mut self, job: &str, args: &str) -> Result<RunId, JournalError> {
        self.conn.execute(
            "INSERT INTO runs (job, args, started_at) VALUES (?1, ?2, ?3)",
            params![job, scrub_args(args), now_ms()],
        )?;
        Ok(RunId(self.conn.last_insert_rowid()))
    }

    /// Records the end of a run with a short outcome (`completed`, `rejected rows`, `gave up: ...`).
    pub fn finish_run(&mut self, run: RunId, outcome: &str) -> Result<(), JournalError> {
        self.conn.execute(
            "UPDATE runs SET finished_at = ?2, outcome = ?3 WHERE id = ?1",
            params![run.0, now_ms(), outcome],
        )?;
        Ok(())
    }

    /// Every run, oldest first.
    pub fn runs(&self) -> Result<Vec<RunRecord>, JournalError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, job, args, started_at, finished_at, outcome FROM runs ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok(RunRecord {
                id: RunId(r.get(0)?),
                job: r.get(1)?,
                // Masked again on the way out: an old journal read without migrating may hold URLs.
                args: scrub_args(&r.get::<_, String>(2)?),
                started_at: r.get(3)?,
                finished_at: r.get(4)?,
                outcome: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Declares a step; the same name keeps its id (and rows) across runs, and its entity: call
    /// [`Journal::check_step`] first (a differing entity is an error here too, never an update).
    pub fn upsert_step(&mut self, step: &StepSpec<'_>) -> Result<StepId, JournalError> {
        let id: Option<i64> = self
            .conn
            .query_row(
                "INSERT INTO steps (name, mapping_path, entity, ord, source_path, source_sha256)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(name) DO UPDATE SET mapping_path = excluded.mapping_path,
                     ord = excluded.ord, source_path = excluded.source_path,
                     source_sha256 = COALESCE(excluded.source_sha256, steps.source_sha256)
                 WHERE steps.entity = excluded.entity
                 RETURNING id",
                params![
                    step.name,
                    step.mapping_path.to_string_lossy(),
                    step.entity,
                    step.order,
                    step.source.to_string_lossy(),
                    step.source_sha256
                ],
                |r| r.get(0),
            )
            .optional()?;
        id.map(StepId).ok_or_else(|| JournalError::StepEntity { name: step.name.to_string() })
    }

    /// Every step, in job order.
    pub fn steps(&self) -> Result<Vec<StepRecord>, JournalError> {
        let mut stmt =
            self.conn.prepare("SELECT id, name, mapping_path, entity, ord FROM steps ORDER BY ord, id")?;
        let rows = stmt.query_map([], |r| {
            Ok(StepRecord {
                id: StepId(r.get(0)?),
                name: r.get(1)?,
                mapping_path: r.get(2)?,
                entity: r.get(3)?,
                order: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ----- source fingerprints -----

    /// Stores (or replaces) the fingerprint of the source at `path`.
    pub fn record_fingerprint(&mut self, path: &Path, fp: &Fingerprint) -> Result<(), JournalError> {
        self.conn.execute(
            "INSERT INTO sources (path, size, sha256, recorded_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(path) DO UPDATE SET size = excluded.size, sha256 = excluded.sha256,
                 recorded_at = excluded.recorded_at",
            params![path.to_string_lossy(), fp.size as i64, fp.sha256, now_ms()],
        )?;
        Ok(())
    }

    /// Compares `current` with what the journal recorded for `path`.
    pub fn check_fingerprint(
        &self,
        path: &Path,
        current: &Fingerprint,
    ) -> Result<FingerprintCheck, JournalError> {
        let recorded = self
            .conn
            .query_row(
                "SELECT size, sha256, recorded_at FROM sources WHERE path = ?1",
                params![path.to_string_lossy()],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)),
            )
            .optional()?;
        Ok(match recorded {
            None => FingerprintCheck::New,
            Some((size, sha256, _)) if size as u64 == current.size && sha256 == current.sha256 => {
                FingerprintCheck::Unchanged
            }
            Some((size, sha256, recorded_at)) => FingerprintCheck::Changed(SourceChanged {
                path: path.to_path_buf(),
                recorded: Fingerprint { size: size as u64, sha256 },
                current: current.clone(),
                recorded_at,
            }),
        })
    }

    // ----- rows -----

    /// The stored state of one row, if the journal has it.
    pub fn row_state(&self, step: StepId, key: &str) -> Result<Option<RowStatus>, JournalError> {
        let sql = if self.version >= 3 {
            row_query!("field_hashes", "WHERE step_id = ?1 AND row_key = ?2")
        } else {
            row_query!("NULL", "WHERE step_id = ?1 AND row_key = ?2")
        };
        let mut stmt = self.conn.prepare_cached(sql)?;
        let row = stmt.query_row(params![step.0, key], read_row).optional()?;
        row.transpose()
    }

    /// Adds rows as `pending` in one transaction. A row already in the journal keeps its state;
    /// a non-final one gets the new reference and payload hash.
    pub fn mark_pending(&mut self, step: StepId, rows: &[NewRow<'_>]) -> Result<(), JournalError> {
        let now = now_ms();
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO rows (step_id, row_key, row_ref, payload_hash, state, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)
                 ON CONFLICT(step_id, row_key) DO UPDATE SET row_ref = excluded.row_ref,
                     payload_hash = excluded.payload_hash, updated_at = excluded.updated_at
                 WHERE rows.state NOT IN ('done', 'rejected')",
            )?;
            for row in rows {
                stmt.execute(params![step.0, row.key, row.row_ref, row.payload_hash, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Marks rows `sent` (attempts + 1) in one transaction, before their request goes out.
    /// Fails, changing nothing, if a row is unknown to the journal or already final.
    pub fn mark_sent(&mut self, step: StepId, keys: &[&str]) -> Result<(), JournalError> {
        let now = now_ms();
        let tx = self.conn.transaction()?;
        {
            let mut update = tx.prepare_cached(
                "UPDATE rows SET state = 'sent', attempts = attempts + 1, updated_at = ?3
                 WHERE step_id = ?1 AND row_key = ?2 AND state NOT IN ('done', 'rejected')",
            )?;
            for key in keys {
                if update.execute(params![step.0, key, now])? == 0 {
                    return Err(transition_error(&tx, step, key, RowState::Sent)?);
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records the outcome of every row of one request in one transaction.
    /// Fails, changing nothing, if a row is unknown to the journal or already final.
    ///
    /// A portal ID once known is never forgotten: an outcome without one (an update that did
    /// not run, was interrupted or refused) keeps the ID the row had, so the row stays an
    /// update of that item and is never created again. Only `Done` sets an ID (and `existing`).
    pub fn record_outcomes(
        &mut self,
        step: StepId,
        outcomes: &[(&str, Outcome)],
    ) -> Result<(), JournalError> {
        let now = now_ms();
        let tx = self.conn.transaction()?;
        {
            let mut update = tx.prepare_cached(
                "UPDATE rows SET state = ?3, portal_id = COALESCE(?4, portal_id), error_code = ?5,
                     error_text = ?6, existing = CASE WHEN ?4 IS NULL THEN existing ELSE ?7 END,
                     updated_at = ?8
                 WHERE step_id = ?1 AND row_key = ?2 AND state NOT IN ('done', 'rejected')",
            )?;
            for (key, outcome) in outcomes {
                let (id, code, text, existing) = match outcome {
                    Outcome::Done { id, existing } => (Some(*id as i64), None, None, *existing),
                    Outcome::Rejected { code, text } => {
                        (None, Some(code.as_str()), Some(text.as_str()), false)
                    }
                    Outcome::Unknown { reason } => (None, None, Some(reason.as_str()), false),
                    Outcome::Retry => (None, None, None, false),
                };
                let state = outcome.state().as_str();
                if update.execute(params![step.0, key, state, id, code, text, existing, now])? == 0 {
                    return Err(transition_error(&tx, step, key, outcome.state())?);
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Row counts of `step` by state, and created/updated among the done ones.
    pub fn counts(&self, step: StepId) -> Result<Counts, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT state, existing, COUNT(*) FROM rows WHERE step_id = ?1 GROUP BY state, existing",
        )?;
        let mut counts = Counts::default();
        let mut rows = stmt.query(params![step.0])?;
        while let Some(r) = rows.next()? {
            let state: String = r.get(0)?;
            let existing: bool = r.get(1)?;
            let n: i64 = r.get(2)?;
            let n = n as u64;
            match state.parse::<RowState>()? {
                RowState::Pending => counts.pending += n,
                RowState::Sent => counts.sent += n,
                RowState::Rejected => counts.rejected += n,
                RowState::Unknown => counts.unknown += n,
                RowState::Done => {
                    counts.done += n;
                    if existing {
                        counts.updated += n;
                    } else {
                        counts.created += n;
                    }
                }
            }
        }
        Ok(counts)
    }

    /// Rows of `step` in `state`, in key order.
    pub fn rows_in_state(&self, step: StepId, state: RowState) -> Result<Vec<RowStatus>, JournalError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "{} WHERE step_id = ?1 AND state = ?2 ORDER BY row_key",
            self.row_select()
        ))?;
        let rows = stmt.query_map(params![step.0, state.as_str()], read_row)?;
        rows.map(|r| r?).collect()
    }

    /// Rows `sent` or `unknown`: they may have reached the portal and must be looked up first.
    pub fn rows_to_reconcile(&self, step: StepId) -> Result<Vec<RowStatus>, JournalError> {
        let mut out = self.rows_in_state(step, RowState::Sent)?;
        out.extend(self.rows_in_state(step, RowState::Unknown)?);
        Ok(out)
    }

    /// The rejected rows of `step` (for `rejects`).
    pub fn rejected_rows(&self, step: StepId) -> Result<Vec<RowStatus>, JournalError> {
        self.rows_in_state(step, RowState::Rejected)
    }

    /// Opens finished rows again (`done`/`rejected` -> `pending`) because their source row
    /// changed: a done row is to be updated (its portal ID is kept), a rejected row is tried
    /// again. One transaction.
    pub fn reopen(&mut self, step: StepId, rows: &[NewRow<'_>]) -> Result<(), JournalError> {
        let now = now_ms();
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE rows SET state = 'pending', row_ref = ?3, payload_hash = ?4, error_code = NULL,
                     error_text = NULL, updated_at = ?5
                 WHERE step_id = ?1 AND row_key = ?2",
            )?;
            for row in rows {
                if stmt.execute(params![step.0, row.key, row.row_ref, row.payload_hash, now])? == 0 {
                    return Err(JournalError::UnknownRow { step: step.0, key: row.key.to_string() });
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Records a row found in the portal as the existing item `id`, in one transaction, whether
    /// or not the journal held it, with `fields`: the hashes to compare the row with next time.
    /// [`FoundAs::Done`]: nothing to send, `fields` is what the item holds. [`FoundAs::ToUpdate`]:
    /// `pending` with the ID (an update of `id` is about to be sent), `fields` the baseline
    /// from which the same update is computed again, so a crash at any point leaves that update
    /// to resend, never a create. A final row is reopened (its new reference and payload hash).
    pub fn record_found(
        &mut self,
        step: StepId,
        row: &NewRow<'_>,
        id: u64,
        fields: &FieldHashes,
        found: FoundAs,
    ) -> Result<(), JournalError> {
        let now = now_ms();
        let state = match found {
            FoundAs::Done => RowState::Done,
            FoundAs::ToUpdate => RowState::Pending,
        };
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO rows (step_id, row_key, row_ref, payload_hash, state, portal_id, existing,
                     field_hashes, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, ?8)
                 ON CONFLICT(step_id, row_key) DO UPDATE SET row_ref = excluded.row_ref,
                     payload_hash = excluded.payload_hash, state = excluded.state,
                     portal_id = excluded.portal_id, existing = 1, field_hashes = excluded.field_hashes,
                     error_code = NULL, error_text = NULL, updated_at = excluded.updated_at",
            )?;
            stmt.execute(params![
                step.0,
                row.key,
                row.row_ref,
                row.payload_hash,
                state.as_str(),
                id as i64,
                fields.to_json(),
                now
            ])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Stores the hashes of the fields now in the portal for done rows. One transaction.
    pub fn set_field_hashes(
        &mut self,
        step: StepId,
        rows: &[(&str, &FieldHashes)],
    ) -> Result<(), JournalError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt =
                tx.prepare_cached("UPDATE rows SET field_hashes = ?3 WHERE step_id = ?1 AND row_key = ?2")?;
            for (key, hashes) in rows {
                stmt.execute(params![step.0, key, hashes.to_json()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Source key -> portal ID for every done row of `step` (for `ids`), in key order.
    pub fn ids(&self, step: StepId) -> Result<Vec<(String, u64)>, JournalError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT row_key, portal_id FROM rows
             WHERE step_id = ?1 AND state = 'done' AND portal_id IS NOT NULL ORDER BY row_key",
        )?;
        let rows = stmt.query_map(params![step.0], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The most recent error recorded for `step` (for `status`).
    pub fn last_error(&self, step: StepId) -> Result<Option<(String, String)>, JournalError> {
        Ok(self
            .conn
            .query_row(
                "SELECT COALESCE(error_code, ''), error_text FROM rows
                 WHERE step_id = ?1 AND error_text IS NOT NULL ORDER BY updated_at DESC LIMIT 1",
                params![step.0],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// How many rows of `step` became `done` or `rejected` at or after `since` (unix ms): the
    /// pace of a run, for `status`'s ETA.
    pub fn finished_since(&self, step: StepId, since: i64) -> Result<u64, JournalError> {
        let n: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM rows
             WHERE step_id = ?1 AND state IN ('done', 'rejected') AND updated_at >= ?2",
            params![step.0, since],
            |r| r.get(0),
        )?;
        Ok(n as u64)
    }

    // ----- key/value state -----

    /// Stores a small value (e.g. the rotated OAuth refresh token, only if the user opted in).
    pub fn set_meta(&mut self, key: &str, value: &str) -> Result<(), JournalError> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    pub fn get_meta(&self, key: &str) -> Result<Option<String>, JournalError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![key], |r| r.get(0))
            .optional()?)
    }

    pub fn delete_meta(&mut self, key: &str) -> Result<(), JournalError> {
        self.conn.execute("DELETE FROM meta WHERE key = ?1", params![key])?;
        Ok(())
    }
}

impl Journal {
    /// The row query; a journal older than schema 3 (read-only) has no hashes to give.
    fn row_select(&self) -> &'static str {
        if self.version >= 3 { ROW_SELECT } else { ROW_SELECT_WITHOUT_HASHES }
    }
}

/// The run's argument summary with every URL's credentials masked (webhook code,
/// `user:password@`, query values): the one masking of `transport::client::redact_text`.
pub fn scrub_args(args: &str) -> String {
    crate::transport::client::redact_text(args)
}

/// The hasher of this journal's salt (none in a journal older than schema 3).
fn load_hasher(conn: &Connection) -> Result<FieldHasher, JournalError> {
    let has_meta: bool =
        conn.query_row("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'meta')", [], |r| r.get(0))?;
    let salt: Option<String> = if has_meta {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", params![schema::SALT_KEY], |r| r.get(0))
            .optional()?
    } else {
        None
    };
    Ok(FieldHasher::new(salt.and_then(|s| hex::decode(s).ok()).unwrap_or_default()))
}

/// Creates a new journal whole: built under a temporary name, then renamed into place, so a
/// crash never leaves an empty or half-made file at `path` (which would then be refused).
fn create_journal(path: &Path) -> Result<(), JournalError> {
    let io = |source| JournalError::Io { path: path.to_path_buf(), source };
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".new-{}", std::process::id()));
    let tmp = path.with_file_name(name);
    let _ = std::fs::remove_file(&tmp);
    create_private_file(&tmp).map_err(io)?;
    {
        let mut conn = Connection::open(&tmp)?;
        schema::migrate(&mut conn)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<RowStatus, JournalError>> {
    let state: String = r.get(3)?;
    let state = match state.parse() {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    Ok(Ok(RowStatus {
        key: r.get(0)?,
        row_ref: r.get(1)?,
        payload_hash: r.get(2)?,
        state,
        portal_id: r.get::<_, Option<i64>>(4)?.map(|id| id as u64),
        error_code: r.get(5)?,
        error_text: r.get(6)?,
        attempts: r.get(7)?,
        existing: r.get(8)?,
        created_at: r.get(9)?,
        updated_at: r.get(10)?,
        field_hashes: r.get::<_, Option<String>>(11)?.and_then(|t| FieldHashes::from_json(&t)),
    }))
}

/// Why an update touched no row: the row is missing or final.
fn transition_error(
    conn: &Connection,
    step: StepId,
    key: &str,
    to: RowState,
) -> Result<JournalError, JournalError> {
    let state: Option<String> = conn
        .query_row("SELECT state FROM rows WHERE step_id = ?1 AND row_key = ?2", params![step.0, key], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(match state {
        None => JournalError::UnknownRow { step: step.0, key: key.to_string() },
        Some(s) => JournalError::Final { step: step.0, key: key.to_string(), state: s.parse()?, to },
    })
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Creates the file with mode 0600 if missing.
#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map(drop)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new().create(true).append(true).open(path).map(drop)
}

/// Narrows an existing journal to mode 0600 (only `run` does this, never a reader).
#[cfg(unix)]
fn narrow_to_owner(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn narrow_to_owner(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests;
