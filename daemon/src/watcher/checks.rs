//! Claimed files checked and filed off the watcher's loop: each in a task
//! of its own, its check on a thread of its own within a time bound, a few
//! at a time, filed one at a time; the verdict told to the scheduler and to
//! whoever waits for it.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, broadcast, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::claim::sidecar_of;
use super::{Notice, sidecar_name};
use crate::intake::{self, Submission, Verdict};
use crate::scheduler::{Msg, SchedulerHandle};
use crate::store::inbox::Sidecar;
use crate::store::{Home, Via};

/// Takes claimed files from the watcher loop: checks and files each in a task
/// of its own, tells the scheduler and whoever waits.
pub(super) struct Intake {
    pub(super) home: Home,
    pub(super) scheduler: SchedulerHandle,
    pub(super) notices: broadcast::Sender<Notice>,
    pub(super) check_limit: Duration,
    /// One per file being checked or filed.
    pub(super) permits: Arc<Semaphore>,
    /// Files are checked side by side but filed one at a time, as before
    /// (a new sweep's id is unique among the folders already there).
    pub(super) filing: Arc<std::sync::Mutex<()>>,
    pub(super) shutdown: CancellationToken,
    pub(super) tasks: TaskTracker,
}

impl Intake {
    /// Check and file a claimed file, without waiting for it.
    pub(super) fn hand_over(&self, claimed: PathBuf, name: String) {
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
    pub(super) fn refuse(&self, path: &Path, name: &str, reasons: &str) {
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
pub(super) fn tell(
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
pub(super) enum Overrun {
    /// It ran past its time (and runs on, unwaited for).
    TooLong,
    /// It panicked.
    Failed,
    /// There was no thread to run it on.
    NoThread(io::Error),
}

impl Overrun {
    /// What a file's check that ended so is rejected with.
    pub(super) fn reasons(&self, name: &str, limit: Duration) -> String {
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
pub(super) async fn bounded<T: Send + 'static>(
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

pub(super) fn read_sidecar(path: &Path, name: &str) -> Submission {
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
