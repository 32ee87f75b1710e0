//! The journal: a local SQLite file recording every run, step, source fingerprint and the fate
//! of every row, so that a run that dies resumes where it stopped and never blindly resends.
//!
//! Owns: the connection (one [`Journal`] value; the API is synchronous. The run owns the one
//! read-write `Journal` for its whole length and calls it directly from its async task, between
//! `.await`s: each call is a short local transaction (one per batch), so it blocks the runtime
//! thread only briefly, and the connection is never shared between tasks), the one-writer lock
//! ([`Journal::open`]; readers use [`Journal::open_read_only`], which never creates, migrates or
//! chmods a file), and, one file each:
//! - `keys`: a row's key ([`RowKey`]: its source key, or its line when it has none or repeats
//!   an earlier row's), whose text cannot collide across kinds;
//! - `rows`: the row state machine, changed only by typed [`Transition`]s applied in one
//!   transaction per batch ([`Journal::apply`]), which refuses a transition the row's state
//!   does not allow (`pending -> sent -> done | rejected | unknown`; a portal ID once known is
//!   kept through every later transition, so an update never becomes a create);
//! - `read`: the resume and report queries;
//! - `runs`: runs, steps, source fingerprints and key/value state;
//! - `samples`: a run's figures over time and its final figures, and the report's bounded
//!   reads of rejected rows (issue 22);
//! - `schema` (migrations), `file` (recognizing a journal), `lock`, `field_hashes`,
//!   `fingerprint`, and `step_identity` (a name keeps its entity, origin and key; its source
//!   file may change).
//!
//! Must not store secrets (webhook codes and tokens never reach this file; URLs in run
//! arguments are masked) nor row data: keys, states, portal IDs, errors and
//! salted hashes of the fields, nothing from which a row could be rebuilt.

pub mod field_hashes;
mod file;
mod fingerprint;
pub mod keys;
mod lock;
mod read;
mod rows;
mod runs;
mod samples;
mod schema;
mod step_identity;
// Issue 21: what undo reads and writes of a row.
pub mod undo;

use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

pub use field_hashes::{FieldHasher, FieldHashes};
pub use fingerprint::{Fingerprint, FingerprintCheck, SourceChanged};
pub use keys::RowKey;
pub use lock::{LockHolder, lock_path};
pub use read::{Counts, RowStatus};
pub use rows::{NewRow, Outcome, RowState, Transition};
pub use runs::{RunId, RunRecord, StepId, StepRecord, StepSpec};
pub use samples::{RejectedRow, Sample, StepSource};
pub use schema::{APPLICATION_ID, VERSION as SCHEMA_VERSION};
pub use step_identity::{StepConflict, step_identity};

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
    /// `key` as users see it.
    #[error("row `{key}` of step {step} is not in the journal")]
    UnknownRow { step: i64, key: String },
    /// `key` as users see it; `transition` names the [`Transition`] refused.
    #[error("row `{key}` of step {step} is {state}: the transition {transition} is not allowed from there")]
    NotAllowed { step: i64, key: String, state: RowState, transition: &'static str },
    #[error("journal holds an unknown row state `{0}`")]
    BadState(String),
    #[error("step `{name}` is in the journal with another entity")]
    StepEntity { name: String },
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
    /// The run begun on this connection ([`Journal::begin_run`]): a row it creates records it
    /// (issue 21: `undo --run ID`); 0 before any.
    current_run: Option<RunId>,
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
        Ok(Journal {
            conn,
            path: path.to_path_buf(),
            version: schema::VERSION,
            hasher,
            lock: Some(lock),
            current_run: None,
        })
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
        Ok(Journal { conn, path: path.to_path_buf(), version, hasher, lock: None, current_run: None })
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
