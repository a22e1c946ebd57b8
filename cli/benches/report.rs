//! How fast `sweepctl report` and `export` are on big sweeps, measured on the
//! real binary: `cargo bench -p sweepctl --bench report`.
//!
//! Sweeps of 200 and 2,000 runs (10 metric values each; a few running,
//! failed and stopped early) are written in the daemon's layout, then each
//! command runs 7 times; the median, min and max wall time (process start to
//! exit, the folder read, the forest fitted, the page written) and the size
//! of what it wrote are printed.

#[path = "../../tests/common/synthetic.rs"]
mod synthetic;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ROUNDS: usize = 7;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "sweepctl report/export benchmark ({} CPU cores, {ROUNDS} rounds each)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<8} {:>6}  {:>28}  {:>10}",
        "command", "runs", "wall time: median (min-max)", "output"
    );
    for runs in [200, 2000] {
        let home = dir.path().join(format!("home-{runs}"));
        let written = synthetic::write(
            &home,
            &synthetic::Synthetic {
                runs,
                epochs: 10,
                seed: 5,
                running: 12,
            },
        );
        let id = written.id.to_string();
        let page = dir.path().join(format!("report-{runs}.html"));
        let csv = dir.path().join(format!("export-{runs}.csv"));
        let report = ["report", id.as_str(), "-o", page.to_str().unwrap()];
        let export = ["export", id.as_str(), "-o", csv.to_str().unwrap()];
        for (name, args, out) in [("report", &report, &page), ("export", &export, &csv)] {
            let times = time(&home, args);
            println!(
                "{name:<8} {runs:>6}  {:>28}  {:>10}",
                format!(
                    "{:.3} s ({:.3}-{:.3})",
                    times[ROUNDS / 2].as_secs_f64(),
                    times[0].as_secs_f64(),
                    times[ROUNDS - 1].as_secs_f64()
                ),
                format!("{} KiB", std::fs::metadata(out).unwrap().len() / 1024)
            );
        }
    }
}

/// Wall times of ROUNDS runs of sweepctl, sorted.
fn time(home: &Path, args: &[&str]) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            let out = Command::new(env!("CARGO_BIN_EXE_sweepctl"))
                .args(args)
                .env("SWEEPS_HOME", home)
                .output()
                .expect("sweepctl runs");
            let took = start.elapsed();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            took
        })
        .collect();
    times.sort();
    times
}
