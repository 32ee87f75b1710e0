//! The journal's SQLite schema as an ordered list of migrations, applied by `PRAGMA user_version`.
//!
//! Owns: table definitions and the upgrade path from any older journal. Must not hold queries
//! the run uses (those live in the parent module). A migration is appended, never edited.

use rusqlite::Connection;

use super::JournalError;

/// Migration `i` upgrades a journal from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: runs, steps, source fingerprints, rows, key/value state.
    r#"
    CREATE TABLE runs (
        id          INTEGER PRIMARY KEY,
        job         TEXT    NOT NULL,
        args        TEXT    NOT NULL,   -- argument summary, never secrets
        started_at  INTEGER NOT NULL,   -- unix ms
        finished_at INTEGER,
        outcome     TEXT
    );
    CREATE TABLE steps (
        id           INTEGER PRIMARY KEY,
        name         TEXT    NOT NULL UNIQUE,
        mapping_path TEXT    NOT NULL,
        entity       TEXT    NOT NULL,
        ord          INTEGER NOT NULL
    );
    CREATE TABLE sources (
        path        TEXT    PRIMARY KEY,
        size        INTEGER NOT NULL,
        sha256      TEXT    NOT NULL,
        recorded_at INTEGER NOT NULL
    );
    CREATE TABLE rows (
        step_id      INTEGER NOT NULL REFERENCES steps(id),
        row_key      TEXT    NOT NULL,
        row_ref      TEXT    NOT NULL,
        payload_hash TEXT    NOT NULL,
        state        TEXT    NOT NULL
            CHECK (state IN ('pending', 'sent', 'done', 'rejected', 'unknown')),
        portal_id    INTEGER,
        error_code   TEXT,
        error_text   TEXT,
        attempts     INTEGER NOT NULL DEFAULT 0,
        existing     INTEGER NOT NULL DEFAULT 0,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        PRIMARY KEY (step_id, row_key)
    ) WITHOUT ROWID;
    CREATE INDEX rows_by_state ON rows (step_id, state);
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    "#,
    // 2: the fields last confirmed in the portal (JSON), so an upsert sends only what changed.
    r#"
    ALTER TABLE rows ADD COLUMN fields TEXT;
    "#,
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings `conn` to [`VERSION`], each migration in its own transaction.
pub fn migrate(conn: &mut Connection) -> Result<(), JournalError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > VERSION {
        return Err(JournalError::TooNew { found, supported: VERSION });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}
