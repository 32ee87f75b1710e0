//! `--state FILE`: the portal state kept in SQLite so a rehearsal survives a restart.
//!
//! Items and users are one row each (JSON); schemas, types, pipelines and directories are one
//! `meta` row, the id counters one `counters` row. After every request the server flushes what
//! the request changed ([`State::dirty`]) in one transaction. WAL, `synchronous=NORMAL`, schema
//! versioned with `PRAGMA user_version`. The connection is owned by the server's state lock and
//! never held across an `.await`.
//!
//! Beside the state, `setting:*` rows keep what a restart needs to answer at the same URL with
//! the same credentials: the webhook code (`b24import sandbox` reads and writes it) and the
//! OAuth application with its current tokens ([`SavedOAuth`]: the CLI reads it at start, the
//! token endpoint rewrites it on every rotation). `/_sandbox/reset` keeps them.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use super::SandboxError;
use super::state::{Counters, Dirty, Item, Meta, State, User};

const SCHEMA_VERSION: i64 = 1;

/// The OAuth application and its current tokens, kept so a restarted rehearsal portal accepts
/// the tokens a client already holds. `Debug` shows the client id only.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedOAuth {
    pub client_id: String,
    pub client_secret: String,
    /// The last access token issued (its lifetime starts again at a restart).
    pub access_token: String,
    /// The one valid refresh token.
    pub refresh_token: String,
}

impl std::fmt::Debug for SavedOAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedOAuth").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// An open state file.
pub struct Persist {
    conn: Connection,
    path: String,
}

impl std::fmt::Debug for Persist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Persist").field("path", &self.path).finish()
    }
}

impl Persist {
    fn err(&self, e: impl std::fmt::Display) -> SandboxError {
        SandboxError::State { path: self.path.clone(), message: e.to_string() }
    }

    /// Opens (or creates) the file and its tables.
    pub fn open(path: &Path) -> Result<Self, SandboxError> {
        let shown = path.display().to_string();
        let conn = Connection::open(path)
            .map_err(|e| SandboxError::State { path: shown.clone(), message: e.to_string() })?;
        let p = Persist { conn, path: shown };
        let version: i64 = p.conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| p.err(e))?;
        if version > SCHEMA_VERSION {
            return Err(p.err(format!("written by a newer b24import (schema {version} > {SCHEMA_VERSION})")));
        }
        p.conn
            .execute_batch(
                "PRAGMA journal_mode=WAL;
                 PRAGMA synchronous=NORMAL;
                 CREATE TABLE IF NOT EXISTS items (
                     entity_type_id INTEGER NOT NULL,
                     id INTEGER NOT NULL,
                     json TEXT NOT NULL,
                     PRIMARY KEY (entity_type_id, id));
                 CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, json TEXT NOT NULL);
                 CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, json TEXT NOT NULL);
                 PRAGMA user_version = 1;",
            )
            .map_err(|e| p.err(e))?;
        Ok(p)
    }

    /// Reads the saved state (None for a new, empty file).
    pub fn load(&self) -> Result<Option<State>, SandboxError> {
        let kv = |key: &str| -> Result<Option<String>, SandboxError> {
            self.conn
                .query_row("SELECT json FROM kv WHERE key = ?1", [key], |r| r.get::<_, String>(0))
                .optional()
                .map_err(|e| self.err(e))
        };
        let (Some(meta), Some(counters)) = (kv("meta")?, kv("counters")?) else { return Ok(None) };
        let meta: Meta = serde_json::from_str(&meta).map_err(|e| self.err(e))?;
        let counters: Counters = serde_json::from_str(&counters).map_err(|e| self.err(e))?;
        let mut state = State { meta, counters, ..State::default() };
        let mut stmt =
            self.conn.prepare("SELECT entity_type_id, json FROM items").map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (etid, json) = row.map_err(|e| self.err(e))?;
            let item: Item = serde_json::from_str(&json).map_err(|e| self.err(e))?;
            state.items.entry(etid as u64).or_default().insert(item.id, item);
        }
        let mut stmt = self.conn.prepare("SELECT json FROM users").map_err(|e| self.err(e))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| self.err(e))?;
        for row in rows {
            let user: User = serde_json::from_str(&row.map_err(|e| self.err(e))?).map_err(|e| self.err(e))?;
            state.users.insert(user.id, user);
        }
        Ok(Some(state))
    }

    /// Writes what changed since the last flush, in one transaction, and clears the marks.
    pub fn flush(&mut self, state: &mut State) -> Result<(), SandboxError> {
        if !state.dirty.any {
            return Ok(());
        }
        let dirty = std::mem::take(&mut state.dirty);
        let path = self.path.clone();
        let err =
            |e: &dyn std::fmt::Display| SandboxError::State { path: path.clone(), message: e.to_string() };
        let tx = self.conn.transaction().map_err(|e| err(&e))?;
        for (etid, id) in &dirty.items {
            match state.items.get(etid).and_then(|m| m.get(id)) {
                Some(item) => {
                    let json = serde_json::to_string(item).map_err(|e| err(&e))?;
                    tx.execute(
                        "INSERT OR REPLACE INTO items (entity_type_id, id, json) VALUES (?1, ?2, ?3)",
                        params![*etid as i64, *id as i64, json],
                    )
                    .map_err(|e| err(&e))?;
                }
                None => {
                    tx.execute(
                        "DELETE FROM items WHERE entity_type_id = ?1 AND id = ?2",
                        params![*etid as i64, *id as i64],
                    )
                    .map_err(|e| err(&e))?;
                }
            }
        }
        for id in &dirty.users {
            if let Some(user) = state.users.get(id) {
                let json = serde_json::to_string(user).map_err(|e| err(&e))?;
                tx.execute(
                    "INSERT OR REPLACE INTO users (id, json) VALUES (?1, ?2)",
                    params![*id as i64, json],
                )
                .map_err(|e| err(&e))?;
            }
        }
        if dirty.meta {
            let json = serde_json::to_string(&state.meta).map_err(|e| err(&e))?;
            tx.execute("INSERT OR REPLACE INTO kv (key, json) VALUES ('meta', ?1)", [json])
                .map_err(|e| err(&e))?;
        }
        let json = serde_json::to_string(&state.counters).map_err(|e| err(&e))?;
        tx.execute("INSERT OR REPLACE INTO kv (key, json) VALUES ('counters', ?1)", [json])
            .map_err(|e| err(&e))?;
        tx.commit().map_err(|e| err(&e))?;
        Ok(())
    }

    /// A value kept beside the state (e.g. the CLI's webhook code, so a restart keeps the URL).
    pub fn setting(&self, key: &str) -> Result<Option<String>, SandboxError> {
        self.conn
            .query_row("SELECT json FROM kv WHERE key = ?1", [format!("setting:{key}")], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Stores a value kept beside the state.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), SandboxError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO kv (key, json) VALUES (?1, ?2)",
                params![format!("setting:{key}"), value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The OAuth application kept by an earlier start, if any.
    pub fn oauth(&self) -> Result<Option<SavedOAuth>, SandboxError> {
        match self.setting("oauth")? {
            Some(json) => serde_json::from_str(&json).map(Some).map_err(|e| self.err(e)),
            None => Ok(None),
        }
    }

    /// Keeps the OAuth application and its current tokens.
    pub fn save_oauth(&self, oauth: &SavedOAuth) -> Result<(), SandboxError> {
        let json = serde_json::to_string(oauth).map_err(|e| self.err(e))?;
        self.set_setting("oauth", &json)
    }

    /// Empties the file (for `/_sandbox/reset`); the caller flushes a fresh state after it.
    pub fn clear(&mut self) -> Result<(), SandboxError> {
        self.conn
            .execute_batch(
                "DELETE FROM items; DELETE FROM users; DELETE FROM kv WHERE key NOT LIKE 'setting:%';",
            )
            .map_err(|e| self.err(e))
    }
}

/// Marks everything in a state dirty (so a full flush writes it all).
pub fn mark_all(state: &mut State) {
    let mut dirty = Dirty { meta: true, any: true, ..Dirty::default() };
    for (etid, items) in &state.items {
        dirty.items.extend(items.keys().map(|id| (*etid, *id)));
    }
    dirty.users.extend(state.users.keys().copied());
    state.dirty = dirty;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oauth_settings_survive_a_reopen_and_a_reset() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let saved = SavedOAuth {
            client_id: "app".into(),
            client_secret: "cs".into(),
            access_token: "at".into(),
            refresh_token: "rt".into(),
        };
        let mut p = Persist::open(&path).expect("open");
        assert_eq!(p.oauth().expect("read"), None);
        p.save_oauth(&saved).expect("save");
        p.clear().expect("reset");
        drop(p);
        assert_eq!(Persist::open(&path).expect("reopen").oauth().expect("read"), Some(saved.clone()));
        assert!(!format!("{saved:?}").contains("cs"));
    }

    #[test]
    fn a_flushed_state_loads_back_equal() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.db");
        let mut state = State::new(None);
        state.items.entry(3).or_default().insert(
            1,
            Item { id: 1, fields: serde_json::json!({"name": "Ann"}).as_object().cloned().expect("object") },
        );
        state.counters.next_item_id.insert(3, 2);
        mark_all(&mut state);
        let mut p = Persist::open(&path).expect("open");
        assert!(p.load().expect("load").is_none());
        p.flush(&mut state).expect("flush");
        drop(p);
        let loaded = Persist::open(&path).expect("reopen").load().expect("load").expect("some");
        assert_eq!(loaded.items, state.items);
        assert_eq!(loaded.users, state.users);
        assert_eq!(loaded.meta, state.meta);
        assert_eq!(loaded.counters, state.counters);
    }
}
