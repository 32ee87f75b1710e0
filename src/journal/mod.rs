//! The journal: a local SQLite file recording every run, step, source fingerprint and the fate
//! of every row, so that a run that dies resumes where it stopped and never blindly resends.
//!
//! Owns: the connection (one [`Journal`] value; the API is synchronous, the async run calls it
//! from a dedicated thread or `spawn_blocking`, never across an `.await`), the row state machine
//! (`pending -> sent -> done | rejected | unknown`, `done` and `rejected` final) and the resume
//! queries. Must not store secrets: webhook codes and tokens never reach this file, except the
//! rotated OAuth refresh token when the user opts in (through [`Journal::set_meta`]).

mod fingerprint;
mod schema;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::{Connection, OptionalExtension, params};

pub use fingerprint::{Fingerprint, FingerprintCheck, SourceChanged};
pub use schema::VERSION as SCHEMA_VERSION;

/// Why the journal cannot be used (exit code 4).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("journal database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
    /// The fields last confirmed in the portal (JSON object), for upserts.
    pub fields: Option<String>,
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

/// The open journal file. One value owns the connection.
pub struct Journal {
    conn: Connection,
    path: PathBuf,
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
    h.update(cmd.method.as_bytes());
    h.update(b"\n");
    h.update(cmd.params.to_string().as_bytes());
    hex::encode(h.finalize())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Journal {
    /// Opens or creates the journal at `path` (parent directories too, mode 0700; the file 0600),
    /// in WAL mode with `synchronous=NORMAL`, migrated to the current schema.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let io = |source| JournalError::Io { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir).map_err(io)?;
        }
        create_private_file(path).map_err(io)?;
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        schema::migrate(&mut conn)?;
        Ok(Journal { conn, path: path.to_path_buf() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version stored in the file (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, JournalError> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    // ----- runs and steps -----

    /// Records the start of a run. `args` is a summary of the command line WITHOUT secrets.
    pub fn begin_run(&mut self, job: &str, args: &str) -> Result<RunId, JournalError> {
        self.conn.execute(
            "INSERT INTO runs (job, args, started_at) VALUES (?1, ?2, ?3)",
            params![job, args, now_ms()],
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
                args: r.get(2)?,
                started_at: r.get(3)?,
                finished_at: r.get(4)?,
                outcome: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Declares a step; the same name keeps its id (and rows) across runs.
    pub fn upsert_step(&mut self, step: &StepSpec<'_>) -> Result<StepId, JournalError> {
        let id = self.conn.query_row(
            "INSERT INTO steps (name, mapping_path, entity, ord) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name) DO UPDATE SET mapping_path = excluded.mapping_path,
                 entity = excluded.entity, ord = excluded.ord
             RETURNING id",
            params![step.name, step.mapping_path.to_string_lossy(), step.entity, step.order],
            |r| r.get(0),
        )?;
        Ok(StepId(id))
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
        let mut stmt =
            self.conn.prepare_cached(&format!("{ROW_SELECT} WHERE step_id = ?1 AND row_key = ?2"))?;
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
    pub fn record_outcomes(
        &mut self,
        step: StepId,
        outcomes: &[(&str, Outcome)],
    ) -> Result<(), JournalError> {
        let now = now_ms();
        let tx = self.conn.transaction()?;
        {
            let mut update = tx.prepare_cached(
                "UPDATE rows SET state = ?3, portal_id = ?4, error_code = ?5, error_text = ?6,
                     existing = ?7, updated_at = ?8
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
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{ROW_SELECT} WHERE step_id = ?1 AND state = ?2 ORDER BY row_key"))?;
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

    /// Stores the fields now in the portal for done rows (JSON objects). One transaction.
    pub fn set_fields(&mut self, step: StepId, rows: &[(&str, &str)]) -> Result<(), JournalError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt =
                tx.prepare_cached("UPDATE rows SET fields = ?3 WHERE step_id = ?1 AND row_key = ?2")?;
            for (key, fields) in rows {
                stmt.execute(params![step.0, key, fields])?;
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

const ROW_SELECT: &str = "SELECT row_key, row_ref, payload_hash, state, portal_id, error_code, error_text,
    attempts, existing, created_at, updated_at, fields FROM rows";

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
        fields: r.get(11)?,
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

/// Creates the file with mode 0600 if missing, and narrows an existing file to 0600.
#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new().create(true).append(true).open(path).map(drop)
}

#[cfg(test)]
mod tests;
