//! Free space on the filesystem that holds the home. A full disk is a state
//! of the machine, not a fault of a run: sweepd starts nothing while it
//! lasts, says so, and takes up again when space returns.

use std::io;
use std::path::Path;

use nix::errno::Errno;

/// Below this much free space no run starts: a run needs room for its
/// folder, its records and its output.
pub const LOW: u64 = 1 << 20;

/// Space counts as back once this much is free again (a margin above `LOW`,
/// so that one run's first lines do not make sweepd go back and forth).
pub const BACK: u64 = 2 * LOW;

/// Whether a failed write failed for want of space (or of quota).
pub fn is_no_space(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error().map(Errno::from_raw),
        Some(Errno::ENOSPC | Errno::EDQUOT)
    )
}

/// Bytes an unprivileged writer may still use where `path` is.
// The counts are u64 on 64-bit Linux and narrower elsewhere.
#[allow(clippy::useless_conversion)]
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    let stat = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    Ok(u64::from(stat.blocks_available()).saturating_mul(u64::from(stat.fragment_size())))
}

/// How the space at `path` stands, for people: `None` when there is room.
pub fn shortage(path: &Path) -> Option<String> {
    let free = free_bytes(path).ok()?;
    (free < LOW).then(|| {
        format!(
            "the disk holding {} is full ({} KiB free): sweepd starts no run until space returns",
            path.display(),
            free / 1024
        )
    })
}

/// Why no run starts, in a sweep's `waiting` (no changing figures in it:
/// it is written once per episode). `free` tells a full disk from a quota
/// (or inodes) used up, which statvfs does not show as a lack of bytes.
pub fn no_space_message(path: &Path, free: u64) -> String {
    if free < LOW {
        format!(
            "the disk holding {} is full: no run starts until space returns",
            path.display()
        )
    } else {
        format!(
            "writes to the disk holding {} fail for want of space (a quota or inodes used up?): \
             no run starts until they work again",
            path.display()
        )
    }
}

/// Write, sync and remove a small file in `dir`: statvfs alone can say
/// "free" where a quota, inodes or reserved blocks say otherwise.
pub fn write_probe(dir: &Path) -> io::Result<()> {
    let probe = dir.join(".space-probe");
    let written = super::atomic::write(&probe, &[0u8; 4096]);
    let _ = std::fs::remove_file(&probe);
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_space_and_quota_are_told_from_other_errors() {
        assert!(is_no_space(&io::Error::from_raw_os_error(
            Errno::ENOSPC as i32
        )));
        assert!(is_no_space(&io::Error::from_raw_os_error(
            Errno::EDQUOT as i32
        )));
        assert!(!is_no_space(&io::Error::from_raw_os_error(
            Errno::EACCES as i32
        )));
        assert!(!is_no_space(&io::Error::other("no space left")));
    }

    #[test]
    fn a_roomy_folder_has_free_space_and_can_be_written() {
        let dir = tempfile::tempdir().unwrap();
        assert!(free_bytes(dir.path()).unwrap() > 0);
        write_probe(dir.path()).unwrap();
        assert!(!dir.path().join(".space-probe").exists());
    }
}
