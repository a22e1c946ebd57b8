//! How a run is started, watched and stopped. The scheduler sees only
//! [`Launch`], [`RunHandle`] and [`RunEvent`]; behind them, a [`Backend`]:
//! the local executor runs a run as a process group on this machine, the
//! Slurm executor as a batch job of a Slurm cluster.

pub mod agent;
mod ingest;
mod local;
mod log_cap;
pub mod orphans;
mod output;
pub mod slurm;
pub mod stop;
mod tail;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

pub use agent::{AgentLink, AgentReport, ToAgent};
pub use ingest::Ingest;
pub use local::adopt;
pub use stop::StopTimes;
pub use tail::Tails;

use crate::protocol::trainer::StopReason;
use crate::spec::{Metric, SlurmOptions};
use crate::store::{RunDir, RunId, SlurmJob};

/// Where runs run.
#[derive(Clone)]
pub enum Backend {
    /// Process groups here; their output noticed through inotify.
    Local(Tails),
    /// Batch jobs of a Slurm cluster, with the sweep's `slurm:` resources.
    Slurm(slurm::Cluster, SlurmOptions),
}

/// Start a run; its events go to `events`.
pub fn start(
    launch: Launch,
    backend: &Backend,
    events: mpsc::UnboundedSender<RunEvent>,
) -> RunHandle {
    match backend {
        Backend::Local(tails) => local::start(launch, tails.clone(), events),
        Backend::Slurm(cluster, options) => {
            slurm::start(launch, cluster.clone(), options.clone(), None, events)
        }
    }
}

/// How a run's task tells the scheduler what happens to it.
fn sender(events: mpsc::UnboundedSender<RunEvent>, id: RunId) -> impl Fn(RunEventKind) {
    move |kind| {
        let _ = events.send(RunEvent {
            id: id.clone(),
            kind,
        });
    }
}

/// Wait until `deadline` (a stop sequence's next); with none, forever.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Ask a run to stop; dropping the handle does not stop it.
#[derive(Debug, Clone)]
pub struct RunHandle {
    requests: mpsc::UnboundedSender<Request>,
}

/// What a run's supervisor is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Stop the run.
    Stop(StopReason),
    /// sweepd shuts down and leaves its runs going: let go of the run (a
    /// local run's monitor and a Slurm job go on; an agent's run is stopped,
    /// since its agent loses sweepd).
    Detach,
}

impl Request {
    /// Why the run stops, for an executor that cannot leave it going.
    pub fn reason(self) -> StopReason {
        match self {
            Request::Stop(reason) => reason,
            Request::Detach => StopReason::Shutdown,
        }
    }
}

impl RunHandle {
    /// A handle, and where its requests arrive.
    fn new() -> (Self, mpsc::UnboundedReceiver<Request>) {
        let (requests, rx) = mpsc::unbounded_channel();
        (Self { requests }, rx)
    }

    /// Start the stop sequence (a second request changes nothing). A Slurm
    /// run asked to stop for `shutdown` is not stopped: its job goes on, and
    /// the next sweepd takes it up again.
    pub fn stop(&self, reason: StopReason) {
        let _ = self.requests.send(Request::Stop(reason));
    }

    /// Let go of the run, which goes on without sweepd (see [`Request::Detach`]).
    pub fn detach(&self) {
        let _ = self.requests.send(Request::Detach);
    }
}

/// Everything needed to start one run.
#[derive(Debug, Clone)]
pub struct Launch {
    pub id: RunId,
    pub argv: Vec<String>,
    pub cwd: PathBuf,
    /// Variables to set on top of the daemon's environment.
    pub env: Vec<(String, String)>,
    /// Variables of the daemon's that runs must not see.
    pub env_remove: Vec<String>,
    /// The protocol's start message, newline included.
    pub start_line: String,
    pub run_dir: RunDir,
    pub metric: Option<Metric>,
    pub timeout: Option<Duration>,
    pub stop: StopTimes,
    /// The run's GPUs (UUIDs) and their locked files, handed to its monitor.
    pub gpu_locks: Vec<(String, std::sync::Arc<std::fs::File>)>,
}

/// What a run tells the scheduler.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEvent {
    pub id: RunId,
    pub kind: RunEventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunEventKind {
    Started {
        pid: u32,
    },
    /// Handed to Slurm (or found there again after a restart).
    Submitted {
        job_id: u64,
    },
    /// The Slurm job's state as last seen, when it changes.
    Job(SlurmJob),
    /// Left to run on without sweepd (a Slurm job while sweepd shuts down).
    Detached,
    /// The sweep metric's `iteration`-th value (1-based).
    Metric {
        value: f64,
        iteration: u64,
    },
    Ended(Ending),
}

pub use crate::sweep::{EndedBy, Ending, Exit};
