//! The stop sequence of one run as pure state, shared by the local and the
//! Slurm executors: what to do when a stop is asked for, or when the run
//! times out, and what to do next as each grace period runs out. It holds no
//! timer and does no I/O; an executor waits for [`StopSequence::next_deadline`],
//! carries out each [`Action`] it is given, and says so with
//! [`StopSequence::done`], from which the next grace period counts.
//!
//! - Local (a process group): the stop message on stdin, SIGTERM to the
//!   group `term_after` later, SIGKILL `kill_after` later (both counted from
//!   the message).
//! - Slurm (a batch job): the grace signal (TERM), the job canceled
//!   `term_after` later, and canceled again with a doubling wait until Slurm
//!   hears it. A stop for `shutdown` lets go of the job instead, at any time.
//!
//! Times are whatever instant the caller uses (std's, tokio's, or a
//! [`Duration`] since some start in tests).

use std::ops::Add;
use std::time::Duration;

use crate::protocol::trainer::StopReason;

#[cfg(test)]
mod tests;

/// A point in time the sequence can count from.
pub trait Moment: Copy + Ord + Add<Duration, Output = Self> {}

impl<T: Copy + Ord + Add<Duration, Output = T>> Moment for T {}

/// The local stop sequence's grace periods: SIGTERM to the group after
/// `term_after`, SIGKILL after `kill_after` (both from the stop message).
/// A Slurm job is canceled after `term_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopTimes {
    pub term_after: Duration,
    pub kill_after: Duration,
}

impl Default for StopTimes {
    fn default() -> Self {
        Self {
            term_after: crate::settings::defaults::term_after(),
            kill_after: crate::settings::defaults::kill_after(),
        }
    }
}

/// How an executor stops its run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// A process group on this machine.
    Local(StopTimes),
    /// A Slurm job: canceled `grace` after its grace signal; a cancel that
    /// fails is tried again after `retry`, doubling each time up to `max_retry`.
    Slurm {
        grace: Duration,
        retry: Duration,
        max_retry: Duration,
    },
}

/// What the executor is to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Tell the trainer on its stdin (local).
    SendStopMessage(StopReason),
    /// SIGTERM to the group (local); the grace signal to the job (Slurm: a
    /// job still waiting is simply canceled).
    Terminate,
    /// SIGKILL to the group (local).
    Kill,
    /// `scancel` the job (Slurm).
    Cancel,
    /// Let go of the job: sweepd shuts down, the job goes on, and the next
    /// sweepd takes it up again (Slurm).
    Detach,
}

/// Where a run is in its stop sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopPhase<T> {
    /// Not asked to stop.
    Running,
    /// Asked to stop; the first step is being carried out.
    Asked { reason: StopReason },
    /// The first step was done `at`: its grace period runs.
    Warned { reason: StopReason, at: T },
    /// SIGTERM sent; SIGKILL is due `kill_after` from `warned_at`.
    Terminated { reason: StopReason, warned_at: T },
    /// A cancel is being carried out (`retry_at`: None), or failed and is
    /// tried again at `retry_at`, the wait after it being `wait`.
    Canceling {
        reason: StopReason,
        retry_at: Option<T>,
        wait: Duration,
    },
    /// Nothing more to do but wait for the run to end.
    Done { reason: StopReason },
}

/// One run's stop sequence.
#[derive(Debug, Clone)]
pub struct StopSequence<T> {
    plan: Plan,
    timeout: Option<Duration>,
    timeout_at: Option<T>,
    phase: StopPhase<T>,
}

impl<T: Moment> StopSequence<T> {
    /// A running run's sequence; `timeout` (the run's `sweepd.timeout`)
    /// counts from [`StopSequence::start_clock`].
    pub fn new(plan: Plan, timeout: Option<Duration>) -> Self {
        Self {
            plan,
            timeout,
            timeout_at: None,
            phase: StopPhase::Running,
        }
    }

    #[cfg(test)]
    pub fn phase(&self) -> StopPhase<T> {
        self.phase
    }

    /// Why the run is being stopped, once it is.
    pub fn reason(&self) -> Option<StopReason> {
        match self.phase {
            StopPhase::Running => None,
            StopPhase::Asked { reason }
            | StopPhase::Warned { reason, .. }
            | StopPhase::Terminated { reason, .. }
            | StopPhase::Canceling { reason, .. }
            | StopPhase::Done { reason } => Some(reason),
        }
    }

    /// The run has begun (a Slurm job: seen running): the timeout counts
    /// from `now`. Later calls change nothing.
    pub fn start_clock(&mut self, now: T) {
        if self.timeout_at.is_none() {
            self.timeout_at = self.timeout.map(|t| now + t);
        }
    }

    /// A stop is asked for. Only the first starts the sequence; a later one
    /// (another reason) changes nothing, except that a Slurm run is let go
    /// of for `shutdown` whenever it is asked.
    pub fn stop(&mut self, reason: StopReason) -> Option<Action> {
        if reason == StopReason::Shutdown && matches!(self.plan, Plan::Slurm { .. }) {
            return Some(Action::Detach);
        }
        if self.phase != StopPhase::Running {
            return None;
        }
        self.phase = StopPhase::Asked { reason };
        Some(match self.plan {
            Plan::Local(_) => Action::SendStopMessage(reason),
            Plan::Slurm { .. } => Action::Terminate,
        })
    }

    /// When [`StopSequence::on_deadline`] is next due (None: not until
    /// something else happens).
    pub fn next_deadline(&self) -> Option<T> {
        match (self.phase, self.plan) {
            (StopPhase::Running, _) => self.timeout_at,
            (StopPhase::Warned { at, .. }, Plan::Local(times)) => {
                Some((at + times.term_after).min(at + times.kill_after))
            }
            (StopPhase::Warned { at, .. }, Plan::Slurm { grace, .. }) => Some(at + grace),
            (StopPhase::Terminated { warned_at, .. }, Plan::Local(times)) => {
                Some(warned_at + times.kill_after)
            }
            (StopPhase::Canceling { retry_at, .. }, _) => retry_at,
            _ => None,
        }
    }

    /// Time has come to `now`: the step that is due, if any. Of two steps
    /// due at once only the later is taken (SIGKILL, not SIGTERM first).
    pub fn on_deadline(&mut self, now: T) -> Option<Action> {
        if self.next_deadline().is_none_or(|due| due > now) {
            return None;
        }
        match (self.phase, self.plan) {
            (StopPhase::Running, _) => self.stop(StopReason::Timeout),
            (StopPhase::Warned { reason, at }, Plan::Local(times)) => {
                if at + times.kill_after <= now {
                    self.phase = StopPhase::Done { reason };
                    Some(Action::Kill)
                } else {
                    self.phase = StopPhase::Terminated {
                        reason,
                        warned_at: at,
                    };
                    Some(Action::Terminate)
                }
            }
            (StopPhase::Terminated { reason, .. }, _) => {
                self.phase = StopPhase::Done { reason };
                Some(Action::Kill)
            }
            (StopPhase::Warned { reason, .. }, Plan::Slurm { retry, .. }) => {
                self.phase = StopPhase::Canceling {
                    reason,
                    retry_at: None,
                    wait: retry,
                };
                Some(Action::Cancel)
            }
            (StopPhase::Canceling { reason, wait, .. }, _) => {
                self.phase = StopPhase::Canceling {
                    reason,
                    retry_at: None,
                    wait,
                };
                Some(Action::Cancel)
            }
            _ => None,
        }
    }

    /// The last action was carried out by `now`; `worked` says whether it
    /// worked (only a failed cancel is tried again: a stop message a run
    /// cannot hear, or a grace signal that did not reach the job, is
    /// followed by the next step all the same).
    pub fn done(&mut self, now: T, worked: bool) {
        match (self.phase, self.plan) {
            (StopPhase::Asked { reason }, _) => {
                self.phase = StopPhase::Warned { reason, at: now };
            }
            (
                StopPhase::Canceling {
                    reason,
                    retry_at: None,
                    wait,
                },
                Plan::Slurm { max_retry, .. },
            ) => {
                self.phase = if worked {
                    StopPhase::Done { reason }
                } else {
                    let wait = (wait * 2).min(max_retry);
                    StopPhase::Canceling {
                        reason,
                        retry_at: Some(now + wait),
                        wait,
                    }
                };
            }
            _ => {}
        }
    }
}
