//! The inbox: files dropped there become sweeps. File events are only hints
//! (a periodic rescan catches what they miss, and replaces them on network
//! filesystems, where another host's writes raise no event); a file is taken
//! only once complete (size and mtime unchanged for a while, not empty), and
//! claimed by a rename into the spool, so nothing is read twice or lost.
//!
//! The loop here only watches and claims. Each claimed file is handed to a
//! task of its own, which checks it on a thread of its own within a time
//! bound and files it, a few files at a time: a file that is slow to check
//! never holds up the next one.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

mod checks;
mod claim;

use crate::intake::Verdict;
use crate::scheduler::SchedulerHandle;
use crate::settings;
use crate::store::Home;
use checks::*;
use claim::*;

/// How the inbox is watched.
#[derive(Debug, Clone)]
pub struct InboxConfig {
    /// A file is complete once unchanged this long.
    pub settle: Duration,
    /// ... or this long after it was closed after writing, or renamed into the
    /// inbox (the events that say a writer is done).
    pub settle_closed: Duration,
    /// ... but this long (at least `settle`) while a writer that wrote to it
    /// has not closed it yet: a writer pausing between chunks.
    pub settle_writing: Duration,
    /// An empty file is refused once it has stayed empty this long.
    pub empty_after: Duration,
    /// Rescan of the whole inbox, for what events missed.
    pub rescan: Duration,
    /// Rescan when events cannot be had (no inotify, or a network filesystem).
    pub poll: Duration,
    /// How often files waiting to settle are looked at.
    pub tick: Duration,
    /// The longest the check of one file may take: a file whose check takes
    /// longer is rejected, saying so.
    pub check_limit: Duration,
    /// How many files are checked at once, each on a thread of its own.
    pub checks_at_once: usize,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            settle: settings::defaults::settle(),
            settle_closed: Duration::from_millis(30),
            settle_writing: Duration::from_secs(10),
            empty_after: settings::defaults::empty_after(),
            rescan: settings::defaults::rescan_every(),
            poll: Duration::from_secs(2),
            tick: Duration::from_millis(250),
            check_limit: Duration::from_secs(10),
            checks_at_once: 4,
        }
    }
}

/// What became of an inbox file, for those waiting on it (`sweepctl submit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Its name in the inbox.
    pub name: String,
    pub verdict: Verdict,
}

/// The longest inbox file name taken, in bytes: the spool adds a stamp to it
/// (and a sidecar's suffix), and a name in a folder is at most 255 bytes.
pub const MAX_NAME_BYTES: usize = 200;

pub use crate::store::inbox::sidecar_name;

/// Whether a name in the inbox is an editor's or a copier's temporary file,
/// left alone until it is renamed to its final name.
pub fn is_temporary(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || name == "4913"
        || (name.starts_with('#') && name.ends_with('#'))
        || [".tmp", ".part", ".swp", ".swx", ".crdownload"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

struct Observed {
    len: u64,
    mtime: (i64, i64),
    ino: u64,
    since: Instant,
    /// Closed after writing, or renamed in, and not changed since.
    closed: bool,
    /// Written to by a writer that has not closed it since.
    writing: bool,
}

/// What an event says about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    /// Something happened; look.
    Changed,
    /// A writer wrote to it: it is not complete before that writer closes it.
    Written,
    /// A writer closed it, or it was renamed in: likely complete.
    Closed,
}

pub async fn run(
    home: Home,
    config: InboxConfig,
    scheduler: SchedulerHandle,
    notices: broadcast::Sender<Notice>,
    shutdown: CancellationToken,
) {
    let inbox = home.inbox();
    let (hints_tx, mut hints) = mpsc::unbounded_channel::<Option<(PathBuf, Hint)>>();
    let watcher = start_watcher(&inbox, hints_tx);
    let rescan_every = if watcher.is_some() && !on_network_fs(&inbox) {
        config.rescan
    } else {
        config.poll
    };
    let _watcher = watcher;

    let mut pending: HashMap<PathBuf, Observed> = HashMap::new();
    let intake = Intake {
        home: home.clone(),
        scheduler,
        notices,
        check_limit: config.check_limit,
        permits: Arc::new(Semaphore::new(config.checks_at_once.max(1))),
        filing: Arc::default(),
        shutdown: shutdown.clone(),
        tasks: TaskTracker::new(),
    };
    // Files claimed before a crash are filed first, unless they already were
    // (the daemon died after creating the sweep, before clearing the spool).
    let leftovers = spooled(&home);
    let filed = if leftovers.is_empty() {
        Default::default()
    } else {
        claimed_names(&home)
    };
    for (claimed, name) in leftovers {
        let claimed_as = claimed
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if filed.contains(claimed_as) {
            let _ = fs::remove_file(sidecar_of(&claimed));
            let _ = fs::remove_file(&claimed);
            continue;
        }
        intake.hand_over(claimed, name);
    }
    scan(&inbox, &mut pending);
    let mut rescan = tokio::time::interval(rescan_every);
    rescan.tick().await;
    loop {
        // Asleep while nothing waits; else until the first file is due, or
        // the next tick (to see whether files still being written changed).
        let due = pending
            .values()
            .map(|seen| seen.since + wait(&config, seen))
            .min()
            .map(|due| due.min(Instant::now() + config.tick));
        let tick = async {
            match due {
                None => std::future::pending::<()>().await,
                Some(due) => tokio::time::sleep_until(due.into()).await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => break,
            // Without a watcher the channel is closed and this arm is off.
            Some(hint) = hints.recv() => match hint {
                Some((path, hint)) => note(&inbox, &path, hint, &mut pending),
                None => scan(&inbox, &mut pending),
            },
            _ = rescan.tick() => scan(&inbox, &mut pending),
            () = tick => {
                for (path, name) in settled(&config, &mut pending) {
                    match claim(&home, &path, &name) {
                        Claim::Claimed(claimed) => intake.hand_over(claimed, name),
                        Claim::Refused(reasons) => intake.refuse(&path, &name, &reasons),
                        Claim::Gone => {}
                    }
                }
            }
        }
    }
    // Checks under way are left (their files stay in the spool, filed at the
    // next start); filings under way are finished.
    intake.tasks.close();
    intake.tasks.wait().await;
}

/// An inotify watch on the inbox whose events become hints; `None` when
/// there is none to be had (the rescan then polls).
fn start_watcher(
    inbox: &Path,
    hints: mpsc::UnboundedSender<Option<(PathBuf, Hint)>>,
) -> Option<notify::RecommendedWatcher> {
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
    let result =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if event.need_rescan() => {
                let _ = hints.send(None);
            }
            Ok(event) => {
                let hint = match event.kind {
                    EventKind::Access(AccessKind::Close(AccessMode::Write))
                    | EventKind::Modify(ModifyKind::Name(RenameMode::To | RenameMode::Both)) => {
                        Hint::Closed
                    }
                    EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) => Hint::Written,
                    _ => Hint::Changed,
                };
                // A rename names (from, to): the file is at the last path.
                if let Some(path) = event.paths.last() {
                    let _ = hints.send(Some((path.clone(), hint)));
                }
            }
            Err(_) => {
                let _ = hints.send(None);
            }
        })
        .and_then(|mut w| w.watch(inbox, RecursiveMode::NonRecursive).map(|()| w));
    match result {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "no inotify on the inbox: polling it instead");
            None
        }
    }
}

/// How the inbox would be watched (for `sweepctl doctor`): by events, or
/// `Err(why)` it would be polled.
pub fn how_watched(inbox: &Path) -> Result<(), String> {
    if on_network_fs(inbox) {
        return Err(
            "it is on a network file system: another host's writes raise no event, so it is polled"
                .into(),
        );
    }
    notify::recommended_watcher(|_: notify::Result<notify::Event>| {})
        .and_then(|mut w| w.watch(inbox, RecursiveMode::NonRecursive))
        .map_err(|e| format!("no inotify watch on it ({e}), so it is polled"))
}

/// NFS, SMB, Lustre, GPFS, FUSE: another host's writes raise no event here.
// f_type's integer type differs between targets: the cast is for the others.
#[allow(clippy::unnecessary_cast)]
fn on_network_fs(path: &Path) -> bool {
    const NETWORK: &[i64] = &[
        0x6969,
        0xFE53_4D42,
        0xFF53_4D42,
        0x0BD0_0BD0,
        0x4750_4653,
        0x6573_5546,
    ];
    nix::sys::statfs::statfs(path).is_ok_and(|s| NETWORK.contains(&(s.filesystem_type().0 as i64)))
}

fn scan(inbox: &Path, pending: &mut HashMap<PathBuf, Observed>) {
    let Ok(entries) = fs::read_dir(inbox) else {
        return;
    };
    for entry in entries.flatten() {
        note(inbox, &entry.path(), Hint::Changed, pending);
    }
}

/// Start (or go on) watching a path of the inbox until it settles.
fn note(inbox: &Path, path: &Path, hint: Hint, pending: &mut HashMap<PathBuf, Observed>) {
    if path.parent() != Some(inbox) {
        return;
    }
    // A name that is not UTF-8 is still taken (and refused, saying why).
    let Some(name) = path.file_name().map(|n| n.to_string_lossy()) else {
        return;
    };
    if is_temporary(&name) {
        return;
    }
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    let now = (meta.len(), (meta.mtime(), meta.mtime_nsec()), meta.ino());
    match pending.get_mut(path) {
        Some(seen) if (seen.len, seen.mtime, seen.ino) == now => match hint {
            Hint::Changed => {}
            Hint::Written => seen.writing = true,
            Hint::Closed => {
                seen.closed = true;
                seen.writing = false;
            }
        },
        seen => {
            let was_writing = seen.is_some_and(|s| s.writing);
            let (len, mtime, ino) = now;
            pending.insert(
                path.to_owned(),
                Observed {
                    len,
                    mtime,
                    ino,
                    since: Instant::now(),
                    closed: hint == Hint::Closed,
                    writing: match hint {
                        Hint::Changed => was_writing,
                        Hint::Written => true,
                        Hint::Closed => false,
                    },
                },
            );
        }
    }
}

/// How long a file must stay unchanged before it is taken.
fn wait(config: &InboxConfig, seen: &Observed) -> Duration {
    if seen.len == 0 {
        config.empty_after
    } else if seen.closed {
        config.settle_closed
    } else if seen.writing {
        config.settle_writing.max(config.settle)
    } else {
        config.settle
    }
}

/// The paths that have stopped changing (with the names they have).
fn settled(
    config: &InboxConfig,
    pending: &mut HashMap<PathBuf, Observed>,
) -> Vec<(PathBuf, String)> {
    let mut ready = Vec::new();
    pending.retain(|path, seen| {
        let Ok(meta) = fs::symlink_metadata(path) else {
            return false; // gone: moved away or deleted
        };
        let now = (meta.len(), (meta.mtime(), meta.mtime_nsec()), meta.ino());
        if now != (seen.len, seen.mtime, seen.ino) {
            let (len, mtime, ino) = now;
            *seen = Observed {
                len,
                mtime,
                ino,
                since: Instant::now(),
                closed: false,
                writing: seen.writing,
            };
            return true;
        }
        if seen.since.elapsed() < wait(config, seen) {
            return true;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        ready.push((path.clone(), name));
        false
    });
    ready.sort();
    ready
}

#[cfg(test)]
mod tests;
