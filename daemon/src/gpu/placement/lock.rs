//! The cross-user GPU lock files, `<folder>/gpu-<uuid>.lock`, taken so that
//! whoever else can write the folder cannot turn them against us: the folder
//! must be a real folder that only root or this user controls (sticky, or
//! writable by nobody else), a lock file is opened without following links
//! and must be a plain file with one name, and only a file this sweepd has
//! just created gets its mode set. A GPU whose lock fails these checks is not
//! used, and the reason says why.

use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;
use rustix::fs::{FlockOperation, flock};

/// Why a GPU's lock was not taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Another sweepd holds it: the GPU is in use.
    Held(String),
    /// Taking it could harm someone (a planted link, a folder others
    /// control): the GPU is not used until this is put right.
    Unsafe(String),
    /// It could not be taken (permissions, I/O).
    Failed(String),
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::Held(path) => write!(f, "locked by another sweepd ({path})"),
            Refused::Unsafe(why) => write!(f, "unsafe to lock, not used: {why}"),
            Refused::Failed(why) => f.write_str(why),
        }
    }
}

/// Take `gpu-<uuid>.lock` in `dir` without waiting. The folder is created
/// (mode 1777, so that every user's sweepd can make locks in it) when absent.
/// The lock lasts while any descriptor of the returned file is open: the
/// file is never unlocked, only closed, so that the run's monitor, given a
/// descriptor of it, holds the lock after sweepd has closed its own.
pub fn lock(dir: &Path, uuid: &str) -> Result<File, Refused> {
    let folder = open_folder(dir)?;
    let name = format!("gpu-{uuid}.lock");
    let path = dir.join(&name);
    let file = open_lock_file(&folder, &path, &name)?;
    match flock(&file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(Refused::Held(path.display().to_string())),
        Err(other) => Err(Refused::Failed(format!(
            "cannot lock {}: {other}",
            path.display()
        ))),
    }
}

/// The lock folder, opened without following a link and checked.
fn open_folder(dir: &Path) -> Result<File, Refused> {
    let folder = match open_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create_folder(dir)?;
            open_dir(dir)
        }
        other => other,
    };
    let folder = folder.map_err(|e| match e.raw_os_error().map(Errno::from_raw) {
        Some(Errno::ELOOP | Errno::ENOTDIR) => Refused::Unsafe(format!(
            "the lock folder {} is not a real folder ({})",
            dir.display(),
            what_is(dir)
        )),
        _ => Refused::Failed(format!(
            "cannot open the lock folder {}: {e}",
            dir.display()
        )),
    })?;
    let meta = folder.metadata().map_err(|e| {
        Refused::Failed(format!(
            "cannot look at the lock folder {}: {e}",
            dir.display()
        ))
    })?;
    folder_verdict(meta.uid(), meta.mode(), nix::unistd::geteuid().as_raw())
        .map_err(|why| Refused::Unsafe(format!("the lock folder {} {why}", dir.display())))?;
    Ok(folder)
}

/// The folder as `open_folder` would judge it, creating nothing.
pub fn check_folder(dir: &Path) -> Result<String, String> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Made with its missing parents: the nearest folder there is
            // must let us.
            let nearest = dir
                .ancestors()
                .skip(1)
                .map(|p| {
                    if p.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        p
                    }
                })
                .find(|p| p.exists())
                .unwrap_or(Path::new("/"));
            let access = nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK;
            if nix::unistd::access(nearest, access).is_ok() {
                Ok(format!("{} will be made at the first lease", dir.display()))
            } else {
                Err(format!(
                    "{} does not exist and cannot be made: {} is not writable",
                    dir.display(),
                    nearest.display()
                ))
            }
        }
        Err(e) => Err(format!("cannot look at {}: {e}", dir.display())),
        Ok(_) => match open_folder(dir) {
            Ok(_) => Ok(format!("{} is safe to lock in", dir.display())),
            Err(why) => Err(why.to_string()),
        },
    }
}

fn open_dir(dir: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW).bits())
        .open(dir)
}

/// What is at `path`, for a message.
fn what_is(path: &Path) -> &'static str {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => "a symbolic link",
        Ok(m) if m.is_dir() => "a folder",
        Ok(_) => "not a folder",
        Err(_) => "gone",
    }
}

/// Whether a lock folder owned by `uid` with `mode` may be used by user `me`:
/// sticky, or writable by no other user (so nobody else can rename or
/// delete our lock files; links planted there are refused by the open).
/// Another user's folder is accepted only when sticky and open to all (the
/// shared folder the first user's sweepd made, mode 1777): its owner could
/// delete lock files and so break the exclusion, as any user holding the
/// locks can, but never turn a lock against anyone's files.
pub fn folder_verdict(uid: u32, mode: u32, me: u32) -> Result<(), String> {
    let sticky = mode & 0o1000 != 0;
    let writable_by_others = mode & 0o002 != 0;
    if uid != 0 && uid != me && !(sticky && writable_by_others) {
        return Err(format!(
            "belongs to uid {uid}, neither root nor this user ({me}), and is not a shared sticky folder (mode {:o}); have root create it (systemd/tmpfiles-sweepd.conf) or choose another with --gpu-lock-dir",
            mode & 0o7777
        ));
    }
    if writable_by_others && !sticky {
        return Err(format!(
            "is writable by every user and not sticky (mode {:o}): anyone could swap its lock files; `chmod +t` it",
            mode & 0o7777
        ));
    }
    Ok(())
}

/// Create the folder: mode 1777 (sticky: each user's files stay theirs), set
/// only on the folder this call made, through a handle that follows no link.
fn create_folder(dir: &Path) -> Result<(), Refused> {
    let failed = |e: io::Error| {
        Refused::Failed(format!(
            "cannot create the lock folder {}: {e}",
            dir.display()
        ))
    };
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(failed)?;
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        // Another sweepd made it first: it is checked as any folder is.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(failed(e)),
    }
    let made = open_dir(dir).map_err(failed)?;
    let meta = made.metadata().map_err(failed)?;
    if meta.uid() == nix::unistd::geteuid().as_raw() {
        made.set_permissions(Permissions::from_mode(0o1777))
            .map_err(failed)?;
    }
    Ok(())
}

/// Open `name` in the folder: created here (and then made usable by every
/// user, mode 0666), or an existing plain file opened as it is. Links are
/// never followed and nothing that was there is changed.
fn open_lock_file(folder: &File, path: &Path, name: &str) -> Result<File, Refused> {
    let shown = path.display();
    let base = OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY | OFlag::O_NONBLOCK;
    match openat(
        folder,
        name,
        base | OFlag::O_RDWR | OFlag::O_CREAT | OFlag::O_EXCL,
        Mode::from_bits_truncate(0o666),
    ) {
        Ok(fd) => {
            let file = File::from(fd);
            // Ours, just made: past the umask, so other users' sweepds can open it.
            if let Err(e) = file.set_permissions(Permissions::from_mode(0o666)) {
                tracing::warn!(path = %shown, error = %e, "cannot make a GPU lock usable by other users");
            }
            return Ok(file);
        }
        Err(Errno::EEXIST) => {}
        Err(e) => return Err(Refused::Failed(format!("cannot create {shown}: {e}"))),
    }
    let fd = openat(folder, name, base | OFlag::O_RDWR, Mode::empty())
        .or_else(|e| match e {
            // Another user's file, mode 0644: a read-only handle locks as well.
            Errno::EACCES => openat(folder, name, base | OFlag::O_RDONLY, Mode::empty()),
            e => Err(e),
        })
        .map_err(|e| match e {
            Errno::ELOOP => Refused::Unsafe(format!("{shown} is a symbolic link")),
            Errno::EISDIR => Refused::Unsafe(format!("{shown} is not a plain file")),
            e => Refused::Failed(format!("cannot open {shown}: {e}")),
        })?;
    let file = File::from(fd);
    let meta = file
        .metadata()
        .map_err(|e| Refused::Failed(format!("cannot look at {shown}: {e}")))?;
    if !meta.file_type().is_file() {
        return Err(Refused::Unsafe(format!("{shown} is not a plain file")));
    }
    if meta.nlink() != 1 {
        return Err(Refused::Unsafe(format!(
            "{shown} has {} names (a hard link to someone's file?)",
            meta.nlink()
        )));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: u32 = 1000;

    #[test]
    fn a_folder_only_root_or_we_control_is_accepted() {
        // The tmpfiles folder, ours made by sweepd, ours made by hand.
        assert!(folder_verdict(0, 0o41777, ME).is_ok());
        assert!(folder_verdict(ME, 0o41777, ME).is_ok());
        assert!(folder_verdict(ME, 0o40755, ME).is_ok());
        assert!(folder_verdict(0, 0o40755, ME).is_ok());
        let why = folder_verdict(ME, 0o40777, ME).unwrap_err();
        assert!(
            why.contains("writable by every user and not sticky"),
            "{why}"
        );
        // Another user's sweepd made the shared folder: usable by all.
        assert!(folder_verdict(1234, 0o41777, ME).is_ok());
        // Another user's own folder is not.
        let why = folder_verdict(1234, 0o40755, ME).unwrap_err();
        assert!(why.contains("belongs to uid 1234"), "{why}");
        assert!(folder_verdict(1234, 0o41755, ME).is_err());
    }

    #[test]
    fn a_world_writable_folder_that_is_not_sticky_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("locks");
        fs::create_dir(&locks).unwrap();
        fs::set_permissions(&locks, Permissions::from_mode(0o777)).unwrap();
        let why = lock(&locks, "GPU-x").unwrap_err();
        assert!(
            matches!(&why, Refused::Unsafe(w) if w.contains("not sticky")),
            "{why}"
        );
        assert!(why.to_string().starts_with("unsafe to lock, not used:"));
        assert_eq!(
            fs::read_dir(&locks).unwrap().count(),
            0,
            "nothing made there"
        );
    }

    #[test]
    fn a_linked_folder_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        fs::create_dir(&target).unwrap();
        fs::set_permissions(&target, Permissions::from_mode(0o750)).unwrap();
        let locks = dir.path().join("locks");
        std::os::unix::fs::symlink(&target, &locks).unwrap();
        let why = lock(&locks, "GPU-x").unwrap_err();
        assert!(
            matches!(&why, Refused::Unsafe(w) if w.contains("not a real folder (a symbolic link)")),
            "{why}"
        );
        assert_eq!(fs::read_dir(&target).unwrap().count(), 0);
        let mode = fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o750);
    }

    #[test]
    fn a_fresh_folder_is_made_sticky_and_ours_and_its_files_shared() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("a/b/locks");
        let held = lock(&locks, "GPU-x").unwrap();
        let meta = fs::symlink_metadata(&locks).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.mode() & 0o7777, 0o1777);
        assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw());
        let file = fs::symlink_metadata(locks.join("gpu-GPU-x.lock")).unwrap();
        assert!(file.is_file());
        assert_eq!(file.mode() & 0o777, 0o666);
        assert_eq!(
            lock(&locks, "GPU-x").unwrap_err(),
            Refused::Held(locks.join("gpu-GPU-x.lock").display().to_string())
        );
        drop(held);
        lock(&locks, "GPU-x").expect("free again");
    }

    #[test]
    fn planted_files_are_refused_and_left_as_they_were() {
        let dir = tempfile::tempdir().unwrap();
        let locks = dir.path().join("locks");
        fs::create_dir(&locks).unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious\n").unwrap();
        fs::set_permissions(&victim, Permissions::from_mode(0o644)).unwrap();

        std::os::unix::fs::symlink(&victim, locks.join("gpu-link.lock")).unwrap();
        let why = lock(&locks, "link").unwrap_err();
        assert!(
            matches!(&why, Refused::Unsafe(w) if w.contains("is a symbolic link")),
            "{why}"
        );
        fs::hard_link(&victim, locks.join("gpu-hard.lock")).unwrap();
        let why = lock(&locks, "hard").unwrap_err();
        assert!(
            matches!(&why, Refused::Unsafe(w) if w.contains("has 2 names")),
            "{why}"
        );
        fs::create_dir(locks.join("gpu-dir.lock")).unwrap();
        let why = lock(&locks, "dir").unwrap_err();
        assert!(
            matches!(&why, Refused::Unsafe(w) if w.contains("not a plain file")),
            "{why}"
        );
        nix::unistd::mkfifo(
            &locks.join("gpu-fifo.lock"),
            Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let why = lock(&locks, "fifo").unwrap_err();
        assert!(
            matches!(&why, Refused::Unsafe(w) if w.contains("not a plain file")),
            "does not hang on a FIFO either: {why}"
        );

        let meta = fs::metadata(&victim).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o644);
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");

        // An existing plain file of someone else's keeps its mode.
        let other = locks.join("gpu-other.lock");
        fs::write(&other, "").unwrap();
        fs::set_permissions(&other, Permissions::from_mode(0o644)).unwrap();
        drop(lock(&locks, "other").unwrap());
        assert_eq!(fs::metadata(&other).unwrap().mode() & 0o7777, 0o644);
    }
}
