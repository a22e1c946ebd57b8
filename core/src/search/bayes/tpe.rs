//! The fallback when the Gaussian process cannot be used (its fit failed,
//! or the space has more coordinates than it handles well): a multivariate
//! tree-structured Parzen estimator. Observations are split into the best
//! tenth ("good", at most 25) and the rest; candidates are drawn from a
//! kernel mixture around the good points, and the one with the highest
//! density ratio good/rest wins.

use rand::Rng;
use rand_distr::StandardNormal;

use super::acquisition::{Taken, uniform};
use super::encode::{Dim, Kind};

const CANDIDATES: usize = 64;
/// Probability that a categorical kernel keeps its centre's level.
const KEEP_LEVEL: f64 = 0.8;

/// `x` row-major (`dims.len()` wide), `y` to minimise.
pub(super) fn propose<R: Rng + ?Sized>(
    dims: &[Dim],
    x: &[f64],
    y: &[f64],
    taken: &Taken,
    rng: &mut R,
) -> Option<Vec<f64>> {
    let d = dims.len();
    let n = y.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| y[a].total_cmp(&y[b]).then(a.cmp(&b)));
    let n_good = n.div_ceil(10).clamp(1, 25);
    let point = |i: usize| &x[i * d..(i + 1) * d];
    let good: Vec<&[f64]> = order[..n_good].iter().map(|&i| point(i)).collect();
    let rest: Vec<&[f64]> = order[n_good..].iter().map(|&i| point(i)).collect();
    let good_width = widths(dims, &good);
    let rest_width = widths(dims, &rest);

    let mut best: Option<(f64, Vec<f64>)> = None;
    for _ in 0..CANDIDATES {
        // One mixture component: a good point, or (as often as one point)
        // the uniform prior.
        let k = rng.random_range(0..=good.len());
        let c: Vec<f64> = if k == good.len() {
            dims.iter().map(|dim| uniform(dim, rng)).collect()
        } else {
            dims.iter()
                .enumerate()
                .map(|(i, dim)| draw_near(dim, good[k][i], good_width[i], rng))
                .collect()
        };
        if taken.contains(dims, &c) {
            continue;
        }
        let score =
            log_density(dims, &good, &good_width, &c) - log_density(dims, &rest, &rest_width, &c);
        if best.as_ref().is_none_or(|b| score > b.0) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// A kernel width per coordinate: Scott's rule on the group, at least 0.02
/// and at most 1.
fn widths(dims: &[Dim], group: &[&[f64]]) -> Vec<f64> {
    let m = group.len().max(1) as f64;
    (0..dims.len())
        .map(|i| {
            let mean = group.iter().map(|p| p[i]).sum::<f64>() / m;
            let var = group.iter().map(|p| (p[i] - mean).powi(2)).sum::<f64>() / m;
            (1.06 * var.sqrt() * m.powf(-0.2)).clamp(0.02, 1.0)
        })
        .collect()
}

fn draw_near<R: Rng + ?Sized>(dim: &Dim, centre: f64, width: f64, rng: &mut R) -> f64 {
    match &dim.kind {
        Kind::Categorical { .. } => {
            if rng.random::<f64>() < KEEP_LEVEL {
                centre
            } else {
                uniform(dim, rng)
            }
        }
        _ => {
            let step: f64 = rng.sample(StandardNormal);
            dim.snap((centre + width * step).clamp(0.0, 1.0))
        }
    }
}

/// ln of the mixture density (kernels at the group's points, plus the
/// uniform prior with the weight of one point).
fn log_density(dims: &[Dim], group: &[&[f64]], width: &[f64], p: &[f64]) -> f64 {
    let mut total = 1.0; // the prior: density 1 on the unit box (per level for categoricals: close enough)
    for centre in group {
        let mut k = 1.0;
        for (i, dim) in dims.iter().enumerate() {
            k *= match &dim.kind {
                Kind::Categorical { values, .. } => {
                    if p[i] == centre[i] {
                        KEEP_LEVEL + (1.0 - KEEP_LEVEL) / values.len() as f64
                    } else {
                        (1.0 - KEEP_LEVEL) / values.len() as f64
                    }
                }
                _ => {
                    let z = (p[i] - centre[i]) / width[i];
                    (-0.5 * z * z).exp() / (width[i] * 2.506_628_274_631)
                }
            };
        }
        total += k;
    }
    (total / (group.len() + 1) as f64).ln()
}
