//! How a run is started, watched and stopped. The local executor runs it as
//! a process group on this machine; the scheduler sees only [`Launch`],
//! [`RunHandle`] and [`RunEvent`], so another executor (Slurm) can stand in.

mod ingest;
mod local;
pub mod orphans;
mod tail;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

pub use ingest::Ingest;
pub use local::{RunHandle, start};
pub use tail::Tails;

use crate::protocol::trainer::StopReason;
use crate::spec::Metric;
use crate::store::{MetricSummary, RunDir, RunId};

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
}

/// The stop sequence: the stop message at once, SIGTERM to the group after
/// `term_after`, SIGKILL after `kill_after` (both from the stop request).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopTimes {
    pub term_after: Duration,
    pub kill_after: Duration,
}

impl Default for StopTimes {
    fn default() -> Self {
        Self {
            term_after: Duration::from_secs(10),
            kill_after: Duration::from_secs(30),
        }
    }
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
    /// The sweep metric's `iteration`-th value (1-based).
    Metric {
        value: f64,
        iteration: u64,
    },
    Ended(Ending),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    /// None when it never started or its status was lost.
    pub exit: Option<Exit>,
    /// Set when sweepd asked it to stop.
    pub stopped: Option<StopReason>,
    pub metric: Option<MetricSummary>,
    /// Why it could not start.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}
