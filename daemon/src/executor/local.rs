//! A run on this machine: its own process group, stdout and stderr straight
//! into its folder (kept under `log_max`), the protocol on stdin, and the
//! stop sequence (stop message, SIGTERM to the group, SIGKILL to the group).
//! Its output is followed by [`Output`]. When its leader exits, what is left of the group is killed, and so is any
//! process that left the group but carries the run's token. One task owns the
//! child; the scheduler holds a [`RunHandle`] to ask it to stop, and hears
//! from it through [`RunEvent`]s.

use std::fs::OpenOptions;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant as Deadline;

use super::orphans;
use super::output::Output;
use super::stop::{Action, Plan, StopSequence};
use super::tail::Tails;
use super::{Ending, Exit, Launch, RunEvent, RunEventKind, RunHandle, until};
use crate::protocol::trainer::{StopReason, ToTrainer};

/// Start a run; its events go to `events`.
pub fn start(launch: Launch, tails: Tails, events: mpsc::UnboundedSender<RunEvent>) -> RunHandle {
    let (handle, stop_rx) = RunHandle::new();
    tokio::spawn(supervise(launch, tails, events, stop_rx));
    handle
}

async fn supervise(
    launch: Launch,
    tails: Tails,
    events: mpsc::UnboundedSender<RunEvent>,
    mut stop_rx: mpsc::UnboundedReceiver<StopReason>,
) {
    let id = launch.id.clone();
    let send = super::sender(events, id.clone());
    let (mut child, stdin) = match spawn(&launch) {
        Ok(spawned) => spawned,
        Err(error) => {
            send(RunEventKind::Ended(Ending::not_started(format!(
                "cannot start `{}`: {error}",
                launch.argv.join(" ")
            ))));
            return;
        }
    };
    let pid = child.id().expect("a child just spawned has a pid");
    let started = Instant::now();
    send(RunEventKind::Started { pid });
    let mut stdin = write_line(stdin, &launch.start_line).await;

    let mut output = Output::follow(&launch, &tails, started, &send).await;
    let mut sequence = StopSequence::new(Plan::Local(launch.stop), launch.timeout);
    sequence.start_clock(Deadline::now());
    let status = loop {
        let action = tokio::select! {
            status = child.wait() => break status,
            () = output.changes(&send) => None,
            Some(reason) = stop_rx.recv() => sequence.stop(reason),
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
    };
    // tokio has reaped it: its pid is nobody's now.
    super::orphans::leaders().remove(&(pid as i32));
    // Whatever the leader left behind in its group dies with it, and so does
    // what left the group (setsid) but carries the run's token.
    signal_group(pid, Signal::SIGKILL);
    if let Some(token) = launch
        .env
        .iter()
        .find(|(k, _)| k == orphans::TOKEN_VAR)
        .map(|(_, v)| v.clone())
    {
        match tokio::task::spawn_blocking(move || orphans::end_run(&token)).await {
            Ok(0) => {}
            Ok(n) => {
                tracing::info!(run = %id, processes = n, "killed what the run left outside its group")
            }
            Err(e) => {
                tracing::error!(run = %id, error = %e, "cannot look for what the run left behind")
            }
        }
    }
    drop(stdin);
    let exit = match status {
        Ok(status) => status
            .code()
            .map(Exit::Code)
            .or_else(|| status.signal().map(Exit::Signal)),
        Err(e) => {
            tracing::error!(run = %id, error = %e, "lost the run's exit status");
            None
        }
    };
    let metric = output.finish(&send);
    send(RunEventKind::Ended(Ending::from_parts(
        sequence.reason(),
        exit,
        None,
        metric,
    )));
}

fn spawn(launch: &Launch) -> std::io::Result<(Child, Option<ChildStdin>)> {
    let (program, args) = launch
        .argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "an empty command"))?;
    // Known as a leader before anyone can see it exit: its zombie is tokio's.
    let mut leaders = super::orphans::leaders();
    let mut child = match command(launch, Path::new(program), args)?.spawn() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => match bundled(program, launch) {
            Some(path) => command(launch, &path, args)?.spawn()?,
            None => return Err(e),
        },
        spawned => spawned?,
    };
    if let Some(pid) = child.id() {
        leaders.insert(pid as i32);
    }
    drop(leaders);
    let stdin = child.stdin.take();
    Ok((child, stdin))
}

fn command(launch: &Launch, program: &Path, args: &[String]) -> std::io::Result<Command> {
    let append = |path| OpenOptions::new().create(true).append(true).open(path);
    let stdout = append(launch.run_dir.stdout_file())?;
    let stderr = append(launch.run_dir.stderr_file())?;
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(&launch.cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .process_group(0);
    for name in &launch.env_remove {
        command.env_remove(name);
    }
    command.envs(launch.env.iter().map(|(k, v)| (k, v)));
    Ok(command)
}

/// A bare program name that is not on the run's PATH may be one of the
/// trainers that come with sweepd (`sweepd-mnist`), installed beside the
/// daemon.
pub(super) fn bundled(program: &str, launch: &Launch) -> Option<PathBuf> {
    if program.contains('/') {
        return None;
    }
    let path = launch
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| std::ffi::OsString::from(v))
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default();
    if std::env::split_paths(&path).any(|dir| dir.join(program).is_file()) {
        return None;
    }
    let beside = std::env::current_exe().ok()?.parent()?.join(program);
    beside.is_file().then_some(beside)
}

/// Write a protocol line; a run that closed its stdin (or never reads it) is
/// not an error: it simply will not hear us.
async fn write_line(stdin: Option<ChildStdin>, line: &str) -> Option<ChildStdin> {
    let mut stdin = stdin?;
    match stdin.write_all(line.as_bytes()).await {
        Ok(()) => {
            let _ = stdin.flush().await;
            Some(stdin)
        }
        Err(_) => None,
    }
}

fn signal_group(pid: u32, signal: Signal) {
    // ESRCH: the group is gone already.
    let _ = killpg(Pid::from_raw(pid as i32), signal);
}
