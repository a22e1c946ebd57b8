//! A run on this machine, through its monitor ([`crate::monitor`]): a small
//! process that is the trainer's parent and outlives sweepd. sweepd starts
//! the monitor (handing it the run's GPU locks), or after a restart takes
//! up a monitor that is still there ([`adopt`]); either way it then follows
//! the run the same way: its output read into its folder as it grows (by
//! [`Output`], resuming where the folder ends), the protocol's messages
//! written to the trainer's stdin pipe, the stop sequence (stop message,
//! SIGTERM to the group, SIGKILL to the group) counted from the trainer's
//! real start, and the monitor's end awaited through a pidfd. Its exit
//! status comes from `exit.json`; a monitor that died without writing it
//! leaves the run interrupted (what is left of it is killed by its token).

use std::fs::{File, OpenOptions};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::io::unix::AsyncFd;
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tokio::time::Instant as Deadline;

use super::orphans;
use super::output::Output;
use super::stop::{Action, Plan, StopSequence};
use super::tail::Tails;
use super::{EndedBy, Ending, Launch, Request, RunEvent, RunEventKind, RunHandle, until};
use crate::monitor::{self, Liveness, Started};
use crate::protocol::trainer::ToTrainer;
use crate::store::monitor::{ExitRecord, MonitorRecord, Read};

/// Start a run (its monitor, which starts the trainer); its events go to
/// `events`.
pub fn start(launch: Launch, tails: Tails, events: mpsc::UnboundedSender<RunEvent>) -> RunHandle {
    let (handle, requests) = RunHandle::new();
    tokio::spawn(async move {
        let send = super::sender(events, launch.id.clone());
        match start_monitor(&launch, tails.monitor()).await {
            Ok(watched) => {
                send(RunEventKind::Started { pid: watched.pid });
                follow(launch, watched, tails, send, requests).await;
            }
            Err(ending) => send(RunEventKind::Ended(ending)),
        }
    });
    handle
}

/// Take up a run whose monitor (as `monitor.json` says) outlived the last
/// sweepd: nothing is started.
pub fn adopt(
    launch: Launch,
    record: &MonitorRecord,
    tails: Tails,
    events: mpsc::UnboundedSender<RunEvent>,
) -> RunHandle {
    let (handle, requests) = RunHandle::new();
    let watched = Watched {
        monitor_pid: record.monitor_pid,
        pid: record.pid,
        started: humantime::parse_rfc3339_weak(&record.started_at).unwrap_or_else(|_| {
            tracing::warn!(run = %launch.id, started_at = %record.started_at, "monitor.json's start time does not read: its timeout counts from now");
            SystemTime::now()
        }),
    };
    tokio::spawn(async move {
        let send = super::sender(events, launch.id.clone());
        follow(launch, watched, tails, send, requests).await;
    });
    handle
}

/// A running trainer and its monitor.
struct Watched {
    monitor_pid: u32,
    /// The trainer's pid, also its process group's.
    pid: u32,
    /// When the trainer started.
    started: SystemTime,
}

/// Start the run's monitor, hand it the run's GPU locks, and wait for it to
/// say the trainer started. The error is how the run ended (it never
/// started).
async fn start_monitor(launch: &Launch, exe: &Path) -> Result<Watched, Ending> {
    let shown = || launch.argv.join(" ");
    let cannot =
        |e: std::io::Error| Ending::not_started(format!("cannot start `{}`: {e}", shown()));
    if launch.argv.is_empty() {
        return Err(Ending::not_started("an empty command"));
    }
    let (ours, theirs) = UnixStream::pair().map_err(cannot)?;
    let stderr = OpenOptions::new()
        .create(true)
        .append(true)
        .open(launch.run_dir.stderr_file())
        .map_err(cannot)?;
    let mut command = tokio::process::Command::new(exe);
    command
        .arg0(crate::monitor::NAME)
        .arg(monitor::ARG)
        .arg(launch.run_dir.root())
        .arg("--")
        .args(&launch.argv)
        .current_dir(&launch.cwd)
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .stderr(Stdio::from(stderr));
    for name in &launch.env_remove {
        command.env_remove(name);
    }
    command.envs(launch.env.iter().map(|(k, v)| (k, v)));
    // Known as sweepd's own child before anyone can see it exit: its zombie
    // is tokio's to reap, never the orphan reaper's.
    let (mut child, monitor_pid) = {
        let mut leaders = orphans::leaders();
        let child = command.spawn().map_err(cannot)?;
        let pid = child.id().expect("a child just spawned has a pid");
        leaders.insert(pid as i32);
        (child, pid)
    };
    tokio::spawn(async move {
        let _ = child.wait().await;
        orphans::leaders().remove(&(monitor_pid as i32));
    });
    let locks: Vec<(String, &File)> = launch
        .gpu_locks
        .iter()
        .map(|(uuid, file)| (uuid.clone(), &**file))
        .collect();
    if let Err(e) = monitor::Handoff::give(&ours, &locks, &launch.start_line) {
        return Err(Ending::not_started(format!(
            "cannot hand the run to its monitor: {e}"
        )));
    }
    let answer = tokio::task::spawn_blocking(move || monitor::read_answer(ours))
        .await
        .ok()
        .flatten();
    match answer {
        Some(Started::Running { pid }) => Ok(Watched {
            monitor_pid,
            pid,
            started: started_at(&launch.run_dir.monitor_file()),
        }),
        Some(Started::Failed { why }) => Err(Ending::not_started(why)),
        None => Err(Ending::not_started(
            "its monitor exited before starting it (see the run's stderr.log)",
        )),
    }
}

/// When the trainer started, as its monitor wrote it (else now).
fn started_at(monitor_file: &Path) -> SystemTime {
    match crate::store::monitor::read::<MonitorRecord>(monitor_file) {
        Ok(Some(Read::Known(record))) => {
            humantime::parse_rfc3339_weak(&record.started_at).unwrap_or_else(|_| SystemTime::now())
        }
        _ => SystemTime::now(),
    }
}

/// Follow the run until its monitor exits (or sweepd lets go of it), then
/// report how it ended.
async fn follow(
    launch: Launch,
    watched: Watched,
    tails: Tails,
    send: impl Fn(RunEventKind),
    mut requests: mpsc::UnboundedReceiver<Request>,
) {
    let id = launch.id.clone();
    let elapsed = SystemTime::now()
        .duration_since(watched.started)
        .unwrap_or(Duration::ZERO);
    let started = Instant::now()
        .checked_sub(elapsed)
        .unwrap_or_else(Instant::now);
    let gone = monitor_gone(watched.monitor_pid, launch.run_dir.monitor_file());
    tokio::pin!(gone);
    // The start message is in it already: the monitor put it there.
    let mut stdin = open_stdin(&launch.run_dir.stdin_pipe());
    let mut output = Output::follow(&launch, &tails, started, &send).await;
    let mut sequence = StopSequence::new(Plan::Local(launch.stop), launch.timeout);
    sequence.start_clock(
        Deadline::now()
            .checked_sub(elapsed)
            .unwrap_or_else(Deadline::now),
    );
    let pid = watched.pid;
    loop {
        let action = tokio::select! {
            () = &mut gone => break,
            () = output.changes(&send) => None,
            Some(request) = requests.recv() => match request {
                Request::Stop(reason) => sequence.stop(reason),
                Request::Detach => {
                    output.let_go();
                    tracing::info!(run = %id, pid, "left running for the next sweepd");
                    send(RunEventKind::Detached);
                    return;
                }
            },
            () = until(sequence.next_deadline()) => sequence.on_deadline(Deadline::now()),
        };
        match action {
            Some(Action::SendStopMessage(reason)) => {
                stdin = write_line(stdin, &ToTrainer::Stop { reason }.to_line()).await;
            }
            Some(Action::Terminate) => signal_group(pid, Signal::SIGTERM),
            Some(Action::Kill) => signal_group(pid, Signal::SIGKILL),
            // Slurm's alone: never in a local plan.
            Some(Action::Cancel | Action::Detach) | None => continue,
        }
        sequence.done(Deadline::now(), true);
    }
    drop(stdin);
    let how = match crate::store::monitor::read::<ExitRecord>(&launch.run_dir.exit_file()) {
        Ok(Some(Read::Known(record))) => record.ending(sequence.reason()).how,
        Ok(Some(Read::Newer(version))) => EndedBy::Lost(format!(
            "its monitor wrote exit.json version {version}, newer than this sweepd reads"
        )),
        Ok(None) => {
            // Killed, or died: what is left of the run goes now.
            kill_by_token(&launch).await;
            match sequence.reason() {
                Some(reason) => EndedBy::Stopped { reason, exit: None },
                None => EndedBy::Interrupted(
                    "its monitor died while it ran (the run is run again)".into(),
                ),
            }
        }
        Err(e) => EndedBy::Lost(format!("its exit status cannot be read: {e}")),
    };
    let metric = output.finish(&send);
    send(RunEventKind::Ended(Ending::new(how, metric)));
}

/// Resolves once the monitor has exited. Its pid is trusted only together
/// with the lock on `monitor.json`: the pidfd is opened first, then the
/// lock is looked at; held, the pid was the monitor's when the pidfd was
/// opened. Without pidfds (before Linux 5.3) the lock is looked at every
/// second.
async fn monitor_gone(monitor_pid: u32, monitor_file: PathBuf) {
    let pidfd = rustix::process::Pid::from_raw(monitor_pid as i32)
        .and_then(|pid| rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok())
        .and_then(|fd| {
            // Sound here: an OwnedFd cannot be closed or swapped behind
            // tokio's back (what made `new` deprecated); `register`, its
            // replacement, is `unsafe`, which this workspace forbids.
            #[allow(deprecated)]
            AsyncFd::new(fd).ok()
        });
    let lives = |file: &Path| {
        // A look that fails is no proof of death: look again later.
        monitor::alive(file).map_or(true, |l| l == Liveness::Alive)
    };
    if !lives(&monitor_file) {
        return;
    }
    if let Some(pidfd) = pidfd {
        // Readable once the process has exited.
        if pidfd.readable().await.is_ok() {
            return;
        }
    }
    let mut look = tokio::time::interval(Duration::from_secs(1));
    loop {
        look.tick().await;
        if !lives(&monitor_file) {
            return;
        }
    }
}

/// Kill whatever carries the run's token (its monitor died before it could
/// end the run: the trainer and its group carry it too).
async fn kill_by_token(launch: &Launch) {
    let Some(token) = launch
        .env
        .iter()
        .find(|(k, _)| k == orphans::TOKEN_VAR)
        .map(|(_, v)| v.clone())
    else {
        return;
    };
    let id = launch.id.clone();
    match tokio::task::spawn_blocking(move || orphans::end_run(&token)).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(run = %id, processes = n, "its monitor died: killed what was left of the run")
        }
        Err(e) => {
            tracing::error!(run = %id, error = %e, "cannot look for what the run left behind")
        }
    }
}

/// The trainer's stdin pipe, opened for writing (None: no monitor holds
/// it any more, so nobody would read what is written).
fn open_stdin(path: &Path) -> Option<pipe::Sender> {
    pipe::OpenOptions::new().open_sender(path).ok()
}

/// Write a protocol line; a run that closed its stdin (or never reads it) is
/// not an error: it simply will not hear us.
async fn write_line(stdin: Option<pipe::Sender>, line: &str) -> Option<pipe::Sender> {
    let mut stdin = stdin?;
    match stdin.write_all(line.as_bytes()).await {
        Ok(()) => Some(stdin),
        Err(_) => None,
    }
}

fn signal_group(pid: u32, signal: Signal) {
    // ESRCH: the group is gone already.
    let _ = killpg(Pid::from_raw(pid as i32), signal);
}
