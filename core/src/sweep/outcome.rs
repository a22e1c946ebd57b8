//! What a run's values and its end do to its sweep: the metric's target,
//! early termination, how the run ended, re-runs owed, and failures in a row.

use super::{Effect, EndedBy, Ending, Exit, SweepModel};
use crate::early_stop::Judgement;
use crate::protocol::trainer::StopReason;
use crate::store::{EventKind, RunState, RunSummary, SweepState, now};

/// After this many runs in a row that could not start, the sweep fails.
pub const UNSTARTABLE_IN_A_ROW: usize = 3;

impl SweepModel {
    /// A value of the sweep's metric, and the early-termination rule applied.
    /// Only a value at a band can change a band's threshold or bring a run to
    /// a new band; any other value can only improve a run's standing, so the
    /// rule is applied then only (the same decisions as applying it always).
    /// A value already known (`iteration` of them are: read again from the
    /// run's output after a restart) changes nothing.
    pub(super) fn metric(&mut self, n: u32, value: f64, iteration: u64, fx: &mut Vec<Effect>) {
        let Some(run) = self.runs.get_mut(&n) else {
            return;
        };
        if iteration <= run.values.len() as u64 {
            return;
        }
        run.values.push(value);
        let count = run.values.len();
        if self.is_running() && self.rules.reaches_target(value) {
            self.finish_at_target(n, value, fx);
        }
        if self
            .rules
            .early_stop
            .as_ref()
            .is_some_and(|rule| rule.is_band(count))
        {
            self.terminate_early(fx);
        }
    }

    fn finish_at_target(&mut self, n: u32, value: f64, fx: &mut Vec<Effect>) {
        let metric = self.rules.metric.as_ref().expect("a target has a metric");
        let target = metric.target.expect("reached");
        let why = format!(
            "run {n} reached the target {} = {target} ({value})",
            metric.name
        );
        tracing::info!(sweep = %self.record.id, run = n, value, target, "metric.target reached: the sweep finishes");
        self.end_queued("the sweep reached its metric.target before it started", fx);
        self.set_state(SweepState::Finished, Some(why), fx);
    }

    /// Finish the sweep if a value logged while it could not finish (paused,
    /// or read back after a restart) reached `metric.target`.
    pub(super) fn finish_if_target_reached(&mut self, fx: &mut Vec<Effect>) {
        if !self.is_running() {
            return;
        }
        let reached = self.runs.values().find_map(|r| {
            r.values
                .iter()
                .copied()
                .find(|&v| self.rules.reaches_target(v))
                .map(|v| (r.summary.run, v))
        });
        if let Some((n, value)) = reached {
            self.finish_at_target(n, value, fx);
        }
    }

    /// Judge every running run by the early-termination rule; stop those it
    /// condemns, recording why in their summary and the sweep's events.
    fn terminate_early(&mut self, fx: &mut Vec<Effect>) {
        let Some(rule) = &self.rules.early_stop else {
            return;
        };
        // One history per proposal (its latest run: a re-run replaces an
        // interrupted run, it does not add to it). A stopped run counts with
        // the values it had when judged: what it logs while it stops does not
        // move the thresholds, so decisions do not depend on how fast runs stop.
        let histories: Vec<&[f64]> = self
            .latest_runs()
            .into_values()
            .map(|r| match &r.summary.early_terminate {
                Some(j) => &r.values[..j.iteration.min(r.values.len())],
                None => r.values.as_slice(),
            })
            .collect();
        let thresholds = rule.thresholds(histories.iter().copied());
        let condemned: Vec<(u32, Judgement)> = self
            .runs
            .iter()
            .filter(|(_, r)| {
                r.summary.state == RunState::Running
                    && r.supervised
                    && r.summary.early_terminate.is_none()
            })
            .filter_map(|(&n, r)| Some((n, rule.judge(&thresholds, &r.values)?)))
            .filter(|(_, j)| j.stop)
            .collect();
        for (n, judgement) in condemned {
            let run = self.runs.get_mut(&n).expect("listed above");
            tracing::info!(
                sweep = %self.record.id,
                run = n,
                band = judgement.band,
                value = judgement.value,
                threshold = judgement.threshold,
                runs_at_band = judgement.runs_at_band,
                "early termination: the run is stopped"
            );
            fx.push(Effect::StopRun {
                run: n,
                reason: StopReason::EarlyTerminate,
            });
            run.summary.early_terminate = Some(judgement.clone());
            fx.push(Effect::SaveRun(n));
            fx.push(Effect::Log(EventKind::EarlyTerminated {
                run: n,
                judgement,
            }));
        }
    }

    /// Record how a run ended; queue its re-run when one is owed; fail the
    /// sweep when its runs keep failing to start, pause it when they keep
    /// failing. A run that failed or crashed while the disk was full
    /// (`disk_full`) is not blamed for it: it counts as interrupted and
    /// runs again.
    pub(super) fn ended(&mut self, n: u32, ending: Ending, disk_full: bool, fx: &mut Vec<Effect>) {
        let Some(run) = self.runs.get_mut(&n) else {
            return;
        };
        run.supervised = false;
        let (state, reason) = match (&run.summary.early_terminate, classify(&ending)) {
            // Stopped by the rule, then caught by a shutdown: still the rule's.
            (Some(_), (RunState::Interrupted, _)) => (
                RunState::Killed,
                Some(StopReason::EarlyTerminate.as_str().to_owned()),
            ),
            (_, (RunState::Failed | RunState::Crashed, reason)) if disk_full => (
                RunState::Interrupted,
                Some(format!(
                    "the disk was full when it ended ({})",
                    reason.unwrap_or_default()
                )),
            ),
            (_, ending) => ending,
        };
        // The rule's reasons stay only if the rule is what ended the run (it
        // may have ended by itself, or been stopped for another reason, first).
        if reason.as_deref() != Some(StopReason::EarlyTerminate.as_str()) {
            run.summary.early_terminate = None;
        }
        run.summary.state = state;
        run.summary.reason = reason.clone();
        run.summary.exit_code = match ending.exit() {
            Some(Exit::Code(code)) => Some(code),
            _ => None,
        };
        run.summary.signal = match ending.exit() {
            Some(Exit::Signal(signal)) => Some(signal),
            _ => None,
        };
        run.summary.ended_at = Some(now());
        let not_started = ending.not_started_because().is_some();
        if ending.metric.is_some() {
            run.summary.metric = ending.metric;
        }
        fx.push(Effect::SaveRun(n));
        fx.push(Effect::Log(EventKind::RunEnded {
            run: n,
            state,
            reason: reason.clone(),
        }));
        if not_started && self.unstartable_in_a_row() {
            let why = format!(
                "{UNSTARTABLE_IN_A_ROW} runs in a row could not start: {}",
                reason.unwrap_or_default()
            );
            return self.fail(&why, fx);
        }
        let limit = self.rules.max_failures_in_a_row;
        if limit > 0 && self.is_running() && self.failures_in_a_row() >= limit as usize {
            let why = format!(
                "{limit} runs in a row failed or crashed (the last, run {n}: {}); \
                 see `sweepctl logs`, then `sweepctl resume`",
                reason.unwrap_or_default()
            );
            tracing::warn!(sweep = %self.record.id, "{why}");
            self.set_state(SweepState::Paused, Some(why), fx);
        }
        self.rerun_if_owed(n, fx);
    }

    /// How many of the latest ended runs, since the sweep last changed state
    /// (a resume starts the count again), failed or crashed, in a row.
    fn failures_in_a_row(&self) -> usize {
        let since = &self.record.updated_at;
        let mut ended: Vec<&RunSummary> = self
            .runs
            .values()
            .map(|r| &r.summary)
            // Times are to the millisecond: a run that ended in the same
            // one as the change counts after it.
            .filter(|s| s.ended_at.as_ref().is_some_and(|t| t >= since))
            .collect();
        ended.sort_by(|a, b| a.ended_at.cmp(&b.ended_at).then(a.run.cmp(&b.run)));
        ended
            .iter()
            .rev()
            .take_while(|s| matches!(s.state, RunState::Failed | RunState::Crashed))
            .count()
    }

    /// Whether the latest runs all crashed before starting.
    fn unstartable_in_a_row(&self) -> bool {
        let last: Vec<&RunSummary> = self
            .runs
            .values()
            .rev()
            .take(UNSTARTABLE_IN_A_ROW)
            .map(|r| &r.summary)
            .collect();
        last.len() == UNSTARTABLE_IN_A_ROW
            && last
                .iter()
                .all(|s| s.state == RunState::Crashed && s.started_at.is_none())
    }

    /// Run a proposal again when its latest run (`n`) was interrupted by the
    /// daemon (always) or crashed (while `sweepd.retry` allows), and the sweep
    /// still runs or is paused.
    pub(super) fn rerun_if_owed(&mut self, n: u32, fx: &mut Vec<Effect>) {
        let Some(run) = self.runs.get(&n) else {
            return;
        };
        let proposal = run.summary.proposal;
        let is_latest = self
            .latest_runs()
            .get(&proposal)
            .is_some_and(|r| r.summary.run == n);
        let crashes = self
            .runs
            .values()
            .filter(|r| r.summary.proposal == proposal && r.summary.state == RunState::Crashed)
            .count() as u32;
        let owed = match run.summary.state {
            RunState::Interrupted => true,
            RunState::Crashed => crashes <= self.rules.retry,
            _ => false,
        };
        let sweep_goes_on = matches!(self.record.state, SweepState::Running | SweepState::Paused);
        if !owed || !is_latest || !sweep_goes_on {
            return;
        }
        let (params, attempt) = (run.params.clone(), run.summary.attempt + 1);
        let rerun = self.queue(params, proposal, attempt, fx);
        let run = self.runs.get_mut(&n).expect("present");
        run.summary.retried_by = Some(rerun);
        fx.push(Effect::SaveRun(n));
    }
}

/// A run's state from how it ended.
fn classify(ending: &Ending) -> (RunState, Option<String>) {
    match &ending.how {
        EndedBy::NotStarted(why) => (RunState::Crashed, Some(why.clone())),
        EndedBy::Stopped {
            reason: StopReason::Shutdown,
            ..
        } => (
            RunState::Interrupted,
            Some("sweepd shut down while it ran".into()),
        ),
        EndedBy::Stopped { reason, .. } => (RunState::Killed, Some(reason.as_str().into())),
        EndedBy::Exited(Exit::Code(0)) => (RunState::Finished, None),
        EndedBy::Exited(Exit::Code(code)) => {
            (RunState::Failed, Some(format!("exited with status {code}")))
        }
        EndedBy::Exited(Exit::Signal(signal)) => (
            RunState::Crashed,
            Some(format!("killed by signal {signal}, not by sweepd")),
        ),
        EndedBy::Lost(why) => (RunState::Crashed, Some(why.clone())),
        EndedBy::Interrupted(why) => (RunState::Interrupted, Some(why.clone())),
    }
}
