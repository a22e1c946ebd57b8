//! A sweeps home (`~/.sweeps` by default, `SWEEPS_HOME` to choose another):
//! its folders, and the locks that let one daemon own it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::atomic;
use super::ids::SweepId;
use super::sweep_dir::SweepDir;

/// The environment variable that overrides the home.
pub const HOME_VAR: &str = "SWEEPS_HOME";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// `$SWEEPS_HOME`, else `~/.sweeps` (the home directory as the
    /// `directories` crate finds it: `$HOME`, else the password database).
    pub fn from_env() -> io::Result<Self> {
        if let Some(root) = std::env::var_os(HOME_VAR).filter(|v| !v.is_empty()) {
            return Ok(Self::new(root));
        }
        let base = directories::BaseDirs::new().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                "no home directory: set SWEEPS_HOME",
            )
        })?;
        Ok(Self::new(base.home_dir().join(".sweeps")))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where users drop sweep files.
    pub fn inbox(&self) -> PathBuf {
        self.root.join("inbox")
    }

    /// Files claimed from the inbox, being checked (the daemon's own).
    pub fn spool(&self) -> PathBuf {
        self.root.join("spool")
    }

    /// Refused files, each with a `.error.txt` beside it.
    pub fn rejected(&self) -> PathBuf {
        self.root.join("rejected")
    }

    /// One folder per accepted sweep.
    pub fn sweeps(&self) -> PathBuf {
        self.root.join("sweeps")
    }

    /// Every sweep in the home, oldest first (ids sort by time). Folders
    /// that are not sweep ids (a half-built `.tmp-...`) are left out.
    pub fn sweep_ids(&self) -> io::Result<Vec<SweepId>> {
        let mut ids: Vec<SweepId> = match fs::read_dir(self.sweeps()) {
            Ok(entries) => entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        ids.sort();
        Ok(ids)
    }

    /// A sweep named by its id or any unique part of it (`macd`,
    /// `tut-macd`); else why none (no match, or several).
    pub fn find_sweep(&self, wanted: &str) -> Result<SweepId, String> {
        let ids = self
            .sweep_ids()
            .map_err(|e| format!("cannot read {}: {e}", self.sweeps().display()))?;
        if let Some(id) = ids.iter().find(|id| id.as_str() == wanted) {
            return Ok(id.clone());
        }
        let matching: Vec<&str> = ids
            .iter()
            .map(SweepId::as_str)
            .filter(|id| id.contains(wanted))
            .collect();
        match matching.as_slice() {
            [one] => Ok(one.parse().expect("listed ids parse")),
            [] => Err(format!(
                "no sweep matches {wanted:?} in {}",
                self.root.display()
            )),
            many => Err(format!(
                "{wanted:?} matches {} sweeps: {}",
                many.len(),
                many.join(", ")
            )),
        }
    }

    pub fn sweep(&self, id: &SweepId) -> SweepDir {
        SweepDir::new(self.sweeps().join(id.as_str()))
    }

    pub fn lock_file(&self) -> PathBuf {
        self.root.join("sweepd.lock")
    }

    /// The GPUs as the running daemon last saw them, and which runs hold them.
    pub fn gpus_file(&self) -> PathBuf {
        self.root.join("gpus.json")
    }

    /// The running daemon's settings and where each came from.
    pub fn settings_file(&self) -> PathBuf {
        self.root.join("settings.json")
    }

    pub fn socket(&self) -> PathBuf {
        self.root.join("sweepd.sock")
    }

    /// Create the home (mode 0700: only its owner may look in; set on an
    /// existing home too) and its folders.
    pub fn create(&self) -> io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)?;
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700))?;
        for dir in [self.inbox(), self.spool(), self.rejected(), self.sweeps()] {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        Ok(())
    }

    /// Take the home for this process, or say who holds it.
    ///
    /// The exclusion is an `flock` on the home folder itself: unlike
    /// `sweepd.lock`, a folder with files in it cannot be deleted out from
    /// under its lock, so removing the pid file (taking it for a stale one)
    /// does not let a second daemon in. `sweepd.lock` is still taken and
    /// written, for the pid it shows and because it is the lock a network
    /// filesystem carries between hosts; where the filesystem cannot lock a
    /// folder (NFSv4 without `local_lock`: an exclusive lock needs a handle
    /// open for writing) it is the only one.
    pub fn lock(&self) -> Result<HomeLock, LockError> {
        let folder = self.lock_folder()?;
        let path = self.lock_file();
        let io_error = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
            .open(&path)
            .map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(LockError::Held {
                    home: self.root.clone(),
                    holder: holder.trim().to_owned(),
                });
            }
            Err(fs::TryLockError::Error(source)) => return Err(io_error(source)),
        }
        let holder = serde_json::json!({
            "pid": std::process::id(),
            "host": hostname(),
            "started": super::records::now(),
        });
        let write = (|| {
            file.set_len(0)?;
            file.rewind()?;
            writeln!(file, "{holder}")?;
            file.sync_data()?;
            file.set_permissions(fs::Permissions::from_mode(0o600))
        })();
        write.map_err(io_error)?;
        let _ = atomic::sync_dir(&self.root);
        Ok(HomeLock {
            _folder: folder,
            _file: file,
        })
    }

    /// The `flock` on the home folder; `None` where its filesystem cannot
    /// lock a folder. Held by another: who, from its pid file or, that one
    /// deleted, from the kernel's list of locks.
    fn lock_folder(&self) -> Result<Option<Flock<File>>, LockError> {
        let folder = OpenOptions::new()
            .read(true)
            .custom_flags(nix::fcntl::OFlag::O_DIRECTORY.bits())
            .open(&self.root)
            .map_err(|source| LockError::Io {
                path: self.root.clone(),
                source,
            })?;
        let ino = folder.metadata().map(|m| (m.dev(), m.ino())).ok();
        match Flock::lock(folder, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(lock)),
            Err((_, Errno::EWOULDBLOCK)) => {
                let holder = match fs::read_to_string(self.lock_file()) {
                    Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
                    _ => {
                        let pid = ino.and_then(|(dev, ino)| folder_lock_holder(dev, ino));
                        let pid =
                            pid.map_or_else(|| "pid unknown".to_owned(), |p| format!("pid {p}"));
                        format!("{pid}; its {} was deleted", self.lock_file().display())
                    }
                };
                Err(LockError::Held {
                    home: self.root.clone(),
                    holder,
                })
            }
            Err((_, errno)) => {
                tracing::warn!(
                    home = %self.root.display(),
                    error = %errno,
                    "this filesystem cannot lock the home folder: only sweepd.lock keeps a second daemon out, so do not delete it while sweepd runs"
                );
                Ok(None)
            }
        }
    }
}

/// The pid holding an `flock` on the inode `ino` of device `dev`, as
/// /proc/locks lists it (`1: FLOCK  ADVISORY  WRITE 4242 00:2d:1234 0 EOF`).
fn folder_lock_holder(dev: u64, ino: u64) -> Option<u32> {
    let target = format!(
        "{:02x}:{:02x}:{ino}",
        nix::sys::stat::major(dev),
        nix::sys::stat::minor(dev)
    );
    let locks = fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let at = fields.iter().position(|f| *f == target)?;
        (fields.get(1) == Some(&"FLOCK") && at > 0)
            .then(|| fields[at - 1].parse().ok())
            .flatten()
    })
}

/// Held while the daemon runs; the locks go with the process, even on kill -9.
#[derive(Debug)]
pub struct HomeLock {
    _folder: Option<Flock<File>>,
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another sweepd already runs on this home ({}): {holder}", home.display())]
    Held { home: PathBuf, holder: String },
    #[error("cannot lock {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_the_second_learns_who() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        home.create().unwrap();
        let mode = fs::metadata(home.root()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let held = home.lock().unwrap();
        match home.lock() {
            Err(LockError::Held { holder, .. }) => {
                assert!(
                    holder.contains(&format!("\"pid\":{}", std::process::id())),
                    "{holder}"
                )
            }
            other => panic!("expected Held, got {other:?}"),
        }
        drop(held);
        home.lock().expect("free again once dropped");
    }

    #[test]
    fn deleting_the_pid_file_does_not_let_a_second_holder_in() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        home.create().unwrap();
        let held = home.lock().unwrap();
        fs::remove_file(home.lock_file()).unwrap();
        match home.lock() {
            Err(e @ LockError::Held { .. }) => {
                let message = e.to_string();
                assert!(
                    message.contains(&home.root().display().to_string()),
                    "{message}"
                );
                assert!(
                    message.contains(&format!("pid {}; its ", std::process::id()))
                        && message.contains("sweepd.lock was deleted"),
                    "{message}"
                );
            }
            other => panic!("expected Held, got {other:?}"),
        }
        assert!(!home.lock_file().exists(), "the refused one wrote nothing");
        drop(held);
        home.lock().expect("free again once dropped");
    }
}
