use super::*;
use crate::spec::{Format, check};
use serde_json::json;

fn grid(yaml_parameters: &str) -> Grid {
    let text = format!("method: grid\nprogram: p\nparameters:\n{yaml_parameters}");
    let spec = check(&text, Format::Yaml).spec.expect("valid");
    Grid::new(&spec).expect("enumerable")
}

fn all(grid: &Grid) -> Vec<Value> {
    grid.points().map(Value::Object).collect()
}

/// The grid as it was computed before it was lazy: every axis listed,
/// equal values collapsed by identity (first place, last value), and the
/// product taken with the last axis fastest.
fn materialised(yaml_parameters: &str) -> Vec<Value> {
    let text = format!("method: grid\nprogram: p\nparameters:\n{yaml_parameters}");
    let spec = check(&text, Format::Yaml).spec.expect("valid");
    let space = Space::new(&spec);
    let lists: Vec<Vec<Value>> = space
        .leaves
        .iter()
        .map(|leaf| {
            let listed: Vec<Value> = match leaf.distribution.grid_axis().unwrap() {
                GridAxis::Constant(v) => vec![v.clone()],
                GridAxis::Values(vs) => vs.to_vec(),
                GridAxis::Ints { start, step, len } => (0..len)
                    .map(|i| Value::from(start + step * i as i64))
                    .collect(),
                GridAxis::Floats { start, delta, len } => (0..len)
                    .map(|i| Value::from(start + i as f64 * delta))
                    .collect(),
            };
            let mut distinct: Vec<Value> = Vec::new();
            let mut seen: HashMap<String, usize> = HashMap::new();
            for v in listed {
                match seen.get(&identity(&v)) {
                    Some(&at) => distinct[at] = v,
                    None => {
                        seen.insert(identity(&v), distinct.len());
                        distinct.push(v);
                    }
                }
            }
            distinct
        })
        .collect();
    let mut points: Vec<Vec<Value>> = vec![vec![]];
    for list in &lists {
        points = points
            .into_iter()
            .flat_map(|p| {
                list.iter().map(move |v| {
                    let mut p = p.clone();
                    p.push(v.clone());
                    p
                })
            })
            .collect();
    }
    points
        .into_iter()
        .map(|values| Value::Object(space.assemble(values)))
        .collect()
}

/// The lazy grid lists what the materialised one did, in the same order,
/// and finds every point's index back from its parameters.
fn same_as_materialised(yaml_parameters: &str) -> Grid {
    let g = grid(yaml_parameters);
    let expected = materialised(yaml_parameters);
    assert_eq!(g.count(), PointCount::Exact(expected.len() as u128));
    assert_eq!(all(&g), expected, "{yaml_parameters}");
    for (i, point) in expected.iter().enumerate() {
        let Value::Object(params) = point else {
            unreachable!()
        };
        assert_eq!(g.index_of(params), Some(i as u128), "{point}");
    }
    g
}

#[test]
fn the_lazy_grid_is_the_materialised_grid() {
    for case in [
        "  b: {values: [1, 2]}\n  a: {values: [x, y]}\n  c: {value: 0}\n",
        "  a: {values: [3, 3.0, 1]}\n  b: {values: [1.0, 1]}\n",
        "  a: {values: [true, 1, {x: 1, y: 2}, {y: 2, x: 1}]}\n",
        "  i: {min: 1, max: 3}\n  q: {distribution: q_uniform, min: 0, max: 10, q: 3}\n",
        "  q: {distribution: q_uniform, min: 0, max: 1, q: 0.3}\n  r: {distribution: q_uniform, min: -1, max: 1, q: 0.25}\n",
        "  x: {distribution: q_uniform, min: 1.0e17, max: 100000000000001000.0, q: 1.0}\n",
        "  opt:\n    parameters:\n      lr: {values: [0.1, 0.01]}\n      m: {value: 0.9}\n  bs: {distribution: q_uniform, min: 16, max: 64, q: 16}\n",
        "  tiny: {distribution: q_uniform, min: 0.0, max: 1.0e-320, q: 1.0e-322}\n",
        "  w: {distribution: q_uniform, min: 0.5, max: 2.5, q: 0.5}\n  n: {values: [1, 2.0]}\n",
    ] {
        same_as_materialised(case);
    }
}

#[test]
fn float_steps_that_rounding_repeats_are_counted_without_a_list() {
    // From 2^52 - 1000 in steps of 0.5: below 2^52 every step is a float,
    // above it floats are 1 apart, so neighbouring steps round to one
    // value (ties to even: runs of one to three), across several marks.
    let g = same_as_materialised(
        "  x: {distribution: q_uniform, min: 4503599627369496.0, max: 4503599627371496.0, q: 0.5}\n",
    );
    let Axis::Floats(steps) = axis(&g.branches[0].columns, 0) else {
        panic!("a float axis")
    };
    assert_eq!(steps.steps, 4000);
    let repeats = steps.repeats.as_ref().expect("repeats counted");
    assert!(repeats.distinct < 4000 && repeats.distinct > 2500);
    assert_eq!(repeats.marks.len(), 4);
    // From 2^51 - 3000 in steps of 0.25 to 2^51 + 1000: pairs above 2^51.
    let g = same_as_materialised(
        "  c: {values: [a, b]}\n  y: {distribution: q_uniform, min: 2251799813682248.0, max: 2251799813686248.0, q: 0.25}\n",
    );
    assert_eq!(g.count(), PointCount::Exact(2 * 14001));
}

#[test]
fn a_million_float_steps_are_not_listed() {
    let g = grid("  x: {distribution: q_uniform, min: 0, max: 1, q: 0.000001}\n");
    let n = g.count().exact().unwrap();
    assert!((999_999..=1_000_000).contains(&n), "{n}");
    let Axis::Floats(steps) = axis(&g.branches[0].columns, 0) else {
        panic!("a float axis")
    };
    assert!(steps.repeats.is_none(), "every step is its own value");
    assert_eq!(Value::Object(g.point(3)), json!({"x": 3.0 * 0.000001}));
    let last = g.point(n - 1);
    assert_eq!(g.index_of(&last), Some(n - 1));
    let mut off = last.clone();
    off.insert("x".into(), json!(0.5 + 1e-12));
    assert_eq!(g.index_of(&off), None);
}

#[test]
fn integers_match_float_steps_as_wandb_compares_them() {
    let g = grid("  x: {distribution: q_uniform, min: 0.0, max: 4.0, q: 0.5}\n");
    assert_eq!(Value::Object(g.point(2)), json!({"x": 1.0}));
    let mut params = ParamSet::new();
    for (value, index) in [
        (json!(1), Some(2)),
        (json!(1.0), Some(2)),
        (json!(1.5), Some(3)),
        (json!("1"), None),
        (json!(true), None),
        (json!(-0.0), Some(0)),
    ] {
        params.insert("x".into(), value.clone());
        assert_eq!(g.index_of(&params), index, "{value}");
    }
    // 2^53 + 1 is no float: the integer is not the float 2^53.
    let g = grid(
        "  x: {distribution: q_uniform, min: 9007199254740992.0, max: 9007199254740996.0, q: 2.0}\n",
    );
    params.insert("x".into(), json!(9007199254740993i64));
    assert_eq!(g.index_of(&params), None);
    params.insert("x".into(), json!(9007199254740994i64));
    assert_eq!(g.index_of(&params), Some(1));
}

#[test]
fn counts_beyond_u128_say_so_and_the_grid_still_walks() {
    let mut yaml = String::new();
    for i in 0..200 {
        yaml.push_str(&format!(
            "  p{i:03}: {{distribution: q_uniform, min: 0, max: 1, q: 0.000001}}\n"
        ));
    }
    let mut g = grid(&yaml);
    let PointCount::Beyond { log10 } = g.count() else {
        panic!("{:?}", g.count())
    };
    assert!((1199..=1201).contains(&log10), "{log10}");
    assert!(
        g.count()
            .to_string()
            .starts_with("2^128 or more (about 10^1")
    );
    assert!(g.count().exceeds(u128::MAX - 1));
    assert_eq!(g.count().min(7), 7);
    // The first points vary the last parameter; their indices come back.
    let first = g.point(0);
    assert!(first.values().all(|v| v == &json!(0.0)));
    let second = g.point(1);
    assert_eq!(second["p199"], json!(0.000001));
    assert_eq!(g.index_of(&second), Some(1));
    let third = g.propose(&History::of_params([first, second])).unwrap();
    assert_eq!(third, Some(g.point(2)));
    // A point far along: index -> point -> index.
    let far = u128::MAX / 3;
    assert_eq!(g.index_of(&g.point(far)), Some(far));
    // A run off in a leading parameter is past 2^128: not a point here.
    let mut beyond = g.point(0);
    beyond.insert("p000".into(), json!(0.000001));
    assert_eq!(g.index_of(&beyond), None);
}

#[test]
fn counts_overflow_exactly_at_2_to_128() {
    let g = grid(
        "  a: {min: -9223372036854775808, max: 9223372036854775807}\n  b: {min: 0, max: 18446744073709}\n",
    );
    assert_eq!(
        g.count(),
        PointCount::Exact((1u128 << 64) * 18_446_744_073_710)
    );
    assert_eq!(
        count_points([1u128 << 64, 1 << 64].into_iter()),
        PointCount::Beyond { log10: 39 }
    );
    assert_eq!(
        count_points([u128::MAX, 1].into_iter()),
        PointCount::Exact(u128::MAX)
    );
    assert_eq!(
        count_points([u128::MAX, 2, 0].into_iter()),
        PointCount::Exact(0)
    );
    assert_eq!(count_points(std::iter::empty()), PointCount::Exact(1));
    assert!(!PointCount::Exact(5).exceeds(5));
    assert!(PointCount::Exact(6).exceeds(5));
}

#[test]
fn last_parameter_varies_fastest() {
    let g = grid("  b: {values: [1, 2]}\n  a: {values: [x, y]}\n  c: {value: 0}\n");
    assert_eq!(
        all(&g),
        [
            json!({"a": "x", "b": 1, "c": 0}),
            json!({"a": "x", "b": 2, "c": 0}),
            json!({"a": "y", "b": 1, "c": 0}),
            json!({"a": "y", "b": 2, "c": 0}),
        ]
    );
}

#[test]
fn duplicates_collapse_keeping_the_first_place_and_the_last_value() {
    let g = grid("  a: {values: [3, 3.0, 1]}\n  b: {values: [1.0, 1]}\n");
    assert_eq!(g.count(), PointCount::Exact(2));
    assert_eq!(
        all(&g),
        [json!({"a": 3.0, "b": 1}), json!({"a": 1, "b": 1})]
    );
}

#[test]
fn booleans_are_not_integers_and_dicts_compare_by_content() {
    let g = grid("  a: {values: [true, 1, {x: 1, y: 2}, {y: 2, x: 1}]}\n");
    assert_eq!(g.count(), PointCount::Exact(3));
}

#[test]
fn int_uniform_includes_max_and_q_uniform_excludes_it() {
    let g = grid("  i: {min: 1, max: 3}\n");
    assert_eq!(all(&g), [json!({"i": 1}), json!({"i": 2}), json!({"i": 3})]);
    let g = grid("  q: {distribution: q_uniform, min: 0, max: 10, q: 3}\n");
    assert_eq!(
        all(&g),
        [
            json!({"q": 0}),
            json!({"q": 3}),
            json!({"q": 6}),
            json!({"q": 9})
        ]
    );
    let g = grid("  q: {distribution: q_uniform, min: 0, max: 1, q: 0.3}\n");
    assert_eq!(
        all(&g),
        [
            json!({"q": 0.0}),
            json!({"q": 0.3}),
            json!({"q": 0.6}),
            json!({"q": 0.8999999999999999})
        ]
    );
}

#[test]
fn huge_axes_cost_nothing_until_asked() {
    let g = grid("  i: {min: 0, max: 1000000000000}\n  j: {values: [a, b]}\n");
    assert_eq!(g.count(), PointCount::Exact(2_000_000_000_002));
    assert_eq!(Value::Object(g.point(3)), json!({"i": 1, "j": "b"}));
}

#[test]
fn float_steps_that_round_to_one_value_are_one_point() {
    // (1e17 + 1) - 1e17 == 0 in floats: numpy lists 992 copies of 1e17, W&B runs one.
    let g =
        grid("  x: {distribution: q_uniform, min: 1.0e17, max: 100000000000001000.0, q: 1.0}\n");
    assert_eq!(all(&g), [json!({"x": 1e17})]);
    let mut g = g;
    assert_eq!(g.propose(&History::of_params(g.points())).unwrap(), None);
}

#[test]
fn extreme_integer_axes_do_not_overflow() {
    let g = grid("  i: {min: -9223372036854775808, max: 9223372036854775807}\n");
    assert_eq!(g.count(), PointCount::Exact(1u128 << 64));
    assert_eq!(
        Value::Object(g.point((1u128 << 64) - 1)),
        json!({"i": i64::MAX})
    );
    let g = grid(
        "  q: {distribution: q_uniform, min: -9223372036854775808, max: 9223372036854775807, q: 4611686018427387904}\n",
    );
    assert_eq!(
        all(&g),
        [
            json!({"q": i64::MIN}),
            json!({"q": -4611686018427387904i64}),
            json!({"q": 0}),
            json!({"q": 4611686018427387904i64})
        ]
    );
    let last = g.point(3);
    assert_eq!(g.index_of(&last), Some(3));
}

#[test]
fn proposals_skip_points_already_run_and_end() {
    let mut g = grid("  a: {values: [1, 2, 3]}\n");
    let ran = History::of_params([g.point(0), g.point(2)]);
    assert_eq!(g.propose(&ran).unwrap(), Some(g.point(1)));
    let everything = History::of_params(g.points());
    assert_eq!(g.propose(&everything).unwrap(), None);
}

#[test]
fn a_whole_float_in_history_matches_the_integer_point() {
    let mut g = grid("  a: {values: [1, 2]}\n  n: {min: 1, max: 2}\n");
    let mut first = g.point(0);
    first.insert("n".into(), json!(1.0));
    first.insert("a".into(), json!(1.0));
    let next = g.propose(&History::of_params([first])).unwrap();
    assert_eq!(next, Some(g.point(1)));
}

#[test]
fn runs_off_the_grid_do_not_count() {
    let mut g = grid("  a: {values: [1, 2]}\n");
    let mut stray = ParamSet::new();
    stray.insert("a".into(), json!(7));
    assert_eq!(
        g.propose(&History::of_params([stray])).unwrap(),
        Some(g.point(0))
    );
}

#[test]
fn proposing_repeatedly_walks_the_grid_in_order() {
    let mut g = grid(
        "  opt:\n    parameters:\n      lr: {values: [0.1, 0.01]}\n      m: {value: 0.9}\n  bs: {distribution: q_uniform, min: 16, max: 64, q: 16}\n",
    );
    let mut history = History::default();
    while let Some(params) = g.propose(&history).unwrap() {
        history.trials.push(super::super::Trial {
            params,
            state: super::super::TrialState::Finished,
            metric: vec![],
            outcomes: Default::default(),
        });
    }
    let proposed: Vec<ParamSet> = history.trials.into_iter().map(|t| t.params).collect();
    assert_eq!(proposed, g.points().collect::<Vec<_>>());
    assert_eq!(proposed.len(), 6);
}

#[test]
fn continuous_parameters_are_refused_by_name() {
    let spec = check(
        "method: random\nprogram: p\nparameters:\n  lr: {min: 0.0, max: 1.0}\n  m: {parameters: {w: {distribution: normal}}}\n",
        Format::Yaml,
    )
    .spec
    .unwrap();
    assert_eq!(
        Grid::new(&spec).unwrap_err(),
        SearchError::NotEnumerable(vec!["lr".into(), "m.w".into()])
    );
}
