//! No input makes the checks panic: arbitrary bytes, arbitrary YAML and JSON,
//! and documents shaped like sweeps with keys and values mixed at random. What
//! a valid spec promises (a search can be built and proposes runs) holds too.

use proptest::prelude::*;

use super::*;
use crate::search::{Grid, PointCount, Random, Search, SearchSize};

/// Every position lies inside the text.
fn positions_are_inside(text: &str, validation: &Validation) {
    let lines = text.lines().count().max(1);
    for d in validation.diagnostics.iter() {
        if let Some(p) = d.position {
            assert!(
                p.line >= 1 && p.line <= lines + 1,
                "line {} of {lines}: {d:?}",
                p.line
            );
            assert!(p.column >= 1, "{d:?}");
        }
    }
}

/// A valid spec can be searched.
fn searchable(spec: &SweepSpec) {
    let random = Random::new(spec, 1);
    let run = random.draw(0);
    assert!(!run.is_empty());
    if spec.method == Method::Grid {
        let mut grid = Grid::new(spec).expect("a valid grid lists its points");
        if let SearchSize::Finite(PointCount::Exact(size)) = grid.size()
            && size <= 200
        {
            assert_eq!(grid.points().count() as u128, size);
            let history = crate::search::History::of_params(grid.points());
            assert_eq!(grid.propose(&history).unwrap(), None);
        }
    }
}

fn scalar() -> impl Strategy<Value = serde_yaml::Value> {
    prop_oneof![
        Just(serde_yaml::Value::Null),
        any::<bool>().prop_map(serde_yaml::Value::Bool),
        any::<i64>().prop_map(|i| serde_yaml::Value::Number(i.into())),
        (-3i64..300).prop_map(|i| serde_yaml::Value::Number(i.into())),
        any::<f64>().prop_map(|x| serde_yaml::Value::Number(x.into())),
        (-1e3f64..1e3).prop_map(|x| serde_yaml::Value::Number(x.into())),
        "[a-z_.1e-]{0,12}".prop_map(serde_yaml::Value::String),
        prop::sample::select(WORDS).prop_map(|w| serde_yaml::Value::String(w.to_owned())),
    ]
}

/// The words a sweep file is made of, and some near misses.
const WORDS: &[&str] = &[
    "method",
    "parameters",
    "metric",
    "early_terminate",
    "program",
    "command",
    "run_cap",
    "sweepd",
    "name",
    "goal",
    "target",
    "impute",
    "impute_while_running",
    "type",
    "hyperband",
    "min_iter",
    "max_iter",
    "s",
    "eta",
    "strict",
    "grid",
    "random",
    "bayes",
    "custom",
    "minimize",
    "maximize",
    "distribution",
    "values",
    "value",
    "probabilities",
    "min",
    "max",
    "q",
    "mu",
    "sigma",
    "a",
    "b",
    "constant",
    "categorical",
    "categorical_w_probabilities",
    "int_uniform",
    "uniform",
    "q_uniform",
    "log_uniform",
    "log_uniform_values",
    "q_log_uniform",
    "q_log_uniform_values",
    "inv_log_uniform",
    "inv_log_uniform_values",
    "normal",
    "q_normal",
    "log_normal",
    "q_log_normal",
    "beta",
    "q_beta",
    "seed",
    "max_parallel",
    "workdir",
    "env",
    "timeout",
    "retry",
    "${args}",
    "${program}",
    "${lr}",
    "2h",
    "latest",
    "best",
    "worst",
    "false",
    "paramters",
    "job",
    "scheduler",
    "controller",
];

fn yaml_value() -> impl Strategy<Value = serde_yaml::Value> {
    scalar().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_yaml::Value::Sequence),
            prop::collection::vec((prop::sample::select(WORDS), inner), 0..6).prop_map(|entries| {
                serde_yaml::Value::Mapping(
                    entries
                        .into_iter()
                        .map(|(k, v)| (serde_yaml::Value::String(k.to_owned()), v))
                        .collect(),
                )
            }),
        ]
    })
}

fn map(entries: Vec<(&str, serde_yaml::Value)>) -> serde_yaml::Value {
    serde_yaml::Value::Mapping(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
}

/// Two numbers, the first below the second.
fn ordered_pair() -> impl Strategy<Value = (f64, f64)> {
    (-20.0f64..20.0, 0.5f64..30.0).prop_map(|(a, d)| (a, a + d))
}

fn number() -> impl Strategy<Value = serde_yaml::Value> {
    prop_oneof![
        4 => (-5i64..50).prop_map(|i| serde_yaml::Value::Number(i.into())),
        4 => (-5.0f64..50.0).prop_map(|x| serde_yaml::Value::Number(x.into())),
        1 => scalar(),
    ]
}

/// One parameter: usually shaped like one of the distributions (often valid,
/// sometimes with a wrong value), sometimes any mapping at all.
fn parameter() -> impl Strategy<Value = serde_yaml::Value> {
    let leaf = prop_oneof![
        3 => prop::collection::vec(scalar(), 1..5).prop_map(|v| map(vec![("values", serde_yaml::Value::Sequence(v))])),
        2 => scalar().prop_map(|v| map(vec![("value", v)])),
        1 => (number(), number()).prop_map(|(a, b)| map(vec![("min", a), ("max", b)])),
        3 => (ordered_pair(), any::<bool>()).prop_map(|((a, b), int)| {
            let (a, b) = if int { ((a as i64).into(), (b as i64 + 1).into()) } else { (a.into(), b.into()) };
            map(vec![("min", a), ("max", b)])
        }),
        2 => (prop::sample::select(crate::spec::Kind::ALL.to_vec()), number(), number(), number()).prop_map(
            |(kind, a, b, q)| {
                let mut entries = vec![("distribution", serde_yaml::Value::from(kind.name()))];
                for (key, value) in kind.keys().iter().zip([a, b, q]) {
                    entries.push((key, value));
                }
                map(entries)
            }
        ),
        4 => (prop::sample::select(crate::spec::Kind::ALL.to_vec()), ordered_pair(), 0.01f64..5.0).prop_map(
            |(kind, (a, b), q)| {
                let mut entries = vec![("distribution", serde_yaml::Value::from(kind.name()))];
                for (key, value) in kind.keys().iter().zip([a.abs() + 0.01, b.abs() + a.abs() + 0.02, q]) {
                    entries.push((key, value.into()));
                }
                map(entries)
            }
        ),
        2 => prop::collection::vec((scalar(), 0.01f64..1.0), 1..4).prop_map(|pairs| {
            let total: f64 = pairs.iter().map(|(_, w)| w).sum();
            let (v, p): (Vec<_>, Vec<_>) = pairs.into_iter().map(|(v, w)| (v, serde_yaml::Value::from(w / total))).unzip();
            map(vec![("values", serde_yaml::Value::Sequence(v)), ("probabilities", serde_yaml::Value::Sequence(p))])
        }),
        1 => (prop::collection::vec(scalar(), 1..4), prop::collection::vec(0.0f64..1.0, 1..4)).prop_map(|(v, p)| {
            let p = p.into_iter().map(serde_yaml::Value::from).collect();
            map(vec![("values", serde_yaml::Value::Sequence(v)), ("probabilities", serde_yaml::Value::Sequence(p))])
        }),
        1 => prop::collection::vec((prop::sample::select(WORDS), yaml_value()), 0..4)
            .prop_map(|e| map(e.into_iter().collect())),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop::collection::vec(("[a-z_][a-z0-9_.]{0,5}", inner), 1..4).prop_map(|entries| {
            let nested: serde_yaml::Mapping = entries
                .into_iter()
                .map(|(k, v)| (serde_yaml::Value::String(k), v))
                .collect();
            map(vec![("parameters", serde_yaml::Value::Mapping(nested))])
        })
    })
}

fn parameters() -> impl Strategy<Value = serde_yaml::Value> {
    prop::collection::vec(("[a-z_][a-z0-9_.]{0,5}", parameter()), 1..4).prop_map(|params| {
        serde_yaml::Value::Mapping(
            params
                .into_iter()
                .map(|(name, p)| (serde_yaml::Value::String(name), p))
                .collect(),
        )
    })
}

fn map_of_name() -> serde_yaml::Value {
    map(vec![("name", "loss".into())])
}

fn sweep_document() -> impl Strategy<Value = serde_yaml::Value> {
    (
        prop::sample::select(
            &[
                "grid", "grid", "random", "random", "bayes", "bayes", "custom",
            ][..],
        ),
        parameters(),
        prop::option::weighted(0.2, (prop::sample::select(WORDS), yaml_value())),
    )
        .prop_map(|(method, parameters, extra)| {
            let mut map = serde_yaml::Mapping::new();
            map.insert("method".into(), method.into());
            map.insert("program".into(), "train.py".into());
            map.insert("metric".into(), map_of_name());
            map.insert("parameters".into(), parameters);
            if let Some((k, v)) = extra {
                map.insert(k.into(), v);
            }
            serde_yaml::Value::Mapping(map)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = check_bytes(&bytes, Format::Yaml);
        let _ = check_bytes(&bytes, Format::Json);
    }

    #[test]
    fn yaml_like_text_never_panics(text in "[a-z0-9:{}\\[\\],\\- \n\"'&*!|>#%@.~?]{0,200}") {
        let validation = check(&text, Format::Yaml);
        positions_are_inside(&text, &validation);
        if let Some(spec) = &validation.spec {
            searchable(spec);
        }
        let _ = check(&text, Format::Json);
    }

    #[test]
    fn arbitrary_yaml_documents_never_panic(value in yaml_value()) {
        let text = serde_yaml::to_string(&value).unwrap();
        let validation = check(&text, Format::Yaml);
        positions_are_inside(&text, &validation);
        let json = serde_json::to_string(&value).unwrap_or_default();
        let _ = check(&json, Format::Json);
    }

    #[test]
    fn sweep_shaped_documents_never_panic_and_valid_ones_search(value in sweep_document()) {
        let text = serde_yaml::to_string(&value).unwrap();
        let validation = check(&text, Format::Yaml);
        positions_are_inside(&text, &validation);
        prop_assert_eq!(validation.spec.is_some(), !validation.diagnostics.has_errors());
        if let Some(spec) = &validation.spec {
            searchable(spec);
        }
    }
}
