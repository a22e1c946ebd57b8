//! Random search, tested statistically: 10,000 seeded draws per distribution,
//! checked for bounds, types and rounding, and against the distribution's CDF
//! (Kolmogorov-Smirnov for continuous draws, chi-square for discrete ones).
//! The draws are seeded, so each test is exact and repeatable; the critical
//! values are those of a 1% (KS) and 0.1% (chi-square) test, so a sampler with
//! the wrong shape, range or weights fails them.

use std::collections::BTreeMap;

use serde_json::Value;
use statrs::distribution::{Beta, ChiSquared, ContinuousCDF, LogNormal, Normal};

use super::Random;
use crate::search::{History, Search};
use crate::spec::{Format, check};

const N: u64 = 10_000;
const SEED: u64 = 20_261_128;

fn random(body: &str, seed: u64) -> Random {
    let text = format!("method: random\nprogram: p\nparameters:\n  x: {body}\n");
    let spec = check(&text, Format::Yaml).spec.expect("valid sweep");
    Random::new(&spec, seed)
}

/// N draws of parameter `x`.
fn draws(body: &str) -> Vec<Value> {
    let r = random(body, SEED);
    (0..N).map(|i| r.draw(i)["x"].clone()).collect()
}

fn floats(values: &[Value]) -> Vec<f64> {
    values
        .iter()
        .map(|v| {
            assert!(v.is_f64(), "{v} should be a float");
            v.as_f64().unwrap()
        })
        .collect()
}

fn ints(values: &[Value]) -> Vec<i64> {
    values
        .iter()
        .map(|v| {
            v.as_i64()
                .unwrap_or_else(|| panic!("{v} should be an integer"))
        })
        .collect()
}

/// Kolmogorov-Smirnov: the largest gap between the empirical CDF and `cdf`
/// stays under the 1% critical value 1.63/sqrt(N).
fn assert_ks(mut sample: Vec<f64>, cdf: impl Fn(f64) -> f64) {
    sample.sort_by(f64::total_cmp);
    let n = sample.len() as f64;
    let d = sample
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let f = cdf(x);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max);
    let critical = 1.63 / n.sqrt();
    assert!(d < critical, "KS distance {d:.4} >= {critical:.4}");
}

/// Chi-square of the observed counts of each key against expected
/// probabilities; keys not in `expected` must not occur at all.
fn assert_frequencies<K: Ord + std::fmt::Debug + Clone>(sample: &[K], expected: &[(K, f64)]) {
    let mut counts: BTreeMap<K, u64> = BTreeMap::new();
    for k in sample {
        *counts.entry(k.clone()).or_default() += 1;
    }
    for k in counts.keys() {
        let p = expected
            .iter()
            .find(|(e, _)| e == k)
            .map_or(0.0, |(_, p)| *p);
        assert!(p > 0.0, "{k:?} occurred but has probability 0");
    }
    let n = sample.len() as f64;
    let cells: Vec<(f64, f64)> = expected
        .iter()
        .filter(|(_, p)| *p > 0.0)
        .map(|(k, p)| (counts.get(k).copied().unwrap_or(0) as f64, p * n))
        .collect();
    let stat: f64 = cells.iter().map(|(o, e)| (o - e).powi(2) / e).sum();
    let df = (cells.len() - 1) as f64;
    let critical = ChiSquared::new(df).unwrap().inverse_cdf(0.999);
    assert!(
        stat < critical,
        "chi-square {stat:.2} >= {critical:.2} (df {df}); counts {counts:?}"
    );
}

/// P(round(X / q) * q == v) for each v, from X's CDF.
fn rounded(cdf: impl Fn(f64) -> f64, values: &[f64], q: f64) -> Vec<(i64, f64)> {
    values
        .iter()
        .map(|&v| ((v / q).round() as i64, cdf(v + q / 2.0) - cdf(v - q / 2.0)))
        .collect()
}

fn uniform_cdf(min: f64, max: f64) -> impl Fn(f64) -> f64 {
    move |x| ((x - min) / (max - min)).clamp(0.0, 1.0)
}

#[test]
fn constant_is_constant() {
    assert!(
        draws("{value: {a: [1, 2]}}")
            .iter()
            .all(|v| *v == serde_json::json!({"a": [1, 2]}))
    );
}

#[test]
fn categorical_picks_each_value_equally() {
    let sample = draws("{values: [adam, sgd, 3]}");
    let expected = [
        ("\"adam\"", 1.0 / 3.0),
        ("\"sgd\"", 1.0 / 3.0),
        ("3", 1.0 / 3.0),
    ]
    .map(|(k, p)| (k.to_owned(), p));
    let keys: Vec<String> = sample.iter().map(Value::to_string).collect();
    assert_frequencies(&keys, &expected);
}

#[test]
fn categorical_w_probabilities_follows_the_weights() {
    let sample = draws("{values: [a, b, c, d], probabilities: [0.1, 0.0, 0.6, 0.3]}");
    let keys: Vec<String> = sample
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let expected = [("a", 0.1), ("b", 0.0), ("c", 0.6), ("d", 0.3)].map(|(k, p)| (k.to_owned(), p));
    assert_frequencies(&keys, &expected);
}

#[test]
fn int_uniform_includes_both_ends() {
    let sample = ints(&draws("{min: -2, max: 3}"));
    let expected: Vec<(i64, f64)> = (-2..=3).map(|k| (k, 1.0 / 6.0)).collect();
    assert_frequencies(&sample, &expected);
}

#[test]
fn uniform_spans_min_to_max() {
    let sample = floats(&draws("{min: 0, max: 0.1}"));
    assert!(sample.iter().all(|x| (0.0..0.1).contains(x)));
    assert_ks(sample, uniform_cdf(0.0, 0.1));
}

#[test]
fn q_uniform_rounds_half_to_even_multiples_of_q() {
    // Integer q: integers. round(U(0, 10) / 3) * 3 gives 0, 3, 6, 9.
    let sample = ints(&draws("{distribution: q_uniform, min: 0, max: 10, q: 3}"));
    assert_frequencies(&sample, &[(0, 0.15), (3, 0.3), (6, 0.3), (9, 0.25)]);
    // Float q: floats, and max itself can come out (rounding up).
    let sample = floats(&draws("{distribution: q_uniform, min: 0, max: 2, q: 0.5}"));
    let steps: Vec<i64> = sample.iter().map(|x| (x / 0.5).round() as i64).collect();
    assert!(
        sample
            .iter()
            .all(|x| ((x / 0.5).round() * 0.5 - x).abs() < 1e-12)
    );
    assert_frequencies(
        &steps,
        &[(0, 0.125), (1, 0.25), (2, 0.25), (3, 0.25), (4, 0.125)],
    );
}

#[test]
fn log_uniform_values_is_uniform_in_log_space() {
    let sample = floats(&draws(
        "{distribution: log_uniform_values, min: 1.0e-5, max: 0.1}",
    ));
    assert!(sample.iter().all(|x| (1e-5..=0.1).contains(x)));
    assert_ks(
        sample.iter().map(|x| x.ln()).collect(),
        uniform_cdf(1e-5f64.ln(), 0.1f64.ln()),
    );
}

#[test]
fn log_uniform_bounds_are_exponents() {
    let sample = floats(&draws("{distribution: log_uniform, min: -5, max: 0}"));
    assert!(sample.iter().all(|x| ((-5f64).exp()..=1.0).contains(x)));
    assert_ks(
        sample.iter().map(|x| x.ln()).collect(),
        uniform_cdf(-5.0, 0.0),
    );
}

#[test]
fn inv_log_uniform_values_has_log_of_the_inverse_uniform() {
    let sample = floats(&draws(
        "{distribution: inv_log_uniform_values, min: 0.1, max: 1}",
    ));
    assert!(sample.iter().all(|x| (0.1..=1.0).contains(x)));
    assert_ks(
        sample.iter().map(|x| (1.0 / x).ln()).collect(),
        uniform_cdf(0.0, 10f64.ln()),
    );
}

#[test]
fn inv_log_uniform_is_exp_of_minus_uniform_exponents() {
    let sample = floats(&draws("{distribution: inv_log_uniform, min: 0, max: 3}"));
    assert!(sample.iter().all(|x| ((-3f64).exp()..=1.0).contains(x)));
    assert_ks(
        sample.iter().map(|x| -x.ln()).collect(),
        uniform_cdf(0.0, 3.0),
    );
}

#[test]
fn q_log_uniform_values_is_the_tutorial_batch_size() {
    let sample = ints(&draws(
        "{distribution: q_log_uniform_values, q: 8, min: 32, max: 256}",
    ));
    assert!(sample.iter().all(|x| x % 8 == 0 && (32..=256).contains(x)));
    let (lo, hi) = (32f64.ln(), 256f64.ln());
    let cdf = |x: f64| ((x.max(1e-300).ln() - lo) / (hi - lo)).clamp(0.0, 1.0);
    let values: Vec<f64> = (4..=32).map(|k| f64::from(k) * 8.0).collect();
    let expected: Vec<(i64, f64)> = rounded(cdf, &values, 8.0)
        .into_iter()
        .map(|(k, p)| (k * 8, p))
        .collect();
    assert_frequencies(&sample, &expected);
}

#[test]
fn q_log_uniform_rounds_exp_of_exponents_to_floats_by_default() {
    // q defaults to 1.0, a float, as in W&B: the values are whole floats.
    let sample = floats(&draws("{distribution: q_log_uniform, min: 0, max: 3}"));
    assert!(
        sample
            .iter()
            .all(|x| x.fract() == 0.0 && (1.0..=20.0).contains(x))
    );
    let cdf = |x: f64| (x.max(1e-300).ln() / 3.0).clamp(0.0, 1.0);
    let values: Vec<f64> = (1..=20).map(f64::from).collect();
    let steps: Vec<i64> = sample.iter().map(|x| *x as i64).collect();
    assert_frequencies(&steps, &rounded(cdf, &values, 1.0));
}

#[test]
fn normal_has_mean_mu_and_deviation_sigma() {
    let sample = floats(&draws("{distribution: normal, mu: 5, sigma: 2}"));
    // Four standard errors of the mean and of the deviation.
    let n = sample.len() as f64;
    let mean = sample.iter().sum::<f64>() / n;
    let sd = (sample.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    assert!((mean - 5.0).abs() < 4.0 * 2.0 / n.sqrt(), "mean {mean}");
    assert!((sd - 2.0).abs() < 4.0 * 2.0 / (2.0 * n).sqrt(), "sd {sd}");
    let normal = Normal::new(5.0, 2.0).unwrap();
    assert_ks(sample, |x| normal.cdf(x));
}

#[test]
fn q_normal_rounds_to_integer_multiples_of_an_integer_q() {
    let sample = ints(&draws("{distribution: q_normal, mu: 0, sigma: 3, q: 2}"));
    assert!(sample.iter().all(|x| x % 2 == 0));
    let normal = Normal::new(0.0, 3.0).unwrap();
    // Pool the tails beyond ±8 into their edge cells.
    let clipped: Vec<i64> = sample.iter().map(|x| (*x).clamp(-8, 8)).collect();
    let expected: Vec<(i64, f64)> = (-4..=4)
        .map(|k| {
            let v = f64::from(2 * k);
            let lo = if k == -4 { f64::NEG_INFINITY } else { v - 1.0 };
            let hi = if k == 4 { f64::INFINITY } else { v + 1.0 };
            (i64::from(2 * k), normal.cdf(hi) - normal.cdf(lo))
        })
        .collect();
    assert_frequencies(&clipped, &expected);
}

#[test]
fn log_normal_is_exp_of_a_normal() {
    let sample = floats(&draws("{distribution: log_normal, mu: 0, sigma: 0.5}"));
    assert!(sample.iter().all(|x| *x > 0.0));
    let log_normal = LogNormal::new(0.0, 0.5).unwrap();
    assert_ks(sample, |x| log_normal.cdf(x));
}

#[test]
fn q_log_normal_rounds_a_log_normal() {
    let sample = ints(&draws(
        "{distribution: q_log_normal, mu: 2, sigma: 0.3, q: 1}",
    ));
    let log_normal = LogNormal::new(2.0, 0.3).unwrap();
    let clipped: Vec<i64> = sample.iter().map(|x| (*x).clamp(4, 12)).collect();
    let expected: Vec<(i64, f64)> = (4..=12)
        .map(|k| {
            let lo = if k == 4 { 0.0 } else { k as f64 - 0.5 };
            let hi = if k == 12 {
                f64::INFINITY
            } else {
                k as f64 + 0.5
            };
            (k, log_normal.cdf(hi) - log_normal.cdf(lo))
        })
        .collect();
    assert_frequencies(&clipped, &expected);
}

#[test]
fn beta_lies_in_the_unit_interval_with_its_shape() {
    let sample = floats(&draws("{distribution: beta, a: 2, b: 5}"));
    assert!(sample.iter().all(|x| (0.0..=1.0).contains(x)));
    let beta = Beta::new(2.0, 5.0).unwrap();
    assert_ks(sample, |x| beta.cdf(x));
}

#[test]
fn q_beta_rounds_to_multiples_of_q() {
    let sample = floats(&draws("{distribution: q_beta, a: 2, b: 2, q: 0.25}"));
    let beta = Beta::new(2.0, 2.0).unwrap();
    let cdf = |x: f64| beta.cdf(x.clamp(0.0, 1.0));
    let steps: Vec<i64> = sample.iter().map(|x| (x / 0.25).round() as i64).collect();
    assert_frequencies(&steps, &rounded(cdf, &[0.0, 0.25, 0.5, 0.75, 1.0], 0.25));
}

#[test]
fn nested_parameters_are_drawn_into_nested_objects() {
    let text = "method: random\nprogram: p\nparameters:\n  opt:\n    parameters:\n      lr: {min: 0.0, max: 1.0}\n      name: {values: [adam]}\n";
    let spec = check(text, Format::Yaml).spec.unwrap();
    let run = Random::new(&spec, 1).draw(0);
    assert_eq!(run["opt"]["name"], "adam");
    assert!(run["opt"]["lr"].is_f64());
}

#[test]
fn the_same_seed_gives_the_same_runs_and_another_seed_others() {
    let body = "{min: 0.0, max: 1.0}";
    let (a, b, c) = (random(body, 7), random(body, 7), random(body, 8));
    let first: Vec<_> = (0..100).map(|i| a.draw(i)).collect();
    assert_eq!(first, (0..100).map(|i| b.draw(i)).collect::<Vec<_>>());
    let other: Vec<_> = (0..100).map(|i| c.draw(i)).collect();
    assert!(first.iter().zip(&other).all(|(x, y)| x != y));
}

#[test]
fn a_proposal_depends_on_the_number_of_runs_so_far() {
    let mut r = random("{values: [1, 2, 3, 4, 5, 6, 7, 8]}", 3);
    let mut history = History::default();
    let mut proposed = Vec::new();
    for _ in 0..20 {
        let next = r.propose(&history).unwrap().unwrap();
        proposed.push(next.clone());
        history = History::of_params(proposed.clone());
    }
    // A restarted daemon with the same history asks the same question and gets
    // the same answer: run i is draw(i).
    for (i, params) in proposed.iter().enumerate() {
        assert_eq!(*params, r.draw(i as u64));
    }
    assert!(proposed.windows(2).any(|w| w[0] != w[1]));
}
