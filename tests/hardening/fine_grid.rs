//! Issue 15: see main.rs. A 14 KB grid of 200 `q_uniform` parameters with
//! `q: 0.000001` passed validation, then sweepd listed every axis (a million
//! floats each, hashed) and grew to gigabytes; under a memory cap it aborted
//! at every start, taking every sweep of the home down, and `preview` and
//! `status` did the same. Grids are now computed point by point: memory no
//! longer grows with the grid.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::daemon::{Daemon, home, state, summaries, wait_until};
use crate::common::{Run, World, bin};

/// Every process here must stay under this resident size, in KiB.
const MAX_RSS_KIB: u64 = 200 * 1024;

/// The address space every process here gets: a regression fails fast
/// instead of eating the machine (the grid of 200 axes wanted tens of GB).
const ADDRESS_SPACE_KIB: u64 = 4 * 1024 * 1024;

/// A grid sweep of `n` float q_uniform parameters of a million steps each.
fn fine_grid(n: usize) -> String {
    let mut text = String::from(
        "method: grid\ncommand: [sh, -c, 'echo \"{\\\"loss\\\": 1}\"']\nmetric: {name: loss}\nparameters:\n",
    );
    for i in 1..=n {
        text.push_str(&format!(
            "  p{i:03}: {{distribution: q_uniform, min: 0, max: 1, q: 0.000001}}\n"
        ));
    }
    text
}

/// Runs a command (stdout and stderr captured) under the address-space cap
/// and reports its peak resident size: what getrusage says of the children
/// of a python3 that ran only this command.
const MEASURED: &str = r#"
import json, resource, subprocess, sys
cap = int(sys.argv[1]) * 1024
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
p = subprocess.run(sys.argv[2:], preexec_fn=limit, capture_output=True)
print(json.dumps({
    "code": p.returncode,
    "stdout": p.stdout.decode(),
    "stderr": p.stderr.decode(),
    "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
}))
"#;

/// `sweepctl args` in the world, with its exit code, output and peak RSS.
pub(crate) fn measured_sweepctl(w: &World, args: &[&str]) -> (i32, String, String, u64) {
    let run = Run(w
        .command_of("python3")
        .arg("-c")
        .arg(MEASURED)
        .arg(ADDRESS_SPACE_KIB.to_string())
        .arg(bin("sweepctl"))
        .args(args)
        .output()
        .expect("python3 runs"));
    let report: Value = serde_json::from_str(run.expect_code(0).stdout().trim()).unwrap();
    (
        report["code"].as_i64().unwrap() as i32,
        report["stdout"].as_str().unwrap().to_owned(),
        report["stderr"].as_str().unwrap().to_owned(),
        report["maxrss_kib"].as_u64().unwrap(),
    )
}

/// A sweepd on the world's home, its address space capped as above.
fn capped_daemon(w: &World) -> Daemon {
    let ulimit = format!("ulimit -v {ADDRESS_SPACE_KIB} && exec \"$0\" \"$@\"");
    Daemon::start_wrapped(w, &["sh", "-c", &ulimit], &["--settle", "100ms"])
}

/// Fail at once, with its log, if the daemon has died.
fn alive(daemon: &mut Daemon, w: &World) {
    if let Some(status) = daemon.child.try_wait().unwrap() {
        panic!(
            "sweepd died ({status}); its log:\n{}",
            fs::read_to_string(w.path("sweepd.log")).unwrap_or_default()
        );
    }
}

/// A process's field from /proc/PID/status, in KiB (`VmRSS`, `VmHWM`).
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

fn submit(w: &World, name: &str, text: &str) -> PathBuf {
    w.file(name, text);
    let id = w.sweepctl(["submit", name]).expect_code(0).stdout();
    home(w).join("sweeps").join(id.trim())
}

/// Each proposal of the sweep so far (a run re-run after an interruption
/// is the same proposal) and the value its runs gave the 200th parameter.
fn proposals(sweep: &Path) -> Vec<(u64, f64)> {
    let Ok(entries) = fs::read_dir(sweep.join("runs")) else {
        return Vec::new();
    };
    let read = |path: PathBuf| -> Option<Value> {
        serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
    };
    let mut seen: Vec<(u64, f64)> = entries
        .flatten()
        .filter_map(|e| {
            let summary = read(e.path().join("summary.json"))?;
            let params = read(e.path().join("params.json"))?;
            Some((summary["proposal"].as_u64()?, params["p200"].as_f64()?))
        })
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    seen.dedup();
    seen
}

#[test]
fn a_grid_of_200_fine_steps_runs_in_bounded_memory_beside_a_small_sweep() {
    let w = World::new();
    let mut daemon = capped_daemon(&w);
    let big = submit(&w, "fine.yaml", &fine_grid(200));
    let small = submit(
        &w,
        "small.yaml",
        "method: grid\ncommand: [sh, -c, 'echo \"{\\\"loss\\\": 1}\"']\nmetric: {name: loss}\nparameters: {a: {values: [1, 2, 3]}}\n",
    );
    wait_until("the small sweep to finish", || {
        alive(&mut daemon, &w);
        state(&small) == "finished"
    });
    assert_eq!(summaries(&small).len(), 3);
    wait_until("the fine grid to run a few points", || {
        alive(&mut daemon, &w);
        proposals(&big).len() >= 3
    });
    assert_eq!(state(&big), "running");
    let pid = daemon.child.id();
    let peak = proc_kib(pid, "VmHWM");
    println!(
        "sweepd with the 200-parameter grid: VmRSS {} KiB, VmHWM {peak} KiB",
        proc_kib(pid, "VmRSS")
    );
    assert!(peak < MAX_RSS_KIB, "sweepd peaked at {peak} KiB");

    // status reads every sweep's grid size: it answers, and says no total
    // for a grid of 10^1200 points rather than a saturated number.
    let (code, out, err, rss) = measured_sweepctl(&w, &["status"]);
    println!("sweepctl status: max RSS {rss} KiB");
    assert_eq!(code, 0, "{err}");
    assert!(rss < MAX_RSS_KIB, "status peaked at {rss} KiB");
    assert!(out.contains("3 done of 3"), "{out}");
    let big_line = out.lines().find(|l| l.contains("fine")).expect(&out);
    assert!(
        big_line.contains(" done,") && !big_line.contains(" of "),
        "{out}"
    );

    // A restart comes back up and goes on where the grid was, point by
    // point in W&B's order (the last parameter fastest), none run twice.
    let before = proposals(&big).len();
    drop(daemon);
    let mut daemon = capped_daemon(&w);
    wait_until("the fine grid to go on after a restart", || {
        alive(&mut daemon, &w);
        proposals(&big).len() >= before + 3
    });
    let ran = proposals(&big);
    let expected: Vec<(u64, f64)> = (0..ran.len())
        .map(|i| (i as u64 + 1, i as f64 * 0.000001))
        .collect();
    assert_eq!(ran, expected);
    let peak = proc_kib(daemon.child.id(), "VmHWM");
    assert!(
        peak < MAX_RSS_KIB,
        "the restarted sweepd peaked at {peak} KiB"
    );
}

#[test]
fn previews_of_fine_grids_count_without_listing() {
    let w = World::new();
    w.file("fine40.yaml", &fine_grid(40));
    w.file("fine200.yaml", &fine_grid(200));

    // Without -n, a grid too big to run to the end shows its first 10000 runs.
    let (code, out, err, rss) = measured_sweepctl(&w, &["preview", "fine40.yaml"]);
    println!("sweepctl preview of 40 parameters: max RSS {rss} KiB");
    assert_eq!(code, 0, "{err}");
    assert!(rss < MAX_RSS_KIB, "preview peaked at {rss} KiB");
    let header = out.lines().next().unwrap();
    assert_eq!(
        header,
        "fine40.yaml: grid search over 2^128 or more (about 10^240) points; \
         showing the first 10000 (pass -n to see more)"
    );
    assert_eq!(out.lines().count(), 2 + 10_000);

    let (code, out, err, rss) =
        measured_sweepctl(&w, &["preview", "fine200.yaml", "--json", "-n", "3"]);
    println!("sweepctl preview of 200 parameters: max RSS {rss} KiB");
    assert_eq!(code, 0, "{err}");
    assert!(rss < MAX_RSS_KIB, "preview peaked at {rss} KiB");
    let runs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(runs.len(), 3);
    assert_eq!(runs[2]["p200"], 2.0 * 0.000001);
    assert_eq!(runs[2]["p199"], 0.0);
    assert_eq!(runs[2].as_object().unwrap().len(), 200);
}
