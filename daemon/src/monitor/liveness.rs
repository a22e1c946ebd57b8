//! Whether a run's monitor lives, known without trusting a pid: the
//! monitor holds `monitor.json` locked (flock) for as long as it lives, and
//! the kernel lets go of the lock when it exits, however it dies.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use rustix::fs::{FlockOperation, flock};

use crate::store::atomic::sync_dir;
use crate::store::monitor::MonitorRecord;

/// Write `record` to `path` atomically (a temp file, locked before it is
/// renamed into place) and return the locked file, to hold.
pub fn write_locked(path: &Path, record: &MonitorRecord) -> io::Result<File> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".monitor.json.tmp-{}", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        flock(&file, FlockOperation::NonBlockingLockExclusive)?;
        let mut bytes = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        bytes.push(b'\n');
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)?;
        Ok(file)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// What a look at a run's `monitor.json` finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Its monitor holds it: the run goes on.
    Alive,
    /// Nobody holds it: the monitor has exited (or was killed).
    Gone,
    /// There is no `monitor.json`: no monitor ever started the run.
    None,
}

/// Whether the monitor that wrote `path` lives.
pub fn alive(path: &Path) -> io::Result<Liveness> {
    let file = match OpenOptions::new().read(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Liveness::None),
        Err(e) => return Err(e),
    };
    match flock(&file, FlockOperation::NonBlockingLockShared) {
        // Closing the file lets go of the shared lock taken here.
        Ok(()) => Ok(Liveness::Gone),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(Liveness::Alive),
        Err(e) => Err(e.into()),
    }
}
