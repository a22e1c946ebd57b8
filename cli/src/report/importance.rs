//! Which parameters drive the metric: for each swept parameter, its
//! importance in a random forest fitted on (parameters -> metric) and its
//! correlation with the metric, as W&B's parameter importance panel shows.
//!
//! The forest is smartcore's (100 trees, every feature a split candidate,
//! as scikit-learn's default, which W&B uses); importance is the mean
//! decrease in impurity, normalised to sum to 1. Log-scaled parameters enter
//! as log10 of their value, so that both the forest and the correlation see
//! them as the plot does. A categorical parameter with text labels enters as
//! one column per label and its importance is the sum of its columns; it has
//! no correlation (there is no order to correlate with).

use serde::Serialize;
use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

use super::data::{Axis, AxisKind, RunRow};

/// Fewer runs with a metric than this and no importance is computed.
pub const MIN_RUNS: usize = 5;
const TREES: usize = 100;
/// The forest sees at most this many runs (the best and an even spread of
/// the rest), which bounds the report's time for very big sweeps.
const MAX_ROWS: usize = 1000;

#[derive(Debug, Default, Serialize)]
pub struct Importance {
    /// Sorted by importance, highest first.
    pub rows: Vec<ImportanceRow>,
    /// Why there are no rows, or what limited them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// How many runs the forest was fitted on.
    pub runs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportanceRow {
    pub name: String,
    pub importance: f64,
    /// Pearson's r between the parameter (log10 on log axes) and the metric.
    pub correlation: Option<f64>,
}

/// How one axis enters the forest.
enum Encoding {
    /// One column: the value (log10 on a log axis), or a numeric label's number.
    Number,
    /// One column per label: 1 where the run has it.
    OneHot(usize),
}

pub fn compute(axes: &[Axis], runs: &[RunRow]) -> Importance {
    if axes.is_empty() {
        return Importance {
            note: Some("the sweep has no swept parameters".into()),
            ..Importance::default()
        };
    }
    let rows: Vec<&RunRow> = runs
        .iter()
        .filter(|r| r.metric.is_some() && r.values.iter().all(Option::is_some))
        .collect();
    if rows.len() < MIN_RUNS {
        return Importance {
            note: Some(format!(
                "needs at least {MIN_RUNS} runs with a metric value; this sweep has {}",
                rows.len()
            )),
            runs: rows.len(),
            ..Importance::default()
        };
    }
    let complete = rows.len();
    let rows = spread(rows, MAX_ROWS);
    let sampled = rows.len() < complete;
    let encodings: Vec<Encoding> = axes.iter().map(encoding).collect();
    let features: Vec<Vec<f64>> = rows
        .iter()
        .map(|run| {
            let mut row = Vec::new();
            for ((axis, enc), value) in axes.iter().zip(&encodings).zip(&run.values) {
                let value = value.expect("rows with every value");
                match enc {
                    Encoding::Number => row.push(number(&axis.kind, value)),
                    Encoding::OneHot(n) => {
                        row.extend((0..*n).map(|i| f64::from(u8::from(i as f64 == value))));
                    }
                }
            }
            row
        })
        .collect();
    let target: Vec<f64> = rows
        .iter()
        .map(|r| r.metric.expect("rows with a metric"))
        .collect();
    let columns = features[0].len();
    let per_column = match forest_importance(&features, &target) {
        Ok(v) => v,
        Err(e) => {
            return Importance {
                note: Some(format!("the random forest could not be fitted: {e}")),
                runs: rows.len(),
                ..Importance::default()
            };
        }
    };
    debug_assert_eq!(per_column.len(), columns);
    let mut out = Vec::new();
    let mut column = 0;
    for (i, (axis, enc)) in axes.iter().zip(&encodings).enumerate() {
        let width = match enc {
            Encoding::Number => 1,
            Encoding::OneHot(n) => *n,
        };
        let importance: f64 = per_column[column..column + width].iter().sum();
        let correlation = match enc {
            Encoding::Number => {
                let xs: Vec<f64> = features.iter().map(|f| f[column]).collect();
                pearson(&xs, &target)
            }
            Encoding::OneHot(_) => None,
        };
        column += width;
        out.push((
            i,
            ImportanceRow {
                name: axis.name.clone(),
                importance,
                correlation,
            },
        ));
    }
    out.sort_by(|a, b| {
        b.1.importance
            .total_cmp(&a.1.importance)
            .then(a.0.cmp(&b.0))
    });
    let note = sampled.then(|| {
        format!(
            "fitted on {} of the {complete} runs with a metric (the best, the worst and an even \
             spread by rank between)",
            rows.len()
        )
    });
    Importance {
        rows: out.into_iter().map(|(_, r)| r).collect(),
        note,
        runs: rows.len(),
    }
}

fn encoding(axis: &Axis) -> Encoding {
    match &axis.kind {
        AxisKind::Numeric { .. } => Encoding::Number,
        AxisKind::Categorical { labels }
            if labels
                .iter()
                .all(|l| l.parse::<f64>().is_ok_and(f64::is_finite)) =>
        {
            Encoding::Number
        }
        AxisKind::Categorical { labels } => Encoding::OneHot(labels.len()),
    }
}

/// The number a value enters the forest as.
fn number(kind: &AxisKind, value: f64) -> f64 {
    match kind {
        AxisKind::Numeric { log: true, .. } => value.log10(),
        AxisKind::Numeric { log: false, .. } => value,
        AxisKind::Categorical { labels } => labels
            .get(value as usize)
            .and_then(|l| l.parse().ok())
            .unwrap_or(value),
    }
}

/// At most `keep` rows: every row when there are few, else an even spread
/// by metric rank (so the best, the worst and all between are represented).
fn spread(mut rows: Vec<&RunRow>, keep: usize) -> Vec<&RunRow> {
    if rows.len() <= keep {
        return rows;
    }
    rows.sort_by(|a, b| a.metric.unwrap_or(0.0).total_cmp(&b.metric.unwrap_or(0.0)));
    let n = rows.len();
    let mut picked: Vec<&RunRow> = (0..keep).map(|k| rows[k * (n - 1) / (keep - 1)]).collect();
    picked.dedup_by_key(|r| r.run);
    picked
}

fn forest_importance(features: &[Vec<f64>], target: &[f64]) -> Result<Vec<f64>, String> {
    let columns = features[0].len();
    let x = DenseMatrix::from_2d_vec(&features.to_vec()).map_err(|e| e.to_string())?;
    let y = target.to_vec();
    let parameters = RandomForestRegressorParameters::default()
        .with_n_trees(TREES)
        .with_m(columns)
        .with_seed(0);
    let forest = RandomForestRegressor::fit(&x, &y, parameters).map_err(|e| e.to_string())?;
    let importances = forest
        .compute_feature_importances()
        .map_err(|e| e.to_string())?;
    // A metric the same for every run leaves nothing to explain.
    Ok(importances
        .into_iter()
        .map(|v| if v.is_finite() { v } else { 0.0 })
        .collect())
}

fn pearson(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len() as f64;
    let mx = xs.iter().sum::<f64>() / n;
    let my = ys.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx) * (x - mx);
        syy += (y - my) * (y - my);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn numeric(name: &str, log: bool) -> Axis {
        Axis {
            name: name.into(),
            kind: AxisKind::Numeric {
                log,
                range: Some((0.0, 1.0)),
            },
        }
    }

    fn run(n: u32, values: Vec<f64>, metric: f64) -> RunRow {
        RunRow {
            run: n,
            state: "finished".into(),
            reason: None,
            values: values.into_iter().map(Some).collect(),
            metric: Some(metric),
            duration_s: None,
            stopped: false,
            curve: Vec::new(),
        }
    }

    /// The metric leans hard on `strong`, a little on `weak`, not at all on
    /// `none`: importance must rank them so, whatever order they come in.
    #[test]
    fn ranks_strong_weak_and_irrelevant_parameters() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let axes = vec![
            numeric("none", false),
            numeric("weak", false),
            numeric("strong", false),
        ];
        let runs: Vec<RunRow> = (0..200)
            .map(|n| {
                let (none, weak, strong): (f64, f64, f64) =
                    (rng.random(), rng.random(), rng.random());
                let noise: f64 = rng.random::<f64>() * 0.05;
                run(
                    n,
                    vec![none, weak, strong],
                    10.0 * strong + 1.5 * weak + noise,
                )
            })
            .collect();
        let imp = compute(&axes, &runs);
        let names: Vec<&str> = imp.rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["strong", "weak", "none"], "{imp:?}");
        assert!(imp.rows[0].importance > 0.8, "{imp:?}");
        let sum: f64 = imp.rows.iter().map(|r| r.importance).sum();
        assert!((sum - 1.0).abs() < 1e-9, "{sum}");
        let corr = |name: &str| {
            imp.rows
                .iter()
                .find(|r| r.name == name)
                .and_then(|r| r.correlation)
                .unwrap()
        };
        assert!(corr("strong") > 0.9, "{imp:?}");
        assert!(corr("none").abs() < 0.2, "{imp:?}");
        assert_eq!(imp.runs, 200);
        assert_eq!(imp.note, None);
    }

    /// A categorical parameter with text labels counts as one parameter (its
    /// one-hot columns summed) and has no correlation; a log axis is seen in
    /// log10, where the metric is linear in it.
    #[test]
    fn categorical_and_log_parameters() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let axes = vec![
            Axis {
                name: "optimizer".into(),
                kind: AxisKind::Categorical {
                    labels: vec!["adam".into(), "sgd".into(), "rmsprop".into()],
                },
            },
            numeric("lr", true),
            numeric("noise", false),
        ];
        let runs: Vec<RunRow> = (0..150)
            .map(|n| {
                let opt = rng.random_range(0..3) as f64;
                let lr = 10f64.powf(rng.random_range(-5.0..-1.0));
                let noise: f64 = rng.random();
                let metric = [0.0, 1.0, 0.5][opt as usize] + (lr.log10() + 5.0);
                run(n, vec![opt, lr, noise], metric)
            })
            .collect();
        let imp = compute(&axes, &runs);
        assert_eq!(imp.rows.len(), 3);
        assert_eq!(imp.rows[2].name, "noise", "{imp:?}");
        let opt = imp.rows.iter().find(|r| r.name == "optimizer").unwrap();
        assert_eq!(opt.correlation, None);
        assert!(opt.importance > 0.05, "{imp:?}");
        // Linear in log10(lr): nearly 1 there; raw lr (mostly tiny, a few
        // large) would correlate far less.
        let lr = imp.rows.iter().find(|r| r.name == "lr").unwrap();
        assert!(lr.correlation.unwrap() > 0.9, "{imp:?}");
        assert_eq!(imp.rows[0].name, "lr", "{imp:?}");
    }

    #[test]
    fn too_few_runs_say_so() {
        let axes = vec![numeric("x", false)];
        let runs: Vec<RunRow> = (0..4).map(|n| run(n, vec![n as f64], 1.0)).collect();
        let imp = compute(&axes, &runs);
        assert!(imp.rows.is_empty());
        assert_eq!(
            imp.note.as_deref(),
            Some("needs at least 5 runs with a metric value; this sweep has 4")
        );
    }

    /// A metric that never changes: every importance is 0, not NaN.
    #[test]
    fn a_flat_metric_explains_nothing() {
        let axes = vec![numeric("x", false), numeric("y", false)];
        let runs: Vec<RunRow> = (0..10)
            .map(|n| run(n, vec![n as f64, (n * n) as f64], 2.0))
            .collect();
        let imp = compute(&axes, &runs);
        assert_eq!(imp.rows.len(), 2);
        assert!(imp.rows.iter().all(|r| r.importance == 0.0), "{imp:?}");
        assert!(imp.rows.iter().all(|r| r.correlation.is_none()), "{imp:?}");
    }

    #[test]
    fn big_sweeps_are_fitted_on_a_spread() {
        let axes = vec![numeric("x", false)];
        let runs: Vec<RunRow> = (0..2500)
            .map(|n| run(n, vec![n as f64], (n % 97) as f64))
            .collect();
        let imp = compute(&axes, &runs);
        assert_eq!(imp.runs, MAX_ROWS);
        assert!(
            imp.note
                .unwrap()
                .contains("fitted on 1000 of the 2500 runs"),
            "says it sampled"
        );
    }
}
