//! `sweepctl validate` and `sweepctl preview`, run as a user runs them.

mod common;

use std::path::Path;

use common::{World, repo_root};
use serde_json::json;

const VALID: &str =
    "method: grid\nprogram: train.py\nparameters:\n  a: {values: [1, 2, 3]}\n  b: {value: x}\n";

const THREE_PROBLEMS: &str = "\
method: random
program: train.py
parameters:
  lr:
    distribution: log_uniform_value
    min: 1.0e-5
    max: 0.1
  batch:
    min: 64
    max: 32
run_cap: 0
";

#[test]
fn validate_accepts_a_valid_file() {
    let w = World::new();
    let file = w.file("ok.yaml", VALID);
    let run = w
        .sweepctl(["validate".as_ref(), file.as_os_str()])
        .expect_code(0);
    assert!(
        run.stdout()
            .ends_with("ok.yaml: valid grid sweep, 2 parameters\n"),
        "{}",
        run.stdout()
    );
}

#[test]
fn validate_reports_every_problem_with_where_and_what_and_exits_1() {
    let w = World::new();
    w.file("bad.yaml", THREE_PROBLEMS);
    let run = w.sweepctl(["validate", "bad.yaml"]).expect_code(1);
    let out = run.stdout();
    let headlines: Vec<&str> = out.lines().filter(|l| l.starts_with("bad.yaml:")).collect();
    assert_eq!(
        headlines,
        [
            "bad.yaml:5:19: error: parameters.lr.distribution: unknown distribution `log_uniform_value`",
            "bad.yaml:9:10: error: parameters.batch.min: `min` must be less than `max` (min is the integer 64, max is the integer 32)",
            "bad.yaml:11:10: error: run_cap: `run_cap` must be at least 1, found 0",
            "bad.yaml: invalid: 3 errors, 0 warnings",
        ]
    );
    // The line itself, a caret under the spot, and what would be right.
    assert!(
        out.contains(" 5 |     distribution: log_uniform_value\n   |                   ^\n  help: did you mean `log_uniform_values`?\n"),
        "{out}"
    );
}

#[test]
fn warnings_do_not_make_a_file_invalid() {
    let w = World::new();
    w.file(
        "old.yaml",
        "method: random\nprogram: p\nparameters:\n  lr: {distribution: log_uniform, min: -9, max: -2}\n  wd: {values: [1e-5]}\n",
    );
    let run = w.sweepctl(["validate", "old.yaml"]).expect_code(0);
    let out = run.stdout();
    assert!(
        out.contains("old.yaml:4:22: warning: parameters.lr: `log_uniform` is deprecated"),
        "{out}"
    );
    assert!(
        out.contains(
            "warning: parameters.wd.values[0]: `1e-5` is the number 0.00001 here (YAML 1.2)"
        ),
        "{out}"
    );
    assert!(
        out.ends_with("old.yaml: valid random sweep, 2 parameters, 2 warnings\n"),
        "{out}"
    );
}

#[test]
fn validate_exits_1_when_any_file_is_invalid_and_2_when_one_cannot_be_read() {
    let w = World::new();
    w.file("ok.yaml", VALID);
    w.file("bad.yaml", THREE_PROBLEMS);
    w.sweepctl(["validate", "ok.yaml", "bad.yaml"])
        .expect_code(1);
    let run = w
        .sweepctl(["validate", "ok.yaml", "missing.yaml", "bad.yaml"])
        .expect_code(2);
    assert!(
        run.stderr().contains("cannot read missing.yaml"),
        "{}",
        run.stderr()
    );
    // The files that could be read were still checked.
    assert!(run.stdout().contains("ok.yaml: valid"));
    assert!(run.stdout().contains("bad.yaml: invalid"));
}

#[test]
fn validate_json_gives_one_object_per_file() {
    let w = World::new();
    w.file("ok.yaml", VALID);
    w.file("bad.yaml", THREE_PROBLEMS);
    let run = w
        .sweepctl(["validate", "--json", "ok.yaml", "bad.yaml", "gone.yaml"])
        .expect_code(2);
    let lines = run.json_lines();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0],
        json!({"file": "ok.yaml", "valid": true, "method": "grid", "errors": 0, "warnings": 0, "diagnostics": []})
    );
    assert_eq!(lines[1]["valid"], false);
    assert_eq!(lines[1]["errors"], 3);
    assert_eq!(
        lines[1]["diagnostics"][0],
        json!({
            "severity": "error",
            "path": "parameters.lr.distribution",
            "line": 5,
            "column": 19,
            "message": "unknown distribution `log_uniform_value`",
            "help": "did you mean `log_uniform_values`?"
        })
    );
    assert_eq!(lines[2]["file"], "gone.yaml");
    assert!(
        lines[2]["io_error"]
            .as_str()
            .unwrap()
            .contains("No such file")
    );
}

#[test]
fn json_sweep_files_are_read_as_json() {
    let w = World::new();
    w.file(
        "s.json",
        r#"{"method": "random", "program": "p", "parameters": {"lr": {"min": 0, "max": "high"}}}"#,
    );
    let run = w.sweepctl(["validate", "s.json"]).expect_code(1);
    assert!(
        run.stdout().contains(
            "s.json:1:77: error: parameters.lr.max: expected a number, found the string \"high\""
        ),
        "{}",
        run.stdout()
    );
}

#[test]
fn usage_errors_exit_2() {
    let w = World::new();
    w.sweepctl(["validate"]).expect_code(2);
    w.sweepctl(["preview"]).expect_code(2);
    w.sweepctl(["validate", "--no-such-flag", "x.yaml"])
        .expect_code(2);
    w.sweepctl(["frobnicate"]).expect_code(2);
}

#[test]
fn preview_lists_the_whole_grid_in_wandb_order() {
    let w = World::new();
    let file = repo_root().join("examples/grid.yaml");
    let run = w
        .sweepctl(["preview".as_ref(), file.as_os_str(), "--json".as_ref()])
        .expect_code(0);
    let runs = run.json_lines();
    assert_eq!(runs.len(), 24);
    // Sorted names: batch_size, epochs, learning_rate, optimizer; the last varies fastest.
    assert_eq!(
        runs[0],
        json!({"batch_size": 64, "epochs": 2, "learning_rate": 0.001, "optimizer": "adam"})
    );
    assert_eq!(
        runs[1],
        json!({"batch_size": 64, "epochs": 2, "learning_rate": 0.001, "optimizer": "sgd"})
    );
    assert_eq!(
        runs[2],
        json!({"batch_size": 64, "epochs": 2, "learning_rate": 0.003, "optimizer": "adam"})
    );
    assert_eq!(
        runs[23],
        json!({"batch_size": 256, "epochs": 2, "learning_rate": 0.01, "optimizer": "sgd"})
    );
    let table = w
        .sweepctl(["preview".as_ref(), file.as_os_str()])
        .expect_code(0)
        .stdout();
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .ends_with("grid search over 24 points"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 1 + 1 + 24);
}

#[test]
fn preview_stops_where_run_cap_and_n_say() {
    let w = World::new();
    w.file("capped.yaml", &format!("{VALID}run_cap: 2\n"));
    let run = w
        .sweepctl(["preview", "capped.yaml", "--json"])
        .expect_code(0);
    assert_eq!(
        run.json_lines(),
        [json!({"a": 1, "b": "x"}), json!({"a": 2, "b": "x"})]
    );
    let table = w
        .sweepctl(["preview", "capped.yaml"])
        .expect_code(0)
        .stdout();
    assert!(
        table.starts_with("capped.yaml: grid search over 3 points; run_cap stops it after 2\n"),
        "{table}"
    );
    w.file("g.yaml", VALID);
    assert_eq!(
        w.sweepctl(["preview", "g.yaml", "--json", "-n", "1"])
            .expect_code(0)
            .json_lines()
            .len(),
        1
    );
}

#[test]
fn preview_of_random_search_is_seeded() {
    let w = World::new();
    let text = "method: random\nprogram: p\nparameters:\n  lr: {distribution: log_uniform_values, min: 1.0e-4, max: 0.1}\n  opt: {values: [adam, sgd]}\n";
    w.file("r.yaml", text);
    let a = w
        .sweepctl(["preview", "r.yaml", "--json", "--seed", "5"])
        .expect_code(0)
        .json_lines();
    let b = w
        .sweepctl(["preview", "r.yaml", "--json", "--seed", "5"])
        .expect_code(0)
        .json_lines();
    let c = w
        .sweepctl(["preview", "r.yaml", "--json", "--seed", "6"])
        .expect_code(0)
        .json_lines();
    assert_eq!(a.len(), 10, "ten runs by default");
    assert_eq!(a, b);
    assert_ne!(a, c);
    for run in &a {
        let lr = run["lr"].as_f64().unwrap();
        assert!((1e-4..=0.1).contains(&lr));
    }
    // Without --seed: the file's sweepd.seed, and the same runs every time.
    w.file("seeded.yaml", &format!("{text}sweepd: {{seed: 5}}\n"));
    let d = w
        .sweepctl(["preview", "seeded.yaml", "--json"])
        .expect_code(0)
        .json_lines();
    assert_eq!(d, a);
    // Neither: a fresh seed, which the human output names so it can be repeated.
    let table = w
        .sweepctl(["preview", "r.yaml", "-n", "3"])
        .expect_code(0)
        .stdout();
    assert!(table.contains("chosen at random: pass --seed"), "{table}");
}

#[test]
fn preview_hands_nested_parameters_as_nested_objects() {
    let w = World::new();
    let file = repo_root().join("examples/nested.yaml");
    let runs = w
        .sweepctl([
            "preview".as_ref(),
            file.as_os_str(),
            "--json".as_ref(),
            "-n".as_ref(),
            "50".as_ref(),
        ])
        .expect_code(0)
        .json_lines();
    assert_eq!(runs.len(), 40, "run_cap 40 bounds the preview");
    for run in &runs {
        let keys: Vec<&str> = run
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["model", "optimizer", "seed"]);
        let layers = run["model"]["layers"].as_i64().unwrap();
        assert!((1..=4).contains(&layers));
        assert!(["adam", "sgd"].contains(&run["optimizer"]["name"].as_str().unwrap()));
    }
}

#[test]
fn preview_of_an_invalid_file_prints_the_problems_and_no_runs() {
    let w = World::new();
    w.file("bad.yaml", THREE_PROBLEMS);
    let run = w.sweepctl(["preview", "bad.yaml", "--json"]).expect_code(1);
    assert_eq!(run.stdout(), "");
    assert!(
        run.stderr().contains("bad.yaml:5:19: error:"),
        "{}",
        run.stderr()
    );
    w.sweepctl(["preview", "nowhere.yaml"]).expect_code(2);
}

#[test]
fn preview_of_bayes_shows_its_initial_design() {
    let w = World::new();
    w.file(
        "b.yaml",
        "method: bayes\nprogram: p\nmetric: {name: loss}\nparameters:\n  lr: {min: 0.0, max: 1.0}\n  \
         act: {values: [relu, tanh]}\n",
    );
    let out = w
        .sweepctl(["preview", "b.yaml", "--seed", "4"])
        .expect_code(0)
        .stdout();
    assert!(
        out.contains("bayes search; seed 4; its initial design, the first 5 runs"),
        "{out}"
    );
    // The same runs as JSON, one per line: a Latin hypercube in lr.
    let json = w
        .sweepctl(["preview", "b.yaml", "--seed", "4", "--json"])
        .expect_code(0)
        .stdout();
    let runs: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 5);
    let mut strata: Vec<u64> = runs
        .iter()
        .map(|r| (r["lr"].as_f64().unwrap() * 5.0) as u64)
        .collect();
    strata.sort_unstable();
    assert_eq!(strata, [0, 1, 2, 3, 4]);
    for r in &runs {
        assert!(out.contains(&r["lr"].to_string()), "{} in {out}", r["lr"]);
        assert!(["relu", "tanh"].contains(&r["act"].as_str().unwrap()));
    }
    // -n shows fewer; the same seed shows the same runs.
    let two = w
        .sweepctl(["preview", "b.yaml", "--seed", "4", "--json", "-n", "2"])
        .expect_code(0)
        .stdout();
    assert_eq!(
        two.lines().collect::<Vec<_>>(),
        json.lines().take(2).collect::<Vec<_>>()
    );
}

/// `systemd-analyze verify` on a unit, failing on anything it prints.
fn systemd_verify(w: &World, unit: &Path, user: bool) {
    let runtime = w.path("xdg-runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    let mut command = std::process::Command::new("systemd-analyze");
    if user {
        command.arg("--user");
    }
    let out = command
        .arg("verify")
        .arg(unit)
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("systemd-analyze (Debian's systemd package; scripts/setup installs it)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.is_empty(),
        "{}: {said}",
        unit.display()
    );
}

#[test]
fn service_install_writes_a_user_unit_that_systemd_accepts() {
    let w = World::new();
    let dir = w.path("units");
    let first = w
        .sweepctl(["service", "install", "--unit-dir", dir.to_str().unwrap()])
        .expect_code(0);
    let unit_path = dir.join("sweepd.service");
    assert!(
        first
            .stdout()
            .starts_with(&format!("wrote {}", unit_path.display())),
        "{}",
        first.stdout()
    );
    assert!(
        first
            .stdout()
            .contains("systemctl --user enable --now sweepd")
    );
    assert!(first.stdout().contains("linger"), "{}", first.stdout());
    let unit = std::fs::read_to_string(&unit_path).unwrap();
    let sweepd = common::bin("sweepd");
    assert!(
        unit.contains(&format!("\nExecStart=\"{}\"\n", sweepd.display())),
        "{unit}"
    );
    assert!(unit.contains("\nType=notify\n") && unit.contains("\nKillMode=process\n"));
    systemd_verify(&w, &unit_path, true);

    let again = w
        .sweepctl(["service", "install", "--unit-dir", dir.to_str().unwrap()])
        .expect_code(0);
    assert!(
        again.stdout().contains("already this unit"),
        "{}",
        again.stdout()
    );
    std::fs::write(&unit_path, "[Service]\nExecStart=/bin/true\n").unwrap();
    let refused = w
        .sweepctl(["service", "install", "--unit-dir", dir.to_str().unwrap()])
        .expect_code(2);
    assert!(refused.stderr().contains("--force"), "{}", refused.stderr());
    assert_eq!(
        std::fs::read_to_string(&unit_path).unwrap(),
        "[Service]\nExecStart=/bin/true\n"
    );
    w.sweepctl([
        "service",
        "install",
        "--force",
        "--unit-dir",
        dir.to_str().unwrap(),
    ])
    .expect_code(0);
    assert_eq!(std::fs::read_to_string(&unit_path).unwrap(), unit);
}

/// The administrator's template, as an instance for the user running the
/// test, with ExecStart at the sweepd just built.
#[test]
fn the_per_user_template_unit_passes_systemd_analyze_verify() {
    let w = World::new();
    let template = std::fs::read_to_string(repo_root().join("systemd/sweepd@.service")).unwrap();
    assert!(template.contains("\nUser=%i\n") && template.contains("\nType=notify\n"));
    let sweepd = common::bin("sweepd");
    let unit: String = template
        .lines()
        .map(|l| {
            if l.starts_with("ExecStart=") {
                format!("ExecStart={}\n", sweepd.display())
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    let me = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    let me = String::from_utf8(me.stdout).unwrap();
    let instance = w.path(&format!("sweepd@{}.service", me.trim()));
    std::fs::write(&instance, unit).unwrap();
    systemd_verify(&w, &instance, false);
}

/// `sweepctl gpus` with the fake nvidia-smi (tests/fakes/nvidia-smi), which
/// prints what the real one prints for the GPUs in a CSV file.
#[test]
fn gpus_lists_what_nvidia_smi_reports_within_cuda_visible_devices() {
    let w = World::new();
    let state = w.file(
        "gpus.csv",
        "0, GPU-1d3b2c4a-0000-4000-8000-000000000000, NVIDIA H100 80GB HBM3, 81559, 3, 0\n\
         1, GPU-9a8b7c6d-0000-4000-8000-000000000001, NVIDIA H100 80GB HBM3, 81559, 40000, 97\n\
         2, GPU-77777777-0000-4000-8000-000000000002, NVIDIA H100 80GB HBM3, 81559, [N/A], [N/A]\n",
    );
    let gpus = |extra: &[(&str, &str)]| {
        let mut command = w.command("sweepctl");
        command
            .args(["gpus", "--json"])
            .env(
                "SWEEPD_NVIDIA_SMI",
                repo_root().join("tests/fakes/nvidia-smi"),
            )
            .env("FAKE_NVIDIA_SMI_STATE", &state);
        for (k, v) in extra {
            command.env(k, v);
        }
        let out = command.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let all = gpus(&[]);
    assert_eq!(all["gpus"].as_array().unwrap().len(), 3, "{all}");
    assert_eq!(all["gpus"][1]["memory_used_mib"], 40000);
    assert_eq!(all["gpus"][1]["utilization_pct"], 97);
    assert_eq!(
        all["gpus"][2]["memory_used_mib"],
        serde_json::Value::Null,
        "[N/A]"
    );
    assert!(all["source"].as_str().unwrap().starts_with("nvidia-smi"));

    let some = gpus(&[("CUDA_VISIBLE_DEVICES", "2,GPU-1d3b")]);
    let indices: Vec<u64> = some["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [2, 0], "{some}");
    assert!(
        some["note"]
            .as_str()
            .unwrap()
            .contains("2 of 3 GPUs visible")
    );

    let none = gpus(&[("FAKE_NVIDIA_SMI_FAIL", "1")]);
    assert_eq!(none["gpus"], json!([]), "no GPUs is a normal state");
    let note = none["note"].as_str().unwrap();
    assert!(
        note.contains("exit status: 9")
            && note.contains("couldn't communicate with the NVIDIA driver"),
        "{note}"
    );

    let text = w
        .command("sweepctl")
        .arg("gpus")
        .env(
            "SWEEPD_NVIDIA_SMI",
            repo_root().join("tests/fakes/nvidia-smi"),
        )
        .env("FAKE_NVIDIA_SMI_STATE", &state)
        .output()
        .unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("40000 / 81559 MiB  97 %"), "{text}");
    assert!(text.contains("n/a / 81559 MiB    n/a"), "{text}");
}
