//! The synthetic suite (synth-v1 of docs/bayes.md): each function as a sweep
//! file, so that it goes through the same spec checks and search code as the
//! daemon's sweeps, and its objective on a run's parameters.

use std::f64::consts::{E, PI};

use serde_json::Value;
use sweepd_core::search::ParamSet;

pub struct Function {
    pub name: &'static str,
    pub yaml: String,
    pub objective: fn(&ParamSet) -> f64,
    pub optimum: f64,
}

pub const NAMES: [&str; 10] = [
    "branin",
    "hartmann3",
    "hartmann6",
    "ackley5",
    "levy4",
    "rosen4",
    "branin-int",
    "hartmann6-cat",
    "ackley-mixed",
    "logscale-quad",
];

fn spec(parameters: &[(String, String)]) -> String {
    let mut yaml = String::from(
        "method: bayes\nprogram: bench\nmetric: {name: loss, goal: minimize}\nparameters:\n",
    );
    for (name, p) in parameters {
        yaml.push_str(&format!("  {name}: {p}\n"));
    }
    yaml
}

fn uniform(names: std::ops::Range<usize>, lo: f64, hi: f64) -> Vec<(String, String)> {
    names
        .map(|i| {
            (
                format!("x{i}"),
                format!("{{distribution: uniform, min: {lo:?}, max: {hi:?}}}"),
            )
        })
        .collect()
}

fn int(i: usize, lo: i64, hi: i64) -> (String, String) {
    (
        format!("x{i}"),
        format!("{{distribution: int_uniform, min: {lo}, max: {hi}}}"),
    )
}

fn num(p: &ParamSet, i: usize) -> f64 {
    p[&format!("x{i}")].as_f64().expect("a number")
}

fn text(p: &ParamSet, i: usize) -> &str {
    match &p[&format!("x{i}")] {
        Value::String(s) => s,
        other => panic!("x{i} is not a string: {other}"),
    }
}

fn nums(p: &ParamSet, n: usize) -> Vec<f64> {
    (0..n).map(|i| num(p, i)).collect()
}

pub fn get(name: &str) -> Option<Function> {
    let f = |yaml: String, objective: fn(&ParamSet) -> f64, optimum: f64| {
        let name = NAMES.iter().find(|n| **n == name).expect("known");
        Some(Function {
            name,
            yaml,
            objective,
            optimum,
        })
    };
    let cat = |i: usize, levels: &str| (format!("x{i}"), format!("{{values: [{levels}]}}"));
    match name {
        "branin" => f(
            spec(&[uniform(0..1, -5.0, 10.0), uniform(1..2, 0.0, 15.0)].concat()),
            |p| branin(num(p, 0), num(p, 1)),
            0.397887357729738,
        ),
        "hartmann3" => f(
            spec(&uniform(0..3, 0.0, 1.0)),
            |p| hartmann3(&nums(p, 3)),
            -3.86278214782076,
        ),
        "hartmann6" => f(
            spec(&uniform(0..6, 0.0, 1.0)),
            |p| hartmann6(&nums(p, 6)),
            -3.32236801141551,
        ),
        "ackley5" => f(
            spec(&uniform(0..5, -10.0, 30.0)),
            |p| ackley(&nums(p, 5)),
            0.0,
        ),
        "levy4" => f(
            spec(&uniform(0..4, -10.0, 10.0)),
            |p| levy(&nums(p, 4)),
            0.0,
        ),
        "rosen4" => f(
            spec(&uniform(0..4, -5.0, 10.0)),
            |p| rosenbrock(&nums(p, 4)),
            0.0,
        ),
        "branin-int" => f(
            spec(&[vec![int(0, -5, 10)], uniform(1..2, 0.0, 15.0)].concat()),
            |p| branin(num(p, 0), num(p, 1)),
            branin_int_optimum(),
        ),
        "hartmann6-cat" => f(
            spec(
                &[
                    vec![cat(0, "a, b, c, d, e"), cat(1, "a, b, c, d, e")],
                    uniform(2..6, 0.0, 1.0),
                ]
                .concat(),
            ),
            |p| {
                const LEVELS: [[f64; 5]; 2] =
                    [[0.5, 0.1, 0.9, 0.3, 0.7], [0.3, 0.9, 0.1, 0.7, 0.5]];
                let level = |i: usize| "abcde".find(text(p, i)).expect("a level");
                let mut x = vec![LEVELS[0][level(0)], LEVELS[1][level(1)]];
                x.extend((2..6).map(|i| num(p, i)));
                hartmann6(&x)
            },
            // optimizers.md A5 (25 level pairs x multi-start L-BFGS-B).
            -3.184772,
        ),
        "ackley-mixed" => f(
            spec(
                &[
                    uniform(0..3, -10.0, 30.0),
                    vec![int(3, -10, 30), int(4, -10, 30), cat(5, "o0, o5, o10")],
                ]
                .concat(),
            ),
            |p| {
                let offset = match text(p, 5) {
                    "o0" => 0.0,
                    "o5" => 0.5,
                    _ => 1.0,
                };
                ackley(&nums(p, 5)) + offset
            },
            0.0,
        ),
        "logscale-quad" => f(
            spec(&[
                (
                    "x0".into(),
                    "{distribution: log_uniform_values, min: 0.00001, max: 1.0}".into(),
                ),
                (
                    "x1".into(),
                    "{distribution: log_uniform_values, min: 0.000001, max: 0.1}".into(),
                ),
                int(2, 1, 8),
                cat(3, "relu, gelu, tanh"),
            ]),
            |p| {
                let act = match text(p, 3) {
                    "relu" => 0.0,
                    "gelu" => 0.2,
                    _ => 0.5,
                };
                (num(p, 0).log10() + 3.0).powi(2)
                    + 0.3 * (num(p, 1).log10() + 4.0).powi(2)
                    + 0.05 * (num(p, 2) - 4.0).powi(2)
                    + act
            },
            0.0,
        ),
        _ => None,
    }
}

pub fn branin(x1: f64, x2: f64) -> f64 {
    let (a, b, c, r, s, t) = (
        1.0,
        5.1 / (4.0 * PI * PI),
        5.0 / PI,
        6.0,
        10.0,
        1.0 / (8.0 * PI),
    );
    a * (x2 - b * x1 * x1 + c * x1 - r).powi(2) + s * (1.0 - t) * x1.cos() + s
}

/// Branin with an integer x1 is a parabola in x2 for each x1.
fn branin_int_optimum() -> f64 {
    let (b, c) = (5.1 / (4.0 * PI * PI), 5.0 / PI);
    (-5..=10)
        .map(|x1| {
            let x1 = f64::from(x1);
            let x2 = (b * x1 * x1 - c * x1 + 6.0).clamp(0.0, 15.0);
            branin(x1, x2)
        })
        .fold(f64::INFINITY, f64::min)
}

const ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];

fn hartmann(x: &[f64], a: &[&[f64]], p: &[&[f64]]) -> f64 {
    -(0..4)
        .map(|i| {
            let inner: f64 = x
                .iter()
                .enumerate()
                .map(|(j, xj)| a[i][j] * (xj - p[i][j] * 1e-4).powi(2))
                .sum();
            ALPHA[i] * (-inner).exp()
        })
        .sum::<f64>()
}

pub fn hartmann3(x: &[f64]) -> f64 {
    hartmann(
        x,
        &[
            &[3.0, 10.0, 30.0],
            &[0.1, 10.0, 35.0],
            &[3.0, 10.0, 30.0],
            &[0.1, 10.0, 35.0],
        ],
        &[
            &[3689.0, 1170.0, 2673.0],
            &[4699.0, 4387.0, 7470.0],
            &[1091.0, 8732.0, 5547.0],
            &[381.0, 5743.0, 8828.0],
        ],
    )
}

pub fn hartmann6(x: &[f64]) -> f64 {
    hartmann(
        x,
        &[
            &[10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
            &[0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
            &[3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
            &[17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
        ],
        &[
            &[1312.0, 1696.0, 5569.0, 124.0, 8283.0, 5886.0],
            &[2329.0, 4135.0, 8307.0, 3736.0, 1004.0, 9991.0],
            &[2348.0, 1451.0, 3522.0, 2883.0, 3047.0, 6650.0],
            &[4047.0, 8828.0, 8732.0, 5743.0, 1091.0, 381.0],
        ],
    )
}

pub fn ackley(x: &[f64]) -> f64 {
    let d = x.len() as f64;
    let sq = x.iter().map(|v| v * v).sum::<f64>() / d;
    let cos = x.iter().map(|v| (2.0 * PI * v).cos()).sum::<f64>() / d;
    -20.0 * (-0.2 * sq.sqrt()).exp() - cos.exp() + 20.0 + E
}

pub fn levy(x: &[f64]) -> f64 {
    let w: Vec<f64> = x.iter().map(|v| 1.0 + (v - 1.0) / 4.0).collect();
    let n = w.len();
    let mut total = (PI * w[0]).sin().powi(2);
    for wi in &w[..n - 1] {
        total += (wi - 1.0).powi(2) * (1.0 + 10.0 * (PI * wi + 1.0).sin().powi(2));
    }
    total + (w[n - 1] - 1.0).powi(2) * (1.0 + (2.0 * PI * w[n - 1]).sin().powi(2))
}

pub fn rosenbrock(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|p| 100.0 * (p[1] - p[0] * p[0]).powi(2) + (1.0 - p[0]).powi(2))
        .sum()
}
