//! A parameter's distribution, checked and with W&B's defaults filled in.

use std::fmt;

use super::Kind;
use crate::spec::number::Num;

/// One parameter's distribution with W&B's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub enum Distribution {
    Constant {
        value: serde_json::Value,
    },
    Categorical {
        values: Vec<serde_json::Value>,
    },
    CategoricalWithProbabilities {
        values: Vec<serde_json::Value>,
        probabilities: Vec<f64>,
    },
    IntUniform {
        min: i64,
        max: i64,
    },
    Uniform {
        min: f64,
        max: f64,
    },
    QUniform {
        min: Num,
        max: Num,
        q: Num,
    },
    /// Deprecated: `min` and `max` are natural-log exponents.
    LogUniform {
        min: f64,
        max: f64,
    },
    LogUniformValues {
        min: f64,
        max: f64,
    },
    /// Deprecated: exponents.
    QLogUniform {
        min: f64,
        max: f64,
        q: Num,
    },
    QLogUniformValues {
        min: f64,
        max: f64,
        q: Num,
    },
    /// Deprecated: exponents; the value is `exp(-U(min, max))`.
    InvLogUniform {
        min: f64,
        max: f64,
    },
    InvLogUniformValues {
        min: f64,
        max: f64,
    },
    Normal {
        mu: f64,
        sigma: f64,
    },
    QNormal {
        mu: f64,
        sigma: f64,
        q: Num,
    },
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    QLogNormal {
        mu: f64,
        sigma: f64,
        q: Num,
    },
    Beta {
        a: f64,
        b: f64,
    },
    QBeta {
        a: f64,
        b: f64,
        q: Num,
    },
}

impl Distribution {
    pub fn kind(&self) -> Kind {
        match self {
            Distribution::Constant { .. } => Kind::Constant,
            Distribution::Categorical { .. } => Kind::Categorical,
            Distribution::CategoricalWithProbabilities { .. } => Kind::CategoricalWithProbabilities,
            Distribution::IntUniform { .. } => Kind::IntUniform,
            Distribution::Uniform { .. } => Kind::Uniform,
            Distribution::QUniform { .. } => Kind::QUniform,
            Distribution::LogUniform { .. } => Kind::LogUniform,
            Distribution::LogUniformValues { .. } => Kind::LogUniformValues,
            Distribution::QLogUniform { .. } => Kind::QLogUniform,
            Distribution::QLogUniformValues { .. } => Kind::QLogUniformValues,
            Distribution::InvLogUniform { .. } => Kind::InvLogUniform,
            Distribution::InvLogUniformValues { .. } => Kind::InvLogUniformValues,
            Distribution::Normal { .. } => Kind::Normal,
            Distribution::QNormal { .. } => Kind::QNormal,
            Distribution::LogNormal { .. } => Kind::LogNormal,
            Distribution::QLogNormal { .. } => Kind::QLogNormal,
            Distribution::Beta { .. } => Kind::Beta,
            Distribution::QBeta { .. } => Kind::QBeta,
        }
    }

    /// The values a grid takes for this parameter, in W&B's order, or why a
    /// grid cannot take it.
    pub fn grid_axis(&self) -> Result<GridAxis<'_>, NotListable> {
        match self {
            Distribution::Constant { value } => Ok(GridAxis::Constant(value)),
            Distribution::Categorical { values } => Ok(GridAxis::Values(values)),
            Distribution::IntUniform { min, max } => Ok(GridAxis::Ints {
                start: *min,
                step: 1,
                len: (i128::from(*max) - i128::from(*min) + 1) as u128,
            }),
            Distribution::QUniform { min, max, q } => arange(*min, *max, *q),
            Distribution::CategoricalWithProbabilities { .. } => Err(NotListable::Weighted),
            _ => Err(NotListable::Continuous),
        }
    }
}

/// What a grid runs for one parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum GridAxis<'a> {
    /// The same value in every run.
    Constant(&'a serde_json::Value),
    /// The listed values, in order (equal ones not yet collapsed).
    Values(&'a [serde_json::Value]),
    /// `start, start + step, ...`, `len` of them: int_uniform, and q_uniform
    /// with integer bounds and step.
    Ints { start: i64, step: i64, len: u128 },
    /// numpy's `arange` on floats: `start + i * delta` for i below `len`, with
    /// `delta = (start + q) - start` (as numpy computes it).
    Floats { start: f64, delta: f64, len: u64 },
}

/// Why a grid cannot take a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotListable {
    /// A continuous distribution: infinitely many values.
    Continuous,
    /// categorical_w_probabilities: a grid runs each value once.
    Weighted,
    /// A float q_uniform with more steps than [`MAX_FLOAT_STEPS`] (or more
    /// than numpy could hold).
    TooManySteps,
}

/// A float q_uniform axis has a value per step (numpy lists them all; sweepd
/// computes each from its index); more than a million steps is refused, as a
/// typo in `q` more likely than a grid anyone means to run.
pub const MAX_FLOAT_STEPS: u64 = 1_000_000;

/// numpy's `arange(min, max, q)`: integers when all three are integers
/// (computed exactly), floats otherwise.
fn arange<'a>(min: Num, max: Num, q: Num) -> Result<GridAxis<'a>, NotListable> {
    if let (Num::Int(start), Num::Int(stop), Num::Int(step)) = (min, max, q) {
        let span = i128::from(stop) - i128::from(start);
        let step128 = i128::from(step);
        return Ok(GridAxis::Ints {
            start,
            step,
            len: ((span + step128 - 1) / step128) as u128,
        });
    }
    let (start, stop, step) = (min.as_f64(), max.as_f64(), q.as_f64());
    let steps = ((stop - start) / step).ceil();
    if !steps.is_finite() || steps > MAX_FLOAT_STEPS as f64 {
        return Err(NotListable::TooManySteps);
    }
    Ok(GridAxis::Floats {
        start,
        delta: (start + step) - start,
        len: steps.max(0.0) as u64,
    })
}

/// `uniform(min=0, max=0.1)`, `categorical[adam, sgd]`: the distribution as a person reads it.
impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Distribution as D;
        let kind = self.kind();
        let list = |values: &[serde_json::Value]| {
            values
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            D::Constant { value } => write!(f, "constant {value}"),
            D::Categorical { values } => write!(f, "{kind}[{}]", list(values)),
            D::CategoricalWithProbabilities {
                values,
                probabilities,
            } => {
                let pairs: Vec<String> = values
                    .iter()
                    .zip(probabilities)
                    .map(|(v, p)| format!("{v}: {p}"))
                    .collect();
                write!(f, "{kind}[{}]", pairs.join(", "))
            }
            D::IntUniform { min, max } => write!(f, "{kind}(min={min}, max={max})"),
            D::QUniform { min, max, q } => write!(f, "{kind}(min={min}, max={max}, q={q})"),
            D::Uniform { min, max }
            | D::LogUniform { min, max }
            | D::LogUniformValues { min, max }
            | D::InvLogUniform { min, max }
            | D::InvLogUniformValues { min, max } => write!(f, "{kind}(min={min}, max={max})"),
            D::QLogUniform { min, max, q } | D::QLogUniformValues { min, max, q } => {
                write!(f, "{kind}(min={min}, max={max}, q={q})")
            }
            D::Normal { mu, sigma } | D::LogNormal { mu, sigma } => {
                write!(f, "{kind}(mu={mu}, sigma={sigma})")
            }
            D::QNormal { mu, sigma, q } | D::QLogNormal { mu, sigma, q } => {
                write!(f, "{kind}(mu={mu}, sigma={sigma}, q={q})")
            }
            D::Beta { a, b } => write!(f, "{kind}(a={a}, b={b})"),
            D::QBeta { a, b, q } => write!(f, "{kind}(a={a}, b={b}, q={q})"),
        }
    }
}
