//! The daemon's speed and footprint, measured on the real binary in a temp
//! home: `cargo bench -p sweepd --bench daemon`.
//!
//! - inbox drop to first run started: median and p95 over 20 drops;
//! - sustained runs per second with a trivial trainer and max_parallel 2;
//! - metric lines ingested per second from one chatty run, none lost;
//! - resident memory idle and with 10 sweeps;
//! - CPU used while idle.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BOUND: Duration = Duration::from_secs(300);

fn main() {
    // `cargo bench` passes --bench; nothing to filter here.
    let dir = tempfile::tempdir().expect("temp dir");
    println!(
        "sweepd benchmark ({} CPU cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let results = [
        drop_to_start(dir.path()),
        runs_per_second(dir.path()),
        metric_lines_per_second(dir.path()),
        footprint(dir.path()),
    ];
    println!();
    for lines in results {
        for line in lines {
            println!("{line}");
        }
    }
}

struct Daemon {
    child: Child,
    home: PathBuf,
}

impl Daemon {
    fn start(root: &Path, name: &str, max_running: usize) -> Daemon {
        let home = root.join(name);
        let child = Command::new(env!("CARGO_BIN_EXE_sweepd"))
            .args([
                "--home",
                home.to_str().unwrap(),
                "--max-running",
                &max_running.to_string(),
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("sweepd starts");
        let daemon = Daemon { child, home };
        wait_until(|| daemon.home.join("sweepd.sock").exists());
        daemon
    }

    fn drop_sweep(&self, name: &str, text: &str) -> Instant {
        let staging = self.home.join(format!("staging-{name}"));
        fs::write(&staging, text).unwrap();
        let at = Instant::now();
        fs::rename(&staging, self.home.join("inbox").join(name)).unwrap();
        at
    }

    fn sweeps(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = fs::read_dir(self.home.join("sweeps"))
            .map(|e| {
                e.flatten()
                    .map(|e| e.path())
                    .filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        dirs.sort();
        dirs
    }

    fn rss_kib(&self) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// User + system CPU time of the daemon, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < BOUND, "the benchmark timed out");
        std::thread::sleep(Duration::from_micros(500));
    }
}

fn state(sweep: &Path) -> String {
    let text = fs::read_to_string(sweep.join("state.json")).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&text).map_or(String::new(), |v| {
        v["state"].as_str().unwrap_or("").to_owned()
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank]
}

/// From the rename into the inbox to the first run's process printing.
fn drop_to_start(root: &Path) -> Vec<String> {
    let daemon = Daemon::start(root, "latency", 4);
    let mut ms = Vec::new();
    for i in 0..20 {
        let text = "method: random\nrun_cap: 1\ncommand: [sh, -c, 'echo started']\nparameters: {x: {min: 0.0, max: 1.0}}\n";
        let at = daemon.drop_sweep(&format!("s{i:02}.yaml"), text);
        let sweep = loop {
            if let Some(s) = daemon.sweeps().into_iter().nth(i) {
                break s;
            }
            assert!(at.elapsed() < BOUND);
            std::thread::sleep(Duration::from_micros(200));
        };
        let out = sweep.join("runs/0001/stdout.log");
        wait_until(|| fs::metadata(&out).is_ok_and(|m| m.len() > 0));
        ms.push(at.elapsed().as_secs_f64() * 1000.0);
        wait_until(|| state(&sweep) == "finished");
    }
    ms.sort_by(f64::total_cmp);
    vec![format!(
        "inbox drop -> first run started: median {:.0} ms, p95 {:.0} ms over {} drops (target <= 300 ms)",
        percentile(&ms, 50.0),
        percentile(&ms, 95.0),
        ms.len()
    )]
}

/// A trivial trainer, max_parallel 2: how many runs start, end and are recorded per second.
fn runs_per_second(root: &Path) -> Vec<String> {
    let daemon = Daemon::start(root, "throughput", 2);
    let runs = 200;
    let text = format!(
        "method: random\nrun_cap: {runs}\nmetric: {{name: loss}}\ncommand: [sh, -c, 'echo \"{{\\\"loss\\\": 1}}\"']\n\
         parameters: {{x: {{min: 0.0, max: 1.0}}}}\nsweepd: {{max_parallel: 2}}\n"
    );
    daemon.drop_sweep("throughput.yaml", &text);
    wait_until(|| !daemon.sweeps().is_empty());
    let sweep = daemon.sweeps()[0].clone();
    wait_until(|| sweep.join("runs/0001").exists());
    let start = Instant::now();
    wait_until(|| state(&sweep) == "finished");
    let secs = start.elapsed().as_secs_f64();
    vec![format!(
        "sustained runs: {runs} trivial runs in {secs:.2} s = {:.1} runs/s with max_parallel 2 (target >= 20/s)",
        f64::from(runs) / secs
    )]
}

/// One run printing many metric lines as fast as it can.
fn metric_lines_per_second(root: &Path) -> Vec<String> {
    let daemon = Daemon::start(root, "ingest", 2);
    let lines = 500_000;
    let program = format!(
        "import sys\nw = sys.stdout.write\nfor i in range({lines}):\n    w('{{\"loss\": %d, \"step\": %d}}\\n' % (i, i))\n"
    );
    let script = daemon.home.parent().unwrap().join("chatty.py");
    fs::write(&script, program).unwrap();
    let text = format!(
        "method: random\nrun_cap: 1\nmetric: {{name: loss}}\ncommand: [python3, \"{}\"]\nparameters: {{x: {{min: 0.0, max: 1.0}}}}\n",
        script.display()
    );
    daemon.drop_sweep("ingest.yaml", &text);
    wait_until(|| !daemon.sweeps().is_empty());
    let sweep = daemon.sweeps()[0].clone();
    let run = sweep.join("runs/0001");
    wait_until(|| run.join("stdout.log").exists());
    let start = Instant::now();
    wait_until(|| state(&sweep) == "finished");
    let secs = start.elapsed().as_secs_f64();
    let recorded = fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .count();
    // The trainer alone, writing to a file: what the run itself costs.
    let alone = Instant::now();
    let status = Command::new("python3")
        .arg(&script)
        .stdout(fs::File::create(root.join("alone.log")).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let trainer_secs = alone.elapsed().as_secs_f64();
    vec![format!(
        "metric lines: {recorded} of {lines} recorded ({}), {:.0} lines/s from run start to recorded end \
         (the trainer alone takes {trainer_secs:.2} s of the {secs:.2} s) (target >= 50,000/s)",
        if recorded == lines {
            "none lost"
        } else {
            "LOST SOME"
        },
        lines as f64 / secs
    )]
}

/// Resident memory idle and with 10 sweeps, and CPU used while idle.
fn footprint(root: &Path) -> Vec<String> {
    let daemon = Daemon::start(root, "footprint", 16);
    std::thread::sleep(Duration::from_secs(1));
    let idle_rss = daemon.rss_kib();
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let before = daemon.cpu_ticks();
    let window = Duration::from_secs(10);
    std::thread::sleep(window);
    let idle_cpu =
        (daemon.cpu_ticks() - before) as f64 / ticks_per_second / window.as_secs_f64() * 100.0;
    for i in 0..10 {
        let text = "method: random\nrun_cap: 1\ncommand: [sh, -c, 'exec sleep 30']\nparameters: {x: {min: 0.0, max: 1.0}}\n";
        daemon.drop_sweep(&format!("f{i}.yaml"), text);
    }
    wait_until(|| {
        daemon.sweeps().len() == 10
            && daemon
                .sweeps()
                .iter()
                .all(|s| s.join("runs/0001/stdout.log").exists())
    });
    let busy_rss = daemon.rss_kib();
    vec![
        format!(
            "memory: {:.1} MiB resident idle (target <= 20 MB), {:.1} MiB with 10 sweeps running",
            idle_rss as f64 / 1024.0,
            busy_rss as f64 / 1024.0
        ),
        format!(
            "idle CPU: {idle_cpu:.2}% of one core over {} s",
            window.as_secs()
        ),
    ]
}
