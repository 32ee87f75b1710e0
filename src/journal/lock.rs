//! One writer per journal: an exclusive OS advisory lock on the sidecar file `<journal>.lock`,
//! held for as long as a read-write [`super::Journal`] lives (a whole `run`). The lock sits next
//! to the journal's real file ([`real_path`]: symlinks, `..` and relative paths resolved), so two
//! names of one journal take one lock.
//!
//! Owns: taking and releasing the lock, and the holder's description written into the file
//! (pid, host, start time) so that a second run can say who is in the way. The OS drops the
//! lock when the holding process dies, however it dies (SIGKILL, power loss of a remote host
//! excepted on network file systems), so a killed run never leaves a stale lock; the file's
//! leftover text only tells the next holder that its predecessor did not finish cleanly.
//! Must not: delete the lock file (unlinking a lock file races with a process that has just
//! opened it), or lock anything for readers (`status`, `rejects`, `ids` never take it).

use std::fmt;
use std::fs::{File, TryLockError};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

/// Who holds (or last held) a journal's lock, as written in the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    /// Unix ms.
    pub started_at: i64,
}

impl LockHolder {
    /// This process, now.
    fn me() -> LockHolder {
        LockHolder {
            pid: std::process::id(),
            host: host_name(),
            started_at: chrono::Utc::now().timestamp_millis(),
        }
    }

    fn to_text(&self) -> String {
        format!("pid={}\nhost={}\nstarted_ms={}\n", self.pid, self.host, self.started_at)
    }

    /// Parses what [`LockHolder::to_text`] wrote; `None` for an empty or foreign text.
    fn parse(text: &str) -> Option<LockHolder> {
        let mut pid = None;
        let mut host = None;
        let mut started_at = None;
        for line in text.lines() {
            match line.split_once('=') {
                Some(("pid", v)) => pid = v.trim().parse().ok(),
                Some(("host", v)) => host = Some(v.trim().to_string()),
                Some(("started_ms", v)) => started_at = v.trim().parse().ok(),
                _ => {}
            }
        }
        Some(LockHolder { pid: pid?, host: host.unwrap_or_default(), started_at: started_at.unwrap_or(0) })
    }
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = chrono::DateTime::from_timestamp_millis(self.started_at)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "an unknown time".into());
        let host = if self.host.is_empty() { "an unknown host" } else { self.host.as_str() };
        write!(f, "pid {} on host {host}, started {when}", self.pid)?;
        if !self.host.is_empty() && self.host != host_name() {
            write!(f, " (another machine sharing this file)")?;
        }
        Ok(())
    }
}

/// Why the lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it; `None` when it has not written its details yet.
    Held(Option<LockHolder>),
    Io(std::io::Error),
}

/// The held lock. Dropping it empties the file (a clean end) and releases the lock.
#[derive(Debug)]
pub struct JournalLock {
    file: File,
    /// The holder a killed process left in the file, if any.
    pub taken_over: Option<LockHolder>,
}

/// `<journal>.lock`, next to the journal's real file (see [`real_path`]).
pub fn lock_path(journal: &Path) -> PathBuf {
    let journal = real_path(journal);
    let mut name = journal.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".lock");
    journal.with_file_name(name)
}

/// The file `journal` names, whatever the spelling: symlinks followed, `.`/`..` and relative
/// paths resolved. A journal not created yet resolves through its directory (its own name
/// kept); a path that cannot be resolved at all is returned as given.
pub fn real_path(journal: &Path) -> PathBuf {
    let mut path = journal.to_path_buf();
    // A dangling symlink: the journal will be created where it points (40 hops, as the OS).
    for _ in 0..40 {
        if let Ok(real) = std::fs::canonicalize(&path) {
            return real;
        }
        let Ok(target) = std::fs::read_link(&path) else { break };
        path = match path.parent() {
            Some(dir) if target.is_relative() => dir.join(target),
            _ => target,
        };
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return journal.to_path_buf();
    };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    match std::fs::canonicalize(dir) {
        Ok(dir) => dir.join(name),
        Err(_) => journal.to_path_buf(),
    }
}

impl JournalLock {
    /// Takes the lock of `journal` without waiting, and writes this process into the file.
    pub fn acquire(journal: &Path) -> Result<JournalLock, LockError> {
        let path = lock_path(journal);
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(LockError::Io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held(LockHolder::parse(&text)));
            }
            Err(TryLockError::Error(e)) => return Err(LockError::Io(e)),
        }
        let mut left = String::new();
        file.read_to_string(&mut left).map_err(LockError::Io)?;
        let taken_over = LockHolder::parse(&left);
        file.set_len(0).map_err(LockError::Io)?;
        file.seek(SeekFrom::Start(0)).map_err(LockError::Io)?;
        file.write_all(LockHolder::me().to_text().as_bytes()).map_err(LockError::Io)?;
        file.flush().map_err(LockError::Io)?;
        Ok(JournalLock { file, taken_over })
    }

    /// What the OS does when the holder is killed: the lock goes, the file keeps its text.
    #[cfg(test)]
    pub fn release_as_if_killed(self) {
        let _ = self.file.unlock();
        std::mem::forget(self);
    }
}

impl Drop for JournalLock {
    fn drop(&mut self) {
        // An empty file tells the next holder that this run ended cleanly.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// This machine's name, for the lock file (best effort, no extra dependency).
pub fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = dir.path().join("j.sqlite");
        let first = JournalLock::acquire(&journal).expect("first");
        match JournalLock::acquire(&journal) {
            Err(LockError::Held(Some(h))) => {
                assert_eq!(h.pid, std::process::id());
                assert!(h.started_at > 0);
            }
            other => panic!("expected the lock to be held, got {other:?}"),
        }
        drop(first);
        let again = JournalLock::acquire(&journal).expect("released on drop");
        assert_eq!(again.taken_over, None, "a clean release leaves nothing to take over");
    }

    #[test]
    fn a_holder_that_died_is_reported_when_the_lock_is_taken_over() {
        let dir = tempfile::tempdir().expect("tempdir");
        let journal = dir.path().join("j.sqlite");
        // What a killed process leaves: its details, and no lock (the OS dropped it).
        std::fs::write(lock_path(&journal), "pid=4242\nhost=elsewhere\nstarted_ms=1700000000000\n")
            .expect("write");
        let lock = JournalLock::acquire(&journal).expect("free");
        let left = lock.taken_over.clone().expect("the dead holder is reported");
        assert_eq!((left.pid, left.host.as_str()), (4242, "elsewhere"));
        assert!(left.to_string().contains("pid 4242 on host elsewhere, started 2023-11-14"), "{left}");
    }

    #[test]
    fn the_lock_file_sits_next_to_the_journal() {
        assert_eq!(
            lock_path(Path::new("a/.b24import/job.sqlite")),
            PathBuf::from("a/.b24import/job.sqlite.lock")
        );
    }

    // Bug pinned: a symlink or a second spelling of one journal took a second lock (issue 16).
    #[cfg(unix)]
    #[test]
    fn every_name_of_one_journal_takes_the_same_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("sub")).expect("sub");
        let journal = dir.path().join("j.sqlite");
        std::fs::write(&journal, "").expect("journal");
        let link = dir.path().join("link.sqlite");
        std::os::unix::fs::symlink(&journal, &link).expect("symlink");
        let first = JournalLock::acquire(&journal).expect("first");
        for other in [link, dir.path().join("sub/../j.sqlite")] {
            assert!(
                matches!(JournalLock::acquire(&other), Err(LockError::Held(_))),
                "{} took its own lock",
                other.display()
            );
        }
        drop(first);
    }
}
