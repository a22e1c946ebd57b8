//! A run handed to an agent (docs/agents.md): a process this machine runs
//! but sweepd did not start. The agent starts it, appends its output to the
//! run's logs, and says when it started and how it exited; sweepd follows
//! the logs as for any run, and its stop sequence reaches the run through
//! the agent (stop message, then TERM and KILL to its process group). When
//! the agent goes away while the run runs, what is left of the run's group
//! is killed and the run is recorded lost (crashed, to run again under
//! `sweepd.retry`).

use std::time::Instant;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::sync::mpsc;
use tokio::time::Instant as Deadline;

use super::output::Output;
use super::stop::{Action, Plan, StopSequence};
use super::tail::Tails;
use super::{EndedBy, Ending, Exit, Launch, RunEvent, RunEventKind, RunHandle, until};
use crate::protocol::trainer::StopReason;
use crate::search::ParamSet;
use crate::store::RunId;

/// What the scheduler and a run's supervisor send an agent's connection.
#[derive(Debug)]
pub enum ToAgent {
    /// Run this; say what becomes of it on `reports`.
    Run {
        launch: Box<Launch>,
        params: ParamSet,
        reports: mpsc::UnboundedSender<AgentReport>,
    },
    Stop {
        run: RunId,
        reason: StopReason,
    },
    Signal {
        run: RunId,
        signal: Signal,
    },
    /// No more runs: why.
    Done(String),
}

/// What an agent says of a run it was handed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentReport {
    Started {
        pid: u32,
    },
    /// None: the agent could not learn how it ended.
    Exited(Option<Exit>),
}

/// The way to an agent's connection; closed when the agent is gone.
pub type AgentLink = mpsc::UnboundedSender<ToAgent>;

/// Hand the run to the agent; its events go to `events`.
pub fn start(
    launch: Launch,
    params: ParamSet,
    agent: AgentLink,
    tails: Tails,
    events: mpsc::UnboundedSender<RunEvent>,
) -> RunHandle {
    let (handle, stop_rx) = RunHandle::new();
    tokio::spawn(supervise(launch, params, agent, tails, events, stop_rx));
    handle
}

async fn supervise(
    launch: Launch,
    params: ParamSet,
    agent: AgentLink,
    tails: Tails,
    events: mpsc::UnboundedSender<RunEvent>,
    mut stop_rx: mpsc::UnboundedReceiver<super::Request>,
) {
    let id = launch.id.clone();
    let send = super::sender(events, id.clone());
    let started = Instant::now();
    let mut output = Output::follow(&launch, &tails, started, &send).await;
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let (stop, timeout) = (launch.stop, launch.timeout);
    let handed = agent.send(ToAgent::Run {
        launch: Box::new(launch),
        params,
        reports: reports_tx,
    });
    if handed.is_err() {
        let metric = output.finish(&send);
        send(RunEventKind::Ended(Ending::new(
            EndedBy::Interrupted("its agent went away before the run was handed to it".into()),
            metric,
        )));
        return;
    }
    let mut sequence = StopSequence::new(Plan::Local(stop), timeout);
    sequence.start_clock(Deadline::now());
    let mut pid = None;
    // After SIGKILL, how long the agent has to say the run exited.
    let mut give_up = None;
    let end = loop {
        let action = tokio::select! {
            // A stop asked for (a shutdown, say) is heard before the agent's loss.
            biased;
            Some(request) = stop_rx.recv() => sequence.stop(request.reason()),
            report = reports.recv() => match report {
                Some(AgentReport::Started { pid: p }) => {
                    pid = Some(p);
                    send(RunEventKind::Started { pid: p });
                    None
                }
                Some(AgentReport::Exited(exit)) => break End::Exited(exit),
                None => break End::AgentGone,
            },
            () = until(give_up) => break End::Unheard,
            () = until(sequence.next_deadline()) => sequence.on_deadline(Deadline::now()),
            () = output.changes(&send) => None,
        };
        let message = match action {
            Some(Action::SendStopMessage(reason)) => ToAgent::Stop {
                run: id.clone(),
                reason,
            },
            Some(Action::Terminate) => ToAgent::Signal {
                run: id.clone(),
                signal: Signal::SIGTERM,
            },
            Some(Action::Kill) => {
                // Also from here: an agent that is stopped (^Z) or hung
                // cannot pass it on.
                if let Some(pid) = pid {
                    kill_group(pid);
                }
                give_up = Some(Deadline::now() + AGENT_SILENCE);
                ToAgent::Signal {
                    run: id.clone(),
                    signal: Signal::SIGKILL,
                }
            }
            // Slurm's alone: never in a local plan.
            Some(Action::Cancel | Action::Detach) | None => continue,
        };
        // An agent gone is heard of on `reports`.
        let _ = agent.send(message);
        sequence.done(Deadline::now(), true);
    };
    if !matches!(end, End::Exited(_))
        && let Some(pid) = pid
    {
        // The agent is gone (or silent); the run may live on without it.
        kill_group(pid);
    }
    let metric = output.finish(&send);
    let ending = match (end, pid, sequence.reason()) {
        // Never started: not the run's doing; it runs again.
        (End::AgentGone, None, None) => Ending::new(
            EndedBy::Interrupted("its agent went away before starting it".into()),
            metric,
        ),
        (end, _, reason) => {
            let (exit, lost) = match end {
                End::Exited(Some(exit)) => (Some(exit), None),
                End::Exited(None) => (None, Some("its agent could not learn how it ended")),
                End::AgentGone => (
                    None,
                    Some("its agent went away while it ran (the agent's connection closed)"),
                ),
                End::Unheard => (None, Some("its agent did not say it exited after SIGKILL")),
            };
            if let Some(lost) = lost {
                tracing::warn!(run = %id, ?pid, "{lost}");
            }
            Ending::from_parts(reason, exit, lost.map(str::to_owned), metric)
        }
    };
    send(RunEventKind::Ended(ending));
}

/// How the supervision of an agent's run ended.
enum End {
    /// The agent said it exited: how (None: it could not learn).
    Exited(Option<Exit>),
    /// The agent's connection closed.
    AgentGone,
    /// The agent said nothing for `AGENT_SILENCE` after SIGKILL.
    Unheard,
}

/// After SIGKILL, how long an agent has to say its run exited.
const AGENT_SILENCE: std::time::Duration = std::time::Duration::from_secs(5);

fn kill_group(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // ESRCH: gone already.
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}
