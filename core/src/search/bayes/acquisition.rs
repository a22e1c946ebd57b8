//! Choosing the next point: log expected improvement, maximised over many
//! cheap candidates, then by argmin's L-BFGS from the best few (numeric
//! coordinates moved through a logistic map, so the box needs no bounds), and
//! a direct search over the levels of discrete coordinates.

use std::cell::RefCell;

use argmin::core::{CostFunction, Error, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use nalgebra::DVector;
use rand::Rng;
use rand_distr::StandardNormal;
use statrs::function::erf::erfc;

use super::encode::{ABSENT, Dim, Encoding, Kind};
use super::gp::Gp;

/// ln(sqrt(2 pi)).
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Below this z, the direct formula would subtract two nearly equal numbers:
/// `h` comes from the Mills ratio's continued fraction instead, and beyond
/// Z_SERIES from its asymptotic series.
const Z_FRACTION: f64 = -5.0;
const Z_SERIES: f64 = -1e3;

/// The Mills ratio `R(x) = (1 - Phi(x)) / phi(x)` for x >= 5, by its
/// continued fraction `1 / (x + 1 / (x + 2 / (x + 3 / (x + ...))))`.
fn mills(x: f64) -> f64 {
    let mut tail = x;
    for k in (1..=60).rev() {
        tail = x + k as f64 / tail;
    }
    1.0 / tail
}

/// `(ln h(z), Phi(z) / h(z), phi(z) / h(z))` with `h(z) = z Phi(z) + phi(z)`,
/// so that EI = sigma h(z).
fn log_h(z: f64) -> (f64, f64, f64) {
    let ln_pdf = -0.5 * z * z - LN_SQRT_2PI;
    if z > Z_FRACTION {
        let cdf = 0.5 * erfc(-z / std::f64::consts::SQRT_2);
        let pdf = ln_pdf.exp();
        let h = (z * cdf + pdf).max(f64::MIN_POSITIVE);
        (h.ln(), cdf / h, pdf / h)
    } else if z > Z_SERIES {
        // Phi(z) = phi(z) R(-z), so h = phi(z) (1 + z R(-z)).
        let r = mills(-z);
        let rest = 1.0 + z * r;
        (ln_pdf + rest.ln(), r / rest, 1.0 / rest)
    } else {
        let t = 1.0 / (z * z);
        // 1 + z R(-z) ~ t (1 - 3t + 15t^2) and R(-z) ~ (1 - t + 3t^2) / -z.
        let rest = t * (1.0 - t * (3.0 - 15.0 * t));
        let r = (1.0 - t * (1.0 - 3.0 * t)) / -z;
        (ln_pdf + rest.ln(), r / rest, 1.0 / rest)
    }
}

/// ln EI at a predicted mean and variance (minimising, incumbent `best`),
/// with its derivatives by the mean and by the variance.
pub(super) fn log_ei(mean: f64, var: f64, best: f64) -> (f64, f64, f64) {
    let sd = var.sqrt();
    let z = (best - mean) / sd;
    let (ln_h, cdf_h, pdf_h) = log_h(z);
    let value = sd.ln() + ln_h;
    let d_mean = -cdf_h / sd;
    let d_sd = pdf_h / sd;
    (value, d_mean, d_sd / (2.0 * sd))
}

/// `(ln Phi(z), d ln Phi / dz)`, accurate far into the lower tail.
pub(super) fn log_cdf(z: f64) -> (f64, f64) {
    if z > Z_FRACTION {
        let cdf = (0.5 * erfc(-z / std::f64::consts::SQRT_2)).max(f64::MIN_POSITIVE);
        let pdf = (-0.5 * z * z - LN_SQRT_2PI).exp();
        (cdf.ln(), pdf / cdf)
    } else {
        // Phi(z) = phi(z) R(-z).
        let r = mills(-z);
        (-0.5 * z * z - LN_SQRT_2PI + r.ln(), 1.0 / r)
    }
}

/// ln of the probability that a constraint's model keeps its output at or
/// below `bound`, with its derivatives by the mean and by the variance.
fn log_feasible(mean: f64, var: f64, bound: f64) -> (f64, f64, f64) {
    let sd = var.sqrt();
    let z = (bound - mean) / sd;
    let (value, dz) = log_cdf(z);
    (value, -dz / sd, -dz * z / (2.0 * var))
}

/// What the maximiser works with.
pub(super) struct Acquisition<'a> {
    pub gp: &'a Gp,
    pub dims: &'a [Dim],
    /// The best (lowest) standardised output so far.
    pub best: f64,
    /// Points that must not be proposed again: observed and pending.
    pub taken: &'a Taken,
    /// Observed points, best first: local candidates start near them.
    pub anchors: &'a [Vec<f64>],
    /// The space, where it has conditions or constraints: candidates are
    /// settled (parameters a run lacks at their absent place) and those
    /// that break a constraint are dropped.
    pub structure: Option<&'a Encoding>,
    /// Models of the outcome constraints' excesses, each with the bound
    /// (excess 0) in its standardised units: a candidate's expected
    /// improvement is weighed by the probability that it keeps them all.
    pub feasibility: &'a [(Gp, f64)],
    /// No run has kept every outcome constraint yet: only that probability
    /// counts.
    pub feasible_only: bool,
}

/// Candidates drawn at random over the whole space (half as many once the
/// model holds over 100 points, where each costs more).
const GLOBAL_CANDIDATES: usize = 2048;
/// Candidates drawn near each of the ANCHORS best points so far.
const LOCAL_CANDIDATES: usize = 16;
const ANCHORS: usize = 5;
/// Local searches: from the best candidate, from ROULETTE more drawn with
/// weight exp(score - best score), and from beside the ANCHOR_STARTS best
/// points so far.
const ROULETTE: usize = 8;
const ANCHOR_STARTS: usize = 3;
/// L-BFGS iterations per local search.
const REFINE_ITERS: u64 = 40;

impl Acquisition<'_> {
    fn value(&self, p: &[f64]) -> f64 {
        let point = p.to_vec();
        let one = std::slice::from_ref(&point);
        let pred = self.gp.predict_many(one);
        let constraints: Vec<(f64, f64)> = self
            .feasibility
            .iter()
            .map(|(gp, _)| gp.predict_many(one)[0])
            .collect();
        self.score(pred[0], &constraints)
    }

    /// ln EI (unless only feasibility counts) plus ln of the probability of
    /// keeping each outcome constraint, from the predictions at a point.
    fn score(&self, objective: (f64, f64), constraints: &[(f64, f64)]) -> f64 {
        let mut total = if self.feasible_only {
            0.0
        } else {
            log_ei(objective.0, objective.1, self.best).0
        };
        for ((mean, var), (_, bound)) in constraints.iter().zip(self.feasibility) {
            total += log_feasible(*mean, *var, *bound).0;
        }
        total
    }

    /// The best point found, not already taken; `None` when every candidate
    /// considered was taken.
    pub fn maximise<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<Vec<f64>> {
        let n_global = if self.gp.len() <= 100 {
            GLOBAL_CANDIDATES
        } else {
            GLOBAL_CANDIDATES / 2
        };
        let mut candidates = Vec::with_capacity(n_global);
        for _ in 0..n_global {
            candidates.push(
                self.dims
                    .iter()
                    .map(|dim| uniform(dim, rng))
                    .collect::<Vec<f64>>(),
            );
        }
        for anchor in self.anchors.iter().take(ANCHORS) {
            for k in 0..LOCAL_CANDIDATES {
                let spread = [0.01, 0.05, 0.2][k % 3];
                candidates.push(self.near(anchor, spread, rng));
            }
        }
        for c in &mut candidates {
            self.settle(c);
        }
        candidates.retain(|c| !self.is_taken(c) && self.is_feasible(c));
        let predictions = self.gp.predict_many(&candidates);
        let constraint_predictions: Vec<Vec<(f64, f64)>> = self
            .feasibility
            .iter()
            .map(|(gp, _)| gp.predict_many(&candidates))
            .collect();
        let scores: Vec<f64> = predictions
            .iter()
            .enumerate()
            .map(|(i, &pred)| {
                let constraints: Vec<(f64, f64)> =
                    constraint_predictions.iter().map(|c| c[i]).collect();
                self.score(pred, &constraints)
            })
            .map(|s| if s.is_finite() { s } else { f64::NEG_INFINITY })
            .collect();
        let top = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b]))?;
        // Local searches start from the best candidate, from candidates drawn
        // with weight exp(score - best score) (a roulette: good but diverse),
        // and from just beside the best points so far.
        let mut starts = vec![top];
        let mut weights: Vec<f64> = scores.iter().map(|s| (s - scores[top]).exp()).collect();
        weights[top] = 0.0;
        for _ in 0..ROULETTE {
            let total: f64 = weights.iter().sum();
            if total.is_nan() || total <= 0.0 {
                break;
            }
            let mut u = rng.random::<f64>() * total;
            let pick = weights
                .iter()
                .position(|w| {
                    u -= w;
                    u <= 0.0
                })
                .unwrap_or(weights.len() - 1);
            weights[pick] = 0.0;
            starts.push(pick);
        }
        let mut best: Option<(f64, Vec<f64>)> = Some((scores[top], candidates[top].clone()));
        let mut from: Vec<Vec<f64>> = starts.into_iter().map(|i| candidates[i].clone()).collect();
        for anchor in self.anchors.iter().take(ANCHOR_STARTS) {
            let mut start = self.near(anchor, 1e-3, rng);
            self.settle(&mut start);
            from.push(start);
        }
        for start in from {
            let origin = start.clone();
            let mut point = self.refine(start);
            self.search_levels(&mut point);
            // Where the point really lands, for the check against runs.
            for (u, dim) in point.iter_mut().zip(self.dims) {
                if *u != dim.absent() {
                    *u = dim.snap(*u);
                }
            }
            self.settle(&mut point);
            // Refinement may cross a constraint's boundary: come back to
            // the last feasible point on the way (optima often lie on it).
            if !self.is_feasible(&point)
                && let Some(kept) = self.pull_back(&origin, &point)
            {
                point = kept;
            }
            let value = self.value(&point);
            if !self.is_taken(&point)
                && self.is_feasible(&point)
                && best.as_ref().is_none_or(|b| value > b.0)
            {
                best = Some((value, point));
            }
        }
        best.map(|(_, p)| p)
    }

    /// A candidate near `anchor`: numbers moved by a normal step of `spread`,
    /// each discrete coordinate redrawn with probability 1/d.
    fn near<R: Rng + ?Sized>(&self, anchor: &[f64], spread: f64, rng: &mut R) -> Vec<f64> {
        let d = self.dims.len() as f64;
        self.dims
            .iter()
            .zip(anchor)
            .map(|(dim, &a)| match dim.kind {
                Kind::Number { .. } => {
                    let step: f64 = rng.sample(StandardNormal);
                    dim.snap(a + spread * step)
                }
                _ if rng.random::<f64>() < 1.0 / d => uniform(dim, rng),
                _ => a,
            })
            .collect()
    }

    /// The feasible point nearest `to` on the way from `from` (numeric
    /// coordinates moved, the others as `to` has them), by bisection;
    /// `None` when the way's start is not feasible either.
    fn pull_back(&self, from: &[f64], to: &[f64]) -> Option<Vec<f64>> {
        let at = |t: f64| {
            let mut q: Vec<f64> = to
                .iter()
                .zip(from)
                .zip(self.dims)
                .map(|((&b, &a), dim)| match dim.kind {
                    Kind::Number { .. } if a != ABSENT && b != ABSENT => dim.snap(a + t * (b - a)),
                    _ => b,
                })
                .collect();
            self.settle(&mut q);
            q
        };
        let start = at(0.0);
        if !self.is_feasible(&start) {
            return None;
        }
        let (mut lo, mut hi) = (0.0, 1.0);
        for _ in 0..30 {
            let mid = 0.5 * (lo + hi);
            if self.is_feasible(&at(mid)) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        Some(at(lo))
    }

    fn settle(&self, p: &mut [f64]) {
        if let Some(encoding) = self.structure {
            encoding.settle(p);
        }
    }

    fn is_feasible(&self, p: &[f64]) -> bool {
        self.structure.is_none_or(|encoding| encoding.feasible(p))
    }

    /// Whether `p` is a point already run, or next to a pending one.
    pub fn is_taken(&self, p: &[f64]) -> bool {
        self.taken.contains(self.dims, p)
    }

    /// L-BFGS over the numeric coordinates, the others held.
    fn refine(&self, start: Vec<f64>) -> Vec<f64> {
        let free: Vec<usize> = (0..self.dims.len())
            .filter(|&i| matches!(self.dims[i].kind, Kind::Number { .. }) && start[i] != ABSENT)
            .collect();
        if free.is_empty() {
            return start;
        }
        let problem = Refine {
            acquisition: self,
            base: start.clone(),
            free: &free,
            last: RefCell::new(None),
        };
        let z0 = DVector::from_iterator(free.len(), free.iter().map(|&i| logit(start[i])));
        let Ok(solver) = LBFGS::new(MoreThuenteLineSearch::new(), 5).with_tolerance_grad(1e-7)
        else {
            return start;
        };
        let result = Executor::new(&problem, solver)
            .configure(|state| state.param(z0).max_iters(REFINE_ITERS))
            .timer(false)
            .run();
        match result {
            Ok(result) => match result.state().get_best_param() {
                Some(z) => {
                    let mut point = problem.point(z);
                    for &i in &free {
                        point[i] = self.dims[i].snap(point[i]);
                    }
                    point
                }
                None => start,
            },
            Err(_) => start,
        }
    }

    /// Each discrete coordinate in turn tries its levels (all of them for a
    /// categorical or a short integer range, nearby cells for a long one).
    fn search_levels(&self, point: &mut Vec<f64>) {
        for (i, dim) in self.dims.iter().enumerate() {
            if point[i] == dim.absent() {
                continue;
            }
            let options: Vec<f64> = match &dim.kind {
                Kind::Categorical { values, .. } => (0..values.len()).map(|l| l as f64).collect(),
                Kind::Integer { levels, .. } if *levels <= 32 => (0..*levels)
                    .map(|c| (c as f64 + 0.5) / *levels as f64)
                    .collect(),
                Kind::Integer { levels, .. } => {
                    let cell = 1.0 / *levels as f64;
                    [-8.0, -4.0, -2.0, -1.0, 1.0, 2.0, 4.0, 8.0]
                        .iter()
                        .map(|k| point[i] + k * cell)
                        .filter(|u| (0.0..=1.0).contains(u))
                        .map(|u| dim.snap(u))
                        .collect()
                }
                Kind::Number { .. } => continue,
            };
            let mut best = (self.value(point), point.clone());
            for u in options {
                let mut p = point.clone();
                p[i] = u;
                self.settle(&mut p);
                let v = self.value(&p);
                if v > best.0 && !self.is_taken(&p) && self.is_feasible(&p) {
                    best = (v, p);
                }
            }
            *point = best.1;
        }
    }
}

/// The points a proposal must keep away from.
pub(super) struct Taken {
    /// Observed runs: not again, nor within DONE_GAP.
    pub done: Vec<Vec<f64>>,
    /// Queued and running runs: not within PENDING_GAP either, so parallel
    /// runs are not sent to nearly the same place.
    pub pending: Vec<Vec<f64>>,
}

/// How far (in the largest continuous coordinate, on [0, 1]) a proposal
/// stays from every run that it matches on discrete coordinates: a run
/// already done is not worth repeating one millionth of a range away, and
/// parallel runs are not sent to nearly the same place.
pub(super) const DONE_GAP: f64 = 1e-6;
pub(super) const PENDING_GAP: f64 = 1e-3;

impl Taken {
    pub fn contains(&self, dims: &[Dim], p: &[f64]) -> bool {
        near_any(dims, &self.done, p, DONE_GAP) || near_any(dims, &self.pending, p, PENDING_GAP)
    }
}

fn near_any(dims: &[Dim], points: &[Vec<f64>], p: &[f64], gap: f64) -> bool {
    points.iter().any(|t| {
        dims.iter().enumerate().all(|(i, dim)| {
            if dim.is_discrete() {
                t[i] == p[i]
            } else {
                (t[i] - p[i]).abs() <= gap
            }
        })
    })
}

/// A uniformly drawn coordinate.
pub(super) fn uniform<R: Rng + ?Sized>(dim: &Dim, rng: &mut R) -> f64 {
    match &dim.kind {
        Kind::Categorical { values, .. } => rng.random_range(0..values.len()) as f64,
        _ => dim.snap(rng.random::<f64>()),
    }
}

fn logit(u: f64) -> f64 {
    let u = u.clamp(1e-4, 1.0 - 1e-4);
    (u / (1.0 - u)).ln()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// A point, the cost there and its gradient.
type Evaluated = (DVector<f64>, f64, DVector<f64>);

/// -ln EI over the free coordinates, in logit space.
struct Refine<'a> {
    acquisition: &'a Acquisition<'a>,
    base: Vec<f64>,
    free: &'a [usize],
    /// argmin asks for the cost, then the gradient, at the same point.
    last: RefCell<Option<Evaluated>>,
}

impl Refine<'_> {
    fn point(&self, z: &DVector<f64>) -> Vec<f64> {
        let mut p = self.base.clone();
        for (k, &i) in self.free.iter().enumerate() {
            p[i] = sigmoid(z[k]);
        }
        p
    }

    fn evaluate(&self, z: &DVector<f64>) -> (f64, DVector<f64>) {
        if let Some((at, cost, grad)) = self.last.borrow().as_ref()
            && at == z
        {
            return (*cost, grad.clone());
        }
        let (cost, grad) = self.compute(z);
        *self.last.borrow_mut() = Some((z.clone(), cost, grad.clone()));
        (cost, grad)
    }

    fn compute(&self, z: &DVector<f64>) -> (f64, DVector<f64>) {
        let p = self.point(z);
        let a = self.acquisition;
        let mut value = 0.0;
        let mut dx = vec![0.0; p.len()];
        if !a.feasible_only {
            let pred = a.gp.predict(&p);
            let (v, d_mean, d_var) = log_ei(pred.mean, pred.var, a.best);
            value += v;
            for &i in self.free {
                dx[i] += d_mean * pred.d_mean[i] + d_var * pred.d_var[i];
            }
        }
        for (gp, bound) in a.feasibility {
            let pred = gp.predict(&p);
            let (v, d_mean, d_var) = log_feasible(pred.mean, pred.var, *bound);
            value += v;
            for &i in self.free {
                dx[i] += d_mean * pred.d_mean[i] + d_var * pred.d_var[i];
            }
        }
        let grad = DVector::from_iterator(
            self.free.len(),
            self.free.iter().map(|&i| -dx[i] * p[i] * (1.0 - p[i])),
        );
        (-value, grad)
    }
}

impl CostFunction for &Refine<'_> {
    type Param = DVector<f64>;
    type Output = f64;

    fn cost(&self, z: &DVector<f64>) -> Result<f64, Error> {
        let (cost, _) = self.evaluate(z);
        if cost.is_finite() {
            Ok(cost)
        } else {
            Err(Error::msg("non-finite acquisition"))
        }
    }
}

impl Gradient for &Refine<'_> {
    type Param = DVector<f64>;
    type Gradient = DVector<f64>;

    fn gradient(&self, z: &DVector<f64>) -> Result<DVector<f64>, Error> {
        Ok(self.evaluate(z).1)
    }
}
