//! A run's logs kept under `log_max`: once `stdout.log` (or `stderr.log`)
//! holds more than half of it, its head is cut off and the last half of the
//! cut part kept in `stdout.log.1` (replacing the one before), so each log
//! takes at most about `log_max` on disk, the most recent bytes.
//!
//! The run writes its logs itself (opened O_APPEND), so sweepd cannot rename
//! them from under it: it cuts them in place. Where the filesystem can
//! (`fallocate(FALLOC_FL_COLLAPSE_RANGE)`: ext4, XFS) whole blocks are taken
//! off the front in one step and nothing the run writes meanwhile is lost.
//! Elsewhere (tmpfs, btrfs, NFS, ZFS) the file is copied and truncated to
//! nothing, and what the run writes in the few milliseconds between the last
//! read and the truncation is lost, as with logrotate's `copytruncate`.
//!
//! `stdout.log` is also where `metrics.jsonl` comes from and is read again
//! after a crash; [`CutRecord`] (`stdout.cut.json`) says how many records of
//! `metrics.jsonl` came from the part cut off.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{FallocateFlags, fallocate};
use serde::{Deserialize, Serialize};

/// `stdout.log` -> `stdout.log.1`: the last part cut off.
pub fn rotated(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Where [`CutRecord`] is kept: `stdout.cut.json` beside `stdout.log`.
pub fn record_file(log: &Path) -> PathBuf {
    log.with_file_name("stdout.cut.json")
}

/// The block size cuts are made in (collapse works on whole blocks).
pub fn block_size(file: &File) -> io::Result<u64> {
    Ok(file.metadata()?.blksize().max(512))
}

/// Take `[0, len)` off the front of `file` (open for writing; `len` a
/// multiple of the block size) in one step. `Ok(false)`: the filesystem cannot; nothing changed.
pub fn collapse(file: &File, len: u64) -> io::Result<bool> {
    let len = i64::try_from(len).map_err(io::Error::other)?;
    match fallocate(file, FallocateFlags::FALLOC_FL_COLLAPSE_RANGE, 0, len) {
        Ok(()) => Ok(true),
        Err(Errno::EOPNOTSUPP | Errno::EINVAL | Errno::ENOSYS | Errno::EPERM) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Empty `log` (the run's further writes start again at its beginning).
pub fn truncate(log: &Path) -> io::Result<()> {
    OpenOptions::new().write(true).open(log)?.set_len(0)
}

/// The rotated file being written; [`Keep::finish`] puts it in place.
pub struct Keep {
    tmp: PathBuf,
    dest: PathBuf,
    file: File,
}

impl Keep {
    /// A new `log.1` holding `log`'s bytes `[from, to)`.
    pub fn copy(log: &Path, from: u64, to: u64) -> io::Result<Keep> {
        let dest = rotated(log);
        let mut name = dest.as_os_str().to_owned();
        name.push(".tmp");
        let tmp = PathBuf::from(name);
        let mut file = File::create(&tmp)?;
        let mut source = File::open(log)?;
        source.seek(SeekFrom::Start(from))?;
        io::copy(&mut source.take(to.saturating_sub(from)), &mut file)?;
        Ok(Keep { tmp, dest, file })
    }

    /// Bytes read from the log after `to`, kept too.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    /// Replace `log.1` (not synced: it is a log, not a record).
    pub fn finish(self) -> io::Result<()> {
        drop(self.file);
        fs::rename(&self.tmp, &self.dest)
    }
}

/// Cut a log no one reads as it grows (`stderr.log`) once it holds more than
/// `cap / 2`: its last part goes to `log.1`, and it starts again nearly empty.
/// `collapsible` starts true and turns false once the filesystem has said it
/// cannot collapse (so that the copy is not made twice each time).
pub fn cap_plain(log: &Path, cap: u64, collapsible: &mut bool) -> io::Result<()> {
    let half = cap / 2;
    let file = match OpenOptions::new().read(true).write(true).open(log) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let size = file.metadata()?.len();
    if size <= half {
        return Ok(());
    }
    let block = block_size(&file)?;
    let cut = size / block * block;
    if cut > 0 && *collapsible {
        let keep = Keep::copy(log, cut.saturating_sub(half), cut)?;
        if collapse(&file, cut)? {
            return keep.finish();
        }
        *collapsible = false;
    }
    // Copy to the end, then truncate at once.
    let mut keep = Keep::copy(log, size.saturating_sub(half), size)?;
    let mut at = size;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = file.read_at(&mut chunk, at)?;
        if n == 0 {
            break;
        }
        keep.append(&chunk[..n])?;
        at += n as u64;
    }
    file.set_len(0)?;
    keep.finish()
}

/// What a cut of `stdout.log` left: `records` of `metrics.jsonl` came from
/// lines that began before `stdout.log` now begins (they are not read from it
/// again after a restart); with `mid_line`, it begins within a line, which is
/// log. Written just before the cut; `size_before`, `probe_at` and `probe`
/// tell a restarted sweepd whether the cut was then made: had it not been,
/// the file is still at least `size_before` long and holds `probe` at
/// `probe_at` (a log is only ever appended to), and `before` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutRecord {
    pub version: u32,
    pub records: u64,
    pub mid_line: bool,
    pub size_before: u64,
    pub probe_at: u64,
    /// Up to 64 bytes, as hex.
    pub probe: String,
    pub before: Option<Cut>,
}

/// Where `stdout.log` begins, in records of `metrics.jsonl`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cut {
    pub records: u64,
    pub mid_line: bool,
}

/// How long a probe is.
pub const PROBE: u64 = 64;

impl CutRecord {
    /// The cut now in force for `log`: the last one recorded if it was made,
    /// else the one before it; none before any cut.
    pub fn current(log: &Path) -> io::Result<Cut> {
        let record: CutRecord = match fs::read(record_file(log)) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: {e}", record_file(log).display()),
                )
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Cut::default()),
            Err(e) => return Err(e),
        };
        let made = match File::open(log) {
            Ok(file) => {
                let size = file.metadata()?.len();
                let mut found = vec![0u8; record.probe.len() / 2];
                let read = file.read_at(&mut found, record.probe_at)?;
                size < record.size_before || hex(&found[..read]) != record.probe
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => true,
            Err(e) => return Err(e),
        };
        Ok(if made {
            Cut {
                records: record.records,
                mid_line: record.mid_line,
            }
        } else {
            record.before.unwrap_or_default()
        })
    }

    /// The record of a cut about to be made, `now` being the one in force.
    pub fn write(
        log: &Path,
        cut: Cut,
        now: Cut,
        size_before: u64,
        probe: (u64, &[u8]),
    ) -> io::Result<()> {
        let record = CutRecord {
            version: 1,
            records: cut.records,
            mid_line: cut.mid_line,
            size_before,
            probe_at: probe.0,
            probe: hex(probe.1),
            before: Some(now),
        };
        crate::store::atomic::write_json(&record_file(log), &record)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder on tmpfs, where collapsing is not supported, if there is one.
    fn tmpfs_dir() -> Option<tempfile::TempDir> {
        let dir = tempfile::tempdir_in("/dev/shm").ok()?;
        let file = File::create(dir.path().join("probe")).ok()?;
        file.set_len(64 * 1024).ok()?;
        (!collapse(&file, block_size(&file).ok()?).ok()?).then_some(dir)
    }

    fn write_log(path: &Path, lines: std::ops::Range<u32>) -> File {
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for i in lines {
            writeln!(file, "line {i:06}").unwrap();
        }
        file
    }

    fn check_plain(dir: &Path) {
        let log = dir.join("stderr.log");
        let mut writer = write_log(&log, 0..20_000); // 240,000 bytes
        cap_plain(&log, 64 * 1024, &mut true).unwrap();
        let kept = fs::read_to_string(rotated(&log)).unwrap();
        let now = fs::read_to_string(&log).unwrap();
        assert!(kept.len() <= 32 * 1024, "{}", kept.len());
        assert!(now.len() < 8 * 1024, "{}", now.len());
        // The writer goes on where the file now ends; nothing between is lost.
        writeln!(writer, "line after").unwrap();
        let both = kept + &fs::read_to_string(&log).unwrap();
        assert!(
            both.ends_with("line 019999\nline after\n"),
            "{}",
            &both[both.len() - 40..]
        );
        let numbers: Vec<u32> = both
            .lines()
            .filter_map(|l| l.strip_prefix("line ")?.parse().ok())
            .collect();
        assert!(
            numbers.windows(2).all(|w| w[1] == w[0] + 1),
            "no gap, no repeat"
        );
        // Under half the cap: left alone.
        let before = fs::read(&log).unwrap();
        cap_plain(&log, 64 * 1024, &mut true).unwrap();
        assert_eq!(fs::read(&log).unwrap(), before);
    }

    #[test]
    fn a_plain_log_keeps_its_last_half_cap_here() {
        let dir = tempfile::tempdir().unwrap();
        check_plain(dir.path());
    }

    #[test]
    fn a_plain_log_keeps_its_last_half_cap_on_tmpfs_too() {
        if let Some(dir) = tmpfs_dir() {
            check_plain(dir.path());
        }
    }

    #[test]
    fn a_cut_not_made_is_told_from_one_made() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stdout.log");
        assert_eq!(CutRecord::current(&log).unwrap(), Cut::default());
        let _writer = write_log(&log, 0..1000); // 12,000 bytes
        let bytes = fs::read(&log).unwrap();
        let cut = Cut {
            records: 7,
            mid_line: true,
        };
        let now = Cut {
            records: 3,
            mid_line: false,
        };
        CutRecord::write(&log, cut, now, 12_000, (4096, &bytes[4096..4160])).unwrap();
        assert_eq!(
            CutRecord::current(&log).unwrap(),
            now,
            "not made: what held before"
        );
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log)
            .unwrap();
        let made = collapse(&file, 4096).unwrap();
        if !made {
            truncate(&log).unwrap();
        }
        assert_eq!(
            CutRecord::current(&log).unwrap(),
            cut,
            "made (collapse: {made})"
        );
    }
}
