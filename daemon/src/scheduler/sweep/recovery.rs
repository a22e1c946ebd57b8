//! A sweep taken up from its folder: the model rebuilt by the journal, then
//! what a dead daemon left running recovered (its leftover processes
//! killed, its output read to the end) and handed to the model, which ends
//! those runs and queues the re-runs owed. Slurm jobs go on without sweepd
//! and are taken up again instead.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::time::Instant;

use super::{LoadError, Sweep};
use crate::executor::{Ingest, orphans};
use crate::search;

use crate::store::{RunState, SweepDir, SweepId};
use crate::sweep::{Event, RecoveredRun, Rules, journal};

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
        let spec = journal::read_spec(&dir)?.map_err(LoadError::Invalid)?;
        let search = search::for_spec(&spec, record.seed)?;
        let (model, unreadable) = journal::load(&dir, record, Rules::of(&spec), |_, _| {})?;
        for (n, e) in unreadable {
            let run_dir = dir.run(n);
            if e.kind() == io::ErrorKind::NotFound {
                // Cut short before its first summary (a crash, a full
                // disk): it never started, and nothing of it is kept.
                if !run_dir.stdout_file().exists() {
                    let _ = std::fs::remove_dir_all(run_dir.root());
                }
            } else {
                tracing::error!(sweep = %id, run = n, error = %e, "a run's folder cannot be read; it is left as it is");
            }
        }
        let mut sweep = Sweep {
            id: id.clone(),
            dir,
            spec,
            source,
            model,
            search,
            handles: BTreeMap::new(),
            jobs_to_take_up: Vec::new(),
            agents: Default::default(),
        };
        // A full disk must not cost the sweep: what cannot be written now
        // is held, and written once it can be.
        let was_running = sweep.recover(leftovers);
        let recovered = sweep.on(Event::Recovered { was_running });
        sweep.kept(recovered, "cannot record what was recovered");
        Ok(sweep)
    }

    /// The runs a dead daemon left running, their leftover processes killed
    /// and their output read to the end (resuming, so nothing they printed
    /// is lost; on a full disk, what metrics.jsonl already holds). Slurm
    /// jobs are kept to take up again.
    fn recover(&mut self, leftovers: &HashMap<String, Vec<i32>>) -> Vec<RecoveredRun> {
        let metric = self.spec.metric.clone();
        let slurm = self.is_slurm();
        let mut was_running = Vec::new();
        let mut unread = false;
        for run in self.model.runs() {
            let n = run.summary.run;
            let run_dir = self.dir.run(n);
            // A Slurm job goes on without sweepd (pending or running): taken
            // up again by its id, or by its name if the id was never recorded.
            if slurm && run.is_active() {
                let job = run.summary.slurm.as_ref().map(|j| j.job_id);
                let submitted =
                    job.is_some() || crate::executor::slurm::script::script_file(&run_dir).exists();
                if submitted {
                    self.jobs_to_take_up.push((n, job));
                    continue;
                }
            }
            let ran = run.state() == RunState::Running
                || (run.state() == RunState::Queued && run_dir.stdout_file().exists());
            if !ran {
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
            let found = match Ingest::open(&run_dir, metric.as_ref(), Instant::now())
                .and_then(Ingest::finish)
            {
                Ok((values, summary)) => RecoveredRun {
                    run: n,
                    values: Some(values),
                    metric: summary,
                },
                Err(e) => {
                    tracing::error!(sweep = %self.id, run = n, error = %e, "cannot read the run's output to the end");
                    unread = true;
                    RecoveredRun {
                        run: n,
                        values: None,
                        metric: None,
                    }
                }
            };
            was_running.push(found);
        }
        if unread {
            self.model.mark_unsaved();
        }
        was_running
    }
}
