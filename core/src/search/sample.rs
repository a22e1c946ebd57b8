//! Drawing one value from a distribution, with W&B's semantics: the same
//! ranges, the same rounding (`round(x / q) * q`, half to even, an integer
//! when `q` is one), the same treatment of log bounds.

use rand::Rng;
use rand_distr::{Beta, Distribution as _, StandardNormal};
use serde_json::Value;

use crate::spec::{Distribution, Num};

/// One draw.
pub(crate) fn sample<R: Rng + ?Sized>(distribution: &Distribution, rng: &mut R) -> Value {
    use Distribution as D;
    match distribution {
        D::Constant { value } => value.clone(),
        D::Categorical { values } => values[rng.random_range(0..values.len())].clone(),
        D::CategoricalWithProbabilities {
            values,
            probabilities,
        } => values[weighted_index(probabilities, rng.random::<f64>())].clone(),
        D::IntUniform { min, max } => Value::from(rng.random_range(*min..=*max)),
        D::Uniform { min, max } => float(uniform(*min, *max, rng)),
        D::QUniform { min, max, q } => quantize(uniform(min.as_f64(), max.as_f64(), rng), *q),
        D::LogUniform { min, max } => float(uniform(*min, *max, rng).exp()),
        D::LogUniformValues { min, max } => float(uniform(min.ln(), max.ln(), rng).exp()),
        D::QLogUniform { min, max, q } => quantize(uniform(*min, *max, rng).exp(), *q),
        D::QLogUniformValues { min, max, q } => {
            quantize(uniform(min.ln(), max.ln(), rng).exp(), *q)
        }
        D::InvLogUniform { min, max } => float((-uniform(*min, *max, rng)).exp()),
        D::InvLogUniformValues { min, max } => float((-uniform(-max.ln(), -min.ln(), rng)).exp()),
        D::Normal { mu, sigma } => float(normal(*mu, *sigma, rng)),
        D::QNormal { mu, sigma, q } => quantize(normal(*mu, *sigma, rng), *q),
        D::LogNormal { mu, sigma } => float(normal(*mu, *sigma, rng).exp()),
        D::QLogNormal { mu, sigma, q } => quantize(normal(*mu, *sigma, rng).exp(), *q),
        D::Beta { a, b } => float(beta(*a, *b, rng)),
        D::QBeta { a, b, q } => quantize(beta(*a, *b, rng), *q),
    }
}

/// The first index whose cumulative probability exceeds `u`: W&B's inverse
/// CDF, except that a draw above the probabilities' sum (they may sum to
/// 1 - 1e-5) goes to the last value that can be drawn, where W&B takes the
/// first value even if its probability is 0. So a value of probability 0 is
/// never picked.
pub(crate) fn weighted_index(probabilities: &[f64], u: f64) -> usize {
    let mut cumulative = 0.0;
    let mut last_possible = 0;
    for (i, &p) in probabilities.iter().enumerate() {
        cumulative += p;
        if p > 0.0 {
            last_possible = i;
            if u < cumulative {
                return i;
            }
        }
    }
    // The probabilities sum to 1 within 1e-5; a draw above their sum goes to
    // the last value that can be drawn.
    last_possible
}

/// A float in [min, max).
fn uniform<R: Rng + ?Sized>(min: f64, max: f64, rng: &mut R) -> f64 {
    let u: f64 = rng.random();
    let x = min + (max - min) * u;
    if x.is_finite() {
        x
    } else {
        // max - min overflowed (bounds near ±f64::MAX): interpolate instead.
        min * (1.0 - u) + max * u
    }
}

fn normal<R: Rng + ?Sized>(mu: f64, sigma: f64, rng: &mut R) -> f64 {
    let z: f64 = rng.sample(StandardNormal);
    mu + sigma * z
}

fn beta<R: Rng + ?Sized>(a: f64, b: f64, rng: &mut R) -> f64 {
    // The spec guarantees a, b > 0 and finite, which is all Beta::new asks.
    Beta::new(a, b).expect("checked shapes").sample(rng)
}

/// `round(x / q) * q` with numpy's rounding (half to even); an integer when q is.
pub(crate) fn quantize(x: f64, q: Num) -> Value {
    let steps = (x / q.as_f64()).round_ties_even();
    match q {
        Num::Int(q) => {
            let v = steps * q as f64;
            if v.abs() < 9.0e18 {
                Value::from(v as i64)
            } else {
                float(v)
            }
        }
        Num::Float(q) => float(steps * q),
    }
}

/// A float for JSON, which has no infinities. The spec's checks keep draws
/// finite; should one overflow all the same, it saturates at the largest float.
pub(crate) fn float(x: f64) -> Value {
    debug_assert!(!x.is_nan(), "checked distributions never draw NaN");
    Value::from(x.clamp(f64::MIN, f64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_index_is_the_inverse_cdf() {
        let p = [0.2, 0.0, 0.5, 0.3];
        assert_eq!(weighted_index(&p, 0.0), 0);
        assert_eq!(weighted_index(&p, 0.1999), 0);
        assert_eq!(
            weighted_index(&p, 0.2),
            2,
            "a zero-probability value is skipped"
        );
        assert_eq!(weighted_index(&p, 0.69), 2);
        assert_eq!(weighted_index(&p, 0.7), 3);
        assert_eq!(
            weighted_index(&[0.5, 0.49999, 0.0], 0.999995),
            1,
            "past the sum: last possible"
        );
    }

    #[test]
    fn quantize_rounds_half_to_even_and_keeps_integers() {
        assert_eq!(
            quantize(20.0, Num::Int(8)),
            Value::from(16),
            "20/8 = 2.5 rounds to 2"
        );
        assert_eq!(
            quantize(28.0, Num::Int(8)),
            Value::from(32),
            "28/8 = 3.5 rounds to 4"
        );
        assert_eq!(
            quantize(0.26, Num::Float(0.1)),
            Value::from(0.30000000000000004)
        );
        assert_eq!(quantize(3.2, Num::Float(1.0)), Value::from(3.0));
    }
}
