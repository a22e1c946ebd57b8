//! A run's log (`stdout.log`, `stderr.log`) held under `log_max`: once it
//! holds more than that, its head is punched out
//! (`fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)`), its blocks
//! freed but every offset kept, so nothing moves under the run, which writes
//! the log itself (O_APPEND), nor under sweepd's reader. The most recent half
//! `log_max` at least stays. Readers skip the hole
//! ([`capped_log`](crate::store::capped_log)); what may go is the caller's
//! to say (the ingest lets only what it has read go).
//!
//! A filesystem that cannot punch holes (EOPNOTSUPP) leaves the log whole:
//! that is warned of once and the log is no longer capped. Another error is
//! warned of, and the punch tried again a minute later.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FallocateFlags, fallocate};

use crate::store::capped_log::next_data;

/// After an error, how long the log is left as it is.
const RETRY_AFTER: Duration = Duration::from_secs(60);

pub struct LogCap {
    path: PathBuf,
    /// The log, open for writing (punching needs it).
    file: File,
    cap: u64,
    /// Holes are punched in whole blocks (a part block would only be zeroed).
    block: u64,
    /// Where the log's data begins: all before it is a hole.
    punched_to: u64,
    state: State,
}

enum State {
    Ready,
    /// An error: not again before then.
    Resting(Instant),
    /// The filesystem cannot punch holes.
    Off,
}

impl LogCap {
    /// Hold the log at `path` (it exists) under `cap` bytes.
    pub fn open(path: &Path, cap: u64) -> io::Result<Self> {
        let file = OpenOptions::new().write(true).open(path)?;
        let meta = file.metadata()?;
        let block = meta.blksize().max(4096);
        let data = next_data(&file, 0)?.unwrap_or(meta.len());
        Ok(Self {
            path: path.to_owned(),
            file,
            cap,
            block,
            punched_to: data / block * block,
            state: State::Ready,
        })
    }

    /// Where to punch up to now, if anywhere: once the log holds more than
    /// the cap, the last block boundary at or before both `limit` (what may
    /// go) and the start of its last half cap. Small punches wait (a reader
    /// that lags would otherwise punch at every read).
    pub fn due(&mut self, limit: u64) -> Option<u64> {
        match self.state {
            State::Off => return None,
            State::Resting(until) if Instant::now() < until => return None,
            _ => {}
        }
        let size = match self.file.metadata() {
            Ok(meta) => meta.len(),
            Err(e) => {
                self.failed("cannot look at the log's size", &e);
                return None;
            }
        };
        if size.saturating_sub(self.punched_to) <= self.cap {
            return None;
        }
        let end = limit.min(size - self.cap / 2) / self.block * self.block;
        (end >= self.punched_to + (self.cap / 4).max(self.block)).then_some(end)
    }

    /// Punch out the head up to `end` (from [`due`](Self::due)).
    pub fn punch(&mut self, end: u64) {
        let flags = FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
        // A file's offsets fit in off_t.
        let (from, len) = (self.punched_to as i64, (end - self.punched_to) as i64);
        match fallocate(&self.file, flags, from, len) {
            Ok(()) => {
                self.punched_to = end;
                self.state = State::Ready;
            }
            Err(Errno::EOPNOTSUPP | Errno::ENOSYS) => {
                tracing::warn!(
                    log = %self.path.display(),
                    "the filesystem cannot punch holes in files: this log of the run is not held under log_max"
                );
                self.state = State::Off;
            }
            Err(e) => self.failed("cannot punch out the log's head", &e.into()),
        }
    }

    /// For a log that no one reads as it grows (`stderr.log`): punch what is due.
    pub fn trim(&mut self) {
        if let Some(end) = self.due(u64::MAX) {
            self.punch(end);
        }
    }

    /// What the punch needs failed: warned of, and tried again later.
    pub fn failed(&mut self, what: &str, error: &io::Error) {
        tracing::warn!(
            log = %self.path.display(),
            error = %error,
            "{what} (log_max); trying again in a minute"
        );
        self.state = State::Resting(Instant::now() + RETRY_AFTER);
    }

    #[cfg(test)]
    pub fn punched_to(&self) -> u64 {
        self.punched_to
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::io::Write;

    /// A temp dir in the normal temp folder, and one on tmpfs.
    pub fn dirs() -> Vec<tempfile::TempDir> {
        let mut dirs = vec![tempfile::tempdir().unwrap()];
        dirs.extend(tempfile::tempdir_in("/dev/shm").ok());
        dirs
    }

    /// Disk blocks the file holds, in bytes.
    pub fn allocated(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().blocks() * 512
    }

    #[test]
    fn a_plain_log_keeps_its_tail_and_every_offset() {
        for dir in dirs() {
            let log = dir.path().join("stderr.log");
            let mut writer = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .unwrap();
            let cap = 64 * 1024;
            let mut held = LogCap::open(&log, cap).unwrap();
            for i in 0..40_000 {
                writeln!(writer, "line {i:06}").unwrap(); // 12 bytes each
                if i % 1000 == 999 {
                    held.trim();
                    assert!(allocated(&log) <= cap + 4096, "{}", allocated(&log));
                }
            }
            let bytes = std::fs::read(&log).unwrap();
            assert_eq!(bytes.len(), 480_000, "the size stays: nothing moved");
            let data = held.punched_to() as usize;
            assert!(data > 0 && bytes[..data].iter().all(|&b| b == 0), "a hole");
            assert!(480_000 - data >= cap as usize / 2, "half the cap at least");
            // The writer went on where it was; the kept part is whole.
            let kept = String::from_utf8_lossy(&bytes[data..]).into_owned();
            let numbers: Vec<u32> = kept
                .lines()
                .skip(1) // it begins within a line
                .map(|l| l.strip_prefix("line ").unwrap().parse().unwrap())
                .collect();
            assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1));
            assert_eq!(numbers.last(), Some(&39_999));
            // A new cap on the same log finds where its data begins.
            assert_eq!(
                LogCap::open(&log, cap).unwrap().punched_to(),
                held.punched_to()
            );
        }
    }

    #[test]
    fn nothing_is_punched_under_the_cap_or_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stdout.log");
        std::fs::write(&log, vec![b'x'; 100_000]).unwrap();
        let mut held = LogCap::open(&log, 200_000).unwrap();
        assert_eq!(held.due(u64::MAX), None, "under the cap");
        let mut held = LogCap::open(&log, 64 * 1024).unwrap();
        assert_eq!(held.due(u64::MAX), Some(65_536), "down to half the cap");
        assert_eq!(held.due(50_000), Some(49_152), "not past the limit");
        assert_eq!(held.due(10_000), None, "too small a punch waits");
    }
}
