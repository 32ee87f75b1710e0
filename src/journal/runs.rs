//! The journal's record of runs, steps, source fingerprints and small key/value state.
//!
//! Owns: the `runs`, `steps`, `sources` and `meta` tables (what `status` shows of each run, a
//! step's id across runs, whether a source changed). Must not: touch rows (`rows`, `read`).

use std::path::Path;

use rusqlite::{OptionalExtension, params};

use super::{Fingerprint, FingerprintCheck, Journal, JournalError, SourceChanged, now_ms, scrub_args};

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

impl Journal {
    /// Records the start of a run. `args` is a summary of the command line WITHOUT secrets.
    pub fn begin_run(&mut self, job: &str, args: &str) -> Result<RunId, JournalError> {
        self.conn.execute(
            "INSERT INTO runs (job, args, started_at) VALUES (?1, ?2, ?3)",
            params![job, scrub_args(args), now_ms()],
        )?;
        let id = RunId(self.conn.last_insert_rowid());
        self.current_run = Some(id);
        Ok(id)
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
