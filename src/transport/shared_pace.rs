//! One pace per portal on this host (issue 23): the processes that talk to one portal share its
//! request bucket and their operating-time use through a small state file per portal,
//! `<state dir>/pace/<host[_port]>.json`, under an OS file lock. No daemon.
//!
//! Owns: the file's format, the read-modify-write of it under the lock, the shared leaky bucket
//! (level + timestamp, drained at the rate), the jobs' entries (who is using the portal now, at
//! what rate, how much operating time each holds per method) and their expiry. Must not: sleep
//! or hold the lock across an `.await` (the lock is held for one read and one write of a file
//! of a few hundred bytes, microseconds), send requests, or write a secret (a portal is named by
//! its `host[:port]` only; a job by its name and journal path).
//!
//! The bucket is the portal's own model (`docs/portal-protocol.md` §2.1: a leaky bucket per
//! portal and source address, drained at the plan's rate): a request adds one to the level, the
//! level drains at `rate` per second, a request goes only while the level stays within the
//! bucket (the client's [`safe_capacity`](super::limiter::safe_capacity) of it). Every process reads
//! the level another left, so together they pace to the plan once instead of once each.
//! A refusal that comes anyway fills the shared bucket and pauses every process for the
//! refused one's backoff: the portal's bucket is full for all of them.
//!
//! Decisions the issue left open:
//! - Time in the file is the wall clock (unix seconds): the only clock processes share.
//! - A process that dies leaves nothing locked: the lock is an advisory lock the OS drops with
//!   its holder. Its entry stays in the file until it expires: at once when its pid is gone on
//!   this host (`/proc/<pid>`, Linux), else [`STALE_AFTER`] after its last use (a process on
//!   another host sharing the directory, or no `/proc`). While other jobs share the portal, a
//!   process waiting on their operating use looks at the file every [`POLL`], which keeps its
//!   entry fresh.
//! - A file that cannot be parsed (a process killed between truncating and writing it) is read
//!   as empty: the bucket starts full of margin, the jobs re-register at their next request.
//! - If the file cannot be opened, locked or written, the process logs it once and paces by
//!   itself (the run does not stop for a coordination file).

use std::collections::{BTreeMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// An entry not touched for this long belongs to a process that is gone.
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// How often a process waiting on a shared figure looks at the file again (and so shows it is
/// alive).
pub const POLL: Duration = Duration::from_secs(1);

/// Request times kept per job for its recent rate.
const RECENT: usize = 32;

/// The recent rate is counted over this span.
const RATE_SPAN: f64 = 15.0;

/// Why the shared state file cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the shared pace file {}: {source}", path.display())]
pub struct SharedPaceError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The file's contents.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct PaceFile {
    /// The portal, `host[:port]`.
    pub portal: String,
    pub bucket: BucketState,
    pub jobs: Vec<JobEntry>,
}

/// The shared leaky bucket: its level at `at`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct BucketState {
    /// Requests in the bucket at `at`.
    pub level: f64,
    /// Unix seconds.
    pub at: f64,
    /// Nobody sends before this (unix seconds): a refusal's backoff.
    pub paused_until: f64,
}

/// One process using the portal.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct JobEntry {
    /// `<pid>-<nonce>`: two handles in one process are two entries.
    pub id: String,
    pub pid: u32,
    pub host: String,
    /// The job's name (`--job`) and journal path.
    pub job: String,
    pub journal: String,
    /// Unix seconds.
    pub started: f64,
    pub last_seen: f64,
    /// Which credential the job uses: a short one-way digest (the portal counts operating time
    /// per credential and method, `docs/portal-protocol.md` §2.2), never the secret.
    pub credential: String,
    /// Requests taken from the bucket so far.
    pub requests: u64,
    /// Unix seconds of the latest requests (at most [`RECENT`]).
    pub recent: VecDeque<f64>,
    /// Operating seconds this job holds per method now (its log in the window + reservations).
    pub operating: BTreeMap<String, f64>,
}

impl JobEntry {
    /// Requests per second over the last [`RATE_SPAN`] seconds.
    pub fn recent_rate(&self, now: f64) -> f64 {
        let n = self.recent.iter().filter(|t| now - **t <= RATE_SPAN).count();
        n as f64 / RATE_SPAN
    }
}

/// This process's handle on a portal's shared pace.
#[derive(Debug)]
pub struct SharedPace {
    path: PathBuf,
    portal: String,
    me: JobEntry,
    /// Serialises this process's own users of the file (the OS lock is per open file).
    local: Mutex<()>,
    warned: AtomicBool,
}

pub fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// This host's name, to tell this host's pids from another's in a shared directory.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// Takes the file's lock, waiting at most [`LOCK_WAIT`]: a holder keeps it for microseconds, so
/// a longer wait means a holder that is stopped (SIGSTOP, a debugger); this process then paces
/// alone for the call rather than block a thread of the run.
fn lock_briefly(file: &File) -> std::io::Result<()> {
    let started = std::time::Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_micros(200));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(std::io::Error::other("another process holds the pace file's lock for too long"));
            }
        }
    }
}

/// The longest a process waits for the pace file's lock.
pub const LOCK_WAIT: Duration = Duration::from_millis(250);

/// Whether the entry belongs to a process that is gone.
fn expired(e: &JobEntry, now: f64, host: &str) -> bool {
    if now - e.last_seen > STALE_AFTER.as_secs_f64() {
        return true;
    }
    let proc = Path::new("/proc");
    e.host == host && proc.join("self").exists() && !proc.join(e.pid.to_string()).exists()
}

/// A one-way digest of a credential's identity (`identity`: a webhook's user and code, an
/// application's client id), 16 hex digits: enough to tell credentials apart, nothing to log in with.
pub fn credential_digest(identity: &str) -> String {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(format!("b24import shared pace\n{identity}").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What a transport needs to join its portal's shared pace: the job's name and journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaceJob {
    pub job: String,
    pub journal: String,
}

/// The shared pace file of the portal `portal` (`host[:port]`).
pub fn pace_path(portal: &str) -> PathBuf {
    crate::host_state::state_dir().join("pace").join(format!("{}.json", crate::host_state::file_safe(portal)))
}

/// Reads the pace file at `path` without locking it (for `status`); `None` when there is none.
pub fn read(path: &Path) -> Option<PaceFile> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut file: PaceFile = serde_json::from_str(&text).unwrap_or_default();
    let (now, host) = (unix_now(), host_name());
    file.jobs.retain(|e| !expired(e, now, &host));
    Some(file)
}

impl SharedPace {
    /// Joins the shared pace of `portal` (`host[:port]`) as job `job` with journal `journal`,
    /// through the file at `path` (normally [`pace_path`]).
    /// `credential` is [`credential_digest`] of the job's credential.
    pub fn open(
        path: PathBuf,
        portal: &str,
        credential: &str,
        job: &str,
        journal: &str,
    ) -> Result<SharedPace, SharedPaceError> {
        let at = path.clone();
        let err = |source| SharedPaceError { path: at.clone(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(err)?;
        let now = unix_now();
        let pid = std::process::id();
        let me = JobEntry {
            id: format!("{pid}-{:08x}", rand::random::<u32>()),
            pid,
            host: host_name(),
            job: job.to_string(),
            journal: journal.to_string(),
            credential: credential.to_string(),
            started: now,
            last_seen: now,
            ..JobEntry::default()
        };
        let pace = SharedPace {
            path,
            portal: portal.to_string(),
            me,
            local: Mutex::new(()),
            warned: AtomicBool::new(false),
        };
        pace.update(|_, _| ()).map_err(err)?;
        Ok(pace)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads, changes and writes the file under its lock. `change` gets the file (expired
    /// entries dropped, this job's entry present and its `last_seen` now) and this job's index.
    fn update<T>(&self, change: impl FnOnce(&mut PaceFile, usize) -> T) -> std::io::Result<T> {
        let _local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&self.path)?;
        lock_briefly(&file)?;
        let out = self.change_locked(&mut file, change);
        let _ = file.unlock();
        out
    }

    fn change_locked<T>(
        &self,
        file: &mut File,
        change: impl FnOnce(&mut PaceFile, usize) -> T,
    ) -> std::io::Result<T> {
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        let mut state: PaceFile = serde_json::from_str(&text).unwrap_or_default();
        state.portal = self.portal.clone();
        let now = unix_now();
        state.jobs.retain(|e| e.id == self.me.id || !expired(e, now, &self.me.host));
        let mine = match state.jobs.iter().position(|e| e.id == self.me.id) {
            Some(i) => i,
            None => {
                state.jobs.push(self.me.clone());
                state.jobs.len() - 1
            }
        };
        state.jobs[mine].last_seen = now;
        let out = change(&mut state, mine);
        let json = serde_json::to_vec(&state).map_err(std::io::Error::other)?;
        file.seek(SeekFrom::Start(0))?;
        file.set_len(0)?;
        file.write_all(&json)?;
        Ok(out)
    }

    /// Logs a failed use of the file once; the process then paces by itself for that call.
    fn failed<T>(&self, result: std::io::Result<T>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        path = %self.path.display(),
                        error = %e,
                        "cannot use the shared pace file; pacing this process alone"
                    );
                }
                None
            }
        }
    }

    /// Takes one request's token from the shared bucket (drained at `rate` per second, holding
    /// at most `capacity`): `Ok` to send now, or how long to wait before asking again.
    pub fn try_take(&self, rate: f64, capacity: f64) -> Result<(), Duration> {
        let taken = self.update(|state, mine| {
            let now = unix_now();
            let b = &mut state.bucket;
            if b.paused_until > now {
                return Err(Duration::from_secs_f64(b.paused_until - now));
            }
            let level = (b.level - (now - b.at).max(0.0) * rate).max(0.0);
            let capacity = capacity.max(1.0);
            if level + 1.0 > capacity + 1e-9 {
                b.level = level;
                b.at = now;
                return Err(Duration::from_secs_f64((level + 1.0 - capacity) / rate.max(1e-3)));
            }
            b.level = level + 1.0;
            b.at = now;
            let me = &mut state.jobs[mine];
            me.requests += 1;
            me.recent.push_back(now);
            while me.recent.len() > RECENT {
                me.recent.pop_front();
            }
            Ok(())
        });
        self.failed(taken).unwrap_or(Ok(()))
    }

    /// A request was refused with `QUERY_LIMIT_EXCEEDED` and this process backs off for
    /// `backoff`: the portal's bucket is full, so every process waits as long.
    pub fn refused(&self, capacity: f64, backoff: Duration) {
        let r = self.update(|state, _| {
            let now = unix_now();
            state.bucket.level = capacity.max(1.0);
            state.bucket.at = now;
            state.bucket.paused_until = state.bucket.paused_until.max(now + backoff.as_secs_f64());
        });
        self.failed(r);
    }

    /// Publishes the operating seconds this job holds per method (`mine`) and returns what the
    /// other jobs of the same credential hold per method (another credential has budgets of
    /// its own).
    pub fn exchange_operating(&self, mine: &[(String, f64)]) -> BTreeMap<String, f64> {
        let r = self.update(|state, me| {
            state.jobs[me].operating = mine.iter().filter(|(_, s)| *s > 0.0).cloned().collect();
            let mut others: BTreeMap<String, f64> = BTreeMap::new();
            let credential = state.jobs[me].credential.clone();
            for (i, e) in state.jobs.iter().enumerate() {
                if i != me && e.credential == credential {
                    for (m, s) in &e.operating {
                        *others.entry(m.clone()).or_default() += s;
                    }
                }
            }
            others
        });
        self.failed(r).unwrap_or_default()
    }
}

impl Drop for SharedPace {
    /// A process that ends normally takes its entry out (a killed one's expires).
    fn drop(&mut self) {
        let id = self.me.id.clone();
        let _ = self.update(|state, _| state.jobs.retain(|e| e.id != id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(dir: &Path, job: &str) -> SharedPace {
        open_as(dir, job, "c1")
    }

    fn open_as(dir: &Path, job: &str, credential: &str) -> SharedPace {
        SharedPace::open(dir.join("pace").join("p.json"), "p.example", credential, job, "j.sqlite")
            .expect("opens")
    }

    #[test]
    fn two_handles_share_one_bucket() {
        let dir = tempfile::tempdir().expect("dir");
        let (a, b) = (open(dir.path(), "a"), open(dir.path(), "b"));
        // A bucket of 4 at 1/s: four requests between the two, then both wait.
        for i in 0..4 {
            let who = if i % 2 == 0 { &a } else { &b };
            assert_eq!(who.try_take(1.0, 4.0), Ok(()), "request {i}");
        }
        let wait = a.try_take(1.0, 4.0).expect_err("full");
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1), "{wait:?}");
        assert!(b.try_take(1.0, 4.0).is_err(), "full for the other as well");
        let file = read(a.path()).expect("file");
        assert_eq!(file.portal, "p.example");
        assert_eq!(file.jobs.iter().map(|j| j.requests).sum::<u64>(), 4);
        assert_eq!(file.jobs.len(), 2);
    }

    #[test]
    fn the_bucket_drains_at_the_rate() {
        let dir = tempfile::tempdir().expect("dir");
        let a = open(dir.path(), "a");
        assert_eq!(a.try_take(20.0, 1.0), Ok(()));
        assert!(a.try_take(20.0, 1.0).is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(a.try_take(20.0, 1.0), Ok(()), "drained after 1/20 s");
    }

    #[test]
    fn a_refusal_pauses_every_process() {
        let dir = tempfile::tempdir().expect("dir");
        let (a, b) = (open(dir.path(), "a"), open(dir.path(), "b"));
        a.refused(10.0, Duration::from_millis(500));
        let wait = b.try_take(100.0, 10.0).expect_err("paused");
        assert!(wait > Duration::from_millis(400), "{wait:?}");
    }

    #[test]
    fn operating_use_of_the_others_is_seen_and_a_closed_handle_leaves() {
        let dir = tempfile::tempdir().expect("dir");
        let (a, b) = (open(dir.path(), "a"), open(dir.path(), "b"));
        assert!(a.exchange_operating(&[("crm.item.add".into(), 3.0)]).is_empty());
        let others = b.exchange_operating(&[("crm.item.add".into(), 1.0)]);
        assert_eq!(others.get("crm.item.add"), Some(&3.0));
        let c = open_as(dir.path(), "c", "c2");
        assert!(c.exchange_operating(&[]).is_empty(), "another credential has budgets of its own");
        drop(a);
        drop(c);
        assert!(b.exchange_operating(&[]).is_empty(), "a's entry left with it");
        assert_eq!(read(b.path()).expect("file").jobs.len(), 1);
    }

    #[test]
    fn entries_of_dead_pids_and_stale_ones_expire_and_a_torn_file_reads_as_empty() {
        let dir = tempfile::tempdir().expect("dir");
        let a = open(dir.path(), "a");
        let host = host_name();
        let now = unix_now();
        let mut state = read(a.path()).expect("file");
        // A pid far above any pid_max on this host, and an entry of another host not seen lately.
        state.jobs.push(JobEntry {
            id: "x".into(),
            pid: u32::MAX - 1,
            host: host.clone(),
            last_seen: now,
            ..Default::default()
        });
        state.jobs.push(JobEntry {
            id: "y".into(),
            pid: 1,
            host: "elsewhere".into(),
            last_seen: now - 600.0,
            ..Default::default()
        });
        state.jobs.push(JobEntry {
            id: "z".into(),
            pid: 1,
            host: "elsewhere".into(),
            last_seen: now,
            ..Default::default()
        });
        std::fs::write(a.path(), serde_json::to_vec(&state).expect("json")).expect("write");
        let ids: Vec<String> = read(a.path()).expect("file").jobs.into_iter().map(|j| j.id).collect();
        assert!(ids.contains(&"z".to_string()) && !ids.contains(&"y".to_string()), "{ids:?}");
        if Path::new("/proc/self").exists() {
            assert!(!ids.contains(&"x".to_string()), "a dead pid on this host expires at once: {ids:?}");
        }
        std::fs::write(a.path(), "{\"portal\": \"p.exa").expect("torn");
        assert_eq!(a.try_take(1.0, 2.0), Ok(()), "a torn file starts afresh");
        assert_eq!(read(a.path()).expect("file").jobs.len(), 1);
    }

    #[tokio::test]
    async fn the_operating_budget_counts_what_the_other_processes_of_the_credential_hold() {
        use crate::transport::batch::TimeInfo;
        use crate::transport::operating::{Operating, OperatingConfig};
        use std::sync::Arc;
        let dir = tempfile::tempdir().expect("dir");
        let cfg = OperatingConfig::new(Duration::from_secs(10), Duration::from_secs(60));
        let joined = |job: &str| Operating::new(cfg).with_shared(Some(Arc::new(open(dir.path(), job))));
        let (a, b) = (joined("a"), joined("b"));
        let spent =
            TimeInfo { operating: None, operating_reset_at: None, duration: None, processing: Some(8.8) };
        a.observe("crm.item.add", Some(&spent), 1);
        // 8.8 s held by a, 0.5 s for b's unmeasured command: above 0.9 x 10 s.
        let wait = b.try_reserve(&[("crm.item.add", 1)]).expect_err("b waits for a's use");
        assert!(wait <= POLL, "and looks again soon: {wait:?}");
        let alone = Operating::new(cfg);
        assert!(alone.try_reserve(&[("crm.item.add", 1)]).is_ok(), "alone it would go");
        assert!(b.try_reserve(&[("user.add", 1)]).is_ok(), "another method has its own budget");
    }
}
