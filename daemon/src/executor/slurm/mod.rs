//! A run as a Slurm batch job. One task per run: it submits the job (or
//! finds it again), follows it through the cluster's poller, reads its
//! output as it grows (by polling: inotify does not see writes made on other
//! hosts), stops it when asked, and says how it ended.
//!
//! - `script`: the batch script and `sbatch`'s options;
//! - `squeue`: reading `squeue --json`;
//! - `cluster`: the commands and the one poller for all jobs.
//!
//! Stopping: the trainer protocol's stop message cannot reach a job, so a
//! stop is `scancel --signal=TERM --full` (the trainer's grace signal), then
//! `scancel` after the grace period (Slurm's TERM and, after its KillWait,
//! KILL). A stop for `shutdown` does not stop the job: the task lets go of it
//! and the next sweepd takes it up again by its job id.

mod cluster;
pub mod script;
mod squeue;

use std::time::Instant;

use tokio::sync::mpsc;
use tokio::time::{Instant as Deadline, sleep_until};

pub use cluster::{Cluster, Seen, SlurmConfig, transient};
pub use squeue::JobInfo;

use super::ingest::Ingest;
use super::local::report as report_values;
use super::{Ending, Exit, Launch, RunEvent, RunEventKind, RunHandle};
use crate::protocol::trainer::StopReason;
use crate::spec::SlurmOptions;
use crate::store::SlurmJob;

/// Polls in a row a job may be missing from `squeue` before it counts as gone.
const GONE_AFTER: u32 = 3;

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
    mut stop_rx: mpsc::UnboundedReceiver<StopReason>,
) {
    let id = launch.id.clone();
    let send = |kind: RunEventKind| {
        let _ = events.send(RunEvent {
            id: id.clone(),
            kind,
        });
    };
    let job = match known {
        Some(job) => job,
        None => match submit(&launch, &cluster, &options, &mut stop_rx).await {
            Ok(job) => job,
            Err(ending) => {
                send(RunEventKind::Ended(ending));
                return;
            }
        },
    };
    send(RunEventKind::Submitted { job_id: job });
    let mut seen_rx = cluster.watch(job);
    let mut ingest = match Ingest::open(&launch.run_dir, launch.metric.as_ref(), Instant::now()) {
        Ok(ingest) => Some(ingest),
        Err(e) => {
            tracing::error!(run = %id, error = %e, "cannot read the run's output; its metrics are lost");
            None
        }
    };
    let read = |ingest: &mut Option<Ingest>| {
        let Some(ingest) = ingest.as_mut() else {
            return;
        };
        match ingest.read_new() {
            Ok(values) => report(values, ingest, &send),
            Err(e) => tracing::warn!(run = %id, error = %e, "cannot read the run's output"),
        }
    };
    read(&mut ingest);
    let mut tail = tokio::time::interval(cluster.config.poll);
    let mut last: Option<JobInfo> = None;
    let mut gone = 0;
    let mut stopped: Option<StopReason> = None;
    let mut cancel_at: Option<Deadline> = None;
    let mut timeout_at: Option<Deadline> = None;
    let over = loop {
        tokio::select! {
            seen = seen_rx.recv() => match seen {
                Some(Seen::Job(info)) => {
                    gone = 0;
                    if last.as_ref() != Some(&info) {
                        send(RunEventKind::Job(SlurmJob {
                            job_id: job,
                            state: Some(info.state.clone()),
                            reason: info.reason.clone(),
                            node: info.node.clone(),
                        }));
                    }
                    // `sweepd.timeout` counts from when the job runs, not while it waits.
                    if info.state == "RUNNING" && timeout_at.is_none() {
                        timeout_at = launch.timeout.map(|t| Deadline::now() + t);
                    }
                    let ended = info.is_over();
                    last = Some(info);
                    if ended {
                        break last.clone();
                    }
                }
                Some(Seen::Gone) => {
                    gone += 1;
                    if gone >= GONE_AFTER {
                        break None;
                    }
                }
                None => break last.clone(),
            },
            _ = tail.tick() => read(&mut ingest),
            Some(reason) = stop_rx.recv(), if stopped.is_none() => {
                if reason == StopReason::Shutdown {
                    read(&mut ingest);
                    cluster.forget(job);
                    send(RunEventKind::Detached);
                    return;
                }
                stopped = Some(reason);
                cancel_at = Some(grace(&cluster, job, last.as_ref(), &launch).await);
            }
            () = async { sleep_until(timeout_at.expect("guarded")).await }, if stopped.is_none() && timeout_at.is_some() => {
                stopped = Some(StopReason::Timeout);
                cancel_at = Some(grace(&cluster, job, last.as_ref(), &launch).await);
            }
            () = async { sleep_until(cancel_at.expect("guarded")).await }, if cancel_at.is_some() => {
                if let Err(e) = cluster.cancel(job).await {
                    tracing::warn!(run = %id, job, error = %e, "scancel failed");
                }
                cancel_at = None;
            }
        }
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
            .is_some_and(|o| matches!(o.state.as_str(), "COMPLETED" | "FAILED"))
    {
        tokio::time::sleep(cluster.config.poll).await;
        status = read_exit(&launch);
        waits += 1;
    }
    let metric = match ingest.map(Ingest::finish) {
        Some(Ok((values, summary))) => {
            report_values(values, summary.as_ref(), &send);
            summary
        }
        Some(Err(e)) => {
            tracing::error!(run = %id, error = %e, "cannot read the run's output");
            None
        }
        None => None,
    };
    let (exit, stopped, lost) = ending(over.as_ref(), status, stopped);
    send(RunEventKind::Ended(Ending {
        exit,
        stopped,
        metric,
        error: None,
        lost,
    }));
}

/// Write the job's files and hand it to Slurm: first looking for a job of
/// its name (submitted by a sweepd that died before it could record it),
/// and while Slurm cannot be reached, trying again with a doubling wait. A
/// stop before then ends the run without a job.
async fn submit(
    launch: &Launch,
    cluster: &Cluster,
    options: &SlurmOptions,
    stop_rx: &mut mpsc::UnboundedReceiver<StopReason>,
) -> Result<u64, Ending> {
    let gpus = options.gpus_per_run.unwrap_or(0);
    let args = script::sbatch_args(launch, options, gpus);
    let program = program(launch);
    let written = std::fs::write(
        script::start_file(&launch.run_dir),
        launch.start_line.as_bytes(),
    )
    .and_then(|()| {
        std::fs::write(
            script::script_file(&launch.run_dir),
            script::script(launch, &program, &args, gpus),
        )
    });
    if let Err(e) = written {
        return Err(failed(format!(
            "cannot write the job's script in {}: {e}",
            launch.run_dir.root().display()
        )));
    }
    let name = script::job_name(&launch.id);
    let mut delay = cluster.config.poll;
    loop {
        // A failed look is always worth another; a refused submission is not.
        let tried = match cluster.find(&name).await {
            Ok(Some(job)) => Ok(job),
            Ok(None) => cluster.submit(&args).await.map_err(|e| {
                let again = transient(&e);
                (e, again)
            }),
            Err(e) => Err((e, true)),
        };
        match tried {
            Ok(job) => {
                cluster.report(None);
                return Ok(job);
            }
            Err((e, true)) => {
                cluster.report(Some(format!(
                    "cannot reach Slurm to submit {}: {e}; trying again in {} s",
                    launch.id,
                    delay.as_secs_f64().ceil()
                )));
            }
            Err((e, false)) => return Err(failed(format!("Slurm refused the job: {e}"))),
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            Some(reason) = stop_rx.recv() => {
                return Err(Ending {
                    exit: None,
                    stopped: Some(reason),
                    metric: None,
                    error: None,
                    lost: None,
                });
            }
        }
        delay = (delay * 2).min(std::time::Duration::from_secs(60));
    }
}

fn failed(error: String) -> Ending {
    Ending {
        exit: None,
        stopped: None,
        metric: None,
        error: Some(error),
        lost: None,
    }
}

/// The command's first word as the job will run it: a bundled trainer
/// (`sweepd-mnist`, beside sweepd) by its full path, since the job's PATH is
/// the compute node's.
fn program(launch: &Launch) -> String {
    let first = launch.argv.first().cloned().unwrap_or_default();
    super::local::bundled(&first, launch)
        .map(|p| p.display().to_string())
        .unwrap_or(first)
}

/// The grace signal (a job still waiting is simply canceled); when to cancel.
async fn grace(cluster: &Cluster, job: u64, last: Option<&JobInfo>, launch: &Launch) -> Deadline {
    let pending = last.is_none_or(JobInfo::is_pending);
    let sent = if pending {
        cluster.cancel(job).await
    } else {
        cluster.signal(job, "TERM").await
    };
    if let Err(e) = sent {
        tracing::warn!(run = %launch.id, job, error = %e, "cannot signal the job; canceling it after the grace period");
    }
    Deadline::now() + launch.stop.term_after
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
    let exit = status.map(Exit::Code);
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
    match over.state.as_str() {
        // The cluster's time limit (`slurm.time`).
        "TIMEOUT" => (exit, Some(StopReason::Timeout), None),
        // Someone ran scancel: a person's stop.
        "CANCELLED" => (exit, Some(StopReason::User), None),
        "PREEMPTED" | "NODE_FAIL" | "BOOT_FAIL" | "DEADLINE" => {
            (None, None, lost("not the run's doing"))
        }
        _ => match exit.or(over.exit_code.map(Exit::Code)) {
            Some(exit) => (Some(exit), None, None),
            None => (None, None, lost("no exit status")),
        },
    }
}

fn report(values: Vec<f64>, ingest: &Ingest, send: &impl Fn(RunEventKind)) {
    report_values(values, ingest.summary(), send);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(state: &str, exit_code: Option<i32>) -> JobInfo {
        JobInfo {
            job_id: 9,
            name: "sweepd-x-1".into(),
            state: state.into(),
            reason: None,
            node: Some("n1".into()),
            exit_code,
        }
    }

    #[test]
    fn how_jobs_end() {
        use StopReason::*;
        // The script's own record comes first.
        assert_eq!(
            ending(Some(&job("COMPLETED", Some(0))), Some(0), None),
            (Some(Exit::Code(0)), None, None)
        );
        assert_eq!(
            ending(Some(&job("FAILED", None)), Some(3), None),
            (Some(Exit::Code(3)), None, None)
        );
        // Else Slurm's.
        assert_eq!(
            ending(Some(&job("FAILED", Some(2))), None, None),
            (Some(Exit::Code(2)), None, None)
        );
        // Stopped by sweepd: its reason, whatever Slurm says.
        assert_eq!(
            ending(Some(&job("CANCELLED", None)), None, Some(EarlyTerminate)),
            (None, Some(EarlyTerminate), None)
        );
        // The cluster's limit, a person's scancel.
        assert_eq!(
            ending(Some(&job("TIMEOUT", None)), Some(143), None).1,
            Some(Timeout)
        );
        assert_eq!(
            ending(Some(&job("CANCELLED", None)), None, None).1,
            Some(User)
        );
        // Not the run's doing: run again per `retry`.
        let (exit, stopped, lost) = ending(Some(&job("NODE_FAIL", None)), Some(143), None);
        assert_eq!((exit, stopped), (None, None));
        assert!(lost.unwrap().contains("ended NODE_FAIL"));
        let (_, _, lost) = ending(Some(&job("PREEMPTED", None)), None, None);
        assert!(lost.unwrap().contains("PREEMPTED"));
        // Gone from the queue: the script's record, or nothing known.
        assert_eq!(ending(None, Some(1), None).0, Some(Exit::Code(1)));
        assert!(
            ending(None, None, None)
                .2
                .unwrap()
                .contains("without an exit status")
        );
    }
}
