//! Sweeps and runs as their folders describe them: what `status`, `show`,
//! `logs` and `watch` print, with or without a daemon running.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::Value;
use sweepd_core::search::{Grid, ParamSet};
use sweepd_core::spec::{Goal, Method, SweepSpec};
use sweepd_core::store::{Home, RunDir, RunId, RunState, RunSummary, Source, SweepId, SweepRecord};
use sweepd_core::sweep::{SweepModel, best_value, journal};

/// One sweep, read from its folder.
pub struct SweepView {
    pub id: SweepId,
    pub record: SweepRecord,
    pub source: Source,
    pub spec: Option<SweepSpec>,
    /// The sweep model, as the daemon holds it.
    pub model: SweepModel,
    /// Its runs, in order, with what only views need.
    pub runs: Vec<RunView>,
}

pub struct RunView {
    pub summary: RunSummary,
    pub params: ParamSet,
    pub dir: RunDir,
    /// The sweep metric's values so far (from metrics.jsonl).
    pub values: Vec<f64>,
    /// The last value logged for every key (W&B's run summary), `_step`,
    /// `_timestamp` and `_runtime` included.
    pub latest: serde_json::Map<String, Value>,
}

/// The machine-readable form of a sweep's headline.
#[derive(Serialize)]
pub struct SweepLine {
    pub id: String,
    pub name: String,
    pub method: String,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why no run can start now (no free GPU), while that holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// What keeps sweepd from its runs' executor (Slurm unreachable), while that lasts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor_problem: Option<String>,
    /// The file's `run_cap`, or the one `sweepctl extend` set.
    pub run_cap: Option<u64>,
    /// The most GPU memory (MiB) a run was seen to use on a shared GPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_memory_mib: Option<u64>,
    /// Finished runs from elsewhere that seed its search (warm start,
    /// import): not its runs, not counted.
    pub seeds: usize,
    /// How many runs the sweep will count when done: `run_cap`, or the
    /// grid's size when that is smaller; None for an uncapped search (or
    /// an uncapped grid of more than u64::MAX points).
    pub total: Option<u64>,
    pub finished: usize,
    pub running: usize,
    pub queued: usize,
    pub failed: usize,
    pub killed: usize,
    pub crashed: usize,
    pub interrupted: usize,
    pub counted: usize,
    pub metric: Option<String>,
    pub best: Option<f64>,
    pub best_run: Option<String>,
}

impl SweepView {
    /// A sweep as its folder holds it: the same model the daemon keeps
    /// (`sweepd_core::sweep`), rebuilt from the folder, so counts, the best
    /// run and state words are the daemon's.
    pub fn load(home: &Home, id: &SweepId) -> Result<Self> {
        let dir = home.sweep(id);
        let record = dir
            .read_state()
            .with_context(|| format!("cannot read sweep {id}"))?;
        let source = dir
            .read_source()
            .with_context(|| format!("cannot read sweep {id}"))?;
        let spec = journal::read_spec(&dir).ok().and_then(Result::ok);
        let mut latest = HashMap::new();
        let (model, _unreadable) = journal::load(
            &dir,
            record,
            journal::rules_of(spec.as_ref()),
            |n, records| {
                let mut last = serde_json::Map::new();
                for record in records {
                    last.extend(record);
                }
                latest.insert(n, last);
            },
        )
        .with_context(|| format!("cannot read sweep {id}"))?;
        let runs = model
            .runs()
            .map(|run| RunView {
                summary: run.summary.clone(),
                params: run.params.clone(),
                dir: dir.run(run.summary.run),
                values: run.values.clone(),
                latest: latest.remove(&run.summary.run).unwrap_or_default(),
            })
            .collect();
        Ok(Self {
            id: id.clone(),
            record: model.record().clone(),
            source,
            spec,
            model,
            runs,
        })
    }

    pub fn goal(&self) -> Goal {
        self.model.rules().goal()
    }

    /// The sweep's `name`, else its file's name without the extension.
    pub fn name(&self) -> String {
        self.spec
            .as_ref()
            .and_then(|s| s.name.clone())
            .unwrap_or_else(|| {
                let stem = std::path::Path::new(&self.source.original_name).file_stem();
                stem.and_then(|s| s.to_str())
                    .unwrap_or(&self.source.original_name)
                    .to_owned()
            })
    }

    /// The best run by the sweep metric, and its value, as the model says:
    /// among each proposal's latest run (a run that was run again is
    /// replaced by its re-run).
    pub fn best(&self) -> Option<(&RunView, f64)> {
        let (best, value) = self.model.best()?;
        let at = self
            .runs
            .binary_search_by_key(&best.summary.run, |r| r.summary.run)
            .ok()?;
        Some((&self.runs[at], value))
    }

    /// `run_cap`, or the grid's size when that is smaller; a grid of more
    /// than u64::MAX points without a cap has no total (like random search).
    pub fn total(&self) -> Option<u64> {
        let spec = self.spec.as_ref()?;
        let grid = (spec.method == Method::Grid)
            .then(|| Grid::new(spec).ok())
            .flatten()
            .and_then(|g| g.count().exact())
            .and_then(|size| u64::try_from(size).ok());
        match (self.model.run_cap(), grid) {
            (Some(cap), Some(size)) => Some(cap.min(size)),
            (cap, size) => cap.or(size),
        }
    }

    pub fn line(&self) -> SweepLine {
        let counts = self.model.counts();
        let best = self.best();
        SweepLine {
            id: self.id.to_string(),
            name: self.name(),
            method: self
                .spec
                .as_ref()
                .map_or("?".into(), |s| s.method.name().to_owned()),
            state: state_word(&self.record),
            reason: self.record.reason.clone(),
            waiting: self.record.waiting.clone(),
            executor_problem: self.record.executor_problem.clone(),
            run_cap: self.model.run_cap(),
            gpu_memory_mib: self.record.gpu_memory_mib,
            seeds: self.model.seeds().len(),
            total: self.total(),
            finished: counts.finished,
            running: counts.running,
            queued: counts.queued,
            failed: counts.failed,
            killed: counts.killed,
            crashed: counts.crashed,
            interrupted: counts.interrupted,
            counted: counts.counted,
            metric: self.model.rules().metric.as_ref().map(|m| m.name.clone()),
            best: best.map(|(_, v)| v),
            best_run: best.map(|(r, _)| {
                RunId {
                    sweep: self.id.clone(),
                    run: r.summary.run,
                }
                .to_string()
            }),
        }
    }
}

impl RunView {
    /// Seconds from start to end, or to `now` while it runs.
    pub fn duration(&self, now: std::time::SystemTime) -> Option<f64> {
        let time = |t: &Option<String>| {
            t.as_deref()
                .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        };
        let start = time(&self.summary.started_at)?;
        let end = time(&self.summary.ended_at).unwrap_or(now);
        Some(end.duration_since(start).ok()?.as_secs_f64())
    }

    /// Its best value of the sweep metric (the model's rule).
    pub fn best(&self, goal: Goal) -> Option<f64> {
        best_value(&self.values, goal)
    }
}

pub fn state_word(record: &SweepRecord) -> String {
    record.state.as_str().to_owned()
}

pub fn run_state_word(state: RunState) -> String {
    state.as_str().to_owned()
}

/// Every sweep id in the home, oldest first.
pub fn sweep_ids(home: &Home) -> Result<Vec<SweepId>> {
    home.sweep_ids()
        .with_context(|| format!("cannot read {}", home.sweeps().display()))
}

/// A sweep named by its id or any unique part of it (`macd`, `tut-macd`).
pub fn resolve_sweep(home: &Home, wanted: &str) -> Result<SweepId> {
    home.find_sweep(wanted).map_err(anyhow::Error::msg)
}

/// A run named `SWEEP/N` (the sweep part may be any unique part of its id).
pub fn resolve_run(home: &Home, wanted: &str) -> Result<(SweepId, u32)> {
    let Some((sweep, run)) = wanted.rsplit_once('/') else {
        bail!(
            "{wanted:?} is not a run: write SWEEP/N, e.g. {}/1",
            sweep_ids(home)?.last().map_or("SWEEP", |s| s.as_str())
        );
    };
    let run: u32 = run
        .parse()
        .with_context(|| format!("{run:?} is not a run number"))?;
    let id = resolve_sweep(home, sweep)?;
    if !home.sweep(&id).run(run).root().exists() {
        bail!("sweep {id} has no run {run}");
    }
    Ok((id, run))
}

/// Parameters flattened to `a.b` names, for one line of a table.
pub fn flat_params(params: &ParamSet) -> Vec<(String, Value)> {
    fn walk(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (k, v) in map {
                    walk(
                        &if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        },
                        v,
                        out,
                    );
                }
            }
            other => out.push((prefix.to_owned(), other.clone())),
        }
    }
    let mut out = Vec::new();
    for (k, v) in params {
        walk(k, v, &mut out);
    }
    out
}

pub fn show_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn home_from(arg: Option<PathBuf>) -> Result<Home> {
    match arg {
        Some(path) => Ok(Home::new(path)),
        None => Home::from_env().context("cannot find the sweeps home"),
    }
}
