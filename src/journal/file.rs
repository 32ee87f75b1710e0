//! Recognizing a journal file before SQLite touches it, and opening connections to it.
//!
//! Owns: the checks made on the raw header (empty file, text file, another application's SQLite
//! database, a journal from a newer build), the table check that adopts journals written
//! before `application_id` existed, and the read-only connection that creates no file: a
//! journal left in WAL mode without its `-wal` file is opened `immutable` (SQLite would
//! otherwise create `-wal` and `-shm` next to it). Must not write to any file.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

use super::JournalError;
use super::schema::{APPLICATION_ID, TABLES, VERSION};

/// What the first 100 bytes of an SQLite file say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub user_version: i64,
    pub application_id: i32,
    /// The file is in WAL mode (its readers need `-wal`/`-shm`).
    pub wal: bool,
}

const MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// Reads and checks the header of an existing file: refuses anything that is not a b24import
/// journal (or a journal too new for this build) without writing a byte.
pub fn inspect(path: &Path) -> Result<Header, JournalError> {
    let not = |why: String| JournalError::NotAJournal { path: path.to_path_buf(), why };
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(JournalError::Missing { path: path.to_path_buf() });
        }
        Err(source) => return Err(JournalError::Io { path: path.to_path_buf(), source }),
    };
    let mut head = Vec::with_capacity(100);
    (&mut file)
        .take(100)
        .read_to_end(&mut head)
        .map_err(|source| JournalError::Io { path: path.to_path_buf(), source })?;
    if head.is_empty() {
        return Err(not("the file is empty".into()));
    }
    if head.len() < 100 || &head[..16] != MAGIC {
        let what = if std::str::from_utf8(&head).is_ok() { "a text file" } else { "not an SQLite database" };
        return Err(not(what.into()));
    }
    let be32 = |at: usize| i32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let header = Header {
        user_version: i64::from(be32(60)),
        application_id: be32(68),
        wal: head[18] == 2 || head[19] == 2,
    };
    match header.application_id {
        APPLICATION_ID => {}
        // Perhaps a journal from before application_id (see `check_tables`); its schema may
        // still sit in the write-ahead log only (a first run that was killed).
        0 if header.user_version > 0 || has_log(path) => {}
        0 => return Err(not("an SQLite database without b24import's tables".into())),
        other => {
            return Err(not(format!(
                "an SQLite database of another application, application_id {other:#010x}"
            )));
        }
    }
    if header.application_id == APPLICATION_ID && header.user_version > VERSION {
        return Err(JournalError::TooNew { found: header.user_version, supported: VERSION });
    }
    Ok(header)
}

/// A database without `application_id` is adopted only if it has every journal table.
pub fn check_tables(conn: &Connection, path: &Path, header: &Header) -> Result<(), JournalError> {
    if header.application_id == APPLICATION_ID {
        return Ok(());
    }
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
    let names: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    if !TABLES.iter().all(|t| names.iter().any(|n| n == t)) {
        return Err(JournalError::NotAJournal {
            path: path.to_path_buf(),
            why: "an SQLite database without b24import's tables".into(),
        });
    }
    if header.user_version > VERSION {
        return Err(JournalError::TooNew { found: header.user_version, supported: VERSION });
    }
    Ok(())
}

/// The file has a non-empty write-ahead log beside it.
fn has_log(path: &Path) -> bool {
    std::fs::metadata(wal_path(path)).is_ok_and(|m| m.len() > 0)
}

/// `<journal>-wal`, SQLite's write-ahead log.
pub fn wal_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push("-wal");
    path.with_file_name(name)
}

/// A read-only connection that creates no file (see the module comment).
pub fn connect_read_only(path: &Path, header: &Header) -> Result<Connection, JournalError> {
    let flags =
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = if header.wal && !wal_path(path).exists() {
        // Nothing is in flight (no log): the file alone is the whole journal.
        Connection::open_with_flags(format!("file:{}?immutable=1", uri_path(path)), flags)?
    } else {
        Connection::open_with_flags(format!("file:{}?mode=ro", uri_path(path)), flags)?
    };
    Ok(conn)
}

/// `path` escaped for an SQLite `file:` URI.
fn uri_path(path: &Path) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const KEEP: &AsciiSet =
        &NON_ALPHANUMERIC.remove(b'/').remove(b'-').remove(b'_').remove(b'.').remove(b'~');
    let text = path.to_string_lossy();
    let encoded = utf8_percent_encode(&text, KEEP).to_string();
    // `file://x` would name a host: keep a single leading slash.
    if encoded.starts_with("//") { format!("/{}", encoded.trim_start_matches('/')) } else { encoded }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_paths_escape_what_a_uri_would_misread() {
        assert_eq!(uri_path(Path::new("/tmp/a b/j?x#1%.sqlite")), "/tmp/a%20b/j%3Fx%231%25.sqlite");
        assert_eq!(uri_path(Path::new("rel/j.sqlite")), "rel/j.sqlite");
    }
}
