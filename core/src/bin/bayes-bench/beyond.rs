//! Search beyond W&B (docs/beyond-wandb.md): several objectives, input and
//! outcome constraints, conditional parameters, each a sweep file run
//! through `Search::propose` as the daemon runs it. The same problems for
//! Optuna are in scripts/peer-beyond.py.
//!
//! - branin-currin (2 inputs) and dtlz2 (6 inputs): two objectives,
//!   hypervolume of what was found from a fixed reference point;
//! - branin-product: Branin with the input constraint `x1 * x2 >= 30`,
//!   which rules out all three of its global optima; best feasible value;
//! - toy-outcome (Gardner et al. 2014): `cos(2 x1) cos(x2) + sin(x1)`
//!   with the outcome constraint `cos(x1 + x2) <= 0.5`; best feasible value;
//! - branches: `model` a (Branin on two parameters) or b (Hartmann-3 plus
//!   4.5 on three others), the others' parameters absent; regret.

use std::f64::consts::PI;
use std::io::Write;
use std::time::Instant;

use anyhow::Result;
use serde_json::json;
use sweepd_core::pareto::hypervolume_2d;
use sweepd_core::search::{self, History, ParamSet, Trial, TrialState};
use sweepd_core::spec::SweepSpec;

use crate::functions::{branin, hartmann3};
use crate::{quantile, spec_from};

/// What a problem asks of a run's values.
#[derive(Clone, Copy)]
pub enum Kind {
    /// Two objectives, minimised: hypervolume from `reference` (higher is
    /// better), of at most `best` (the true front's).
    Objectives { reference: [f64; 2], best: f64 },
    /// `f` minimised among runs that keep the constraints; `optimum`, the
    /// best feasible value.
    Constrained { optimum: f64 },
    /// `f` minimised; `optimum` its least value.
    Plain { optimum: f64 },
}

pub struct Problem {
    pub name: &'static str,
    pub kind: Kind,
    /// The sweep file after `method:`.
    pub body: String,
    /// A run's logged values: `f` (the metric), or the objectives, and
    /// whatever the outcome constraints read.
    pub evaluate: fn(&ParamSet) -> Vec<(&'static str, f64)>,
    /// Whether a run's values keep the outcome constraints.
    pub feasible: fn(&[(&'static str, f64)]) -> bool,
}

fn num(p: &ParamSet, path: &[&str]) -> f64 {
    let mut v = &p[path[0]];
    for k in &path[1..] {
        v = &v[*k];
    }
    v.as_f64().expect("a number")
}

fn value(values: &[(&'static str, f64)], name: &str) -> f64 {
    values.iter().find(|(k, _)| *k == name).expect("logged").1
}

fn currin(x1: f64, x2: f64) -> f64 {
    let factor = 1.0 - (-1.0 / (2.0 * x2)).exp();
    factor * (2300.0 * x1.powi(3) + 1900.0 * x1 * x1 + 2092.0 * x1 + 60.0)
        / (100.0 * x1.powi(3) + 500.0 * x1 * x1 + 4.0 * x1 + 20.0)
}

fn always(_: &[(&'static str, f64)]) -> bool {
    true
}

/// The least of `f` over a box where `keep` holds: a 2000 x 2000 grid, then
/// a shrinking pattern search from its best point.
fn minimise_2d(
    f: impl Fn(f64, f64) -> f64,
    keep: impl Fn(f64, f64) -> bool,
    (lo1, hi1): (f64, f64),
    (lo2, hi2): (f64, f64),
) -> f64 {
    let n = 2000;
    let mut best = (f64::INFINITY, 0.0, 0.0);
    for i in 0..=n {
        for j in 0..=n {
            let x1 = lo1 + (hi1 - lo1) * i as f64 / n as f64;
            let x2 = lo2 + (hi2 - lo2) * j as f64 / n as f64;
            if keep(x1, x2) {
                let v = f(x1, x2);
                if v < best.0 {
                    best = (v, x1, x2);
                }
            }
        }
    }
    let mut step = (hi1 - lo1) / n as f64;
    while step > 1e-12 {
        let mut moved = false;
        for (d1, d2) in [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0), (0.0, -1.0)] {
            let (x1, x2) = (best.1 + d1 * step, best.2 + d2 * step);
            if (lo1..=hi1).contains(&x1) && (lo2..=hi2).contains(&x2) && keep(x1, x2) {
                let v = f(x1, x2);
                if v < best.0 {
                    best = (v, x1, x2);
                    moved = true;
                }
            }
        }
        if !moved {
            step /= 2.0;
        }
    }
    best.0
}

/// Branin's least value where `x1 * x2 >= 30`: none of its three minima is
/// feasible, so the least lies on the curve `x2 = 30 / x1` (x1 from 2 to
/// 10), or inside if the grid finds lower.
fn branin_product_optimum() -> f64 {
    let inside = minimise_2d(branin, |a, b| a * b >= 30.0, (-5.0, 10.0), (0.0, 15.0));
    let on = |x1: f64| branin(x1, 30.0 / x1);
    let n = 1_000_000;
    let (mut best, mut at) = (f64::INFINITY, 2.0);
    for i in 0..=n {
        let x1 = 2.0 + 8.0 * i as f64 / n as f64;
        if on(x1) < best {
            (best, at) = (on(x1), x1);
        }
    }
    // Golden-section search around the best sample.
    let (mut lo, mut hi) = ((at - 1e-5f64).max(2.0), (at + 1e-5f64).min(10.0));
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..100 {
        let (c, d) = (hi - g * (hi - lo), lo + g * (hi - lo));
        if on(c) < on(d) {
            hi = d;
        } else {
            lo = c;
        }
    }
    inside.min(best).min(on(0.5 * (lo + hi)))
}

pub fn problems() -> Vec<Problem> {
    let unit = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("  {n}: {{min: 0.0, max: 1.0}}\n"))
            .collect::<String>()
    };
    let two = "sweepd:\n  objectives: [{name: f1}, {name: f2}]\n";
    vec![
        Problem {
            name: "branin-currin",
            kind: Kind::Objectives {
                reference: [18.0, 6.0],
                best: 59.36011874867746,
            },
            body: format!("parameters:\n{}{two}", unit(&["x1", "x2"])),
            evaluate: |p| {
                let (u1, u2) = (num(p, &["x1"]), num(p, &["x2"]));
                vec![
                    ("f1", branin(15.0 * u1 - 5.0, 15.0 * u2)),
                    ("f2", currin(u1, u2)),
                ]
            },
            feasible: always,
        },
        Problem {
            name: "dtlz2",
            kind: Kind::Objectives {
                reference: [1.1, 1.1],
                best: 1.21 - PI / 4.0,
            },
            body: format!(
                "parameters:\n{}{two}",
                unit(&["x1", "x2", "x3", "x4", "x5", "x6"])
            ),
            evaluate: |p| {
                let x: Vec<f64> = (1..=6).map(|i| num(p, &[&format!("x{i}")])).collect();
                let g: f64 = x[1..].iter().map(|v| (v - 0.5).powi(2)).sum();
                let a = x[0] * PI / 2.0;
                vec![("f1", (1.0 + g) * a.cos()), ("f2", (1.0 + g) * a.sin())]
            },
            feasible: always,
        },
        Problem {
            name: "branin-product",
            kind: Kind::Constrained {
                optimum: branin_product_optimum(),
            },
            body: "metric: {name: f}\nparameters:\n  x1: {min: -5.0, max: 10.0}\n  \
                   x2: {min: 0.0, max: 15.0}\nsweepd:\n  constraints: [\"x1 * x2 >= 30\"]\n"
                .into(),
            evaluate: |p| vec![("f", branin(num(p, &["x1"]), num(p, &["x2"])))],
            feasible: always,
        },
        Problem {
            name: "toy-outcome",
            kind: Kind::Constrained {
                optimum: minimise_2d(
                    |a, b| (2.0 * a).cos() * b.cos() + a.sin(),
                    |a, b| (a + b).cos() <= 0.5,
                    (0.0, 6.0),
                    (0.0, 6.0),
                ),
            },
            body: "metric: {name: f}\nparameters:\n  x1: {min: 0.0, max: 6.0}\n  \
                   x2: {min: 0.0, max: 6.0}\nsweepd:\n  outcome_constraints: [\"c <= 0.5\"]\n"
                .into(),
            evaluate: |p| {
                let (a, b) = (num(p, &["x1"]), num(p, &["x2"]));
                vec![
                    ("f", (2.0 * a).cos() * b.cos() + a.sin()),
                    ("c", (a + b).cos()),
                ]
            },
            feasible: |v| value(v, "c") <= 0.5,
        },
        Problem {
            name: "branches",
            kind: Kind::Plain {
                optimum: 0.397_887_357_729_738_1,
            },
            body: "metric: {name: f}\nparameters:\n  model: {values: [a, b]}\n  \
                   a:\n    parameters:\n      x1: {min: 0.0, max: 1.0}\n      x2: {min: 0.0, max: 1.0}\n  \
                   b:\n    parameters:\n      x1: {min: 0.0, max: 1.0}\n      x2: {min: 0.0, max: 1.0}\n      \
                   x3: {min: 0.0, max: 1.0}\n\
                   sweepd:\n  conditions:\n    a: {model: a}\n    b: {model: b}\n"
                .into(),
            evaluate: |p| {
                let f = if p["model"] == "a" {
                    branin(15.0 * num(p, &["a", "x1"]) - 5.0, 15.0 * num(p, &["a", "x2"]))
                } else {
                    let x = [
                        num(p, &["b", "x1"]),
                        num(p, &["b", "x2"]),
                        num(p, &["b", "x3"]),
                    ];
                    hartmann3(&x) + 4.5
                };
                vec![("f", f)]
            },
            feasible: always,
        },
    ]
}

/// One seed's run: each evaluation's values, and each proposal's time.
struct Run {
    values: Vec<Vec<(&'static str, f64)>>,
    /// Whether each run kept the constraints (input ones always do).
    kept: Vec<bool>,
}

fn trial(p: &Problem, params: ParamSet) -> (Trial, Vec<(&'static str, f64)>) {
    let values = (p.evaluate)(&params);
    let metric = values
        .iter()
        .find(|(k, _)| *k == "f")
        .map(|(_, v)| vec![*v])
        .unwrap_or_default();
    let trial = Trial {
        params,
        state: TrialState::Finished,
        metric,
        outcomes: values.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
    };
    (trial, values)
}

fn run(p: &Problem, spec: &SweepSpec, seed: u64, evals: usize) -> Result<Run> {
    let mut search = search::for_spec(spec, seed)?;
    let mut history = History::default();
    let mut out = Run {
        values: Vec::new(),
        kept: Vec::new(),
    };
    for _ in 0..evals {
        let params = search.propose(&history)?.expect("an unbounded search");
        let (t, values) = trial(p, params);
        out.kept.push((p.feasible)(&values));
        out.values.push(values);
        history.trials.push(t);
    }
    Ok(out)
}

/// The score at `budget` evaluations: hypervolume (higher is better), or
/// regret of the best feasible value (infinite when none was feasible).
fn score(p: &Problem, r: &Run, budget: usize) -> f64 {
    let upto = budget.min(r.values.len());
    match p.kind {
        Kind::Objectives { reference, .. } => {
            let points: Vec<[f64; 2]> = r.values[..upto]
                .iter()
                .map(|v| [value(v, "f1"), value(v, "f2")])
                .collect();
            hypervolume_2d(&points, reference)
        }
        Kind::Constrained { optimum } | Kind::Plain { optimum } => r.values[..upto]
            .iter()
            .zip(&r.kept)
            .filter(|(_, kept)| **kept)
            .map(|(v, _)| value(v, "f") - optimum)
            .fold(f64::INFINITY, f64::min)
            .max(0.0),
    }
}

/// Proposal times (ms) with `n` random results in the history.
fn proposal_ms(p: &Problem, spec: &SweepSpec, n: usize, reps: usize) -> Result<Vec<f64>> {
    let random_spec = spec_from(&format!("method: random\nprogram: p\n{}", p.body))?;
    let random = search::Random::new(&random_spec, 99);
    let mut history = History::default();
    for i in 0..n {
        history.trials.push(trial(p, random.draw(i as u64)).0);
    }
    let mut search = search::for_spec(spec, 7)?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let start = Instant::now();
        let params = search.propose(&history)?.expect("a proposal");
        times.push(start.elapsed().as_secs_f64() * 1e3);
        history.trials.push(trial(p, params).0);
    }
    Ok(times)
}

pub fn measure(
    seeds: u64,
    budgets: &[usize],
    overhead: usize,
    reps: usize,
    only: &[String],
    out: &mut impl Write,
) -> Result<()> {
    let evals = budgets.iter().copied().max().unwrap_or(100);
    println!("## Beyond W&B: {seeds} seeds, budgets {budgets:?}\n");
    println!("| problem | method | budget | p25 | median | p75 | what |");
    println!("|---|---|---|---|---|---|---|");
    for p in problems() {
        if !only.is_empty() && !only.iter().any(|o| o == p.name) {
            continue;
        }
        for method in ["bayes", "random"] {
            let spec = spec_from(&format!("method: {method}\nprogram: p\n{}", p.body))?;
            let runs: Vec<Run> = (0..seeds)
                .map(|seed| run(&p, &spec, seed, evals))
                .collect::<Result<_>>()?;
            for &b in budgets {
                let mut scores: Vec<f64> = runs.iter().map(|r| score(&p, r, b)).collect();
                for (seed, s) in scores.iter().enumerate() {
                    writeln!(
                        out,
                        "{}",
                        json!({"kind": "beyond", "problem": p.name, "optimizer": method,
                               "seed": seed, "budget": b, "score": s})
                    )?;
                }
                let what = match p.kind {
                    Kind::Objectives { best, .. } => format!("hypervolume (of {best:.4})"),
                    Kind::Constrained { optimum } => {
                        format!("regret of the best feasible (optimum {optimum:.6})")
                    }
                    Kind::Plain { .. } => "regret".into(),
                };
                println!(
                    "| {} | sweepd {method} | {b} | {:.4e} | {:.4e} | {:.4e} | {what} |",
                    p.name,
                    quantile(&mut scores, 0.25),
                    quantile(&mut scores, 0.5),
                    quantile(&mut scores, 0.75),
                );
            }
        }
        if overhead > 0 {
            let spec = spec_from(&format!("method: bayes\nprogram: p\n{}", p.body))?;
            let times = proposal_ms(&p, &spec, overhead, reps + 1)?;
            if std::env::var_os("BEYOND_TIMES").is_some() {
                eprintln!(
                    "{}: {:?}",
                    p.name,
                    times.iter().map(|t| t.round()).collect::<Vec<_>>()
                );
            }
            // The first proposal builds every fit from nothing (a daemon's
            // first after a restart): shown on its own.
            let cold = times[0];
            let mut warm = times[1..].to_vec();
            let (median, p95) = (quantile(&mut warm, 0.5), quantile(&mut warm, 0.95));
            writeln!(
                out,
                "{}",
                json!({"kind": "beyond-overhead", "problem": p.name, "results": overhead,
                       "cold_ms": cold, "median_ms": median, "p95_ms": p95, "reps": reps})
            )?;
            println!(
                "| {} | sweepd bayes: proposal time at {overhead} results ({reps} proposals) | | | median {median:.1} ms | p95 {p95:.1} ms | first {cold:.0} ms |",
                p.name
            );
        }
    }
    Ok(())
}
