//! The search space as the model sees it: every searched parameter is one
//! coordinate. Numbers live on [0, 1] (log-scaled where the distribution is,
//! through the CDF for normal and beta distributions); integers are cells of
//! [0, 1] and sit at their cell's centre; categoricals are level indices that
//! the kernel compares for equality only, never as ordered numbers. Constants
//! are left out and put back when a point is turned into parameters.
//!
//! A parameter a run does not have (`sweepd.conditions`) sits at
//! [`Dim::absent`]: below the range for a number (so the model treats it as
//! nowhere near any value, not as one), a level of its own for a categorical.

use serde_json::Value;
use statrs::distribution::{Beta, ContinuousCDF, Normal};

use crate::spec::{Distribution, Num};
use crate::value::{identity, whole_number};

use super::super::sample::{float, quantize, weighted_index};
use super::super::{ParamSet, Space};

/// How far into the tails a normal or beta coordinate reaches: the CDF is
/// clamped to [EDGE, 1 - EDGE] (about ±4.75 sigma for a normal).
const EDGE: f64 = 1e-6;

/// How a number maps to [0, 1] and back.
#[derive(Debug, Clone)]
pub(super) enum Scale {
    /// `lo + u (hi - lo)`.
    Linear { lo: f64, hi: f64 },
    /// `exp(lo + u (hi - lo))`: bounds are natural-log exponents; values
    /// are kept within `range` (exp rounds past the `_values` bounds).
    Log { lo: f64, hi: f64, range: (f64, f64) },
    /// `exp(-(lo + u (hi - lo)))`: W&B's inv_log_uniform.
    NegLog { lo: f64, hi: f64, range: (f64, f64) },
    /// Through the normal CDF; `log` for log_normal (of the value's log).
    Normal { normal: Normal, log: bool },
    /// Through the beta CDF.
    Beta(Beta),
}

#[derive(Debug, Clone)]
pub(super) enum Kind {
    /// A number; `q` rounds it on the way out, as W&B's q_ distributions do.
    Number { scale: Scale, q: Option<Num> },
    /// `lo..lo + levels`, one cell of [0, 1] each.
    Integer { lo: i64, levels: u64 },
    /// Levels compared for equality. `keys` are the values' identities;
    /// `weights` are the probabilities for the initial design, if given.
    Categorical {
        values: Vec<Value>,
        keys: Vec<String>,
        weights: Option<Vec<f64>>,
    },
}

#[derive(Debug, Clone)]
pub(super) struct Dim {
    /// Index into the space's leaves.
    pub leaf: usize,
    pub kind: Kind,
}

/// Where a number's coordinate sits when the run does not have it.
pub(super) const ABSENT: f64 = -1.0;

impl Dim {
    /// The coordinate of a run that does not have this parameter.
    pub fn absent(&self) -> f64 {
        match &self.kind {
            Kind::Categorical { values, .. } => values.len() as f64,
            _ => ABSENT,
        }
    }

    pub fn is_categorical(&self) -> bool {
        matches!(self.kind, Kind::Categorical { .. })
    }

    /// Whether two points that differ here can still be the same run: no for
    /// numbers without `q`, whose proposals are compared within a tolerance.
    pub fn is_discrete(&self) -> bool {
        !matches!(self.kind, Kind::Number { q: None, .. })
    }

    /// How many distinct values this coordinate can take, if countable.
    pub fn levels(&self) -> Option<u64> {
        match &self.kind {
            Kind::Integer { levels, .. } => Some(*levels),
            Kind::Categorical { values, .. } => Some(values.len() as u64),
            Kind::Number { .. } => None,
        }
    }

    /// The coordinate of a value a run had, or `None` if it cannot be one of
    /// this parameter's values (a category not listed, a string for a number).
    pub fn encode(&self, value: &Value) -> Option<f64> {
        match &self.kind {
            Kind::Categorical { keys, .. } => {
                let key = identity(value);
                keys.iter().position(|k| *k == key).map(|i| i as f64)
            }
            Kind::Integer { lo, levels } => {
                let v = whole_number(value)?;
                let cell = (i128::from(v) - i128::from(*lo)) as f64;
                (cell >= 0.0 && cell < *levels as f64).then(|| (cell + 0.5) / *levels as f64)
            }
            Kind::Number { scale, q } => {
                // Booleans are not numbers here (W&B reads them as 0 and 1).
                let x = value.as_f64().filter(|_| !value.is_boolean())?;
                scale.to_unit(x).or_else(|| {
                    // A q step can round the bottom of a log range to 0,
                    // which has no log: it stands for the range's bottom.
                    (q.is_some() && self.decode(0.0).as_f64() == Some(x)).then_some(0.0)
                })
            }
        }
    }

    /// The value a coordinate stands for.
    pub fn decode(&self, u: f64) -> Value {
        match &self.kind {
            Kind::Categorical { values, .. } => values[level(u, values.len())].clone(),
            Kind::Integer { lo, levels } => {
                let cell = (u.clamp(0.0, 1.0) * *levels as f64).floor() as u64;
                let cell = cell.min(levels - 1);
                Value::from((i128::from(*lo) + i128::from(cell)) as i64)
            }
            Kind::Number { scale, q } => {
                let x = scale.value_at(u.clamp(0.0, 1.0));
                match q {
                    Some(q) => quantize(x, *q),
                    None => float(x),
                }
            }
        }
    }

    /// The coordinate a proposal really lands on: integers at their cell's
    /// centre, categoricals on a level, q-steps on their step.
    pub fn snap(&self, u: f64) -> f64 {
        match &self.kind {
            Kind::Number { q: None, .. } => u.clamp(0.0, 1.0),
            _ => self.encode(&self.decode(u)).unwrap_or(u),
        }
    }

    /// A coordinate for the initial design from a stratified `u` in [0, 1).
    pub fn design(&self, u: f64) -> f64 {
        match &self.kind {
            Kind::Categorical {
                weights: Some(w), ..
            } => weighted_index(w, u) as f64,
            _ => self.snap(u),
        }
    }
}

/// The level a categorical coordinate holds.
pub(super) fn level(u: f64, levels: usize) -> usize {
    (u.round().max(0.0) as usize).min(levels - 1)
}

impl Scale {
    fn to_unit(&self, x: f64) -> Option<f64> {
        let u = match self {
            Scale::Linear { lo, hi } => span(x, *lo, *hi),
            Scale::Log { lo, hi, .. } => span(positive(x)?.ln(), *lo, *hi),
            Scale::NegLog { lo, hi, .. } => span(-positive(x)?.ln(), *lo, *hi),
            Scale::Normal { normal, log } => {
                let x = if *log { positive(x)?.ln() } else { x };
                normal.cdf(x)
            }
            Scale::Beta(beta) => beta.cdf(x),
        };
        u.is_finite().then(|| u.clamp(0.0, 1.0))
    }

    fn value_at(&self, u: f64) -> f64 {
        match self {
            Scale::Linear { lo, hi } => (lo + u * (hi - lo)).clamp(*lo, *hi),
            Scale::Log { lo, hi, range } => (lo + u * (hi - lo)).exp().clamp(range.0, range.1),
            Scale::NegLog { lo, hi, range } => {
                (-(lo + u * (hi - lo))).exp().clamp(range.0, range.1)
            }
            Scale::Normal { normal, log } => {
                let x = normal.inverse_cdf(u.clamp(EDGE, 1.0 - EDGE));
                if *log { x.exp() } else { x }
            }
            Scale::Beta(beta) => beta.inverse_cdf(u.clamp(EDGE, 1.0 - EDGE)),
        }
    }
}

fn span(x: f64, lo: f64, hi: f64) -> f64 {
    if hi > lo { (x - lo) / (hi - lo) } else { 0.5 }
}

fn positive(x: f64) -> Option<f64> {
    (x > 0.0).then_some(x)
}

/// The searched coordinates of a sweep's space, and its constants.
#[derive(Debug, Clone)]
pub(super) struct Encoding {
    pub space: Space,
    pub dims: Vec<Dim>,
    constants: Vec<(usize, Value)>,
}

impl Encoding {
    pub fn new(space: Space) -> Self {
        let mut dims = Vec::new();
        let mut constants = Vec::new();
        for (i, leaf) in space.leaves.iter().enumerate() {
            match kind(&leaf.distribution) {
                Ok(kind) => dims.push(Dim { leaf: i, kind }),
                Err(value) => constants.push((i, value)),
            }
        }
        Self {
            space,
            dims,
            constants,
        }
    }

    /// Which coordinates are categorical (compared for equality only).
    pub fn categorical(&self) -> Vec<bool> {
        self.dims.iter().map(Dim::is_categorical).collect()
    }

    /// A run's parameters as a point, or `None` when one of its values is
    /// not a value of the space (the file was edited, a value was typed in).
    pub fn encode(&self, params: &ParamSet) -> Option<Vec<f64>> {
        self.dims
            .iter()
            .map(|dim| {
                let path = &self.space.leaves[dim.leaf].path;
                match Space::lookup(params, path) {
                    Some(value) => dim.encode(value),
                    None if self.space.is_conditional_leaf(dim.leaf) => Some(dim.absent()),
                    None => None,
                }
            })
            .collect()
    }

    /// A point as a run's parameters, constants included, those the run
    /// does not have left out.
    pub fn decode(&self, point: &[f64]) -> ParamSet {
        self.space.assemble(self.values(point))
    }

    /// One value per leaf.
    fn values(&self, point: &[f64]) -> Vec<Value> {
        let mut values = vec![Value::Null; self.space.leaves.len()];
        for (dim, &u) in self.dims.iter().zip(point) {
            values[dim.leaf] = dim.decode(u);
        }
        for (i, value) in &self.constants {
            values[*i] = value.clone();
        }
        values
    }

    /// Put every coordinate of a parameter the point's run does not have at
    /// its absent place, and give those it has but that sit there a value
    /// (the middle of the range, the first level). Nothing to do for a
    /// space without conditions.
    pub fn settle(&self, point: &mut [f64]) {
        if !self.space.is_conditional() {
            return;
        }
        for (u, dim) in point.iter_mut().zip(&self.dims) {
            if *u == dim.absent() {
                *u = match dim.kind {
                    Kind::Categorical { .. } => 0.0,
                    _ => dim.snap(0.5),
                };
            }
        }
        let active = self.space.active(&self.values(point));
        for (u, dim) in point.iter_mut().zip(&self.dims) {
            if !active[dim.leaf] {
                *u = dim.absent();
            }
        }
    }

    /// Whether a settled point's run keeps every constraint.
    pub fn feasible(&self, point: &[f64]) -> bool {
        if !self.space.is_constrained() {
            return true;
        }
        let values = self.values(point);
        let active = self.space.active(&values);
        self.space.satisfies(&values, &active)
    }

    /// Whether the space has conditions or constraints, which proposals
    /// must settle and check.
    pub fn is_structured(&self) -> bool {
        self.space.is_conditional() || self.space.is_constrained()
    }

    /// Point number `i` of a countable space (mixed radix, the last
    /// coordinate fastest).
    pub fn point_number(&self, mut i: u64) -> Vec<f64> {
        let mut point = vec![0.0; self.dims.len()];
        for (k, dim) in self.dims.iter().enumerate().rev() {
            let levels = dim.levels().expect("a countable space");
            let level = i % levels;
            i /= levels;
            point[k] = match dim.kind {
                Kind::Integer { .. } => (level as f64 + 0.5) / levels as f64,
                _ => level as f64,
            };
        }
        point
    }

    /// How many distinct points there are, when every coordinate is
    /// countable (saturating).
    pub fn finite_size(&self) -> Option<u128> {
        self.dims.iter().try_fold(1u128, |acc, dim| {
            Some(acc.saturating_mul(u128::from(dim.levels()?)))
        })
    }
}

/// The coordinate for a distribution, or the constant it always gives.
fn kind(distribution: &Distribution) -> Result<Kind, Value> {
    use Distribution as D;
    let number = |scale, q| Ok(Kind::Number { scale, q });
    match distribution {
        D::Constant { value } => Err(value.clone()),
        D::Categorical { values } => categorical(values, None),
        D::CategoricalWithProbabilities {
            values,
            probabilities,
        } => categorical(values, Some(probabilities)),
        D::IntUniform { min, max } if min == max => Err(Value::from(*min)),
        D::IntUniform { min, max } => Ok(Kind::Integer {
            lo: *min,
            levels: (i128::from(*max) - i128::from(*min) + 1).min(i128::from(u64::MAX)) as u64,
        }),
        D::Uniform { min, max } => number(linear(*min, *max), None),
        D::QUniform { min, max, q } => number(linear(min.as_f64(), max.as_f64()), Some(*q)),
        D::LogUniform { min, max } => number(log_exponents(*min, *max), None),
        D::LogUniformValues { min, max } => number(log_values(*min, *max), None),
        D::QLogUniform { min, max, q } => number(log_exponents(*min, *max), Some(*q)),
        D::QLogUniformValues { min, max, q } => number(log_values(*min, *max), Some(*q)),
        D::InvLogUniform { min, max } => number(
            Scale::NegLog {
                lo: *min,
                hi: *max,
                range: ((-max).exp(), (-min).exp()),
            },
            None,
        ),
        D::InvLogUniformValues { min, max } => number(
            Scale::NegLog {
                lo: -max.ln(),
                hi: -min.ln(),
                range: (*min, *max),
            },
            None,
        ),
        D::Normal { mu, sigma } => number(normal(*mu, *sigma, false), None),
        D::QNormal { mu, sigma, q } => number(normal(*mu, *sigma, false), Some(*q)),
        D::LogNormal { mu, sigma } => number(normal(*mu, *sigma, true), None),
        D::QLogNormal { mu, sigma, q } => number(normal(*mu, *sigma, true), Some(*q)),
        D::Beta { a, b } => number(beta(*a, *b), None),
        D::QBeta { a, b, q } => number(beta(*a, *b), Some(*q)),
    }
}

fn linear(lo: f64, hi: f64) -> Scale {
    Scale::Linear { lo, hi }
}

fn log_values(min: f64, max: f64) -> Scale {
    Scale::Log {
        lo: min.ln(),
        hi: max.ln(),
        range: (min, max),
    }
}

fn log_exponents(lo: f64, hi: f64) -> Scale {
    Scale::Log {
        lo,
        hi,
        range: (lo.exp(), hi.exp()),
    }
}

fn normal(mu: f64, sigma: f64, log: bool) -> Scale {
    // The spec guarantees a finite mu and sigma > 0.
    let normal = Normal::new(mu, sigma).expect("checked normal");
    Scale::Normal { normal, log }
}

fn beta(a: f64, b: f64) -> Scale {
    Scale::Beta(Beta::new(a, b).expect("checked beta"))
}

/// Levels that can be drawn (probability above 0); one level is a constant.
fn categorical(values: &[Value], probabilities: Option<&Vec<f64>>) -> Result<Kind, Value> {
    let mut kept = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut weights = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let p = probabilities.map_or(1.0, |p| p[i]);
        let key = identity(value);
        if p > 0.0 && !keys.contains(&key) {
            kept.push(value.clone());
            keys.push(key);
            weights.push(p);
        }
    }
    if kept.len() == 1 {
        return Err(kept.remove(0));
    }
    let weights = probabilities.map(|_| {
        let total: f64 = weights.iter().sum();
        weights.iter().map(|w| w / total).collect()
    });
    Ok(Kind::Categorical {
        values: kept,
        keys,
        weights,
    })
}
