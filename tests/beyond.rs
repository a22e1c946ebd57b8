//! Search beyond W&B through a real sweepd: conditional parameters and
//! constraints reach runs exactly as the search proposed them.

mod common;

use std::fs;

use common::World;
use common::daemon::{Daemon, run_dirs, state, submit, summaries, wait_until};
use serde_json::{Value, json};

/// Each run writes its arguments (one per line) and its start message;
/// `--m=${momentum}` is left out of a run without momentum.
const RECORDS: &str = r#"command: [sh, -c, 'printf "%s\n" "$@" > "$SWEEP_RUN_DIR/args.txt"; head -n 1 > "$SWEEP_RUN_DIR/start.json"', sh, "${args}", "--m=${momentum}"]
"#;

#[test]
fn an_inactive_parameter_reaches_no_run_in_any_form() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let (sweep, _) = submit(
        &w,
        "grid.yaml",
        &format!(
            "method: grid\n{RECORDS}parameters:\n  optimizer: {{values: [adam, sgd]}}\n  \
             lr: {{values: [0.1, 0.01]}}\n  momentum: {{values: [0.9, 0.99]}}\n  \
             batch_size: {{values: [64, 512]}}\n\
             sweepd:\n  max_parallel: 2\n  conditions:\n    momentum: {{optimizer: sgd}}\n  \
             constraints: [\"batch_size * lr <= 10\"]\n"
        ),
    );
    wait_until("the grid's runs", || {
        state(&sweep) == "finished" && summaries(&sweep).len() == 9
    });
    let mut seen = Vec::new();
    for run in run_dirs(&sweep) {
        let params: Value =
            serde_json::from_str(&fs::read_to_string(run.join("params.json")).unwrap()).unwrap();
        let args = fs::read_to_string(run.join("args.txt")).unwrap();
        let start: Value =
            serde_json::from_str(&fs::read_to_string(run.join("start.json")).unwrap()).unwrap();
        assert_eq!(
            start["params"], params,
            "the start message has params.json's"
        );
        let sgd = params["optimizer"] == "sgd";
        assert_eq!(params.get("momentum").is_some(), sgd, "{params}");
        assert_eq!(args.contains("--momentum="), sgd, "{args}");
        assert_eq!(args.contains("--m="), sgd, "{args}");
        assert!(!args.contains("${"), "{args}");
        assert!(
            params["batch_size"].as_f64().unwrap() * params["lr"].as_f64().unwrap() <= 10.0,
            "{params}"
        );
        seen.push(params);
    }
    // adam: 2 lr x 2 batch sizes, less (512, 0.1); sgd: times 2 momenta.
    assert_eq!(seen.len(), 3 + 6);
    assert!(seen.contains(&json!({"batch_size": 64, "lr": 0.1, "optimizer": "adam"})));
    assert!(
        !seen
            .iter()
            .any(|p| p["batch_size"] == 512 && p["lr"] == 0.1)
    );
    let preview = w.sweepctl(["preview", "grid.yaml"]).expect_code(0).stdout();
    assert!(
        preview.contains("grid search over 9 points (3 more skipped: they break a constraint)"),
        "{preview}"
    );
    assert!(preview.lines().nth(2).unwrap().contains(" - "), "{preview}");
}
