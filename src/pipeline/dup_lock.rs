//! One duplicate check at a time per portal and entity type on this host: two runs (two
//! `--job`s, a cron job and a manual run) importing overlapping sources with `on_duplicate`
//! would otherwise both ask the portal, both hear "nothing", and both create the same row.
//!
//! Owns: where the lock file is ([`lock_dir`], [`lock_path`]) and taking it. The lock is an
//! exclusive OS advisory lock (`File::try_lock`) on `<state dir>/locks/dup-<host>-<port>-<entity
//! type>.lock`, taken before a step's first check and held until the step ends (its creates
//! have landed), so the second run's check sees the first run's items. The OS drops it when the
//! holder dies, however it dies: a killed run never leaves it stale. Must not: delete the file
//! (a process may have just opened it), or be taken by a dry run (it creates nothing).
//! Only runs on this host (and by users sharing the state dir) are coordinated.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Overrides where the lock files are kept (tests, or several users sharing one directory).
pub const STATE_DIR_ENV: &str = "B24IMPORT_STATE_DIR";

/// The directory of the lock files: `$B24IMPORT_STATE_DIR`, else `$XDG_STATE_HOME/b24import`,
/// else `~/.local/state/b24import`, else the system's temporary directory; then `locks/`.
pub fn lock_dir() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let base = var(STATE_DIR_ENV)
        .or_else(|| var("XDG_STATE_HOME").map(|d| d.join("b24import")))
        .or_else(|| var("HOME").map(|h| h.join(".local").join("state").join("b24import")))
        .unwrap_or_else(|| std::env::temp_dir().join("b24import"));
    base.join("locks")
}

/// The lock file of `portal` (host and port, never a secret) and `entity_type_id`.
pub fn lock_path(dir: &Path, portal: &str, entity_type_id: u32) -> PathBuf {
    let safe: String = portal
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' })
        .collect();
    dir.join(format!("dup-{safe}-{entity_type_id}.lock"))
}

/// Why the lock file could not be opened (not: held by another run).
#[derive(Debug, thiserror::Error)]
#[error("cannot open the duplicate-check lock {}: {source}", path.display())]
pub struct CheckLockError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A held lock; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub(super) struct CheckLock {
    _file: File,
}

impl CheckLock {
    /// Takes the lock at `path` if no other process holds it: `Ok(None)` while one does.
    pub(super) fn try_take(path: &Path) -> Result<Option<CheckLock>, CheckLockError> {
        let err = |source| CheckLockError { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(err(e)),
        }
        // Who holds it, for a curious user; the lock itself is the OS's.
        let _ = file.set_len(0);
        let _ = writeln!(file, "pid={}", std::process::id());
        Ok(Some(CheckLock { _file: file }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_waits_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("dir");
        let path = lock_path(&dir.path().join("locks"), "portal.bitrix24.ru:443", 3);
        assert!(path.ends_with("dup-portal.bitrix24.ru_443-3.lock"), "{}", path.display());
        let first = CheckLock::try_take(&path).expect("opens").expect("free");
        assert!(CheckLock::try_take(&path).expect("opens").is_none(), "held");
        let other = lock_path(&dir.path().join("locks"), "portal.bitrix24.ru:443", 4);
        assert!(CheckLock::try_take(&other).expect("opens").is_some(), "another entity type is its own lock");
        drop(first);
        assert!(CheckLock::try_take(&path).expect("opens").is_some(), "released");
    }
}
