//! What the HTML report reads and keeps of a run (issue 22): the run's figures over time
//! (`run_samples`, a [`Sample`] a second, ten a second at first), its final figures and settings (`run_figures`, JSON
//! that `crate::report` writes and reads back), and bounded reads of rejected rows: reasons with
//! their counts and only the first rows of each, so a page over 200,000 rejected rows stays small.
//!
//! Owns: these two tables (schema migration 5) and these queries. Must not: hold secrets (the
//! figures are counts and settings; the caller masks nothing because nothing secret is handed
//! in), change rows, or know the report's layout. A journal older than schema 5 (read as it is by
//! a reader) has no samples and no figures: the reads answer empty.

use rusqlite::{OptionalExtension, params};

use super::{Journal, JournalError, RunId, StepId};

/// The first schema with `run_samples` and `run_figures`.
const FIRST_WITH_SAMPLES: i64 = 5;

/// The run's figures at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Milliseconds since the run started.
    pub at_ms: i64,
    /// Rows finished (done or rejected) by this run so far.
    pub items: u64,
    /// HTTP requests sent so far (retries included).
    pub requests: u64,
    /// Requests on the wire at that moment.
    pub in_flight: u64,
    /// Limit refusals so far (`QUERY_LIMIT_EXCEEDED` and `OPERATION_TIME_LIMIT`).
    pub refusals: u64,
    /// Seconds of the operating budget in use in the window at that moment, by the method using
    /// the most.
    pub operating_used: f64,
}

/// One rejected row as the report shows it (the journal keeps no row data beyond this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRow {
    /// The text of the row's `RowKey`.
    pub key: String,
    /// Where the row was last seen (`contacts.csv:42`).
    pub row_ref: String,
    pub code: String,
    pub text: String,
}

/// A step's source as the journal recorded it: path, SHA-256 and size where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepSource {
    pub step: String,
    pub mapping: String,
    pub path: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<u64>,
}

impl Journal {
    /// Stores `samples` as the time series of `run` (replacing any it had).
    pub fn record_samples(&mut self, run: RunId, samples: &[Sample]) -> Result<(), JournalError> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM run_samples WHERE run_id = ?1", params![run.0])?;
        {
            let mut insert = tx.prepare(
                "INSERT OR REPLACE INTO run_samples
                     (run_id, at_ms, items, requests, in_flight, refusals, operating_used)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for s in samples {
                insert.execute(params![
                    run.0,
                    s.at_ms,
                    s.items as i64,
                    s.requests as i64,
                    s.in_flight as i64,
                    s.refusals as i64,
                    s.operating_used
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The time series of `run`, oldest first (empty for a journal older than schema 5).
    pub fn samples(&self, run: RunId) -> Result<Vec<Sample>, JournalError> {
        if self.version < FIRST_WITH_SAMPLES {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare(
            "SELECT at_ms, items, requests, in_flight, refusals, operating_used FROM run_samples
             WHERE run_id = ?1 ORDER BY at_ms",
        )?;
        let rows = stmt.query_map(params![run.0], |r| {
            Ok(Sample {
                at_ms: r.get(0)?,
                items: r.get::<_, i64>(1)? as u64,
                requests: r.get::<_, i64>(2)? as u64,
                in_flight: r.get::<_, i64>(3)? as u64,
                refusals: r.get::<_, i64>(4)? as u64,
                operating_used: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Stores the final figures of `run` (JSON written by the report; no secrets).
    pub fn record_run_figures(&mut self, run: RunId, figures: &str) -> Result<(), JournalError> {
        self.conn.execute(
            "INSERT INTO run_figures (run_id, figures) VALUES (?1, ?2)
             ON CONFLICT(run_id) DO UPDATE SET figures = excluded.figures",
            params![run.0, figures],
        )?;
        Ok(())
    }

    /// The final figures of `run`, if it recorded them.
    pub fn run_figures(&self, run: RunId) -> Result<Option<String>, JournalError> {
        if self.version < FIRST_WITH_SAMPLES {
            return Ok(None);
        }
        Ok(self
            .conn
            .query_row("SELECT figures FROM run_figures WHERE run_id = ?1", params![run.0], |r| r.get(0))
            .optional()?)
    }

    /// How many rows became `done` or `rejected` in each tick of `tick_ms` since `since`
    /// (unix ms): `(tick, rows)`, in order. The items of a run's time series.
    pub fn finished_per_tick(&self, since: i64, tick_ms: i64) -> Result<Vec<(i64, u64)>, JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT (updated_at - ?1) / ?2 AS tick, COUNT(*) FROM rows
             WHERE state IN ('done', 'rejected') AND updated_at >= ?1 GROUP BY tick ORDER BY tick",
        )?;
        let rows =
            stmt.query_map(params![since, tick_ms.max(1)], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Calls `each` with every rejected row of `step`, in key order, one at a time (a step
    /// with 200,000 rejected rows is never held in memory whole).
    pub fn each_rejected(&self, step: StepId, mut each: impl FnMut(RejectedRow)) -> Result<(), JournalError> {
        let mut stmt = self.conn.prepare(
            "SELECT row_key, row_ref, COALESCE(error_code, ''), COALESCE(error_text, '') FROM rows
             WHERE step_id = ?1 AND state = 'rejected' ORDER BY row_key",
        )?;
        let mut rows = stmt.query(params![step.0])?;
        while let Some(r) = rows.next()? {
            let key: String = r.get(0)?;
            let row_ref: String = r.get(1)?;
            // Keys as users see them whatever the file's schema (see `read`).
            let key = self.key_text(key, &row_ref);
            each(RejectedRow { key, row_ref, code: r.get(2)?, text: r.get(3)? });
        }
        Ok(())
    }

    /// Every step's source as recorded: path and SHA-256 (schema 3 on), and the size the
    /// `sources` table has for that path.
    pub fn step_sources(&self) -> Result<Vec<StepSource>, JournalError> {
        let sql = if self.version >= 3 {
            "SELECT s.name, s.mapping_path, s.source_path, COALESCE(s.source_sha256, f.sha256), f.size
             FROM steps s LEFT JOIN sources f ON f.path = s.source_path ORDER BY s.ord, s.id"
        } else {
            "SELECT name, mapping_path, NULL, NULL, NULL FROM steps ORDER BY ord, id"
        };
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map([], |r| {
            Ok(StepSource {
                step: r.get(0)?,
                mapping: r.get(1)?,
                path: r.get(2)?,
                sha256: r.get(3)?,
                size: r.get::<_, Option<i64>>(4)?.map(|n| n as u64),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_and_figures_are_kept_per_run_and_read_back_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut j = Journal::open(&dir.path().join("j.sqlite")).expect("open");
        let run = j.begin_run("import", "x.toml").expect("run");
        let a =
            Sample { at_ms: 2000, items: 40, requests: 2, in_flight: 1, refusals: 0, operating_used: 1.5 };
        let b = Sample { at_ms: 1000, items: 10, ..a };
        j.record_samples(run, &[a, b]).expect("samples");
        assert_eq!(j.samples(run).expect("read"), vec![b, a]);
        assert_eq!(j.run_figures(run).expect("read"), None);
        j.record_run_figures(run, "{\"requests\":2}").expect("figures");
        j.record_run_figures(run, "{\"requests\":3}").expect("replaced");
        assert_eq!(j.run_figures(run).expect("read").as_deref(), Some("{\"requests\":3}"));
        let other = j.begin_run("import", "x.toml").expect("run");
        assert!(j.samples(other).expect("read").is_empty());
    }
}
