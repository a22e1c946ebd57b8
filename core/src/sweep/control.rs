//! The sweep's own state: a person's commands, failing, finishing, why it
//! waits; and a run's start as its executor reports it.

use super::{Effect, SweepModel};
use crate::protocol::trainer::StopReason;
use crate::spec::Method;
use crate::store::{EventKind, RunState, SlurmJob, SweepState, now};

impl SweepModel {
    pub(super) fn set_state(
        &mut self,
        to: SweepState,
        reason: Option<String>,
        fx: &mut Vec<Effect>,
    ) {
        let from = self.record.state;
        if from == to && self.record.reason == reason {
            return;
        }
        if to != SweepState::Running {
            self.record.waiting = None;
        }
        self.record.state = to;
        self.record.reason = reason.clone();
        self.record.updated_at = now();
        fx.push(Effect::SaveState);
        fx.push(Effect::Log(EventKind::State { from, to, reason }));
    }

    /// Say (in state.json, where `sweepctl status` reads it) why no run can
    /// start now, or that nothing holds the sweep back any more.
    pub(super) fn set_waiting(&mut self, why: Option<String>, fx: &mut Vec<Effect>) {
        if self.record.waiting == why {
            return;
        }
        if let Some(why) = &why {
            tracing::info!(sweep = %self.record.id, "{why}");
        }
        self.record.waiting = why;
        self.record.updated_at = now();
        fx.push(Effect::SaveState);
    }

    /// What keeps sweepd from Slurm now, or None.
    pub(super) fn set_executor_problem(&mut self, problem: Option<String>, fx: &mut Vec<Effect>) {
        if self.record.executor_problem == problem {
            return;
        }
        // Not `updated_at`: that marks the sweep's own changes of state.
        self.record.executor_problem = problem;
        fx.push(Effect::SaveState);
    }

    /// A run used `mib` of GPU memory: the most seen is kept (and saved).
    pub(super) fn saw_gpu_memory(&mut self, mib: u64, fx: &mut Vec<Effect>) {
        if self.record.gpu_memory_mib.is_some_and(|seen| seen >= mib) {
            return;
        }
        tracing::info!(sweep = %self.record.id, mib, "a run of the sweep uses this much GPU memory: its next runs are placed by it");
        self.record.gpu_memory_mib = Some(mib);
        fx.push(Effect::SaveState);
    }

    pub(super) fn fail(&mut self, reason: &str, fx: &mut Vec<Effect>) {
        tracing::error!(sweep = %self.record.id, reason, "sweep failed");
        self.end_queued("the sweep failed before it started", fx);
        self.stop_supervised(StopReason::User, fx);
        self.set_state(SweepState::Failed, Some(reason.to_owned()), fx);
    }

    /// Stop (W&B's `--stop`): no new runs, queued ones ended; running ones finish.
    pub(super) fn stop(&mut self, fx: &mut Vec<Effect>) {
        self.end_queued("the sweep was stopped before it started", fx);
        self.set_state(SweepState::Finished, Some("stopped by user".into()), fx);
    }

    /// Cancel: queued runs are ended unstarted; running ones get the stop message.
    pub(super) fn cancel(&mut self, fx: &mut Vec<Effect>) {
        self.end_queued("the sweep was canceled before it started", fx);
        self.stop_supervised(StopReason::User, fx);
        self.set_state(SweepState::Canceled, Some("canceled by user".into()), fx);
    }

    fn stop_supervised(&self, reason: StopReason, fx: &mut Vec<Effect>) {
        for run in self.runs.values().filter(|r| r.supervised) {
            fx.push(Effect::StopRun {
                run: run.summary.run,
                reason,
            });
        }
    }

    /// End the runs that wait to start, each recorded before the sweep's
    /// new state is.
    pub(super) fn end_queued(&mut self, reason: &str, fx: &mut Vec<Effect>) {
        for run in self.runs.values_mut().filter(|r| r.is_waiting()) {
            run.summary.state = RunState::Killed;
            run.summary.reason = Some(reason.to_owned());
            run.summary.ended_at = Some(now());
            let n = run.summary.run;
            fx.push(Effect::SaveRun(n));
            fx.push(Effect::Log(EventKind::RunEnded {
                run: n,
                state: RunState::Killed,
                reason: Some(reason.to_owned()),
            }));
        }
    }

    /// Finish the sweep when nothing is left to run (and what it holds is
    /// on disk: an unsaved run may still be owed a re-run).
    pub(super) fn finish_if_done(&mut self, fx: &mut Vec<Effect>) {
        if self.record.state != SweepState::Running || self.active() > 0 || self.unsaved {
            return;
        }
        let reason = if self.exhausted {
            match self.rules.method {
                Method::Grid => "every point of the grid has run",
                _ => "the search has nothing left to propose",
            }
        } else if self.cap_reached() {
            super::extend::CAP_REACHED
        } else {
            return;
        };
        self.set_state(SweepState::Finished, Some(reason.to_owned()), fx);
    }

    pub(super) fn started(&mut self, n: u32, pid: u32, fx: &mut Vec<Effect>) {
        let Some(run) = self.runs.get_mut(&n) else {
            return;
        };
        run.summary.state = RunState::Running;
        run.summary.pid = Some(pid);
        run.summary.started_at = Some(now());
        fx.push(Effect::SaveRun(n));
        fx.push(Effect::Log(EventKind::RunStarted { run: n, pid }));
    }

    pub(super) fn submitted(&mut self, n: u32, job_id: u64, fx: &mut Vec<Effect>) {
        let Some(run) = self.runs.get_mut(&n) else {
            return;
        };
        if run
            .summary
            .slurm
            .as_ref()
            .is_some_and(|j| j.job_id == job_id)
            && run.summary.state == RunState::Running
        {
            return; // taken up again after a restart
        }
        run.summary.state = RunState::Running;
        run.summary.started_at.get_or_insert_with(now);
        run.summary.slurm = Some(SlurmJob {
            job_id,
            state: None,
            reason: None,
            node: None,
        });
        fx.push(Effect::SaveRun(n));
        fx.push(Effect::Log(EventKind::RunSubmitted { run: n, job_id }));
    }

    /// The Slurm job's state as last seen (for `sweepctl show`).
    pub(super) fn job_seen(&mut self, n: u32, job: SlurmJob, fx: &mut Vec<Effect>) {
        let Some(run) = self.runs.get_mut(&n) else {
            return;
        };
        if run.summary.slurm.as_ref() == Some(&job) {
            return;
        }
        run.summary.slurm = Some(job);
        fx.push(Effect::SaveRun(n));
    }
}
