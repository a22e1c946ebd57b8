//! A sweep taken up from its folder: the model rebuilt by the journal, then
//! the runs the last sweepd left running. A local run whose monitor lives
//! is taken up again (it runs on); one whose monitor saw it end is recorded
//! as it ended; any other (its monitor killed, or a sweepd without
//! monitors) is recovered: its leftover processes killed, its output read
//! to the end, and handed to the model, which ends it as interrupted and
//! queues the re-run owed. Slurm jobs go on without sweepd and are taken up
//! again too.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::Path;
use std::time::Instant;

use super::{LoadError, Sweep};
use crate::executor::{Ending, Ingest, orphans};
use crate::monitor::{self, Liveness};
use crate::protocol::trainer::StopReason;
use crate::search;
use crate::store::monitor::{self as store_monitor, ExitRecord, MonitorRecord, Read};
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
        disk_full: bool,
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
            runs_to_adopt: Vec::new(),
            agents: Default::default(),
        };
        // A full disk must not cost the sweep: what cannot be written now
        // is held, and written once it can be.
        let was_running = sweep.recover(leftovers);
        let recovered = sweep.on(Event::Recovered {
            was_running,
            disk_full,
        });
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
            let monitor_file = run_dir.monitor_file();
            let ran = run.state() == RunState::Running
                || (run.state() == RunState::Queued
                    && (run_dir.stdout_file().exists() || monitor_file.exists()));
            let left = run.summary.token.as_ref().and_then(|t| leftovers.get(t));
            if ran && let Some(record) = adoptable(&self.id, n, &monitor_file) {
                self.runs_to_adopt.push((n, record));
                continue;
            }
            // Not to be taken up: what is left of it goes.
            if let Some(pids) = left {
                tracing::warn!(
                    run = n,
                    processes = pids.len(),
                    "killing what a dead daemon left running"
                );
                orphans::kill_all(pids);
            }
            if !ran {
                continue;
            }
            let ended = ended_meanwhile(&self.id, n, &run_dir.exit_file(), self.model.stop_owed(n));
            let found = match Ingest::open(&run_dir, metric.as_ref(), Instant::now())
                .and_then(Ingest::finish)
            {
                Ok((values, summary)) => RecoveredRun {
                    run: n,
                    values: Some(values),
                    metric: summary,
                    ended,
                },
                Err(e) => {
                    tracing::error!(sweep = %self.id, run = n, error = %e, "cannot read the run's output to the end");
                    unread = true;
                    RecoveredRun {
                        run: n,
                        values: None,
                        metric: None,
                        ended,
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

/// The monitor's record of a run whose monitor lives, to take it up; None
/// when there is no live monitor, or one this sweepd cannot trust (its
/// files are of a newer version, or do not read): such a run is ended as
/// interrupted, and run again.
fn adoptable(sweep: &SweepId, n: u32, monitor_file: &Path) -> Option<MonitorRecord> {
    match monitor::alive(monitor_file) {
        Ok(Liveness::Alive) => {}
        Ok(Liveness::Gone | Liveness::None) => return None,
        Err(e) => {
            tracing::error!(sweep = %sweep, run = n, error = %e, "cannot tell whether the run's monitor lives; the run is interrupted");
            return None;
        }
    }
    match store_monitor::read::<MonitorRecord>(monitor_file) {
        Ok(Some(Read::Known(record))) => Some(record),
        Ok(Some(Read::Newer(version))) => {
            tracing::warn!(sweep = %sweep, run = n, version, "the run's monitor is of a newer sweepd than this one (monitor.json version {version}): the run is stopped and run again");
            None
        }
        Ok(None) => None,
        Err(e) => {
            tracing::error!(sweep = %sweep, run = n, error = %e, "the run's monitor.json does not read; the run is interrupted");
            None
        }
    }
}

/// How a run whose monitor is gone ended, from its `exit.json` (None: it
/// has none, so the monitor died first, or the run had none: interrupted).
/// A stop owed to it (the rule had judged it, its sweep was canceled) is
/// why it ended, as it would have been had sweepd been there.
fn ended_meanwhile(
    sweep: &SweepId,
    n: u32,
    exit_file: &Path,
    stop_owed: Option<StopReason>,
) -> Option<Ending> {
    let record = match store_monitor::read::<ExitRecord>(exit_file) {
        Ok(Some(Read::Known(record))) => record,
        Ok(Some(Read::Newer(version))) => {
            tracing::warn!(sweep = %sweep, run = n, version, "exit.json is of a newer sweepd than this one: the run is interrupted");
            return None;
        }
        Ok(None) => return None,
        Err(e) => {
            tracing::error!(sweep = %sweep, run = n, error = %e, "exit.json does not read: the run is interrupted");
            return None;
        }
    };
    Some(record.ending(stop_owed))
}
