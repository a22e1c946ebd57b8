//! One sweep as the scheduler holds it: its spec, state and runs, read from
//! its folder and written back at every change.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::PathBuf;
use std::time::Instant;

use crate::executor::{Ending, Exit, Ingest, RunHandle};
use crate::protocol::trainer::StopReason;
use crate::search::{self, History, ParamSet, Search, Trial, TrialState};
use crate::spec::{self, Format, Method, SweepSpec};
use crate::store::{
    EventKind, RunDir, RunId, RunState, RunSummary, Source, SweepDir, SweepId, SweepRecord,
    SweepState, now,
};

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
    /// The search said it has nothing left (a grid is done).
    exhausted: bool,
}

/// Why a sweep folder cannot be taken up.
#[derive(Debug, thiserror::Error)]
pub(super) enum LoadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("its sweep file is no longer valid: {0}")]
    Invalid(String),
    #[error("{0}")]
    Search(#[from] search::SearchError),
}

impl Sweep {
    /// Read a sweep from its folder. Runs left running by a daemon that died
    /// are ended as interrupted (their leftover processes killed, their
    /// output read to the end) and queued again per `sweepd.retry`.
    pub fn load(dir: SweepDir, leftovers: &HashMap<PathBuf, Vec<i32>>) -> Result<Self, LoadError> {
        let record = dir.read_state()?;
        let source = dir.read_source()?;
        let id: SweepId = record
            .id
            .parse()
            .map_err(|e: crate::store::BadId| LoadError::Invalid(e.to_string()))?;
        let file = dir.sweep_file();
        let validation = spec::check_bytes(&std::fs::read(&file)?, Format::from_path(&file));
        let Some(spec) = validation.spec else {
            let first = validation
                .diagnostics
                .errors()
                .next()
                .map(|d| d.display_in("sweep file").to_string());
            return Err(LoadError::Invalid(first.unwrap_or_default()));
        };
        let search = search::for_spec(&spec, record.seed)?;
        let mut runs = BTreeMap::new();
        for n in dir.run_numbers()? {
            let run_dir = dir.run(n);
            let (summary, params) = match (run_dir.read_summary(), run_dir.read_params()) {
                (Ok(summary), Ok(params)) => (summary, params),
                // A run folder cut short before its first summary: never started.
                _ => continue,
            };
            runs.insert(
                n,
                Run {
                    summary,
                    params,
                    handle: None,
                    values: Vec::new(),
                },
            );
        }
        let mut sweep = Sweep {
            id,
            dir,
            spec,
            record,
            source,
            search,
            runs,
            exhausted: false,
        };
        sweep.recover(leftovers)?;
        Ok(sweep)
    }

    fn recover(&mut self, leftovers: &HashMap<PathBuf, Vec<i32>>) -> io::Result<()> {
        let mut interrupted = Vec::new();
        let numbers: Vec<u32> = self.runs.keys().copied().collect();
        for n in numbers {
            let run_dir = self.dir.run(n);
            if let Some(pids) = leftovers.get(run_dir.root()) {
                crate::executor::orphans::kill_all(pids);
            }
            let metric = self.spec.metric.clone();
            let run = self.runs.get_mut(&n).expect("listed");
            let was_running = run.summary.state == RunState::Running
                || (run.summary.state == RunState::Queued && run_dir.stdout_file().exists());
            if was_running {
                // Read its output to the end (resuming), so nothing it printed is lost.
                let (values, summary) =
                    Ingest::open(&run_dir, metric.as_ref(), Instant::now())?.finish()?;
                run.values = values;
                run.summary.metric = summary;
            } else if let Some(metric) = &metric {
                run.values = metric_values(&run_dir, &metric.name)?;
            }
            if was_running {
                run.summary.state = RunState::Interrupted;
                run.summary.reason = Some("sweepd stopped while it ran".into());
                run.summary.ended_at = Some(now());
                run_dir.write_summary(&run.summary)?;
                self.dir.append_event(EventKind::RunEnded {
                    run: n,
                    state: RunState::Interrupted,
                    reason: run.summary.reason.clone(),
                })?;
                interrupted.push(n);
            }
        }
        if !interrupted.is_empty() {
            self.dir.append_event(EventKind::Recovered {
                interrupted: interrupted.clone(),
            })?;
            for n in interrupted {
                self.retry_if_allowed(n)?;
            }
        }
        Ok(())
    }

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

    /// Proposals whose outcome will count: every proposal but those whose
    /// last run was interrupted and not run again.
    fn proposals_that_count(&self) -> u64 {
        let mut latest: BTreeMap<u32, &Run> = BTreeMap::new();
        for run in self.runs.values() {
            latest.insert(run.summary.proposal, run);
        }
        latest
            .values()
            .filter(|r| {
                !(r.summary.state == RunState::Interrupted && r.summary.retried_by.is_none())
            })
            .count() as u64
    }

    /// The next run to start, queued first (a retry, or one queued before a
    /// restart), else a new proposal of the search; `None` when there is none
    /// for now. The run's folder exists when this returns.
    pub fn next_run(&mut self) -> io::Result<Option<u32>> {
        if !self.is_running() {
            return Ok(None);
        }
        if let Some((&n, _)) = self
            .runs
            .iter()
            .find(|(_, r)| r.summary.state == RunState::Queued && r.handle.is_none())
        {
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
        let params = match self.search.propose(&self.history()) {
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

    /// Create a queued run's folder.
    fn queue(&mut self, params: ParamSet, proposal: u32, attempt: u32) -> io::Result<u32> {
        let n = self.runs.keys().max().copied().unwrap_or(0) + 1;
        let summary = RunSummary::queued(n, proposal, attempt);
        self.dir.run(n).create(&params, &summary)?;
        self.dir.append_event(EventKind::RunQueued {
            run: n,
            proposal,
            attempt,
        })?;
        self.runs.insert(
            n,
            Run {
                summary,
                params,
                handle: None,
                values: Vec::new(),
            },
        );
        Ok(n)
    }

    /// The search's view: one trial per proposal, its latest run.
    fn history(&self) -> History {
        let mut latest: BTreeMap<u32, &Run> = BTreeMap::new();
        for run in self.runs.values() {
            latest.insert(run.summary.proposal, run);
        }
        History {
            trials: latest
                .values()
                .map(|run| Trial {
                    params: run.params.clone(),
                    state: trial_state(run.summary.state),
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

    pub fn metric(&mut self, n: u32, value: f64) {
        if let Some(run) = self.runs.get_mut(&n) {
            run.values.push(value);
        }
    }

    /// Record how a run ended, and queue its retry when it may have one.
    pub fn ended(&mut self, n: u32, ending: Ending) -> io::Result<()> {
        let Some(run) = self.runs.get_mut(&n) else {
            return Ok(());
        };
        run.handle = None;
        let (state, reason) = classify(&ending);
        run.summary.state = state;
        run.summary.reason = reason.clone();
        run.summary.exit_code = match ending.exit {
            Some(Exit::Code(code)) => Some(code),
            _ => None,
        };
        run.summary.signal = match ending.exit {
            Some(Exit::Signal(signal)) => Some(signal),
            _ => None,
        };
        run.summary.ended_at = Some(now());
        if ending.metric.is_some() {
            run.summary.metric = ending.metric;
        }
        self.dir.run(n).write_summary(&run.summary)?;
        self.dir.append_event(EventKind::RunEnded {
            run: n,
            state,
            reason,
        })?;
        self.retry_if_allowed(n)?;
        Ok(())
    }

    /// Run a crashed or interrupted run again while `sweepd.retry` allows.
    fn retry_if_allowed(&mut self, n: u32) -> io::Result<()> {
        let Some(run) = self.runs.get(&n) else {
            return Ok(());
        };
        let state = run.summary.state;
        let retries_used = run.summary.attempt.saturating_sub(1);
        let ending_sweep = matches!(self.record.state, SweepState::Canceled | SweepState::Failed);
        if !matches!(state, RunState::Crashed | RunState::Interrupted)
            || retries_used >= self.spec.sweepd.retry
            || run.summary.retried_by.is_some()
            || ending_sweep
        {
            return Ok(());
        }
        let (params, proposal, attempt) = (
            run.params.clone(),
            run.summary.proposal,
            run.summary.attempt + 1,
        );
        let retry = self.queue(params, proposal, attempt)?;
        let run = self.runs.get_mut(&n).expect("present");
        run.summary.retried_by = Some(retry);
        self.dir.run(n).write_summary(&run.summary)
    }

    /// Finish the sweep when nothing is left to run.
    pub fn finish_if_done(&mut self) -> io::Result<()> {
        if self.record.state != SweepState::Running || self.active() > 0 {
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

    pub fn set_state(&mut self, to: SweepState, reason: Option<String>) -> io::Result<()> {
        let from = self.record.state;
        if from == to && self.record.reason == reason {
            return Ok(());
        }
        self.record.state = to;
        self.record.reason = reason.clone();
        self.record.updated_at = now();
        self.dir.write_state(&self.record)?;
        self.dir.append_event(EventKind::State { from, to, reason })
    }

    fn fail(&mut self, reason: &str) -> io::Result<()> {
        tracing::error!(sweep = %self.id, reason, "sweep failed");
        self.set_state(SweepState::Failed, Some(reason.to_owned()))
    }

    /// Cancel: queued runs are ended unstarted; running ones get the stop message.
    pub fn cancel(&mut self) -> io::Result<()> {
        self.set_state(SweepState::Canceled, Some("canceled by user".into()))?;
        let queued: Vec<u32> = self
            .runs
            .iter()
            .filter(|(_, r)| r.summary.state == RunState::Queued && r.handle.is_none())
            .map(|(n, _)| *n)
            .collect();
        for n in queued {
            let run = self.runs.get_mut(&n).expect("listed");
            run.summary.state = RunState::Killed;
            run.summary.reason = Some("canceled before it started".into());
            run.summary.ended_at = Some(now());
            self.dir.run(n).write_summary(&run.summary)?;
        }
        for handle in self.handles() {
            handle.stop(StopReason::User);
        }
        Ok(())
    }

    pub fn attach(&mut self, n: u32, handle: RunHandle) {
        if let Some(run) = self.runs.get_mut(&n) {
            run.handle = Some(handle);
        }
    }
}

/// The sweep metric's values in a run's `metrics.jsonl`.
fn metric_values(run: &RunDir, name: &str) -> io::Result<Vec<f64>> {
    let records: Vec<serde_json::Map<String, serde_json::Value>> =
        crate::store::atomic::read_json_lines(&run.metrics_file())?;
    Ok(records
        .iter()
        .filter_map(|r| r.get(name).and_then(serde_json::Value::as_f64))
        .filter(|v| v.is_finite())
        .collect())
}

/// A run's state from how it ended.
fn classify(ending: &Ending) -> (RunState, Option<String>) {
    if let Some(error) = &ending.error {
        return (RunState::Crashed, Some(error.clone()));
    }
    match (ending.stopped, ending.exit) {
        (Some(StopReason::Shutdown), _) => (
            RunState::Interrupted,
            Some("sweepd shut down while it ran".into()),
        ),
        (Some(reason), _) => (RunState::Killed, Some(stop_reason(reason).into())),
        (None, Some(Exit::Code(0))) => (RunState::Finished, None),
        (None, Some(Exit::Code(code))) => {
            (RunState::Failed, Some(format!("exited with status {code}")))
        }
        (None, Some(Exit::Signal(signal))) => (
            RunState::Crashed,
            Some(format!("killed by signal {signal}, not by sweepd")),
        ),
        (None, None) => (RunState::Crashed, Some("its exit status was lost".into())),
    }
}

fn stop_reason(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EarlyTerminate => "early_terminate",
        StopReason::User => "user",
        StopReason::Shutdown => "shutdown",
        StopReason::Timeout => "timeout",
    }
}

fn trial_state(state: RunState) -> TrialState {
    match state {
        RunState::Queued => TrialState::Pending,
        RunState::Running => TrialState::Running,
        RunState::Finished => TrialState::Finished,
        RunState::Failed => TrialState::Failed,
        RunState::Killed => TrialState::Killed,
        RunState::Crashed | RunState::Interrupted => TrialState::Crashed,
    }
}
