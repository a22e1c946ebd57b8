//! A run as a Slurm batch job. One task per run: it submits the job (or
//! finds it again), follows it through the cluster's poller, reads its
//! output as it grows (by polling: inotify does not see writes made on other
//! hosts), stops it when asked, and says how it ended.
//!
//! - `script`: the batch script and `sbatch`'s options;
//! - `squeue`: reading `squeue --json`, each job's state a [`JobState`];
//! - `cluster`: the commands (failing with a [`cluster::ClusterError`]) and the one
//!   poller for all jobs.
//!
//! Stopping: the trainer protocol's stop message cannot reach a job, so a
//! stop is `scancel --signal=TERM --full` (the trainer's grace signal), then
//! `scancel` after the grace period (Slurm's TERM and, after its KillWait,
//! KILL); the timing is the shared [`StopSequence`]'s. A stop for `shutdown`
//! does not stop the job: the task lets go of it and the next sweepd takes it
//! up again by its job id.

mod cluster;
mod job_state;
pub mod script;
mod squeue;

use std::time::Instant;

use tokio::sync::mpsc;
use tokio::time::Instant as Deadline;

pub use cluster::{Cluster, Seen, SlurmConfig};
pub use job_state::JobState;
pub use squeue::JobInfo;

use super::ingest::Ingest;
use super::stop::{Action, Plan, StopSequence};
use super::{EndedBy, Ending, Exit, Launch, RunEvent, RunEventKind, RunHandle, until};
use crate::protocol::trainer::StopReason;
use crate::spec::SlurmOptions;
use crate::store::SlurmJob;

/// Polls in a row a job may be missing from `squeue` before it counts as gone.
const GONE_AFTER: u32 = 3;
/// The longest wait between two tries at a Slurm command that failed.
const MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Start (or, with `job`, take up again) a run as a Slurm job.
pub fn start(
    launch: Launch,
    cluster: Cluster,
    options: SlurmOptions,
    job: Option<u64>,
    events: mpsc::UnboundedSender<RunEvent>,
) -> RunHandle {
    let (handle, stop_rx) = RunHandle::new();
    tokio::spawn(supervise(launch, cluster, options, job, events, stop_rx));
    handle
}

async fn supervise(
    launch: Launch,
    cluster: Cluster,
    options: SlurmOptions,
    known: Option<u64>,
    events: mpsc::UnboundedSender<RunEvent>,
    mut stop_rx: mpsc::UnboundedReceiver<super::Request>,
) {
    let id = launch.id.clone();
    let send = crate::executor::sender(events, id.clone());
    // Values a sweepd before this one already recorded (a job taken up
    // again): read again from the start, but reported once.
    let already = launch.metric.as_ref().map_or(0, |m| {
        launch
            .run_dir
            .metric_values(&m.name)
            .map_or(0, |v| v.len() as u64)
    });
    let job = match known {
        Some(job) => job,
        None => match submit(&launch, &cluster, &options, &mut stop_rx).await {
            Submission::Job(job) => job,
            Submission::Ran => {
                // Its job ran and left Slurm's queue while no sweepd watched.
                let ingest = open_ingest(&launch);
                let status = read_exit(&launch);
                finish(&launch, ingest, None, status, None, already, &send);
                return;
            }
            Submission::Ended(ending) => {
                send(RunEventKind::Ended(ending));
                return;
            }
            Submission::Detach => {
                send(RunEventKind::Detached);
                return;
            }
        },
    };
    send(RunEventKind::Submitted { job_id: job });
    let name = script::job_name(&launch.id);
    let mut seen_rx = cluster.watch(job);
    let mut ingest = open_ingest(&launch);
    let read = |ingest: &mut Option<Ingest>| {
        let Some(ingest) = ingest.as_mut() else {
            return;
        };
        match ingest.read_new() {
            Ok(values) => report(values, ingest.summary(), already, &send),
            Err(e) => tracing::warn!(run = %id, error = %e, "cannot read the run's output"),
        }
    };
    read(&mut ingest);
    let mut tail = tokio::time::interval(cluster.config.poll);
    let mut last: Option<JobInfo> = None;
    let mut gone = 0;
    let mut sequence = StopSequence::new(
        Plan::Slurm {
            grace: launch.stop.term_after,
            retry: cluster.config.poll,
            max_retry: MAX_WAIT,
        },
        launch.timeout,
    );
    let over = loop {
        let action = tokio::select! {
            seen = seen_rx.recv() => match seen {
                // A job of another name under this id is not ours: ours was
                // forgotten and its id given again (a controller started afresh).
                Some(Seen::Job(info)) if info.name == name => {
                    gone = 0;
                    if last.as_ref() != Some(&info) {
                        send(RunEventKind::Job(SlurmJob {
                            job_id: job,
                            state: Some(info.state.to_string()),
                            reason: info.reason.clone(),
                            node: info.node.clone(),
                        }));
                    }
                    // `sweepd.timeout` counts from when this sweepd sees the job run.
                    if info.state == JobState::Running {
                        sequence.start_clock(Deadline::now());
                    }
                    let ended = info.state.is_over();
                    last = Some(info);
                    if ended {
                        break last.clone();
                    }
                    None
                }
                Some(_) => {
                    gone += 1;
                    if gone >= GONE_AFTER {
                        break None;
                    }
                    None
                }
                None => break last.clone(),
            },
            _ = tail.tick() => {
                read(&mut ingest);
                None
            }
            Some(request) = stop_rx.recv() => sequence.stop(request.reason()),
            () = until(sequence.next_deadline()) => sequence.on_deadline(Deadline::now()),
        };
        let worked = match action {
            // sweepd stops: the job goes on, to be taken up again (and
            // stopped then, if a stop was under way).
            Some(Action::Detach) => {
                read(&mut ingest);
                cluster.forget(job);
                send(RunEventKind::Detached);
                return;
            }
            Some(Action::Terminate) => {
                grace(&cluster, job, last.as_ref(), &launch).await;
                true
            }
            Some(Action::Cancel) => match cluster.cancel(job).await {
                Ok(()) => true,
                // Again until Slurm hears it: the job must not run on.
                Err(e) => {
                    tracing::warn!(run = %id, job, error = %e, "scancel failed; trying again");
                    false
                }
            },
            // The local executor's alone: never in a Slurm plan.
            Some(Action::SendStopMessage(_) | Action::Kill) | None => continue,
        };
        sequence.done(Deadline::now(), worked);
    };
    cluster.forget(job);
    // The script records the exit status as the job ends; on a shared
    // filesystem it may show a moment later than Slurm's word that it ended.
    let mut status = read_exit(&launch);
    let mut waits = 0;
    while status.is_none()
        && waits < GONE_AFTER
        && over
            .as_ref()
            .is_some_and(|o| matches!(o.state, JobState::Completed | JobState::Failed))
    {
        tokio::time::sleep(cluster.config.poll).await;
        status = read_exit(&launch);
        waits += 1;
    }
    finish(
        &launch,
        ingest,
        over.as_ref(),
        status,
        sequence.reason(),
        already,
        &send,
    );
}

/// The run's end: the rest of its output read, and how it ended.
fn finish(
    launch: &Launch,
    ingest: Option<Ingest>,
    over: Option<&JobInfo>,
    status: Option<i32>,
    stopped: Option<StopReason>,
    already: u64,
    send: &impl Fn(RunEventKind),
) {
    let metric = match ingest.map(Ingest::finish) {
        Some(Ok((values, summary))) => {
            report(values, summary.as_ref(), already, send);
            summary
        }
        Some(Err(e)) => {
            tracing::error!(run = %launch.id, error = %e, "cannot read the run's output");
            None
        }
        None => None,
    };
    let (exit, stopped, lost) = ending(over, status, stopped);
    send(RunEventKind::Ended(Ending::from_parts(
        stopped, exit, lost, metric,
    )));
}

fn open_ingest(launch: &Launch) -> Option<Ingest> {
    match Ingest::open(&launch.run_dir, launch.metric.as_ref(), Instant::now()) {
        Ok(ingest) => Some(ingest),
        Err(e) => {
            tracing::error!(run = %launch.id, error = %e, "cannot read the run's output; its metrics are lost");
            None
        }
    }
}

/// What came of handing a run to Slurm.
enum Submission {
    Job(u64),
    /// Its job ran and left the queue while no sweepd watched: end it from its files.
    Ran,
    /// Ended before it had a job (refused, or stopped while Slurm was unreachable).
    Ended(Ending),
    /// sweepd stops; the run waits for the next one.
    Detach,
}

/// Hand the run to Slurm: first looking for a job of its name (submitted by a
/// sweepd that died before it could record it), then, if there is none and
/// its folder shows no earlier job, writing its files and submitting. While
/// Slurm cannot be reached it tries again with a doubling wait.
async fn submit(
    launch: &Launch,
    cluster: &Cluster,
    options: &SlurmOptions,
    stop_rx: &mut mpsc::UnboundedReceiver<super::Request>,
) -> Submission {
    let gpus = options.gpus_per_run.unwrap_or(0);
    let args = script::sbatch_args(launch, options, gpus);
    let name = script::job_name(&launch.id);
    let ran_before = script::exit_file(&launch.run_dir).exists()
        || std::fs::metadata(launch.run_dir.stdout_file()).is_ok_and(|m| m.len() > 0);
    let mut written = false;
    let mut delay = cluster.config.poll;
    loop {
        // A failed look is always worth another; a refused submission is not.
        let tried = match cluster.find(&name).await {
            Ok(Some(job)) => Ok(job),
            Ok(None) if ran_before => return Submission::Ran,
            Ok(None) => {
                if !written {
                    if let Err(e) = write_files(launch, &args, gpus) {
                        return Submission::Ended(failed(e));
                    }
                    written = true;
                }
                cluster.submit(&args).await.map_err(|e| {
                    let again = e.is_transient();
                    (e, again)
                })
            }
            Err(e) => Err((e, true)),
        };
        match tried {
            Ok(job) => {
                cluster.report(None);
                return Submission::Job(job);
            }
            Err((e, true)) => {
                cluster.report(Some(format!(
                    "cannot reach Slurm to submit {}: {e}; trying again in {} s",
                    launch.id,
                    delay.as_secs_f64().ceil()
                )));
            }
            Err((e, false)) => {
                cluster.report(None);
                return Submission::Ended(failed(format!("Slurm refused the job: {e}")));
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            Some(request) = stop_rx.recv() => {
                let reason = request.reason();
                if reason == StopReason::Shutdown {
                    // A timed-out sbatch may have made a job after all: the
                    // next sweepd looks for it by name.
                    return Submission::Detach;
                }
                if let Ok(Some(job)) = cluster.find(&name).await {
                    let _ = cluster.cancel(job).await;
                }
                return Submission::Ended(Ending::new(
                    EndedBy::Stopped { reason, exit: None },
                    None,
                ));
            }
        }
        delay = (delay * 2).min(MAX_WAIT);
    }
}

fn write_files(launch: &Launch, args: &[String], gpus: u32) -> Result<(), String> {
    let program = program(launch);
    std::fs::write(
        script::start_file(&launch.run_dir),
        launch.start_line.as_bytes(),
    )
    .and_then(|()| {
        std::fs::write(
            script::script_file(&launch.run_dir),
            script::script(launch, &program, args, gpus),
        )
    })
    .map_err(|e| {
        format!(
            "cannot write the job's script in {}: {e}",
            launch.run_dir.root().display()
        )
    })
}

fn failed(error: String) -> Ending {
    Ending::not_started(error)
}

/// The command's first word as the job will run it: a bundled trainer
/// (`sweepd-mnist`, beside sweepd) by its full path, since the job's PATH is
/// the compute node's.
fn program(launch: &Launch) -> String {
    let first = launch.argv.first().cloned().unwrap_or_default();
    let path = launch
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| std::ffi::OsString::from(v))
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default();
    crate::monitor::bundled(&first, &path)
        .map(|p| p.display().to_string())
        .unwrap_or(first)
}

/// The grace signal (a job still waiting is simply canceled).
async fn grace(cluster: &Cluster, job: u64, last: Option<&JobInfo>, launch: &Launch) {
    let pending = last.is_none_or(|info| info.state == JobState::Pending);
    let sent = if pending {
        cluster.cancel(job).await
    } else {
        cluster.signal(job, "TERM").await
    };
    if let Err(e) = sent {
        tracing::warn!(run = %launch.id, job, error = %e, "cannot signal the job; canceling it after the grace period");
    }
}

fn read_exit(launch: &Launch) -> Option<i32> {
    std::fs::read_to_string(script::exit_file(&launch.run_dir))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// How a job ended, from Slurm's last word on it, the exit status its
/// script recorded, and whether sweepd stopped it: (exit, stopped, lost).
fn ending(
    over: Option<&JobInfo>,
    status: Option<i32>,
    stopped: Option<StopReason>,
) -> (Option<Exit>, Option<StopReason>, Option<String>) {
    // bash's status of a child killed by signal N is 128 + N.
    let exit = status.map(|code| match code {
        129..=192 => Exit::Signal(code - 128),
        code => Exit::Code(code),
    });
    if stopped.is_some() {
        return (exit, stopped, None);
    }
    let Some(over) = over else {
        return match exit {
            Some(exit) => (Some(exit), None, None),
            None => (
                None,
                None,
                Some("its Slurm job left the queue without an exit status".into()),
            ),
        };
    };
    let lost = |why: &str| {
        let reason = over
            .reason
            .as_ref()
            .map_or(String::new(), |r| format!(", {r}"));
        Some(format!("its Slurm job ended {}{reason}: {why}", over.state))
    };
    match over.state {
        // The cluster's time limit (`slurm.time`).
        JobState::Timeout => (exit, Some(StopReason::Timeout), None),
        // Someone ran scancel: a person's stop.
        JobState::Cancelled => (exit, Some(StopReason::User), None),
        JobState::Preempted | JobState::NodeFail | JobState::BootFail | JobState::Deadline => {
            (None, None, lost("not the run's doing"))
        }
        _ => match exit.or(over.exit_code.map(Exit::Code)) {
            Some(exit) => (Some(exit), None, None),
            None => (None, None, lost("no exit status")),
        },
    }
}

/// One event per new value of the sweep metric, with its iteration number;
/// values up to `already` were recorded by an earlier sweepd.
fn report(
    values: Vec<f64>,
    summary: Option<&crate::store::MetricSummary>,
    already: u64,
    send: &impl Fn(RunEventKind),
) {
    let Some(count) = summary.map(|s| s.count) else {
        return;
    };
    let first = count - values.len() as u64 + 1;
    for (i, value) in values.into_iter().enumerate() {
        let iteration = first + i as u64;
        if iteration > already {
            send(RunEventKind::Metric { value, iteration });
        }
    }
}

#[cfg(test)]
mod tests;
