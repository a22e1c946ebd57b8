//! The runs so far as the model sees them: points with a value to minimise,
//! and points still pending.
//!
//! W&B's rules (sweeps 0.3.0), with two deliberate differences noted below:
//! - finished: the best value the run logged (lowest when minimising), and
//!   the same for a run stopped by early termination (W&B imputes it as a
//!   failure: its values so far are what it showed);
//! - failed, crashed, killed: per `metric.impute`: `worst` (default) the worst
//!   value any ended run logged, `best` the run's best, `latest` its last;
//! - running: pending, unless `metric.impute_while_running` names a rule,
//!   then the run's best so far (or that rule when it has none);
//! - queued: pending.
//!
//! Differences: where W&B puts 0.0 for a run with no value at all (a run
//! that died before logging), sweepd uses the worst value seen, and leaves
//! the run out of the model while no run has a value (it is still never
//! proposed again); and values such as `false`, `0` or
//! `null` are ordinary values, not "missing".

use crate::spec::{Goal, Impute, Metric};

use super::super::{History, Trial, TrialState};
use super::acquisition::Taken;
use super::encode::Encoding;

#[derive(Debug, Clone)]
pub(super) struct Rules {
    maximize: bool,
    impute: Impute,
    impute_while_running: Option<Impute>,
}

impl Rules {
    pub fn new(metric: Option<&Metric>) -> Self {
        Self {
            maximize: metric.is_some_and(|m| m.goal == Goal::Maximize),
            impute: metric.map_or(Impute::Worst, |m| m.impute),
            impute_while_running: metric.and_then(|m| m.impute_while_running),
        }
    }

    /// A value to minimise.
    fn oriented(&self, v: f64) -> f64 {
        if self.maximize { -v } else { v }
    }

    /// The best of a run's logged values, oriented to minimise.
    pub fn best_oriented(&self, values: &[f64]) -> Option<f64> {
        values
            .iter()
            .map(|&v| self.oriented(v))
            .filter(|v| v.is_finite())
            .reduce(f64::min)
    }
}

/// Observed points (encoded, in run order; imputed ones after the others)
/// with values to minimise, and pending points.
pub(super) struct Observations {
    d: usize,
    points: Vec<Vec<f64>>,
    values: Vec<f64>,
    pending: Vec<Vec<f64>>,
    /// Runs with no value that none can be imputed from yet (they died
    /// before any run logged one): not in the model, never proposed again.
    valueless: Vec<Vec<f64>>,
}

/// A run whose value is imputed once the worst value is known.
struct Unresolved {
    point: Vec<f64>,
    best: Option<f64>,
    latest: Option<f64>,
    rule: Impute,
}

enum Counted {
    Value(f64),
    Impute(Impute),
    Pending,
}

impl Observations {
    pub fn new(encoding: &Encoding, rules: &Rules, history: &History) -> Self {
        let d = encoding.dims.len();
        let mut unresolved: Vec<Unresolved> = Vec::new();
        let mut pending = Vec::new();
        // The worst value any ended run logged (after orientation).
        let mut worst = f64::NEG_INFINITY;
        let mut points = Vec::new();
        let mut values = Vec::new();
        for trial in history.seeds.iter().chain(&history.trials) {
            let Some(point) = encoding.encode(&trial.params) else {
                continue;
            };
            let logged: Vec<f64> = trial
                .metric
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .map(|v| rules.oriented(v))
                .collect();
            let best = logged
                .iter()
                .copied()
                .fold(None, |b: Option<f64>, v| Some(b.map_or(v, |b| b.min(v))));
            let latest = logged.last().copied();
            if is_ended(trial)
                && let Some(w) = logged.iter().copied().reduce(f64::max)
            {
                worst = worst.max(w);
            }
            match counted(trial.state, best, rules) {
                Counted::Value(v) => {
                    points.push(point);
                    values.push(v);
                }
                Counted::Pending => pending.push(point),
                Counted::Impute(rule) => unresolved.push(Unresolved {
                    point,
                    best,
                    latest,
                    rule,
                }),
            }
        }
        // Imputed values need the worst over every ended run; runs keep their
        // order among themselves (imputed ones after the others).
        let worst = worst.is_finite().then_some(worst);
        let mut valueless = Vec::new();
        for Unresolved {
            point,
            best,
            latest,
            rule,
        } in unresolved
        {
            let value = match rule {
                Impute::Best => best.or(worst),
                Impute::Latest => latest.or(worst),
                Impute::Worst => worst,
            };
            match value {
                Some(v) => {
                    points.push(point);
                    values.push(v);
                }
                None => valueless.push(point),
            }
        }
        Self {
            d,
            points,
            values,
            pending,
            valueless,
        }
    }

    /// How many points have a value.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn pending(&self) -> &[Vec<f64>] {
        &self.pending
    }

    /// Every point run or pending.
    pub fn taken(&self) -> Taken {
        Taken {
            done: self.points.iter().chain(&self.valueless).cloned().collect(),
            pending: self.pending.clone(),
        }
    }

    pub fn distinct_taken(&self) -> usize {
        let mut keys: Vec<Vec<u64>> = self
            .points
            .iter()
            .chain(&self.pending)
            .chain(&self.valueless)
            .map(|p| p.iter().map(|v| v.to_bits()).collect())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }

    fn rows(&self, indices: impl Iterator<Item = usize>) -> (Vec<f64>, Vec<f64>) {
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in indices {
            x.extend_from_slice(&self.points[i]);
            y.push(self.values[i]);
        }
        (x, y)
    }

    /// Every observation, row-major.
    pub fn all(&self) -> (Vec<f64>, Vec<f64>) {
        self.rows(0..self.len())
    }

    /// The observations a model is trained on: at most `cap`.
    pub fn training(&self, cap: usize) -> (Vec<f64>, Vec<f64>) {
        self.first(self.len(), cap)
    }

    /// The training set of the first `c` observations.
    pub fn first(&self, c: usize, cap: usize) -> (Vec<f64>, Vec<f64>) {
        self.rows(select(&self.values[..c], cap).into_iter())
    }

    /// The best few training points (standardised outputs `y`), best first.
    pub fn best_points(&self, x: &[f64], y: &[f64]) -> Vec<Vec<f64>> {
        let mut order: Vec<usize> = (0..y.len()).collect();
        order.sort_by(|&a, &b| y[a].total_cmp(&y[b]).then(a.cmp(&b)));
        order
            .into_iter()
            .take(8)
            .map(|i| x[i * self.d..(i + 1) * self.d].to_vec())
            .collect()
    }
}

fn is_ended(trial: &Trial) -> bool {
    matches!(
        trial.state,
        TrialState::Finished
            | TrialState::Failed
            | TrialState::Crashed
            | TrialState::Killed
            | TrialState::EarlyTerminated
    )
}

fn counted(state: TrialState, best: Option<f64>, rules: &Rules) -> Counted {
    match state {
        // A run the early-termination rule stopped counts as what it showed.
        TrialState::Finished | TrialState::EarlyTerminated => {
            best.map_or(Counted::Impute(rules.impute), Counted::Value)
        }
        TrialState::Failed | TrialState::Crashed | TrialState::Killed => {
            Counted::Impute(rules.impute)
        }
        TrialState::Running => match rules.impute_while_running {
            Some(rule) => best.map_or(Counted::Impute(rule), Counted::Value),
            None => Counted::Pending,
        },
        TrialState::Pending => Counted::Pending,
    }
}

/// Which of the observations (in order) train the model when there are more
/// than `cap`: the best 40 % of `cap`, and the rest spread evenly over the
/// others in run order.
pub(super) fn select(values: &[f64], cap: usize) -> Vec<usize> {
    let n = values.len();
    if n <= cap {
        return (0..n).collect();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]).then(a.cmp(&b)));
    let n_best = cap * 2 / 5;
    let mut keep = vec![false; n];
    for &i in &order[..n_best] {
        keep[i] = true;
    }
    let others: Vec<usize> = (0..n).filter(|&i| !keep[i]).collect();
    let n_spread = cap - n_best;
    for k in 0..n_spread {
        keep[others[k * others.len() / n_spread]] = true;
    }
    (0..n).filter(|&i| keep[i]).collect()
}

/// Outputs for the model: the bad tail compressed (a diverged run's huge
/// loss must not flatten the differences among good runs), then scaled to
/// mean 0 and standard deviation 1.
pub(super) fn standardise(values: &[f64]) -> Vec<f64> {
    let s = Standardiser::fit(values);
    values.iter().map(|&v| s.apply(v)).collect()
}

/// The transform [`standardise`] fits, for values beyond those it was fitted
/// on (an incumbent, a constraint's bound).
#[derive(Debug, Clone, Copy)]
pub(super) struct Standardiser {
    median: f64,
    /// 0 when every value is the same.
    scale: f64,
    mean: f64,
    sd: f64,
}

impl Standardiser {
    pub fn fit(values: &[f64]) -> Self {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let quantile = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
        let median = quantile(0.5);
        let mut scale = quantile(0.75) - quantile(0.25);
        if scale <= 0.0 {
            scale = sorted[sorted.len() - 1] - sorted[0];
        }
        let mut s = Self {
            median,
            scale: scale.max(0.0),
            mean: 0.0,
            sd: 1.0,
        };
        let warped: Vec<f64> = values.iter().map(|&v| s.warp(v)).collect();
        let n = warped.len() as f64;
        let mean = warped.iter().sum::<f64>() / n;
        let sd = (warped.iter().map(|w| (w - mean).powi(2)).sum::<f64>() / n).sqrt();
        s.mean = mean;
        s.sd = if sd > 0.0 { sd } else { 1.0 };
        s
    }

    fn warp(&self, v: f64) -> f64 {
        if self.scale > 0.0 {
            let u = (v - self.median) / self.scale;
            if u > 1.0 { 1.0 + u.ln() } else { u }
        } else {
            0.0
        }
    }

    pub fn apply(&self, v: f64) -> f64 {
        (self.warp(v) - self.mean) / self.sd
    }
}
