//! Fitting the hyperparameters: the maximum a posteriori point of the
//! marginal likelihood, found by argmin's L-BFGS with analytic gradients.
//!
//! Priors (on standardised outputs, inputs on [0, 1]): each inverse squared
//! length-scale `t = 1/l^2` is penalised by `0.1 (t + 1/t)`, which prefers
//! l near 1 and keeps it between about 0.05 and 20; the signal variance has a
//! Gamma(2, 1) prior (mode 1); the noise variance a Gamma(1.1, 30) prior,
//! which costs little to go to the floor when the data are smooth.

use std::cell::RefCell;

use argmin::core::{CostFunction, Error, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use nalgebra::{DMatrix, DVector};

use super::gp::{NOISE_FLOOR, Theta, factorise, matern, matern_ds};

/// Where the search may move each hyperparameter (log scale). Inside, the
/// priors decide; at the walls, the gradient is cut so the line search is
/// not misled.
const LOG_LENGTH: (f64, f64) = (-6.0, 6.0);
const LOG_SIGNAL: (f64, f64) = (-8.0, 8.0);
const LOG_NOISE: (f64, f64) = (-30.0, 2.0);

/// How many L-BFGS iterations one start may take.
const MAX_ITERS: u64 = 60;

/// The starting point when nothing is known: l = 1 (the length prior's
/// mode), unit signal (the outputs are standardised), noise 1e-3.
pub(super) fn default_theta(d: usize) -> Theta {
    let mut t = DVector::zeros(d + 2);
    t[d + 1] = (1e-3f64).ln();
    t
}

/// The result of a fit.
pub(super) struct Fitted {
    pub theta: Theta,
    /// The objective (negative log posterior) at `theta`.
    pub cost: f64,
    /// Marginal-likelihood evaluations used.
    pub evaluations: usize,
}

/// Fit from each start and keep the best; `None` when every start failed.
pub(super) fn fit(
    x: &[f64],
    y: &[f64],
    d: usize,
    categorical: &[bool],
    starts: &[Theta],
) -> Option<Fitted> {
    let problem = Nll::new(x, y, d, categorical);
    let mut best: Option<Fitted> = None;
    for start in starts {
        let Some((theta, cost)) = problem.minimise(start.clone()) else {
            continue;
        };
        if best.as_ref().is_none_or(|b| cost < b.cost) {
            best = Some(Fitted {
                theta,
                cost,
                evaluations: 0,
            });
        }
    }
    best.map(|mut b| {
        b.evaluations = problem.evaluations.borrow().to_owned();
        b
    })
}

/// The negative log posterior of the hyperparameters.
struct Nll {
    d: usize,
    y: DVector<f64>,
    /// Squared coordinate gaps of every pair `j < i`, per coordinate:
    /// `gaps[c][pair(i, j)]`.
    gaps: Vec<Vec<f64>>,
    /// argmin asks for the cost and the gradient at the same point one after
    /// the other: both come from one factorisation.
    last: RefCell<Option<(Theta, f64, Theta)>>,
    evaluations: RefCell<usize>,
}

fn pair(i: usize, j: usize) -> usize {
    i * (i - 1) / 2 + j
}

impl Nll {
    fn new(x: &[f64], y: &[f64], d: usize, categorical: &[bool]) -> Self {
        let n = y.len();
        let mut gaps = vec![vec![0.0; n * n.saturating_sub(1) / 2]; d];
        for i in 1..n {
            for j in 0..i {
                for (c, gap) in gaps.iter_mut().enumerate() {
                    gap[pair(i, j)] = super::gp::gap2(x[i * d + c], x[j * d + c], categorical[c]);
                }
            }
        }
        Self {
            d,
            y: DVector::from_column_slice(y),
            gaps,
            last: RefCell::new(None),
            evaluations: RefCell::new(0),
        }
    }

    fn minimise(&self, start: Theta) -> Option<(Theta, f64)> {
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 7)
            .with_tolerance_grad(1e-5)
            .ok()?
            .with_tolerance_cost(1e-9)
            .ok()?;
        let result = Executor::new(self, solver)
            .configure(|state| state.param(start).max_iters(MAX_ITERS))
            .timer(false)
            .run()
            .ok()?;
        let state = result.state();
        let theta = clamp(state.get_best_param()?);
        let cost = state.get_best_cost();
        cost.is_finite().then_some((theta, cost))
    }

    /// The cost and its gradient at `theta`.
    fn evaluate(&self, theta: &Theta) -> Result<(f64, Theta), Error> {
        if let Some((t, cost, grad)) = self.last.borrow().as_ref()
            && t == theta
        {
            return Ok((*cost, grad.clone()));
        }
        *self.evaluations.borrow_mut() += 1;
        let (cost, grad) = self.compute(theta)?;
        *self.last.borrow_mut() = Some((theta.clone(), cost, grad.clone()));
        Ok((cost, grad))
    }

    fn compute(&self, raw: &Theta) -> Result<(f64, Theta), Error> {
        let d = self.d;
        let n = self.y.len();
        let theta = clamp(raw);
        let w: Vec<f64> = (0..d).map(|c| (-2.0 * theta[c]).exp()).collect();
        let signal = theta[d].exp();
        let noise_part = theta[d + 1].exp();
        let noise = NOISE_FLOOR + noise_part;

        // K, and the scaled distance of each pair for the gradient.
        let mut k = DMatrix::zeros(n, n);
        let mut s_of = vec![0.0; n * n.saturating_sub(1) / 2];
        for i in 0..n {
            k[(i, i)] = signal + noise;
            for j in 0..i {
                let p = pair(i, j);
                let mut s = 0.0;
                for (c, wc) in w.iter().enumerate() {
                    s += wc * self.gaps[c][p];
                }
                s_of[p] = s;
                let v = signal * matern(s);
                k[(i, j)] = v;
                k[(j, i)] = v;
            }
        }
        let chol = factorise(k.clone())
            .ok_or_else(|| Error::msg("kernel matrix not positive definite"))?;
        // The constant mean profiled out (generalised least squares, as the
        // model uses it); by the envelope theorem the gradient keeps its form.
        let k_ones = chol.solve(&DVector::from_element(n, 1.0));
        let mean = k_ones.dot(&self.y) / k_ones.sum();
        let centred = self.y.add_scalar(-mean);
        let alpha = chol.solve(&centred);
        let log_det: f64 = chol
            .l_dirty()
            .diagonal()
            .iter()
            .map(|l| l.ln())
            .sum::<f64>()
            * 2.0;
        let data_fit = centred.dot(&alpha);
        let mut cost =
            0.5 * data_fit + 0.5 * log_det + 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();

        // d cost / d theta_p = 1/2 tr((K^-1 - alpha alpha^T) dK/dtheta_p).
        let kinv = chol.inverse();
        let mut grad = DVector::zeros(d + 2);
        let mut trace_w = 0.0;
        for i in 0..n {
            trace_w += kinv[(i, i)] - alpha[i] * alpha[i];
        }
        let mut signal_grad = 0.5 * trace_w * signal;
        for i in 1..n {
            for j in 0..i {
                let p = pair(i, j);
                let wij = kinv[(i, j)] - alpha[i] * alpha[j];
                // Both (i, j) and (j, i): the 1/2 cancels.
                let s = s_of[p];
                signal_grad += wij * signal * matern(s);
                let dk_ds = signal * matern_ds(s);
                for c in 0..d {
                    let gap = self.gaps[c][p];
                    if gap != 0.0 {
                        // ds / d ln l_c = -2 w_c gap
                        grad[c] += wij * dk_ds * (-2.0 * w[c] * gap);
                    }
                }
            }
        }
        grad[d] = signal_grad;
        grad[d + 1] = 0.5 * trace_w * noise_part;

        // Priors.
        for c in 0..d {
            let t = w[c];
            cost += 0.1 * (t + 1.0 / t);
            // dt / d ln l = -2 t
            grad[c] += 0.1 * (1.0 - 1.0 / (t * t)) * (-2.0 * t);
        }
        // Gamma(2, 1) on the signal: -ln p = -ln s + s.
        cost += -theta[d] + signal;
        grad[d] += -1.0 + signal;
        // Gamma(1.1, 30) on the noise: -ln p = -0.1 ln v + 30 v.
        cost += -0.1 * noise.ln() + 30.0 * noise;
        grad[d + 1] += (-0.1 / noise + 30.0) * noise_part;

        // At a wall, no pull further out.
        for p in 0..d + 2 {
            let (lo, hi) = bounds(p, d);
            if (raw[p] <= lo && grad[p] > 0.0) || (raw[p] >= hi && grad[p] < 0.0) {
                grad[p] = 0.0;
            }
        }
        if !cost.is_finite() || grad.iter().any(|g| !g.is_finite()) {
            return Err(Error::msg("non-finite marginal likelihood"));
        }
        Ok((cost, grad))
    }
}

fn bounds(p: usize, d: usize) -> (f64, f64) {
    if p < d {
        LOG_LENGTH
    } else if p == d {
        LOG_SIGNAL
    } else {
        LOG_NOISE
    }
}

pub(super) fn clamp(theta: &Theta) -> Theta {
    let d = theta.len() - 2;
    DVector::from_fn(theta.len(), |p, _| {
        let (lo, hi) = bounds(p, d);
        theta[p].clamp(lo, hi)
    })
}

impl CostFunction for &Nll {
    type Param = Theta;
    type Output = f64;

    fn cost(&self, theta: &Theta) -> Result<f64, Error> {
        Ok(self.evaluate(theta)?.0)
    }
}

impl Gradient for &Nll {
    type Param = Theta;
    type Gradient = Theta;

    fn gradient(&self, theta: &Theta) -> Result<Theta, Error> {
        Ok(self.evaluate(theta)?.1)
    }
}

/// The cost and gradient at `theta`, for tests of the gradient.
#[cfg(test)]
pub(super) fn cost_and_gradient(
    x: &[f64],
    y: &[f64],
    d: usize,
    categorical: &[bool],
    theta: &Theta,
) -> (f64, Theta) {
    Nll::new(x, y, d, categorical)
        .compute(theta)
        .expect("finite")
}
