//! The order of an import step (`method = "import"`): its rows sent oldest first, whatever
//! their order in the source, in flat memory.
//!
//! Owns: [`ImportOrder`], a staging store for the rows an import step is ready to send,
//! drained in ascending `createdTime` (then source order), and [`created_at`], the one reading
//! of a command's `createdTime` the order and the pre-flight share. The portal refuses an
//! imported item created before the type's newest item (the import overview,
//! `api-reference/crm/universal/import/index.md`, "you cannot import an item with a creation
//! date earlier than already created items"), so a step cannot send its rows as it reads them.
//!
//! The store is a private temporary SQLite database (`Connection::open("")`: SQLite makes a
//! file in the system's temporary directory, deleted when the connection closes, and keeps
//! only a small page cache in memory), never the journal: the rows' payloads are the
//! customer's data and the journal holds hashes only. A crash loses nothing: every staged row
//! is already `pending` in the journal, and the next run reads the source again.
//! Must not: decide which rows are sent (`rows`, `admit`) or send them (the step's
//! dispatcher, in ordered mode).

use chrono::{DateTime, NaiveDateTime};
use rusqlite::{Connection, params};
use serde_json::Value;

use super::core::Ready;
use crate::journal::{FieldHashes, JournalError};
use crate::payload::{Command, Method};

/// Rows read back from the store at a time.
const CHUNK: usize = 500;

/// The instant a row is sorted by when its `createdTime` is missing or unreadable: last
/// (the portal creates such an item "now", after every dated one).
const UNDATED: i64 = i64::MAX;

/// The `createdTime` of a command's fields as Unix seconds: RFC 3339 (what the mapping's
/// `datetime` type writes), or `YYYY-MM-DD hh:mm:ss` / `YYYY-MM-DDThh:mm:ss` (read as UTC, as
/// the portal reads a date-time without an offset in the REST API).
pub(crate) fn created_at(cmd: &Command) -> Option<i64> {
    let value = crate::payload::fields_of(cmd)?.get("createdTime")?;
    parse_instant(value)
}

/// A date-time value as Unix seconds (see [`created_at`]).
pub(crate) fn parse_instant(value: &Value) -> Option<i64> {
    let text = value.as_str()?.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc().timestamp())
}

/// The rows of one import step, staged until the source has been read, then drained oldest
/// first.
pub(super) struct ImportOrder {
    db: Connection,
    /// Source order: the tie-break between rows created at the same second.
    seq: i64,
    /// Where the drain stands: the (instant, seq) of the last row read back.
    cursor: Option<(i64, i64)>,
}

impl ImportOrder {
    pub(super) fn new() -> Result<ImportOrder, JournalError> {
        let db = Connection::open("")?;
        db.execute_batch(
            "CREATE TABLE staged (at INTEGER NOT NULL, seq INTEGER NOT NULL, key TEXT NOT NULL,
                                  method TEXT NOT NULL, params TEXT NOT NULL, fields TEXT,
                                  PRIMARY KEY (at, seq)) WITHOUT ROWID;",
        )?;
        Ok(ImportOrder { db, seq: 0, cursor: None })
    }

    /// Stages `rows` (one transaction).
    pub(super) fn push(&mut self, rows: Vec<Ready>) -> Result<(), JournalError> {
        if rows.is_empty() {
            return Ok(());
        }
        let tx = self.db.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO staged (at, seq, key, method, params, fields) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for r in rows {
                let at = created_at(&r.cmd);
                let fields = r.fields.as_ref().map(|f| serde_json::to_string(f).unwrap_or_default());
                insert.execute(params![
                    at.unwrap_or(UNDATED),
                    self.seq,
                    r.key,
                    r.cmd.method.as_str(),
                    r.cmd.params.to_string(),
                    fields
                ])?;
                self.seq += 1;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The next rows in order (oldest first; empty when every row was read back).
    pub(super) fn next_chunk(&mut self) -> Result<Vec<Ready>, JournalError> {
        let (at, seq) = self.cursor.unwrap_or((i64::MIN, -1));
        let mut stmt = self.db.prepare_cached(
            "SELECT at, seq, key, method, params, fields FROM staged
             WHERE (at, seq) > (?1, ?2) ORDER BY at, seq LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![at, seq, CHUNK as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (at, seq, key, method, params, fields) = row?;
            self.cursor = Some((at, seq));
            // Written by `push` from the same types: a row that does not read back is a bug.
            let method = Method::from_name(&method).expect("a staged method reads back");
            let params: Value = serde_json::from_str(&params).expect("staged params read back");
            let fields: Option<FieldHashes> = fields.and_then(|f| serde_json::from_str(&f).ok());
            out.push(Ready { key, cmd: Command { method, params }, fields });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn row(key: &str, created: Option<&str>) -> Ready {
        let mut fields = json!({"originatorId": "t", "originId": key, "title": key});
        if let Some(c) = created {
            fields["createdTime"] = json!(c);
        }
        Ready {
            key: key.to_string(),
            cmd: Command {
                method: Method::CrmItemBatchImport,
                params: json!({"entityTypeId": 2, "data": [fields]}),
            },
            fields: Some(FieldHashes::default()),
        }
    }

    #[test]
    fn rows_come_back_oldest_first_then_in_source_order_with_undated_rows_last() {
        let mut order = ImportOrder::new().unwrap();
        order
            .push(vec![
                row("c", Some("2021-03-01T10:00:00+03:00")),
                row("undated", None),
                row("a", Some("2019-01-01 00:00:00")),
                row("b1", Some("2020-06-01T12:00:00+00:00")),
                row("b2", Some("2020-06-01T15:00:00+03:00")), // the same instant as b1
            ])
            .unwrap();
        let mut keys = Vec::new();
        loop {
            let chunk = order.next_chunk().unwrap();
            if chunk.is_empty() {
                break;
            }
            keys.extend(chunk.into_iter().map(|r| r.key));
        }
        assert_eq!(keys, ["a", "b1", "b2", "c", "undated"]);
    }

    #[test]
    fn a_large_stage_reads_back_whole_in_chunks_with_its_payloads() {
        let mut order = ImportOrder::new().unwrap();
        let rows: Vec<Ready> = (0..(CHUNK * 2 + 7))
            .rev()
            .map(|i| {
                let at = DateTime::from_timestamp(1_577_836_800 + i as i64, 0).unwrap().to_rfc3339();
                row(&format!("k{i:05}"), Some(&at))
            })
            .collect();
        order.push(rows).unwrap();
        let mut back = Vec::new();
        loop {
            let chunk = order.next_chunk().unwrap();
            if chunk.is_empty() {
                break;
            }
            assert!(chunk.len() <= CHUNK);
            back.extend(chunk);
        }
        assert_eq!(back.len(), CHUNK * 2 + 7);
        assert_eq!(back[0].key, "k00000");
        assert_eq!(back.last().unwrap().key, format!("k{:05}", CHUNK * 2 + 6));
        assert_eq!(back[0].cmd.method, Method::CrmItemBatchImport);
        assert_eq!(back[0].cmd.params["data"][0]["originId"], "k00000");
        assert_eq!(back[0].fields, Some(FieldHashes::default()));
    }
}
