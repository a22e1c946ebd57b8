//! One sweep as the scheduler holds it: its spec, state and runs, read from
//! its folder and written back at every change.
//!
//! A proposal (one parameter set of the search) is run by one or more runs:
//! a run that crashed (per `sweepd.retry`) or was interrupted by the daemon
//! (always) is run again as a new run of the same proposal. What counts,
//! everywhere, is each proposal's latest run, so a crash between two writes
//! can never make a proposal count twice.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::time::Instant;

use crate::executor::{Ending, Exit, Ingest, RunHandle, orphans};
use crate::protocol::trainer::StopReason;
use crate::search::{self, History, ParamSet, Search, Trial, TrialState};
use crate::spec::{self, Format, Goal, Method, SweepSpec};
use crate::stopping::{EarlyStop, Judgement};
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

impl Sweep {
    /// Read a sweep from its folder. Runs left running by a daemon that died
    /// are ended as interrupted (their leftover processes killed first, then
    /// their output read to the end) and queued again.
    pub fn load(
        id: &SweepId,
        dir: SweepDir,
        leftovers: &HashMap<String, Vec<i32>>,
    ) -> Result<Self, LoadError> {
        let record = dir.read_state()?;
        if record.id != id.as_str() {
            return Err(LoadError::Invalid(format!(
                "its state.json names sweep {}, not the folder's {id}",
                record.id
            )));
        }
        let source = dir.read_source()?;
        let file = dir.sweep_file();
        let validation = spec::check_bytes(&std::fs::read(&file)?, Format::from_path(&file));
        let Some(spec) = validation.spec else {
            let first = validation
                .diagnostics
                .errors()
                .next()
                .map(|d| d.display_in("sweep file").to_string());
            return Err(LoadError::Invalid(format!(
                "its sweep file is no longer valid: {}",
                first.unwrap_or_default()
            )));
        };
        let search = search::for_spec(&spec, record.seed)?;
        let early_stop = spec
            .early_terminate
            .as_ref()
            .zip(spec.metric.as_ref())
            .map(|(rule, metric)| EarlyStop::new(rule, metric.goal));
        let numbers = dir.run_numbers()?;
        let next_run = numbers.last().map_or(1, |n| n + 1);
        let mut runs = BTreeMap::new();
        for n in numbers {
            let run_dir = dir.run(n);
            match (run_dir.read_summary(), run_dir.read_params()) {
                (Ok(summary), Ok(params)) => {
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
                (Err(e), _) | (_, Err(e)) if e.kind() == io::ErrorKind::NotFound => {
                    // Cut short before its first summary (a crash, a full
                    // disk): it never started, and nothing of it is kept.
                    if !run_dir.stdout_file().exists() {
                        let _ = std::fs::remove_dir_all(run_dir.root());
                    }
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(sweep = %id, run = n, error = %e, "a run's folder cannot be read; it is left as it is");
                }
            }
        }
        let mut sweep = Sweep {
            id: id.clone(),
            dir,
            spec,
            record,
            source,
            search,
            runs,
            next_run,
            exhausted: false,
            early_stop,
            reattach: Vec::new(),
            unsaved: false,
        };
        // A full disk must not cost the sweep: what cannot be written now
        // is held, and written once it can be.
        let recovered = sweep.recover(leftovers);
        sweep.kept(recovered, "cannot record what was recovered");
        let reached = sweep.finish_if_target_reached();
        sweep.kept(reached, "cannot record the sweep's end");
        Ok(sweep)
    }

    /// A write that failed leaves this sweep ahead of its folder: say so,
    /// and hold it as unsaved (see `resave`).
    fn kept(&mut self, result: io::Result<()>, what: &str) {
        if let Err(e) = result {
            tracing::error!(sweep = %self.id, error = %e, "{what}; kept to write again");
            self.unsaved = true;
        }
    }

    /// Every run is taken up even when a write fails (a full disk): the
    /// first error is returned once all are, and the sweep is then held
    /// unsaved.
    fn recover(&mut self, leftovers: &HashMap<String, Vec<i32>>) -> io::Result<()> {
        let metric = self.spec.metric.clone();
        let mut first_error: Option<io::Error> = None;
        let mut note = |result: io::Result<()>| {
            if let Err(e) = result {
                first_error.get_or_insert(e);
            }
        };
        let mut interrupted = Vec::new();
        let mut stopped = Vec::new();
        for (&n, run) in self.runs.iter_mut() {
            let run_dir = self.dir.run(n);
            let was_running = run.summary.state == RunState::Running
                || (run.summary.state == RunState::Queued && run_dir.stdout_file().exists());
            // A Slurm job goes on without sweepd (pending or running): taken
            // up again by its id, or by its name if the id was never recorded.
            if matches!(self.spec.sweepd.executor, spec::Executor::Slurm(_))
                && !run.summary.state.is_terminal()
            {
                let job = run.summary.slurm.as_ref().map(|j| j.job_id);
                let submitted =
                    job.is_some() || crate::executor::slurm::script::script_file(&run_dir).exists();
                if submitted {
                    if let Some(metric) = &metric {
                        run.values = run_dir.metric_values(&metric.name)?;
                    }
                    self.reattach.push((n, job));
                    continue;
                }
            }
            if !was_running {
                if let Some(metric) = &metric {
                    run.values = run_dir.metric_values(&metric.name)?;
                }
                continue;
            }
            if let Some(pids) = run.summary.token.as_ref().and_then(|t| leftovers.get(t)) {
                tracing::warn!(
                    run = n,
                    processes = pids.len(),
                    "killing what a dead daemon left running"
                );
                orphans::kill_all(pids);
            }
            // Read its output to the end (resuming), so nothing it printed is
            // lost; on a full disk, what metrics.jsonl already holds.
            let started = Instant::now();
            match Ingest::open(&run_dir, metric.as_ref(), started).and_then(Ingest::finish) {
                Ok((values, summary)) => {
                    run.values = values;
                    run.summary.metric = summary;
                }
                Err(e) => {
                    tracing::error!(sweep = %self.id, run = n, error = %e, "cannot read the run's output to the end");
                    self.unsaved = true;
                    if let Some(metric) = &metric {
                        run.values = run_dir.metric_values(&metric.name).unwrap_or_default();
                    }
                }
            }
            run.summary.ended_at = Some(now());
            if run.summary.early_terminate.is_some() {
                // The rule was stopping it when sweepd died: it stays stopped.
                run.summary.state = RunState::Killed;
                run.summary.reason = Some(StopReason::EarlyTerminate.as_str().into());
                note(run_dir.write_summary(&run.summary));
                stopped.push(n);
                continue;
            }
            run.summary.state = RunState::Interrupted;
            run.summary.reason = Some("sweepd stopped while it ran".into());
            note(run_dir.write_summary(&run.summary));
            interrupted.push(n);
        }
        for &n in &interrupted {
            note(self.dir.append_event(EventKind::RunEnded {
                run: n,
                state: RunState::Interrupted,
                reason: Some("sweepd stopped while it ran".into()),
            }));
        }
        for &n in &stopped {
            note(self.dir.append_event(EventKind::RunEnded {
                run: n,
                state: RunState::Killed,
                reason: Some(StopReason::EarlyTerminate.as_str().into()),
            }));
        }
        if !interrupted.is_empty() {
            note(self.dir.append_event(EventKind::Recovered { interrupted }));
        }
        // Owed re-runs, including any a crash kept from being queued.
        let owed: Vec<u32> = self.latest_runs().values().map(|r| r.summary.run).collect();
        for n in owed {
            note(self.rerun_if_owed(n));
        }
        first_error.map_or(Ok(()), Err)
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

    /// A value of the sweep's metric, and the early-termination rule applied.
    /// Only a value at a band can change a band's threshold or bring a run to
    /// a new band; any other value can only improve a run's standing, so the
    /// rule is applied then only (the same decisions as applying it always).
    pub fn metric(&mut self, n: u32, value: f64) -> io::Result<()> {
        let Some(run) = self.runs.get_mut(&n) else {
            return Ok(());
        };
        run.values.push(value);
        let count = run.values.len();
        if self.reaches_target(value) {
            self.finish_at_target(n, value)?;
        }
        if self
            .early_stop
            .as_ref()
            .is_some_and(|rule| rule.is_band(count))
        {
            self.terminate_early()?;
        }
        Ok(())
    }

    /// Whether `value` reaches `metric.target` (while the sweep runs).
    fn reaches_target(&self, value: f64) -> bool {
        let Some(metric) = &self.spec.metric else {
            return false;
        };
        self.is_running()
            && metric.target.is_some_and(|target| match metric.goal {
                Goal::Minimize => value <= target,
                Goal::Maximize => value >= target,
            })
    }

    fn finish_at_target(&mut self, n: u32, value: f64) -> io::Result<()> {
        let metric = self.spec.metric.as_ref().expect("a target has a metric");
        let target = metric.target.expect("reached");
        let why = format!(
            "run {n} reached the target {} = {target} ({value})",
            metric.name
        );
        tracing::info!(sweep = %self.id, run = n, value, target, "metric.target reached: the sweep finishes");
        self.end_queued("the sweep reached its metric.target before it started")?;
        self.set_state(SweepState::Finished, Some(why))
    }

    /// Finish the sweep if a value logged while it could not finish (paused,
    /// or read back after a restart) reached `metric.target`.
    pub fn finish_if_target_reached(&mut self) -> io::Result<()> {
        let reached = self.runs.iter().find_map(|(&n, r)| {
            r.values
                .iter()
                .copied()
                .find(|&v| self.reaches_target(v))
                .map(|v| (n, v))
        });
        match reached {
            Some((n, value)) => self.finish_at_target(n, value),
            None => Ok(()),
        }
    }

    /// Judge every running run by the early-termination rule; stop those it
    /// condemns, recording why in their summary and the sweep's events.
    fn terminate_early(&mut self) -> io::Result<()> {
        let Some(rule) = &self.early_stop else {
            return Ok(());
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
                    && r.handle.is_some()
                    && r.summary.early_terminate.is_none()
            })
            .filter_map(|(&n, r)| Some((n, rule.judge(&thresholds, &r.values)?)))
            .filter(|(_, j)| j.stop)
            .collect();
        for (n, judgement) in condemned {
            let run = self.runs.get_mut(&n).expect("listed above");
            tracing::info!(
                sweep = %self.id,
                run = n,
                band = judgement.band,
                value = judgement.value,
                threshold = judgement.threshold,
                runs_at_band = judgement.runs_at_band,
                "early termination: the run is stopped"
            );
            if let Some(handle) = &run.handle {
                handle.stop(StopReason::EarlyTerminate);
            }
            run.summary.early_terminate = Some(judgement.clone());
            self.dir.run(n).write_summary(&run.summary)?;
            self.dir
                .append_event(EventKind::EarlyTerminated { run: n, judgement })?;
        }
        Ok(())
    }

    /// Record how a run ended; queue its re-run when one is owed; fail the
    /// sweep when its runs keep failing to start. A run that failed or
    /// crashed while the disk was full (`disk_full`) is not blamed for it:
    /// it counts as interrupted and runs again.
    pub fn ended(&mut self, n: u32, ending: Ending, disk_full: bool) -> io::Result<()> {
        let Some(run) = self.runs.get_mut(&n) else {
            return Ok(());
        };
        run.handle = None;
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
            reason: reason.clone(),
        })?;
        if ending.error.is_some() && self.unstartable_in_a_row() {
            let why = format!(
                "{UNSTARTABLE_IN_A_ROW} runs in a row could not start: {}",
                reason.unwrap_or_default()
            );
            return self.fail(&why);
        }
        let limit = self.spec.sweepd.max_failures_in_a_row;
        if limit > 0 && self.is_running() && self.failures_in_a_row() >= limit as usize {
            let why = format!(
                "{limit} runs in a row failed or crashed (the last, run {n}: {}); \
                 see `sweepctl logs`, then `sweepctl resume`",
                reason.unwrap_or_default()
            );
            tracing::warn!(sweep = %self.id, "{why}");
            self.set_state(SweepState::Paused, Some(why))?;
        }
        self.rerun_if_owed(n)
    }

    /// How many of the latest ended runs, since the sweep last changed state
    /// (a resume starts the count again), failed or crashed, in a row.
    fn failures_in_a_row(&self) -> usize {
        let since = &self.record.updated_at;
        let mut ended: Vec<&RunSummary> = self
            .runs
            .values()
            .map(|r| &r.summary)
            .filter(|s| s.ended_at.as_ref().is_some_and(|t| t > since))
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
        let last: Vec<&Run> = self
            .runs
            .values()
            .rev()
            .take(UNSTARTABLE_IN_A_ROW)
            .collect();
        last.len() == UNSTARTABLE_IN_A_ROW
            && last
                .iter()
                .all(|r| r.summary.state == RunState::Crashed && r.summary.started_at.is_none())
    }

    /// Run a proposal again when its latest run (`n`) was interrupted by the
    /// daemon (always) or crashed (while `sweepd.retry` allows), and the sweep
    /// still runs or is paused.
    fn rerun_if_owed(&mut self, n: u32) -> io::Result<()> {
        let Some(run) = self.runs.get(&n) else {
            return Ok(());
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
            RunState::Crashed => crashes <= self.spec.sweepd.retry,
            _ => false,
        };
        let sweep_goes_on = matches!(self.record.state, SweepState::Running | SweepState::Paused);
        if !owed || !is_latest || !sweep_goes_on {
            return Ok(());
        }
        let (params, attempt) = (run.params.clone(), run.summary.attempt + 1);
        let rerun = self.queue(params, proposal, attempt)?;
        let run = self.runs.get_mut(&n).expect("present");
        run.summary.retried_by = Some(rerun);
        self.dir.run(n).write_summary(&run.summary)
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

    /// Write everything held here again, after writes failed (the disk was
    /// full): each run's summary that differs from its file, then the
    /// sweep's state, then the re-runs that could not be queued. Clears
    /// `unsaved` when all of it is written. (Events not logged then stay
    /// lost: the records are the truth, events.jsonl their history.)
    pub fn resave(&mut self) -> io::Result<()> {
        for (&n, run) in &self.runs {
            let run_dir = self.dir.run(n);
            match run_dir.read_summary() {
                Ok(on_disk) if on_disk == run.summary => continue,
                // Its folder was removed (to make room?): nothing to write into.
                Err(_) if !run_dir.root().exists() => continue,
                _ => run_dir.write_summary(&run.summary)?,
            }
        }
        if self.dir.read_state().ok().as_ref() != Some(&self.record) {
            self.dir.write_state(&self.record)?;
        }
        let latest: Vec<u32> = self.latest_runs().values().map(|r| r.summary.run).collect();
        for n in latest {
            self.rerun_if_owed(n)?;
        }
        self.unsaved = false;
        tracing::info!(sweep = %self.id, "records written again after writes failed");
        self.finish_if_done()
    }

    pub fn attach(&mut self, n: u32, handle: RunHandle) {
        if let Some(run) = self.runs.get_mut(&n) {
            run.handle = Some(handle);
        }
    }
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
        (Some(reason), _) => (RunState::Killed, Some(reason.as_str().into())),
        (None, Some(Exit::Code(0))) => (RunState::Finished, None),
        (None, Some(Exit::Code(code))) => {
            (RunState::Failed, Some(format!("exited with status {code}")))
        }
        (None, Some(Exit::Signal(signal))) => (
            RunState::Crashed,
            Some(format!("killed by signal {signal}, not by sweepd")),
        ),
        (None, None) => (
            RunState::Crashed,
            Some(
                ending
                    .lost
                    .clone()
                    .unwrap_or_else(|| "its exit status was lost".into()),
            ),
        ),
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
