//! Two objectives: expected hypervolume improvement, on one Gaussian process
//! per objective. The front of the finished runs (and of pending runs, at
//! their predicted values) bounds what counts as improvement, from a
//! reference point a tenth of the runs' range beyond the front's nadir. The
//! expectation is a Monte Carlo average over the same standard normal draws
//! for every candidate (so candidates are compared on equal terms), taken
//! for the candidates whose optimistic point (two standard deviations
//! better on both) improves the front at all.

use rand::Rng;
use rand_distr::StandardNormal;

use crate::pareto::hypervolume_2d;

use super::acquisition::{Taken, uniform};
use super::encode::{Dim, Encoding, Kind};
use super::gp::Gp;

/// Candidates drawn over the whole space.
const GLOBAL: usize = 2048;
/// Candidates near each front point (at most FRONT_ANCHORS of them).
const LOCAL: usize = 24;
const FRONT_ANCHORS: usize = 12;
/// Candidates whose expectation is estimated, the most optimistic first.
const ESTIMATED: usize = 256;
/// Normal draws per estimate.
const DRAWS: usize = 128;

/// One objective's model: predictions are `mean + sd * gp`.
pub(super) struct Model {
    pub gp: Gp,
    pub mean: f64,
    pub sd: f64,
}

impl Model {
    /// A model of `values` (oriented to minimise) at points `x`.
    pub fn fit(
        x: &[f64],
        values: &[f64],
        d: usize,
        theta: &super::gp::Theta,
        categorical: &[bool],
    ) -> Option<Self> {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let sd = if sd > 0.0 { sd } else { 1.0 };
        let y: Vec<f64> = values.iter().map(|v| (v - mean) / sd).collect();
        Some(Self {
            gp: Gp::new(x, &y, d, theta, categorical)?,
            mean,
            sd,
        })
    }

    fn predict(&self, points: &[Vec<f64>]) -> Vec<(f64, f64)> {
        self.gp
            .predict_many(points)
            .into_iter()
            .map(|(m, v)| (self.mean + self.sd * m, self.sd * v.max(0.0).sqrt()))
            .collect()
    }
}

/// What improvement is measured against: the front (oriented to minimise)
/// and the reference point.
pub(super) struct Target<'a> {
    pub front: &'a [[f64; 2]],
    pub reference: [f64; 2],
}

/// The candidate of highest expected hypervolume improvement; `None` when
/// none improves the front even optimistically.
pub(super) fn propose<R: Rng + ?Sized>(
    models: &[Model; 2],
    target: Target<'_>,
    pending: &[Vec<f64>],
    encoding: &Encoding,
    anchors: &[Vec<f64>],
    taken: &Taken,
    rng: &mut R,
) -> Option<Vec<f64>> {
    let dims = &encoding.dims;
    // Pending runs count at their predicted values.
    let reference = target.reference;
    let mut front = target.front.to_vec();
    if !pending.is_empty() {
        let a = models[0].predict(pending);
        let b = models[1].predict(pending);
        front.extend(a.iter().zip(&b).map(|(p, q)| [p.0, q.0]));
    }
    let base = hypervolume_2d(&front, reference);
    let mut candidates: Vec<Vec<f64>> = (0..GLOBAL)
        .map(|_| dims.iter().map(|dim| uniform(dim, rng)).collect())
        .collect();
    for anchor in anchors.iter().take(FRONT_ANCHORS) {
        for k in 0..LOCAL {
            let spread = [0.01, 0.05, 0.2][k % 3];
            candidates.push(near(dims, anchor, spread, rng));
        }
    }
    for c in &mut candidates {
        encoding.settle(c);
    }
    candidates.retain(|c| !taken.contains(dims, c) && encoding.feasible(c));
    let a = models[0].predict(&candidates);
    let b = models[1].predict(&candidates);
    let improvement = |p: [f64; 2]| {
        if p[0] >= reference[0] || p[1] >= reference[1] {
            return 0.0;
        }
        let mut with = front.clone();
        with.push(p);
        (hypervolume_2d(&with, reference) - base).max(0.0)
    };
    // The most optimistic first.
    let mut order: Vec<(f64, usize)> = (0..candidates.len())
        .map(|i| {
            let hopeful = [a[i].0 - 2.0 * a[i].1, b[i].0 - 2.0 * b[i].1];
            (improvement(hopeful), i)
        })
        .filter(|(v, _)| *v > 0.0)
        .collect();
    order.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    order.truncate(ESTIMATED);
    let draws: Vec<(f64, f64)> = (0..DRAWS)
        .map(|_| (rng.sample(StandardNormal), rng.sample(StandardNormal)))
        .collect();
    let mut best: Option<(f64, usize)> = None;
    for (_, i) in order {
        let expected = draws
            .iter()
            .map(|(z1, z2)| improvement([a[i].0 + a[i].1 * z1, b[i].0 + b[i].1 * z2]))
            .sum::<f64>()
            / DRAWS as f64;
        if best.is_none_or(|(v, _)| expected > v) {
            best = Some((expected, i));
        }
    }
    best.filter(|(v, _)| *v > 0.0)
        .map(|(_, i)| candidates[i].clone())
}

/// The reference point: the front's nadir, plus a tenth of the runs' range
/// (1 where they have none) in each objective. A margin of the runs' range,
/// not the front's own: a front found in one corner must be asked to grow
/// out of it.
pub(super) fn reference(points: &[Vec<f64>], front: &[[f64; 2]]) -> [f64; 2] {
    let mut out = [0.0; 2];
    for (j, r) in out.iter_mut().enumerate() {
        let lo = points.iter().map(|p| p[j]).fold(f64::INFINITY, f64::min);
        let hi = points
            .iter()
            .map(|p| p[j])
            .fold(f64::NEG_INFINITY, f64::max);
        let nadir = front.iter().map(|p| p[j]).fold(f64::NEG_INFINITY, f64::max);
        let span = if hi > lo { hi - lo } else { 1.0 };
        *r = nadir + 0.1 * span;
    }
    out
}

/// A candidate near `anchor`: numbers moved by a normal step of `spread`,
/// each discrete coordinate redrawn with probability 1/d.
fn near<R: Rng + ?Sized>(dims: &[Dim], anchor: &[f64], spread: f64, rng: &mut R) -> Vec<f64> {
    let d = dims.len() as f64;
    dims.iter()
        .zip(anchor)
        .map(|(dim, &a)| match dim.kind {
            Kind::Number { .. } if a != dim.absent() => {
                let step: f64 = rng.sample(StandardNormal);
                dim.snap(a + spread * step)
            }
            _ if rng.random::<f64>() < 1.0 / d => uniform(dim, rng),
            _ => a,
        })
        .collect()
}
