//! Sweeps that continue, through a real sweepd: `sweepctl extend`,
//! `sweepctl enqueue` and `sweepd.enqueue`, `sweepd.warm_start`.

mod common;

use std::fs;
use std::path::Path;

use common::World;
use common::daemon::{Daemon, state, submit, summaries, wait_until};
use serde_json::Value;

/// A run that logs its `x` (a whole number) as the loss and exits.
const LOGS_X: &str = "command: [sh, -c, 'sed -n \"s/.*\\\"x\\\": *\\([0-9]*\\).*/{\\\"loss\\\": \\1}/p\" \"$SWEEP_RUN_DIR/params.json\"']\n";

fn params(sweep: &Path) -> Vec<Value> {
    common::daemon::run_dirs(sweep)
        .iter()
        .map(|r| serde_json::from_str(&fs::read_to_string(r.join("params.json")).unwrap()).unwrap())
        .collect()
}

fn finished_with(sweep: &Path, runs: usize) -> bool {
    state(sweep) == "finished"
        && summaries(sweep).len() == runs
        && summaries(sweep).iter().all(|s| s["state"] == "finished")
}

/// A JSON-lines file of the sweep's (`events.jsonl`, `seeds.jsonl`).
fn jsonl(sweep: &Path, name: &str) -> Vec<Value> {
    fs::read_to_string(sweep.join(name))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const RANDOM: &str = "method: random\nmetric: {name: loss}\nparameters: {x: {min: 0.0, max: 1.0}, \
                      k: {values: [a, b, c]}}\nsweepd: {seed: 42, max_parallel: 2}\n";

#[test]
fn a_random_sweep_extended_from_5_to_10_runs_what_a_10_run_sweep_runs() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let (short, id) = submit(
        &w,
        "short.yaml",
        &format!("{RANDOM}run_cap: 5\ncommand: [\"true\"]\n"),
    );
    wait_until("5 runs", || finished_with(&short, 5));

    let said = w
        .sweepctl(["extend", &id, "--run-cap", "10"])
        .expect_code(0)
        .stdout();
    assert!(said.contains("is running; run_cap 10 (was 5)"), "{said}");
    wait_until("10 runs", || finished_with(&short, 10));
    let status = w.sweepctl(["status", &id]).expect_code(0).stdout();
    assert!(status.contains("run_cap 10: 10 counted so far"), "{status}");
    let json = w
        .sweepctl(["status", &id, "--json"])
        .expect_code(0)
        .stdout();
    let line: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(line["sweep"]["run_cap"], 10);
    assert!(
        jsonl(&short, "events.jsonl")
            .iter()
            .any(|e| e["event"] == "extended" && e["from"] == 5 && e["to"] == 10)
    );

    let (long, _) = submit(
        &w,
        "long.yaml",
        &format!("{RANDOM}run_cap: 10\ncommand: [\"true\"]\n"),
    );
    wait_until("10 runs", || finished_with(&long, 10));
    assert_eq!(
        params(&short),
        params(&long),
        "the same seed, the same runs"
    );

    // Lowering below the runs there are, or extending a canceled sweep:
    // refused, with nothing written.
    let before = fs::read(short.join("state.json")).unwrap();
    let err = w
        .sweepctl(["extend", &id, "--run-cap", "3"])
        .expect_code(2)
        .stderr();
    assert!(
        err.contains("run_cap 3 is below the 10 runs it has already"),
        "{err}"
    );
    let err = w
        .sweepctl(["extend", "nosuchsweep", "--more", "2"])
        .expect_code(2)
        .stderr();
    assert!(err.contains("no sweep matches"), "{err}");
    assert_eq!(fs::read(short.join("state.json")).unwrap(), before);
}

#[test]
fn a_canceled_or_exhausted_sweep_cannot_be_extended() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let (_, id) = submit(
        &w,
        "waits.yaml",
        "method: random\nrun_cap: 3\ncommand: [sh, -c, 'exec sleep 1000']\nparameters: {x: {min: 0.0, max: 1.0}}\n",
    );
    w.sweepctl(["cancel", &id]).expect_code(0);
    let err = w
        .sweepctl(["extend", &id, "--more", "2"])
        .expect_code(2)
        .stderr();
    assert!(err.contains("cannot extend it: it is canceled"), "{err}");

    let (grid, id) = submit(
        &w,
        "grid.yaml",
        "method: grid\ncommand: [\"true\"]\nparameters: {k: {values: [1, 2, 3]}}\n",
    );
    wait_until("the grid's 3 runs", || finished_with(&grid, 3));
    let err = w
        .sweepctl(["extend", &id, "--more", "1"])
        .expect_code(2)
        .stderr();
    assert!(err.contains("its grid has 3 points"), "{err}");
}

#[test]
fn a_bayes_sweep_extended_after_a_restart_repeats_no_proposal() {
    let w = World::new();
    let daemon = Daemon::start(&w);
    let (sweep, id) = submit(
        &w,
        "bayes.yaml",
        &format!(
            "method: bayes\nmetric: {{name: loss}}\nrun_cap: 6\n{LOGS_X}\
             parameters: {{x: {{min: 1, max: 30}}, k: {{values: [1, 2]}}}}\nsweepd: {{seed: 7}}\n"
        ),
    );
    wait_until("6 runs", || finished_with(&sweep, 6));
    daemon.kill9();
    let _daemon = Daemon::start(&w);
    w.sweepctl(["extend", &id, "--more", "6"]).expect_code(0);
    wait_until("12 runs", || finished_with(&sweep, 12));
    let mut seen: Vec<String> = params(&sweep).iter().map(Value::to_string).collect();
    // Each run logged its own x as the loss: the model had values to learn from.
    for (run, set) in common::daemon::run_dirs(&sweep).iter().zip(params(&sweep)) {
        let metrics = fs::read_to_string(run.join("metrics.jsonl")).unwrap();
        assert!(
            metrics.contains(&format!("\"loss\":{}", set["x"])),
            "{metrics}"
        );
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 12, "a proposal was run twice: {seen:?}");
}

#[test]
fn given_runs_run_first_in_order_and_bad_ones_are_refused_by_name() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    // One run at a time, each waiting for the test's word, so that what
    // runs next is only what was queued.
    let gate = w.path("gate");
    fs::create_dir(&gate).unwrap();
    let text = format!(
        "method: random\nrun_cap: 5\nmetric: {{name: loss}}\n\
         command: [sh, -c, 'while [ ! -e {gate}/$SWEEP_RUN_ID ]; do sleep 0.02; done; echo \"{{\\\"loss\\\": 1}}\"']\n\
         parameters: {{x: {{min: 0.0, max: 1.0}}, opt: {{values: [adam, sgd]}}}}\n\
         sweepd: {{max_parallel: 1, enqueue: [{{x: 0.25, opt: sgd}}, {{x: 0.75}}]}}\n",
        gate = gate.display()
    );
    let (sweep, id) = submit(&w, "given.yaml", &text);
    let running = |n: usize| {
        let s = summaries(&sweep);
        s.len() >= n && s[n - 1]["state"] == "running"
    };
    // SWEEP_RUN_ID is SWEEP/N: a folder per sweep under the gate.
    fs::create_dir(gate.join(&id)).unwrap();
    let release = |n: usize| {
        fs::write(gate.join(&id).join(n.to_string()), "").unwrap();
    };
    wait_until("run 1", || running(1));
    let said = w
        .sweepctl(["enqueue", &id, "x=0.5", "opt=adam"])
        .expect_code(0)
        .stdout();
    assert!(said.contains("queued run 3"), "{said}");
    for bad in [
        (vec!["x=2.0"], "`x`: 2 is outside [0, 1]"),
        (vec!["opt=rmsprop"], "`opt`: \"rmsprop\" is not one of"),
        (vec!["lr=0.1"], "`lr`: no such parameter"),
    ] {
        let mut args = vec!["enqueue", id.as_str()];
        args.extend(bad.0.iter().copied());
        let err = w.sweepctl(&args).expect_code(2).stderr();
        assert!(err.contains(bad.1), "{err}");
    }
    for n in 1..=3 {
        wait_until("the next run", || running(n));
        release(n);
    }
    // Run 4 is the search's own, and the cap (5) has room for one more.
    wait_until("run 4", || running(4));
    let said = w
        .sweepctl(["enqueue", &id, "x=0.1", "opt=sgd"])
        .expect_code(0)
        .stdout();
    assert!(said.contains("queued run 5"), "{said}");
    let err = w
        .sweepctl(["enqueue", &id, "x=0.2"])
        .expect_code(2)
        .stderr();
    assert!(err.contains("leaves room for 0 more runs"), "{err}");
    release(4);
    wait_until("run 5", || running(5));
    release(5);
    wait_until("the sweep to finish", || finished_with(&sweep, 5));

    let got = params(&sweep);
    assert_eq!(got[0], serde_json::json!({"x": 0.25, "opt": "sgd"}));
    assert_eq!(got[1]["x"], 0.75, "the file's second run, `opt` drawn");
    assert!(["adam", "sgd"].contains(&got[1]["opt"].as_str().unwrap()));
    assert_eq!(got[2], serde_json::json!({"x": 0.5, "opt": "adam"}));
    assert_eq!(got[4], serde_json::json!({"x": 0.1, "opt": "sgd"}));
}

#[test]
fn a_warm_start_seeds_a_new_sweep_from_an_earlier_one_or_says_why_not() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let space = "parameters: {x: {min: 1, max: 30}, k: {values: [1, 2]}}\n";
    let (earlier, id) = submit(
        &w,
        "earlier.yaml",
        &format!(
            "method: random\nmetric: {{name: loss}}\nrun_cap: 8\n{LOGS_X}{space}sweepd: {{seed: 3}}\n"
        ),
    );
    wait_until("8 runs", || finished_with(&earlier, 8));

    // Another goal: refused at submission, saying what to write.
    w.file(
        "other.yaml",
        &format!(
            "method: bayes\nmetric: {{name: loss, goal: maximize}}\nrun_cap: 2\n{LOGS_X}{space}\
             sweepd: {{warm_start: [{id}]}}\n"
        ),
    );
    let err = w.sweepctl(["submit", "other.yaml"]).expect_code(1).stderr();
    assert!(err.contains("its metric is `loss` (minimize)"), "{err}");

    let (new, new_id) = submit(
        &w,
        "new.yaml",
        &format!(
            "method: bayes\nmetric: {{name: loss}}\nrun_cap: 3\n{LOGS_X}\
             parameters: {{x: {{min: 1, max: 20}}, k: {{values: [1, 2]}}}}\n\
             sweepd: {{warm_start: [{id}]}}\n"
        ),
    );
    wait_until("3 runs", || finished_with(&new, 3));
    let seeds: Vec<Value> = jsonl(&new, "seeds.jsonl");
    let earlier_params = params(&earlier);
    let inside = earlier_params
        .iter()
        .filter(|p| p["x"].as_i64().unwrap() <= 20)
        .count();
    assert_eq!(
        seeds.len(),
        inside,
        "the earlier runs inside the narrower space"
    );
    for seed in &seeds {
        assert_eq!(
            seed["value"].as_f64(),
            seed["params"]["x"].as_f64(),
            "each with its loss"
        );
    }
    let seeded = jsonl(&new, "events.jsonl")
        .into_iter()
        .find(|e| e["event"] == "seeded")
        .unwrap();
    assert_eq!(seeded["added"], inside);
    if inside < 8 {
        assert!(
            seeded["left_out"][0]
                .as_str()
                .unwrap()
                .contains("`x` outside")
        );
    }
    let text = w.sweepctl(["status", &new_id]).expect_code(0).stdout();
    assert!(
        text.contains(&format!("seeded by {inside} finished runs")),
        "{text}"
    );
    // The seeds are not its runs: three of its own, none a seed's point.
    let own = params(&new);
    assert_eq!(own.len(), 3);
    for run in &own {
        assert!(
            seeds.iter().all(|s| &s["params"] != run),
            "{run} was a seed"
        );
    }
}

#[test]
fn history_is_imported_from_an_export_or_from_wandbs_runs_table() {
    let w = World::new();
    let _daemon = Daemon::start(&w);
    let space = "parameters: {x: {min: 1, max: 30}, k: {values: [1, 2]}}\n";
    let (earlier, earlier_id) = submit(
        &w,
        "earlier.yaml",
        &format!("method: random\nmetric: {{name: loss}}\nrun_cap: 4\n{LOGS_X}{space}"),
    );
    wait_until("4 runs", || finished_with(&earlier, 4));
    // The new sweep's one run sleeps: its seeds are what is read here.
    let (new, id) = submit(
        &w,
        "new.yaml",
        &format!(
            "method: bayes\nmetric: {{name: loss}}\nrun_cap: 1\ncommand: [sh, -c, 'exec sleep 1000']\n{space}"
        ),
    );

    // Export, then import: the same runs, as seeds.
    for format in ["csv", "jsonl"] {
        let file = w.path(&format!("earlier.{format}"));
        w.sweepctl([
            "export",
            &earlier_id,
            "--format",
            format,
            "-o",
            file.to_str().unwrap(),
        ])
        .expect_code(0);
        let said = w
            .sweepctl(["import", &id, file.to_str().unwrap()])
            .expect_code(0)
            .stdout();
        assert!(said.contains("imported 4 finished run(s)"), "{said}");
    }
    let seeds: Vec<Value> = jsonl(&new, "seeds.jsonl");
    assert_eq!(seeds.len(), 8);
    let mut from_runs: Vec<String> = params(&earlier).iter().map(Value::to_string).collect();
    from_runs.sort();
    for half in seeds.chunks(4) {
        let mut got: Vec<String> = half.iter().map(|s| s["params"].to_string()).collect();
        got.sort();
        assert_eq!(
            got, from_runs,
            "an export read back is the runs it came from"
        );
        assert!(
            half.iter()
                .all(|s| s["imported"] == true && s["value"].as_f64() == s["params"]["x"].as_f64())
        );
    }
    let status = w.sweepctl(["status", &id]).expect_code(0).stdout();
    assert!(
        status.contains(
            "seeded by 8 finished runs from elsewhere (0 from earlier sweeps, 8 imported)"
        ),
        "{status}"
    );
    let export = w.sweepctl(["export", &id]).expect_code(0).stdout();
    assert_eq!(
        export.lines().filter(|l| l.contains(",imported,")).count(),
        8,
        "{export}"
    );

    // W&B's runs table: its finished runs, the rest reported by line.
    let (_, tutorial_id) = submit(
        &w,
        "tutorial.yaml",
        "method: random\nmetric: {name: loss}\nrun_cap: 1\ncommand: [sh, -c, 'exec sleep 1000']\n\
         parameters:\n  optimizer: {values: [adam, sgd]}\n  fc_layer_size: {values: [128, 256, 512]}\n  \
         dropout: {values: [0.3, 0.4, 0.5]}\n  epochs: {value: 1}\n  \
         learning_rate: {distribution: uniform, min: 0, max: 0.1}\n  \
         batch_size: {distribution: q_log_uniform_values, q: 8, min: 32, max: 256}\n",
    );
    let fixture = common::repo_root().join("tests/fixtures/wandb-runs.csv");
    let said = w
        .sweepctl(["import", &tutorial_id, fixture.to_str().unwrap()])
        .expect_code(0)
        .stdout();
    assert!(said.contains("imported 2 finished run(s)"), "{said}");
    assert!(
        said.contains("skipped 5 row(s): line 4: its state is \"crashed\""),
        "{said}"
    );

    // Not runs at all, or no such sweep: refused, nothing written.
    let before = fs::read(new.join("seeds.jsonl")).unwrap();
    let junk = w.path("junk.csv");
    fs::write(&junk, [0u8, 159, 146, 150]).unwrap();
    let err = w
        .sweepctl(["import", &id, junk.to_str().unwrap()])
        .expect_code(2)
        .stderr();
    assert!(err.contains("not a CSV file"), "{err}");
    let text = w.file("notes.txt", "lr,loss\n0.1,0.2\n");
    let err = w
        .sweepctl(["import", &id, text.to_str().unwrap()])
        .expect_code(2)
        .stderr();
    assert!(err.contains("not a .csv or .jsonl file"), "{err}");
    let err = w
        .sweepctl(["import", "nosuch", fixture.to_str().unwrap()])
        .expect_code(2)
        .stderr();
    assert!(err.contains("no sweep matches"), "{err}");
    assert_eq!(fs::read(new.join("seeds.jsonl")).unwrap(), before);
}
