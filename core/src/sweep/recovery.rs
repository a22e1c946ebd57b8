//! A sweep taken up from its folder: the runs the last sweepd left running
//! are ended (as their monitor saw them end; else interrupted, or stopped
//! if the rule was stopping them), the
//! re-runs owed are queued, and a target reached meanwhile finishes it.

use super::{Effect, RecoveredRun, SweepModel};
use crate::protocol::trainer::StopReason;
use crate::store::{EventKind, RunState, now};

impl SweepModel {
    pub(super) fn recovered(
        &mut self,
        was_running: Vec<RecoveredRun>,
        disk_full: bool,
        fx: &mut Vec<Effect>,
    ) {
        let mut interrupted = Vec::new();
        let mut stopped = Vec::new();
        for found in was_running {
            let n = found.run;
            let Some(run) = self.runs.get_mut(&n) else {
                continue;
            };
            if let Some(values) = found.values {
                run.values = values;
            }
            if found.metric.is_some() {
                run.summary.metric = found.metric;
            }
            // Its monitor saw it end: it ended as any run ends.
            if let Some(ending) = found.ended {
                self.ended(n, ending, disk_full, fx);
                continue;
            }
            run.summary.ended_at = Some(now());
            if run.summary.early_terminate.is_some() {
                // The rule was stopping it when sweepd died: it stays stopped.
                run.summary.state = RunState::Killed;
                run.summary.reason = Some(StopReason::EarlyTerminate.as_str().into());
                stopped.push(n);
            } else {
                run.summary.state = RunState::Interrupted;
                run.summary.reason = Some(INTERRUPTED.into());
                interrupted.push(n);
            }
            fx.push(Effect::SaveRun(n));
        }
        for &n in &interrupted {
            fx.push(Effect::Log(EventKind::RunEnded {
                run: n,
                state: RunState::Interrupted,
                reason: Some(INTERRUPTED.into()),
            }));
        }
        for &n in &stopped {
            fx.push(Effect::Log(EventKind::RunEnded {
                run: n,
                state: RunState::Killed,
                reason: Some(StopReason::EarlyTerminate.as_str().into()),
            }));
        }
        if !interrupted.is_empty() {
            fx.push(Effect::Log(EventKind::Recovered { interrupted }));
        }
        // Owed re-runs, including any a crash kept from being queued.
        let latest: Vec<u32> = self.latest_runs().values().map(|r| r.summary.run).collect();
        for n in latest {
            self.rerun_if_owed(n, fx);
        }
        self.finish_if_target_reached(fx);
        self.finish_if_done(fx);
    }
}

const INTERRUPTED: &str = "sweepd stopped while it ran";
