//! Bayesian search: the encoding of every distribution, W&B's rules for
//! turning runs into observations, the model's gradients, log EI's
//! numerics, and the search's promises: reproducible, no repeats, pending
//! runs respected, finite spaces that end, far better than random.

use serde_json::{Value, json};

use super::acquisition::log_ei;
use super::encode::Encoding;
use super::gp::{Gp, Theta};
use super::observe::Observations;
use super::{Basis, Bayes, fit, observe};
use crate::search::{History, ParamSet, Random, Search, Space, Trial, TrialState};
use crate::spec::{Format, SweepSpec, check};
use crate::value::identity;

fn spec(text: &str) -> SweepSpec {
    let v = check(text, Format::Yaml);
    v.spec
        .unwrap_or_else(|| panic!("invalid: {:?}", v.diagnostics))
}

fn bayes_spec(parameters: &str, goal: &str) -> SweepSpec {
    spec(&format!(
        "method: bayes\nprogram: p\nmetric: {{name: loss, goal: {goal}}}\nparameters:\n{parameters}"
    ))
}

fn finished(params: ParamSet, value: f64) -> Trial {
    Trial::finished(params, value)
}

fn num(p: &ParamSet, name: &str) -> f64 {
    p[name].as_f64().unwrap()
}

/// A 2-D bowl with its minimum 0 at (0.3, 0.7), off the box's centre.
fn bowl(p: &ParamSet) -> f64 {
    (num(p, "x") - 0.3).powi(2) + (num(p, "y") - 0.7).powi(2)
}

const BOWL: &str = "  x: {min: 0.0, max: 1.0}\n  y: {min: 0.0, max: 1.0}\n";

/// `n` sequential proposals, each told its value before the next.
fn optimise(search: &mut dyn Search, f: fn(&ParamSet) -> f64, n: usize) -> History {
    let mut history = History::default();
    for _ in 0..n {
        let p = search.propose(&history).unwrap().expect("a proposal");
        let v = f(&p);
        history.trials.push(finished(p, v));
    }
    history
}

fn best(history: &History) -> f64 {
    history
        .trials
        .iter()
        .map(|t| t.metric[0])
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn every_distribution_round_trips_through_the_encoding() {
    let text = include_str!("../../../../tests/wandb-oracle/all-distributions.yaml");
    let s = spec(text);
    let encoding = Encoding::new(Space::new(&s));
    // The constant is left out, and so is nothing else.
    assert_eq!(encoding.dims.len(), s.parameters.leaves().len() - 1);
    let random = Random::new(&s, 11);
    for i in 0..300 {
        let params = random.draw(i);
        if params["categorical_w_probabilities"] == json!("b") {
            unreachable!("probability 0 is never drawn");
        }
        let point = encoding.encode(&params).expect("a drawn run encodes");
        let back = encoding.decode(&point);
        for (name, value) in &params {
            let got = &back[name];
            match (value.as_f64(), got.as_f64()) {
                (Some(a), Some(b)) if value.is_f64() => assert!(
                    (a - b).abs() <= 1e-9 * a.abs().max(1.0),
                    "{name}: {value} came back as {got}"
                ),
                _ => assert_eq!(identity(value), identity(got), "{name}"),
            }
            assert_eq!(value.is_i64(), got.is_i64(), "{name}: {value} vs {got}");
        }
    }
}

#[test]
fn the_ends_of_every_range_stay_inside_it() {
    for (body, lo, hi) in [
        ("{min: 0.1, max: 0.7}", 0.1, 0.7),
        (
            "{distribution: log_uniform_values, min: 0.0001, max: 0.1}",
            1e-4,
            0.1,
        ),
        (
            "{distribution: inv_log_uniform_values, min: 0.3, max: 0.9}",
            0.3,
            0.9,
        ),
        (
            "{distribution: log_uniform, min: -3.1, max: 1.7}",
            (-3.1f64).exp(),
            1.7f64.exp(),
        ),
        (
            "{distribution: inv_log_uniform, min: 0.2, max: 2.3}",
            (-2.3f64).exp(),
            (-0.2f64).exp(),
        ),
    ] {
        let s = bayes_spec(&format!("  x: {body}\n"), "minimize");
        let encoding = Encoding::new(Space::new(&s));
        for u in [0.0, 1e-17, 0.5, 1.0 - 1e-17, 1.0] {
            let x = num(&encoding.decode(&[u]), "x");
            assert!((lo..=hi).contains(&x), "{body} at {u}: {x}");
        }
    }
}

#[test]
fn a_q_step_that_rounds_a_log_range_to_zero_keeps_zero_a_value() {
    let s = bayes_spec(
        "  x: {distribution: q_log_uniform_values, min: 0.1, max: 100, q: 1}\n",
        "minimize",
    );
    let encoding = Encoding::new(Space::new(&s));
    let zero = encoding.decode(&[0.0]);
    assert_eq!(zero["x"], json!(0));
    assert_eq!(encoding.encode(&zero), Some(vec![0.0]));
    let dim = &encoding.dims[0];
    assert_eq!(
        dim.snap(0.01),
        0.0,
        "every point that gives 0 is the same point"
    );
}

#[test]
fn runs_that_died_without_any_value_are_not_proposed_again() {
    let s = bayes_spec("  c: {values: [a, b, c]}\n", "minimize");
    let died = |c: &str| {
        let mut params = ParamSet::new();
        params.insert("c".into(), json!(c));
        Trial {
            params,
            state: TrialState::Failed,
            metric: Vec::new(),
            outcomes: Default::default(),
        }
    };
    let mut history = History {
        trials: vec![died("a"), died("b")],
        ..History::default()
    };
    let mut bayes = Bayes::new(&s, 0);
    let p = bayes.propose(&history).unwrap().expect("c is left");
    assert_eq!(p["c"], json!("c"));
    history.trials.push(died("c"));
    assert_eq!(bayes.propose(&history).unwrap(), None);
}

#[test]
fn false_zero_and_null_are_categories_of_their_own() {
    let s = bayes_spec("  c: {values: [false, 0, null, \"0\", 0.0]}\n", "minimize");
    let encoding = Encoding::new(Space::new(&s));
    let codes: Vec<Option<Vec<f64>>> =
        [json!(false), json!(0), json!(null), json!("0"), json!(true)]
            .iter()
            .map(|v| {
                let mut p = ParamSet::new();
                p.insert("c".into(), v.clone());
                encoding.encode(&p)
            })
            .collect();
    // 0.0 is the same value as 0 (as in W&B), so four levels.
    assert_eq!(
        codes[..4],
        [
            Some(vec![0.0]),
            Some(vec![1.0]),
            Some(vec![2.0]),
            Some(vec![3.0])
        ]
    );
    assert_eq!(codes[4], None, "true is not one of the values");
}

#[test]
fn proposals_keep_every_parameter_type_and_nesting() {
    let s = bayes_spec(
        "  lr: {distribution: log_uniform_values, min: 1.0e-5, max: 0.1}\n  \
         layers: {min: 1, max: 4}\n  \
         batch: {distribution: q_uniform, min: 16, max: 128, q: 16}\n  \
         flag: {values: [true, false]}\n  \
         act: {values: [relu, tanh, null]}\n  \
         seed: {value: 42}\n  \
         opt:\n    parameters:\n      momentum: {min: 0.0, max: 0.99}\n      kind: {values: [sgd, adam]}\n",
        "minimize",
    );
    let mut bayes = Bayes::new(&s, 3);
    let f = |p: &ParamSet| -> f64 {
        let lr = num(p, "lr").log10();
        (lr + 3.0).powi(2)
            + num(p, "layers") * 0.1
            + if p["flag"] == json!(false) { 0.5 } else { 0.0 }
    };
    let history = optimise(&mut bayes, f, 16);
    for t in &history.trials {
        let p = &t.params;
        let lr = num(p, "lr");
        assert!((1e-5..=0.1).contains(&lr), "{lr}");
        let layers = p["layers"].as_i64().expect("an integer");
        assert!((1..=4).contains(&layers));
        let batch = p["batch"].as_i64().expect("q: 16 gives integers");
        assert_eq!(batch % 16, 0);
        assert!(p["flag"].is_boolean());
        assert!([json!("relu"), json!("tanh"), json!(null)].contains(&p["act"]));
        assert_eq!(p["seed"], json!(42));
        let opt = p["opt"].as_object().expect("nested");
        assert!((0.0..=0.99).contains(&opt["momentum"].as_f64().unwrap()));
        assert!([json!("sgd"), json!("adam")].contains(&opt["kind"]));
    }
}

#[test]
fn the_initial_design_is_a_latin_hypercube() {
    let s = bayes_spec(BOWL, "minimize");
    let bayes = Bayes::new(&s, 5);
    let design = bayes.initial_design();
    let n = design.len();
    assert!((5..=10).contains(&n));
    for name in ["x", "y"] {
        let mut strata: Vec<usize> = design
            .iter()
            .map(|p| (num(p, name) * n as f64) as usize)
            .collect();
        strata.sort_unstable();
        assert_eq!(
            strata,
            (0..n).collect::<Vec<_>>(),
            "{name}: one point per stratum"
        );
    }
    // The first runs are the design.
    let mut b = Bayes::new(&s, 5);
    let h = optimise(&mut b, bowl, n);
    let proposed: Vec<ParamSet> = h.trials.into_iter().map(|t| t.params).collect();
    assert_eq!(proposed, design);
}

#[test]
fn the_same_seed_and_history_give_the_same_proposal_after_a_restart() {
    let s = bayes_spec(BOWL, "minimize");
    let mut live = Bayes::new(&s, 9);
    let mut history = History::default();
    for step in 0..30 {
        let p = live.propose(&history).unwrap().unwrap();
        if [8, 13, 29].contains(&step) {
            // A daemon started now knows only the history.
            let mut restarted = Bayes::new(&s, 9);
            assert_eq!(
                restarted.propose(&history).unwrap().unwrap(),
                p,
                "step {step}"
            );
        }
        let v = bowl(&p);
        history.trials.push(finished(p, v));
    }
    let other_seed = Bayes::new(&s, 10).propose(&History::default()).unwrap();
    assert_ne!(other_seed, live.propose(&History::default()).unwrap());
}

#[test]
fn parallel_runs_are_not_sent_to_the_same_place() {
    let s = bayes_spec(BOWL, "minimize");
    for seed in 0..3 {
        let mut bayes = Bayes::new(&s, seed);
        let mut history = optimise(&mut bayes, bowl, 12);
        // Four runs start one after the other, none finished: each goes
        // somewhere else than those pending.
        let mut pending: Vec<(f64, f64)> = Vec::new();
        for _ in 0..4 {
            let p = bayes.propose(&history).unwrap().unwrap();
            let (x, y) = (num(&p, "x"), num(&p, "y"));
            for (px, py) in &pending {
                let d = ((px - x).powi(2) + (py - y).powi(2)).sqrt();
                assert!(
                    d > 1e-3,
                    "seed {seed}: ({x}, {y}) is {d} from a pending run"
                );
            }
            pending.push((x, y));
            history.trials.push(Trial {
                params: p,
                state: TrialState::Running,
                metric: Vec::new(),
                outcomes: Default::default(),
            });
        }
    }
}

#[test]
fn a_finite_space_ends_when_every_point_has_run() {
    let s = bayes_spec("  n: {min: 1, max: 3}\n  c: {values: [a, b]}\n", "minimize");
    let mut bayes = Bayes::new(&s, 2);
    let mut history = History::default();
    let mut seen = Vec::new();
    while let Some(p) = bayes.propose(&history).unwrap() {
        let key = Value::Object(p.clone()).to_string();
        assert!(!seen.contains(&key), "{key} proposed twice");
        seen.push(key);
        let v = num(&p, "n") + if p["c"] == json!("a") { 0.0 } else { 1.0 };
        history.trials.push(finished(p, v));
        assert!(seen.len() <= 6);
    }
    assert_eq!(seen.len(), 6);
    // A larger one, run down to its last points: each is still found.
    let s = bayes_spec(
        "  n: {min: 1, max: 40}\n  c: {values: [a, b, c]}\n",
        "minimize",
    );
    let mut bayes = Bayes::new(&s, 2);
    let mut history = History::default();
    for n in 1..=40 {
        for c in ["a", "b", "c"] {
            if (n, c) != (17, "b") {
                let mut p = ParamSet::new();
                p.insert("c".into(), json!(c));
                p.insert("n".into(), json!(n));
                history.trials.push(finished(p, f64::from(n)));
            }
        }
    }
    let last = bayes.propose(&history).unwrap().expect("one point left");
    assert_eq!(Value::Object(last.clone()), json!({"n": 17, "c": "b"}));
    history.trials.push(finished(last, 0.0));
    assert_eq!(bayes.propose(&history).unwrap(), None);
}

#[test]
fn it_finds_a_minimum_far_better_than_random_search() {
    let s = bayes_spec(BOWL, "minimize");
    for seed in 0..2 {
        let b = best(&optimise(&mut Bayes::new(&s, seed), bowl, 25));
        let r = best(&optimise(&mut Random::new(&s, seed), bowl, 25));
        assert!(b < 1e-4, "seed {seed}: bayes best {b}");
        assert!(b * 100.0 < r, "seed {seed}: bayes {b} vs random {r}");
    }
}

#[test]
fn maximize_goes_up() {
    let s = bayes_spec(BOWL, "maximize");
    let h = optimise(&mut Bayes::new(&s, 4), |p| -bowl(p), 25);
    let top = h
        .trials
        .iter()
        .map(|t| t.metric[0])
        .fold(f64::NEG_INFINITY, f64::max);
    assert!(top > -1e-4, "best {top}");
}

#[test]
fn more_parameters_than_the_model_takes_use_the_parzen_estimator() {
    let params: String = (0..40)
        .map(|i| format!("  p{i:02}: {{min: 0.0, max: 1.0}}\n"))
        .collect();
    let s = bayes_spec(&params, "minimize");
    let mut bayes = Bayes::new(&s, 0);
    let f = |p: &ParamSet| {
        p.values()
            .map(|v| (v.as_f64().unwrap() - 0.5).powi(2))
            .sum::<f64>()
    };
    let mut history = optimise(&mut bayes, f, 12);
    let (p, basis) = bayes.next(&history);
    assert_eq!(basis, Basis::Fallback);
    let p = p.expect("a proposal");
    assert_eq!(p.len(), 40);
    history.trials.push(finished(p, 0.0));
}

fn trial(x: f64, state: TrialState, metric: &[f64]) -> Trial {
    let mut params = ParamSet::new();
    params.insert("x".into(), json!(x));
    Trial {
        params,
        state,
        metric: metric.to_vec(),
        outcomes: Default::default(),
    }
}

fn observed(metric: &str, trials: Vec<Trial>) -> (Vec<f64>, Vec<f64>, usize) {
    let s = spec(&format!(
        "method: bayes\nprogram: p\nmetric: {metric}\nparameters:\n  x: {{min: 0.0, max: 1.0}}\n"
    ));
    let encoding = Encoding::new(Space::new(&s));
    let obs = Observations::new(
        &encoding,
        &observe::Rules::new(s.metric.as_ref()),
        &History {
            trials,
            ..History::default()
        },
    );
    let (x, y) = obs.all();
    (x, y, obs.pending().len())
}

#[test]
fn runs_count_as_wandb_counts_them() {
    use TrialState::*;
    let runs = || {
        vec![
            trial(0.1, Finished, &[3.0, 1.0, 2.0]),
            trial(0.2, Failed, &[5.0, 4.0]),
            trial(0.3, Running, &[0.5]),
            trial(0.4, Pending, &[]),
            trial(0.5, Crashed, &[]),
        ]
    };
    // Minimize: a finished run's best is its lowest; failed and crashed
    // runs get the worst value any ended run logged (5); running and queued
    // runs are pending.
    let (x, y, pending) = observed("{name: loss}", runs());
    assert_eq!(x, [0.1, 0.2, 0.5]);
    assert_eq!(y, [1.0, 5.0, 5.0]);
    assert_eq!(pending, 2);
    // Maximize: values turned to minimise; the best is the highest.
    let (_, y, _) = observed("{name: acc, goal: maximize}", runs());
    assert_eq!(y, [-3.0, -1.0, -1.0], "worst for maximize is the lowest, 1");
    // impute: latest uses the run's own last value (the crashed run has none: worst).
    let (_, y, _) = observed("{name: loss, impute: latest}", runs());
    assert_eq!(y, [1.0, 4.0, 5.0]);
    // impute_while_running counts the running run with its best so far.
    let (x, y, pending) = observed("{name: loss, impute_while_running: best}", runs());
    assert_eq!(x, [0.1, 0.3, 0.2, 0.5]);
    assert_eq!(y, [1.0, 0.5, 5.0, 5.0]);
    assert_eq!(pending, 1);
    // Stopped by early termination: its best value so far, not an imputed one.
    let (x, y, _) = observed(
        "{name: loss}",
        vec![
            trial(0.1, Finished, &[9.0]),
            trial(0.6, EarlyTerminated, &[2.0, 1.5, 3.0]),
        ],
    );
    assert_eq!((x, y), (vec![0.1, 0.6], vec![9.0, 1.5]));
    // No run has any value: nothing to impute from, so nothing is observed.
    let (x, _, _) = observed("{name: loss}", vec![trial(0.5, Failed, &[])]);
    assert!(x.is_empty());
}

#[test]
fn log_ei_is_stable_where_the_direct_formula_fails() {
    let direct = |z: f64| {
        let cdf = 0.5 * statrs::function::erf::erfc(-z / std::f64::consts::SQRT_2);
        let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
        (z * cdf + pdf).ln()
    };
    // sigma = 1, best = 0: z = -mean.
    for z in [-4.9, -3.0, -1.0, 0.0, 0.5, 2.0, 6.0] {
        let (v, _, _) = log_ei(-z, 1.0, 0.0);
        assert!(
            (v - direct(z)).abs() < 1e-9 * direct(z).abs().max(1.0),
            "z = {z}"
        );
    }
    // Both sides of the switch to the series agree.
    for switch in [5.0, 1e3] {
        let (a, _, _) = log_ei(switch - 1e-9, 1.0, 0.0);
        let (b, _, _) = log_ei(switch + 1e-9, 1.0, 0.0);
        assert!(
            (a - b).abs() < 1e-9 * a.abs(),
            "at z = -{switch}: {a} vs {b}"
        );
    }
    // Far out it is finite and keeps falling, where EI itself is 0.
    let mut last = f64::INFINITY;
    for z in [-10.0, -40.0, -100.0, -999.0, -1001.0, -1e5] {
        let (v, d_mean, d_var) = log_ei(-z, 1.0, 0.0);
        assert!(v.is_finite() && v < last, "z = {z}: {v}");
        assert!(d_mean.is_finite() && d_var.is_finite());
        last = v;
    }
    // Derivatives by finite differences.
    for (mean, var) in [(0.3, 0.5), (2.0, 0.1), (8.0, 0.2)] {
        let (_, d_mean, d_var) = log_ei(mean, var, 0.0);
        let h = 1e-6;
        let fd_mean = (log_ei(mean + h, var, 0.0).0 - log_ei(mean - h, var, 0.0).0) / (2.0 * h);
        let fd_var = (log_ei(mean, var + h, 0.0).0 - log_ei(mean, var - h, 0.0).0) / (2.0 * h);
        assert!(
            (d_mean - fd_mean).abs() < 1e-4 * fd_mean.abs().max(1.0),
            "{d_mean} vs {fd_mean}"
        );
        assert!(
            (d_var - fd_var).abs() < 1e-4 * fd_var.abs().max(1.0),
            "{d_var} vs {fd_var}"
        );
    }
}

fn sample_data() -> (Vec<f64>, Vec<f64>, Vec<bool>) {
    // Three coordinates, the last categorical with 3 levels.
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..12 {
        let a = (i as f64 * 0.37) % 1.0;
        let b = (i as f64 * 0.61) % 1.0;
        let c = (i % 3) as f64;
        x.extend([a, b, c]);
        y.push((3.0 * a).sin() + b * b + 0.3 * c);
    }
    (x, observe::standardise(&y), vec![false, false, true])
}

#[test]
fn the_posterior_interpolates_and_its_gradients_are_right() {
    let (x, y, cat) = sample_data();
    let theta: Theta = Theta::from_vec(vec![-0.5, 0.2, 0.0, 0.1, -12.0]);
    let gp = Gp::new(&x, &y, 3, &theta, &cat).unwrap();
    for i in 0..4 {
        let p = &x[i * 3..i * 3 + 3];
        let pred = gp.predict(p);
        assert!(
            (pred.mean - y[i]).abs() < 1e-3,
            "at a data point the mean is the data"
        );
        assert!(pred.var < 1e-3);
    }
    let p = [0.42, 0.17, 1.0];
    let pred = gp.predict(&p);
    let many = gp.predict_many(&[p.to_vec()]);
    assert!((many[0].0 - pred.mean).abs() < 1e-12 && (many[0].1 - pred.var).abs() < 1e-12);
    for c in 0..2 {
        let h = 1e-6;
        let mut up = p;
        let mut down = p;
        up[c] += h;
        down[c] -= h;
        let (pu, pd) = (gp.predict(&up), gp.predict(&down));
        let fd_mean = (pu.mean - pd.mean) / (2.0 * h);
        let fd_var = (pu.var - pd.var) / (2.0 * h);
        assert!((pred.d_mean[c] - fd_mean).abs() < 1e-5, "d mean/d x{c}");
        assert!((pred.d_var[c] - fd_var).abs() < 1e-5, "d var/d x{c}");
    }
}

#[test]
fn the_marginal_likelihood_gradient_is_right_and_the_fit_lowers_it() {
    let (x, y, cat) = sample_data();
    let theta: Theta = Theta::from_vec(vec![-0.5, 0.2, 0.3, 0.1, -5.0]);
    let (cost, grad) = fit::cost_and_gradient(&x, &y, 3, &cat, &theta);
    for p in 0..theta.len() {
        let h = 1e-6;
        let mut up = theta.clone();
        let mut down = theta.clone();
        up[p] += h;
        down[p] -= h;
        let fd = (fit::cost_and_gradient(&x, &y, 3, &cat, &up).0
            - fit::cost_and_gradient(&x, &y, 3, &cat, &down).0)
            / (2.0 * h);
        assert!(
            (grad[p] - fd).abs() < 1e-4 * fd.abs().max(1.0),
            "theta[{p}]: {} vs {fd}",
            grad[p]
        );
    }
    let fitted = fit::fit(&x, &y, 3, &cat, &[theta]).expect("fits");
    assert!(fitted.cost < cost - 1e-3, "{} vs {cost}", fitted.cost);
}
