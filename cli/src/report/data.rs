//! What a report shows, worked out from a sweep's folder: one axis per swept
//! parameter, one row per run, the best-so-far curve and the best run. The
//! HTML page draws this; it computes nothing the reader has to trust.

use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;
use sweepd_core::search::Space;
use sweepd_core::spec::{Distribution, Goal};
use sweepd_core::store::RunState;

use super::importance::{self, Importance};
use crate::view::{RunView, SweepView, run_state_word, show_value};

/// Curves keep at most this many points in all, so that a report of
/// thousands of runs stays a few megabytes at most.
const CURVE_POINT_BUDGET: usize = 60_000;
/// ... and each run keeps at least this many (or all it has).
const CURVE_POINTS_MIN: usize = 16;

#[derive(Debug, Serialize)]
pub struct ReportData {
    pub sweep: SweepInfo,
    pub axes: Vec<Axis>,
    pub runs: Vec<RunRow>,
    /// (run number, best value of the runs up to it), in run order.
    pub best_so_far: Vec<(u32, f64)>,
    pub importance: Importance,
    pub best: Option<BestRun>,
    /// With several objectives: every finished run that has them all.
    pub front: Option<FrontData>,
}

/// The runs a Pareto plot draws.
#[derive(Debug, Serialize)]
pub struct FrontData {
    pub objectives: Vec<MetricInfo>,
    pub points: Vec<FrontPoint>,
}

#[derive(Debug, Serialize)]
pub struct FrontPoint {
    pub run: u32,
    /// In the objectives' order.
    pub values: Vec<f64>,
    pub on_front: bool,
    /// Whether it kept every outcome constraint.
    pub feasible: bool,
}

#[derive(Debug, Serialize)]
pub struct SweepInfo {
    pub id: String,
    pub name: String,
    pub method: String,
    pub state: String,
    pub reason: Option<String>,
    pub waiting: Option<String>,
    /// Whether runs may still start or run: the report is a snapshot.
    pub active: bool,
    pub metric: Option<MetricInfo>,
    pub run_cap: Option<u64>,
    /// Finished runs from elsewhere that seed its search, and how many of
    /// them were imported (`sweepctl import`); not its runs.
    pub seeds: usize,
    pub imported: usize,
    pub created_at: String,
    /// When this report read the folder.
    pub taken_at: String,
    /// Parameters with one value for every run (`value:`), as `name: value`.
    pub constants: Vec<(String, String)>,
    /// Runs per state, in a fixed order.
    pub counts: Vec<(String, usize)>,
}

#[derive(Debug, Serialize)]
pub struct MetricInfo {
    pub name: String,
    pub goal: &'static str,
}

/// One swept parameter, as an axis of the parallel coordinates plot.
#[derive(Debug, Clone, Serialize)]
pub struct Axis {
    /// Dotted for nested parameters: `optimizer.lr`.
    pub name: String,
    #[serde(flatten)]
    pub kind: AxisKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AxisKind {
    Numeric {
        log: bool,
        /// The smallest and largest value the runs have (None: no run has one).
        range: Option<(f64, f64)>,
    },
    /// Values in the sweep file's order (numbers sorted); runs hold an index.
    Categorical { labels: Vec<String> },
}

#[derive(Debug, Serialize)]
pub struct RunRow {
    pub run: u32,
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Per axis: the number, or the label's index for a categorical axis.
    pub values: Vec<Option<f64>>,
    /// The sweep metric's best value (by its goal), as `sweepctl status` ranks runs.
    pub metric: Option<f64>,
    pub duration_s: Option<f64>,
    /// Stopped by the early-termination rule.
    pub stopped: bool,
    /// The metric as logged: (n-th value, value), thinned evenly for big sweeps.
    pub curve: Vec<(u32, f64)>,
}

#[derive(Debug, Serialize)]
pub struct BestRun {
    pub run: u32,
    pub value: f64,
    /// Its parameters as a sweep file's `parameters:` block of `value:`s.
    pub yaml: String,
}

impl ReportData {
    pub fn new(view: &SweepView, now: SystemTime) -> Self {
        let goal = view.goal();
        let metric = view
            .spec
            .as_ref()
            .and_then(|s| s.metric.as_ref())
            .map(|m| MetricInfo {
                name: m.name.clone(),
                goal: match m.goal {
                    Goal::Minimize => "minimize",
                    Goal::Maximize => "maximize",
                },
            });
        let (swept, constants) = parameters(view);
        let axes: Vec<Axis> = swept
            .iter()
            .map(|(name, path, dist)| axis(name, path, dist, &view.runs))
            .collect();
        let per_run = (CURVE_POINT_BUDGET / view.runs.len().max(1)).max(CURVE_POINTS_MIN);
        let runs: Vec<RunRow> = view
            .runs
            .iter()
            .map(|run| RunRow {
                run: run.summary.run,
                state: run_state_word(run.summary.state),
                reason: run.summary.reason.clone(),
                values: axes
                    .iter()
                    .zip(&swept)
                    .map(|(axis, (_, path, _))| {
                        Space::lookup(&run.params, path).and_then(|v| position(&axis.kind, v))
                    })
                    .collect(),
                metric: run.best(goal),
                duration_s: run.duration(now),
                stopped: run.summary.state == RunState::Killed
                    && run.summary.early_terminate.is_some(),
                curve: thin(&run.values, per_run),
            })
            .collect();
        let importance = importance::compute(&axes, &runs);
        let best = view.best().map(|(run, value)| BestRun {
            run: run.summary.run,
            value,
            yaml: parameters_yaml(&run.params),
        });
        let line = view.line();
        let sweep = SweepInfo {
            id: line.id,
            name: line.name,
            method: line.method,
            state: line.state,
            reason: line.reason,
            waiting: line.waiting,
            active: view.record.state.is_active()
                || view.runs.iter().any(|r| !r.summary.state.is_terminal()),
            metric,
            run_cap: line.run_cap,
            seeds: line.seeds,
            imported: view.model.seeds().iter().filter(|s| s.imported).count(),
            created_at: view.record.created_at.clone(),
            taken_at: humantime::format_rfc3339_seconds(now).to_string(),
            constants,
            counts: counts(view),
        };
        let front = view.model.front().map(|front| {
            let points = view
                .runs
                .iter()
                .filter(|r| r.summary.state == RunState::Finished)
                .filter_map(|r| {
                    let values = front
                        .objectives
                        .iter()
                        .map(|o| r.latest.get(&o.name).and_then(Value::as_f64))
                        .collect::<Option<Vec<f64>>>()?;
                    let n = r.summary.run;
                    Some(FrontPoint {
                        run: n,
                        values,
                        on_front: front.runs.iter().any(|(m, _)| *m == n),
                        feasible: !front.infeasible.contains(&n),
                    })
                })
                .collect();
            FrontData {
                objectives: front
                    .objectives
                    .iter()
                    .map(|o| MetricInfo {
                        name: o.name.clone(),
                        goal: o.goal.name(),
                    })
                    .collect(),
                points,
            }
        });
        Self {
            front,
            best_so_far: best_so_far(runs.iter().filter(|r| view.model.is_latest(r.run)), goal),
            sweep,
            axes,
            runs,
            importance,
            best,
        }
    }
}

type Swept = (String, Vec<String>, Option<Distribution>);

/// The swept parameters (name, path, distribution) and the constants. From
/// the sweep file; from the runs' parameters when the file cannot be read.
fn parameters(view: &SweepView) -> (Vec<Swept>, Vec<(String, String)>) {
    let mut swept = Vec::new();
    let mut constants = Vec::new();
    match &view.spec {
        Some(spec) => {
            for leaf in Space::new(spec).leaves {
                match leaf.distribution {
                    Distribution::Constant { ref value } => {
                        constants.push((leaf.name(), show_value(value)));
                    }
                    ref d => swept.push((leaf.name(), leaf.path.clone(), Some(d.clone()))),
                }
            }
        }
        None => {
            let mut names: Vec<Vec<String>> = Vec::new();
            for run in &view.runs {
                for (name, _) in crate::view::flat_params(&run.params) {
                    let path: Vec<String> = name.split('.').map(str::to_owned).collect();
                    if !names.contains(&path) {
                        names.push(path);
                    }
                }
            }
            names.sort();
            swept = names
                .into_iter()
                .map(|path| (path.join("."), path, None))
                .collect();
        }
    }
    (swept, constants)
}

fn axis(name: &str, path: &[String], dist: &Option<Distribution>, runs: &[RunView]) -> Axis {
    let values: Vec<&Value> = runs
        .iter()
        .filter_map(|r| Space::lookup(&r.params, path))
        .collect();
    let categorical = |mut labels: Vec<Value>| {
        for v in &values {
            if !labels.contains(v) {
                labels.push((*v).clone());
            }
        }
        if labels.iter().all(Value::is_number) {
            labels.sort_by(|a, b| {
                a.as_f64()
                    .unwrap_or(0.0)
                    .total_cmp(&b.as_f64().unwrap_or(0.0))
            });
        }
        AxisKind::Categorical {
            labels: labels.iter().map(show_value).collect(),
        }
    };
    let numeric = |log: bool| {
        let numbers = values
            .iter()
            .filter_map(|v| v.as_f64())
            .filter(|x| x.is_finite() && (!log || *x > 0.0));
        let range = numbers.fold(None, |acc: Option<(f64, f64)>, x| {
            Some(acc.map_or((x, x), |(lo, hi)| (lo.min(x), hi.max(x))))
        });
        AxisKind::Numeric { log, range }
    };
    let kind = match dist {
        Some(Distribution::Categorical { values: labels })
        | Some(Distribution::CategoricalWithProbabilities { values: labels, .. }) => {
            categorical(labels.clone())
        }
        Some(d) => numeric(is_log(d)),
        None if values.iter().all(|v| v.is_number()) => numeric(false),
        None => categorical(Vec::new()),
    };
    Axis {
        name: name.to_owned(),
        kind,
    }
}

/// Whether a distribution spreads its values over orders of magnitude.
fn is_log(d: &Distribution) -> bool {
    matches!(
        d,
        Distribution::LogUniform { .. }
            | Distribution::LogUniformValues { .. }
            | Distribution::QLogUniform { .. }
            | Distribution::QLogUniformValues { .. }
            | Distribution::InvLogUniform { .. }
            | Distribution::InvLogUniformValues { .. }
            | Distribution::LogNormal { .. }
            | Distribution::QLogNormal { .. }
    )
}

/// Where a run's value sits on an axis.
fn position(kind: &AxisKind, value: &Value) -> Option<f64> {
    match kind {
        AxisKind::Numeric { log, .. } => value
            .as_f64()
            .filter(|x| x.is_finite() && (!log || *x > 0.0)),
        AxisKind::Categorical { labels } => {
            let shown = show_value(value);
            labels.iter().position(|l| *l == shown).map(|i| i as f64)
        }
    }
}

/// At most `keep` values, evenly spread, the first and last always kept;
/// each with its 1-based place in the full series.
fn thin(values: &[f64], keep: usize) -> Vec<(u32, f64)> {
    let n = values.len();
    if n <= keep {
        return values
            .iter()
            .enumerate()
            .map(|(i, v)| (i as u32 + 1, round(*v)))
            .collect();
    }
    let mut out: Vec<(u32, f64)> = (0..keep)
        .map(|k| {
            let i = (k * (n - 1)) / (keep - 1);
            (i as u32 + 1, round(values[i]))
        })
        .collect();
    out.dedup_by_key(|p| p.0);
    out
}

/// Six significant digits: enough for a curve, and half the bytes.
fn round(x: f64) -> f64 {
    format!("{x:.5e}").parse().unwrap_or(x)
}

/// The best value so far, run by run, among the runs that count (each
/// proposal's latest run, as for the best run).
fn best_so_far<'a>(runs: impl Iterator<Item = &'a RunRow>, goal: Goal) -> Vec<(u32, f64)> {
    let mut best: Option<f64> = None;
    let mut out = Vec::new();
    for run in runs {
        let Some(value) = run.metric else { continue };
        let better = match (best, goal) {
            (None, _) => true,
            (Some(b), Goal::Minimize) => value < b,
            (Some(b), Goal::Maximize) => value > b,
        };
        if better {
            best = Some(value);
        }
        out.push((run.run, best.unwrap_or(value)));
    }
    out
}

/// Runs per state, as the model counts them, in the report's order.
fn counts(view: &SweepView) -> Vec<(String, usize)> {
    let c = view.model.counts();
    use RunState::*;
    [
        (Finished, c.finished),
        (Running, c.running),
        (Queued, c.queued),
        (Failed, c.failed),
        (Killed, c.killed),
        (Crashed, c.crashed),
        (Interrupted, c.interrupted),
    ]
    .into_iter()
    .map(|(state, n)| (run_state_word(state), n))
    .filter(|(_, n)| *n > 0)
    .collect()
}

/// `parameters:` with a `value:` for each, nested groups under their own
/// `parameters:`: pasted into a sweep file, it runs this configuration.
pub fn parameters_yaml(params: &serde_json::Map<String, Value>) -> String {
    fn block(params: &serde_json::Map<String, Value>) -> serde_yaml::Mapping {
        let mut out = serde_yaml::Mapping::new();
        for (name, value) in params {
            let entry = match value {
                Value::Object(inner) if !inner.is_empty() => {
                    let mut m = serde_yaml::Mapping::new();
                    m.insert("parameters".into(), block(inner).into());
                    m
                }
                other => {
                    let mut m = serde_yaml::Mapping::new();
                    m.insert(
                        "value".into(),
                        serde_yaml::to_value(other).unwrap_or(serde_yaml::Value::Null),
                    );
                    m
                }
            };
            out.insert(name.as_str().into(), entry.into());
        }
        out
    }
    let mut root = serde_yaml::Mapping::new();
    root.insert("parameters".into(), block(params).into());
    serde_yaml::to_string(&root).unwrap_or_default()
}

#[cfg(test)]
mod tests;
