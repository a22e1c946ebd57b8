//! The scheduler's one-line summary (systemd's STATUS=) and the counts
//! it is made of.

use tokio::sync::watch;

use super::Scheduler;
use super::sweep::Sweep;
use crate::store::SweepState;

impl Scheduler {
    /// Say how things stand, when that changed.
    pub(super) fn publish(&self, status: &watch::Sender<String>) {
        let line = self.summary();
        status.send_if_modified(|old| {
            let changed = *old != line;
            if changed {
                old.clone_from(&line);
            }
            changed
        });
    }

    /// One line: runs running, queued runs, and sweeps by state.
    pub(super) fn summary(&self) -> String {
        let count = |state| {
            self.sweeps
                .values()
                .filter(|s| s.model.state() == state)
                .count()
        };
        let queued: usize = self
            .sweeps
            .values()
            .map(|s| s.active().saturating_sub(s.supervised()))
            .sum();
        let in_slurm = self.supervised() - self.supervised_here();
        format!(
            "{} of {} runs running{}, {queued} queued; sweeps: {} running, {} paused",
            self.supervised_here(),
            self.config.max_running,
            if in_slurm > 0 {
                format!(" (and {in_slurm} in Slurm)")
            } else {
                String::new()
            },
            count(SweepState::Running),
            count(SweepState::Paused),
        )
    }

    /// Runs with a live process, over all sweeps.
    pub(super) fn supervised(&self) -> usize {
        self.sweeps.values().map(Sweep::supervised).sum()
    }

    /// Runs with a live process on this machine (Slurm's run elsewhere).
    pub(super) fn supervised_here(&self) -> usize {
        self.sweeps
            .values()
            .filter(|s| !s.is_slurm())
            .map(Sweep::supervised)
            .sum()
    }

    /// The runs `max_running` bounds: those sweepd starts on this machine
    /// (agents' runs are bounded by the agents a person started).
    pub(super) fn started_here(&self) -> usize {
        self.sweeps
            .values()
            .filter(|s| !s.is_slurm() && !s.runs_by_agents())
            .map(Sweep::supervised)
            .sum()
    }
}
