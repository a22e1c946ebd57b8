//! The inbox: files dropped there become sweeps. File events are only hints
//! (a periodic rescan catches what they miss, and replaces them on network
//! filesystems, where another host's writes raise no event); a file is taken
//! only once complete (size and mtime unchanged for a while, not empty), and
//! claimed by a rename into the spool, so nothing is read twice or lost.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::intake::{self, Submission, Verdict};
use crate::scheduler::{Msg, SchedulerHandle};
use crate::store::{Home, Via};

/// How the inbox is watched.
#[derive(Debug, Clone)]
pub struct InboxConfig {
    /// A file is complete once unchanged this long.
    pub settle: Duration,
    /// ... or this long after it was closed after writing, or renamed into the
    /// inbox (the events that say a writer is done).
    pub settle_closed: Duration,
    /// An empty file is refused once it has stayed empty this long.
    pub empty_after: Duration,
    /// Rescan of the whole inbox, for what events missed.
    pub rescan: Duration,
    /// Rescan when events cannot be had (no inotify, or a network filesystem).
    pub poll: Duration,
    /// How often files waiting to settle are looked at.
    pub tick: Duration,
}

impl Default for InboxConfig {
    fn default() -> Self {
        Self {
            settle: Duration::from_secs(1),
            settle_closed: Duration::from_millis(30),
            empty_after: Duration::from_secs(30),
            rescan: Duration::from_secs(30),
            poll: Duration::from_secs(2),
            tick: Duration::from_millis(250),
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

/// The sidecar `sweepctl submit` writes beside the file it submits.
pub fn sidecar_name(name: &str) -> String {
    format!(".{name}.submit.json")
}

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
}

/// What an event says about a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    /// Something happened; look.
    Changed,
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
        file(&home, &claimed, &name, &scheduler, &notices);
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
                    if let Some(claimed) = claim(&home, &path, &name) {
                        file(&home, &claimed, &name, &scheduler, &notices);
                    }
                }
            }
        }
    }
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
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    if is_temporary(name) {
        return;
    }
    let Ok(meta) = fs::symlink_metadata(path) else {
        return;
    };
    let now = (meta.len(), (meta.mtime(), meta.mtime_nsec()), meta.ino());
    match pending.get_mut(path) {
        Some(seen) if (seen.len, seen.mtime, seen.ino) == now => {
            seen.closed |= hint == Hint::Closed
        }
        _ => {
            let (len, mtime, ino) = now;
            let closed = hint == Hint::Closed;
            pending.insert(
                path.to_owned(),
                Observed {
                    len,
                    mtime,
                    ino,
                    since: Instant::now(),
                    closed,
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
            };
            return true;
        }
        if seen.since.elapsed() < wait(config, seen) {
            return true;
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        ready.push((path.clone(), name));
        false
    });
    ready.sort();
    ready
}

/// Move the file (and its submit sidecar) into the spool; `None` if it is gone.
fn claim(home: &Home, path: &Path, name: &str) -> Option<PathBuf> {
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let claimed = home.spool().join(format!("{stamp}-{name}"));
    match fs::rename(path, &claimed) {
        Ok(()) => {}
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::error!(file = %path.display(), error = %e, "cannot claim an inbox file");
            }
            return None;
        }
    }
    let sidecar = home.inbox().join(sidecar_name(name));
    if sidecar.exists() {
        let _ = fs::rename(
            &sidecar,
            claimed.with_file_name(format!("{stamp}-{name}.submit.json")),
        );
    }
    Some(claimed)
}

/// Files left in the spool by a crash, with their inbox names.
fn spooled(home: &Home) -> Vec<(PathBuf, String)> {
    let mut found: Vec<(PathBuf, String)> = fs::read_dir(home.spool())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let file_name = e.file_name().into_string().ok()?;
            if file_name.ends_with(".submit.json") {
                return None;
            }
            let (_, name) = file_name.split_once('-')?;
            Some((e.path(), name.to_owned()))
        })
        .collect();
    found.sort();
    found
}

/// The spool names of files already filed as sweeps.
fn claimed_names(home: &Home) -> std::collections::HashSet<String> {
    fs::read_dir(home.sweeps())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            crate::store::SweepDir::new(e.path())
                .read_source()
                .ok()?
                .claimed_as
        })
        .collect()
}

/// Where a claimed file's submit sidecar is moved to.
fn sidecar_of(claimed: &Path) -> PathBuf {
    let name = claimed
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    claimed.with_file_name(format!("{name}.submit.json"))
}

/// Check and file a claimed file; tell the scheduler and whoever waits.
fn file(
    home: &Home,
    claimed: &Path,
    name: &str,
    scheduler: &SchedulerHandle,
    notices: &broadcast::Sender<Notice>,
) {
    let mut sidecar = sidecar_of(claimed);
    if !sidecar.exists() {
        // The daemon died between moving the file and its sidecar.
        sidecar = home.inbox().join(sidecar_name(name));
    }
    let submission = read_sidecar(&sidecar, name);
    let owned_by_us =
        fs::symlink_metadata(claimed).is_ok_and(|m| m.uid() == nix::unistd::getuid().as_raw());
    let verdict = if owned_by_us {
        intake::file(home, claimed, &submission)
    } else {
        let reasons =
            format!("{name}: belongs to another user; sweepd takes only its own user's files\n");
        intake::reject(home, claimed, &submission.name, &reasons)
            .map(|()| Verdict::Rejected { reasons })
    };
    let _ = fs::remove_file(&sidecar);
    match verdict {
        Ok(verdict) => {
            match &verdict {
                Verdict::Accepted { id, .. } => {
                    tracing::info!(file = name, sweep = %id, "sweep accepted");
                    scheduler.send(Msg::Added(id.clone()));
                }
                Verdict::Rejected { .. } => {
                    tracing::warn!(file = name, "sweep file rejected: see rejected/")
                }
            }
            let _ = notices.send(Notice {
                name: name.to_owned(),
                verdict,
            });
        }
        Err(e) => {
            tracing::error!(file = %claimed.display(), error = %e, "cannot file a claimed sweep file; it stays in the spool")
        }
    }
}

fn read_sidecar(path: &Path, name: &str) -> Submission {
    #[derive(serde::Deserialize)]
    struct Sidecar {
        original_name: String,
        submitted_from: Option<PathBuf>,
    }
    match fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Sidecar>(&b).ok())
    {
        Some(s) => Submission {
            name: s.original_name,
            via: Via::Submit,
            submitted_from: s.submitted_from,
        },
        None => Submission {
            name: name.to_owned(),
            via: Via::Inbox,
            submitted_from: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_left_alone() {
        for name in [
            ".x.yaml",
            "x.yaml~",
            "x.yaml.tmp",
            "x.part",
            ".x.swp",
            "4913",
            "#x.yaml#",
            "x.crdownload",
        ] {
            assert!(is_temporary(name), "{name}");
        }
        for name in ["x.yaml", "x.json", "notes.txt", "x"] {
            assert!(!is_temporary(name), "{name}");
        }
    }
}
