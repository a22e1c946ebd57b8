//! The tutorial sweep (examples/mnist-tutorial.yaml) end to end: the real
//! sweepd and sweepctl (built by the workspace's `cargo test`/`cargo build`,
//! which scripts/test runs first) in a home of the test's own, running this
//! trainer, found beside sweepd as a user's installation finds it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Far above what the five runs take on an idle 2-core machine (about 10 s).
const BOUND: Duration = Duration::from_secs(600);

fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_sweepd-mnist"))
        .parent()
        .unwrap()
        .to_owned()
}

fn ours(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace's default members first (`cargo build`; scripts/test does)",
        path.display()
    );
    path
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM: sweepd exits; a run still running (a failed test) is
        // killed with its monitor, by its folder's name in its environment.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// `sweepctl` on `home`, from the repository's root; its stdout.
fn sweepctl(home: &Path, args: &[&str]) -> String {
    let out = Command::new(ours("sweepctl"))
        .args(args)
        .env("SWEEPS_HOME", home)
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sweepctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// sweepd on `home`, running this trainer on the CPU, once it listens.
fn start_daemon(home: &Path) -> Daemon {
    let log = std::fs::File::create(home.join("sweepd.log")).unwrap();
    let daemon = Daemon(
        Command::new(ours("sweepd"))
            .arg("--allow-root") // CI runs as root in a container
            .env("SWEEPS_HOME", home)
            .env("SWEEPD_MNIST_DEVICE", "cpu")
            // Not a sweepd-mnist of the user's: the one built beside sweepd.
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let socket = home.join("sweepd.sock");
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(start.elapsed() < BOUND, "sweepd did not start");
        std::thread::sleep(Duration::from_millis(25));
    }
    daemon
}

/// Kill what runs of `home` are left (their monitors and trainers).
fn kill_runs(home: &Path) {
    let folder = format!("SWEEP_RUN_DIR={}/", home.display());
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
            env.split(|&b| b == 0)
                .any(|v| v.starts_with(folder.as_bytes()))
        }) {
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
    }
}

#[test]
fn the_tutorial_sweep_runs_five_runs_of_this_trainer_through_the_daemon() {
    let home = tempfile::tempdir().unwrap();
    let sweepctl = |args: &[&str]| sweepctl(home.path(), args);
    let _daemon = start_daemon(home.path());
    let start = Instant::now();

    let id = sweepctl(&["submit", "examples/mnist-tutorial.yaml"])
        .trim()
        .to_owned();
    let sweep = home.path().join("sweeps").join(&id);
    while json(&sweep.join("state.json"))["state"] == "running" {
        assert!(start.elapsed() < BOUND, "the sweep did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(home.path().join("sweepd.log")).unwrap();
    assert_eq!(
        json(&sweep.join("state.json"))["state"],
        "finished",
        "{log}"
    );

    let runs: Vec<PathBuf> = (1..=5)
        .map(|n| sweep.join(format!("runs/{n:04}")))
        .collect();
    assert!(!sweep.join("runs/0006").exists(), "run_cap is 5");
    for run in &runs {
        let summary = json(&run.join("summary.json"));
        let stderr = std::fs::read_to_string(run.join("stderr.log")).unwrap_or_default();
        assert_eq!(summary["state"], "finished", "{}: {stderr}", run.display());
        let params = json(&run.join("params.json"));
        let metrics: Vec<Value> = std::fs::read_to_string(run.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        // every 5th of the 60,000 training images, one epoch
        let batch_size = params["batch_size"].as_i64().unwrap();
        let batches = metrics
            .iter()
            .filter(|m| m.get("batch loss").is_some())
            .count() as i64;
        assert_eq!(
            batches,
            (12_000 + batch_size - 1) / batch_size,
            "{}",
            run.display()
        );
        let epochs: Vec<&Value> = metrics
            .iter()
            .filter(|m| m.get("epoch").is_some())
            .collect();
        assert_eq!(epochs.len(), 1, "{}", run.display());
        assert!(epochs[0]["val_accuracy"].is_f64() && epochs[0].get("loss").is_some());
        // the sweep metric (`loss`) was read from the run
        assert_eq!(summary["metric"]["count"], 1, "{summary}");
    }
    let status = sweepctl(&["status", &id]);
    assert!(status.contains("finished"), "{status}");
}

/// A run interrupted after its first epoch (its monitor killed) runs again
/// through sweepd and goes on from its checkpoint: the second attempt
/// trains epochs 2 and 3 only.
#[test]
fn an_interrupted_run_resumes_from_its_checkpoint_through_the_daemon() {
    let home = tempfile::tempdir().unwrap();
    let _daemon = start_daemon(home.path());
    let file = home.path().join("resume.yaml");
    std::fs::write(
        &file,
        "method: grid\nprogram: sweepd-mnist\ncommand: [\"${program}\", \"${args}\"]\n\
         metric: {name: loss, goal: minimize}\n\
         parameters: {epochs: {value: 3}, batch_size: {value: 500}, fc_layer_size: {value: 32}}\n",
    )
    .unwrap();
    let id = sweepctl(home.path(), &["submit", file.to_str().unwrap()])
        .trim()
        .to_owned();
    let sweep = home.path().join("sweeps").join(&id);
    let first = sweep.join("runs/0001");
    let start = Instant::now();
    while !first.join("checkpoint.json").exists() {
        assert!(
            start.elapsed() < BOUND,
            "no checkpoint after the first epoch"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let monitor = json(&first.join("monitor.json"))["monitor_pid"].to_string();
    let killed = Command::new("kill")
        .args(["-9", &monitor])
        .status()
        .unwrap();
    assert!(killed.success());
    while json(&sweep.join("state.json"))["state"] == "running" {
        assert!(start.elapsed() < BOUND, "the sweep did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    kill_runs(home.path());
    let second = sweep.join("runs/0002");
    let log = std::fs::read_to_string(second.join("stderr.log")).unwrap_or_default();
    assert_eq!(json(&first.join("summary.json"))["state"], "interrupted");
    assert_eq!(
        json(&second.join("summary.json"))["state"],
        "finished",
        "{log}"
    );
    assert!(log.contains("resumed from"), "{log}");
    let epochs: Vec<i64> = std::fs::read_to_string(second.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok()?["epoch"].as_i64())
        .collect();
    // The first attempt may have finished its second epoch before its
    // monitor died: it goes on from its latest checkpoint either way.
    assert_eq!(epochs.last(), Some(&2), "{epochs:?}");
    assert!(
        !epochs.contains(&0),
        "the first epoch is not trained again: {epochs:?}"
    );
    assert_eq!(json(&second.join("checkpoint.json"))["epochs_done"], 3);
}
