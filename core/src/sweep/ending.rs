//! How a run ended, as its executor saw it: one of five ways, each with
//! what it knows. The sweep model turns it into the run's state.

use crate::protocol::trainer::StopReason;
use crate::store::MetricSummary;

/// How a run ended, and the summary of the metrics it logged.
#[derive(Debug, Clone, PartialEq)]
pub struct Ending {
    pub how: EndedBy,
    pub metric: Option<MetricSummary>,
}

/// The ways a run ends.
#[derive(Debug, Clone, PartialEq)]
pub enum EndedBy {
    /// It never started (its command could not be spawned or submitted): why.
    NotStarted(String),
    /// It exited by itself.
    Exited(Exit),
    /// sweepd stopped it (or a person did, through Slurm); its exit status
    /// when known.
    Stopped {
        reason: StopReason,
        exit: Option<Exit>,
    },
    /// Its exit status is unknown (a Slurm job preempted or lost with its
    /// node, a status that could not be read): why.
    Lost(String),
    /// Cut short by something that is not the run's doing (its agent went
    /// away before starting it, its monitor was killed): it runs again,
    /// without counting: why.
    Interrupted(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl Ending {
    pub fn new(how: EndedBy, metric: Option<MetricSummary>) -> Self {
        Ending { how, metric }
    }

    /// A run that could not start.
    pub fn not_started(why: impl Into<String>) -> Self {
        Ending::new(EndedBy::NotStarted(why.into()), None)
    }

    /// From what a supervisor knows at the end: sweepd's stop wins, then
    /// the exit status, else the status is lost (`lost` says why).
    pub fn from_parts(
        stopped: Option<StopReason>,
        exit: Option<Exit>,
        lost: Option<String>,
        metric: Option<MetricSummary>,
    ) -> Self {
        let how = match (stopped, exit) {
            (Some(reason), exit) => EndedBy::Stopped { reason, exit },
            (None, Some(exit)) => EndedBy::Exited(exit),
            (None, None) => {
                EndedBy::Lost(lost.unwrap_or_else(|| "its exit status was lost".into()))
            }
        };
        Ending::new(how, metric)
    }

    /// Its exit status, when known.
    pub fn exit(&self) -> Option<Exit> {
        match self.how {
            EndedBy::Exited(exit) => Some(exit),
            EndedBy::Stopped { exit, .. } => exit,
            EndedBy::NotStarted(_) | EndedBy::Lost(_) | EndedBy::Interrupted(_) => None,
        }
    }

    /// Why sweepd stopped it, if it did.
    pub fn stopped(&self) -> Option<StopReason> {
        match self.how {
            EndedBy::Stopped { reason, .. } => Some(reason),
            _ => None,
        }
    }

    /// Why it could not start, if it did not.
    pub fn not_started_because(&self) -> Option<&str> {
        match &self.how {
            EndedBy::NotStarted(why) => Some(why),
            _ => None,
        }
    }

    /// It exited by itself with status 0.
    pub fn succeeded(&self) -> bool {
        self.how == EndedBy::Exited(Exit::Code(0))
    }
}
