//! Conditions and constraints through every search method: the runs each
//! proposes have exactly the parameters their conditions give them, and
//! none breaks a constraint.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::spec::{Format, check};

fn spec(text: &str) -> SweepSpec {
    let v = check(text, Format::Yaml);
    v.spec
        .unwrap_or_else(|| panic!("invalid: {:#?}", v.diagnostics))
}

const OPTIMIZERS: &str = "program: p\nmetric: {name: loss}\nparameters:\n  \
    optimizer: {values: [adam, sgd]}\n  lr: {values: [0.1, 0.01]}\n  \
    momentum: {values: [0.9, 0.99]}\n\
    sweepd:\n  conditions:\n    momentum: {optimizer: sgd}\n";

fn finished(params: ParamSet, value: f64) -> Trial {
    Trial::finished(params, value)
}

/// Every run of adam lacks `momentum`, every run of sgd has it.
fn momentum_only_for_sgd(runs: &[ParamSet]) {
    for run in runs {
        match run["optimizer"].as_str() {
            Some("adam") => assert!(!run.contains_key("momentum"), "{run:?}"),
            Some("sgd") => assert!(run["momentum"].is_number(), "{run:?}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_grid_with_a_conditional_parameter_runs_exactly_its_points() {
    let s = spec(&format!("method: grid\n{OPTIMIZERS}"));
    let mut grid = Grid::new(&s).unwrap();
    let points: Vec<Value> = grid.points().map(Value::Object).collect();
    assert_eq!(
        points,
        [
            json!({"lr": 0.1, "optimizer": "adam"}),
            json!({"lr": 0.01, "optimizer": "adam"}),
            json!({"lr": 0.1, "momentum": 0.9, "optimizer": "sgd"}),
            json!({"lr": 0.1, "momentum": 0.99, "optimizer": "sgd"}),
            json!({"lr": 0.01, "momentum": 0.9, "optimizer": "sgd"}),
            json!({"lr": 0.01, "momentum": 0.99, "optimizer": "sgd"}),
        ],
        "adam does not multiply by momentum: 2 + 4 points, not 8"
    );
    assert_eq!(grid.count(), PointCount::Exact(6));
    // Proposing walks them in order and ends; each run's point is found again.
    let mut history = History::default();
    while let Some(p) = grid.propose(&history).unwrap() {
        assert_eq!(grid.index_of(&p), Some(history.trials.len() as u128));
        history.trials.push(finished(p, 0.0));
    }
    assert_eq!(history.trials.len(), 6);
    // An adam run given a momentum is not one of the grid's points.
    let mut odd = grid.point(0);
    odd.insert("momentum".into(), json!(0.9));
    assert_eq!(grid.index_of(&odd), None);
}

#[test]
fn nested_groups_and_chained_conditions_branch_the_grid() {
    // `head` exists for deep models only; `head.dropout` only with a wide head.
    let s = spec(
        "method: grid\nprogram: p\nparameters:\n  depth: {values: [1, 4]}\n  \
         head:\n    parameters:\n      width: {values: [8, 64]}\n      dropout: {values: [0.1, 0.5]}\n\
         sweepd:\n  conditions:\n    head: \"depth > 2\"\n    head.dropout: {head.width: 64}\n",
    );
    let grid = Grid::new(&s).unwrap();
    let points: Vec<Value> = grid.points().map(Value::Object).collect();
    assert_eq!(
        points,
        [
            json!({"depth": 1}),
            json!({"depth": 4, "head": {"width": 8}}),
            json!({"depth": 4, "head": {"dropout": 0.1, "width": 64}}),
            json!({"depth": 4, "head": {"dropout": 0.5, "width": 64}}),
        ]
    );
}

/// A grid of 12 points, 3 of which break its constraint.
const BATCHES: &str = "method: grid\nprogram: p\nparameters:\n  \
    batch_size: {values: [32, 64, 128]}\n  grad_accum: {values: [1, 2, 4, 8]}\n\
    sweepd:\n  constraints: [\"batch_size * grad_accum <= 256\"]\n";

#[test]
fn grid_points_that_break_a_constraint_are_skipped_and_counted() {
    let s = spec(BATCHES);
    let mut grid = Grid::new(&s).unwrap();
    let products: Vec<i64> = grid
        .points()
        .map(|p| p["batch_size"].as_i64().unwrap() * p["grad_accum"].as_i64().unwrap())
        .collect();
    assert_eq!(products, [32, 64, 128, 256, 64, 128, 256, 128, 256]);
    assert_eq!(grid.count(), PointCount::Exact(9));
    assert_eq!(grid.skipped(), Some(3));
    let history = History::of_params(grid.points().take(8));
    assert_eq!(
        grid.propose(&history).unwrap().map(Value::Object),
        Some(json!({"batch_size": 128, "grad_accum": 2}))
    );
    let history = History::of_params(grid.points());
    assert_eq!(grid.propose(&history).unwrap(), None, "the grid ends");
}

#[test]
fn a_constrained_grid_proposes_its_first_open_point_whatever_ran_before() {
    let s = spec(BATCHES);
    let feasible: Vec<ParamSet> = Grid::new(&s).unwrap().points().collect();
    let mut grid = Grid::new(&s).unwrap();
    // Runs out of grid order (as given runs may be), and the same grid
    // asked again with fewer runs than it has already seen.
    for done in [
        vec![1, 2],
        vec![0, 1, 2, 5],
        vec![],
        (0..8).collect(),
        (0..9).collect(),
    ] {
        let history = History::of_params(done.iter().map(|&k| feasible[k].clone()));
        let expected = (0..feasible.len())
            .find(|k| !done.contains(k))
            .map(|k| feasible[k].clone());
        assert_eq!(grid.propose(&history).unwrap(), expected, "after {done:?}");
    }
}

#[test]
fn random_search_gives_momentum_to_sgd_runs_only() {
    let s = spec(&format!(
        "method: random\n{}",
        OPTIMIZERS.replace("{values: [0.9, 0.99]}", "{min: 0.5, max: 0.99}")
    ));
    let random = Random::new(&s, 7);
    let runs: Vec<ParamSet> = (0..200).map(|i| random.draw(i)).collect();
    momentum_only_for_sgd(&runs);
    let sgd = runs.iter().filter(|r| r["optimizer"] == "sgd").count();
    assert!((70..130).contains(&sgd), "{sgd} of 200");
}

/// lr best at 0.03; sgd with momentum 0.9 beats adam.
fn optimizers(p: &ParamSet) -> f64 {
    let lr = p["lr"].as_f64().unwrap();
    let base = (lr.log10() - 0.03f64.log10()).powi(2);
    match p["optimizer"].as_str().unwrap() {
        "sgd" => base + 4.0 * (p["momentum"].as_f64().unwrap() - 0.9).powi(2),
        _ => base + 0.05,
    }
}

#[test]
fn bayes_learns_a_conditional_space_and_never_gives_adam_momentum() {
    let s = spec(
        "method: bayes\nprogram: p\nmetric: {name: loss, goal: minimize}\nparameters:\n  \
         optimizer: {values: [adam, sgd]}\n  lr: {min: 0.001, max: 0.1, distribution: log_uniform_values}\n  \
         momentum: {min: 0.0, max: 0.99}\n\
         sweepd:\n  conditions:\n    momentum: {optimizer: sgd}\n",
    );
    let mut bayes = Bayes::new(&s, 3);
    let mut history = History::default();
    let mut bases = Vec::new();
    for _ in 0..30 {
        let (p, basis) = bayes.next(&history);
        let p = p.expect("a proposal");
        bases.push(basis);
        let v = optimizers(&p);
        history.trials.push(finished(p, v));
    }
    let runs: Vec<ParamSet> = history.trials.iter().map(|t| t.params.clone()).collect();
    momentum_only_for_sgd(&runs);
    assert!(
        bases.iter().filter(|b| **b == Basis::Model).count() >= 15,
        "the model, not the fallback, made the proposals: {bases:?}"
    );
    let best = history
        .trials
        .iter()
        .map(|t| t.metric[0])
        .fold(f64::INFINITY, f64::min);
    assert!(
        best < 0.01,
        "best {best}: sgd near momentum 0.9 and lr 0.03"
    );
}

#[test]
fn bayes_ends_a_countable_conditional_constrained_space_at_its_last_run() {
    // adam: the 5 (batch, lr) pairs with batch + lr <= 4; sgd: those 5
    // with each of 2 momenta. 15 distinct runs, not the 2 * 3 * 2 * 2 = 24
    // of the raw coordinates.
    let s = spec(
        "method: bayes\nprogram: p\nmetric: {name: loss, goal: minimize}\nparameters:\n  \
         optimizer: {values: [adam, sgd]}\n  batch: {min: 1, max: 3}\n  lr: {min: 1, max: 2}\n  \
         momentum: {values: [0.5, 0.9]}\n\
         sweepd:\n  conditions:\n    momentum: {optimizer: sgd}\n  \
         constraints: [\"batch + lr <= 4\"]\n",
    );
    let mut bayes = Bayes::new(&s, 4);
    let mut history = History::default();
    let mut seen = Vec::new();
    while let Some(p) = bayes.propose(&history).unwrap() {
        let key = Value::Object(p.clone()).to_string();
        assert!(!seen.contains(&key), "{key} proposed twice");
        assert!(seen.len() < 15, "a 16th run: {key}");
        seen.push(key);
        let v = p["batch"].as_f64().unwrap() - p["lr"].as_f64().unwrap();
        history.trials.push(finished(p, v));
    }
    assert_eq!(seen.len(), 15);
    // Ended by the count of distinct runs, not by a fruitless search of
    // every point left (which the Parzen fallback would report).
    assert_eq!(bayes.next(&history).1, Basis::Model);
    let runs: Vec<ParamSet> = history.trials.iter().map(|t| t.params.clone()).collect();
    momentum_only_for_sgd(&runs);
}

/// A space of 2 to 4 numeric parameters and a linear constraint over them
/// that about half the space satisfies.
fn constrained_space() -> impl Strategy<Value = (String, bool)> {
    let param = prop_oneof![
        (0i64..5, 5i64..20).prop_map(|(a, b)| format!("{{min: {a}, max: {b}}}")),
        (0.0f64..1.0, 1.5f64..4.0).prop_map(|(a, b)| format!("{{min: {a:.3}, max: {b:.3}}}")),
        prop::collection::vec(0i64..30, 2..5).prop_map(|v| format!("{{values: {v:?}}}")),
    ];
    (
        prop::collection::vec((param, 1i64..4), 2..5),
        0.2f64..0.8,
        any::<bool>(),
    )
        .prop_map(|(params, share, listable)| {
            let mut text = String::from("parameters:\n");
            let mut terms = Vec::new();
            let mut hi = 0.0;
            for (i, (dist, weight)) in params.iter().enumerate() {
                // For a grid, floats become q_uniform steps of 0.25.
                let dist = if listable && dist.contains('.') {
                    dist.replace('}', ", q: 0.25}")
                } else {
                    dist.clone()
                };
                text.push_str(&format!("  x{i}: {dist}\n"));
                terms.push(format!("{weight} * x{i}"));
                hi += *weight as f64 * 30.0;
            }
            text.push_str(&format!(
                "sweepd:\n  constraints: [\"{} <= {:.2}\"]\n",
                terms.join(" + "),
                hi * share * 0.5
            ));
            (text, listable)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn no_method_proposes_a_run_that_breaks_a_constraint((parameters, listable) in constrained_space()) {
        let methods: &[&str] = if listable { &["grid", "random", "bayes"] } else { &["random", "bayes"] };
        for method in methods {
            let text = format!("method: {method}\nprogram: p\nmetric: {{name: loss}}\n{parameters}");
            let v = check(&text, Format::Yaml);
            // A constraint the ranges cannot meet is refused by validate: skip it.
            let Some(s) = v.spec else { continue };
            let space = Space::new(&s);
            let mut search = for_spec(&s, 5).unwrap();
            let mut history = History::default();
            let n = if *method == "bayes" { 12 } else { 40 };
            for _ in 0..n {
                let Ok(Some(p)) = search.propose(&history) else { break };
                prop_assert!(space.admits(&p), "{method} proposed {p:?} against {parameters}");
                let v: f64 = p.values().filter_map(Value::as_f64).sum();
                history.trials.push(finished(p, v));
            }
        }
    }
}

fn with_outcomes(params: ParamSet, outcomes: &[(&str, f64)]) -> Trial {
    Trial {
        params,
        state: TrialState::Finished,
        metric: Vec::new(),
        outcomes: outcomes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
    }
}

/// Runs a search on a function that logs named outcomes; the sweep metric
/// (if any) is `f`.
fn run_outcomes(
    search: &mut dyn Search,
    f: impl Fn(f64, f64) -> Vec<(&'static str, f64)>,
    n: usize,
) -> Vec<(ParamSet, Vec<(&'static str, f64)>)> {
    let mut history = History::default();
    let mut out = Vec::new();
    for _ in 0..n {
        let p = search.propose(&history).unwrap().expect("a proposal");
        let outcomes = f(p["x"].as_f64().unwrap(), p["y"].as_f64().unwrap());
        let mut trial = with_outcomes(p.clone(), &outcomes);
        if let Some((_, v)) = outcomes.iter().find(|(k, _)| *k == "f") {
            trial.metric = vec![*v];
        }
        history.trials.push(trial);
        out.push((p, outcomes));
    }
    out
}

const XY: &str = "parameters:\n  x: {min: 0.0, max: 1.0}\n  y: {min: 0.0, max: 1.0}\n";

#[test]
fn an_outcome_constrained_sweep_converges_to_the_feasible_optimum() {
    // f is least at (0.8, 0.8); the logged `load` = x + y must stay <= 1,
    // so the feasible optimum is (0.5, 0.5) with f = 0.18.
    let f = |x: f64, y: f64| {
        vec![
            ("f", (x - 0.8).powi(2) + (y - 0.8).powi(2)),
            ("load", x + y),
        ]
    };
    let best_feasible = |method: &str, seed: u64| {
        let s = spec(&format!(
            "method: {method}\nprogram: p\nmetric: {{name: f, goal: minimize}}\n{XY}\
             sweepd:\n  outcome_constraints: [\"load <= 1\"]\n"
        ));
        let mut search = for_spec(&s, seed).unwrap();
        run_outcomes(search.as_mut(), f, 30)
            .iter()
            .filter(|(_, o)| o[1].1 <= 1.0)
            .map(|(_, o)| o[0].1)
            .fold(f64::INFINITY, f64::min)
    };
    for seed in [1, 2, 3] {
        let bayes = best_feasible("bayes", seed);
        assert!(
            (0.18..0.181).contains(&bayes),
            "seed {seed}: bayes' best feasible f {bayes}, the optimum 0.18"
        );
        let random = best_feasible("random", seed);
        assert!(
            random > bayes,
            "seed {seed}: random {random}, bayes {bayes}"
        );
    }
}

/// ZDT1 on two inputs: f1 = x, f2 = g (1 - sqrt(x / g)), g = 1 + 9 y; the
/// front is y = 0, f2 = 1 - sqrt(f1).
fn zdt1(x: f64, y: f64) -> Vec<(&'static str, f64)> {
    let g = 1.0 + 9.0 * y;
    vec![("f1", x), ("f2", g * (1.0 - (x / g).sqrt()))]
}

fn zdt1_hypervolume(method: &str, seed: u64) -> f64 {
    let s = spec(&format!(
        "method: {method}\nprogram: p\n{XY}sweepd:\n  objectives: [{{name: f1}}, {{name: f2}}]\n"
    ));
    let mut search = for_spec(&s, seed).unwrap();
    let points: Vec<[f64; 2]> = run_outcomes(search.as_mut(), zdt1, 40)
        .iter()
        .map(|(_, o)| [o[0].1, o[1].1])
        .collect();
    crate::pareto::hypervolume_2d(&points, [1.1, 1.1])
}

#[test]
fn bayes_with_two_objectives_spreads_along_the_front() {
    // The true front's hypervolume from (1.1, 1.1): 1.21 - 1/3 = 0.8767.
    for seed in [1, 2, 3] {
        let bayes = zdt1_hypervolume("bayes", seed);
        let random = zdt1_hypervolume("random", seed);
        assert!(bayes > 0.84, "seed {seed}: hypervolume {bayes} of 0.877");
        assert!(
            bayes > random + 0.05,
            "seed {seed}: bayes {bayes}, random {random}"
        );
    }
}
