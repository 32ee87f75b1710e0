//! Source fingerprints: a file's size and SHA-256, hashed streaming, and the typed explanation
//! given when a source changed since the journal recorded it.
//!
//! Owns: hashing and comparison only. Storage is the parent module's; this file does no SQL.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Size and SHA-256 (lower-case hex) of one source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub size: u64,
    pub sha256: String,
}

impl Fingerprint {
    /// Hashes `path` in 64 KiB chunks (memory stays flat for any file size).
    pub fn of_file(path: &Path) -> std::io::Result<Fingerprint> {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(&buf[..n]);
        }
        Ok(Fingerprint { size, sha256: hex::encode(hasher.finalize()) })
    }
}

/// What [`super::Journal::check_fingerprint`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FingerprintCheck {
    /// The journal has never seen this file.
    New,
    /// Same size and hash as recorded.
    Unchanged,
    /// The file differs from what earlier runs imported.
    Changed(SourceChanged),
}

/// A source file that differs from the one the journal was written for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceChanged {
    pub path: PathBuf,
    pub recorded: Fingerprint,
    pub current: Fingerprint,
    /// When the recorded fingerprint was taken (unix ms).
    pub recorded_at: i64,
}

impl fmt::Display for SourceChanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let when = chrono::DateTime::from_timestamp_millis(self.recorded_at)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_else(|| "an earlier run".to_string());
        write!(
            f,
            "{} changed since the journal recorded it at {when} (size {} -> {} bytes, sha256 {} -> {})",
            self.path.display(),
            self.recorded.size,
            self.current.size,
            short(&self.recorded.sha256),
            short(&self.current.sha256),
        )
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_a_file_like_sha256sum() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.csv");
        std::fs::write(&p, b"abc").expect("write");
        let fp = Fingerprint::of_file(&p).expect("hash");
        assert_eq!(fp.size, 3);
        assert_eq!(fp.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
