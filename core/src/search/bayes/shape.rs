//! Several objectives and outcome constraints, turned into the one value per
//! run that the model learns, afresh for every proposal:
//!
//! - several objectives (ParEGO, Knowles 2006): each is scaled to [0, 1],
//!   from the best value of the finished runs to the worst on their Pareto
//!   front (oriented to minimise), and the run's value is
//!   the augmented Tchebycheff scalarisation `max_i w_i f_i + 0.05 sum_i
//!   w_i f_i` with weights `w` drawn uniformly from the simplex by the
//!   proposal's own random stream: each proposal aims at another part of the
//!   front, and every point of a convex or concave front is the optimum of
//!   some weights;
//! - outcome constraints: a finished run that breaks one (or did not log
//!   its metric) is worse than every run that keeps them all: the worst
//!   such value plus a tenth of their spread, plus how far past its bounds
//!   it is (each bound's excess in units of that metric's spread), so that
//!   while no run is feasible the model still learns where the bounds are
//!   closest to being kept.

use rand::Rng;

use crate::spec::{Goal, Impute, Metric, Objective, OutcomeConstraint, SweepSpec};

use super::super::{History, Trial, TrialState};

/// The augmentation's weight: small, so that the max term decides, and a
/// weakly dominated point never ties with the one that dominates it.
const RHO: f64 = 0.05;

#[derive(Debug, Clone)]
pub(super) struct Shape {
    objectives: Vec<Objective>,
    constraints: Vec<OutcomeConstraint>,
    /// The metric's goal when there is one objective.
    goal: Goal,
}

impl Shape {
    /// `None` for a sweep with one metric and no outcome constraints: its
    /// runs' values are learned as they are.
    pub fn new(spec: &SweepSpec) -> Option<Self> {
        let options = &spec.sweepd;
        if options.objectives.is_empty() && options.outcome_constraints.is_empty() {
            return None;
        }
        Some(Self {
            objectives: options.objectives.clone(),
            constraints: options.outcome_constraints.clone(),
            goal: spec.metric.as_ref().map_or(Goal::Minimize, |m| m.goal),
        })
    }

    /// The metric the model's observation rules read: with several
    /// objectives, the scalarised value (minimised); else the sweep's.
    pub fn metric(&self, spec: &SweepSpec) -> Option<Metric> {
        if self.objectives.is_empty() {
            return spec.metric.clone();
        }
        Some(Metric {
            name: "sweepd.scalarised".into(),
            goal: Goal::Minimize,
            target: None,
            impute: Impute::Worst,
            impute_while_running: None,
        })
    }

    pub fn constraints(&self) -> &[OutcomeConstraint] {
        &self.constraints
    }

    /// Whether a finished run kept every outcome constraint.
    pub fn keeps(&self, t: &Trial) -> bool {
        self.constraints
            .iter()
            .all(|c| t.outcomes.get(&c.metric).is_some_and(|&v| c.holds(v)))
    }

    /// The history with each ended run's value as the model learns it;
    /// `penalise`: runs that break an outcome constraint valued below every
    /// run that keeps them (for a search that does not model the
    /// constraints); else their values are kept, for the Gaussian process,
    /// which models each constraint on its own.
    pub fn derive<R: Rng + ?Sized>(
        &self,
        history: &History,
        rng: &mut R,
        penalise: bool,
    ) -> History {
        let weights = simplex(self.objectives.len().max(1), rng);
        self.derive_weighted(history, &weights, penalise)
    }

    /// With several objectives, one history per objective with its raw
    /// value (oriented to minimise): what the model's hyperparameters are
    /// fitted on, one fit per objective, averaged. These values never change
    /// once a run has ended, so the fits stay cached from one proposal to
    /// the next (a scalarisation's scaling moves with every new extreme).
    pub fn for_fit(&self, history: &History) -> Vec<History> {
        self.objectives
            .iter()
            .map(|o| {
                let trials = history
                    .trials
                    .iter()
                    .map(|t| {
                        let mut t = t.clone();
                        t.metric = match (t.state, t.outcomes.get(&o.name)) {
                            (TrialState::Finished, Some(&v)) => {
                                vec![if o.goal == Goal::Maximize { -v } else { v }]
                            }
                            _ => Vec::new(),
                        };
                        t
                    })
                    .collect();
                History {
                    trials,
                    seeds: Vec::new(),
                }
            })
            .collect()
    }

    fn derive_weighted(&self, history: &History, weights: &[f64], penalise: bool) -> History {
        let ended = |t: &Trial| matches!(t.state, TrialState::Finished);
        let mut trials = history.trials.clone();
        let mut seeds = history.seeds.clone();
        if !self.objectives.is_empty() {
            let scaled = self.scales(history);
            for t in &mut trials {
                t.metric = if ended(t) {
                    self.oriented(t)
                        .map(|f| vec![tchebycheff(&f, weights, &scaled)])
                        .unwrap_or_default()
                } else {
                    Vec::new()
                };
            }
            // Seeds carry one metric's values, not the objectives'.
            seeds.clear();
        }
        if penalise && !self.constraints.is_empty() {
            self.penalise(&mut trials);
        }
        History { trials, seeds }
    }

    /// How many objectives, and whether there are outcome constraints.
    pub fn objectives(&self) -> usize {
        self.objectives.len()
    }

    /// A trial's objective values, oriented to minimise, if it has them all.
    pub fn oriented(&self, t: &Trial) -> Option<Vec<f64>> {
        self.objectives
            .iter()
            .map(|o| {
                let v = *t.outcomes.get(&o.name)?;
                Some(if o.goal == Goal::Maximize { -v } else { v })
            })
            .collect()
    }

    /// Per objective, the scale the scalarisation reads: from the best
    /// (oriented) value of the finished runs to the worst value on their
    /// Pareto front (the nadir), so that the front, not the far tail of bad
    /// runs, spans [0, 1]; runs beyond the nadir score above 1.
    fn scales(&self, history: &History) -> Vec<(f64, f64)> {
        let points: Vec<Vec<f64>> = history
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Finished)
            .filter_map(|t| self.oriented(t))
            .collect();
        let front = crate::pareto::front(&points);
        (0..self.objectives.len())
            .map(|j| {
                let lo = points.iter().map(|p| p[j]).fold(f64::INFINITY, f64::min);
                let nadir = front
                    .iter()
                    .map(|&i| points[i][j])
                    .fold(f64::NEG_INFINITY, f64::max);
                let hi = points
                    .iter()
                    .map(|p| p[j])
                    .fold(f64::NEG_INFINITY, f64::max);
                if nadir > lo { (lo, nadir) } else { (lo, hi) }
            })
            .collect()
    }

    /// Whether a finished run kept every outcome constraint, and by how
    /// much it broke them (0 when it kept them).
    fn excess(&self, t: &Trial, spreads: &[f64]) -> f64 {
        self.constraints
            .iter()
            .zip(spreads)
            .map(|(c, spread)| match t.outcomes.get(&c.metric) {
                Some(&v) if c.holds(v) => 0.0,
                Some(&v) => c.excess(v).max(0.0) / spread + 1e-3,
                // Not logged: as far out as anything seen.
                None => 1.0,
            })
            .sum()
    }

    /// Runs that break an outcome constraint valued below every run that
    /// keeps them all (see the module's doc).
    fn penalise(&self, trials: &mut [Trial]) {
        let finished = |t: &Trial| t.state == TrialState::Finished;
        let spreads: Vec<f64> = self
            .constraints
            .iter()
            .map(|c| {
                let vs: Vec<f64> = trials
                    .iter()
                    .filter(|t| finished(t))
                    .filter_map(|t| t.outcomes.get(&c.metric).copied())
                    .collect();
                let lo = vs.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let spread = (hi - lo).max(c.bound.abs() * 1e-3);
                if spread.is_finite() && spread > 0.0 {
                    spread
                } else {
                    1.0
                }
            })
            .collect();
        // The value the model reads from each run, oriented to minimise.
        let maximise = self.objectives.is_empty() && self.goal == Goal::Maximize;
        let value = |t: &Trial| {
            let best = t
                .metric
                .iter()
                .copied()
                .reduce(|a, b| if maximise { a.max(b) } else { a.min(b) })?;
            Some(if maximise { -best } else { best })
        };
        let feasible: Vec<f64> = trials
            .iter()
            .filter(|t| finished(t) && self.excess(t, &spreads) == 0.0)
            .filter_map(value)
            .collect();
        let worst = feasible.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let best = feasible.iter().copied().fold(f64::INFINITY, f64::min);
        let floor = if feasible.is_empty() {
            0.0
        } else {
            worst + 0.1 * (worst - best).max(1e-9 * worst.abs().max(1.0))
        };
        for t in trials.iter_mut().filter(|t| finished(t)) {
            let excess = self.excess(t, &spreads);
            if excess > 0.0 {
                let penalised = floor + excess;
                t.metric = vec![if maximise { -penalised } else { penalised }];
            }
        }
    }
}

/// Weights drawn uniformly from the simplex: sorted uniforms' gaps.
fn simplex<R: Rng + ?Sized>(k: usize, rng: &mut R) -> Vec<f64> {
    let mut cuts: Vec<f64> = (0..k - 1).map(|_| rng.random::<f64>()).collect();
    cuts.push(0.0);
    cuts.push(1.0);
    cuts.sort_by(f64::total_cmp);
    cuts.windows(2).map(|w| w[1] - w[0]).collect()
}

fn tchebycheff(f: &[f64], weights: &[f64], scales: &[(f64, f64)]) -> f64 {
    let scaled: Vec<f64> = f
        .iter()
        .zip(scales)
        .map(|(v, (lo, hi))| if hi > lo { (v - lo) / (hi - lo) } else { 0.0 })
        .collect();
    let max = scaled
        .iter()
        .zip(weights)
        .map(|(s, w)| s * w)
        .fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = scaled.iter().zip(weights).map(|(s, w)| s * w).sum();
    max + RHO * sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn weights_lie_on_the_simplex() {
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(1);
        for k in 2..5 {
            let w = simplex(k, &mut rng);
            assert_eq!(w.len(), k);
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(w.iter().all(|x| *x >= 0.0));
        }
    }

    #[test]
    fn a_dominated_point_never_scalarises_better() {
        let scales = [(0.0, 1.0), (0.0, 1.0)];
        let mut rng = rand_chacha::ChaCha12Rng::seed_from_u64(2);
        for _ in 0..100 {
            let w = simplex(2, &mut rng);
            let good = tchebycheff(&[0.2, 0.3], &w, &scales);
            let dominated = tchebycheff(&[0.2, 0.4], &w, &scales);
            assert!(good < dominated, "{w:?}");
        }
    }
}
