//! One `provision` per portal on this host at a time: an exclusive OS advisory lock on
//! `<dir>/provision-<hash of the portal's address>.lock`, held from the first read to the last
//! write, so that two provisions started together cannot both find "no smart process titled
//! X" and both create one.
//!
//! Owns: the lock file's place (the system's temporary directory, or `B24IMPORT_LOCK_DIR`:
//! host-level, whatever the journal or working directory) and waiting for it. The OS drops the
//! lock when its holder dies, however it dies (SIGKILL included), so a killed provision never
//! blocks the next one; the waiting one then reads the portal afresh and finds what the first
//! made. Must not delete the lock file (unlinking races with a process that has just opened
//! it). Other hosts are not coordinated: provision says so in its help.

use std::fs::{File, TryLockError};
use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest, Sha256};

/// How often a waiting provision tries the lock again.
const POLL: Duration = Duration::from_millis(100);

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct ProvisionLock {
    file: File,
}

impl Drop for ProvisionLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}

/// The lock file of the portal at `address` (`host[:port]`).
pub fn lock_path(address: &str) -> PathBuf {
    let dir = std::env::var_os("B24IMPORT_LOCK_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("b24import-locks"));
    let digest = Sha256::digest(address.to_ascii_lowercase().as_bytes());
    dir.join(format!("provision-{}.lock", hex::encode(&digest[..8])))
}

/// Takes the lock of the portal at `address`, waiting while another provision holds it
/// (`waiting` is called once, when it has to wait).
pub async fn acquire(address: &str, waiting: impl FnOnce()) -> std::io::Result<ProvisionLock> {
    let path = lock_path(address);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    let file = options.open(&path)?;
    let mut waiting = Some(waiting);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(ProvisionLock { file }),
            Err(TryLockError::WouldBlock) => {
                if let Some(w) = waiting.take() {
                    w();
                }
                tokio::time::sleep(POLL).await;
            }
            Err(TryLockError::Error(e)) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_provision_of_the_same_portal_waits_until_the_first_lets_go() {
        let address = format!("lock-test-{}.example:1", std::process::id());
        let first = acquire(&address, || {}).await.expect("first");
        let second = tokio::time::timeout(Duration::from_millis(300), acquire(&address, || {})).await;
        assert!(second.is_err(), "the second waits while the first holds it");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), acquire(&address, || {})).await;
        assert!(second.is_ok_and(|l| l.is_ok()), "then takes it");
        assert_ne!(lock_path("a.example"), lock_path("b.example"));
        assert_eq!(lock_path("A.example"), lock_path("a.example"));
    }
}
