//! A sweep taken up from its folder (after a restart, recovering what a
//! dead daemon left running), and written again after writes failed.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::time::Instant;

use super::{LoadError, Run, Sweep};
use crate::early_stop::EarlyStop;
use crate::executor::{Ingest, orphans};
use crate::protocol::trainer::StopReason;
use crate::search::{self};
use crate::spec::{self, Format};
use crate::store::{EventKind, RunState, SweepDir, SweepId, now};

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
    pub(super) fn kept(&mut self, result: io::Result<()>, what: &str) {
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
}
