//! Which runs start, and starting them: a sweep's backend (this machine
//! or Slurm), filling the free places one run per sweep in turn, and a run
//! started (or its Slurm job taken up again).

use super::agents::Agent;
use super::gpus::{gpus_needed, lease, share_of};
use super::launch::{self, RunContext, RunsAs};
use super::sweep::Sweep;
use super::{Scheduler, recorded, workdir};
use crate::executor::slurm::Cluster;
use crate::executor::{self, Backend, EndedBy, ToAgent};
use crate::gpu::placement::Lease;
use crate::spec::{Executor, GpuShare};
use crate::store::SweepId;
use crate::store::monitor::MonitorRecord;
use crate::sweep::Event;

impl Scheduler {
    /// Where a sweep's runs run.
    pub(super) fn backend(&mut self, id: &SweepId) -> Backend {
        let sweep = &self.sweeps[id];
        match &sweep.spec.sweepd.executor {
            Executor::Local => Backend::Local(self.tails.clone()),
            Executor::Slurm(options) => {
                let mut options = options.clone();
                // A share of a GPU is refused for Slurm when the file is checked.
                options.gpus_per_run = options.gpus_per_run.or(sweep
                    .spec
                    .sweepd
                    .gpus_per_run
                    .and_then(GpuShare::whole));
                let cluster = self
                    .cluster
                    .get_or_insert_with(|| {
                        Cluster::start(self.config.slurm.clone(), self.slurm_problems.clone())
                    })
                    .clone();
                Backend::Slurm(cluster, options)
            }
        }
    }

    /// Start runs while the limits allow: one per sweep in turn, oldest
    /// sweep first; none while the disk is full.
    pub(super) fn fill(&mut self) {
        if !self.disk_has_room() {
            return;
        }
        loop {
            let mut started = false;
            let ids: Vec<SweepId> = self.sweeps.keys().cloned().collect();
            for id in ids {
                // A write in this pass may have found the disk full.
                if self.disk.full().is_some() {
                    return;
                }
                let sweep = &self.sweeps[&id];
                // Until its records are written again, a sweep proposes
                // nothing new (a re-run it owes may not be queued yet).
                if sweep.is_unsaved() {
                    continue;
                }
                let by_agents = sweep.runs_by_agents();
                // max_running bounds the processes sweepd starts here; an
                // agent's runs are bounded by the agents a person started.
                if !by_agents && !sweep.is_slurm() && self.started_here() >= self.config.max_running
                {
                    continue;
                }
                let sweep = self.sweeps.get_mut(&id).expect("listed");
                let max_parallel = match (by_agents, sweep.spec.sweepd.max_parallel) {
                    (true, None) => usize::MAX,
                    _ => sweep.max_parallel(self.config.default_max_parallel),
                };
                if sweep.supervised() >= max_parallel {
                    continue;
                }
                if by_agents && !sweep.agents.has_ready() {
                    if sweep.is_running() && sweep.supervised() == 0 {
                        let why = format!(
                            "waiting for an agent: `sweepd.agent(\"{id}\", function)` in Python, \
                             or `sweepctl agent {id} -- COMMAND`"
                        );
                        let result = sweep.on(Event::Waiting(Some(why)));
                        recorded(&mut self.disk, sweep, result, "cannot record why it waits");
                    }
                    continue;
                }
                let lease = match gpus_needed(sweep, &self.placement) {
                    // The GPUs have not been looked at yet.
                    None => continue,
                    Some(GpuShare::Whole(0)) => None,
                    Some(_) if !sweep.is_running() => continue,
                    Some(need) => match lease(&mut self.placement, sweep, need) {
                        Ok(lease) => Some(lease),
                        Err(why) => {
                            let result = sweep.on(Event::Waiting(Some(why)));
                            recorded(&mut self.disk, sweep, result, "cannot record why it waits");
                            continue;
                        }
                    },
                };
                let result = sweep.on(Event::Waiting(None));
                recorded(
                    &mut self.disk,
                    sweep,
                    result,
                    "cannot record the sweep's state",
                );
                match sweep.next_run() {
                    Ok(Some(n)) => started |= self.start(&id, n, lease),
                    // Nothing to start: the model finished the sweep if it is done.
                    Ok(None) => {}
                    Err(e) => recorded(&mut self.disk, sweep, Err(e), "cannot queue a run"),
                }
            }
            if !started {
                return;
            }
        }
    }

    /// Start run `n`; false when it could not be (then recorded as crashed,
    /// and the sweep failed: a command that cannot be built fails every run).
    pub(super) fn start(&mut self, id: &SweepId, n: u32, lease: Option<Lease>) -> bool {
        self.start_or_take_up(id, n, lease, None)
    }

    /// Take up run `n`'s Slurm job `job` (or, unknown, the job named for
    /// it) again after a restart.
    pub(super) fn take_up(&mut self, id: &SweepId, n: u32, job: Option<u64>) -> bool {
        self.start_or_take_up(id, n, None, job)
    }

    /// Take up run `n`, which ran on with its monitor while no sweepd ran
    /// (`record` is the monitor's): its GPUs held for it again, followed
    /// from where its folder ends, and any stop it is owed sent.
    pub(super) fn adopt(&mut self, id: &SweepId, n: u32, record: &MonitorRecord) {
        let sweep = self.sweeps.get_mut(id).expect("present");
        let run_id = sweep.run_id(n);
        let queued = sweep.model.run(n).expect("a run of the sweep").state()
            == crate::store::RunState::Queued;
        let launch = run_launch(
            sweep,
            &self.config,
            None,
            n,
            RunsAs::Adopted,
            launch::Gpus::Inherited,
        )
        .expect("a run taken up builds no command");
        tracing::info!(sweep = %id, run = n, pid = record.pid, monitor = record.monitor_pid, started_at = %record.started_at, "taken up again: it ran on while no sweepd ran");
        if !record.gpus.is_empty() {
            let share = share_of(
                sweep,
                record
                    .gpus
                    .first()
                    .and_then(|uuid| self.placement.gpus().iter().find(|g| &g.uuid == uuid)),
            );
            self.placement.hold_adopted(&run_id, &record.gpus, share);
            self.write_gpus();
        }
        let handle = executor::adopt(launch, record, self.tails.clone(), self.run_tx.clone());
        let sweep = self.sweeps.get_mut(id).expect("present");
        if let Some(reason) = sweep.stop_owed(n) {
            handle.stop(reason);
        }
        sweep.attach(n, handle);
        // Started by a sweepd that died before it could record so.
        if queued {
            let result = sweep.on(Event::Started {
                run: n,
                pid: record.pid,
            });
            recorded(
                &mut self.disk,
                sweep,
                result,
                "cannot record the run's start",
            );
        }
    }

    /// Start run `n`, or with `job` take up its Slurm job again: either
    /// way sweepd follows it from now on.
    fn start_or_take_up(
        &mut self,
        id: &SweepId,
        n: u32,
        lease: Option<Lease>,
        job: Option<u64>,
    ) -> bool {
        let backend = self.backend(id);
        let sweep = self.sweeps.get_mut(id).expect("present");
        let run_id = sweep.run_id(n);
        let gpus = match &lease {
            Some(lease) => launch::Gpus::These(&lease.gpus),
            // Slurm gives a job its GPUs (`--gres`) and says which.
            None if sweep.is_slurm() => launch::Gpus::Inherited,
            // Explicitly CPU only, or the machine has GPUs this run does
            // not get: hide them. (With none found, leave CUDA alone: the
            // detection may be what failed.)
            None if sweep.spec.sweepd.gpus_per_run == Some(GpuShare::Whole(0))
                || !self.placement.gpus().is_empty() =>
            {
                launch::Gpus::None
            }
            None => launch::Gpus::Inherited,
        };
        // An agent's run goes to the agent that has waited longest.
        let agent = if sweep.runs_by_agents() {
            sweep.agents.take_ready()
        } else {
            None
        };
        let runs_as = match &agent {
            None => RunsAs::Sweep,
            Some(Agent {
                command: Some(command),
                ..
            }) => RunsAs::Command(command),
            Some(Agent { command: None, .. }) => RunsAs::Function,
        };
        let launch = run_launch(
            sweep,
            &self.config,
            self.python.as_deref(),
            n,
            runs_as,
            gpus,
        );
        let params = sweep
            .model
            .run(n)
            .expect("a run of the sweep")
            .params
            .clone();
        match launch {
            Ok(mut launch) => {
                if let Some(lease) = &lease {
                    launch.gpu_locks = lease.locks();
                }
                // Recorded as held before the run exists, so that it (and
                // `sweepctl gpus`) never sees its GPU as free.
                if let Some(lease) = lease {
                    self.placement.hold(&run_id, lease);
                    self.write_gpus();
                }
                let sweep = self.sweeps.get_mut(id).expect("present");
                let handle = match (job, &backend) {
                    _ if agent.is_some() => executor::agent::start(
                        launch,
                        params,
                        agent.expect("an agent").link,
                        self.tails.clone(),
                        self.run_tx.clone(),
                    ),
                    (Some(job), Backend::Slurm(cluster, options)) => executor::slurm::start(
                        launch,
                        cluster.clone(),
                        options.clone(),
                        Some(job),
                        self.run_tx.clone(),
                    ),
                    _ => executor::start(launch, &backend, self.run_tx.clone()),
                };
                sweep.attach(n, handle);
                true
            }
            // An agent's own command: that agent is sent away, the run goes
            // back to the queue for another, and the sweep goes on.
            Err(e) if agent.is_some() => {
                let why = format!("the agent's command cannot be built: {e}");
                let _ = agent
                    .expect("an agent")
                    .link
                    .send(ToAgent::Done(why.clone()));
                let ending = executor::Ending::new(EndedBy::Interrupted(why), None);
                let result = sweep.on(Event::Ended {
                    run: n,
                    ending,
                    disk_full: false,
                });
                recorded(&mut self.disk, sweep, result, "cannot record the run's end");
                false
            }
            Err(e) => {
                let ending = executor::Ending::not_started(e.to_string());
                let ended = sweep.on(Event::Ended {
                    run: n,
                    ending,
                    disk_full: false,
                });
                let failed = sweep.on(Event::Fail(format!("its command cannot be built: {e}")));
                let result = ended.and(failed);
                recorded(&mut self.disk, sweep, result, "cannot record the run's end");
                false
            }
        }
    }
}

/// Run `n`'s launch, run as `runs_as`, with its sweep's and sweepd's
/// settings (a run that runs its proposal again told where to resume).
fn run_launch(
    sweep: &Sweep,
    config: &super::Config,
    python: Option<&std::path::Path>,
    n: u32,
    runs_as: RunsAs<'_>,
    gpus: launch::Gpus<'_>,
) -> Result<crate::executor::Launch, crate::command::CommandError> {
    let run = sweep.model.run(n).expect("a run of the sweep");
    let token = run.summary.token.clone().unwrap_or_default();
    let resume = match runs_as {
        RunsAs::Adopted => None,
        _ => resume_of(sweep, n),
    };
    launch::launch(RunContext {
        spec: &sweep.spec,
        runs_as,
        resume,
        python,
        id: &sweep.run_id(n),
        run_dir: &sweep.run_dir(n),
        params: &run.params,
        token: &token,
        cwd: workdir(&sweep.spec, &sweep.source, &config.user_home),
        interpreter: &config.interpreter,
        stop: config.stop,
        gpus,
    })
}

/// What run `n` is told of the attempt it takes over from, when it runs its
/// proposal again after an interruption or a crash.
fn resume_of(sweep: &Sweep, n: u32) -> Option<launch::Resume> {
    let earlier = sweep
        .model
        .runs()
        .find(|r| r.summary.retried_by == Some(n))?;
    let proposal = earlier.summary.proposal;
    let first = sweep
        .model
        .runs()
        .filter(|r| r.summary.proposal == proposal)
        .map(|r| r.summary.run)
        .min()?;
    Some(launch::Resume {
        dir: sweep.run_dir(earlier.summary.run),
        first: sweep.run_id(first),
    })
}
