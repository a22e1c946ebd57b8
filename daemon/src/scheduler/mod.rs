//! The one owner of sweep state. The inbox watcher, the control socket and
//! the runs send it messages; it alone decides what runs, and writes every
//! change to the sweeps' folders before acting on it.

mod agents;
mod control;
mod disk;
mod gpus;
mod handle;
mod launch;
mod starts;
mod status_line;
mod sweep;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use agents::{AgentId, AgentMsg};
pub use control::{Control, ControlError, Controlled, RunCap};
pub use handle::{Config, GpuConfig, Mailbox, Msg, SchedulerHandle, channel};
pub use launch::{interpreter, workdir};

use crate::executor::slurm::Cluster;
use crate::executor::{self, RunEvent, RunEventKind, Tails};
use crate::gpu;
use crate::gpu::placement::Placement;
use crate::protocol::trainer::StopReason;
use crate::store::{Home, SweepDir, SweepId, SweepState};
use crate::sweep::Event;
use disk::Disk;
use gpus::sample_gpus;
use sweep::Sweep;

struct Scheduler {
    /// Whether the looks at the GPUs list their processes (while a sweep
    /// shares GPUs: only their runs' memory is measured).
    list_processes: Arc<AtomicBool>,
    home: Home,
    config: Config,
    tails: Tails,
    sweeps: BTreeMap<SweepId, Sweep>,
    run_tx: mpsc::UnboundedSender<RunEvent>,
    /// The Slurm cluster, from the first sweep that runs there.
    cluster: Option<Cluster>,
    /// Where the cluster says what keeps it from Slurm (None: all is well).
    slurm_problems: mpsc::UnboundedSender<Option<String>>,
    placement: Placement,
    /// What gpus.json last said (less its time).
    gpus_written: Option<gpu::Report>,
    /// Whether the disk holding the home has room for more runs.
    disk: Disk,
    /// The last agent's number (agents are numbered from 1).
    next_agent: AgentId,
    /// sweepd's Python for runs, in the home.
    python: Option<std::path::PathBuf>,
}

/// Run the scheduler until `shutdown`; then stop every run (they are
/// recorded as interrupted, to run again) and return.
pub async fn run(
    home: Home,
    config: Config,
    mailbox: Mailbox,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let Mailbox {
        mut msgs,
        status,
        heartbeat,
    } = mailbox;
    let (run_tx, mut run_rx) = mpsc::unbounded_channel();
    let (slurm_problems, mut problem_rx) = mpsc::unbounded_channel();
    let (snapshots, mut snapshot_rx) = mpsc::channel(1);
    let list_processes = Arc::new(AtomicBool::new(false));
    let sampler = tokio::spawn(sample_gpus(
        config.gpu.probe.clone(),
        config.gpu.sample_every,
        Arc::clone(&list_processes),
        snapshots,
    ));
    let placement = Placement::new(config.gpu.thresholds.clone(), config.gpu.lock_dir.clone());
    // A dead daemon's view of the GPUs (and their holders) is not ours.
    let _ = std::fs::remove_file(home.gpus_file());
    let tails =
        Tails::start()
            .with_log_max(config.log_max)
            .with_monitor(match &config.monitor_exe {
                Some(path) => crate::monitor::Exe::at(path.clone()),
                None => crate::monitor::Exe::find(),
            });
    let python = match crate::python::install(&home) {
        Ok(root) => Some(root),
        Err(e) => {
            tracing::error!(error = %e, "cannot write sweepd's Python into the home: a run's `import wandb` is W&B's own");
            None
        }
    };
    let mut s = Scheduler {
        placement,
        list_processes,
        gpus_written: None,
        disk: Disk::new(home.root().to_owned()),
        home,
        config,
        tails,
        sweeps: BTreeMap::new(),
        run_tx,
        cluster: None,
        slurm_problems,
        next_agent: 0,
        python,
    };
    s.load_all()?;
    s.fill();
    s.publish(&status);
    // While the disk is full, a look every second for space to return.
    let mut space_look = tokio::time::interval(Duration::from_secs(1));
    space_look.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        heartbeat.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            Some(msg) = msgs.recv() => s.handle(msg),
            Some(snapshot) = snapshot_rx.recv() => s.observe_gpus(snapshot),
            Some(problem) = problem_rx.recv() => s.on_slurm_problem(problem),
            Some(event) = run_rx.recv() => {
                // A metric value changes nothing about what may start.
                let metric = matches!(event.kind, RunEventKind::Metric { .. });
                s.on_run_event(event);
                if metric {
                    continue;
                }
            }
            _ = space_look.tick(), if s.disk.full().is_some() => {}
            () = shutdown.cancelled() => break,
        }
        s.fill();
        s.dismiss_agents();
        s.publish(&status);
    }
    sampler.abort();
    s.shut_down(&mut run_rx).await;
    Ok(())
}

impl Scheduler {
    /// Take up every sweep in the home (after a restart: recovering runs a
    /// dead daemon left behind).
    fn load_all(&mut self) -> io::Result<()> {
        let leftovers = executor::orphans::find();
        // A run that failed while no sweepd ran may have died of a full disk.
        self.disk.look();
        let ids = self.home.sweep_ids()?;
        for id in ids {
            self.load(id, &leftovers);
        }
        Ok(())
    }

    fn load(&mut self, id: SweepId, leftovers: &HashMap<String, Vec<i32>>) {
        if self.sweeps.contains_key(&id) {
            return; // already taken up (a file filed again after a crash)
        }
        let dir: SweepDir = self.home.sweep(&id);
        match Sweep::load(&id, dir.clone(), leftovers, self.disk.full().is_some()) {
            Ok(mut sweep) => {
                // A dead daemon's reason to wait, or trouble with Slurm, is not ours.
                let cleared = sweep
                    .on(Event::Waiting(None))
                    .and_then(|()| sweep.on(Event::ExecutorProblem(None)));
                recorded(
                    &mut self.disk,
                    &mut sweep,
                    cleared,
                    "cannot record the sweep's state",
                );
                let given = sweep.queue_given();
                recorded(
                    &mut self.disk,
                    &mut sweep,
                    given,
                    "cannot queue the runs its file gives",
                );
                if sweep.is_unsaved() {
                    // What it recovered could not all be written: for want of space?
                    self.disk.probe();
                }
                tracing::info!(sweep = %id, state = ?sweep.model.state(), runs = sweep.model.runs().count(), "sweep loaded");
                let jobs = sweep.take_jobs_to_take_up();
                let adopted = sweep.take_runs_to_adopt();
                self.sweeps.insert(id.clone(), sweep);
                // Its local runs went on with their monitors: take them up.
                for (n, record) in adopted {
                    self.adopt(&id, n, &record);
                }
                // Its Slurm jobs went on while no sweepd ran: take them up.
                for (n, job) in jobs {
                    self.take_up(&id, n, job);
                    let sweep = &self.sweeps[&id];
                    if let (Some(reason), Some(handle)) = (sweep.stop_owed(n), sweep.handle(n)) {
                        handle.stop(reason);
                    }
                }
            }
            Err(e) => {
                tracing::error!(sweep = %id, error = %e, "cannot take up this sweep");
                // Say so in the sweep itself, where `sweepctl status` shows it.
                if let Ok(mut record) = dir.read_state()
                    && record.state.is_active()
                {
                    record.state = SweepState::Failed;
                    record.reason = Some(format!("sweepd cannot take it up: {e}"));
                    record.updated_at = crate::store::now();
                    let _ = dir.write_state(&record);
                }
            }
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Added(id) => self.load(id, &HashMap::new()),
            Msg::Control(control, id, reply) => {
                let _ = reply.send(self.control(control, &id));
            }
            Msg::Agent(msg) => self.on_agent(msg),
        }
    }

    fn on_run_event(&mut self, event: RunEvent) {
        // A run that ends on a full disk may have died of it: not its fault.
        let mut disk_full = false;
        if let RunEventKind::Ended(ending) = &event.kind {
            self.placement.release(&event.id, Instant::now());
            self.write_gpus();
            self.disk.look();
            if ending.stopped().is_none() && !ending.succeeded() {
                // A quota (or inodes) used up does not show in statvfs.
                self.disk.probe();
            }
            disk_full = self.disk.full().is_some();
        }
        let Some(sweep) = self.sweeps.get_mut(&event.id.sweep) else {
            return;
        };
        let n = event.id.run;
        let result = match event.kind {
            RunEventKind::Started { pid } => sweep.on(Event::Started { run: n, pid }),
            RunEventKind::Submitted { job_id } => sweep.on(Event::Submitted { run: n, job_id }),
            RunEventKind::Job(job) => sweep.on(Event::JobSeen { run: n, job }),
            RunEventKind::Detached => {
                sweep.detach(n);
                Ok(())
            }
            RunEventKind::Metric { value, iteration } => sweep.on(Event::Metric {
                run: n,
                value,
                iteration,
            }),
            RunEventKind::Ended(ending) => {
                sweep.detach(n);
                // The objectives' and outcome constraints' last values, from
                // the run's metrics.jsonl, before the run counts as ended.
                if let Some(values) = sweep.outcomes(n)
                    && let Err(e) = sweep.on(Event::Outcomes { run: n, values })
                {
                    tracing::error!(sweep = %event.id.sweep, run = n, error = %e, "cannot record the run's outcomes");
                }
                sweep
                    .on(Event::Ended {
                        run: n,
                        ending,
                        disk_full,
                    })
                    .and_then(|()| {
                        // A sweep with nothing left in Slurm has nothing to wait for.
                        if sweep.active() == 0 && !sweep.is_running() {
                            sweep.on(Event::ExecutorProblem(None))
                        } else {
                            Ok(())
                        }
                    })
            }
        };
        recorded(
            &mut self.disk,
            sweep,
            result,
            "cannot record the run's progress",
        );
    }

    /// What keeps the cluster from Slurm, shown by every sweep that runs
    /// there (`sweepctl status`), or cleared.
    fn on_slurm_problem(&mut self, problem: Option<String>) {
        if let Some(p) = &problem {
            tracing::warn!("{p}");
        }
        for sweep in self.sweeps.values_mut().filter(|s| s.is_slurm()) {
            let problem = problem
                .clone()
                .filter(|_| sweep.active() > 0 || sweep.is_running());
            let result = sweep.on(Event::ExecutorProblem(problem));
            recorded(
                &mut self.disk,
                sweep,
                result,
                "cannot record the sweep's state",
            );
        }
    }

    /// Let go of every run, which runs on for the next sweepd (a local run
    /// with its monitor, a Slurm job; an agent's run is stopped); or, with
    /// `stop_runs_on_exit`, ask every run to stop (reason: shutdown). Wait
    /// for them within the stop sequence's bound, and record them.
    async fn shut_down(&mut self, run_rx: &mut mpsc::UnboundedReceiver<RunEvent>) {
        // Nothing waits for a GPU while no sweepd runs.
        for sweep in self.sweeps.values_mut() {
            if let Err(e) = sweep.on(Event::Waiting(None)) {
                tracing::error!(sweep = %sweep.id, error = %e, "cannot record the sweep's state");
            }
        }
        let stop_runs = self.config.stop_runs_on_exit.load(Ordering::Relaxed);
        for sweep in self.sweeps.values() {
            for handle in sweep.handles() {
                if stop_runs {
                    handle.stop(StopReason::Shutdown);
                } else {
                    handle.detach();
                }
            }
        }
        let bound = self.config.stop.kill_after + Duration::from_secs(5);
        let deadline = tokio::time::Instant::now() + bound;
        while self.supervised() > 0 {
            match tokio::time::timeout_at(deadline, run_rx.recv()).await {
                Ok(Some(event)) => self.on_run_event(event),
                _ => {
                    tracing::warn!(
                        "runs did not end in time; they are recorded as interrupted at the next start"
                    );
                    return;
                }
            }
        }
    }
}

/// Log a failed write of a sweep's records; the sweep holds more than its
/// folder says until it is written again, and a full disk stops new runs.
fn recorded(disk: &mut Disk, sweep: &mut Sweep, result: io::Result<()>, what: &str) {
    if let Err(e) = result {
        tracing::error!(sweep = %sweep.id, error = %e, "{what}");
        sweep.model.mark_unsaved();
        disk.write_failed(&e);
    }
}
