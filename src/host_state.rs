//! What b24import keeps per user on this host, whatever the journal or working directory: the
//! state directory, and the lock files by which processes that talk to one portal take turns.
//!
//! Owns: where the state directory is ([`state_dir`]: `--state-dir` ([`set_state_dir`]), else
//! `$B24IMPORT_STATE_DIR`, else
//! `$XDG_STATE_HOME/b24import`, else `~/.local/state/b24import`, else the system's temporary
//! directory), the name of a portal's lock file ([`lock_path`]) and taking it ([`HostLock`]).
//! Users: the OAuth token file (`cli::token_file`, under `oauth/`), one duplicate check per
//! portal and entity type (`pipeline::dup_lock`), one `provision` per portal
//! (`provision::lock`); all locks live under `locks/`. The shared pace of a portal
//! (`transport::shared_pace`, issue 23) keeps its small state file under `pace/`, locked the same
//! way (an advisory lock on the file itself).
//!
//! A lock is an exclusive OS advisory lock (`File::try_lock`): the OS drops it when its holder
//! dies, however it dies (SIGKILL included), so a killed process never leaves it stale. Must
//! not: delete a lock file (unlinking races with a process that has just opened it), or put a
//! secret into a file name (a portal is named by its `host[:port]` only). Only processes on this
//! host, or of users sharing the state directory, are coordinated.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Overrides the state directory (tests, or several users sharing one directory).
pub const STATE_DIR_ENV: &str = "B24IMPORT_STATE_DIR";

/// How often a waiting process tries a held lock again.
pub const LOCK_POLL: Duration = Duration::from_millis(100);

/// The state directory chosen on the command line (`--state-dir`), once per process.
static CHOSEN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Chooses the state directory for this process (`--state-dir DIR`, e.g. a volume shared by
/// the jobs of a schedule); wins over the environment. Only the first choice counts.
pub fn set_state_dir(dir: PathBuf) {
    let _ = CHOSEN.set(dir);
}

/// The directory b24import keeps its per-user state in.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = CHOSEN.get() {
        return dir.clone();
    }
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var(STATE_DIR_ENV)
        .or_else(|| var("XDG_STATE_HOME").map(|d| d.join("b24import")))
        .or_else(|| var("HOME").map(|h| h.join(".local").join("state").join("b24import")))
        .unwrap_or_else(|| std::env::temp_dir().join("b24import"))
}

/// A file-name-safe spelling of `text` (a host, `host:port`): letters, digits, `.` and `-`
/// kept, anything else `_`, lower case.
pub fn file_safe(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c.to_ascii_lowercase() } else { '_' })
        .collect()
}

/// The lock file `<state dir>/locks/<purpose>-<portal>[-<scope>].lock` of the portal at
/// `portal` (`host[:port]`, never a secret).
pub fn lock_path(purpose: &str, portal: &str, scope: Option<&str>) -> PathBuf {
    let scope = scope.map(|s| format!("-{}", file_safe(s))).unwrap_or_default();
    state_dir().join("locks").join(format!("{purpose}-{}{scope}.lock", file_safe(portal)))
}

/// Why a lock file could not be opened or locked (not: held by another process).
#[derive(Debug, thiserror::Error)]
#[error("cannot open the lock {}: {source}", path.display())]
pub struct HostLockError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// A held lock; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub struct HostLock {
    file: File,
}

impl Drop for HostLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

impl HostLock {
    /// Takes the lock at `path` if no other process holds it: `Ok(None)` while one does.
    pub fn try_take(path: &Path) -> Result<Option<HostLock>, HostLockError> {
        let err = |source| HostLockError { path: path.to_path_buf(), source };
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
        Ok(Some(HostLock { file }))
    }

    /// Takes the lock at `path`, waiting while another process holds it (`waiting` is called
    /// once, when it has to wait).
    pub async fn acquire(path: &Path, waiting: impl FnOnce()) -> Result<HostLock, HostLockError> {
        let mut waiting = Some(waiting);
        loop {
            if let Some(lock) = HostLock::try_take(path)? {
                return Ok(lock);
            }
            if let Some(w) = waiting.take() {
                w();
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_waits_until_the_first_lets_go() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("locks").join("x.lock");
        let first = HostLock::try_take(&path).expect("opens").expect("free");
        assert!(HostLock::try_take(&path).expect("opens").is_none(), "held");
        drop(first);
        assert!(HostLock::try_take(&path).expect("opens").is_some(), "released");
    }

    #[tokio::test]
    async fn acquire_waits_for_the_holder() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("p.lock");
        let first = HostLock::acquire(&path, || {}).await.expect("first");
        let second = tokio::time::timeout(Duration::from_millis(300), HostLock::acquire(&path, || {})).await;
        assert!(second.is_err(), "the second waits while the first holds it");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), HostLock::acquire(&path, || {})).await;
        assert!(second.is_ok_and(|l| l.is_ok()), "then takes it");
    }

    #[test]
    fn lock_names_carry_the_portal_and_scope_and_no_secret() {
        let path = lock_path("dup", "Portal.Bitrix24.ru:443", Some("3"));
        assert!(path.ends_with("locks/dup-portal.bitrix24.ru_443-3.lock"), "{}", path.display());
        assert_eq!(lock_path("provision", "a.example", None), lock_path("provision", "A.example", None));
        assert_ne!(lock_path("provision", "a.example", None), lock_path("provision", "b.example", None));
    }
}
