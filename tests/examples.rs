//! Every sweep file in examples/ is valid, without a warning, and the tutorial
//! sweep is the one of W&B's PyTorch sweep tutorial.

mod common;

use common::{World, repo_root};
use serde_json::json;
use sweepd_core::spec::{self, Distribution, Goal, Method, Num};

fn example_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo_root().join("examples"))
        .expect("examples/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_is_valid_without_warnings() {
    let files = example_files();
    assert!(
        files.len() >= 3,
        "the tutorial, a grid and a nested example at least"
    );
    let w = World::new();
    let mut args = vec!["validate".into(), "--json".into()];
    args.extend(files.iter().map(|f| f.clone().into_os_string()));
    let reports = w.sweepctl(args).expect_code(0).json_lines();
    assert_eq!(reports.len(), files.len());
    for report in reports {
        assert_eq!(report["valid"], true, "{report}");
        assert_eq!(report["warnings"], 0, "{report}");
    }
}

#[test]
fn the_tutorial_sweep_is_wandbs() {
    let (spec, warnings) =
        spec::load(&repo_root().join("examples/mnist-tutorial.yaml")).expect("valid");
    assert!(warnings.is_empty());
    assert_eq!(spec.method, Method::Random);
    let metric = spec.metric.expect("a metric");
    assert_eq!(
        (metric.name.as_str(), metric.goal),
        ("loss", Goal::Minimize)
    );
    let leaves: Vec<(String, Distribution)> = spec
        .parameters
        .leaves()
        .into_iter()
        .map(|(path, d)| (path.join("."), d.clone()))
        .collect();
    assert_eq!(
        leaves,
        [
            (
                "batch_size".into(),
                Distribution::QLogUniformValues {
                    min: 32.0,
                    max: 256.0,
                    q: Num::Int(8)
                }
            ),
            (
                "dropout".into(),
                Distribution::Categorical {
                    values: vec![json!(0.3), json!(0.4), json!(0.5)]
                }
            ),
            ("epochs".into(), Distribution::Constant { value: json!(1) }),
            (
                "fc_layer_size".into(),
                Distribution::Categorical {
                    values: vec![json!(128), json!(256), json!(512)]
                }
            ),
            (
                "learning_rate".into(),
                Distribution::Uniform { min: 0.0, max: 0.1 }
            ),
            (
                "optimizer".into(),
                Distribution::Categorical {
                    values: vec![json!("adam"), json!("sgd")]
                }
            ),
        ]
    );
}
