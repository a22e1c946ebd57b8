//! The names of the distributions and the keys each takes.

use std::fmt;

/// The name of a distribution, as written after `distribution:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Constant,
    Categorical,
    CategoricalWithProbabilities,
    IntUniform,
    Uniform,
    QUniform,
    LogUniform,
    LogUniformValues,
    QLogUniform,
    QLogUniformValues,
    InvLogUniform,
    InvLogUniformValues,
    Normal,
    QNormal,
    LogNormal,
    QLogNormal,
    Beta,
    QBeta,
}

impl Kind {
    pub const ALL: [Kind; 18] = [
        Kind::Constant,
        Kind::Categorical,
        Kind::CategoricalWithProbabilities,
        Kind::IntUniform,
        Kind::Uniform,
        Kind::QUniform,
        Kind::LogUniform,
        Kind::LogUniformValues,
        Kind::QLogUniform,
        Kind::QLogUniformValues,
        Kind::InvLogUniform,
        Kind::InvLogUniformValues,
        Kind::Normal,
        Kind::QNormal,
        Kind::LogNormal,
        Kind::QLogNormal,
        Kind::Beta,
        Kind::QBeta,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Constant => "constant",
            Kind::Categorical => "categorical",
            Kind::CategoricalWithProbabilities => "categorical_w_probabilities",
            Kind::IntUniform => "int_uniform",
            Kind::Uniform => "uniform",
            Kind::QUniform => "q_uniform",
            Kind::LogUniform => "log_uniform",
            Kind::LogUniformValues => "log_uniform_values",
            Kind::QLogUniform => "q_log_uniform",
            Kind::QLogUniformValues => "q_log_uniform_values",
            Kind::InvLogUniform => "inv_log_uniform",
            Kind::InvLogUniformValues => "inv_log_uniform_values",
            Kind::Normal => "normal",
            Kind::QNormal => "q_normal",
            Kind::LogNormal => "log_normal",
            Kind::QLogNormal => "q_log_normal",
            Kind::Beta => "beta",
            Kind::QBeta => "q_beta",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The keys this distribution takes, besides `distribution`.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Constant => &["value"],
            Kind::Categorical => &["values"],
            Kind::CategoricalWithProbabilities => &["values", "probabilities"],
            Kind::IntUniform
            | Kind::Uniform
            | Kind::LogUniform
            | Kind::LogUniformValues
            | Kind::InvLogUniform
            | Kind::InvLogUniformValues => &["min", "max"],
            Kind::QUniform | Kind::QLogUniform | Kind::QLogUniformValues => &["min", "max", "q"],
            Kind::Normal | Kind::LogNormal => &["mu", "sigma"],
            Kind::QNormal | Kind::QLogNormal => &["mu", "sigma", "q"],
            Kind::Beta => &["a", "b"],
            Kind::QBeta => &["a", "b", "q"],
        }
    }

    /// The keys without a default.
    pub(crate) fn required(self) -> &'static [&'static str] {
        match self {
            Kind::Constant => &["value"],
            Kind::Categorical => &["values"],
            Kind::CategoricalWithProbabilities => &["values", "probabilities"],
            Kind::Normal
            | Kind::QNormal
            | Kind::LogNormal
            | Kind::QLogNormal
            | Kind::Beta
            | Kind::QBeta => &[],
            _ => &["min", "max"],
        }
    }

    /// The non-deprecated distribution that replaces a deprecated exponent form.
    pub fn replacement(self) -> Option<Kind> {
        match self {
            Kind::LogUniform => Some(Kind::LogUniformValues),
            Kind::QLogUniform => Some(Kind::QLogUniformValues),
            Kind::InvLogUniform => Some(Kind::InvLogUniformValues),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
