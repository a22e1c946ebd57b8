//! What a sweep's runs add up to: how many are in each state, how many
//! proposals count toward run_cap, and the best run. One answer for the
//! daemon and for `sweepctl`.

use serde::Serialize;

use super::{RunModel, SweepModel};
use crate::spec::Goal;
use crate::store::RunState;

/// How many runs are in each state (every run), and how many proposals
/// have counted: those whose latest run ended in a state that counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub queued: usize,
    pub running: usize,
    pub finished: usize,
    pub failed: usize,
    pub killed: usize,
    pub crashed: usize,
    pub interrupted: usize,
    /// Proposals whose latest run ended and counts toward run_cap.
    pub counted: usize,
}

impl SweepModel {
    pub fn counts(&self) -> Counts {
        let mut counts = Counts::default();
        for run in self.runs.values() {
            *match run.summary.state {
                RunState::Queued => &mut counts.queued,
                RunState::Running => &mut counts.running,
                RunState::Finished => &mut counts.finished,
                RunState::Failed => &mut counts.failed,
                RunState::Killed => &mut counts.killed,
                RunState::Crashed => &mut counts.crashed,
                RunState::Interrupted => &mut counts.interrupted,
            } += 1;
        }
        counts.counted = self
            .latest_runs()
            .values()
            .filter(|r| r.summary.state.counts())
            .count();
        counts
    }

    /// Whether run `n` is its proposal's latest run: the one that counts
    /// for it (a run that was run again does not).
    pub fn is_latest(&self, n: u32) -> bool {
        let Some(run) = self.runs.get(&n) else {
            return false;
        };
        self.runs
            .range(n + 1..)
            .all(|(_, r)| r.summary.proposal != run.summary.proposal)
    }

    /// Proposals that have counted or will: all but those whose latest run
    /// was interrupted and will not be run again (the sweep ended).
    pub fn proposals_that_count(&self) -> u64 {
        self.latest_runs()
            .values()
            .filter(|r| r.summary.state != RunState::Interrupted)
            .count() as u64
    }

    pub(super) fn cap_reached(&self) -> bool {
        self.rules
            .run_cap
            .is_some_and(|cap| self.proposals_that_count() >= cap)
    }

    /// The best run by the sweep metric, and its value: among each
    /// proposal's latest run (a run that was run again is replaced by its
    /// re-run), the first to log the best value.
    pub fn best(&self) -> Option<(&RunModel, f64)> {
        let mut best: Option<(&RunModel, f64)> = None;
        for run in self.latest_runs().into_values() {
            let Some(value) = self.best_of(run) else {
                continue;
            };
            if best.is_none_or(|(_, b)| self.rules.better(value, b)) {
                best = Some((run, value));
            }
        }
        best
    }

    /// A run's best value of the sweep metric by its goal.
    pub fn best_of(&self, run: &RunModel) -> Option<f64> {
        best_value(&run.values, self.rules.goal())
    }
}

/// The best of a run's values by the goal (NaN is no value).
pub fn best_value(values: &[f64], goal: Goal) -> Option<f64> {
    let values = values.iter().copied().filter(|v| !v.is_nan());
    match goal {
        Goal::Minimize => values.reduce(f64::min),
        Goal::Maximize => values.reduce(f64::max),
    }
}
