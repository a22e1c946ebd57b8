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
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use notify::{RecursiveMode, Watcher};
use tokio::sync::{Semaphore, broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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
            settle: Duration::from_secs(1),
            settle_closed: Duration::from_millis(30),
            settle_writing: Duration::from_secs(10),
            empty_after: Duration::from_secs(30),
            rescan: Duration::from_secs(30),
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

/// What claiming an inbox file came to.
#[derive(Debug)]
enum Claim {
    /// It is in the spool, at this path.
    Claimed(PathBuf),
    /// It cannot be taken, for these reasons: it is to be rejected as it is.
    Refused(String),
    /// It is gone (moved away or deleted), or cannot be moved now.
    Gone,
}

/// Move the file (and its submit sidecar) into the spool.
fn claim(home: &Home, path: &Path, name: &str) -> Claim {
    match path.file_name().and_then(|n| n.to_str()) {
        None => {
            return Claim::Refused(format!(
                "{name}: error: the file name is not UTF-8 text\n  \
                 help: rename it (sweep files end in .yaml, .yml or .json) and drop it in again\n"
            ));
        }
        Some(utf8) if utf8.len() > MAX_NAME_BYTES => return Claim::Refused(too_long(name)),
        Some(_) => {}
    }
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let claimed = home.spool().join(format!("{stamp}-{name}"));
    match fs::rename(path, &claimed) {
        Ok(()) => {}
        // A filesystem with shorter names than most.
        Err(e) if e.kind() == io::ErrorKind::InvalidFilename => {
            return Claim::Refused(too_long(name));
        }
        Err(e) => {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::error!(file = %path.display(), error = %e, "cannot claim an inbox file");
            }
            return Claim::Gone;
        }
    }
    let sidecar = home.inbox().join(sidecar_name(name));
    if sidecar.exists() {
        let _ = fs::rename(
            &sidecar,
            claimed.with_file_name(format!("{stamp}-{name}.submit.json")),
        );
    }
    Claim::Claimed(claimed)
}

fn too_long(name: &str) -> String {
    format!(
        "{name}: error: the file name is {} bytes long; sweepd takes names of at most \
         {MAX_NAME_BYTES} bytes (it adds to a name as it files the file)\n  \
         help: give it a shorter name and drop it in again\n  \
         original name: {name}\n",
        name.len()
    )
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

/// Takes claimed files from the watcher loop: checks and files each in a task
/// of its own, tells the scheduler and whoever waits.
struct Intake {
    home: Home,
    scheduler: SchedulerHandle,
    notices: broadcast::Sender<Notice>,
    check_limit: Duration,
    /// One per file being checked or filed.
    permits: Arc<Semaphore>,
    /// Files are checked side by side but filed one at a time, as before
    /// (a new sweep's id is unique among the folders already there).
    filing: Arc<std::sync::Mutex<()>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Intake {
    /// Check and file a claimed file, without waiting for it.
    fn hand_over(&self, claimed: PathBuf, name: String) {
        let home = self.home.clone();
        let scheduler = self.scheduler.clone();
        let notices = self.notices.clone();
        let limit = self.check_limit;
        let permits = self.permits.clone();
        let filing_lock = self.filing.clone();
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            // A file whose check is not under way when the daemon stops stays
            // in the spool: it is filed at the next start.
            let permit = tokio::select! {
                () = shutdown.cancelled() => return,
                permit = permits.acquire_owned() => permit,
            };
            let mut sidecar = sidecar_of(&claimed);
            if !sidecar.exists() {
                // The daemon died between moving the file and its sidecar.
                sidecar = home.inbox().join(sidecar_name(&name));
            }
            let submission = read_sidecar(&sidecar, &name);
            let owned_by_us = fs::symlink_metadata(&claimed)
                .is_ok_and(|m| m.uid() == nix::unistd::getuid().as_raw());
            let checked = if owned_by_us {
                let (path, user_name) = (claimed.clone(), submission.name.clone());
                // The permit goes with the thread: a check given up on still
                // counts until its thread ends, so at most so many run at once.
                let check = bounded(limit, move || {
                    let _permit = permit;
                    intake::check(&path, &user_name)
                });
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    checked = check => checked.unwrap_or_else(|e| Err(e.reasons(&submission.name, limit))),
                }
            } else {
                Err(format!(
                    "{name}: belongs to another user; sweepd takes only its own user's files\n"
                ))
            };
            let filing = tokio::task::spawn_blocking(move || {
                let _one_at_a_time = filing_lock.lock().unwrap_or_else(|e| e.into_inner());
                let verdict = intake::file_checked(&home, &claimed, &submission, checked);
                let _ = fs::remove_file(&sidecar);
                verdict.map_err(|e| (claimed, e))
            });
            match filing.await {
                Ok(Ok(verdict)) => tell(&name, verdict, &scheduler, &notices),
                Ok(Err((claimed, e))) => {
                    tracing::error!(file = %claimed.display(), error = %e, "cannot file a claimed sweep file; it stays in the spool")
                }
                Err(e) => tracing::error!(file = name, error = %e, "filing a sweep file failed"),
            }
        });
    }

    /// Reject an inbox file as it is, unclaimed (its name cannot be claimed).
    fn refuse(&self, path: &Path, name: &str, reasons: &str) {
        let rejected = {
            let _one_at_a_time = self.filing.lock().unwrap_or_else(|e| e.into_inner());
            intake::reject(&self.home, path, name, reasons)
        };
        match rejected {
            Ok(()) => {
                let verdict = Verdict::Rejected {
                    reasons: reasons.to_owned(),
                };
                tell(name, verdict, &self.scheduler, &self.notices);
            }
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "cannot reject an inbox file")
            }
        }
    }
}

/// Tell the scheduler about a new sweep, and whoever waits about the verdict.
fn tell(
    name: &str,
    verdict: Verdict,
    scheduler: &SchedulerHandle,
    notices: &broadcast::Sender<Notice>,
) {
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

/// Why a bounded job gave no answer.
#[derive(Debug)]
enum Overrun {
    /// It ran past its time (and runs on, unwaited for).
    TooLong,
    /// It panicked.
    Failed,
    /// There was no thread to run it on.
    NoThread(io::Error),
}

impl Overrun {
    /// What a file's check that ended so is rejected with.
    fn reasons(&self, name: &str, limit: Duration) -> String {
        match self {
            Overrun::TooLong => format!(
                "{name}: error: checking it took longer than {}, so sweepd gave up on it \
                 (a sweep file is checked in milliseconds)\n  \
                 help: is it a sweep file? Sweep files are small and shallow\n",
                humantime::format_duration(limit)
            ),
            Overrun::Failed => format!(
                "{name}: error: sweepd failed while checking it: this is a bug in sweepd; \
                 please report it with this file\n"
            ),
            Overrun::NoThread(e) => format!(
                "{name}: error: sweepd could not start a thread to check it ({e})\n  \
                 help: drop it into the inbox again\n"
            ),
        }
    }
}

/// Run `job` on a thread of its own and wait at most `limit` for its answer.
/// A job that runs longer is no longer waited for: the thread runs on, and
/// its answer is dropped (a thread cannot be stopped from outside).
async fn bounded<T: Send + 'static>(
    limit: Duration,
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Overrun> {
    let (tx, rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("sweepd-check".into())
        .spawn(move || {
            let _ = tx.send(job());
        })
        .map_err(Overrun::NoThread)?;
    match tokio::time::timeout(limit, rx).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(_)) => Err(Overrun::Failed),
        Err(_) => Err(Overrun::TooLong),
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

    #[tokio::test]
    async fn a_job_past_its_time_is_no_longer_waited_for() {
        assert_eq!(bounded(Duration::from_secs(10), || 7).await.unwrap(), 7);
        // A job that never ends by itself (until `release` is dropped).
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let slow = bounded(Duration::from_millis(50), move || blocked.recv().is_ok()).await;
        assert!(matches!(slow, Err(Overrun::TooLong)), "{slow:?}");
        drop(release);
        let failed = bounded(Duration::from_secs(10), || -> u8 { panic!("a bug") }).await;
        assert!(matches!(failed, Err(Overrun::Failed)), "{failed:?}");
        let reasons = Overrun::TooLong.reasons("deep.yaml", Duration::from_secs(10));
        assert!(reasons.starts_with("deep.yaml: error: checking it took longer than 10s"));
    }

    #[test]
    fn a_name_too_long_to_claim_is_refused_with_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::new(dir.path().join("home"));
        home.create().unwrap();
        let long = format!("{}.yaml", "n".repeat(245));
        let path = home.inbox().join(&long);
        fs::write(&path, "x").unwrap();
        let Claim::Refused(reasons) = claim(&home, &path, &long) else {
            panic!("claimed")
        };
        assert!(reasons.contains("250 bytes long"), "{reasons}");
        assert!(
            reasons.contains(&format!("original name: {long}")),
            "{reasons}"
        );
        assert!(path.exists(), "left for the caller to reject");
        // The longest name taken is claimed, its sidecar too.
        let longest = format!("{}.yaml", "n".repeat(MAX_NAME_BYTES - 5));
        let path = home.inbox().join(&longest);
        fs::write(&path, "x").unwrap();
        fs::write(home.inbox().join(sidecar_name(&longest)), "{}").unwrap();
        let Claim::Claimed(claimed) = claim(&home, &path, &longest) else {
            panic!("not claimed")
        };
        assert!(claimed.exists() && sidecar_of(&claimed).exists());
    }

    #[test]
    fn a_file_its_writer_still_holds_waits_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = dir.path();
        let path = inbox.join("x.yaml");
        fs::write(&path, "a").unwrap();
        let mut pending = HashMap::new();
        let config = InboxConfig::default();
        note(inbox, &path, Hint::Written, &mut pending);
        assert!(pending[&path].writing);
        assert_eq!(wait(&config, &pending[&path]), config.settle_writing);
        // More written: still being written, whatever the event said.
        fs::write(&path, "ab").unwrap();
        note(inbox, &path, Hint::Changed, &mut pending);
        assert!(pending[&path].writing);
        note(inbox, &path, Hint::Closed, &mut pending);
        assert!(!pending[&path].writing && pending[&path].closed);
        assert_eq!(wait(&config, &pending[&path]), config.settle_closed);
        // Never seen written (no inotify, or there before the daemon): the settle time.
        let other = inbox.join("y.yaml");
        fs::write(&other, "a").unwrap();
        note(inbox, &other, Hint::Changed, &mut pending);
        assert_eq!(wait(&config, &pending[&other]), config.settle);
    }
}
