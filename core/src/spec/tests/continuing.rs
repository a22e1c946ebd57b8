//! `sweepd.enqueue` and `sweepd.warm_start` as `sweepctl validate` reads them.

use super::*;

const BASE: &str = "method: random\nprogram: train.py\nmetric: {name: loss}\nrun_cap: 3\n\
                    parameters:\n  lr: {min: 0.0, max: 0.1}\n  opt: {values: [adam, sgd]}\n";

#[test]
fn given_runs_are_read_and_checked_against_the_parameters_with_their_place() {
    let spec = valid(&format!(
        "{BASE}sweepd:\n  enqueue:\n    - {{lr: 0.01, opt: sgd}}\n    - {{lr: 0.05}}\n"
    ));
    assert_eq!(spec.sweepd.enqueue.len(), 2);
    assert_eq!(spec.sweepd.enqueue[0]["opt"], json!("sgd"));

    let text = format!(
        "{BASE}sweepd:\n  enqueue:\n    - {{lr: 0.01}}\n    - {{lr: 0.5, opt: sgd}}\n    - {{momentum: 0.9}}\n"
    );
    let v = yaml(&text);
    let errors: Vec<String> = v
        .diagnostics
        .errors()
        .map(|d| d.display_in("t.yaml").to_string())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:#?}");
    assert!(errors[0].starts_with("t.yaml:11:7: error: sweepd.enqueue[1]: run 2 of `enqueue`: `lr`: 0.5 is outside [0, 0.1]"), "{}", errors[0]);
    assert!(errors[1].contains("sweepd.enqueue[2]: run 3 of `enqueue`: `momentum`: no such parameter (the sweep's: lr, opt)"), "{}", errors[1]);

    assert_error(
        &format!(
            "{BASE}sweepd: {{enqueue: [{{lr: 0.01}}, {{lr: 0.02}}, {{lr: 0.03}}, {{lr: 0.04}}]}}\n"
        ),
        "sweepd.enqueue",
        "gives 4 runs, more than `run_cap` (3)",
    );
    assert_error(
        &format!("{BASE}sweepd: {{enqueue: {{lr: 0.01}}}}\n"),
        "sweepd.enqueue",
        "expected a list",
    );
    assert_error(
        &format!("{BASE}sweepd: {{enqueue: [0.01]}}\n"),
        "sweepd.enqueue[0]",
        "expected a mapping of parameters",
    );
}

#[test]
fn warm_starts_name_sweeps_and_maybe_a_metric() {
    let spec = valid(&format!(
        "{BASE}sweepd:\n  warm_start: [mnist-4k2q, {{sweep: ../old/sweeps/x, metric: val_loss}}]\n"
    ));
    assert_eq!(
        spec.sweepd.warm_start,
        [
            WarmStart {
                sweep: "mnist-4k2q".into(),
                metric: None
            },
            WarmStart {
                sweep: "../old/sweeps/x".into(),
                metric: Some("val_loss".into())
            },
        ]
    );
    assert_error(
        &format!("{BASE}sweepd: {{warm_start: mnist}}\n"),
        "sweepd.warm_start",
        "expected a list",
    );
    assert_error(
        &format!("{BASE}sweepd: {{warm_start: [3]}}\n"),
        "sweepd.warm_start[0]",
        "expected a sweep id or folder",
    );
    assert_error(
        &format!("{BASE}sweepd: {{warm_start: [{{metric: loss}}]}}\n"),
        "sweepd.warm_start[0]",
        "sweep",
    );
    assert_error(
        &format!("{BASE}sweepd: {{warm_start: [{{sweep: a, seed: 3}}]}}\n"),
        "sweepd.warm_start[0].seed",
        "",
    );
    assert_error(
        &format!("{BASE}sweepd: {{warm_start: ['  ']}}\n"),
        "sweepd.warm_start[0]",
        "must name a sweep",
    );
}
