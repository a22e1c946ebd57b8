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
use super::{Ending, Exit, Launch, RunEvent, RunEventKind, RunHandle, until};
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
    Started { pid: u32 },
    Exited(Exit),
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
    mut stop_rx: mpsc::UnboundedReceiver<StopReason>,
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
        output.finish(&send);
        send(RunEventKind::Ended(Ending::not_started(
            "its agent went away before the run was handed to it",
        )));
        return;
    }
    let mut sequence = StopSequence::new(Plan::Local(stop), timeout);
    sequence.start_clock(Deadline::now());
    let mut pid = None;
    let exit = loop {
        let action = tokio::select! {
            report = reports.recv() => match report {
                Some(AgentReport::Started { pid: p }) => {
                    pid = Some(p);
                    send(RunEventKind::Started { pid: p });
                    None
                }
                Some(AgentReport::Exited(exit)) => break Some(exit),
                None => break None,
            },
            () = output.changes(&send) => None,
            Some(reason) = stop_rx.recv() => sequence.stop(reason),
            () = until(sequence.next_deadline()) => sequence.on_deadline(Deadline::now()),
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
            Some(Action::Kill) => ToAgent::Signal {
                run: id.clone(),
                signal: Signal::SIGKILL,
            },
            // Slurm's alone: never in a local plan.
            Some(Action::Cancel | Action::Detach) | None => continue,
        };
        // An agent gone is heard of on `reports`.
        let _ = agent.send(message);
        sequence.done(Deadline::now(), true);
    };
    let lost = if exit.is_none() {
        // The agent is gone; the run may live on without it.
        if let Some(pid) = pid {
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        tracing::warn!(run = %id, ?pid, "the run's agent went away while it ran");
        Some("its agent went away while it ran (the agent's connection closed)".to_owned())
    } else {
        None
    };
    let metric = output.finish(&send);
    send(RunEventKind::Ended(Ending::from_parts(
        sequence.reason(),
        exit,
        lost,
        metric,
    )));
}
