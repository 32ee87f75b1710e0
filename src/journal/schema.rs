//! The journal's SQLite schema as an ordered list of migrations, applied by `PRAGMA user_version`.
//!
//! Owns: table definitions, the upgrade path from any older journal, and the marks that make a
//! file recognizably ours (`PRAGMA application_id`). Must not hold queries the run uses (those
//! live in the parent module). A migration is appended, never edited.

use rusqlite::{Connection, Transaction, params};

use super::JournalError;
use super::field_hashes::{FieldHasher, FieldHashes};
use super::keys::RowKey;

/// `PRAGMA application_id` of every b24import journal: 0x62323469, "b24i" in ASCII.
pub const APPLICATION_ID: i32 = 0x6232_3469;

/// The tables every journal version has (to adopt a journal written before `application_id`).
pub const TABLES: &[&str] = &["meta", "rows", "runs", "sources", "steps"];

/// `meta` key of the per-journal random salt of the field hashes (hex).
pub const SALT_KEY: &str = "field_hash_salt";

/// One schema upgrade: plain SQL, or SQL plus a conversion only Rust can do.
enum Migration {
    Sql(&'static str),
    Rust(&'static str, fn(&Transaction<'_>) -> Result<(), JournalError>),
}

/// Migration `i` upgrades a journal from version `i` to `i + 1`.
const MIGRATIONS: &[Migration] = &[
    // 1: runs, steps, source fingerprints, rows, key/value state.
    Migration::Sql(
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
    ),
    // 2: the fields last confirmed in the portal (JSON), so an upsert sends only what changed.
    Migration::Sql(
        r#"
    ALTER TABLE rows ADD COLUMN fields TEXT;
    "#,
    ),
    // 3: no row data. `rows.fields` (every value, files as base64) becomes a salted hash per
    // field and per multifield value; a step remembers its source file; run arguments lose any
    // credential a URL carried. The old values are then wiped from the file (see `migrate`).
    Migration::Rust(
        r#"
    ALTER TABLE rows ADD COLUMN field_hashes TEXT;
    ALTER TABLE steps ADD COLUMN source_path TEXT;
    ALTER TABLE steps ADD COLUMN source_sha256 TEXT;
    "#,
        hash_fields_and_scrub,
    ),
    // 4: typed row keys. A source key that read like a line (`#7`, `k#dup@9`) shared its text
    // with the row without a key on that line (or a repeat there); keys are now written by
    // `RowKey::encode`, each stored key converted by the meaning it had (see `retype_row_keys`).
    Migration::Rust("", retype_row_keys),
    // 5 (issue 22, the HTML report): a run's figures over time, one sample a second
    // (`run_samples`), and its final figures and settings as JSON (`run_figures`), so that
    // `b24import report` renders an earlier run. See `samples.rs`.
    Migration::Sql(
        r#"
    CREATE TABLE run_samples (
        run_id         INTEGER NOT NULL REFERENCES runs(id),
        at_ms          INTEGER NOT NULL,   -- since the run started
        items          INTEGER NOT NULL,   -- rows finished (done or rejected) so far
        requests       INTEGER NOT NULL,   -- HTTP requests sent so far
        in_flight      INTEGER NOT NULL,   -- requests on the wire at that moment
        refusals       INTEGER NOT NULL,   -- limit refusals so far (both kinds)
        operating_used REAL    NOT NULL,   -- seconds of the budget in use (the busiest method)
        PRIMARY KEY (run_id, at_ms)
    ) WITHOUT ROWID;
    CREATE TABLE run_figures (
        run_id  INTEGER PRIMARY KEY REFERENCES runs(id),
        figures TEXT    NOT NULL           -- JSON: counts, limits, settings; never secrets
    );
    "#,
    ),
    // --- issue 21 (sample and undo) ---
    // 6: rows may be `undoing` (a delete sent, its outcome not yet known) and `undone`; a row
    // remembers the run that created it (`created_run`; 0 for a create recorded before this
    // version: `existing = 0` and done) and, once undone, the ID its item had (`undone_id`).
    // SQLite cannot change a CHECK constraint, so the table is built again.
    Migration::Sql(
        r#"
    CREATE TABLE rows_v6 (
        step_id      INTEGER NOT NULL REFERENCES steps(id),
        row_key      TEXT    NOT NULL,
        row_ref      TEXT    NOT NULL,
        payload_hash TEXT    NOT NULL,
        state        TEXT    NOT NULL
            CHECK (state IN ('pending', 'sent', 'done', 'rejected', 'unknown', 'undoing', 'undone')),
        portal_id    INTEGER,
        error_code   TEXT,
        error_text   TEXT,
        attempts     INTEGER NOT NULL DEFAULT 0,
        existing     INTEGER NOT NULL DEFAULT 0,
        created_at   INTEGER NOT NULL,
        updated_at   INTEGER NOT NULL,
        field_hashes TEXT,
        created_run  INTEGER,
        undone_id    INTEGER,
        PRIMARY KEY (step_id, row_key)
    ) WITHOUT ROWID;
    INSERT INTO rows_v6 (step_id, row_key, row_ref, payload_hash, state, portal_id, error_code,
            error_text, attempts, existing, created_at, updated_at, field_hashes, created_run)
        SELECT step_id, row_key, row_ref, payload_hash, state, portal_id, error_code, error_text,
            attempts, existing, created_at, updated_at, field_hashes,
            CASE WHEN state = 'done' AND existing = 0 AND portal_id IS NOT NULL THEN 0 END
        FROM rows;
    DROP TABLE rows;
    ALTER TABLE rows_v6 RENAME TO rows;
    CREATE INDEX rows_by_state ON rows (step_id, state);
    "#,
    ),
    // 7: the rows a sample run took (`run --sample`), by the run that took them.
    Migration::Sql(
        r#"
    CREATE TABLE sampled (
        step_id  INTEGER NOT NULL REFERENCES steps(id),
        row_key  TEXT    NOT NULL,
        run_id   INTEGER NOT NULL,
        PRIMARY KEY (step_id, row_key)
    ) WITHOUT ROWID;
    "#,
    ),
    // --- end of issue 21 ---
];

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// The first version without row values in `rows` (older files are wiped after upgrading).
const FIRST_WITHOUT_VALUES: i64 = 3;

/// Brings `conn` to [`VERSION`], each migration in its own transaction, and marks the file
/// with [`APPLICATION_ID`]. A journal that held row values (version 1 or 2 with rows) is then
/// rewritten (`VACUUM`) and its write-ahead log emptied, so no old value stays on disk.
pub fn migrate(conn: &mut Connection) -> Result<(), JournalError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > VERSION {
        return Err(JournalError::TooNew { found, supported: VERSION });
    }
    for i in found..VERSION {
        apply(conn, i)?;
    }
    let app: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    if app != APPLICATION_ID {
        conn.pragma_update(None, "application_id", APPLICATION_ID)?;
    }
    if found > 0 && found < FIRST_WITHOUT_VALUES {
        conn.execute_batch("VACUUM")?;
        // The log may still hold pages written before the upgrade: empty it.
        let _: (i64, i64, i64) =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    }
    Ok(())
}

/// Migration 3: hashes every stored field object, drops the values, scrubs run arguments.
fn hash_fields_and_scrub(tx: &Transaction<'_>) -> Result<(), JournalError> {
    let hasher = FieldHasher::new(salt(tx)?);
    let stored: Vec<(i64, String, String)> = {
        let mut stmt = tx.prepare("SELECT step_id, row_key, fields FROM rows WHERE fields IS NOT NULL")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    {
        let mut update =
            tx.prepare("UPDATE rows SET field_hashes = ?3 WHERE step_id = ?1 AND row_key = ?2")?;
        for (step, key, fields) in stored {
            // A value that is not a JSON object was never usable: the row gets no hashes, and
            // the next update sends every field (as for a row found in the portal).
            let hashes: Option<FieldHashes> = serde_json::from_str::<serde_json::Value>(&fields)
                .ok()
                .and_then(|v| v.as_object().map(|m| hasher.hashes(m)));
            update.execute(params![step, key, hashes.map(|h| h.to_json())])?;
        }
    }
    tx.execute_batch("ALTER TABLE rows DROP COLUMN fields;")?;
    let runs: Vec<(i64, String)> = {
        let mut stmt = tx.prepare("SELECT id, args FROM runs")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    for (id, args) in runs {
        let clean = super::scrub_args(&args);
        if clean != args {
            tx.execute("UPDATE runs SET args = ?2 WHERE id = ?1", params![id, clean])?;
        }
    }
    Ok(())
}

/// Migration 4: every stored row key becomes the text of the [`RowKey`] it meant
/// ([`RowKey::from_legacy`]: `#7` and `k#dup@7` are kept by line when the row was last seen on
/// line 7, and were a source key otherwise). Only keys beginning with `#` or `\` or holding
/// `#dup@` can change; the rows that change are taken out and put back under their new key. No
/// new key is a key left as it was: a changed key begins with `\` (which no other key does) or
/// is a repeat `#9#k` (the only unchanged keys beginning with `#` are lines, `#7`), and the
/// old meaning of a text is one key, so no two rows get the same.
fn retype_row_keys(tx: &Transaction<'_>) -> Result<(), JournalError> {
    let moves: Vec<(i64, String, String)> = {
        let mut stmt = tx.prepare(
            "SELECT step_id, row_key, row_ref FROM rows
             WHERE substr(row_key, 1, 1) IN ('#', '\\') OR instr(row_key, '#dup@') > 0",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
        let mut moves = Vec::new();
        for row in rows {
            let (step, old, row_ref) = row?;
            let new = RowKey::from_legacy(&old, &row_ref).encode();
            if new != old {
                moves.push((step, old, new));
            }
        }
        moves
    };
    if moves.is_empty() {
        return Ok(());
    }
    tx.execute_batch(
        "CREATE TEMP TABLE key_moves (step_id INTEGER NOT NULL, old TEXT NOT NULL, new TEXT NOT NULL,
             PRIMARY KEY (step_id, old));",
    )?;
    {
        let mut insert = tx.prepare("INSERT INTO key_moves (step_id, old, new) VALUES (?1, ?2, ?3)")?;
        for (step, old, new) in &moves {
            insert.execute(params![step, old, new])?;
        }
    }
    tx.execute_batch(
        "CREATE TEMP TABLE moved_rows AS
             SELECT m.new AS new_key, r.* FROM rows r
             JOIN key_moves m ON m.step_id = r.step_id AND m.old = r.row_key;
         DELETE FROM rows WHERE EXISTS
             (SELECT 1 FROM key_moves m WHERE m.step_id = rows.step_id AND m.old = rows.row_key);
         INSERT INTO rows (step_id, row_key, row_ref, payload_hash, state, portal_id, error_code,
                 error_text, attempts, existing, created_at, updated_at, field_hashes)
             SELECT step_id, new_key, row_ref, payload_hash, state, portal_id, error_code, error_text,
                 attempts, existing, created_at, updated_at, field_hashes FROM moved_rows;
         DROP TABLE moved_rows;
         DROP TABLE key_moves;",
    )?;
    Ok(())
}

/// The journal's field-hash salt, created (16 random bytes) if it has none.
fn salt(tx: &Transaction<'_>) -> Result<Vec<u8>, JournalError> {
    use rusqlite::OptionalExtension as _;
    let found: Option<String> =
        tx.query_row("SELECT value FROM meta WHERE key = ?1", params![SALT_KEY], |r| r.get(0)).optional()?;
    if let Some(bytes) = found.and_then(|h| hex::decode(h).ok()) {
        return Ok(bytes);
    }
    let bytes: [u8; 16] = rand::random();
    tx.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![SALT_KEY, hex::encode(bytes)],
    )?;
    Ok(bytes.to_vec())
}

/// Applies the migrations up to `version` only (tests build old journals with it).
#[cfg(test)]
pub fn migrate_to(conn: &mut Connection, version: i64) -> Result<(), JournalError> {
    for i in 0..version {
        apply(conn, i)?;
    }
    Ok(())
}

/// Applies migration `i` (version `i` -> `i + 1`) in one transaction.
fn apply(conn: &mut Connection, i: i64) -> Result<(), JournalError> {
    let tx = conn.transaction()?;
    match &MIGRATIONS[i as usize] {
        Migration::Sql(sql) => tx.execute_batch(sql)?,
        Migration::Rust(sql, convert) => {
            tx.execute_batch(sql)?;
            convert(&tx)?;
        }
    }
    tx.pragma_update(None, "user_version", i + 1)?;
    tx.commit()?;
    Ok(())
}
