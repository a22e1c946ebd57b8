//! The sweep model: one sweep's runs and the rules that move them, without
//! I/O. Everything that happens to a sweep comes in as an [`Event`];
//! [`SweepModel::on`] applies the rules and returns what to do as
//! [`Effect`]s (records to write, events to log, runs to stop), which the
//! daemon carries out ([`journal`] writes them). The command line loads the
//! same model from a sweep's folder ([`journal::load`]) and reads counts,
//! the best run and state words from it, so the two can never disagree.
//!
//! A proposal (one parameter set of the search) is run by one or more runs:
//! a run that crashed (per `sweepd.retry`) or was interrupted by the daemon
//! (always) is run again as a new run of the same proposal. What counts,
//! everywhere, is each proposal's latest run, so a crash between two writes
//! can never make a proposal count twice.

mod control;
mod counts;
mod ending;
mod extend;
pub mod front;
pub mod import;
pub mod journal;
mod outcome;
mod recovery;
mod rules;
#[cfg(test)]
mod tests;
pub mod warm_start;

use std::collections::BTreeMap;

pub use counts::{Counts, best_value};
pub use ending::{EndedBy, Ending, Exit};
pub use extend::ContinueError;
pub use rules::Rules;

use crate::protocol::trainer::StopReason;
use crate::search::{History, ParamSet, Trial, TrialState};
use crate::store::{
    EventKind, MetricSummary, RunState, RunSummary, Seed, SlurmJob, SweepRecord, SweepState,
};

/// A run of the sweep: its record, its parameters and the sweep metric's
/// values so far.
#[derive(Debug, Clone, PartialEq)]
pub struct RunModel {
    pub summary: RunSummary,
    pub params: ParamSet,
    /// The sweep metric's values so far, in order.
    pub values: Vec<f64>,
    /// The last value of each tracked metric (objectives, outcome
    /// constraints: `Rules::tracked`), read when the run ends.
    pub outcomes: BTreeMap<String, f64>,
    /// Whether sweepd follows its process or job now.
    supervised: bool,
}

impl RunModel {
    /// A run as its folder holds it (not followed by anyone yet).
    pub fn new(summary: RunSummary, params: ParamSet, values: Vec<f64>) -> Self {
        RunModel {
            summary,
            params,
            values,
            outcomes: BTreeMap::new(),
            supervised: false,
        }
    }

    /// With the last values of tracked metrics.
    pub fn with_outcomes(mut self, outcomes: BTreeMap<String, f64>) -> Self {
        self.outcomes = outcomes;
        self
    }

    pub fn state(&self) -> RunState {
        self.summary.state
    }

    pub fn is_active(&self) -> bool {
        !self.summary.state.is_terminal()
    }

    pub fn is_supervised(&self) -> bool {
        self.supervised
    }

    /// Waiting to start: queued, and no process or job for it yet.
    fn is_waiting(&self) -> bool {
        self.summary.state == RunState::Queued && !self.supervised
    }
}

/// What happens to a sweep.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The search proposed these parameters: queue them as a new run.
    Proposed(ParamSet),
    /// The search has nothing left to propose (a grid is done).
    Exhausted,
    /// The search failed: the sweep fails.
    SearchFailed(String),
    /// sweepd follows the run's process (or Slurm job) from now on.
    Attached(u32),
    /// Its process started.
    Started {
        run: u32,
        pid: u32,
    },
    /// Handed to Slurm as `job_id` (or found there again).
    Submitted {
        run: u32,
        job_id: u64,
    },
    /// Its Slurm job as last seen.
    JobSeen {
        run: u32,
        job: SlurmJob,
    },
    /// No longer followed (a Slurm job left running while sweepd stops).
    Detached(u32),
    /// The sweep metric's `iteration`-th value (1-based) in the run.
    Metric {
        run: u32,
        value: f64,
        iteration: u64,
    },
    /// The last values of the tracked metrics of a run that ends (sent
    /// before `Ended`), read from its `metrics.jsonl`.
    Outcomes {
        run: u32,
        values: BTreeMap<String, f64>,
    },
    /// The run ended; `disk_full`: while the disk was full (not its fault).
    Ended {
        run: u32,
        ending: Ending,
        disk_full: bool,
    },
    /// Taken up from its folder: these runs were running when the last
    /// sweepd stopped, and their output has been read to the end.
    Recovered {
        was_running: Vec<RecoveredRun>,
        /// The disk is full now: a run that failed while no sweepd ran is
        /// not blamed for it (as [`Event::Ended`]'s `disk_full`).
        disk_full: bool,
    },
    /// A person's commands (W&B's pause, resume, `--stop`, `--cancel`).
    Pause,
    Resume,
    Stop,
    Cancel,
    /// The sweep cannot go on.
    Fail(String),
    /// Why no run can start now (no free GPU, a full disk), or None.
    Waiting(Option<String>),
    /// What keeps sweepd from the executor (Slurm unreachable), or None.
    ExecutorProblem(Option<String>),
    /// A run of the sweep was seen using this much GPU memory (MiB).
    GpuMemory(u64),
    /// Every record was written again after writes had failed.
    Saved,
}

/// A run the last sweepd left running, its output read to the end: the
/// metric's values and summary, when they could be read (else the model
/// keeps what the folder held), and how it ended, when that is known (its
/// monitor saw it end while no sweepd ran; else it was interrupted).
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredRun {
    pub run: u32,
    pub values: Option<Vec<f64>>,
    pub metric: Option<MetricSummary>,
    pub ended: Option<Ending>,
}

/// What the rules decided, for the daemon to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Make the run's folder: its parameters and its summary.
    CreateRun(u32),
    /// Write the run's summary.
    SaveRun(u32),
    /// Write the sweep's state.json.
    SaveState,
    /// Write the sweep's seeds.jsonl, whole.
    SaveSeeds,
    /// Append to the sweep's events.jsonl.
    Log(EventKind),
    /// Stop the run's process or job.
    StopRun { run: u32, reason: StopReason },
}

/// One sweep: its state and runs, and the rules it runs by.
#[derive(Debug, Clone)]
pub struct SweepModel {
    rules: Rules,
    record: SweepRecord,
    runs: BTreeMap<u32, RunModel>,
    /// The next run's number: past every folder on disk, read or not.
    next_run: u32,
    /// The search said it has nothing left (a grid is done).
    exhausted: bool,
    /// What is held here is ahead of the folder (a write failed).
    unsaved: bool,
    /// Finished runs from elsewhere that inform the search (`seeds.jsonl`).
    seeds: Vec<Seed>,
}

impl SweepModel {
    /// A sweep as its folder holds it; `next_run` is past every run folder.
    /// A `run_cap` in the record (`sweepctl extend`) wins over the file's.
    pub fn new(mut rules: Rules, record: SweepRecord, runs: Vec<RunModel>, next_run: u32) -> Self {
        if record.run_cap.is_some() {
            rules.run_cap = record.run_cap;
        }
        let runs: BTreeMap<u32, RunModel> = runs.into_iter().map(|r| (r.summary.run, r)).collect();
        let next_run = next_run.max(runs.keys().last().map_or(1, |n| n + 1));
        SweepModel {
            rules,
            record,
            runs,
            next_run,
            exhausted: false,
            unsaved: false,
            seeds: Vec::new(),
        }
    }

    /// With these seeds (finished runs from elsewhere) for the search.
    pub fn with_seeds(mut self, seeds: Vec<Seed>) -> Self {
        self.seeds = seeds;
        self
    }

    pub fn seeds(&self) -> &[Seed] {
        &self.seeds
    }

    /// The number the next queued run gets.
    pub fn next_run_number(&self) -> u32 {
        self.next_run
    }

    /// Apply one event; what to do about it, in order.
    pub fn on(&mut self, event: Event) -> Vec<Effect> {
        let mut fx = Vec::new();
        match event {
            Event::Proposed(params) => {
                if self.may_propose() {
                    let proposal = self.runs.values().map(|r| r.summary.proposal).max();
                    self.queue(params, proposal.unwrap_or(0) + 1, 1, &mut fx);
                }
            }
            Event::Exhausted => {
                self.exhausted = true;
                self.finish_if_done(&mut fx);
            }
            Event::SearchFailed(why) => self.fail(&format!("the search failed: {why}"), &mut fx),
            Event::Attached(n) => {
                if let Some(run) = self.runs.get_mut(&n) {
                    run.supervised = true;
                }
            }
            Event::Started { run, pid } => self.started(run, pid, &mut fx),
            Event::Submitted { run, job_id } => self.submitted(run, job_id, &mut fx),
            Event::JobSeen { run, job } => self.job_seen(run, job, &mut fx),
            Event::Detached(n) => {
                if let Some(run) = self.runs.get_mut(&n) {
                    run.supervised = false;
                }
            }
            Event::Metric {
                run,
                value,
                iteration,
            } => self.metric(run, value, iteration, &mut fx),
            Event::Outcomes { run, values } => {
                if let Some(model) = self.runs.get_mut(&run) {
                    model.outcomes = values;
                }
            }
            Event::Ended {
                run,
                ending,
                disk_full,
            } => {
                self.ended(run, ending, disk_full, &mut fx);
                self.finish_if_done(&mut fx);
            }
            Event::Recovered {
                was_running,
                disk_full,
            } => self.recovered(was_running, disk_full, &mut fx),
            Event::Pause => {
                self.set_state(SweepState::Paused, Some("paused by user".into()), &mut fx)
            }
            Event::Resume => {
                self.set_state(SweepState::Running, None, &mut fx);
                self.finish_if_target_reached(&mut fx);
                self.finish_if_done(&mut fx);
            }
            Event::Stop => self.stop(&mut fx),
            Event::Cancel => self.cancel(&mut fx),
            Event::Fail(why) => self.fail(&why, &mut fx),
            Event::Waiting(why) => self.set_waiting(why, &mut fx),
            Event::ExecutorProblem(problem) => self.set_executor_problem(problem, &mut fx),
            Event::GpuMemory(mib) => self.saw_gpu_memory(mib, &mut fx),
            Event::Saved => {
                self.unsaved = false;
                let latest: Vec<u32> = self.latest_runs().values().map(|r| r.summary.run).collect();
                for n in latest {
                    self.rerun_if_owed(n, &mut fx);
                }
                self.finish_if_done(&mut fx);
            }
        }
        fx
    }

    /// A write failed: what is held here is ahead of the folder until
    /// [`Event::Saved`]. Meanwhile the sweep proposes nothing and cannot
    /// finish (a re-run it owes may not be on disk yet).
    pub fn mark_unsaved(&mut self) {
        self.unsaved = true;
    }

    pub fn is_unsaved(&self) -> bool {
        self.unsaved
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn record(&self) -> &SweepRecord {
        &self.record
    }

    pub fn state(&self) -> SweepState {
        self.record.state
    }

    pub fn is_running(&self) -> bool {
        self.record.state == SweepState::Running
    }

    pub fn runs(&self) -> impl DoubleEndedIterator<Item = &RunModel> {
        self.runs.values()
    }

    pub fn run(&self, n: u32) -> Option<&RunModel> {
        self.runs.get(&n)
    }

    /// Runs not yet over (queued or running).
    pub fn active(&self) -> usize {
        self.runs.values().filter(|r| r.is_active()).count()
    }

    /// The next run to start: a queued run no one follows yet (a re-run,
    /// or one queued before a restart), while the sweep runs.
    pub fn next_queued(&self) -> Option<u32> {
        if !self.is_running() {
            return None;
        }
        self.runs
            .values()
            .find(|r| r.is_waiting())
            .map(|r| r.summary.run)
    }

    /// Whether the search should be asked for a new proposal: the sweep
    /// runs, nothing waits to start, the search has more, run_cap is not
    /// reached, and the folder holds all the model does.
    pub fn may_propose(&self) -> bool {
        self.is_running()
            && self.next_queued().is_none()
            && !self.exhausted
            && !self.cap_reached()
            && !self.unsaved
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

    /// The search's view: one trial per proposal, its latest run.
    pub fn history(&self) -> History {
        History {
            trials: self
                .latest_runs()
                .values()
                .map(|run| Trial {
                    params: run.params.clone(),
                    state: trial_state(&run.summary),
                    metric: run.values.clone(),
                    outcomes: run.outcomes.clone(),
                })
                .collect(),
            seeds: self
                .seeds
                .iter()
                .map(|seed| Trial {
                    params: seed.params.clone(),
                    state: TrialState::Finished,
                    metric: vec![seed.value],
                    outcomes: BTreeMap::new(),
                })
                .collect(),
        }
    }

    /// Each proposal's latest run, by proposal.
    fn latest_runs(&self) -> BTreeMap<u32, &RunModel> {
        let mut latest: BTreeMap<u32, &RunModel> = BTreeMap::new();
        for run in self.runs.values() {
            latest.insert(run.summary.proposal, run);
        }
        latest
    }

    /// Queue a run of `proposal` with these parameters; its folder is made
    /// by the `CreateRun` effect.
    fn queue(
        &mut self,
        params: ParamSet,
        proposal: u32,
        attempt: u32,
        fx: &mut Vec<Effect>,
    ) -> u32 {
        let n = self.next_run;
        self.next_run += 1;
        let summary = RunSummary {
            token: Some(crate::store::new_token()),
            ..RunSummary::queued(n, proposal, attempt)
        };
        self.runs
            .insert(n, RunModel::new(summary, params, Vec::new()));
        fx.push(Effect::CreateRun(n));
        fx.push(Effect::Log(EventKind::RunQueued {
            run: n,
            proposal,
            attempt,
        }));
        n
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
