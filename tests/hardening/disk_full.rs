//! Item 3: the disk fills up mid-sweep (a home on a small tmpfs). No run
//! starts while it is full, `sweepctl status` says so, no half-made run
//! folder is left, and once space returns every grid point runs: with the
//! same sweepd, and with a sweepd stopped while the disk was full.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::World;
use crate::common::daemon::{Daemon, home, run_dirs, state, summaries, sweeps, wait_until};

/// A tmpfs mounted on the world's home for the test (root only, as in CI).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "cannot mount a tmpfs (this test needs root, as CI has)"
        );
        Tmpfs(at.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fill the filesystem of `path` to the last byte.
fn fill(path: &Path) {
    let mut file = fs::File::create(path).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    // And the last partial page.
    while file.write_all(&[7u8]).is_ok() {}
}

/// A run that, when its x is in the world's `blocking` list and on its
/// first attempt only, waits for `go-<x>` and then prints a lot: with the
/// disk full by then, it dies of ENOSPC.
const TRAINER: &str = r#"
import json, os, sys, time
x = json.loads(sys.stdin.readline())["params"]["x"]
world = sys.argv[1]
tried = os.path.join(world, f"tried-{x}")
if str(x) in open(os.path.join(world, "blocking")).read().split() and not os.path.exists(tried):
    open(tried, "w").close()
    while not os.path.exists(os.path.join(world, f"go-{x}")):
        time.sleep(0.02)
    for i in range(20000):
        print("log line", i, "x" * 100)
print(json.dumps({"loss": x}))
"#;

fn running_with(sweep: &Path, x: i64) -> bool {
    summaries(sweep).iter().any(|s| s["state"] == "running")
        && run_dirs(sweep).iter().any(|r| {
            fs::read_to_string(r.join("summary.json"))
                .ok()
                .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                .is_some_and(|s| s["state"] == "running")
                && fs::read_to_string(r.join("params.json"))
                    .ok()
                    .and_then(|t| serde_json::from_str::<Value>(&t).ok())
                    .is_some_and(|p| p["x"] == x)
        })
}

fn says_disk_full(w: &World) -> bool {
    let run = w.sweepctl(["status"]);
    run.code() == 0 && run.stdout().contains("is full")
}

/// How often sweepd has logged that the disk became full.
fn full_episodes(w: &World) -> usize {
    fs::read_to_string(w.path("sweepd.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("is full: no run starts"))
        .count()
}

#[test]
fn a_full_disk_stops_starts_and_every_grid_point_runs_once_space_returns() {
    let w = World::new();
    let _tmpfs = Tmpfs::mount(&home(&w), "8m");
    let ballast = home(&w).join("ballast");
    fs::write(w.path("blocking"), "2 4").unwrap();
    let trainer = w.file("trainer.py", TRAINER);
    let world = w.dir.path().display().to_string();
    let daemon = Daemon::start(&w);
    // Staged on the tmpfs itself: a rename cannot cross filesystems.
    let staged = home(&w).join("grid.yaml");
    fs::write(
        &staged,
        format!(
            "method: grid\nname: full-disk\n\
             command: [python3, '{}', '{world}']\n\
             parameters: {{x: {{values: [1, 2, 3, 4, 5, 6]}}}}\n\
             sweepd: {{max_parallel: 1}}\n",
            trainer.display()
        ),
    )
    .unwrap();
    fs::rename(&staged, home(&w).join("inbox/grid.yaml")).unwrap();
    wait_until("the sweep", || !sweeps(&w).is_empty());
    let sweep = sweeps(&w)[0].clone();

    // Scene 1: the disk fills while x=2 runs; sweepd goes on once it is freed.
    wait_until("x=2 to run", || running_with(&sweep, 2));
    fill(&ballast);
    fs::write(w.path("go-2"), "").unwrap();
    wait_until("sweepd to see the disk full", || full_episodes(&w) == 1);
    assert!(says_disk_full(&w), "{}", w.sweepctl(["status"]).stdout());
    fs::remove_file(&ballast).unwrap();

    // Scene 2: full again while x=4 runs; sweepd is stopped and started
    // again while the disk is still full, and takes every sweep up.
    wait_until("x=4 to run", || running_with(&sweep, 4));
    assert!(!says_disk_full(&w), "space came back");
    fill(&ballast);
    fs::write(w.path("go-4"), "").unwrap();
    wait_until("sweepd to see the disk full", || full_episodes(&w) == 2);
    assert!(daemon.terminate().success());
    let daemon = Daemon::start(&w);
    wait_until("the new sweepd to see the disk full", || {
        full_episodes(&w) == 3
    });
    assert_eq!(state(&sweep), "running", "a full disk fails no sweep");
    fs::remove_file(&ballast).unwrap();
    wait_until("the sweep to finish", || state(&sweep) == "finished");
    drop(daemon);

    let summaries = summaries(&sweep);
    // Every folder is a whole run: no empty folder from a failed queueing.
    let runs = run_dirs(&sweep);
    assert_eq!(summaries.len(), runs.len(), "{runs:?}");
    // Six grid points and the two runs the full disk cut short.
    assert_eq!(runs.len(), 8, "{summaries:#?}");
    // Every grid point ran to the end, each once.
    let mut finished: Vec<i64> = runs
        .iter()
        .zip(&summaries)
        .filter(|(_, s)| s["state"] == "finished")
        .map(|(r, _)| {
            let params: Value =
                serde_json::from_str(&fs::read_to_string(r.join("params.json")).unwrap()).unwrap();
            params["x"].as_i64().unwrap()
        })
        .collect();
    finished.sort_unstable();
    assert_eq!(finished, [1, 2, 3, 4, 5, 6], "{summaries:#?}");
    // The runs the full disk killed are not blamed: they ran again.
    let interrupted: Vec<&Value> = summaries
        .iter()
        .filter(|s| s["state"] == "interrupted")
        .collect();
    assert_eq!(interrupted.len(), 2, "{summaries:#?}");
    assert!(
        interrupted.iter().all(|s| s["retried_by"].is_u64()),
        "{interrupted:#?}"
    );
    // The one that ended under a running sweepd says why.
    assert!(
        interrupted[0]["reason"]
            .as_str()
            .unwrap()
            .contains("the disk was full"),
        "{interrupted:#?}"
    );
    // The event log is whole lines of JSON, whatever the disk cut short.
    let events = fs::read_to_string(sweep.join("events.jsonl")).unwrap();
    assert!(
        events
            .lines()
            .all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "{events}"
    );
    let record: Value =
        serde_json::from_str(&fs::read_to_string(sweep.join("state.json")).unwrap()).unwrap();
    assert_eq!(record["reason"], "every point of the grid has run");
    assert!(record.get("waiting").is_none_or(Value::is_null), "{record}");
}
