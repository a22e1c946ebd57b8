//! One sweep as the scheduler holds it: its spec, state and runs, read from
//! its folder and written back at every change.
//!
//! A proposal (one parameter set of the search) is run by one or more runs:
//! a run that crashed (per `sweepd.retry`) or was interrupted by the daemon
//! (always) is run again as a new run of the same proposal. What counts,
//! everywhere, is each proposal's latest run, so a crash between two writes
//! can never make a proposal count twice.

use std::collections::BTreeMap;
use std::io;

use crate::early_stop::EarlyStop;
use crate::executor::{RunHandle, orphans};
use crate::protocol::trainer::StopReason;
use crate::search::{self, History, ParamSet, Search, Trial, TrialState};
use crate::spec::{self, Method, SweepSpec};
use crate::store::{
    EventKind, RunDir, RunId, RunState, RunSummary, SlurmJob, Source, SweepDir, SweepId,
    SweepRecord, SweepState, now,
};

/// After this many runs in a row that could not start, the sweep fails.
const UNSTARTABLE_IN_A_ROW: usize = 3;

/// A run of the sweep.
pub(super) struct Run {
    pub summary: RunSummary,
    pub params: ParamSet,
    /// Present while sweepd supervises the process.
    pub handle: Option<RunHandle>,
    /// The sweep metric's values so far, in order.
    pub values: Vec<f64>,
}

impl Run {
    fn is_active(&self) -> bool {
        !self.summary.state.is_terminal()
    }
}

pub(super) struct Sweep {
    pub id: SweepId,
    pub dir: SweepDir,
    pub spec: SweepSpec,
    pub record: SweepRecord,
    pub source: Source,
    search: Box<dyn Search + Send>,
    pub runs: BTreeMap<u32, Run>,
    /// The next run's number: past every folder on disk, read or not.
    next_run: u32,
    /// The search said it has nothing left (a grid is done).
    exhausted: bool,
    /// The early-termination rule, if the sweep has one.
    early_stop: Option<EarlyStop>,
    /// Slurm runs found running at load, to take up again: (run, its job
    /// when known).
    reattach: Vec<(u32, Option<u64>)>,
    /// A write of this sweep's records failed (a full disk): what is held
    /// here is ahead of its folder until `resave` writes it all again.
    pub unsaved: bool,
}

/// Why a sweep folder cannot be taken up.
#[derive(Debug, thiserror::Error)]
pub(super) enum LoadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Search(#[from] search::SearchError),
}

mod outcome;
mod recovery;

impl Sweep {
    pub fn is_running(&self) -> bool {
        self.record.state == SweepState::Running
    }

    /// Runs with a live process.
    pub fn supervised(&self) -> usize {
        self.runs.values().filter(|r| r.handle.is_some()).count()
    }

    pub fn active(&self) -> usize {
        self.runs.values().filter(|r| r.is_active()).count()
    }

    pub fn max_parallel(&self, default: u32) -> usize {
        self.spec.sweepd.max_parallel.unwrap_or(default) as usize
    }

    /// The runs with live processes, to stop.
    pub fn handles(&self) -> impl Iterator<Item = &RunHandle> {
        self.runs.values().filter_map(|r| r.handle.as_ref())
    }

    /// Each proposal's latest run, by proposal.
    fn latest_runs(&self) -> BTreeMap<u32, &Run> {
        let mut latest: BTreeMap<u32, &Run> = BTreeMap::new();
        for run in self.runs.values() {
            latest.insert(run.summary.proposal, run);
        }
        latest
    }

    /// Proposals that have counted or will: all but those whose latest run
    /// was interrupted and will not be run again (the sweep ended).
    fn proposals_that_count(&self) -> u64 {
        self.latest_runs()
            .values()
            .filter(|r| r.summary.state != RunState::Interrupted)
            .count() as u64
    }

    /// The next run to start, queued first (a re-run, or one queued before a
    /// restart), else a new proposal of the search; `None` when there is none
    /// for now. The run's folder exists when this returns.
    pub fn next_run(&mut self) -> io::Result<Option<u32>> {
        if !self.is_running() {
            return Ok(None);
        }
        let queued = self
            .runs
            .iter()
            .find(|(_, r)| r.summary.state == RunState::Queued && r.handle.is_none());
        if let Some((&n, _)) = queued {
            return Ok(Some(n));
        }
        if self.exhausted
            || self
                .spec
                .run_cap
                .is_some_and(|cap| self.proposals_that_count() >= cap)
        {
            return Ok(None);
        }
        // The search's own log lines (why a bayes run is what it is) name the sweep.
        let span = tracing::info_span!("propose", sweep = %self.id);
        let proposed = span.in_scope(|| self.search.propose(&self.history()));
        let params = match proposed {
            Ok(Some(params)) => params,
            Ok(None) => {
                self.exhausted = true;
                return Ok(None);
            }
            Err(e) => {
                self.fail(&format!("the search failed: {e}"))?;
                return Ok(None);
            }
        };
        let proposal = self
            .runs
            .values()
            .map(|r| r.summary.proposal)
            .max()
            .unwrap_or(0)
            + 1;
        self.queue(params, proposal, 1).map(Some)
    }

    /// Create a queued run's folder. A folder that cannot be made whole (a
    /// full disk) is removed again and its number used by the next try.
    fn queue(&mut self, params: ParamSet, proposal: u32, attempt: u32) -> io::Result<u32> {
        let n = self.next_run;
        let summary = RunSummary {
            token: Some(orphans::new_token()),
            ..RunSummary::queued(n, proposal, attempt)
        };
        let run_dir = self.dir.run(n);
        if let Err(e) = run_dir.create(&params, &summary) {
            let _ = std::fs::remove_dir_all(run_dir.root());
            return Err(e);
        }
        self.next_run += 1;
        self.runs.insert(
            n,
            Run {
                summary,
                params,
                handle: None,
                values: Vec::new(),
            },
        );
        // The run is queued (its folder says so) even if its event is lost.
        let event = self.dir.append_event(EventKind::RunQueued {
            run: n,
            proposal,
            attempt,
        });
        self.kept(event, "cannot log the queued run");
        Ok(n)
    }

    /// The search's view: one trial per proposal, its latest run.
    fn history(&self) -> History {
        History {
            trials: self
                .latest_runs()
                .values()
                .map(|run| Trial {
                    params: run.params.clone(),
                    state: trial_state(&run.summary),
                    metric: run.values.clone(),
                })
                .collect(),
        }
    }

    pub fn run_dir(&self, n: u32) -> RunDir {
        self.dir.run(n)
    }

    pub fn run_id(&self, n: u32) -> RunId {
        RunId {
            sweep: self.id.clone(),
            run: n,
        }
    }

    /// Whether its runs are Slurm jobs.
    pub fn is_slurm(&self) -> bool {
        matches!(self.spec.sweepd.executor, spec::Executor::Slurm(_))
    }

    /// The stop a run taken up again is owed: its sweep was canceled or
    /// failed, or the early-termination rule had judged it, while no sweepd
    /// could stop its job.
    pub fn stop_owed(&self, n: u32) -> Option<StopReason> {
        let run = self.runs.get(&n)?;
        if run.summary.early_terminate.is_some() {
            return Some(StopReason::EarlyTerminate);
        }
        matches!(self.record.state, SweepState::Canceled | SweepState::Failed)
            .then_some(StopReason::User)
    }

    /// The Slurm runs to take up again after a restart (once).
    pub fn take_reattach(&mut self) -> Vec<(u32, Option<u64>)> {
        std::mem::take(&mut self.reattach)
    }

    /// Handed to Slurm as `job_id` (or found there again).
    pub fn submitted(&mut self, n: u32, job_id: u64) -> io::Result<()> {
        let Some(run) = self.runs.get_mut(&n) else {
            return Ok(());
        };
        if run
            .summary
            .slurm
            .as_ref()
            .is_some_and(|j| j.job_id == job_id)
            && run.summary.state == RunState::Running
        {
            return Ok(()); // taken up again after a restart
        }
        run.summary.state = RunState::Running;
        run.summary.started_at.get_or_insert_with(now);
        run.summary.slurm = Some(SlurmJob {
            job_id,
            state: None,
            reason: None,
            node: None,
        });
        self.dir.run(n).write_summary(&run.summary)?;
        self.dir
            .append_event(EventKind::RunSubmitted { run: n, job_id })
    }

    /// The Slurm job's state as last seen (for `sweepctl show`).
    pub fn job_seen(&mut self, n: u32, job: SlurmJob) -> io::Result<()> {
        let Some(run) = self.runs.get_mut(&n) else {
            return Ok(());
        };
        if run.summary.slurm.as_ref() == Some(&job) {
            return Ok(());
        }
        run.summary.slurm = Some(job);
        self.dir.run(n).write_summary(&run.summary)
    }

    /// No longer followed (a Slurm job left running while sweepd stops).
    pub fn detached(&mut self, n: u32) {
        if let Some(run) = self.runs.get_mut(&n) {
            run.handle = None;
        }
    }

    /// What keeps sweepd from Slurm now, or None.
    pub fn set_executor_problem(&mut self, problem: Option<String>) -> io::Result<()> {
        if self.record.executor_problem == problem {
            return Ok(());
        }
        // Not `updated_at`: that marks the sweep's own changes of state.
        self.record.executor_problem = problem;
        self.dir.write_state(&self.record)
    }

    pub fn started(&mut self, n: u32, pid: u32) -> io::Result<()> {
        let Some(run) = self.runs.get_mut(&n) else {
            return Ok(());
        };
        run.summary.state = RunState::Running;
        run.summary.pid = Some(pid);
        run.summary.started_at = Some(now());
        self.dir.run(n).write_summary(&run.summary)?;
        self.dir.append_event(EventKind::RunStarted { run: n, pid })
    }

    /// Finish the sweep when nothing is left to run (and what it holds is
    /// on disk: an unsaved run may still be owed a re-run).
    pub fn finish_if_done(&mut self) -> io::Result<()> {
        if self.record.state != SweepState::Running || self.active() > 0 || self.unsaved {
            return Ok(());
        }
        let reason = if self.exhausted {
            match self.spec.method {
                Method::Grid => "every point of the grid has run",
                _ => "the search has nothing left to propose",
            }
        } else if self
            .spec
            .run_cap
            .is_some_and(|cap| self.proposals_that_count() >= cap)
        {
            "run_cap reached"
        } else {
            return Ok(());
        };
        self.set_state(SweepState::Finished, Some(reason.to_owned()))
    }

    /// Say (in state.json, where `sweepctl status` reads it) why no run can
    /// start now, or that nothing holds the sweep back any more.
    pub fn set_waiting(&mut self, why: Option<String>) -> io::Result<()> {
        if self.record.waiting == why {
            return Ok(());
        }
        if let Some(why) = &why {
            tracing::info!(sweep = %self.id, "{why}");
        }
        self.record.waiting = why;
        self.record.updated_at = now();
        self.dir.write_state(&self.record)
    }

    pub fn set_state(&mut self, to: SweepState, reason: Option<String>) -> io::Result<()> {
        let from = self.record.state;
        if from == to && self.record.reason == reason {
            return Ok(());
        }
        if to != SweepState::Running {
            self.record.waiting = None;
        }
        self.record.state = to;
        self.record.reason = reason.clone();
        self.record.updated_at = now();
        self.dir.write_state(&self.record)?;
        self.dir.append_event(EventKind::State { from, to, reason })
    }

    pub fn fail(&mut self, reason: &str) -> io::Result<()> {
        tracing::error!(sweep = %self.id, reason, "sweep failed");
        self.end_queued("the sweep failed before it started")?;
        for handle in self.handles() {
            handle.stop(StopReason::User);
        }
        self.set_state(SweepState::Failed, Some(reason.to_owned()))
    }

    /// Stop (W&B's `--stop`): no new runs, queued ones ended; running ones finish.
    pub fn stop(&mut self) -> io::Result<()> {
        self.end_queued("the sweep was stopped before it started")?;
        self.set_state(SweepState::Finished, Some("stopped by user".into()))
    }

    /// Cancel: queued runs are ended unstarted; running ones get the stop message.
    pub fn cancel(&mut self) -> io::Result<()> {
        self.end_queued("the sweep was canceled before it started")?;
        for handle in self.handles() {
            handle.stop(StopReason::User);
        }
        self.set_state(SweepState::Canceled, Some("canceled by user".into()))
    }

    /// End the runs that are queued and not started, each recorded before the
    /// sweep's new state is.
    fn end_queued(&mut self, reason: &str) -> io::Result<()> {
        let queued: Vec<u32> = self
            .runs
            .iter()
            .filter(|(_, r)| r.summary.state == RunState::Queued && r.handle.is_none())
            .map(|(n, _)| *n)
            .collect();
        for n in queued {
            let run = self.runs.get_mut(&n).expect("listed");
            run.summary.state = RunState::Killed;
            run.summary.reason = Some(reason.to_owned());
            run.summary.ended_at = Some(now());
            self.dir.run(n).write_summary(&run.summary)?;
            self.dir.append_event(EventKind::RunEnded {
                run: n,
                state: RunState::Killed,
                reason: Some(reason.to_owned()),
            })?;
        }
        Ok(())
    }

    pub fn attach(&mut self, n: u32, handle: RunHandle) {
        if let Some(run) = self.runs.get_mut(&n) {
            run.handle = Some(handle);
        }
    }
}

fn trial_state(summary: &RunSummary) -> TrialState {
    match summary.state {
        RunState::Killed if summary.early_terminate.is_some() => TrialState::EarlyTerminated,
        RunState::Queued => TrialState::Pending,
        RunState::Running => TrialState::Running,
        RunState::Finished => TrialState::Finished,
        RunState::Failed => TrialState::Failed,
        RunState::Killed => TrialState::Killed,
        RunState::Crashed | RunState::Interrupted => TrialState::Crashed,
    }
}
