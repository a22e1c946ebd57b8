//! A run's log as its readers find it once sweepd has capped it
//! (`log_max`): the head is a hole (its blocks freed, its offsets kept, so
//! reading it gives zeros) and the kept data begins after it. For
//! `stdout.log`, [`CutPoint`] (`stdout.cut.json`) says where its reading
//! resumes and how many records of `metrics.jsonl` came from before there.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::{Whence, lseek};
use serde::{Deserialize, Serialize};

/// The first byte of data at or after `from`, past any hole; None: there is
/// no data there (the file ends, or a hole runs to its end).
pub fn next_data(file: &File, from: u64) -> io::Result<Option<u64>> {
    let offset = i64::try_from(from).map_err(io::Error::other)?;
    match lseek(file, offset, Whence::SeekData) {
        Ok(at) => Ok(Some(at as u64)),
        Err(Errno::ENXIO) => Ok(None),
        // A filesystem that cannot tell holes: all of it is data.
        Err(Errno::EINVAL | Errno::EOPNOTSUPP) => {
            Ok((from < file.metadata()?.len()).then_some(from))
        }
        Err(e) => Err(e.into()),
    }
}

/// Where reading `stdout.log` resumes, written (durably) by the reader
/// before it punches the log's head, once every record from before
/// `resume_at` is durably in `metrics.jsonl`. It holds whether or not the
/// punch was then made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutPoint {
    pub version: u32,
    /// An offset the reader had reached: the start of a line, or with
    /// `in_line`, a point within a line too long to be a record.
    pub resume_at: u64,
    /// The records of `metrics.jsonl` that came from before `resume_at`.
    pub records_before: u64,
    pub in_line: bool,
    /// Where the hole ends, when a line begins exactly there (else the
    /// kept part begins within a line, and people are shown it from the
    /// next line on).
    pub lines_from: Option<u64>,
}

impl CutPoint {
    pub const VERSION: u32 = 2;

    /// `stdout.cut.json`, beside `stdout.log`.
    pub fn file(log: &Path) -> PathBuf {
        log.with_file_name("stdout.cut.json")
    }

    /// The last one written for `log`; None before any cut.
    pub fn read(log: &Path) -> io::Result<Option<CutPoint>> {
        let path = Self::file(log);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let invalid = |what: String| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {what}", path.display()),
            )
        };
        let point: CutPoint = serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if point.version != Self::VERSION {
            return Err(invalid(format!("version {} is not known", point.version)));
        }
        Ok(Some(point))
    }

    /// Replace the one for `log`, atomically and durably.
    pub fn write(&self, log: &Path) -> io::Result<()> {
        super::atomic::write_json(&Self::file(log), self)
    }

    /// Whether `stdout.log`'s data, beginning at `data`, begins with a whole
    /// line (else people are shown it from after its first newline).
    pub fn starts_line(point: Option<&CutPoint>, data: u64) -> bool {
        data == 0 || point.is_some_and(|p| p.lines_from == Some(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::{FallocateFlags, fallocate};
    use std::fs::OpenOptions;
    use std::io::Write;

    fn check_holes(dir: &Path) {
        let path = dir.join("stdout.log");
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .unwrap();
        assert_eq!(next_data(&file, 0).unwrap(), None, "empty");
        file.write_all(&vec![b'a'; 3 * 4096]).unwrap();
        assert_eq!(next_data(&file, 0).unwrap(), Some(0));
        assert_eq!(next_data(&file, 100).unwrap(), Some(100));
        assert_eq!(next_data(&file, 3 * 4096).unwrap(), None, "at the end");
        let punch = FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE;
        fallocate(&file, punch, 0, 2 * 4096).unwrap();
        assert_eq!(next_data(&file, 0).unwrap(), Some(2 * 4096));
        assert_eq!(file.metadata().unwrap().len(), 3 * 4096, "offsets kept");
        fallocate(&file, punch, 2 * 4096, 4096).unwrap();
        assert_eq!(next_data(&file, 0).unwrap(), None, "a hole to the end");
    }

    #[test]
    fn the_data_after_a_hole_is_found_here() {
        check_holes(tempfile::tempdir().unwrap().path());
    }

    #[test]
    fn the_data_after_a_hole_is_found_on_tmpfs() {
        check_holes(tempfile::tempdir_in("/dev/shm").unwrap().path());
    }

    #[test]
    fn a_cut_point_is_read_back_and_a_stranger_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stdout.log");
        assert_eq!(CutPoint::read(&log).unwrap(), None);
        let point = CutPoint {
            version: CutPoint::VERSION,
            resume_at: 9000,
            records_before: 12,
            in_line: false,
            lines_from: Some(8192),
        };
        point.write(&log).unwrap();
        assert_eq!(CutPoint::read(&log).unwrap(), Some(point.clone()));
        assert!(CutPoint::starts_line(Some(&point), 8192));
        assert!(!CutPoint::starts_line(Some(&point), 4096));
        assert!(CutPoint::starts_line(None, 0));
        fs::write(CutPoint::file(&log), r#"{"version": 1, "records": 3}"#).unwrap();
        let error = CutPoint::read(&log).unwrap_err().to_string();
        assert!(error.contains("stdout.cut.json"), "{error}");
    }
}
