//! `sweepd.conditions` and `sweepd.constraints` as `sweepctl validate`
//! reads them: each mistake an error at its place, with a way out.

use super::*;

const BASE: &str = "method: random\nprogram: train.py\nmetric: {name: loss}\n\
                    parameters:\n  optimizer: {values: [adam, sgd]}\n  momentum: {min: 0.0, max: 0.99}\n  \
                    batch_size: {values: [32, 64, 128]}\n  grad_accum: {min: 1, max: 8}\n  \
                    head:\n    parameters:\n      width: {values: [64, 128]}\n";

fn with(block: &str) -> String {
    format!("{BASE}sweepd:\n{block}")
}

/// The one error, as `t.yaml:line:column: error: path: message`, and its help.
fn one_error(block: &str) -> (String, Option<String>) {
    let v = yaml(&with(block));
    let errors: Vec<&Diagnostic> = v.diagnostics.errors().collect();
    assert_eq!(errors.len(), 1, "{:#?}", v.diagnostics);
    (
        errors[0].headline_in("t.yaml").to_string(),
        errors[0].help.clone(),
    )
}

#[test]
fn conditions_and_constraints_are_read_in_both_forms() {
    let spec = valid(&with(
        "  conditions:\n    momentum: {optimizer: sgd}\n    head: \"batch_size >= 64\"\n    \
         head.width: {optimizer: [adam, sgd], batch_size: 128}\n  \
         constraints: [\"batch_size * grad_accum <= 512\"]\n",
    ));
    let texts: Vec<(&str, &str)> = spec
        .sweepd
        .conditions
        .iter()
        .map(|c| (c.target.as_str(), c.text.as_str()))
        .collect();
    assert_eq!(
        texts,
        [
            ("momentum", "optimizer == 'sgd'"),
            ("head", "batch_size >= 64"),
            (
                "head.width",
                "(optimizer == 'adam' or optimizer == 'sgd') and batch_size == 128"
            ),
        ]
    );
    assert_eq!(
        spec.sweepd.constraints[0].text,
        "batch_size * grad_accum <= 512"
    );
}

#[test]
fn unknown_names_are_errors_with_a_suggestion() {
    let (e, help) = one_error("  constraints: [\"batch_size * grad_acum <= 512\"]\n");
    assert_eq!(
        e,
        "t.yaml:13:17: error: sweepd.constraints[0]: there is no parameter `grad_acum` \
         (column 14 of `batch_size * grad_acum <= 512`)"
    );
    assert_eq!(help.as_deref(), Some("did you mean `grad_accum`?"));

    let (e, help) = one_error("  conditions:\n    momentun: {optimizer: sgd}\n");
    assert_eq!(
        e,
        "t.yaml:14:5: error: sweepd.conditions.momentun: there is no parameter or group `momentun`"
    );
    assert_eq!(help.as_deref(), Some("did you mean `momentum`?"));

    let (e, _) = one_error("  conditions:\n    momentum: {optimiser: sgd}\n");
    assert!(e.contains("there is no parameter `optimiser`"), "{e}");

    let (e, help) = one_error("  constraints: [\"head > 1\"]\n");
    assert!(e.contains("there is no parameter `head`"), "{e}");
    assert_eq!(
        help.as_deref(),
        Some("`head` is a group of parameters: name one of its parameters")
    );
}

#[test]
fn type_errors_say_which_operator_and_what_it_was_given() {
    let (e, help) = one_error("  constraints: [\"optimizer < 3\"]\n");
    assert!(
        e.ends_with(
            "sweepd.constraints[0]: `<` compares text with a number (column 11 of `optimizer < 3`)"
        ),
        "{e}"
    );
    assert!(help.unwrap().contains("text in quotes"));
    let (e, _) = one_error("  constraints: [\"batch_size * 2\"]\n");
    assert!(e.contains("a number, not a condition"), "{e}");
    let (e, _) = one_error("  conditions:\n    momentum: {optimizer: [adam, 3]}\n");
    assert!(e.contains("`==` compares text with a number"), "{e}");
    let (e, help) = one_error("  constraints: [\"batch_size = 64\"]\n");
    assert!(e.contains("unexpected `=` (column 12"), "{e}");
    assert_eq!(help.as_deref(), Some("compare with `==`"));
}

#[test]
fn what_can_never_be_true_is_an_error_and_what_always_is_a_warning() {
    let (e, help) = one_error("  constraints: [\"batch_size * grad_accum > 1024\"]\n");
    assert!(
        e.ends_with("sweepd.constraints[0]: `batch_size * grad_accum > 1024` is never true over the parameters' ranges: no run could satisfy it"),
        "{e}"
    );
    assert!(help.unwrap().contains("min and max"));

    let (e, help) = one_error("  conditions:\n    momentum: {optimizer: sdg}\n");
    assert_eq!(
        help.as_deref(),
        Some("`optimizer` takes adam, sgd; did you mean `sgd`?")
    );
    assert!(
        e.ends_with("sweepd.conditions.momentum: `momentum` would never be active: `optimizer == 'sdg'` is never true"),
        "{e}"
    );

    // Over a parameter some runs lack, never true only rules out the runs
    // that have it: a warning.
    let v = yaml(&with(
        "  conditions: {momentum: {optimizer: sgd}}\n  constraints: [\"momentum > 1\"]\n",
    ));
    assert!(v.is_valid(), "{:#?}", v.diagnostics);
    assert!(
        v.diagnostics
            .warnings()
            .any(|d| d.message.contains("rules out every run that has"))
    );

    let v = yaml(&with("  constraints: [\"batch_size <= 128\"]\n"));
    assert!(v.is_valid());
    let warnings: Vec<String> = v
        .diagnostics
        .warnings()
        .map(|d| d.message.clone())
        .collect();
    assert_eq!(
        warnings,
        ["`batch_size <= 128` always holds: it rules nothing out"]
    );
}

#[test]
fn a_cycle_in_conditions_is_an_error_that_names_it() {
    let (e, help) = one_error(
        "  conditions:\n    momentum: \"grad_accum > 2\"\n    grad_accum: \"momentum > 0.5\"\n",
    );
    assert_eq!(
        e,
        "t.yaml:14:5: error: sweepd.conditions.momentum: the conditions go round in a circle: \
         `momentum` depends on `grad_accum`, `grad_accum` depends on `momentum`"
    );
    assert!(help.unwrap().contains("do not depend on it"));

    // A group whose condition reads its own member.
    let (e, _) = one_error("  conditions:\n    head: \"head.width > 64\"\n");
    assert!(e.contains("`head` depends on `head`"), "{e}");
}

#[test]
fn malformed_blocks_say_what_was_expected() {
    let (e, _) = one_error("  constraints: \"batch_size <= 512\"\n");
    assert!(e.contains("expected a list of conditions, found"), "{e}");
    let (e, help) = one_error("  constraints: [3]\n");
    assert!(e.contains("expected a condition as text"), "{e}");
    assert!(help.unwrap().contains("quote it"));
    let (e, _) = one_error("  conditions:\n    momentum: 3\n");
    assert!(e.contains("expected when `momentum` is active"), "{e}");
    let (e, _) = one_error("  conditions:\n    momentum: {optimizer: []}\n");
    assert!(e.contains("the list of values is empty"), "{e}");
}

#[test]
fn given_runs_must_have_only_active_parameters_and_keep_the_constraints() {
    let (e, _) = one_error(
        "  conditions: {momentum: {optimizer: sgd}}\n  enqueue: [{optimizer: adam, momentum: 0.9}]\n",
    );
    assert!(
        e.contains(
            "`momentum`: is not a parameter of this run: a run has it only when optimizer == 'sgd'"
        ),
        "{e}"
    );
    let (e, _) = one_error(
        "  constraints: [\"batch_size * grad_accum <= 512\"]\n  enqueue: [{batch_size: 128, grad_accum: 8}]\n",
    );
    assert!(
        e.contains("`batch_size * grad_accum <= 512`: the run breaks this constraint"),
        "{e}"
    );
    // A given run that leaves a deciding parameter out is completed so that
    // it has what it gives.
    let spec = valid(&with(
        "  conditions: {momentum: {optimizer: sgd}}\n  enqueue: [{momentum: 0.9}]\n",
    ));
    assert_eq!(
        crate::search::given_runs(&spec, 3).unwrap()[0]["optimizer"],
        "sgd"
    );
    // What a given run leaves out is filled in to keep the constraints.
    let spec = valid(&with(
        "  constraints: [\"batch_size * grad_accum <= 256\"]\n  enqueue: [{batch_size: 128}]\n",
    ));
    for seed in 0..20 {
        let runs = crate::search::given_runs(&spec, seed).unwrap();
        let accum = runs[0]["grad_accum"].as_i64().unwrap();
        assert!(accum <= 2, "seed {seed}: {accum}");
    }
}

const SEVERAL: &str = "method: bayes\nprogram: train.py\nparameters:\n  lr: {min: 0.0, max: 0.1}\n";

#[test]
fn several_objectives_are_read_and_checked_against_metric_and_early_termination() {
    let spec = valid(&format!(
        "{SEVERAL}sweepd:\n  objectives: [{{name: acc, goal: maximize}}, {{name: latency_ms}}]\n  \
         outcome_constraints: [\"memory_gb <= 40\", \"0.5 <= acc\", \"drift >= -1\"]\n"
    ));
    let o = &spec.sweepd.objectives;
    assert_eq!((o[0].name.as_str(), o[0].goal), ("acc", Goal::Maximize));
    assert_eq!(
        (o[1].name.as_str(), o[1].goal),
        ("latency_ms", Goal::Minimize)
    );
    let c = &spec.sweepd.outcome_constraints;
    assert!(c[0].holds(40.0) && !c[0].holds(40.5));
    assert!(
        c[1].holds(0.5) && !c[1].holds(0.4),
        "0.5 <= acc is acc >= 0.5"
    );
    assert!(c[2].holds(-1.0) && !c[2].holds(-1.5));
    assert_eq!(c[0].excess(42.0), 2.0);
    assert_eq!(c[1].excess(0.25), 0.25);

    let one = errors(&format!(
        "{SEVERAL}sweepd:\n  objectives: [{{name: acc}}]\n"
    ));
    assert!(
        one.iter()
            .any(|e| e.contains("`objectives` lists 1 metric: it is for two or more")),
        "{one:?}"
    );
    assert_error(
        &format!("{SEVERAL}sweepd:\n  objectives: [{{name: acc}}, {{name: acc}}]\n"),
        "sweepd.objectives[1]",
        "`acc` is already an objective",
    );
    assert_error(
        &format!(
            "{SEVERAL}metric: {{name: loss}}\nsweepd:\n  objectives: [{{name: acc}}, {{name: ms}}]\n"
        ),
        "metric",
        "`metric` is `loss`, which is not one of `sweepd.objectives`",
    );
    assert_error(
        &format!(
            "{SEVERAL}metric: {{name: acc, goal: maximize}}\nsweepd:\n  objectives: [{{name: acc}}, {{name: ms}}]\n"
        ),
        "metric",
        "`metric` says maximize `acc`, its objective says minimize",
    );
    assert_error(
        &format!(
            "{SEVERAL}metric: {{name: acc}}\nearly_terminate: {{type: hyperband, min_iter: 3}}\n\
             sweepd:\n  objectives: [{{name: acc}}, {{name: ms}}]\n"
        ),
        "early_terminate",
        "early termination with several objectives is not defined",
    );
    // Without objectives, bayes still needs a metric.
    assert_error(SEVERAL, "method", "bayes search needs a `metric`");
}

#[test]
fn an_outcome_constraint_compares_one_metric_with_a_number() {
    for (text, fragment) in [
        (
            "memory_gb + 1 <= 40",
            "compares one logged metric with a number",
        ),
        ("memory_gb == 40", "by <, <=, > or >="),
        (
            "memory_gb <= limit",
            "compares one logged metric with a number",
        ),
        ("memory_gb <=", "expected a value"),
    ] {
        assert_error(
            &format!(
                "{SEVERAL}metric: {{name: acc}}\nsweepd:\n  outcome_constraints: [\"{text}\"]\n"
            ),
            "sweepd.outcome_constraints[0]",
            fragment,
        );
    }
}
