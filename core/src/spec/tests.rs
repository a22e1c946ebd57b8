//! Behaviour of the sweep checks as a user meets it: a file in, a spec or
//! problems out. Each case states what W&B 0.3.0 does with the same input.

use serde_json::json;

use super::*;

fn yaml(text: &str) -> Validation {
    check(text, Format::Yaml)
}

/// A sweep with the given parameters block (indented two spaces per level).
fn sweep(method: &str, parameters: &str) -> String {
    format!(
        "method: {method}\nprogram: train.py\nmetric: {{name: loss}}\nparameters:\n{parameters}"
    )
}

fn valid(text: &str) -> SweepSpec {
    let v = yaml(text);
    let errors: Vec<String> = v
        .diagnostics
        .errors()
        .map(|d| d.display_in("t.yaml").to_string())
        .collect();
    v.spec
        .unwrap_or_else(|| panic!("expected valid, got:\n{}", errors.join("\n")))
}

/// The errors as `path: message` lines.
fn errors(text: &str) -> Vec<String> {
    let v = yaml(text);
    assert!(!v.is_valid(), "expected invalid:\n{text}");
    v.diagnostics
        .errors()
        .map(|d| match &d.help {
            Some(help) => format!("{}: {} (help: {help})", d.path, d.message),
            None => format!("{}: {}", d.path, d.message),
        })
        .collect()
}

fn assert_error(text: &str, path: &str, fragment: &str) {
    let all = errors(text);
    assert!(
        all.iter()
            .any(|e| e.starts_with(&format!("{path}: ")) && e.contains(fragment)),
        "no error at `{path}` containing {fragment:?}; errors were:\n{}",
        all.join("\n")
    );
}

fn only_parameter(text: &str) -> Distribution {
    let spec = valid(text);
    let leaves = spec.parameters.leaves();
    assert_eq!(leaves.len(), 1);
    leaves[0].1.clone()
}

fn param(method: &str, body: &str) -> Distribution {
    only_parameter(&sweep(method, &format!("  x: {body}\n")))
}

#[test]
fn every_distribution_reads_with_wandb_defaults() {
    use Distribution as D;
    let cases: Vec<(&str, Distribution)> = vec![
        ("{value: 3}", D::Constant { value: json!(3) }),
        (
            "{values: [a, 1, true, null]}",
            D::Categorical {
                values: vec![json!("a"), json!(1), json!(true), json!(null)],
            },
        ),
        (
            "{values: [a, b], probabilities: [0.25, 0.75]}",
            D::CategoricalWithProbabilities {
                values: vec![json!("a"), json!("b")],
                probabilities: vec![0.25, 0.75],
            },
        ),
        ("{min: 1, max: 5}", D::IntUniform { min: 1, max: 5 }),
        ("{min: 0, max: 0.1}", D::Uniform { min: 0.0, max: 0.1 }),
        (
            "{min: 1.0, max: 10.0}",
            D::Uniform {
                min: 1.0,
                max: 10.0,
            },
        ),
        (
            "{distribution: uniform, min: 1, max: 10}",
            D::Uniform {
                min: 1.0,
                max: 10.0,
            },
        ),
        (
            "{distribution: q_uniform, min: 0, max: 10}",
            D::QUniform {
                min: Num::Int(0),
                max: Num::Int(10),
                q: Num::Float(1.0),
            },
        ),
        (
            "{distribution: log_uniform, min: -5, max: 0}",
            D::LogUniform {
                min: -5.0,
                max: 0.0,
            },
        ),
        (
            "{distribution: log_uniform_values, min: 1.0e-5, max: 0.1}",
            D::LogUniformValues {
                min: 1e-5,
                max: 0.1,
            },
        ),
        (
            "{distribution: q_log_uniform, min: 0, max: 3, q: 2}",
            D::QLogUniform {
                min: 0.0,
                max: 3.0,
                q: Num::Int(2),
            },
        ),
        (
            "{distribution: q_log_uniform_values, min: 32, max: 256, q: 8}",
            D::QLogUniformValues {
                min: 32.0,
                max: 256.0,
                q: Num::Int(8),
            },
        ),
        (
            "{distribution: inv_log_uniform, min: 0, max: 3}",
            D::InvLogUniform { min: 0.0, max: 3.0 },
        ),
        (
            "{distribution: inv_log_uniform_values, min: 0.1, max: 1}",
            D::InvLogUniformValues { min: 0.1, max: 1.0 },
        ),
        (
            "{distribution: normal}",
            D::Normal {
                mu: 0.0,
                sigma: 1.0,
            },
        ),
        (
            "{distribution: q_normal, mu: 5, sigma: 2, q: 0.5}",
            D::QNormal {
                mu: 5.0,
                sigma: 2.0,
                q: Num::Float(0.5),
            },
        ),
        (
            "{distribution: log_normal, sigma: 0.5}",
            D::LogNormal {
                mu: 0.0,
                sigma: 0.5,
            },
        ),
        (
            "{distribution: q_log_normal, mu: 1}",
            D::QLogNormal {
                mu: 1.0,
                sigma: 1.0,
                q: Num::Float(1.0),
            },
        ),
        ("{distribution: beta}", D::Beta { a: 1.0, b: 1.0 }),
        (
            "{distribution: q_beta, a: 2, b: 5, q: 0.1}",
            D::QBeta {
                a: 2.0,
                b: 5.0,
                q: Num::Float(0.1),
            },
        ),
    ];
    let mut kinds: Vec<Kind> = Vec::new();
    for (body, expected) in cases {
        let got = param("random", body);
        assert_eq!(got, expected, "{body}");
        kinds.push(got.kind());
    }
    for kind in Kind::ALL {
        assert!(kinds.contains(&kind), "no case for {kind}");
    }
}

#[test]
fn nested_parameters_read_to_any_depth() {
    let spec = valid(&sweep(
        "random",
        "  a:\n    parameters:\n      b:\n        parameters:\n          c:\n            parameters:\n              d: {value: 1}\n  e: {value: 2}\n",
    ));
    let names: Vec<Vec<String>> = spec
        .parameters
        .leaves()
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    assert_eq!(names, [vec!["a", "b", "c", "d"], vec!["e"]]);
}

#[test]
fn json_files_read_the_same() {
    let text = r#"{"method": "grid", "program": "p", "parameters": {"a": {"values": [1, 2]}, "b": {"min": 1, "max": 3}}}"#;
    let v = check(text, Format::Json);
    let spec = v.spec.expect("valid");
    assert_eq!(spec.method, Method::Grid);
    assert_eq!(
        spec.parameters.leaves()[1].1,
        &Distribution::IntUniform { min: 1, max: 3 }
    );
}

#[test]
fn distributions_that_cannot_be_inferred_are_refused_with_the_fix() {
    assert_error(
        &sweep("random", "  x: {min: 1, max: 10, q: 2}\n"),
        "parameters.x",
        "has `q` but no `distribution`",
    );
    assert_error(
        &sweep("random", "  x: {mu: 0, sigma: 1}\n"),
        "parameters.x",
        "add `distribution: normal`",
    );
    assert_error(
        &sweep("random", "  x: {min: 1}\n"),
        "parameters.x",
        "needs both `min` and `max`",
    );
    assert_error(&sweep("random", "  x: {}\n"), "parameters.x", "is empty");
    assert_error(
        &sweep("random", "  x: {min: \"1e-4\", max: 0.1}\n"),
        "parameters.x.min",
        "expected a number",
    );
    // With `values`, a stray `q` is simply not a key of categorical.
    assert_error(
        &sweep("random", "  x: {values: [1, 2], q: 1}\n"),
        "parameters.x.q",
        "does not belong to a categorical",
    );
}

#[test]
fn wandb_value_checks() {
    let s = |body: &str| sweep("random", &format!("  x: {body}\n"));
    assert_error(
        &s("{min: 5, max: 3}"),
        "parameters.x.min",
        "must be less than `max`",
    );
    assert_error(
        &s("{min: 3, max: 3}"),
        "parameters.x.min",
        "must be less than `max`",
    );
    assert_error(
        &s("{distribution: log_uniform_values, min: 0.1, max: 0.01}"),
        "parameters.x.min",
        "less than",
    );
    assert_error(
        &s("{distribution: normal, mu: 0.1, sigma: -0.1}"),
        "parameters.x.sigma",
        "cannot be negative",
    );
    assert_error(
        &s("{distribution: normal, sigma: 0}"),
        "parameters.x.sigma",
        "samples NaN",
    );
    assert_error(
        &s("{distribution: log_normal, mu: 600, sigma: 20}"),
        "parameters.x",
        "e^(mu + 8.5 sigma)",
    );
    // Integers compare exactly, as in Python: 2^53 and 2^53 + 1 are different.
    param("random", "{min: 9007199254740992, max: 9007199254740993}");
    assert_error(
        &s("{min: 0, max: 1.0e19, distribution: int_uniform}"),
        "parameters.x.max",
        "must be integers",
    );
    assert_error(
        &s("{values: [1, 2], probabilities: [0.3, 0.3]}")
            .replace("  x: ", "  g:\n    parameters:\n      x: "),
        "parameters.g.parameters.x.probabilities",
        "add up to 0.6",
    );
    assert_error(
        &s("{distribution: q_uniform, min: 0, max: 1, q: 0}"),
        "parameters.x.q",
        "greater than 0",
    );
    assert_error(
        &s("{distribution: log_uniform_values, min: 0, max: 1}"),
        "parameters.x.min",
        "greater than 0",
    );
    assert_error(
        &s("{distribution: int_uniform, min: 0.0, max: 1.0}"),
        "parameters.x.min",
        "must be integers",
    );
    assert_error(
        &s("{values: [1, 2, 3], probabilities: [0.1, 0.2, 0.3, 0.4]}"),
        "parameters.x.probabilities",
        "4 probabilities for 3 values",
    );
    assert_error(
        &s("{values: [1, 2, 3], probabilities: [0.1, 0.2, 0.3]}"),
        "parameters.x.probabilities",
        "add up to 0.6",
    );
    assert_error(
        &s("{values: [1, 2], probabilities: [1.5, -0.5]}"),
        "parameters.x.probabilities[1]",
        "cannot be negative",
    );
    assert_error(&s("{values: 3}"), "parameters.x.values", "must be a list");
    assert_error(&s("{values: []}"), "parameters.x.values", "is empty");
    assert_error(
        &s("{distribution: beta, a: 0}"),
        "parameters.x.a",
        "greater than 0",
    );
    assert_error(
        &s("{distribution: log_uniform, min: 0, max: 800}"),
        "parameters.x.max",
        "beyond the largest number",
    );
    assert_error(
        &s("{value: .inf}"),
        "parameters.x.value",
        "only finite numbers",
    );
    // Within numpy.isclose of 1: accepted, as W&B does.
    param(
        "random",
        "{values: [1, 2, 3], probabilities: [0.333333, 0.333333, 0.333333]}",
    );
}

#[test]
fn unknown_distributions_and_keys_get_a_suggestion() {
    let v = yaml(&sweep(
        "random",
        "  lr: {distribution: log_uniform_value, min: 1.0e-5, max: 0.1}\n",
    ));
    let d = v.diagnostics.errors().next().unwrap();
    assert_eq!(d.path.to_string(), "parameters.lr.distribution");
    assert_eq!(d.message, "unknown distribution `log_uniform_value`");
    assert_eq!(
        d.help.as_deref(),
        Some("did you mean `log_uniform_values`?")
    );
    assert_eq!(
        d.position,
        Some(Position {
            line: 5,
            column: 22
        })
    );

    assert_error(
        &sweep(
            "random",
            "  x: {distribution: uniform, min: 0.0, max: 1.0, q: 0.1}\n",
        ),
        "parameters.x.q",
        "does not belong to a uniform parameter",
    );
    assert_error(
        &sweep("random", "  x: {values: [1], vlaue: 2}\n"),
        "parameters.x.vlaue",
        "unknown key `vlaue`",
    );
    let v = yaml("method: grid\nprogram: p\nparamters:\n  a: {value: 1}\n");
    let help: Vec<_> = v
        .diagnostics
        .errors()
        .filter_map(|d| d.help.clone())
        .collect();
    assert!(
        help.contains(&"did you mean `parameters`?".to_owned()),
        "{help:?}"
    );
}

#[test]
fn parameter_names_follow_wandbs_pattern() {
    assert_error(
        &sweep("random", "  1lr: {value: 1}\n"),
        "parameters.1lr",
        "not a valid parameter name",
    );
    assert_error(
        &sweep("random", "  \"learning rate\": {value: 1}\n"),
        "parameters.\"learning rate\"",
        "not a valid parameter name",
    );
    let spec = valid(&sweep(
        "random",
        "  model.lr: {value: 1}\n  _a-b: {value: 2}\n",
    ));
    assert_eq!(spec.parameters.leaves().len(), 2);
}

#[test]
fn a_mis_indented_parameter_is_pointed_out() {
    let text = sweep(
        "random",
        "  a:\n    values: [1, 2]\n    b:\n      values: [3]\n",
    );
    let v = yaml(&text);
    let d = v.diagnostics.errors().next().unwrap();
    assert_eq!(d.path.to_string(), "parameters.a.b");
    assert_eq!(
        d.help.as_deref(),
        Some("`b` looks like a parameter of its own: is it indented too far?")
    );
    assert_error(
        &sweep(
            "random",
            "  a:\n    parameters: {b: {value: 1}}\n    values: [1]\n",
        ),
        "parameters.a",
        "cannot also have `values`",
    );
}

#[test]
fn every_problem_is_reported_at_once_in_file_order() {
    let text = "method: grd\nprogram: p\nparameters:\n  a: {min: 5, max: 1}\n  b: {distribution: nromal}\nrun_cap: 0\n";
    let v = yaml(text);
    let found: Vec<(String, usize)> = v
        .diagnostics
        .errors()
        .map(|d| (d.path.to_string(), d.position.unwrap().line))
        .collect();
    assert_eq!(
        found,
        [
            ("method".to_owned(), 1),
            ("parameters.a.min".to_owned(), 4),
            ("parameters.b.distribution".to_owned(), 5),
            ("run_cap".to_owned(), 6),
        ]
    );
}

#[test]
fn checks_across_keys_are_reported_along_with_the_rest() {
    let text = "method: grid\nprogram: p\nmetric: {name: loss, goal: best}\nparameters:\n  lr: {min: 0.0, max: 1.0}\n";
    let all = errors(text);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[0].starts_with("metric.goal: "), "{all:?}");
    assert!(
        all[1].starts_with("parameters.lr: grid search cannot take `lr`"),
        "{all:?}"
    );
}

#[test]
fn top_level_rules() {
    assert_error(
        "program: p\nparameters: {a: {value: 1}}\n",
        "",
        "needs the key `method`",
    );
    assert_error(
        "method: grid\nprogram: p\n",
        "",
        "needs the key `parameters`",
    );
    assert_error(
        "method: grid\nprogram: p\nparameters: {}\n",
        "parameters",
        "is empty",
    );
    assert_error(
        "method: custom\nprogram: p\nparameters: {a: {value: 1}}\n",
        "method",
        "not supported",
    );
    assert_error(
        "method: random\nprogram: p\nparameters: {a: {value: 1}}\nrun_cap: -1\n",
        "run_cap",
        "at least 1",
    );
    assert_error(
        "method: random\nprogram: 5\nparameters: {a: {value: 1}}\n",
        "program",
        "expected a string",
    );
    assert_error(
        "method: random\nprogram: p\nkind: job\nparameters: {a: {value: 1}}\n",
        "kind",
        "not one of sweep",
    );
    assert_error("[1, 2]\n", "", "must be a mapping");
    assert_error("", "", "the file is empty");
    let spec = valid(
        "method: random\nprogram: p\nrun_cap: 5.0\nname: n\ndescription: d\nproject: p\nentity: e\napiVersion: v1\nkind: sweep\ncontroller: {type: local}\nparameters: {a: {value: 1}}\n",
    );
    assert_eq!(spec.run_cap, Some(5));
    assert_eq!(spec.name.as_deref(), Some("n"));
}

#[test]
fn wandb_cloud_features_are_refused_by_name() {
    for (key, fragment) in [
        ("job: my-job:v0", "Launch jobs are not supported"),
        ("image_uri: docker.io/x", "container images"),
        ("metrics: [{name: a}, {name: b}]", "objectives: [{name"),
        ("scheduler: {engine: optuna}", "custom schedulers"),
    ] {
        let text = format!("method: random\nprogram: p\n{key}\nparameters: {{a: {{value: 1}}}}\n");
        let name = key.split(':').next().unwrap();
        assert_error(&text, name, fragment);
    }
}

#[test]
fn metric_is_required_for_bayes_and_early_termination() {
    assert_error(
        "method: bayes\nprogram: p\nparameters: {a: {min: 0.0, max: 1.0}}\n",
        "method",
        "needs a `metric`",
    );
    assert_error(
        "method: random\nprogram: p\nparameters: {a: {value: 1}}\nearly_terminate: {type: hyperband, min_iter: 3}\n",
        "early_terminate",
        "needs a `metric`",
    );
    let spec = valid(
        "method: bayes\nprogram: p\nmetric: {name: acc, goal: maximize, target: 0.99, impute: best, impute_while_running: latest}\nparameters: {a: {min: 0.0, max: 1.0}}\n",
    );
    let metric = spec.metric.unwrap();
    assert_eq!(
        (metric.goal, metric.target, metric.impute),
        (Goal::Maximize, Some(0.99), Impute::Best)
    );
    assert_eq!(metric.impute_while_running, Some(Impute::Latest));
}

#[test]
fn metric_checks() {
    let s = |m: &str| {
        format!("method: random\nprogram: p\nmetric: {m}\nparameters: {{a: {{value: 1}}}}\n")
    };
    assert_error(
        &s("\"{'goal': 'maximize', 'name': 'val/loss'}\""),
        "metric",
        "must be a mapping",
    );
    assert_error(
        &s("{name: loss, goal: minimise}"),
        "metric.goal",
        "not one of minimize, maximize",
    );
    assert_error(&s("{goal: minimize}"), "metric", "needs the key `name`");
    assert_error(
        &s("{name: loss, impute: median}"),
        "metric.impute",
        "not one of",
    );
    assert_error(
        &s("{name: loss, target: high}"),
        "metric.target",
        "expected a number",
    );
    let spec = valid(&s("{name: loss}"));
    let metric = spec.metric.unwrap();
    assert_eq!(
        (metric.goal, metric.impute, metric.impute_while_running),
        (Goal::Minimize, Impute::Worst, None)
    );
    // W&B wants the string "false"; the boolean is taken with a warning.
    let v = yaml(&s("{name: loss, impute_while_running: false}"));
    assert!(v.is_valid());
    assert_eq!(v.diagnostics.warnings().count(), 1);
}

#[test]
fn hyperband_settings() {
    let s = |et: &str| {
        format!(
            "method: random\nprogram: p\nmetric: {{name: loss}}\nparameters: {{a: {{value: 1}}}}\nearly_terminate: {et}\n"
        )
    };
    let spec = valid(&s("{type: hyperband, max_iter: 27, s: 2}"));
    let hb = spec.early_terminate.unwrap();
    assert_eq!((hb.eta, hb.strict, hb.bands()), (3.0, true, vec![3, 9]));
    let spec = valid(&s("{type: hyperband, min_iter: 2, eta: 2, strict: false}"));
    let hb = spec.early_terminate.unwrap();
    assert_eq!(
        (hb.bands()[..3].to_vec(), hb.strict),
        (vec![2, 4, 8], false)
    );
    // Every form against W&B 0.3.0's own arithmetic (int() of repeated
    // division or multiplication by eta; `max_iter` itself never a band).
    for (config, bands) in [
        ("{type: hyperband, max_iter: 27, s: 3}", vec![1, 3, 9]),
        ("{type: hyperband, max_iter: 81, s: 2, eta: 3}", vec![9, 27]),
        (
            "{type: hyperband, max_iter: 10, s: 5, eta: 2}",
            vec![1, 2, 5],
        ),
        (
            "{type: hyperband, max_iter: 100, s: 4, eta: 3.3}",
            vec![2, 9, 30],
        ),
    ] {
        assert_eq!(
            valid(&s(config)).early_terminate.unwrap().bands(),
            bands,
            "{config}"
        );
    }
    for (config, first) in [
        (
            "{type: hyperband, min_iter: 3, eta: 2.5}",
            vec![3, 7, 18, 46, 117],
        ),
        (
            "{type: hyperband, min_iter: 1, eta: 1.5}",
            vec![1, 1, 2, 3, 5],
        ),
    ] {
        let bands = valid(&s(config)).early_terminate.unwrap().bands();
        assert_eq!(bands[..5], first, "{config}");
    }
    assert_error(&s("hyperband"), "early_terminate", "must be a mapping");
    assert_error(
        &s("{type: hyperband, max_iter: 27}"),
        "early_terminate",
        "needs `s`",
    );
    assert_error(
        &s("{type: hyperband}"),
        "early_terminate",
        "needs `max_iter` and `s`, or `min_iter`",
    );
    assert_error(
        &s("{type: hyperband, min_iter: 3, eta: 1}"),
        "early_terminate.eta",
        "greater than 1",
    );
    assert_error(
        &s("{type: hyperband, max_iter: 27, s: 2.5}"),
        "early_terminate.s",
        "expected an integer",
    );
    assert_error(
        &s("{type: hyperband, max_iter: 2, s: 1}"),
        "early_terminate",
        "no band",
    );
    assert_error(
        &s("{type: median, min_iter: 3}"),
        "early_terminate.type",
        "not one of hyperband",
    );
    assert_error(
        &s("{type: hyperband, min_iter: 0}"),
        "early_terminate.min_iter",
        "at least 1",
    );
    assert_error(
        &s("{type: hyperband, max_iter: 27, s: 2, min_iter: 0}"),
        "early_terminate.min_iter",
        "at least 1",
    );
}

#[test]
fn grid_refuses_a_float_axis_too_long_to_list() {
    assert_error(
        &sweep(
            "grid",
            "  x: {distribution: q_uniform, min: 0, max: 1, q: 1.0e-7}\n",
        ),
        "parameters.x",
        "more than 1000000 steps of q",
    );
    assert_error(
        &sweep(
            "grid",
            "  x: {distribution: q_uniform, min: -1.0e308, max: 1.0e308, q: 1.0}\n",
        ),
        "parameters.x",
        "too many to list",
    );
    valid(&sweep(
        "grid",
        "  x: {distribution: q_uniform, min: 0, max: 1, q: 1.0e-6}\n",
    ));
}

#[test]
fn grid_refuses_what_it_cannot_list() {
    let text = sweep(
        "grid",
        "  lr: {min: 0.0, max: 0.1}\n  n: {min: 1, max: 3}\n  w: {values: [a], probabilities: [1.0]}\n",
    );
    let all = errors(&text);
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all[0].starts_with("parameters.lr: grid search cannot take `lr`, a uniform parameter"));
    assert!(
        all[1].starts_with(
            "parameters.w: grid search cannot take `w`, a categorical_w_probabilities"
        )
    );
    // The same parameters are fine for random search.
    valid(&text.replace("method: grid", "method: random"));
}

#[test]
fn command_macros() {
    let s = |cmd: &str| {
        format!(
            "method: random\nprogram: train.py\ncommand: {cmd}\nparameters: {{a: {{value: 1}}}}\n"
        )
    };
    let spec = valid(&s(
        "[\"${env}\", \"${interpreter}\", \"${program}\", \"--data=${envvar:DATA}\", \"${args_no_hyphens}\"]",
    ));
    assert!(spec.command.unwrap().uses("program"));
    assert_error(
        &s("[python, \"--lr=${lr}\"]"),
        "command[1]",
        "unknown macro `${lr}`",
    );
    assert_error(
        &s("[python, \"--cfg=${args_json}\"]"),
        "command[1]",
        "must be a whole argument",
    );
    assert_error(&s("[python, \"${argz}\"]"), "command[1]", "unknown macro");
    let v = yaml(&s("[sh, -c, \"echo ${HOME}\"]"));
    assert!(
        v.is_valid(),
        "an upper-case name is the shell's: {:?}",
        v.diagnostics
    );
    assert_eq!(
        v.diagnostics
            .warnings()
            .filter(|d| d.message.contains("${HOME}"))
            .count(),
        1
    );
    assert_error(&s("python"), "command", "must be a list");
    assert_error(
        &s("[\"${envvar:1X}\"]"),
        "command[0]",
        "not an environment variable name",
    );
    let no_program = "method: random\ncommand: [\"${program}\"]\nparameters: {a: {value: 1}}\n";
    assert_error(no_program, "command[0]", "has no `program`");
    // sweepd's extension: a parameter by name, anywhere in an argument.
    valid(&s("[python, \"--a=${a}\", \"${a}\"]"));
    assert_error(
        &s("[python, \"--a=${aa}\"]"),
        "command[1]",
        "unknown macro `${aa}`",
    );
    let with_batch = "method: random\ncommand: [python, \"--bs=${batchsize}\"]\n\
                      parameters: {batch_size: {value: 1}}\n";
    assert_error(with_batch, "command[1]", "unknown macro `${batchsize}`");
    let v = yaml(with_batch);
    assert!(
        v.diagnostics
            .errors()
            .any(|d| d.help.as_deref() == Some("did you mean `${batch_size}`?")),
        "{:?}",
        v.diagnostics
    );
}

#[test]
fn sweepd_block() {
    let spec = valid(&format!(
        "{}sweepd:\n  seed: 42\n  max_parallel: 4\n  workdir: ~/runs\n  timeout: 1h 30m\n  retry: 2\n  max_failures_in_a_row: 0\n  gpus_per_run: 2\n  env: {{OMP_NUM_THREADS: 1, MODE: fast}}\n",
        sweep("random", "  a: {value: 1}\n")
    ));
    let o = spec.sweepd;
    assert_eq!((o.seed, o.max_parallel, o.retry), (Some(42), Some(4), 2));
    assert_eq!(o.max_failures_in_a_row, 0);
    assert_eq!(o.gpus_per_run, Some(crate::spec::GpuShare::Whole(2)));
    let default = valid(&sweep("random", "  a: {value: 1}\n")).sweepd;
    assert_eq!(default.max_failures_in_a_row, 5);
    assert_eq!(default.gpus_per_run, None);
    assert_eq!(o.workdir.as_deref(), Some("~/runs"));
    assert_eq!(o.timeout, Some(std::time::Duration::from_secs(5400)));
    assert_eq!(o.env.get("OMP_NUM_THREADS").map(String::as_str), Some("1"));
    let s = |block: &str| format!("{}sweepd: {block}\n", sweep("random", "  a: {value: 1}\n"));
    assert_error(&s("{seed: -1}"), "sweepd.seed", "cannot be negative");
    assert_error(
        &s("{seed: 18446744073709551615}"),
        "sweepd.seed",
        "too large: integers here go up to 9223372036854775807",
    );
    assert_error(&s("{max_parallel: 0}"), "sweepd.max_parallel", "at least 1");
    assert_error(
        &s("{max_failures_in_a_row: -1}"),
        "sweepd.max_failures_in_a_row",
        "at least 0",
    );
    assert_error(
        &s("{timeout: soon}"),
        "sweepd.timeout",
        "cannot read \"soon\" as a duration",
    );
    assert_error(&s("{timeout: 0}"), "sweepd.timeout", "zero");
    assert_error(
        &s("{gpus_per_run: 0.3}"),
        "sweepd.gpus_per_run",
        "not 1/k of a GPU",
    );
    assert_error(&s("{gpu_memory: lots}"), "sweepd.gpu_memory", "cannot read");
    assert_error(
        &s("{gpus_per_run: 0.5, executor: slurm}"),
        "sweepd.gpus_per_run",
        "Slurm gives a job whole GPUs",
    );
    let shared = valid(&s("{gpus_per_run: 0.25, gpu_memory: 6GiB}")).sweepd;
    assert_eq!(
        (shared.gpus_per_run, shared.gpu_memory_mib),
        (
            Some(crate::spec::GpuShare::Fraction { per_gpu: 4 }),
            Some(6144)
        )
    );
    assert_error(
        &s("{env: {1BAD: x}}"),
        "sweepd.env.1BAD",
        "not an environment variable name",
    );
    assert_error(
        &s("{retries: 2}"),
        "sweepd.retries",
        "did you mean `retry`?",
    );
    assert_eq!(
        valid(&s("{timeout: 90}")).sweepd.timeout,
        Some(std::time::Duration::from_secs(90))
    );
}

#[test]
fn slurm_block() {
    let s = |block: &str| format!("{}sweepd: {block}\n", sweep("random", "  a: {value: 1}\n"));
    let spec = valid(&s(
        "{executor: slurm, gpus_per_run: 2, slurm: {partition: gpu, time: \"1:00:00\", cpus_per_run: 4, mem: 16G, account: lab, qos: normal, extra_args: [--constraint=a100]}}",
    ));
    let Executor::Slurm(o) = spec.sweepd.executor else {
        panic!("slurm");
    };
    assert_eq!(o.partition.as_deref(), Some("gpu"));
    assert_eq!(o.time.as_deref(), Some("1:00:00"));
    assert_eq!((o.cpus_per_run, o.gpus_per_run), (Some(4), None));
    assert_eq!(o.mem.as_deref(), Some("16G"));
    assert_eq!(
        (o.account.as_deref(), o.qos.as_deref()),
        (Some("lab"), Some("normal"))
    );
    assert_eq!(o.extra_args, ["--constraint=a100"]);
    // A bare number of minutes, as sbatch takes it.
    let Executor::Slurm(o) = valid(&s("{executor: slurm, slurm: {time: 90}}"))
        .sweepd
        .executor
    else {
        panic!("slurm");
    };
    assert_eq!(o.time.as_deref(), Some("90"));
    assert_eq!(
        valid(&sweep("random", "  a: {value: 1}\n")).sweepd.executor,
        Executor::Local
    );
    assert_error(
        &s("{executor: slrum}"),
        "sweepd.executor",
        "did you mean `slurm`?",
    );
    assert_error(
        &s("{executor: slurm, slurm: {partiton: gpu}}"),
        "sweepd.slurm.partiton",
        "did you mean `partition`?",
    );
    assert_error(
        &s("{executor: slurm, slurm: {time: 2h}}"),
        "sweepd.slurm.time",
        "is not a Slurm time limit",
    );
    assert_error(
        &s("{executor: slurm, slurm: {mem: 16GB}}"),
        "sweepd.slurm.mem",
        "is not a Slurm memory size",
    );
    assert_error(
        &s("{executor: slurm, slurm: {gpus_per_run: -1}}"),
        "sweepd.slurm.gpus_per_run",
        "at least 0",
    );
    assert_error(
        &s("{executor: slurm, slurm: {extra_args: [constraint=a100]}}"),
        "sweepd.slurm.extra_args[0]",
        "is not an sbatch option",
    );
    assert_error(
        &s("{executor: slurm, slurm: {extra_args: [--requeue]}}"),
        "sweepd.slurm.extra_args[0]",
        "is sweepd's to set",
    );
    assert_error(
        &s("{executor: slurm, slurm: {extra_args: [--job-name=mine]}}"),
        "sweepd.slurm.extra_args[0]",
        "is sweepd's to set",
    );
    assert_error(
        &s("{executor: slurm, slurm: {partition: \"gpu; rm -rf\"}}"),
        "sweepd.slurm.partition",
        "is not a Slurm name",
    );
    // A slurm block without the executor is a mistake worth a warning.
    let v = yaml(&s("{slurm: {partition: gpu}}"));
    assert!(v.is_valid());
    let w = v.diagnostics.warnings().next().unwrap();
    assert!(w.message.contains("`slurm` is ignored"), "{}", w.message);
}

#[test]
fn deprecated_exponent_forms_are_valid_with_a_warning_that_explains() {
    let v = yaml(&sweep(
        "random",
        "  lr: {distribution: log_uniform, min: -9.21, max: -2.3}\n",
    ));
    assert!(v.is_valid());
    let w = v.diagnostics.warnings().next().unwrap();
    assert!(w.message.contains("natural-log exponents"), "{}", w.message);
    assert!(
        w.message.contains("from 1.000e-4 to 0.1003"),
        "{}",
        w.message
    );
    assert!(w.help.as_deref().unwrap().contains("log_uniform_values"));
}

#[test]
fn yaml_1_1_differences_warn_but_read_as_yaml_1_2() {
    let v = yaml(&sweep(
        "random",
        "  decay: {values: [1e-5, 1.0e-6]}\n  flag: {values: [yes, no]}\n",
    ));
    let spec = v.spec.as_ref().expect("valid");
    let values: Vec<_> = spec
        .parameters
        .leaves()
        .into_iter()
        .map(|(_, d)| d.clone())
        .collect();
    assert_eq!(
        values[0],
        Distribution::Categorical {
            values: vec![json!(1e-5), json!(1e-6)]
        }
    );
    assert_eq!(
        values[1],
        Distribution::Categorical {
            values: vec![json!("yes"), json!("no")]
        }
    );
    let warned: Vec<String> = v
        .diagnostics
        .warnings()
        .map(|d| d.path.to_string())
        .collect();
    assert_eq!(
        warned,
        [
            "parameters.decay.values[0]",
            "parameters.flag.values[0]",
            "parameters.flag.values[1]"
        ]
    );
}

#[test]
fn files_that_are_not_text_or_not_yaml() {
    let v = check_bytes(b"method: grid\n\xff\xfe", Format::Yaml);
    let d = v.diagnostics.errors().next().unwrap();
    assert_eq!(
        (d.message.as_str(), d.position),
        (
            "the file is not UTF-8 text",
            Some(Position { line: 2, column: 1 })
        )
    );
    let v = yaml("method: grid\nparameters:\n  a: [1\n");
    assert!(
        v.diagnostics
            .errors()
            .next()
            .unwrap()
            .message
            .starts_with("cannot read the file")
    );
    let v = yaml("method: grid\n---\nmethod: random\n");
    assert!(!v.is_valid());
    // PyYAML's safe loader refuses tags outside YAML's core schema; so do we.
    assert_error(
        "method: !!python/name:os.system grid\nprogram: p\nparameters: {x: {value: 1}}\n",
        "method",
        "YAML tags such as `!!python/name:os.system` are not supported",
    );
    valid("method: !!str random\nprogram: p\nparameters: {x: {value: !!int 1}}\n");
}

#[test]
fn load_reports_every_error_with_the_file_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "method: grd\nprogram: p\nparameters: {a: {min: 2, max: 1}}\n",
    )
    .unwrap();
    let error = load(&path).unwrap_err().to_string();
    assert!(error.contains("is not a valid sweep (2 errors)"), "{error}");
    assert!(error.contains("bad.yaml:1:9: error: method:"), "{error}");
    assert!(matches!(
        load(&dir.path().join("missing.yaml")),
        Err(SpecError::Io { .. })
    ));
}

mod continuing;
mod structure;
