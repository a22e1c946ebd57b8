//! The rule against W&B's engine on 27 scripted runs (expected.json is
//! written by tests/wandb-oracle/hyperband/stops.py from `sweeps` 0.3.0, and
//! checked against it live by tests/wandb-oracle/run), and its edge cases.

use serde_json::Value;

use super::{EarlyStop, Judgement};
use crate::spec::{Format, check};

fn rule(early_terminate: &str, goal: &str) -> EarlyStop {
    let text = format!(
        "method: random\nprogram: p\nmetric: {{name: loss, goal: {goal}}}\n\
         early_terminate: {early_terminate}\nparameters: {{x: {{value: 1}}}}\n"
    );
    let spec = check(&text, Format::Yaml).spec.expect("valid");
    let goal = spec.metric.as_ref().expect("metric").goal;
    EarlyStop::new(
        spec.early_terminate.as_ref().expect("early_terminate"),
        goal,
    )
}

/// Judge `history` against the histories of all runs (its own included).
fn judge(rule: &EarlyStop, all: &[&[f64]], history: &[f64]) -> Option<Judgement> {
    let thresholds = rule.thresholds(all.iter().copied());
    rule.judge(&thresholds, history)
}

/// Replays the scenario of stops.py: run k starts at time 2k (or, when
/// `sequential`, when run k-1 has ended) and logs its curve a value per step;
/// after each value every running run is judged. The (run, iteration) of
/// each stop, in order.
fn replay(rule: &EarlyStop, curves: &[Vec<f64>], sequential: bool) -> Vec<[usize; 2]> {
    let (runs, steps) = (curves.len(), curves[0].len());
    let mut events: Vec<(usize, usize, usize)> = (0..runs)
        .flat_map(|k| (0..steps).map(move |i| (if sequential { 0 } else { 2 * k + i }, k, i)))
        .collect();
    if !sequential {
        events.sort_unstable();
    }
    let mut history: Vec<Vec<f64>> = vec![Vec::new(); runs];
    let mut running = vec![false; runs];
    let mut ended = vec![false; runs];
    let mut stops = Vec::new();
    for (_, k, i) in events {
        if ended[k] {
            continue;
        }
        history[k].push(curves[k][i]);
        running[k] = i + 1 < steps;
        ended[k] = !running[k];
        let thresholds = rule.thresholds(history.iter().map(Vec::as_slice));
        for r in 0..runs {
            if running[r]
                && let Some(j) = rule.judge(&thresholds, &history[r])
                && j.stop
            {
                running[r] = false;
                ended[r] = true;
                stops.push([r, history[r].len()]);
            }
        }
    }
    stops
}

#[test]
fn stops_the_same_runs_at_the_same_iterations_as_wandb() {
    let expected: Value = serde_json::from_str(include_str!(
        "../../../tests/wandb-oracle/hyperband/expected.json"
    ))
    .unwrap();
    let curves: Vec<Vec<f64>> = serde_json::from_value(expected["curves"].clone()).unwrap();
    assert_eq!((curves.len(), curves[0].len()), (27, 27));
    for (name, config) in expected["configs"].as_object().unwrap() {
        let goal = config["goal"].as_str().unwrap();
        let rule = rule(&config["early_terminate"].to_string(), goal);
        for (sequential, wandb) in [
            (false, &config["stops"]),
            (true, &expected["sequential"][name]),
        ] {
            let wandb: Vec<[usize; 2]> = serde_json::from_value(wandb.clone()).unwrap();
            assert!(wandb.len() > 10, "{name}: the scenario stops runs");
            assert_eq!(
                replay(&rule, &curves, sequential),
                wandb,
                "{name} (sequential: {sequential}): (run, iteration) of every stop, in order"
            );
        }
    }
}

#[test]
fn the_first_run_at_a_band_is_never_stopped_and_ties_survive() {
    let r = rule("{type: hyperband, min_iter: 1, eta: 2}", "minimize");
    let alone: &[f64] = &[5.0];
    let j = judge(&r, &[alone], alone).unwrap();
    assert!(!j.stop && j.runs_at_band == 1 && j.threshold == 5.0);
    // Two runs at band 1: threshold is sorted[int(2/2)] = the worse; equal survives.
    let a: &[f64] = &[1.0];
    let b: &[f64] = &[1.0];
    assert!(!judge(&r, &[a, b], b).unwrap().stop, "a tie survives");
    // Three runs: sorted [1, 2, 3], index int(3/2) = 1, threshold 2: 3 is stopped.
    let c: &[f64] = &[2.0];
    let d: &[f64] = &[3.0];
    let j = judge(&r, &[a, c, d], d).unwrap();
    assert_eq!(
        (j.stop, j.threshold, j.band, j.runs_at_band),
        (true, 2.0, 1, 3)
    );
    assert!(!judge(&r, &[a, c, d], c).unwrap().stop);
}

#[test]
fn the_threshold_index_is_wandbs_int_of_count_over_eta() {
    // int((1/eta) * n) and int(n / eta) differ for these (checked in Python).
    for (eta, n, index) in [(49.0, 49, 0), (2.2, 33, 15), (1.3, 39, 29), (3.7, 37, 9)] {
        assert_eq!(super::rank_index(eta, n), index, "eta {eta}, {n} values");
    }
}

#[test]
fn before_the_first_band_no_judgement() {
    let r = rule("{type: hyperband, max_iter: 27, s: 2, eta: 3}", "minimize"); // bands 3, 9
    let h: &[f64] = &[9.0, 9.0];
    assert_eq!(judge(&r, &[h, &[0.0, 0.0, 0.0]], h), None);
}

#[test]
fn strict_compares_the_value_at_the_band_and_not_strict_the_best() {
    // Bands 2, 4; the run was good at iteration 1 and bad at the band.
    let good: &[f64] = &[1.0, 1.0];
    let other: &[f64] = &[1.0, 1.5];
    let run: &[f64] = &[0.5, 3.0];
    let all = [good, other, run];
    let strict = rule("{type: hyperband, min_iter: 2, eta: 2}", "minimize");
    let j = judge(&strict, &all, run).unwrap();
    assert!(j.stop && j.value == 3.0 && j.threshold == 1.5, "{j:?}");
    let lenient = rule(
        "{type: hyperband, min_iter: 2, eta: 2, strict: false}",
        "minimize",
    );
    let j = judge(&lenient, &all, run).unwrap();
    assert!(!j.stop && j.value == 0.5, "{j:?}");
}

#[test]
fn maximize_keeps_the_high_values() {
    let r = rule("{type: hyperband, min_iter: 1, eta: 2}", "maximize");
    let (a, b, c): (&[f64], &[f64], &[f64]) = (&[0.9], &[0.5], &[0.1]);
    let j = judge(&r, &[a, b, c], c).unwrap();
    // Best first: 0.9, 0.5, 0.1; index int(3/2) = 1: threshold 0.5, in the user's terms.
    assert_eq!((j.stop, j.threshold, j.value), (true, 0.5, 0.1));
    assert!(!judge(&r, &[a, b, c], a).unwrap().stop);
}

#[test]
fn a_run_is_judged_at_the_largest_band_it_reached() {
    let r = rule("{type: hyperband, min_iter: 1, eta: 3}", "minimize"); // bands 1, 3, 9, ...
    let leader: &[f64] = &[1.0, 1.0, 1.0, 1.0];
    let run: &[f64] = &[0.5, 0.5, 2.0, 0.1];
    let j = judge(&r, &[leader, run], run).unwrap();
    assert_eq!(
        (j.band, j.iteration, j.value, j.threshold),
        (3, 4, 2.0, 1.0)
    );
    assert!(j.stop);
}

/// The worked example of docs/early-termination.md, step by step.
#[test]
fn the_documented_example_holds() {
    let r = rule("{type: hyperband, max_iter: 27, s: 2, eta: 3}", "minimize");
    let a: &[f64] = &[0.9, 0.7, 0.50];
    let b: &[f64] = &[1.0, 0.8, 0.60];
    let c: &[f64] = &[1.1, 1.0, 1.00];
    let abc = [a, b, c];
    assert!(!judge(&r, &abc, a).unwrap().stop);
    assert!(
        !judge(&r, &abc, b).unwrap().stop,
        "equal to the threshold 0.60"
    );
    let j = judge(&r, &abc, c).unwrap();
    assert_eq!(
        (j.stop, j.band, j.threshold, j.runs_at_band),
        (true, 3, 0.60, 3)
    );
    // D reaches band 3 with 0.55 while B, at iteration 7, is still running.
    let b7: &[f64] = &[1.0, 0.8, 0.60, 0.58, 0.57, 0.56, 0.55];
    let d: &[f64] = &[0.9, 0.7, 0.55];
    let all = [a, b7, c, d];
    assert!(!judge(&r, &all, d).unwrap().stop);
    assert!(!judge(&r, &all, a).unwrap().stop);
    let j = judge(&r, &all, b7).unwrap();
    assert_eq!(
        (
            j.stop,
            j.iteration,
            j.band,
            j.value,
            j.threshold,
            j.runs_at_band
        ),
        (true, 7, 3, 0.60, 0.55, 4)
    );
}
