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
        // SIGTERM: sweepd stops what it runs before it exits.
        let _ = Command::new("kill").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_tutorial_sweep_runs_five_runs_of_this_trainer_through_the_daemon() {
    let home = tempfile::tempdir().unwrap();
    let sweepctl = |args: &[&str]| {
        let out = Command::new(ours("sweepctl"))
            .args(args)
            .env("SWEEPS_HOME", home.path())
            .current_dir(repo_root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sweepctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let log = std::fs::File::create(home.path().join("sweepd.log")).unwrap();
    let _daemon = Daemon(
        Command::new(ours("sweepd"))
            .arg("--allow-root") // CI runs as root in a container
            .env("SWEEPS_HOME", home.path())
            .env("SWEEPD_MNIST_DEVICE", "cpu")
            // Not a sweepd-mnist of the user's: the one built beside sweepd.
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let socket = home.path().join("sweepd.sock");
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(start.elapsed() < BOUND, "sweepd did not start");
        std::thread::sleep(Duration::from_millis(25));
    }

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
