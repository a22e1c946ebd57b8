//! Issue 20: runs that share a GPU (`gpus_per_run: 0.25`), end to end with
//! the real sweepd and the fake nvidia-smi (what placement decides is
//! tested on the model in daemon/src/gpu/placement/tests.rs).

mod common;

use std::fs;
use std::path::Path;

use common::World;
use common::daemon::{Daemon, home, state, summaries, wait_until};
use serde_json::Value;

const GPU0: &str = "GPU-0a0a0a0a-0000-4000-8000-000000000000";
const GPU1: &str = "GPU-1b1b1b1b-0000-4000-8000-000000000001";

/// A run that notes its GPU (`held/<GPU>/<pid>`), waits until the test
/// says `go` (exit 3 if it never does), notes how many runs are on its GPU
/// then (itself included), and lets go.
const SHARING: &str = "command: [sh, -c, 'read start; G=$CUDA_VISIBLE_DEVICES; mkdir -p held/$G; echo > held/$G/$$; \
n=0; until [ -e go ]; do n=$((n+1)); [ $n -lt 2400 ] || exit 3; sleep 0.05; done; \
ls held/$G | wc -l > \"$SWEEP_RUN_DIR/peers\"; echo \"{\\\"loss\\\": 1}\"; rm held/$G/$$']\nmetric: {name: loss}\n";

fn waiting(sweep: &Path) -> String {
    let record: Value =
        serde_json::from_str(&fs::read_to_string(sweep.join("state.json")).unwrap_or_default())
            .unwrap_or_default();
    record["waiting"].as_str().unwrap_or("").to_owned()
}

fn on(w: &World, gpu: &str) -> usize {
    fs::read_dir(w.path(&format!("held/{gpu}"))).map_or(0, Iterator::count)
}

#[test]
fn eight_quarter_runs_share_two_gpus_four_each_and_a_whole_run_waits() {
    let w = World::new();
    w.file(
        "gpus.csv",
        &format!("0, {GPU0}, Fake H100, 81559, 3, 0\n1, {GPU1}, Fake H100, 81559, 3, 0\n"),
    );
    fs::create_dir(w.path("held")).unwrap();
    let _daemon = Daemon::start_fake_gpus_with(&w, &[], &["--max-running", "9"]);
    w.file(
        "quarters.yaml",
        &format!(
            "method: grid\n{SHARING}parameters: {{a: {{values: [1, 2, 3, 4, 5, 6, 7, 8]}}}}\n\
             sweepd: {{gpus_per_run: 0.25, max_parallel: 8}}\n"
        ),
    );
    let id = w
        .sweepctl(["submit", "quarters.yaml"])
        .expect_code(0)
        .stdout();
    let quarters = home(&w).join("sweeps").join(id.trim());
    wait_until("8 runs to share the GPUs", || {
        on(&w, GPU0) + on(&w, GPU1) == 8
    });
    // All 8 at once, 4 on each: none placed a fifth on a GPU.
    assert_eq!((on(&w, GPU0), on(&w, GPU1)), (4, 4));

    // A run that needs a whole GPU waits for one no share is on.
    w.file(
        "whole.yaml",
        &format!(
            "method: grid\n{SHARING}parameters: {{a: {{value: 1}}}}\nsweepd: {{gpus_per_run: 1}}\n"
        ),
    );
    let id = w.sweepctl(["submit", "whole.yaml"]).expect_code(0).stdout();
    let whole = home(&w).join("sweeps").join(id.trim());
    wait_until("the whole-GPU sweep to wait", || {
        waiting(&whole).contains("shared by run(s)")
    });
    assert!(!whole.join("runs/0001").exists(), "{}", waiting(&whole));
    let gpus = w.sweepctl(["gpus"]).expect_code(0).stdout();
    assert!(gpus.contains("(1.00 shared)"), "{gpus}");
    let report = w.sweepctl(["gpus", "--json"]).expect_code(0).json_lines();
    for gpu in report[0]["gpus"].as_array().unwrap() {
        assert_eq!(gpu["shared"], 1.0, "{gpu}");
        assert_eq!(gpu["held_by"].as_str().unwrap().matches(", ").count(), 3);
    }

    fs::write(w.path("go"), "").unwrap();
    wait_until("both sweeps to finish", || {
        state(&quarters) == "finished" && state(&whole) == "finished"
    });
    assert!(
        summaries(&quarters)
            .iter()
            .chain(&summaries(&whole))
            .all(|r| r["state"] == "finished")
    );
    let peers = fs::read_to_string(whole.join("runs/0001/peers")).unwrap();
    assert_eq!(peers.trim(), "1", "the whole-GPU run had its GPU alone");

    // Every lease released: no holder, and both locks free.
    wait_until("gpus.json to name no holder", || {
        let report: Value =
            serde_json::from_str(&fs::read_to_string(home(&w).join("gpus.json")).unwrap()).unwrap();
        report["gpus"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g.get("held_by").is_none())
    });
    for uuid in [GPU0, GPU1] {
        wait_until(&format!("{uuid}'s lock to be free"), || {
            let file = fs::OpenOptions::new()
                .write(true)
                .open(w.path(&format!("locks/gpu-{uuid}.lock")))
                .unwrap();
            nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).is_ok()
        });
    }
}

/// Runs that report (through the fake nvidia-smi's compute apps) using
/// 30000 MiB each: four share the GPU at first (a quarter of its 81559 MiB
/// each, since nothing is measured yet); once measured, only two more fit
/// (36000 MiB each, a fifth over what was seen), and the sweep says why.
#[test]
fn once_a_run_is_measured_its_sweeps_next_runs_go_where_their_memory_fits() {
    let w = World::new();
    w.file("gpus.csv", &format!("0, {GPU0}, Fake H100, 81559, 3, 0\n"));
    fs::create_dir(w.path("held")).unwrap();
    let apps = w.path("apps.csv");
    let _daemon = Daemon::start_fake_gpus_with(
        &w,
        &[("FAKE_NVIDIA_SMI_APPS", apps.as_os_str())],
        &["--max-running", "9"],
    );
    let trainer = "command: [sh, -c, 'read start; G=$CUDA_VISIBLE_DEVICES; mkdir -p held/$G; echo > held/$G/$$; \
echo \"$G, $$, 30000\" >> apps.csv; case $SWEEP_RUN_DIR in */000[1-4]) f=go;; *) f=go2;; esac; \
n=0; until [ -e $f ]; do n=$((n+1)); [ $n -lt 2400 ] || exit 3; sleep 0.05; done; \
echo \"{\\\"loss\\\": 1}\"; rm held/$G/$$']\nmetric: {name: loss}\n";
    w.file(
        "measured.yaml",
        &format!(
            "method: grid\n{trainer}parameters: {{a: {{values: [1, 2, 3, 4, 5, 6, 7, 8]}}}}\n\
             sweepd: {{gpus_per_run: 0.25, max_parallel: 8}}\n"
        ),
    );
    let id = w
        .sweepctl(["submit", "measured.yaml"])
        .expect_code(0)
        .stdout();
    let id = id.trim();
    let sweep = home(&w).join("sweeps").join(id);
    wait_until("4 runs to share the GPU", || on(&w, GPU0) == 4);
    wait_until("the runs' memory to be measured", || {
        w.sweepctl(["status", id])
            .stdout()
            .contains("seen using up to 30000 MiB of GPU memory")
    });
    fs::write(w.path("go"), "").unwrap();
    wait_until("two runs to start and the next to wait for memory", || {
        waiting(&sweep).contains("9559 MiB of its memory free, a run needs 36000 MiB")
            && on(&w, GPU0) == 2
    });
    assert!(
        !sweep.join("runs/0007").exists(),
        "no third run beside them"
    );
    fs::write(w.path("go2"), "").unwrap();
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    assert!(summaries(&sweep).iter().all(|r| r["state"] == "finished"));
}
