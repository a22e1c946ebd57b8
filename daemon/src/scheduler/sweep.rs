//! One sweep as the scheduler holds it: its model (the rules, in
//! `sweepd_core::sweep`), its folder, its search, and the handles of its
//! live runs. Everything that happens to it goes through [`Sweep::on`]: the
//! model decides, the journal writes what it decided into the folder, and
//! the runs it stops get the stop message here.

use std::collections::BTreeMap;
use std::io;

use super::agents::Agents;
use crate::executor::RunHandle;
use crate::protocol::trainer::StopReason;
use crate::search::{self, ParamSet, Search, SearchSize};
use crate::spec::{self, SweepSpec};
use crate::store::monitor::MonitorRecord;
use crate::store::{RunDir, RunId, Source, SweepDir, SweepId, SweepState};
use crate::sweep::{ContinueError, Effect, Event, SweepModel, journal};

pub(super) struct Sweep {
    pub id: SweepId,
    pub dir: SweepDir,
    pub spec: SweepSpec,
    pub source: Source,
    pub model: SweepModel,
    search: Box<dyn Search + Send>,
    /// The runs whose process or job sweepd follows now.
    handles: BTreeMap<u32, RunHandle>,
    /// Slurm runs found running at load, to take up again: (run, its job
    /// when known).
    jobs_to_take_up: Vec<(u32, Option<u64>)>,
    /// Local runs whose monitor outlived the last sweepd, to take up again.
    runs_to_adopt: Vec<(u32, MonitorRecord)>,
    /// Its agents, when it has neither `program` nor `command`.
    pub agents: Agents,
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

mod recovery;

impl Sweep {
    /// Apply an event: the model's effects written to the folder (all of
    /// them, the first failure returned and the sweep then held unsaved),
    /// its stops sent to the runs.
    pub fn on(&mut self, event: Event) -> io::Result<()> {
        let effects = self.model.on(event);
        self.carry_out(&effects)
    }

    /// A change the model may refuse (extend, enqueue): refused, nothing
    /// changes; else its effects are carried out as an event's are.
    pub fn continued(
        &mut self,
        change: impl FnOnce(&mut SweepModel) -> Result<Vec<Effect>, ContinueError>,
    ) -> Result<io::Result<()>, ContinueError> {
        let effects = change(&mut self.model)?;
        Ok(self.carry_out(&effects))
    }

    /// The runs its file gives (`sweepd.enqueue`), queued when it is first
    /// taken up (it has no run yet), ahead of the search's own.
    pub fn queue_given(&mut self) -> io::Result<()> {
        if self.spec.sweepd.enqueue.is_empty()
            || self.model.runs().next().is_some()
            || !self.is_running()
        {
            return Ok(());
        }
        let queued = search::given_runs(&self.spec, self.model.record().seed).and_then(|sets| {
            self.continued(|model| model.enqueue(sets))
                .map_err(|e| e.to_string())
        });
        match queued {
            Ok(written) => written,
            Err(why) => self.on(Event::Fail(format!(
                "cannot queue the runs of `enqueue`: {why}"
            ))),
        }
    }

    /// The number of points of its grid (None: not a grid, or too many to count).
    pub fn grid_points(&self) -> Option<u128> {
        match self.search.size() {
            SearchSize::Finite(points) => points.exact(),
            SearchSize::Unbounded => None,
        }
    }

    /// Parameters a person gives (`sweepctl enqueue`) checked against the
    /// space, with what each leaves out drawn as random search would draw
    /// the run it becomes.
    pub fn check_given(&self, given: &[ParamSet]) -> Result<Vec<ParamSet>, String> {
        let space = search::Space::new(&self.spec);
        let fill = search::Random::new(&self.spec, self.model.record().seed);
        let index = self.model.history().trials.len() as u64;
        given
            .iter()
            .enumerate()
            .map(|(i, set)| {
                space
                    .check_given(set, fill.fills(index + i as u64))
                    .map_err(|e| match given.len() {
                        1 => e.to_string(),
                        _ => format!("run {} of {}: {e}", i + 1, given.len()),
                    })
            })
            .collect()
    }

    fn carry_out(&mut self, effects: &[Effect]) -> io::Result<()> {
        for effect in effects {
            if let Effect::StopRun { run, reason } = effect
                && let Some(handle) = self.handles.get(run)
            {
                handle.stop(*reason);
            }
        }
        let written = journal::apply(&self.dir, &self.model, effects);
        if written.is_err() {
            self.model.mark_unsaved();
        }
        written
    }

    /// A write that failed leaves this sweep ahead of its folder: say so,
    /// and hold it as unsaved (see `resave`).
    pub fn kept(&mut self, result: io::Result<()>, what: &str) {
        if let Err(e) = result {
            tracing::error!(sweep = %self.id, error = %e, "{what}; kept to write again");
            self.model.mark_unsaved();
        }
    }

    pub fn is_running(&self) -> bool {
        self.model.state() == SweepState::Running
    }

    pub fn is_unsaved(&self) -> bool {
        self.model.is_unsaved()
    }

    /// Runs with a live process (or a followed Slurm job).
    pub fn supervised(&self) -> usize {
        self.handles.len()
    }

    pub fn active(&self) -> usize {
        self.model.active()
    }

    pub fn max_parallel(&self, default: u32) -> usize {
        self.spec.sweepd.max_parallel.unwrap_or(default) as usize
    }

    /// The runs with live processes, to stop.
    pub fn handles(&self) -> impl Iterator<Item = &RunHandle> {
        self.handles.values()
    }

    /// The next run to start: one queued (a re-run, or one queued before a
    /// restart), else a new proposal of the search; `None` when there is
    /// none for now. The run's folder exists when this returns `Ok`.
    pub fn next_run(&mut self) -> io::Result<Option<u32>> {
        if let Some(n) = self.model.next_queued() {
            return Ok(Some(n));
        }
        if !self.model.may_propose() {
            return Ok(None);
        }
        // The search's own log lines (why a bayes run is what it is) name the sweep.
        let span = tracing::info_span!("propose", sweep = %self.id);
        let proposed = span.in_scope(|| self.search.propose(&self.model.history()));
        let event = match proposed {
            Ok(Some(params)) => Event::Proposed(params),
            Ok(None) => Event::Exhausted,
            Err(e) => Event::SearchFailed(e.to_string()),
        };
        self.on(event)?;
        Ok(self.model.next_queued())
    }

    /// The last values of the metrics the sweep tracks besides its metric
    /// (objectives, outcome constraints), from run `n`'s `metrics.jsonl`;
    /// `None` when it tracks none.
    pub fn outcomes(&self, n: u32) -> Option<std::collections::BTreeMap<String, f64>> {
        let tracked = self.model.rules().tracked();
        if tracked.is_empty() {
            return None;
        }
        let records = self.dir.run(n).read_metrics().unwrap_or_default();
        Some(sweepd_core::sweep::journal::last_values(&records, &tracked))
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

    /// Whether agents run its runs (it has neither `program` nor `command`).
    pub fn runs_by_agents(&self) -> bool {
        self.spec.program.is_none() && self.spec.command.is_none()
    }

    /// Whether its runs are Slurm jobs.
    pub fn is_slurm(&self) -> bool {
        matches!(self.spec.sweepd.executor, spec::Executor::Slurm(_))
    }

    /// The stop a run taken up again is owed (see `SweepModel::stop_owed`).
    pub fn stop_owed(&self, n: u32) -> Option<StopReason> {
        self.model.stop_owed(n)
    }

    /// A followed run's handle.
    pub fn handle(&self, n: u32) -> Option<&RunHandle> {
        self.handles.get(&n)
    }

    /// The Slurm runs to take up again after a restart (once).
    pub fn take_jobs_to_take_up(&mut self) -> Vec<(u32, Option<u64>)> {
        std::mem::take(&mut self.jobs_to_take_up)
    }

    /// The local runs to take up again after a restart (once).
    pub fn take_runs_to_adopt(&mut self) -> Vec<(u32, MonitorRecord)> {
        std::mem::take(&mut self.runs_to_adopt)
    }

    /// sweepd follows the run's process or job from now on.
    pub fn attach(&mut self, n: u32, handle: RunHandle) {
        self.handles.insert(n, handle);
        self.model.on(Event::Attached(n));
    }

    /// No longer followed: it ended, or is left to run (a Slurm job while
    /// sweepd stops).
    pub fn detach(&mut self, n: u32) {
        self.handles.remove(&n);
        self.model.on(Event::Detached(n));
    }

    /// Write everything held here again, after writes failed (the disk was
    /// full); then the re-runs owed and the sweep's end, if it is done.
    pub fn resave(&mut self) -> io::Result<()> {
        journal::resave(&self.dir, &self.model)?;
        tracing::info!(sweep = %self.id, "records written again after writes failed");
        self.on(Event::Saved)
    }
}
