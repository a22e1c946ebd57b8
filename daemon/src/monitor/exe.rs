//! Which program a run's monitor is: `sweepd-monitor`, a small program
//! installed beside sweepd (a few hundred KiB of its own in memory, where
//! the whole daemon binary would map ten MiB), or where it is not
//! installed, this sweepd itself (`sweepd __monitor`).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The monitor's file name beside sweepd.
pub const NAME: &str = "sweepd-monitor";

/// The program runs' monitors are started with.
#[derive(Debug, Clone)]
pub struct Exe {
    path: PathBuf,
    /// Held open for sweepd's life, when the path goes through it.
    _pinned: Option<Arc<File>>,
}

impl Exe {
    /// `sweepd-monitor` beside this sweepd, opened now and started through
    /// `/proc/self/fd/N`, so that an upgrade that replaces the file later
    /// does not give this sweepd's runs a monitor of another version. Where
    /// there is none, this sweepd itself, as `/proc/self/exe` (which still
    /// works once an upgrade has replaced sweepd's file).
    pub fn find() -> Exe {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join(NAME)));
        match beside.and_then(|path| File::open(path).ok()) {
            Some(file) => Exe {
                path: PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd())),
                _pinned: Some(Arc::new(file)),
            },
            None => Exe::at(PathBuf::from("/proc/self/exe")),
        }
    }

    /// This program (a test's choice).
    pub fn at(path: PathBuf) -> Exe {
        Exe {
            path,
            _pinned: None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
