//! The Gaussian process: Matérn-5/2 with one length-scale per coordinate
//! (categorical coordinates count as distance 1 when they differ, a Hamming
//! term), a signal variance and a noise variance, on standardised outputs
//! with mean zero.

use nalgebra::{Cholesky, DMatrix, DVector, Dyn};

const SQRT5: f64 = 2.236_067_977_499_79;

/// The model's hyperparameters, on the log scale where argmin moves them.
/// Layout: `[ln l_1, ..., ln l_d, ln signal, ln noise]`; the noise variance is
/// `NOISE_FLOOR + exp(ln noise)`.
pub(super) type Theta = DVector<f64>;

/// The least noise variance (outputs are standardised): keeps the kernel
/// matrix well conditioned when the objective is deterministic.
pub(super) const NOISE_FLOOR: f64 = 1e-6;

pub(super) fn signal(theta: &Theta) -> f64 {
    theta[theta.len() - 2].exp()
}

pub(super) fn noise(theta: &Theta) -> f64 {
    NOISE_FLOOR + theta[theta.len() - 1].exp()
}

/// `1 / l^2` per coordinate.
pub(super) fn inverse_squared_lengths(theta: &Theta) -> Vec<f64> {
    let d = theta.len() - 2;
    (0..d).map(|i| (-2.0 * theta[i]).exp()).collect()
}

/// Matérn-5/2 as a function of the squared scaled distance `s`.
pub(super) fn matern(s: f64) -> f64 {
    let r = s.max(0.0).sqrt();
    (1.0 + SQRT5 * r + 5.0 / 3.0 * s) * (-SQRT5 * r).exp()
}

/// d matern / d s (finite at s = 0).
pub(super) fn matern_ds(s: f64) -> f64 {
    let r = s.max(0.0).sqrt();
    -5.0 / 6.0 * (1.0 + SQRT5 * r) * (-SQRT5 * r).exp()
}

/// The squared difference of two coordinates as the kernel sees it.
#[inline]
pub(super) fn gap2(a: f64, b: f64, categorical: bool) -> f64 {
    if categorical {
        if a == b { 0.0 } else { 1.0 }
    } else {
        (a - b) * (a - b)
    }
}

/// The squared scaled distance between two points.
#[inline]
pub(super) fn scaled_distance(a: &[f64], b: &[f64], w: &[f64], categorical: &[bool]) -> f64 {
    let mut s = 0.0;
    for i in 0..a.len() {
        s += w[i] * gap2(a[i], b[i], categorical[i]);
    }
    s
}

/// A factorised kernel matrix `K + noise I`, with jitter added when the
/// factorisation fails for rounding.
pub(super) fn factorise(mut k: DMatrix<f64>) -> Option<Cholesky<f64, Dyn>> {
    let n = k.nrows();
    let mut jitter = 0.0;
    for _ in 0..4 {
        if let Some(chol) = Cholesky::new(k.clone()) {
            return Some(chol);
        }
        let add = if jitter == 0.0 { 1e-8 } else { jitter * 9.0 };
        jitter += add;
        for i in 0..n {
            k[(i, i)] += add;
        }
    }
    None
}

/// The posterior of the process given points `x` (row-major, `d` wide) and
/// standardised outputs `y`, with fixed hyperparameters.
pub(super) struct Gp {
    d: usize,
    x: Vec<f64>,
    w: Vec<f64>,
    signal: f64,
    categorical: Vec<bool>,
    chol: Cholesky<f64, Dyn>,
    alpha: DVector<f64>,
    /// The constant prior mean (generalised least squares), `K^-1 1`, and
    /// `1' K^-1 1`, for the variance the estimated mean adds.
    mean: f64,
    k_ones: DVector<f64>,
    ones_k_ones: f64,
}

/// Mean and variance at a point, and their gradients along the numeric
/// coordinates (zero along categorical ones).
pub(super) struct Prediction {
    pub mean: f64,
    pub var: f64,
    pub d_mean: Vec<f64>,
    pub d_var: Vec<f64>,
}

impl Gp {
    pub fn new(
        x: &[f64],
        y: &[f64],
        d: usize,
        theta: &Theta,
        categorical: &[bool],
    ) -> Option<Self> {
        let n = y.len();
        let w = inverse_squared_lengths(theta);
        let signal = signal(theta);
        let noise = noise(theta);
        let mut k = DMatrix::zeros(n, n);
        for i in 0..n {
            k[(i, i)] = signal + noise;
            for j in 0..i {
                let s = scaled_distance(
                    &x[i * d..(i + 1) * d],
                    &x[j * d..(j + 1) * d],
                    &w,
                    categorical,
                );
                let v = signal * matern(s);
                k[(i, j)] = v;
                k[(j, i)] = v;
            }
        }
        let chol = factorise(k)?;
        let yv = DVector::from_column_slice(y);
        // The constant mean by generalised least squares: runs bunched
        // together in a good region count as much as they tell, so the mean
        // in unexplored places is not dragged towards the good values (which
        // would send search to the box's corners).
        let ones = DVector::from_element(n, 1.0);
        let k_ones = chol.solve(&ones);
        let ones_k_ones = k_ones.sum();
        let mean = k_ones.dot(&yv) / ones_k_ones;
        let alpha = chol.solve(&yv.add_scalar(-mean));
        (alpha.iter().all(|a| a.is_finite()) && ones_k_ones > 0.0).then(|| Self {
            mean,
            k_ones,
            ones_k_ones,
            d,
            x: x.to_vec(),
            w,
            signal,
            categorical: categorical.to_vec(),
            chol,
            alpha,
        })
    }

    pub fn len(&self) -> usize {
        self.alpha.len()
    }

    fn cross(&self, p: &[f64]) -> DVector<f64> {
        DVector::from_fn(self.len(), |i, _| {
            let row = &self.x[i * self.d..(i + 1) * self.d];
            self.signal * matern(scaled_distance(p, row, &self.w, &self.categorical))
        })
    }

    /// Mean and variance of the latent function at many points at once.
    pub fn predict_many(&self, points: &[Vec<f64>]) -> Vec<(f64, f64)> {
        if points.is_empty() {
            return Vec::new();
        }
        let n = self.len();
        let mut ks = DMatrix::zeros(n, points.len());
        for (j, p) in points.iter().enumerate() {
            ks.set_column(j, &self.cross(p));
        }
        let means = ks.tr_mul(&self.alpha).add_scalar(self.mean);
        let unexplained = ks.tr_mul(&self.k_ones);
        self.chol.l_dirty().solve_lower_triangular_mut(&mut ks);
        (0..points.len())
            .map(|j| {
                let v = ks.column(j);
                let r = 1.0 - unexplained[j];
                let var = self.signal - v.norm_squared() + r * r / self.ones_k_ones;
                (means[j], var.max(self.signal * 1e-12))
            })
            .collect()
    }

    /// Mean and variance at one point, with gradients.
    pub fn predict(&self, p: &[f64]) -> Prediction {
        let n = self.len();
        // k(p, x_i) and its slope in the scaled distance, from one exp each.
        let mut slope = vec![0.0; n];
        let kstar = DVector::from_fn(n, |i, _| {
            let row = &self.x[i * self.d..(i + 1) * self.d];
            let s = scaled_distance(p, row, &self.w, &self.categorical);
            let r = s.max(0.0).sqrt();
            let e = self.signal * (-SQRT5 * r).exp();
            slope[i] = -5.0 / 6.0 * (1.0 + SQRT5 * r) * e;
            (1.0 + SQRT5 * r + 5.0 / 3.0 * s) * e
        });
        let mean = self.mean + kstar.dot(&self.alpha);
        let l = self.chol.l_dirty();
        let mut v = kstar.clone();
        l.solve_lower_triangular_mut(&mut v);
        // The estimated mean's own uncertainty: (1 - 1'K^-1 k*)^2 / 1'K^-1 1.
        let r = 1.0 - self.k_ones.dot(&kstar);
        let var =
            (self.signal - v.norm_squared() + r * r / self.ones_k_ones).max(self.signal * 1e-12);
        let mut u = v;
        l.tr_solve_lower_triangular_mut(&mut u); // u = K^-1 k*
        let mut d_mean = vec![0.0; self.d];
        let mut d_var = vec![0.0; self.d];
        for i in 0..n {
            let row = &self.x[i * self.d..(i + 1) * self.d];
            let dk_ds = slope[i];
            for c in 0..self.d {
                if self.categorical[c] {
                    continue;
                }
                let dk = dk_ds * 2.0 * self.w[c] * (p[c] - row[c]);
                d_mean[c] += self.alpha[i] * dk;
                d_var[c] -= 2.0 * (u[i] + r * self.k_ones[i] / self.ones_k_ones) * dk;
            }
        }
        Prediction {
            mean,
            var,
            d_mean,
            d_var,
        }
    }
}
