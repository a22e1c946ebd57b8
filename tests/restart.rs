//! Issue 18: runs outlive sweepd. A restart, an upgrade or a crash of the
//! daemon costs no run its work: each local run's monitor keeps it going,
//! and the next sweepd takes it up where its folder ends.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::World;
use common::daemon::{Daemon, home, run_dirs, state, summaries, sweeps, wait_until};
use serde_json::Value;

/// sweepd with room for 3 runs at once whatever the machine's cores.
fn start(w: &World) -> Daemon {
    Daemon::start_with(w, &["--settle", "100ms", "--max-running", "8"])
}

/// 25 numbered values over about 5 s.
const SLOW: &str =
    r#"i=0; while [ $i -lt 25 ]; do echo "{\"loss\": $i, \"i\": $i}"; i=$((i+1)); sleep 0.2; done"#;

fn slow_sweep(w: &World, run_cap: u32) -> PathBuf {
    w.file(
        "slow.yaml",
        &format!(
            "method: random\nrun_cap: {run_cap}\nmetric: {{name: loss}}\n\
             command: [sh, -c, '{SLOW}']\n\
             parameters: {{x: {{min: 0.0, max: 1.0}}}}\nsweepd: {{max_parallel: 3}}\n"
        ),
    )
}

/// Metric records written so far (by sweepd), over every run of the sweep.
fn lines(sweep: &Path) -> usize {
    count_lines(sweep, "metrics.jsonl")
}

/// Lines the runs printed (to their stdout.log, sweepd or not).
fn count_lines(sweep: &Path, file: &str) -> usize {
    run_dirs(sweep)
        .iter()
        .map(|r| {
            fs::read_to_string(r.join(file))
                .unwrap_or_default()
                .lines()
                .count()
        })
        .sum()
}

/// Every run ran once, to its end, and recorded each of its 25 values
/// once, in order; nothing of the sweep is left running.
fn each_run_once(w: &World, sweep: &Path, run_cap: usize) {
    let runs = summaries(sweep);
    assert_eq!(
        run_dirs(sweep).len(),
        run_cap,
        "exactly run_cap run folders: no run ran twice: {runs:#?}"
    );
    for run in run_dirs(sweep) {
        let records: Vec<i64> = fs::read_to_string(run.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["i"]
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert_eq!(records, (0..25).collect::<Vec<_>>(), "{}", run.display());
    }
    assert!(
        runs.iter()
            .all(|r| r["state"] == "finished" && r["exit_code"] == 0),
        "{runs:#?}"
    );
    wait_until("nothing of the sweep to be left running", || {
        w.processes().is_empty()
    });
}

/// kill -9 of sweepd ten times while runs log for about 5 s each, 3 at
/// once: each run runs once, every value is recorded once, in order.
#[test]
fn kill_9_ten_times_runs_each_run_once() {
    let w = World::new();
    let mut daemon = start(&w);
    let file = slow_sweep(&w, 6);
    w.sweepctl(["submit", file.to_str().unwrap()])
        .expect_code(0);
    let sweep = sweeps(&w)[0].clone();
    // A kill each time the sweep has logged 10 more values.
    for k in 1..=10 {
        wait_until("more values", || lines(&sweep) >= 10 * k);
        daemon.kill9();
        daemon = start(&w);
    }
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    each_run_once(&w, &sweep, 6);
    drop(daemon);
}

/// SIGTERM leaves the runs going, and so does an upgrade: sweepd's file
/// replaced by a new one while its runs run, then started again from there.
#[test]
fn sigterm_and_an_upgrade_leave_runs_going() {
    let w = World::new();
    let install = w.path("install");
    fs::create_dir(&install).unwrap();
    let sweepd = install.join("sweepd");
    fs::copy(common::bin("sweepd"), &sweepd).unwrap();
    let start_installed =
        |w: &World| Daemon::start_from(w, &sweepd, &["--settle", "100ms", "--max-running", "8"]);
    let daemon = start_installed(&w);
    let file = slow_sweep(&w, 3);
    w.sweepctl(["submit", file.to_str().unwrap()])
        .expect_code(0);
    let sweep = sweeps(&w)[0].clone();
    wait_until("three runs to log", || lines(&sweep) >= 6);
    assert!(daemon.terminate().success());
    assert!(
        summaries(&sweep).iter().all(|r| r["state"] == "running"),
        "{:#?}",
        summaries(&sweep)
    );
    let before = count_lines(&sweep, "stdout.log");
    wait_until("the runs to log on without sweepd", || {
        count_lines(&sweep, "stdout.log") > before
    });
    // The upgrade: a new file where the old one was (the old inode lives
    // on in the runs' monitors).
    fs::remove_file(&sweepd).unwrap();
    fs::copy(common::bin("sweepd"), &sweepd).unwrap();
    let daemon = start_installed(&w);
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    each_run_once(&w, &sweep, 3);
    drop(daemon);
}

/// Runs waiting for `go` in the world, then logging their `x`; then each
/// writes down the stop message it hears (on its stdin pipe) and exits.
fn waiting_sweep(w: &World, extra: &str, values: &str) -> PathBuf {
    let go = w.path("go");
    w.file(
        "wait.yaml",
        &format!(
            "method: grid\nmetric: {{name: loss, goal: minimize}}\n{extra}\
             command: [sh, -c, 'read start; while [ ! -e {go} ]; do sleep 0.02; done; \
             echo \"{{\\\"loss\\\": $0}}\"; read stop; echo \"$stop\" > \"$SWEEP_RUN_DIR/heard\"', '${{x}}']\n\
             parameters: {{x: {{values: [{values}]}}}}\nsweepd: {{max_parallel: 3}}\n",
            go = go.display()
        ),
    )
}

fn all_started(sweep: &Path, n: usize) -> bool {
    summaries(sweep).len() == n
        && run_dirs(sweep)
            .iter()
            .all(|r| r.join("monitor.json").exists())
}

fn heard(run: &Path) -> Option<String> {
    let text = fs::read_to_string(run.join("heard")).ok()?;
    let stop: Value = serde_json::from_str(&text).ok()?;
    stop["reason"].as_str().map(str::to_owned)
}

/// A run taken up after a restart: the early-termination rule, deciding
/// after the restart, stops it (its stop message reaches it through the
/// pipe its monitor holds), and `sweepctl cancel` stops the others.
#[test]
fn adopted_runs_hear_the_rule_and_cancel() {
    let w = World::new();
    let daemon = start(&w);
    let file = waiting_sweep(
        &w,
        "early_terminate: {type: hyperband, min_iter: 1, eta: 2}\n",
        "1, 5, 9",
    );
    let id = w
        .sweepctl(["submit", file.to_str().unwrap()])
        .expect_code(0)
        .stdout();
    let sweep = home(&w).join("sweeps").join(id.trim());
    wait_until("three runs to start", || all_started(&sweep, 3));
    daemon.kill9();
    let _daemon = start(&w);
    w.file("go", "");
    let runs = run_dirs(&sweep);
    wait_until("the rule to stop the worst run", || {
        heard(&runs[2]).is_some()
    });
    assert_eq!(heard(&runs[2]).as_deref(), Some("early_terminate"));
    wait_until("it to be recorded", || {
        summaries(&sweep)[2]["state"] == "killed"
    });
    assert_eq!(summaries(&sweep)[2]["reason"], "early_terminate");
    w.sweepctl(["cancel", id.trim()]).expect_code(0);
    wait_until("the sweep's runs to end", || {
        summaries(&sweep).iter().all(|r| r["state"] == "killed")
    });
    assert_eq!(heard(&runs[0]).as_deref(), Some("user"));
    assert_eq!(heard(&runs[1]).as_deref(), Some("user"));
    assert_eq!(summaries(&sweep).len(), 3, "none ran again");
}

/// A run that ended while no sweepd ran is recorded from its monitor's
/// exit.json, with its exit code, and is not run again.
#[test]
fn a_run_that_ended_while_no_sweepd_ran_is_recorded_with_its_exit_code() {
    let w = World::new();
    let go = w.path("go");
    w.file(
        "s.yaml",
        &format!(
            "method: grid\ncommand: [sh, -c, 'read start; while [ ! -e {} ]; do sleep 0.02; done; exit 3']\n\
             parameters: {{x: {{value: 1}}}}\n",
            go.display()
        ),
    );
    let daemon = start(&w);
    let id = w.sweepctl(["submit", "s.yaml"]).expect_code(0).stdout();
    let sweep = home(&w).join("sweeps").join(id.trim());
    wait_until("the run to start", || all_started(&sweep, 1));
    daemon.kill9();
    fs::write(&go, "").unwrap();
    let run = &run_dirs(&sweep)[0];
    wait_until("its monitor to record its end", || {
        run.join("exit.json").exists()
    });
    let _daemon = start(&w);
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    let runs = summaries(&sweep);
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(
        (&runs[0]["state"], &runs[0]["exit_code"]),
        (&Value::from("failed"), &Value::from(3))
    );
}

/// `sweepd.timeout` counts from the run's real start, not from the restart
/// that took it up: a run whose time ran out while no sweepd ran is stopped
/// as soon as it is taken up.
#[test]
fn an_adopted_runs_timeout_counts_from_its_real_start() {
    let w = World::new();
    w.file(
        "s.yaml",
        "method: grid\ncommand: [sh, -c, 'read start; exec sleep 1000']\n\
         parameters: {x: {value: 1}}\nsweepd: {timeout: 3s}\n",
    );
    let daemon = start(&w);
    let id = w.sweepctl(["submit", "s.yaml"]).expect_code(0).stdout();
    let sweep = home(&w).join("sweeps").join(id.trim());
    wait_until("the run to start", || all_started(&sweep, 1));
    assert!(daemon.terminate().success());
    let started = timestamp(&summaries(&sweep)[0]["started_at"]);
    wait_until("its time to run out with no sweepd", || {
        SystemTime::now() > started + Duration::from_secs(3)
    });
    let restarted = SystemTime::now();
    let _daemon = start(&w);
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    let run = &summaries(&sweep)[0];
    assert_eq!(
        (&run["state"], &run["reason"]),
        (&Value::from("killed"), &Value::from("timeout"))
    );
    let ended = timestamp(&run["ended_at"]);
    // Counted from the restart it would end 3 s after it, at the earliest.
    assert!(
        ended < restarted + Duration::from_secs(3),
        "stopped {:?} after the restart",
        ended.duration_since(restarted)
    );
}

fn timestamp(value: &Value) -> SystemTime {
    humantime::parse_rfc3339_weak(value.as_str().unwrap()).unwrap()
}

const GPU0: &str = "GPU-0a0a0a0a-0000-4000-8000-000000000000";
const GPU1: &str = "GPU-1b1b1b1b-0000-4000-8000-000000000001";

/// With two (fake) GPUs, one per run: a run's GPU is never handed to
/// another run while it runs, neither during a restart nor after it.
#[test]
fn a_runs_gpu_is_never_handed_to_another_run_across_a_restart() {
    let w = World::new();
    w.file(
        "gpus.csv",
        &format!("0, {GPU0}, Fake H100, 81559, 3, 0\n1, {GPU1}, Fake H100, 81559, 3, 0\n"),
    );
    let start_gpus = |w: &World| Daemon::start_fake_gpus(w, &[]);
    let daemon = start_gpus(&w);
    // Each run writes down its GPU and when it held it.
    let go = w.path("go");
    w.file(
        "g.yaml",
        &format!(
            "method: grid\ncommand: [sh, -c, 'read start; s=$(date +%s%N); \
             while [ ! -e {} ]; do sleep 0.02; done; sleep 0.3; \
             echo \"$CUDA_VISIBLE_DEVICES $s $(date +%s%N)\" > \"$SWEEP_RUN_DIR/held\"']\n\
             parameters: {{x: {{values: [1, 2, 3, 4]}}}}\nsweepd: {{gpus_per_run: 1, max_parallel: 4}}\n",
            go.display()
        ),
    );
    let id = w.sweepctl(["submit", "g.yaml"]).expect_code(0).stdout();
    let sweep = home(&w).join("sweeps").join(id.trim());
    wait_until("two runs to start, one per GPU", || all_started(&sweep, 2));
    daemon.kill9();
    let daemon = start_gpus(&w);
    wait_until("the runs to be taken up", || {
        fs::read_to_string(w.path("sweepd.log"))
            .is_ok_and(|l| l.matches("taken up again").count() >= 2)
    });
    assert_eq!(
        summaries(&sweep).len(),
        2,
        "no third run while both GPUs are held"
    );
    fs::write(&go, "").unwrap();
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    drop(daemon);
    let mut held: Vec<(String, u128, u128)> = run_dirs(&sweep)
        .iter()
        .map(|r| {
            let text = fs::read_to_string(r.join("held")).unwrap();
            let f: Vec<&str> = text.split_whitespace().collect();
            (
                f[0].to_owned(),
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(held.len(), 4);
    held.sort();
    for pair in held.windows(2) {
        let ((a, _, a_end), (b, b_start, _)) = (&pair[0], &pair[1]);
        if a == b {
            assert!(a_end <= b_start, "two runs on {a} at once: {held:?}");
        }
    }
    assert!(
        held.iter().all(|(g, ..)| g == GPU0 || g == GPU1),
        "{held:?}"
    );
}
