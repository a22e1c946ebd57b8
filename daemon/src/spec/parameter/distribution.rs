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

    /// Whether a grid can list this parameter's values (W&B: categorical,
    /// constant, int_uniform, q_uniform).
    pub fn is_grid_enumerable(&self) -> bool {
        matches!(
            self.kind(),
            Kind::Constant | Kind::Categorical | Kind::IntUniform | Kind::QUniform
        )
    }
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
